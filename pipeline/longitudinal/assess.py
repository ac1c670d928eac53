"""The assess stage: the lesion records of every timepoint -> every response criterion.

Which lesions each criterion uses:

* RECIST 1.1 and volumetric: the RECIST targets (measurable at baseline, at
  most 2 per organ and 5 in all, largest first); ``sum_diameters_mm`` and
  ``total_volume_ml`` are over these targets;
* Choi: RECIST 1.0 targets (up to 5 per organ, 10 in all), longest diameters;
* PERCIST: the hottest of all targets found at baseline.

A target the software did not find at a follow-up counts as
``recist.not_found_as``. The default, ``auto``, counts it as disappeared
(0 mm, with a warning) when nothing of its baseline appearance is left where
registration puts it (or it coalesced with another target: RECIST 1.1 records the merged
lesion once and 0 mm for the others), and as not evaluated when something is
there that could not be delineated (the timepoint is then NE
unless the others show progression; ``disappeared``: 0 mm). A target that
was not looked for (outside the field of view, registration failed) is
always not evaluated. The reader's annotations (new lesions, lesion status)
replace the software's findings.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace

from measurement.criteria.best_response import ANATOMIC, METABOLIC, best_overall_response, time_to_progression
from measurement.criteria.choi import ChoiAssessment, assess_choi
from measurement.criteria.observations import (
    LesionStatus,
    Observation,
    Observations,
    SelectionRules,
    TargetLesion,
    TargetSelection,
    select_targets,
)
from measurement.criteria.percist import PercistAssessment, ReferenceValue, assess_percist
from measurement.criteria.recist import Recist, RecistAssessment, RecistResult, assess_recist_lesions
from measurement.criteria.volumetric import VolumetricAssessment, assess_volumetric
from pipeline.config import RunConfig
from pipeline.records import CriterionOutcome, LesionRecord, PetReference, StudyAssessment, TimepointRecord
from pipeline.targets.annotations import Annotations
from pipeline.targets.json_file import Target

log = logging.getLogger(__name__)


def observation(record: LesionRecord, override: LesionStatus | None, not_found_as: str) -> Observation:
    """What a criterion sees of one lesion record."""
    if override is not None:
        return Observation(override)
    if record.measured:
        return Observation(
            LesionStatus.MEASURED,
            record.longest_diameter_mm,
            record.short_axis_mm,
            record.volume_ml,
            record.mean_hu,
            record.sul_peak,
        )
    if not record.assessed:
        return Observation(LesionStatus.NOT_EVALUATED)
    if not_found_as == LesionStatus.DISAPPEARED.value or (not_found_as == "auto" and record.absent):
        return Observation(LesionStatus.DISAPPEARED)
    return Observation(LesionStatus.NOT_EVALUATED)


def _observations(
    records: Sequence[TimepointRecord], annotations: Annotations, config: RunConfig
) -> list[Observations]:
    out: list[Observations] = []
    for tp in records:
        obs = {}
        for r in tp.lesions:
            override = annotations.status_of(r.lesion_id, tp.index, tp.study_date) if tp.index > 0 else None
            obs[r.lesion_id] = observation(r, override, config.recist.not_found_as)
            if not r.measured and override is None and tp.index > 0:
                counted = (
                    "disappeared (0 mm)" if obs[r.lesion_id].status is LesionStatus.DISAPPEARED else "not evaluated"
                )
                log.warning("timepoint %d: lesion %s not found: counted as %s", tp.index, r.lesion_id, counted)
        out.append(obs)
    return out


def _reference_value(ref: PetReference | None) -> ReferenceValue | None:
    """The PERCIST reference (liver or blood pool) in SUL, when the timepoint has one."""
    if ref is None or not ref.kind:
        return None
    mean, sd = ref.mean_sul, ref.sd_sul
    return None if mean is None or sd is None else ReferenceValue(ref.kind, mean, sd)


def _recist(
    lesions: list[TargetLesion],
    observations: list[Observations],
    new: list[bool],
    thickness: float | None,
    config: RunConfig,
) -> RecistResult | None:
    try:
        return assess_recist_lesions(lesions, observations, new, thickness, config.recist)
    except ValueError as exc:
        log.warning("RECIST not assessable: %s", exc)
        return None


def _outcome(
    criterion: str,
    targets: Sequence[TargetLesion],
    not_targets: Sequence[tuple[str, str]] | None,
    categories: Sequence[str],
    days: Sequence[int | None],
    config: RunConfig,
) -> CriterionOutcome:
    """Best overall response and time to progression of one criterion (none when it gave no categories)."""
    ids = tuple(t.lesion_id for t in targets)
    excluded = tuple(not_targets) if not_targets is not None else None
    if not categories:
        return CriterionOutcome(criterion, ids, excluded, None, None)
    if criterion == "percist":
        order, stable, confirm, confirmation = METABOLIC, 0, False, 0
    else:
        rc = config.recist
        order, stable, confirm, confirmation = ANATOMIC, rc.min_sd_days, rc.confirm_response, rc.min_confirmation_days
    best = best_overall_response(list(categories), list(days), order, stable, confirm, confirmation)
    return CriterionOutcome(criterion, ids, excluded, best, time_to_progression(list(categories), list(days), order))


def _warn_uptake_times(records: Sequence[TimepointRecord], config: RunConfig) -> None:
    """PERCIST 1.0: a follow-up's uptake time should be within 15 minutes of the baseline's."""
    base = records[0].pet_reference.uptake_min if records and records[0].pet_reference else None
    for tp in records[1:]:
        uptake = tp.pet_reference.uptake_min if tp.pet_reference else None
        if base is not None and uptake is not None and abs(uptake - base) > config.percist.max_uptake_difference_min:
            log.warning(
                "timepoint %d: PET uptake time %.0f min differs from baseline's %.0f min by more than %g min (PERCIST)",
                tp.index,
                uptake,
                base,
                config.percist.max_uptake_difference_min,
            )


def _anatomic(
    lesions: list[TargetLesion],
    observations: list[Observations],
    new: list[bool],
    slice_thickness_mm: float | None,
    config: RunConfig,
) -> tuple[RecistResult | None, tuple[RecistAssessment, ...], tuple[VolumetricAssessment, ...]]:
    """RECIST 1.1 and the volumetric criteria over the RECIST targets (NE throughout when RECIST is not assessable)."""
    result = _recist(lesions, observations, new, slice_thickness_mm, config)
    if result is None:
        ne = tuple(
            RecistAssessment(k, 0.0, None, None, None, Recist.BASELINE if k == 0 else Recist.NE, evaluable=False)
            for k in range(len(observations))
        )
        return None, ne, ()
    for lesion_id, why in result.selection.excluded:
        log.warning("lesion %s is not a RECIST target: %s", lesion_id, why)
    targets = list(result.selection.targets)
    return result, result.assessments, tuple(assess_volumetric(targets, observations, new, config.volumetric))


def _choi(
    lesions: list[TargetLesion],
    observations: list[Observations],
    new: list[bool],
    slice_thickness_mm: float | None,
    config: RunConfig,
) -> tuple[TargetSelection, tuple[ChoiAssessment, ...]]:
    """Choi over RECIST 1.0 targets (up to 5 per organ, 10 in all; every lesion by its longest diameter)."""
    rules = SelectionRules(
        config.choi.max_targets_total,
        config.choi.max_targets_per_organ,
        config.recist.min_measurable_mm,
        config.recist.min_measurable_slice_factor,
    )
    as_non_nodal = [replace(t, lymph_node=False) for t in lesions]
    selection = select_targets(as_non_nodal, observations[0], slice_thickness_mm, rules)
    if not selection.targets:
        return selection, ()
    return selection, tuple(assess_choi(selection.targets, observations, new, config.choi))


def _percist(
    lesions: list[TargetLesion],
    observations: list[Observations],
    records: Sequence[TimepointRecord],
    new: list[bool],
    config: RunConfig,
) -> tuple[PercistAssessment, ...]:
    """PERCIST 1.0 over every target found at baseline, with each timepoint's reference region."""
    if not lesions:
        return ()
    references = [_reference_value(tp.pet_reference) for tp in records]
    percist = tuple(assess_percist(lesions, observations, references, new, config.percist))
    _warn_uptake_times(records, config)
    if all(tp.pet_series_uid is None for tp in records):
        return percist  # a study without PET: PERCIST does not apply (NE at every follow-up), no reason to warn
    for a in percist:
        for note in a.notes:
            if note != "new lesion" and not note.startswith("not assessable at baseline"):
                log.warning("PERCIST timepoint %d: %s", a.timepoint, note)
    return percist


