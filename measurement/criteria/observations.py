"""Target lesions and what is observed of them at each timepoint.

A target's observation at a timepoint has a status:

* ``measured`` — the lesion was measured (its values are given);
* ``too_small`` — present but too small to measure: RECIST 1.1 assigns a
  default of 5 mm (the reader's call; an actual measurement, even < 5 mm, is
  recorded as ``measured``);
* ``disappeared`` — the lesion is gone: 0 mm, 0 ml;
* ``not_evaluated`` — not assessed (outside the field of view, no image, not
  found by the software and not confirmed gone); the timepoint is then not
  evaluable (NE) unless the other lesions already show progression.

Measurability at baseline (RECIST 1.1, section 3.1): a non-nodal lesion
needs a longest diameter >= 10 mm and >= 2 x the CT slice thickness; a lymph
node needs a short axis >= 15 mm. Target selection: at most
``max_per_organ`` lesions per organ and ``max_total`` in all, the largest
first (longest diameter, short axis for nodes), the given order on ties.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum


class LesionStatus(str, Enum):
    MEASURED = "measured"
    TOO_SMALL = "too_small"
    DISAPPEARED = "disappeared"
    NOT_EVALUATED = "not_evaluated"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class TargetLesion:
    lesion_id: str
    organ: str = "liver"
    lymph_node: bool = False


@dataclass(frozen=True)
class Observation:
    """One target at one timepoint. Lengths in mm, volume in ml, attenuation in HU, SULpeak in SUL."""

    status: LesionStatus
    longest_mm: float | None = None
    short_axis_mm: float | None = None
    volume_ml: float | None = None
    mean_hu: float | None = None
    sul_peak: float | None = None


Observations = Mapping[str, Observation]  # lesion_id -> observation, one timepoint


@dataclass(frozen=True)
class SelectionRules:
    max_total: int
    max_per_organ: int
    min_longest_mm: float = 10.0
    min_slice_thickness_factor: float = 2.0
    min_node_short_axis_mm: float = 15.0
    keep_non_measurable: bool = False


@dataclass(frozen=True)
class TargetSelection:
    targets: tuple[TargetLesion, ...]
    excluded: tuple[tuple[str, str], ...] = ()  # (lesion_id, reason)


def value_of(obs: Observation | None, measured: float | None, too_small: float) -> float | None:
    """A target's value for a sum: ``measured`` when measured, ``too_small`` when too small to
    measure, 0 when disappeared, ``None`` when not assessed."""
    if obs is None or obs.status is LesionStatus.NOT_EVALUATED:
        return None
    if obs.status is LesionStatus.DISAPPEARED:
        return 0.0
    if obs.status is LesionStatus.TOO_SMALL:
        return too_small
    return measured


def size_mm(target: TargetLesion, obs: Observation) -> float | None:
    """The RECIST size of a measured lesion: short axis for a lymph node, else longest diameter."""
    return obs.short_axis_mm if target.lymph_node else obs.longest_mm


def measurability(
    target: TargetLesion, obs: Observation | None, slice_thickness_mm: float | None, rules: SelectionRules
) -> str | None:
    """Why a lesion is not measurable at baseline, or ``None`` when it is."""
    if obs is None or obs.status is not LesionStatus.MEASURED:
        return f"not measured at baseline ({obs.status if obs else 'no observation'})"
    size = size_mm(target, obs)
    if size is None:
        return "no " + ("short axis" if target.lymph_node else "longest diameter") + " at baseline"
    if target.lymph_node:
        if size < rules.min_node_short_axis_mm:
            return f"lymph node short axis {size:.1f} mm < {rules.min_node_short_axis_mm:g} mm"
        return None
    minimum = rules.min_longest_mm
    if slice_thickness_mm is not None:
        minimum = max(minimum, rules.min_slice_thickness_factor * slice_thickness_mm)
    if size < minimum:
        thickness = f", slice thickness {slice_thickness_mm:g} mm" if slice_thickness_mm is not None else ""
        return f"longest diameter {size:.1f} mm < {minimum:g} mm{thickness}"
    return None


def select_targets(
    lesions: Sequence[TargetLesion], baseline: Observations, slice_thickness_mm: float | None, rules: SelectionRules
) -> TargetSelection:
    """The target lesions a criterion uses (see module docstring), and why the others are not used."""
    excluded: list[tuple[str, str]] = []
    candidates: list[tuple[int, TargetLesion, float]] = []
    for order, lesion in enumerate(lesions):
        obs = baseline.get(lesion.lesion_id)
        why = measurability(lesion, obs, slice_thickness_mm, rules)
        measured = obs is not None and obs.status is LesionStatus.MEASURED and size_mm(lesion, obs) is not None
        if why is not None and not (rules.keep_non_measurable and measured):
            excluded.append((lesion.lesion_id, f"not measurable: {why}"))
            continue
        if why is not None:
            excluded.append((lesion.lesion_id, f"kept although not measurable: {why}"))
        assert obs is not None
        candidates.append((order, lesion, float(size_mm(lesion, obs) or 0.0)))
    by_size = sorted(candidates, key=lambda c: (-c[2], c[0]))
    kept: list[tuple[int, TargetLesion, float]] = []
    per_organ: dict[str, int] = {}
    for order, lesion, size in by_size:
        organ = "lymph node" if lesion.lymph_node else lesion.organ
        if per_organ.get(organ, 0) >= rules.max_per_organ:
            excluded.append(
                (lesion.lesion_id, f"more than {rules.max_per_organ} target(s) in {organ}; larger ones kept")
            )
        elif len(kept) >= rules.max_total:
            excluded.append((lesion.lesion_id, f"more than {rules.max_total} targets in all; larger ones kept"))
        else:
            per_organ[organ] = per_organ.get(organ, 0) + 1
            kept.append((order, lesion, size))
    targets = tuple(lesion for _, lesion, _ in sorted(kept, key=lambda c: c[0]))
    return TargetSelection(targets, tuple(sorted(excluded, key=lambda e: [t.lesion_id for t in lesions].index(e[0]))))
