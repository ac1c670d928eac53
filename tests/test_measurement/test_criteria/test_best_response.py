"""Best overall response (RECIST 1.1 section 4.4, table 3) and time to progression."""

from __future__ import annotations

import pytest

from measurement.criteria.best_response import METABOLIC, best_overall_response, time_to_progression

DAYS = [0, 42, 84, 126, 168]


@pytest.mark.parametrize(
    "categories, min_sd, expected",
    [
        (["baseline", "PR", "PD"], 42, ("PR", 1)),
        (["baseline", "SD", "PR", "CR"], 42, ("CR", 3)),
        (["baseline", "PD", "PR"], 42, ("PD", 1)),  # nothing after progression counts
        (["baseline", "SD", "PD"], 42, ("SD", 1)),  # SD at day 42 meets a 42-day minimum
        (["baseline", "SD", "PD"], 43, ("PD", 2)),  # ... not a 43-day one: then PD
        (["baseline", "SD"], 43, ("NE", None)),  # ... and without later PD: not evaluable
        (["baseline", "NE", "SD"], 42, ("SD", 2)),
        (["baseline", "NE", "NE"], 0, ("NE", None)),
    ],
)
def test_best_overall_response_without_confirmation(categories, min_sd, expected):
    best = best_overall_response(categories, DAYS[: len(categories)], min_stable_days=min_sd)
    assert (best.category, best.timepoint) == expected


@pytest.mark.parametrize(
    "categories, days, expected",
    [
        (["baseline", "CR", "CR"], [0, 42, 70], "CR"),  # confirmed 28 days later
        (["baseline", "CR", "CR"], [0, 42, 69], "SD"),  # 27 days: not confirmed, counts as SD
        (["baseline", "PR", "PR"], [0, 42, 84], "PR"),
        (["baseline", "PR", "CR"], [0, 42, 84], "PR"),  # RECIST table 3: PR then CR is PR
        (["baseline", "PR", "SD"], [0, 42, 84], "SD"),
        (["baseline", "PR", "PD"], [0, 42, 84], "SD"),  # PR-PD: SD when it meets the SD minimum ...
        (["baseline", "PR", "PD"], [0, 30, 84], "PD"),  # ... else PD
        (["baseline", "CR", "NE"], [0, 42, 84], "SD"),
    ],
)
def test_best_overall_response_with_confirmation(categories, days, expected):
    assert best_overall_response(categories, days, min_stable_days=42, confirm=True).category == expected


def test_metabolic_order():
    assert best_overall_response(["baseline", "SMD", "PMR", "PMD"], DAYS[:4], METABOLIC).category == "PMR"


def test_time_to_progression():
    ttp = time_to_progression(["baseline", "PR", "SD", "PD", "PD"], [0, 42, 84, 487, 500])
    assert ttp.progressed and ttp.timepoint == 3 and ttp.days == 487
    assert ttp.months == pytest.approx(487 / 30.4375) and ttp.months == pytest.approx(16.0, abs=0.01)
    censored = time_to_progression(["baseline", "PR", "SD", "NE"], [0, 42, 84, 126])
    assert censored.censored and censored.timepoint == 2 and censored.days == 84
    assert time_to_progression(["baseline", "PMR", "PMD"], [0, 40, 81], METABOLIC).days == 81
    assert time_to_progression(["baseline"], [0]).days is None
