"""The assess stage: the lesion records of every timepoint -> every response criterion.

Which lesions each criterion uses:

* RECIST 1.1 and volumetric: the RECIST targets (measurable at baseline, at
  most 2 per organ and 5 in all, largest first); ``sum_diameters_mm`` and
  ``total_volume_ml`` are over these targets;
* Choi: RECIST 1.0 targets (up to 5 per organ, 10 in all), longest diameters;
* PERCIST: the hottest of all targets found at baseline.

A target the software did not find at a follow-up counts as
``recist.not_found_as``. The default, ``auto``, counts it as disappeared
(0 mm, with a warning) when nothing hypodense is left where registration
puts it (or it coalesced with another target: RECIST 1.1 records the merged
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
from dataclasses import asdict, replace

from measurement.criteria.best_response import ANATOMIC, METABOLIC, best_overall_response, time_to_progression
from measurement.criteria.choi import assess_choi
from measurement.criteria.observations import (
    LesionStatus,
    Observation,
    Observations,
    SelectionRules,
    TargetLesion,
    select_targets,
)
from measurement.criteria.percist import ReferenceValue, assess_percist
from measurement.criteria.recist import Recist, RecistAssessment, RecistResult, assess_recist_lesions
from measurement.criteria.volumetric import assess_volumetric
from pipeline.config import RunConfig
from pipeline.records import LesionRecord, StudyAssessment, TimepointRecord
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
    out = []
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


def _references(records: Sequence[TimepointRecord]) -> list[ReferenceValue | None]:
    out: list[ReferenceValue | None] = []
    for tp in records:
        ref = tp.pet_reference or {}
        kind, mean, sd = ref.get("reference"), ref.get("mean_sul"), ref.get("sd_sul")
        out.append(
            ReferenceValue(str(kind), float(mean), float(sd)) if kind and mean is not None and sd is not None else None
        )  # type: ignore[arg-type]
    return out


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


def _excluded(pairs: Sequence[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"lesion_id": i, "reason": why} for i, why in pairs]


def _outcome(
    categories: list[str], days: list[int | None], order, min_stable_days: int, confirm: bool, confirmation_days: int
) -> dict[str, object]:  # type: ignore[no-untyped-def]
    best = best_overall_response(categories, days, order, min_stable_days, confirm, confirmation_days)
    ttp = time_to_progression(categories, days, order)
    return {
        "best_overall_response": {"category": best.category, "timepoint": best.timepoint},
        "time_to_progression": {
            "progressed": ttp.progressed,
            "censored": ttp.censored,
            "timepoint": ttp.timepoint,
            "days": ttp.days,
            "months": None if ttp.months is None else round(ttp.months, 2),
        },
    }


def _warn_uptake_times(records: Sequence[TimepointRecord], config: RunConfig) -> None:
    """PERCIST 1.0: a follow-up's uptake time should be within 15 minutes of the baseline's."""
    base = (records[0].pet_reference or {}).get("uptake_min") if records else None
    for tp in records[1:]:
        uptake = (tp.pet_reference or {}).get("uptake_min")
        if base is not None and uptake is not None and abs(uptake - base) > config.percist.max_uptake_difference_min:  # type: ignore[operator]
            log.warning(
                "timepoint %d: PET uptake time %.0f min differs from baseline's %.0f min by more than %g min (PERCIST)",
                tp.index,
                uptake,
                base,
                config.percist.max_uptake_difference_min,
            )


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
    days = [tp.days_from_baseline if tp.index > 0 else 0 for tp in records]
    n = len(records)

    recist_result = _recist(lesions, observations, new, slice_thickness_mm, config)
    if recist_result is not None:
        recist = recist_result.assessments
        recist_targets = list(recist_result.selection.targets)
        excluded = list(recist_result.selection.excluded)
        for lesion_id, why in excluded:
            log.warning("lesion %s is not a RECIST target: %s", lesion_id, why)
        volumetric = tuple(assess_volumetric(recist_targets, observations, new, config.volumetric))
    else:
        recist = tuple(
            RecistAssessment(k, 0.0, None, None, None, Recist.BASELINE if k == 0 else Recist.NE) for k in range(n)
        )
        recist_targets, excluded, volumetric = [], [], ()

    choi_rules = SelectionRules(
        config.choi.max_targets_total,
        config.choi.max_targets_per_organ,
        config.recist.min_measurable_mm,
        config.recist.min_measurable_slice_factor,
    )
    as_non_nodal = [replace(t, lymph_node=False) for t in lesions]  # RECIST 1.0: every lesion by its longest diameter
    choi_selection = select_targets(as_non_nodal, observations[0], slice_thickness_mm, choi_rules)
    choi = tuple(assess_choi(choi_selection.targets, observations, new, config.choi)) if choi_selection.targets else ()
    percist = tuple(assess_percist(lesions, observations, _references(records), new, config.percist)) if lesions else ()
    _warn_uptake_times(records, config)
    for a in percist:
        for note in a.notes:
            if note != "new lesion" and not note.startswith("not assessable at baseline"):
                log.warning("PERCIST timepoint %d: %s", a.timepoint, note)

    total_volume = tuple(v.total_volume_ml for v in volumetric) if volumetric else tuple(0.0 for _ in range(n))
    rc = config.recist
    anatomic = dict(
        min_stable_days=rc.min_sd_days, confirm=rc.confirm_response, confirmation_days=rc.min_confirmation_days
    )
    criteria: dict[str, object] = {
        "recist": {
            "targets": [t.lesion_id for t in recist_targets],
            "not_targets": _excluded(excluded),
            **_outcome([a.category.value for a in recist], days, ANATOMIC, **anatomic),
        },
        "volumetric": {
            "targets": [t.lesion_id for t in recist_targets],
            **(_outcome([a.category.value for a in volumetric], days, ANATOMIC, **anatomic) if volumetric else {}),
        },
        "choi": {
            "targets": [t.lesion_id for t in choi_selection.targets],
            "not_targets": _excluded(choi_selection.excluded),
            **(_outcome([a.category.value for a in choi], days, ANATOMIC, **anatomic) if choi else {}),
        },
        "percist": {
            "targets": [t.lesion_id for t in lesions],
            **(_outcome([a.category.value for a in percist], days, METABOLIC, 0, False, 0) if percist else {}),
        },
    }
    timepoints = []
    for k, tp in enumerate(records):
        p = percist[k] if percist else None
        timepoints.append(
            {
                "timepoint": tp.index,
                "study_date": tp.study_date.isoformat() if tp.study_date else None,
                "days_from_baseline": days[k],
                "new_lesion": new[k],
                "recist": recist[k].category.value,
                "volumetric": volumetric[k].category.value if volumetric else None,
                "choi": choi[k].category.value if choi else None,
                "percist": p.category.value if p else None,
                "percist_hottest_lesion": p.hottest_lesion if p else None,
                "sul_peak": p.sul_peak if p else None,
                "percist_reference": asdict(p.reference) if p and p.reference else None,
                "percist_notes": list(p.notes) if p else [],
            }
        )
    summary = {"criteria": criteria, "timepoints": timepoints}
    return StudyAssessment(tuple(recist), total_volume, volumetric, choi, percist, summary)
