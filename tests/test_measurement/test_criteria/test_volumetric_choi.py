"""Volumetric and Choi categories at and around every threshold."""

from __future__ import annotations

import pytest

from measurement.criteria.choi import ChoiConfig, assess_choi
from measurement.criteria.observations import LesionStatus, Observation, TargetLesion
from measurement.criteria.volumetric import VolumetricConfig, assess_volumetric

M, SMALL, GONE, NE = LesionStatus.MEASURED, LesionStatus.TOO_SMALL, LesionStatus.DISAPPEARED, LesionStatus.NOT_EVALUATED
ONE = [TargetLesion("A")]
TWO = [TargetLesion("A"), TargetLesion("B")]


def vol(*volumes_ml: float) -> list[dict[str, Observation]]:
    return [{"A": Observation(M, volume_ml=v)} for v in volumes_ml]


@pytest.mark.parametrize(
    "volumes, expected",
    [
        ([10.0, 3.5], "PR"),  # -65 % exactly
        ([10.0, 3.51], "SD"),  # -64.9 %
        ([10.0, 17.3], "PD"),  # +73 % exactly
        ([10.0, 17.29], "SD"),  # +72.9 %
        ([7.0, 12.11], "PD"),  # +73 % with a ratio inexact in binary
        ([10.0, 2.0, 3.46], "PD"),  # nadir after a response: +73 % from 2 ml although -65.4 % from baseline
        ([10.0, 2.0, 3.45], "PR"),  # +72.5 % from the nadir, still -65.5 % from baseline
        ([10.0, 0.0], "CR"),
        ([10.0, 0.0, 0.01], "PD"),  # any regrowth after a complete response: there is no absolute minimum
    ],
)
def test_volumetric_thresholds(volumes, expected):
    assert assess_volumetric(ONE, vol(*volumes))[-1].category.value == expected


@pytest.mark.parametrize(
    "follow_up, new_lesion, expected",
    [
        ({"A": Observation(GONE), "B": Observation(GONE)}, False, "CR"),
        ({"A": Observation(GONE), "B": Observation(SMALL)}, False, "PR"),  # residual counts a 5 mm sphere
        ({"A": Observation(GONE), "B": Observation(GONE)}, True, "PD"),  # new lesion
        ({"A": Observation(NE), "B": Observation(M, volume_ml=1.0)}, False, "NE"),  # a lesion not found
        ({"A": Observation(NE), "B": Observation(M, volume_ml=17.3)}, False, "PD"),  # ... unless the others show PD
    ],
)
def test_volumetric_special_values(follow_up, new_lesion, expected):
    baseline = {"A": Observation(M, volume_ml=5.0), "B": Observation(M, volume_ml=5.0)}
    rows = assess_volumetric(TWO, [baseline, follow_up], new_lesions=[False, new_lesion])
    assert rows[-1].category.value == expected
    if follow_up["B"].status is SMALL:
        assert rows[-1].total_volume_ml == pytest.approx(VolumetricConfig().too_small_ml)
        assert VolumetricConfig().too_small_ml == pytest.approx(0.0654, abs=1e-4)


def choi(*rows: tuple[float, float]) -> list[dict[str, Observation]]:
    """Timepoints of one target: (longest diameter mm, mean HU)."""
    return [{"A": Observation(M, longest_mm=d, mean_hu=hu)} for d, hu in rows]


@pytest.mark.parametrize(
    "rows, expected",
    [
        ([(50.0, 100.0), (45.0, 100.0)], "PR"),  # size -10 % exactly
        ([(50.0, 100.0), (45.05, 100.0)], "SD"),  # size -9.9 %
        ([(50.0, 100.0), (50.0, 85.0)], "PR"),  # density -15 % exactly
        ([(50.0, 100.0), (50.0, 85.1)], "SD"),  # density -14.9 %
        ([(50.0, 100.0), (55.0, 100.0)], "PD"),  # size +10 % exactly
        ([(50.0, 100.0), (54.95, 100.0)], "SD"),  # size +9.9 %
        ([(50.0, 100.0), (55.0, 85.0)], "PR"),  # size +10 % but density PR: not PD, PR by density
        ([(50.0, 100.0), (55.0, 85.1)], "PD"),  # density -14.9 % does not rescue
        ([(50.0, 100.0), (40.0, 100.0), (44.0, 100.0)], "PD"),  # nadir after a response: +10 % from 40 mm
        ([(50.0, 100.0), (40.0, 100.0), (43.9, 100.0)], "PR"),
        ([(50.0, 100.0), (40.0, 100.0), (44.0, 80.0)], "PR"),  # regrowth with density -20 %
    ],
)
def test_choi_thresholds(rows, expected):
    assert assess_choi(ONE, choi(*rows))[-1].category.value == expected


def test_choi_pd_reference_baseline():
    rows = choi((50.0, 100.0), (40.0, 100.0), (44.0, 100.0))
    assert assess_choi(ONE, rows, config=ChoiConfig(pd_reference="baseline"))[-1].category.value == "PR"


@pytest.mark.parametrize(
    "follow_up, new_lesion, expected",
    [
        ({"A": Observation(GONE), "B": Observation(GONE)}, False, "CR"),
        ({"A": Observation(GONE), "B": Observation(SMALL, mean_hu=90.0)}, False, "PR"),  # 5 mm residual
        (
            {"A": Observation(M, longest_mm=20.0, mean_hu=100.0), "B": Observation(M, longest_mm=20.0, mean_hu=100.0)},
            True,
            "PD",
        ),
        (
            {"A": Observation(NE), "B": Observation(M, longest_mm=10.0, mean_hu=100.0)},
            False,
            "NE",
        ),  # a lesion not found
        ({"A": Observation(NE), "B": Observation(M, longest_mm=44.0, mean_hu=100.0)}, False, "PD"),  # 44 >= 1.1 x 40 mm
    ],
)
def test_choi_special_values(follow_up, new_lesion, expected):
    baseline = {
        "A": Observation(M, longest_mm=20.0, mean_hu=100.0),
        "B": Observation(M, longest_mm=20.0, mean_hu=100.0),
    }
    assert assess_choi(TWO, [baseline, follow_up], new_lesions=[False, new_lesion])[-1].category.value == expected


def test_choi_density_is_the_mean_of_the_targets_mean_hu():
    baseline = {"A": Observation(M, longest_mm=20.0, mean_hu=100.0), "B": Observation(M, longest_mm=20.0, mean_hu=60.0)}
    follow_up = {"A": Observation(M, longest_mm=20.0, mean_hu=68.0), "B": Observation(M, longest_mm=20.0, mean_hu=68.0)}
    row = assess_choi(TWO, [baseline, follow_up])[-1]
    assert row.mean_hu == 68.0 and row.density_change_pct == pytest.approx(-15.0)
    assert row.category.value == "PR"


def test_choi_density_not_used_for_non_positive_baseline_attenuation():
    rows = choi((50.0, -5.0), (50.0, -50.0))
    assert assess_choi(ONE, rows)[-1].category.value == "SD"
