"""RECIST 1.1 from lesion observations: measurability, target selection, special values, CR with nodes, NE."""

from __future__ import annotations

import pytest

from measurement.criteria.observations import LesionStatus, Observation, TargetLesion
from measurement.criteria.recist import Recist, RecistConfig, assess_recist, assess_recist_lesions

M, SMALL, GONE, NE = LesionStatus.MEASURED, LesionStatus.TOO_SMALL, LesionStatus.DISAPPEARED, LesionStatus.NOT_EVALUATED


def obs(value: float | None = None, status: LesionStatus = M, short: float | None = None) -> Observation:
    return Observation(status, longest_mm=value, short_axis_mm=short)


def categories(lesions, timepoints, **kw) -> list[str]:
    return [a.category.value for a in assess_recist_lesions(lesions, timepoints, **kw).assessments]


LIVER = [TargetLesion("A"), TargetLesion("B", organ="lung")]


@pytest.mark.parametrize(
    "longest, thickness, measurable",
    [
        (9.9, 2.5, False),
        (10.0, 2.5, True),  # >= 10 mm
        (10.0, 5.0, True),  # 2 x 5 mm = 10 mm
        (11.9, 6.0, False),
        (12.0, 6.0, True),  # >= 2 x slice thickness when it is > 5 mm
    ],
)
def test_measurability_of_non_nodal_lesions(longest, thickness, measurable):
    lesions = [TargetLesion("A"), TargetLesion("B", organ="lung")]
    result = assess_recist_lesions(lesions, [{"A": obs(longest), "B": obs(30.0)}], slice_thickness_mm=thickness)
    assert ("A" in [t.lesion_id for t in result.selection.targets]) is measurable
    assert any(i == "A" and "not measurable" in why for i, why in result.selection.excluded) is not measurable


@pytest.mark.parametrize("short, measurable", [(14.9, False), (15.0, True)])
def test_lymph_node_measurable_by_short_axis(short, measurable):
    lesions = [TargetLesion("N", organ="node", lymph_node=True), TargetLesion("A")]
    result = assess_recist_lesions(lesions, [{"N": obs(25.0, short=short), "A": obs(20.0)}])
    assert ("N" in [t.lesion_id for t in result.selection.targets]) is measurable


def test_non_measurable_target_kept_on_request_with_a_note():
    result = assess_recist_lesions(
        [TargetLesion("A"), TargetLesion("B", organ="lung")],
        [{"A": obs(8.0), "B": obs(20.0)}],
        config=RecistConfig(keep_non_measurable_targets=True),
    )
    assert [t.lesion_id for t in result.selection.targets] == ["A", "B"]
    assert "kept although not measurable" in dict(result.selection.excluded)["A"]


def test_at_most_two_per_organ_and_five_in_all_largest_first():
    liver = [TargetLesion(f"L{k}") for k in range(4)]
    others = [TargetLesion(f"O{k}", organ=f"organ{k}") for k in range(5)]
    baseline = {"L0": obs(12.0), "L1": obs(30.0), "L2": obs(12.0), "L3": obs(20.0)}
    baseline |= {f"O{k}": obs(40.0 - 5.0 * k) for k in range(5)}  # 40, 35, 30, 25, 20 mm
    result = assess_recist_lesions(liver + others, [baseline])
    kept = [t.lesion_id for t in result.selection.targets]
    assert kept == ["L1", "O0", "O1", "O2", "O3"]  # the 5 largest (L1 before O2 at 30 mm: given order)
    assert "more than 5 targets in all" in dict(result.selection.excluded)["O4"]
    result = assess_recist_lesions(liver, [baseline])
    assert [t.lesion_id for t in result.selection.targets] == ["L1", "L3"]
    excluded = dict(result.selection.excluded)
    assert "more than 2 target(s) in liver" in excluded["L0"] and "L2" in excluded


def test_tie_keeps_the_given_order():
    liver = [TargetLesion(f"L{k}") for k in range(3)]
    result = assess_recist_lesions(liver, [{"L0": obs(15.0), "L1": obs(15.0), "L2": obs(15.0)}])
    assert [t.lesion_id for t in result.selection.targets] == ["L0", "L1"]


def test_lymph_nodes_of_any_site_are_one_organ():
    nodes = [TargetLesion(f"N{k}", organ=f"site{k}", lymph_node=True) for k in range(3)]
    result = assess_recist_lesions(nodes, [{f"N{k}": obs(30.0, short=20.0 - k) for k in range(3)}])
    assert [t.lesion_id for t in result.selection.targets] == ["N0", "N1"]


@pytest.mark.parametrize(
    "follow_up, expected",
    [
        # too small to measure counts 5 mm: 40 -> 5 + 0 = -87.5 % (PR, not CR)
        ({"A": obs(status=SMALL), "B": obs(status=GONE)}, "PR"),
        # both gone: CR with a residual 0 mm
        ({"A": obs(status=GONE), "B": obs(status=GONE)}, "CR"),
        # an actual measurement below 5 mm is recorded as is: 40 -> 3 mm, PR
        ({"A": obs(3.0), "B": obs(status=GONE)}, "PR"),
        # a target not assessed: NE ...
        ({"A": obs(status=NE), "B": obs(20.0)}, "NE"),
        # ... unless the assessed one already shows PD (20 -> 30 mm of a 40 mm nadir: no; 20 -> 48: yes)
        ({"A": obs(status=NE), "B": obs(48.0)}, "PD"),
        ({"A": obs(status=NE), "B": obs(47.9)}, "NE"),
    ],
)
def test_special_values(follow_up, expected):
    baseline = {"A": obs(20.0), "B": obs(20.0)}
    assert categories(LIVER, [baseline, follow_up])[-1] == expected


@pytest.mark.parametrize(
    "node_short_axis, expected",
    [(9.9, "CR"), (10.0, "PR")],  # CR needs every nodal target < 10 mm short axis (sum 9.9 mm > 0)
)
def test_complete_response_with_a_nodal_target(node_short_axis, expected):
    lesions = [TargetLesion("A"), TargetLesion("N", organ="node", lymph_node=True)]
    baseline = {"A": obs(20.0), "N": obs(30.0, short=20.0)}
    follow_up = {"A": obs(status=GONE), "N": obs(12.0, short=node_short_axis)}
    result = assess_recist_lesions(lesions, [baseline, follow_up])
    assert result.assessments[1].sum_diameters_mm == pytest.approx(node_short_axis)
    assert result.assessments[1].category.value == expected


def test_new_lesion_and_nadir_over_evaluable_timepoints_only():
    baseline = {"A": obs(30.0), "B": obs(30.0)}
    partial = {"A": obs(status=NE), "B": obs(10.0)}  # NE: its 10 mm partial sum is not a nadir
    later = {"A": obs(25.0), "B": obs(20.0)}  # 45 mm: +50 % vs a 10 mm partial sum, but -25 % vs the 60 mm nadir
    assert categories(LIVER, [baseline, partial, later]) == ["baseline", "NE", "SD"]
    assert categories(LIVER, [baseline, later], new_lesions=[False, True])[-1] == "PD"


def test_nadir_skips_ne_timepoints_in_the_sum_rules():
    rows = assess_recist([60.0, 10.0, 45.0], evaluable=[True, False, True])
    assert [r.category for r in rows] == [Recist.BASELINE, Recist.NE, Recist.SD]
    assert rows[2].nadir_mm == 60.0


def test_no_measurable_target_is_refused():
    with pytest.raises(ValueError, match="no measurable target"):
        assess_recist_lesions([TargetLesion("A")], [{"A": obs(5.0)}])
