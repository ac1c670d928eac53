"""RECIST 1.1 from lesion observations: target selection, sums, categories.

* Targets: measurable at baseline, at most 2 per organ and 5 in all, the
  largest first (:mod:`.targets`); lymph nodes of any site count as one organ.
* Value of a target: its longest diameter, or its short axis for a lymph node;
  ``too_small`` counts ``too_small_mm`` (5 mm), ``disappeared`` 0 mm,
  ``not_evaluated`` leaves the timepoint NE unless the others show PD.
* CR: every non-nodal target has disappeared and every nodal target has a
  short axis < 10 mm. Categories from the sums: :func:`measurement.response.assess_recist`.

Only target lesions and new lesions are assessed: the pipeline has no
non-target lesions, so the category is the target response combined with new
lesions (RECIST overall response with non-target lesions "non-CR/non-PD").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from measurement.criteria.targets import (
    Observation,
    Observations,
    SelectionRules,
    TargetLesion,
    TargetSelection,
    select_targets,
    size_mm,
    value_of,
)
from measurement.response import RecistAssessment, RecistConfig, assess_recist


@dataclass(frozen=True)
class RecistResult:
    selection: TargetSelection
    assessments: tuple[RecistAssessment, ...]
    not_evaluated: tuple[tuple[str, ...], ...]  # per timepoint: targets not assessed


def selection_rules(config: RecistConfig) -> SelectionRules:
    return SelectionRules(
        max_total=config.max_targets_total,
        max_per_organ=config.max_targets_per_organ,
        min_longest_mm=config.min_measurable_mm,
        min_slice_thickness_factor=config.min_measurable_slice_factor,
        min_node_short_axis_mm=config.min_node_short_axis_mm,
        keep_non_measurable=config.keep_non_measurable_targets,
    )


def target_value_mm(target: TargetLesion, obs: Observation | None, config: RecistConfig) -> float | None:
    """The target's contribution to the sum of diameters; ``None`` when not assessed."""
    return value_of(obs, size_mm(target, obs) if obs else None, config.too_small_mm)


def targets_complete(targets: Sequence[TargetLesion], values_mm: Sequence[float], config: RecistConfig) -> bool:
    """CR condition: non-nodal targets at 0 mm, nodal targets with a short axis < 10 mm."""
    return all(
        (v < config.node_normal_short_axis_mm if t.lymph_node else v == 0.0) for t, v in zip(targets, values_mm, strict=True)
    )


def assess_recist_lesions(
    lesions: Sequence[TargetLesion],
    timepoints: Sequence[Observations],
    new_lesions: Sequence[bool] | None = None,
    slice_thickness_mm: float | None = None,
    config: RecistConfig | None = None,
) -> RecistResult:
    """RECIST 1.1 per timepoint from every target's observations (timepoint 0 = baseline)."""
    config = config or RecistConfig()
    selection = select_targets(lesions, timepoints[0], slice_thickness_mm, selection_rules(config))
    if not selection.targets:
        raise ValueError("no measurable target lesion at baseline: " + "; ".join(f"{i}: {r}" for i, r in selection.excluded))
    sums, complete, evaluable, missing = [], [], [], []
    for obs in timepoints:
        values = {t.lesion_id: target_value_mm(t, obs.get(t.lesion_id), config) for t in selection.targets}
        absent = tuple(i for i, v in values.items() if v is None)
        present = [v for v in values.values() if v is not None]
        sums.append(float(sum(present)))
        evaluable.append(not absent)
        complete.append(not absent and targets_complete(selection.targets, present, config))
        missing.append(absent)
    assessments = assess_recist(sums, new_lesions, config, complete, evaluable)
    return RecistResult(selection, tuple(assessments), tuple(missing))
