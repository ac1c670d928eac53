"""All parameters of a run, recorded in ``run.json``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from measurement.criteria.choi import ChoiConfig
from measurement.criteria.percist import PercistConfig
from measurement.criteria.volumetric import VolumetricConfig
from measurement.response import RecistConfig
from pipeline.register import RegistrationConfig
from segmentation.ct_lesion import CtLesionConfig
from segmentation.pet_lesion import PetSegmentationConfig


@dataclass(frozen=True)
class RunConfig:
    min_ct_slices: int = 10
    threads: int = 2
    registration: RegistrationConfig = field(default_factory=RegistrationConfig)
    ct_lesion: CtLesionConfig = field(default_factory=CtLesionConfig)
    pet_lesion: PetSegmentationConfig = field(default_factory=PetSegmentationConfig)
    recist: RecistConfig = field(default_factory=RecistConfig)
    volumetric: VolumetricConfig = field(default_factory=VolumetricConfig)
    choi: ChoiConfig = field(default_factory=ChoiConfig)
    percist: PercistConfig = field(default_factory=PercistConfig)
    config_file: str | None = None  # the TOML file the criteria options came from
    config_file_sha256: str | None = None

    def as_record(self) -> dict[str, object]:
        return asdict(self)
