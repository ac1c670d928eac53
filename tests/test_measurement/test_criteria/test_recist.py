"""RECIST 1.1 target response at and around every threshold."""

from __future__ import annotations

import pytest

from measurement.criteria.recist import Recist, RecistConfig, assess_recist


@pytest.mark.parametrize(
    "sums, expected",
    [
        # partial response: -30 % exactly is PR, -29.9 % is SD
        ([50.0, 35.0], "PR"),
        ([50.0, 35.05], "SD"),
        ([70.0, 49.0], "PR"),  # -30 % again with a baseline whose ratio is inexact in binary
        ([33.3, 23.31], "PR"),
        # progression needs +20 % from the nadir AND +5 mm
        ([25.0, 30.0], "PD"),  # +20 %, +5.0 mm
        ([24.5, 29.4], "SD"),  # +20 %, +4.9 mm
        ([40.0, 47.9], "SD"),  # +19.75 %, +7.9 mm
        ([40.0, 48.0], "PD"),  # +20 %, +8 mm
        # nadir after a response: PD against the nadir although still below baseline
        ([100.0, 50.0, 60.0], "PD"),
        ([100.0, 50.0, 59.9], "PR"),  # +19.8 % from the nadir; still -40 % from baseline
        # complete response: every target gone (0 mm)
        ([30.0, 0.0], "CR"),
        ([30.0, 0.1], "PR"),
        # after CR, any regrowth of at least 5 mm is PD
        ([30.0, 0.0, 5.0], "PD"),
    ],
)
def test_last_timepoint_category(sums, expected):
    assert assess_recist(sums)[-1].category.value == expected


def test_baseline_row_and_changes():
    rows = assess_recist([80.0, 48.0, 60.0])
    assert rows[0].category is Recist.BASELINE and rows[0].change_from_baseline_pct is None
    assert rows[1].change_from_baseline_pct == pytest.approx(-40.0)
    assert rows[2].nadir_mm == 48.0
    assert rows[2].change_from_nadir_pct == pytest.approx(25.0)


def test_new_lesion_is_progression_whatever_the_sum():
    assert assess_recist([50.0, 20.0], new_lesions=[False, True])[-1].category is Recist.PD


def test_configurable_thresholds():
    config = RecistConfig(pr_change_pct=-50.0)
    assert assess_recist([50.0, 30.0], config=config)[-1].category is Recist.SD


def test_baseline_must_be_positive():
    with pytest.raises(ValueError):
        assess_recist([0.0, 10.0])