def assess_study(
    records: Sequence[TimepointRecord],
    targets: Sequence[Target],
    found_at_baseline: set[str],
    annotations: Annotations,
    slice_thickness_mm: float | None,
    config: RunConfig,
) -> StudyAssessment:
    """Every criterion per timepoint, best overall response and time to progression (see module docstring)."""
    lesions = [TargetLesion(t.lesion_id, t.organ, t.lymph_node) for t in targets if t.lesion_id in found_at_baseline]
    observations = _observations(records, annotations, config)
    new = [
        tp.index > 0 and (bool(tp.new_lesions) or annotations.new_lesion_at(tp.index, tp.study_date)) for tp in records
    ]
    assessed = [tp.index > 0 and (tp.new_lesions_looked_for or annotations.new_lesions_given) for tp in records]
    days = [tp.days_from_baseline if tp.index > 0 else 0 for tp in records]
    recist_result, recist, volumetric = _anatomic(lesions, observations, new, slice_thickness_mm, config)
    recist_targets = list(recist_result.selection.targets) if recist_result else []
    excluded = list(recist_result.selection.excluded) if recist_result else []
    choi_selection, choi = _choi(lesions, observations, new, slice_thickness_mm, config)
    percist = _percist(lesions, observations, records, new, config)
    outcomes = (
        _outcome("recist", recist_targets, excluded, [a.category.value for a in recist], days, config),
        _outcome("volumetric", recist_targets, None, [a.category.value for a in volumetric], days, config),
        _outcome(
            "choi", choi_selection.targets, choi_selection.excluded, [a.category.value for a in choi], days, config
        ),
        _outcome("percist", lesions, None, [a.category.value for a in percist], days, config),
    )
    total_volume = tuple(v.total_volume_ml for v in volumetric) if volumetric else tuple(0.0 for _ in records)
    return StudyAssessment(
        recist, total_volume, volumetric, choi, percist, tuple(new), tuple(days), outcomes, tuple(assessed)
    )
