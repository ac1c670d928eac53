"""The hard variant of the phantom: its lesions have the roles it promises and truths that match closed forms."""

from __future__ import annotations

import numpy as np
import pytest

from sample_data import truth
from sample_data.anatomy import LIVER_HU, liver_shapes
from sample_data.hard_cases import NOISE_HU, VESSEL_RADIUS_MM, make_hard_scenario
from sample_data.shapes import Ellipsoid, Pose, as_matrix3, rotation_matrix
from sample_data.union import Union

ELLIPSOID = Ellipsoid((3.0, -2.0, 1.0), (9.0, 7.0, 5.5), as_matrix3(rotation_matrix((10.0, -20.0, 35.0))))
POSE = Pose((1.0, -2.0, 4.0), (5.0, -3.0, 2.0))


@pytest.mark.parametrize("dz", [0.0, 1.3, 3.1])
def test_section_chord_of_one_ellipsoid_matches_the_closed_form(dz):
    centre_z = POSE.body_to_lps(np.asarray(ELLIPSOID.centre_mm))[2]
    expected, _ = truth.axial_diameters(ELLIPSOID, POSE, dz)
    assert Union((ELLIPSOID,)).section_longest_mm(POSE, centre_z + dz) == pytest.approx(expected, abs=0.05)


def test_union_volume_counts_overlap_once():
    far = Ellipsoid((40.0, 0.0, 0.0), (4.0, 5.0, 6.0))
    inner = Ellipsoid((3.0, -2.0, 1.0), (3.0, 3.0, 3.0))
    assert Union((ELLIPSOID, far)).volume_ml() == pytest.approx(ELLIPSOID.volume_ml + far.volume_ml, rel=0.005)
    assert Union((ELLIPSOID, inner)).volume_ml() == pytest.approx(ELLIPSOID.volume_ml, rel=0.005)
    assert Union((ELLIPSOID,)).centroid_mm() == pytest.approx(ELLIPSOID.centre_mm, abs=0.05)


def test_hard_scenario_is_deterministic():
    assert make_hard_scenario(101) == make_hard_scenario(101)
    assert make_hard_scenario(101).lesions != make_hard_scenario(102).lesions


@pytest.mark.parametrize("seed", [101, 102, 103])
def test_lesions_have_their_roles(seed):
    scenario = make_hard_scenario(seed)
    lesions = {lesion.lesion_id: lesion for lesion in scenario.lesions}
    contrasts = {lid: LIVER_HU - lesion.hu for lid, lesion in lesions.items()}
    assert all(25.0 <= c <= 60.0 for c in contrasts.values())
    assert 25.0 <= contrasts["L5"] <= 28.0
    assert len(lesions["L2"].shape.parts) == 3 and len(lesions["L5"].shape.parts) == 2
    right_lobe = liver_shapes()[0]
    fat = right_lobe.scaled(1.08)
    for k in range(3):  # the edge lesion pokes out of the liver into the fat layer at every size
        edge = lesions["L3"].at(k)
        surface = edge.surface_points(4000)
        outside = ~right_lobe.contains(surface)
        assert outside.any() and fat.contains(surface[outside]).all()
        assert right_lobe.contains(np.asarray(edge.parts[0].centre_mm)[None])[0]
    vessel = scenario.vessel
    gap = np.min(
        np.linalg.norm(lesions["L4"].shape.surface_points(8000)[:, :2] - np.asarray(vessel.centre_xy_mm), axis=1)
    )
    assert gap - VESSEL_RADIUS_MM == pytest.approx(1.0, abs=0.1)


def test_rendered_case_has_the_promised_noise_and_necrotic_core(hard_case):
    case = hard_case(101, 0)  # render_hard_case(101, 0), shared with the segmentation and detection tests
    liver = case.liver_zyx & (np.abs(case.noise_free_hu_zyx - LIVER_HU) < 0.01)
    assert np.std(case.ct_hu_zyx[liver] - case.noise_free_hu_zyx[liver]) == pytest.approx(NOISE_HU, rel=0.05)
    necrotic = next(t for t in case.lesions if t.lesion_id == "L1")
    centre = tuple(int(round(v)) for v in necrotic.centroid_index_zyx)
    assert case.noise_free_hu_zyx[centre] == pytest.approx(LIVER_HU - necrotic.contrast_hu - 20.0, abs=0.5)
    for lesion in case.lesions:  # the rendered fraction holds the truth's volume
        voxel_ml = float(np.prod(case.spacing_zyx)) / 1000.0
        assert lesion.fraction_zyx.sum(dtype=np.float64) * voxel_ml == pytest.approx(lesion.volume_ml, rel=0.02)
