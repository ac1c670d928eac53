"""Response of target lesions over time: RECIST 1.1 and volume change.

RECIST 1.1 (Eisenhauer et al., Eur J Cancer 2009) for target lesions:

* sum of diameters: longest diameters of non-nodal targets plus short axes
  of nodal targets; a target that disappeared counts 0 mm;
* CR: every target has disappeared (sum 0);
* PR: the sum decreased by at least 30 % from baseline (change <= -30 %);
* PD: the sum increased by at least 20 % from the nadir (the smallest sum at
  any earlier timepoint, baseline included) *and* by at least 5 mm in
  absolute terms; a new lesion is PD whatever the sum;
* SD: neither PR nor PD.

PD is tested first, then CR, then PR. Thresholds are compared in the form
``100 * (sum - reference) <= threshold * reference`` with a 1e-9 mm tolerance,
so a change of exactly -30 % or +20 % (or exactly +5 mm) meets the threshold
despite binary floating point.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum


class Recist(str, Enum):
    BASELINE = "baseline"
    CR = "CR"
    PR = "PR"
    SD = "SD"
    PD = "PD"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class RecistConfig:
    pr_change_pct: float = -30.0
    pd_change_pct: float = 20.0
    pd_absolute_mm: float = 5.0


@dataclass(frozen=True)
class RecistAssessment:
    timepoint: int
    sum_diameters_mm: float
    change_from_baseline_pct: float | None
    change_from_nadir_pct: float | None
    nadir_mm: float | None
    category: Recist


def percent_change(value: float, reference: float) -> float | None:
    """100 * (value - reference) / reference; ``None`` when the reference is 0."""
    if reference == 0:
        return None
    return 100.0 * (value - reference) / reference


_TOLERANCE_MM = 1e-9


def _change_at_most(value: float, reference: float, pct: float) -> bool:
    return 100.0 * (value - reference) <= pct * reference + 100.0 * _TOLERANCE_MM


def _change_at_least(value: float, reference: float, pct: float) -> bool:
    return 100.0 * (value - reference) >= pct * reference - 100.0 * _TOLERANCE_MM


def assess_recist(
    sums_mm: Sequence[float], new_lesions: Sequence[bool] | None = None, config: RecistConfig | None = None
) -> list[RecistAssessment]:
    """RECIST 1.1 target response per timepoint from the sums of diameters (timepoint 0 = baseline)."""
    config = config or RecistConfig()
    if not sums_mm:
        return []
    if sums_mm[0] <= 0:
        raise ValueError("baseline sum of diameters must be positive")
    new_lesions = new_lesions or [False] * len(sums_mm)
    baseline = sums_mm[0]
    out = [RecistAssessment(0, baseline, None, None, None, Recist.BASELINE)]
    for k in range(1, len(sums_mm)):
        total = sums_mm[k]
        nadir = min(sums_mm[:k])
        from_baseline = percent_change(total, baseline)
        from_nadir = percent_change(total, nadir)
        grew = total - nadir >= config.pd_absolute_mm - _TOLERANCE_MM and _change_at_least(total, nadir, config.pd_change_pct)
        if grew or new_lesions[k]:
            category = Recist.PD
        elif total == 0:
            category = Recist.CR
        elif _change_at_most(total, baseline, config.pr_change_pct):
            category = Recist.PR
        else:
            category = Recist.SD
        out.append(RecistAssessment(k, total, from_baseline, from_nadir, nadir, category))
    return out
