"""All parameters of a run, recorded in ``run.json``."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field

from measurement.criteria.choi import ChoiConfig
from measurement.criteria.percist import PercistConfig
from measurement.criteria.recist import RecistConfig
from measurement.criteria.volumetric import VolumetricConfig
from segmentation.ct_lesion import CtLesionConfig
from segmentation.ct_seeded import SeededCtConfig
from segmentation.detect import DetectionConfig
from segmentation.liver import LiverConfig
from segmentation.pet_lesion import PetSegmentationConfig


def available_cores() -> int:
    """Cores this process may run on (CPU affinity, else the machine's count); the basis of every default
    worker and thread count."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class SelectionOptions:
    """How to choose the measured CT and the PET of each study (``None``: automatic)."""

    min_ct_slices: int = 10
    ct_series_uid: str | None = None
    ct_description: str | None = None  # regular expression, case-insensitive, searched in SeriesDescription
    pet_series_uid: str | None = None
    pet_description: str | None = None


@dataclass(frozen=True)
class RegistrationConfig:
    """Registration of a follow-up CT to the baseline (see :mod:`pipeline.longitudinal.register`)."""

    working_spacing_mm: float = 4.0
    window_hu: tuple[float, float] = (-300.0, 300.0)
    metric_samples: tuple[int, int] = (5000, 10000)  # random points per pyramid level (~8, ~4 mm); affine: the last
    random_seed: int = 20260101
    rigid_iterations: int = 100
    affine_iterations: int = 100
    z_search_mm: float = 80.0
    max_translation_mm: float = 150.0
    max_rotation_deg: float = 30.0
    deformable: bool = True
    deformable_spacing_mm: float = 3.0
    demons_shrink_factors: tuple[int, ...] = (4, 2, 1)  # of the ~deformable_spacing_mm image
    demons_iterations: tuple[int, ...] = (40, 40, 20)
    demons_sd_voxels: float = 1.0
    demons_rms_change_mm: float = 0.02  # a level stops when the field changes less than this (RMS) per iteration
    roi_margin_mm: float = 15.0
    max_deformation_mm: float = 25.0


@dataclass(frozen=True)
class RunConfig:
    selection: SelectionOptions = field(default_factory=SelectionOptions)
    threads: int = 2
    chain_registration: bool = False  # register each follow-up to the previous timepoint instead of the baseline
    max_registration_residual_mm: float = 10.0
    registration: RegistrationConfig = field(default_factory=RegistrationConfig)
    ct_lesion: CtLesionConfig = field(default_factory=CtLesionConfig)  # automatic detection's segmenter
    lesion: SeededCtConfig = field(default_factory=SeededCtConfig)  # the targets' segmenter
    pet_lesion: PetSegmentationConfig = field(default_factory=PetSegmentationConfig)
    recist: RecistConfig = field(default_factory=RecistConfig)
    detection: DetectionConfig = field(default_factory=DetectionConfig)
    liver: LiverConfig = field(default_factory=LiverConfig)
    liver_mask: str | None = None  # --liver-mask: a liver mask file (baseline) or a folder of them (per timepoint)
    volumetric: VolumetricConfig = field(default_factory=VolumetricConfig)
    choi: ChoiConfig = field(default_factory=ChoiConfig)
    percist: PercistConfig = field(default_factory=PercistConfig)
    resegment: bool = False  # segment the lesions of a reader's SEG/RTSTRUCT again instead of measuring them
    seg_type: str = "fractional"  # DICOM SEG written with --dicom-out: "fractional" (partial volume) or "binary"
    config_file: str | None = None  # the TOML file the criteria options came from
    config_file_sha256: str | None = None

    def as_record(self) -> dict[str, object]:
        return asdict(self)
