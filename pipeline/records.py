"""Result records passed from the stages to the writers (one per lesion, timepoint, study).

Every record is a frozen dataclass of typed fields; :mod:`pipeline.outputs.manifest` turns them into ``run.json``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from measurement.criteria.best_response import BestResponse, TimeToProgression
from measurement.criteria.choi import ChoiAssessment
from measurement.criteria.percist import PercistAssessment
from measurement.criteria.recist import RecistAssessment
from measurement.criteria.volumetric import VolumetricAssessment
from pipeline.pet.suv import SuvFactor
from pipeline.targets.json_file import Target

Point = tuple[float, float, float]

MEASURED = "measured"
NOT_FOUND = "not_found"


@dataclass(frozen=True)
class DroppedTimepoint:
    """A study left out of the assessment (its CT could not be used), with the reason naming series and file."""

    study_uid: str
    study_date: dt.date | None
    reason: str

    def note(self) -> str:
        """The note carried by every response after this study: it is conditional on the study's absence."""
        return (
            f"conditional: the study of {self.study_date or 'unknown date'} ({self.study_uid}) was dropped "
            "and is not part of this assessment or its nadir"
        )

    def as_record(self) -> dict[str, object]:
        return {
            "study_instance_uid": self.study_uid,
            "study_date": self.study_date.isoformat() if self.study_date else None,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class LesionRecord:
    """One target at one timepoint. Lengths in mm, volumes in ml, points in LPS mm."""

    lesion_id: str
    status: str
    reason: str = ""
    seed_lps_mm: Point | None = None  # where segmentation started (after re-centring)
    mapped_seed_lps_mm: Point | None = None  # where the lesion was looked for (baseline: the user's seed)
    located: str = ""  # follow-ups: how the seed was chosen where the registration puts the lesion
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
    absent: bool = (
        False  # not found because nothing of its baseline appearance is left where it should be (or it coalesced)
    )
    #: False: not looked for (outside the field of view, no registration, not found at baseline) or cut by the
    #: scan's edge
    assessed: bool = True
    sul_peak: float | None = None
    suv_peak_local: float | None = None
    suv_peak_centre_lps_mm: Point | None = None  # centre of the 1 ml SUVpeak sphere (a PET voxel centre)
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
class RegistrationSummary:
    """The transform of a follow-up registration and its quality figures (lengths in mm, angles in degrees)."""

    type: str
    affine_matrix: list[float]
    affine_translation_mm: list[float]
    affine_center_mm: list[float]
    initial_translation_mm: list[float]
    rigid_metric: float
    affine_metric: float
    rotation_deg: float
    max_deformation_mm: float
    liver_ncc_after_affine: float | None
    liver_ncc_final: float | None
    elapsed_s: float
    iterations: list[int] = field(
        default_factory=list
    )  # optimiser iterations: rigid per level, affine, demons per level


@dataclass(frozen=True)
class RegistrationRecord:
    """To what a follow-up was registered, and the result or why it failed."""

    reference: str  # "baseline" or "timepoint K"
    summary: RegistrationSummary | None = None
    failed: str | None = None


@dataclass(frozen=True)
class Residuals:
    per_lesion_mm: dict[str, float]
    median_mm: float | None
    max_mm: float | None
    plausible: bool

    def as_record(self) -> dict[str, object]:
        return {
            "per_lesion_mm": {k: round(v, 3) for k, v in self.per_lesion_mm.items()},
            "median_mm": None if self.median_mm is None else round(self.median_mm, 3),
            "max_mm": None if self.max_mm is None else round(self.max_mm, 3),
            "plausible": self.plausible,
        }


@dataclass(frozen=True)
class TrackingRecord:
    """What tracking saw at one timepoint: per-lesion flags, registration residuals, new-lesion candidates."""

    flags: dict[str, list[str]] = field(default_factory=dict)
    registration_residuals: Residuals | None = None
    new_lesion_candidates: tuple[str, ...] = ()


@dataclass(frozen=True)
class PetReference:
    """A timepoint's PET context (SUL = SUVbw x ``sul_per_suvbw``)."""

    sul_per_suvbw: float | None
    lbm_formula: str
    uptake_min: float | None
    kind: str | None = None  # "liver" or "blood_pool"
    method: str = ""
    mean_suv: float | None = None
    sd_suv: float | None = None
    n_voxels: int | None = None
    centre_lps_mm: Point | None = None
    reason: str = ""  # why there is no reference / no SUL

    @property
    def mean_sul(self) -> float | None:
        return None if self.mean_suv is None or self.sul_per_suvbw is None else self.mean_suv * self.sul_per_suvbw

    @property
    def sd_sul(self) -> float | None:
        return None if self.sd_suv is None or self.sul_per_suvbw is None else self.sd_suv * self.sul_per_suvbw

    def as_record(self) -> dict[str, object]:
        return {
            "sul_per_suvbw": self.sul_per_suvbw,
            "lbm_formula": self.lbm_formula,
            "uptake_min": self.uptake_min,
            "reference": self.kind,
            "method": self.method,
            "mean_suv": self.mean_suv,
            "sd_suv": self.sd_suv,
            "mean_sul": self.mean_sul,
            "sd_sul": self.sd_sul,
            "n_voxels": self.n_voxels,
            "centre_lps_mm": self.centre_lps_mm,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class LiverRecord:
    """A timepoint's liver mask: where it came from and its volume, or why there is none."""

    mask_file: str | None = None  # masks/liver_timepoint_K.nii.gz
    source: str | None = None  # "segmented" or the given mask file
    volume_ml: float | None = None
    level_hu: float | None = None  # median attenuation of the liver (built-in segmentation)
    partial: bool | None = None  # the liver is cut by the first or last slice (built-in segmentation)
    failed: str | None = None  # why there is no liver mask


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
    suv_factor: SuvFactor | None
    registration: RegistrationRecord | None
    lesions: tuple[LesionRecord, ...]
    skipped_series: tuple[tuple[str, str], ...] = ()
    mask_file: str | None = None
    tracking: TrackingRecord = field(default_factory=TrackingRecord)
    pet_reference: PetReference | None = None
    new_lesions: tuple[str, ...] = ()  # new lesions found at this follow-up (by a detector or the reader)
    new_lesions_looked_for: bool = False  # the detector looked for new lesions here (automatic mode)
    suv_unavailable: str | None = None  # why the PET has no SUV (when there is a PET)
    liver: LiverRecord | None = None
    ct_choice: str | None = None  # why a DERIVED CT series is measured (None: an ORIGINAL one)
    pet_choice: str | None = None  # why a DERIVED PET series is used
    series_notes: tuple[str, ...] = ()  # images dropped from a series of the study (another orientation)


@dataclass(frozen=True)
class CriterionOutcome:
    """Which lesions a criterion used, and the patient's best overall response and time to progression by it."""

    criterion: str  # "recist", "volumetric", "choi", "percist"
    targets: tuple[str, ...]
    not_targets: tuple[tuple[str, str], ...] | None  # (lesion, why); None: the criterion selects no targets itself
    best: BestResponse | None  # None: the criterion could not be assessed
    progression: TimeToProgression | None


@dataclass(frozen=True)
class StudyAssessment:
    """Every criterion per timepoint (timepoint order), and per criterion the patient-level outcome."""

    recist: tuple[RecistAssessment, ...]
    total_volume_ml: tuple[float, ...]
    volumetric: tuple[VolumetricAssessment, ...]
    choi: tuple[ChoiAssessment, ...]
    percist: tuple[PercistAssessment, ...]
    new_lesion: tuple[bool, ...]
    days_from_baseline: tuple[int | None, ...]
    outcomes: tuple[CriterionOutcome, ...]
    # whether new lesions were assessed at each timepoint (looked for by the detector, or the reader's
    # "new_lesions" list given); False at the baseline
    new_lesion_assessed: tuple[bool, ...] = ()

    def outcome(self, criterion: str) -> CriterionOutcome | None:
        return next((o for o in self.outcomes if o.criterion == criterion), None)


@dataclass(frozen=True)
class StudyResult:
    patient_id: str
    timepoints: tuple[TimepointRecord, ...]
    recist: tuple[RecistAssessment, ...]
    total_volume_ml: tuple[float, ...]
    warnings: tuple[str, ...] = field(default=())
    assessment: StudyAssessment | None = None
    dropped: tuple[DroppedTimepoint, ...] = ()  # studies left out, in date order
    targets: tuple[Target, ...] = ()  # the targets given or chosen, in targets order

    def notes(self, k: int) -> tuple[str, ...]:
        """Why the response of ``timepoints[k]`` is conditional: a study dropped before it (and after baseline)."""
        date = self.timepoints[k].study_date
        if k == 0 or date is None:
            return ()
        return tuple(d.note() for d in self.dropped if d.study_date is None or d.study_date <= date)

    def recist_targets(self) -> frozenset[str] | None:
        """The RECIST 1.1 target lesions (those summed); ``None`` when the study was not assessed."""
        outcome = self.assessment.outcome("recist") if self.assessment else None
        return frozenset(outcome.targets) if outcome is not None else None


def evaluable_totals(result: StudyResult, k: int) -> tuple[bool, bool]:
    """Whether timepoint ``k``'s sum of diameters and total target volume are over every target (when a target
    was not evaluated they are over the others only: not reported, the timepoint is NE or, on the others, PD)."""
    recist = result.recist[k].evaluable
    a = result.assessment
    return recist, a.volumetric[k].evaluable if a is not None and a.volumetric else recist
