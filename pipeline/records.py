"""Result records passed from the stages to the writers (one per lesion, timepoint, study)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from measurement.criteria.choi import ChoiAssessment
from measurement.criteria.percist import PercistAssessment
from measurement.criteria.recist import RecistAssessment
from measurement.criteria.volumetric import VolumetricAssessment

Point = tuple[float, float, float]

MEASURED = "measured"
NOT_FOUND = "not_found"


@dataclass(frozen=True)
class LesionRecord:
    """One target at one timepoint. Lengths in mm, volumes in ml, points in LPS mm."""

    lesion_id: str
    status: str
    reason: str = ""
    seed_lps_mm: Point | None = None  # where segmentation started (after re-centring)
    mapped_seed_lps_mm: Point | None = None  # where the lesion was looked for (baseline: the user's seed)
    longest_diameter_mm: float | None = None
    short_axis_mm: float | None = None
    max_3d_diameter_mm: float | None = None
    volume_ml: float | None = None
    mean_hu: float | None = None
    sd_hu: float | None = None
    suv_max: float | None = None
    suv_peak: float | None = None
    suv_mean: float | None = None
    centroid_lps_mm: Point | None = None
    long_axis_lps_mm: tuple[Point, Point] | None = None
    short_axis_lps_mm: tuple[Point, Point] | None = None
    confidence: float | None = None  # the segmenter's, in [0, 1]
    volume_sd_pct: float | None = (
        None  # the segmenter's predicted volume standard deviation from noise, % of the volume
    )
    absent: bool = False  # not found because nothing hypodense is left where it should be (or it coalesced)
    assessed: bool = True  # False: not looked for (outside the field of view, no registration, not found at baseline)
    sul_peak: float | None = None
    suv_peak_local: float | None = None
    mtv_ml: float | None = None
    tlg_suv_ml: float | None = None
    pet_method: str | None = None  # the PET region's method actually used ("41pct", "fixed", "percist")
    pet_threshold_suv: float | None = None  # its threshold (SUVbw); MTV and TLG are 0 when SUVmax is below it
    mesh_volume_ml: float | None = None
    surface_area_mm2: float | None = None
    sphericity: float | None = None
    major_axis_mm: float | None = None
    minor_axis_mm: float | None = None
    least_axis_mm: float | None = None

    @property
    def measured(self) -> bool:
        return self.status == MEASURED


@dataclass(frozen=True)
class TimepointRecord:
    index: int
    study_uid: str
    study_date: dt.date | None
    days_from_baseline: int | None
    ct_series_uid: str
    ct_slices: int
    pet_series_uid: str | None
    pet_units: str | None
    suv_factor: dict[str, object] | None
    registration: dict[str, object] | None
    lesions: tuple[LesionRecord, ...]
    skipped_series: tuple[tuple[str, str], ...] = ()
    mask_file: str | None = None
    tracking: dict[str, object] | None = None
    pet_reference: dict[str, object] | None = None  # see pipeline.longitudinal.pet_reference.PetReference.as_record
    new_lesions: tuple[str, ...] = ()  # new lesions found at this follow-up (by a detector or the reader)
    liver: dict[str, object] | None = None  # see pipeline.longitudinal.liver.LiverMask.as_record, or {'failed': reason}


@dataclass(frozen=True)
class StudyAssessment:
    recist: tuple[RecistAssessment, ...]
    total_volume_ml: tuple[float, ...]
    volumetric: tuple[VolumetricAssessment, ...]
    choi: tuple[ChoiAssessment, ...]
    percist: tuple[PercistAssessment, ...]
    summary: dict[str, object]


@dataclass(frozen=True)
class StudyResult:
    patient_id: str
    timepoints: tuple[TimepointRecord, ...]
    recist: tuple[RecistAssessment, ...]
    total_volume_ml: tuple[float, ...]
    warnings: tuple[str, ...] = field(default=())
    assessment: StudyAssessment | None = None
