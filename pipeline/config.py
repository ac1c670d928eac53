"""All parameters of a run, recorded in ``run.json``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from measurement.criteria.choi import ChoiConfig
from measurement.criteria.percist import PercistConfig
from measurement.criteria.volumetric import VolumetricConfig
from measurement.response import RecistConfig
from pipeline.register import RegistrationConfig
from pipeline.series_selection import SelectionOptions
from segmentation.ct_lesion import CtLesionConfig
from segmentation.detect import DetectionConfig
from segmentation.pet_lesion import PetSegmentationConfig


@dataclass(frozen=True)
class RunConfig:
    selection: SelectionOptions = field(default_factory=SelectionOptions)
    threads: int = 2
    chain_registration: bool = False  # register each follow-up to the previous timepoint instead of the baseline
    max_registration_residual_mm: float = 10.0
    registration: RegistrationConfig = field(default_factory=RegistrationConfig)
    ct_lesion: CtLesionConfig = field(default_factory=CtLesionConfig)
    pet_lesion: PetSegmentationConfig = field(default_factory=PetSegmentationConfig)
    recist: RecistConfig = field(default_factory=RecistConfig)
    detection: DetectionConfig = field(default_factory=DetectionConfig)
    volumetric: VolumetricConfig = field(default_factory=VolumetricConfig)
    choi: ChoiConfig = field(default_factory=ChoiConfig)
    percist: PercistConfig = field(default_factory=PercistConfig)
    config_file: str | None = None  # the TOML file the criteria options came from
    config_file_sha256: str | None = None

    def as_record(self) -> dict[str, object]:
        return asdict(self)
