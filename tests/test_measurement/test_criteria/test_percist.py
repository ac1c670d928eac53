"""PERCIST 1.0 categories at and around every threshold."""

from __future__ import annotations

import pytest

from measurement.criteria.observations import LesionStatus, Observation, TargetLesion
from measurement.criteria.percist import PercistConfig, ReferenceValue, assess_percist, measurability_threshold

M, GONE, NE = LesionStatus.MEASURED, LesionStatus.DISAPPEARED, LesionStatus.NOT_EVALUATED
ONE = [TargetLesion("A")]
TWO = [TargetLesion("A"), TargetLesion("B")]
LIVER = ReferenceValue("liver", 1.0, 0.1)  # measurable from 1.5 x 1.0 + 2 x 0.1 = 1.7 SUL


def sul(*values: float) -> list[dict[str, Observation]]:
    return [{"A": Observation(M, sul_peak=v)} for v in values]


def last(targets, timepoints, references=None, **kw) -> str:
    references = references or [LIVER] * len(timepoints)
    return assess_percist(targets, timepoints, references, **kw)[-1].category.value


@pytest.mark.parametrize(
    "values, expected",
    [
        # PMR: >= 30 % and >= 0.8 SUL decrease
        ([4.0, 2.8], "PMR"),  # -30 % exactly (-1.2 SUL)
        ([4.0, 2.81], "SMD"),  # -29.75 %
        ([2.0, 1.2], "PMR"),  # -40 %, -0.8 SUL exactly
        ([2.0, 1.21], "SMD"),  # -39.5 % but only -0.79 SUL
        # PMD: > 30 % and > 0.8 SUL increase (strict in PERCIST 1.0)
        ([4.0, 5.2], "SMD"),  # +30 % exactly
        ([4.0, 5.21], "PMD"),
        ([2.0, 2.8], "SMD"),  # +40 % but +0.8 SUL exactly
        ([2.0, 2.81], "PMD"),
        ([2.0, 2.59], "SMD"),  # +29.5 %, +0.59
        # PMD from baseline, not from the nadir
        ([4.0, 2.0, 5.2], "SMD"),
        # CMR: below the liver reference mean
        ([4.0, 0.99], "CMR"),
        ([4.0, 1.0], "PMR"),
    ],
)
def test_percist_thresholds(values, expected):
    assert last(ONE, sul(*values)) == expected


@pytest.mark.parametrize("baseline, expected", [(1.69, "NE"), (1.7, "SMD")])
def test_measurability_at_baseline(baseline, expected):
    assert measurability_threshold(LIVER, PercistConfig()) == pytest.approx(1.7)
    assert last(ONE, sul(baseline, baseline)) == expected


def test_blood_pool_measurability_and_cmr():
    pool = ReferenceValue("blood_pool", 1.0, 0.1)  # 2.0 x 1.0 + 2 x 0.1 = 2.2
    assert last(ONE, sul(2.19, 2.19), [pool, pool]) == "NE"
    assert last(ONE, sul(2.2, 2.2), [pool, pool]) == "SMD"
    assert last(ONE, sul(4.0, 0.99), [pool, pool]) == "CMR"


@pytest.mark.parametrize(
    "follow_up_liver, expected",
    [
        (1.2, "PMR"),  # +20 % exactly, +0.2 SUL: stable
        (1.21, "NE"),  # +21 %
        (0.8, "PMR"),  # -20 %
    ],
)
def test_reference_stability_relative(follow_up_liver, expected):
    refs = [LIVER, ReferenceValue("liver", follow_up_liver, 0.1)]
    rows = assess_percist(ONE, sul(4.0, 2.0), refs)
    assert rows[-1].category.value == expected
    assert bool(rows[-1].notes) is (expected == "NE")


@pytest.mark.parametrize("follow_up_liver, expected", [(2.29, "PMR"), (2.3, "NE")])
def test_reference_stability_absolute(follow_up_liver, expected):
    refs = [ReferenceValue("liver", 2.0, 0.2), ReferenceValue("liver", follow_up_liver, 0.2)]  # +0.3 SUL is +15 %
    assert last(ONE, sul(8.0, 4.0), refs) == expected


def test_unstable_reference_only_warned_on_request():
    refs = [LIVER, ReferenceValue("liver", 1.5, 0.1)]
    rows = assess_percist(ONE, sul(4.0, 2.0), refs, config=PercistConfig(unstable_reference="warn"))
    assert rows[-1].category.value == "PMR" and "reference SULmean changed" in rows[-1].notes[0]


def test_hottest_lesion_may_change_and_special_values():
    baseline = {"A": Observation(M, sul_peak=6.0), "B": Observation(M, sul_peak=3.0)}
    follow_up = {"A": Observation(GONE), "B": Observation(M, sul_peak=3.5)}  # hottest now B: -41.7 %
    rows = assess_percist(TWO, [baseline, follow_up], [LIVER, LIVER])
    assert rows[0].hottest_lesion == "A" and rows[1].hottest_lesion == "B" and rows[1].category.value == "PMR"
    assert last(TWO, [baseline, {"A": Observation(GONE), "B": Observation(GONE)}]) == "CMR"
    assert last(TWO, [baseline, {"A": Observation(GONE), "B": Observation(GONE)}], new_lesions=[False, True]) == "PMD"
    # a lesion not found: NE, unless the other already shows PMD
    assert last(TWO, [baseline, {"A": Observation(NE), "B": Observation(M, sul_peak=5.0)}]) == "NE"
    assert last(TWO, [baseline, {"A": Observation(NE), "B": Observation(M, sul_peak=7.9)}]) == "PMD"
    # no reference at the follow-up: NE
    assert last(ONE, sul(4.0, 2.0), [LIVER, None]) == "NE"


def test_a_lesion_without_baseline_sul_peak_is_not_used():
    baseline = {"A": Observation(M, sul_peak=4.0), "B": Observation(NE)}
    follow_up = {"A": Observation(M, sul_peak=2.0), "B": Observation(M, sul_peak=9.0)}
    rows = assess_percist(TWO, [baseline, follow_up], [LIVER, LIVER])
    assert rows[0].notes == ("not used (no SULpeak at baseline): B",)
    assert rows[1].category.value == "PMR" and rows[1].hottest_lesion == "A"
