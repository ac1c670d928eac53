"""RECIST 1.1 categories of the target lesions from their sums of diameters over time.

RECIST 1.1 (Eisenhauer et al., Eur J Cancer 2009) for target lesions:

* sum of diameters: longest diameters of non-nodal targets plus short axes
  of nodal targets; a target that disappeared counts 0 mm, one present but
  too small to measure 5 mm (see :func:`target_value_mm`);
* CR: every non-nodal target has disappeared and every nodal target has a
  short axis < 10 mm (so the sum may be > 0 with nodal targets);
* PR: the sum decreased by at least 30 % from baseline (change <= -30 %);
* PD: the sum increased by at least 20 % from the nadir (the smallest sum of
  the earlier evaluable timepoints, baseline included) *and* by at least
  5 mm in absolute terms; a new lesion is PD whatever the sum;
* NE (not evaluable): a target was not assessed, unless the assessed ones
  already show PD (their partial sum can only underestimate the total);
* SD: none of the above.

PD is tested first, then NE, CR, PR. Thresholds are compared exactly (see
:mod:`measurement.criteria.thresholds`): a change of exactly -30 % or +20 %,
or exactly +5 mm, meets the threshold.

From lesion observations (:func:`assess_recist_lesions`):

* Targets: measurable at baseline, at most 2 per organ and 5 in all, the
  largest first (:mod:`.observations`); lymph nodes of any site count as one organ.
* Value of a target: its longest diameter, or its short axis for a lymph node;
  ``too_small`` counts ``too_small_mm`` (5 mm), ``disappeared`` 0 mm,
  ``not_evaluated`` leaves the timepoint NE unless the others show PD.
* CR: every non-nodal target has disappeared and every nodal target has a
  short axis < 10 mm. Categories from the sums: :func:`assess_recist`.

Only target lesions and new lesions are assessed: the pipeline has no
non-target lesions, so the category is the target response combined with new
lesions (RECIST overall response with non-target lesions "non-CR/non-PD").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import Enum

from measurement.criteria.observations import (
    Observation,
    Observations,
    SelectionRules,
    TargetLesion,
    TargetSelection,
    select_targets,
    size_mm,
    value_of,
)
from measurement.criteria.thresholds import TOLERANCE, change_at_least, change_at_most, percent_change


class Recist(str, Enum):
    """Response categories of the anatomic criteria (RECIST 1.1, volumetric, Choi)."""

    BASELINE = "baseline"
    CR = "CR"
    PR = "PR"
    SD = "SD"
    PD = "PD"
    NE = "NE"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class RecistConfig:
    """RECIST 1.1 options; the defaults are the published values.

    Each field's ``metadata`` declares the values a configuration file may give
    it: bounds ``ge``/``gt``/``le``/``lt`` for numbers, ``choices`` for texts.
    """

    pr_change_pct: float = field(default=-30.0, metadata={"ge": -100.0, "lt": 0.0})
    pd_change_pct: float = field(default=20.0, metadata={"gt": 0.0, "le": 1000.0})
    pd_absolute_mm: float = field(default=5.0, metadata={"ge": 0.0, "le": 100.0})
    max_targets_total: int = field(default=5, metadata={"ge": 1, "le": 100})
    max_targets_per_organ: int = field(default=2, metadata={"ge": 1, "le": 100})
    min_measurable_mm: float = field(default=10.0, metadata={"ge": 0.0, "le": 100.0})
    min_measurable_slice_factor: float = field(default=2.0, metadata={"ge": 0.0, "le": 10.0})
    min_node_short_axis_mm: float = field(default=15.0, metadata={"ge": 0.0, "le": 100.0})
    node_normal_short_axis_mm: float = field(default=10.0, metadata={"ge": 0.0, "le": 100.0})
    too_small_mm: float = field(default=5.0, metadata={"ge": 0.0, "le": 100.0})
    keep_non_measurable_targets: bool = False
    # a target the software did not find: "auto" (disappeared when nothing of its look is left at its place,
    # else not evaluated), "not_evaluated" or "disappeared"
    not_found_as: str = field(default="auto", metadata={"choices": ("auto", "not_evaluated", "disappeared")})
    confirm_response: bool = False
    min_confirmation_days: int = field(default=28, metadata={"ge": 0, "le": 3650})
    min_sd_days: int = field(default=42, metadata={"ge": 0, "le": 3650})


@dataclass(frozen=True)
class RecistAssessment:
    """One timepoint. ``evaluable``: every target was assessed; otherwise ``sum_diameters_mm`` and the changes
    are over the assessed targets only (a lower bound: enough for PD, not a sum of the targets)."""

    timepoint: int
    sum_diameters_mm: float
    change_from_baseline_pct: float | None
    change_from_nadir_pct: float | None
    nadir_mm: float | None
    category: Recist
    evaluable: bool = True
    not_evaluated: tuple[str, ...] = ()  # the targets not assessed (from lesion observations)


def assess_recist(
    sums_mm: Sequence[float],
    new_lesions: Sequence[bool] | None = None,
    config: RecistConfig | None = None,
    complete: Sequence[bool] | None = None,
    evaluable: Sequence[bool] | None = None,
) -> list[RecistAssessment]:
    """RECIST 1.1 category per timepoint (timepoint 0 = baseline).

    ``sums_mm[k]`` is the sum of the targets assessed at timepoint k;
    ``complete[k]`` whether the CR condition on the targets holds (default:
    the sum is 0); ``evaluable[k]`` whether every target was assessed
    (default: yes); ``new_lesions[k]`` whether a new lesion appeared.
    """
    config = config or RecistConfig()
    n = len(sums_mm)
    if not n:
        return []
    if sums_mm[0] <= 0:
        raise ValueError("baseline sum of diameters must be positive")
    new_lesions = list(new_lesions) if new_lesions is not None else [False] * n
    complete = list(complete) if complete is not None else [s == 0 for s in sums_mm]
    evaluable = list(evaluable) if evaluable is not None else [True] * n
    if not evaluable[0]:
        raise ValueError("every target must be measured at baseline")
    baseline = sums_mm[0]
    out = [RecistAssessment(0, baseline, None, None, None, Recist.BASELINE)]
    for k in range(1, n):
        total = sums_mm[k]
        nadir = min(sums_mm[j] for j in range(k) if evaluable[j])
        grew = total - nadir >= config.pd_absolute_mm - TOLERANCE and change_at_least(
            total, nadir, config.pd_change_pct
        )
        if grew or new_lesions[k]:
            category = Recist.PD
        elif not evaluable[k]:
            category = Recist.NE
        elif complete[k]:
            category = Recist.CR
        elif change_at_most(total, baseline, config.pr_change_pct):
            category = Recist.PR
        else:
            category = Recist.SD
        changes = percent_change(total, baseline), percent_change(total, nadir)
        out.append(RecistAssessment(k, total, *changes, nadir, category, evaluable[k]))
    return out


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
        (v < config.node_normal_short_axis_mm if t.lymph_node else v == 0.0)
        for t, v in zip(targets, values_mm, strict=True)
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
        raise ValueError(
            "no measurable target lesion at baseline: " + "; ".join(f"{i}: {r}" for i, r in selection.excluded)
        )
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
    assessments = [replace(a, not_evaluated=absent) for a, absent in zip(assessments, missing, strict=True)]
    return RecistResult(selection, tuple(assessments), tuple(missing))
