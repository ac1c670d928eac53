"""SUL factors and PERCIST reference regions on images with known values."""

from __future__ import annotations

import numpy as np
import pytest

from measurement.pet import (
    cylinder_reference,
    fit_sphere_centre,
    lean_body_mass_kg,
    liver_like_region,
    reference_in_mask,
    sphere_reference,
    sul_per_suvbw,
)


@pytest.mark.parametrize(
    "weight, height, sex, formula, expected",
    [
        (70.0, 1.75, "M", "james", 1.10 * 70 - 128 * (70 / 175) ** 2),  # 56.52 kg
        (60.0, 1.60, "F", "james", 1.07 * 60 - 148 * (60 / 160) ** 2),  # 43.39 kg
        (70.0, 1.75, "M", "janmahasatian", 9270 * 70 / (6680 + 216 * 70 / 1.75**2)),  # 55.96 kg
        (60.0, 1.60, "F", "janmahasatian", 9270 * 60 / (8780 + 244 * 60 / 1.60**2)),  # 38.52 kg
    ],
)
def test_lean_body_mass(weight, height, sex, formula, expected):
    assert lean_body_mass_kg(weight, height, sex, formula) == pytest.approx(expected)
    assert sul_per_suvbw(weight, height, sex, formula) == pytest.approx(expected / weight)


def test_lean_body_mass_refuses_what_it_cannot_compute():
    for args in (
        (70.0, 1.75, ""),
        (70.0, 1.75, "X"),
        (70.0, 0.0, "M"),
        (250.0, 1.5, "F"),
    ):  # no sex, no height, James < 0
        with pytest.raises(ValueError):
            lean_body_mass_kg(*args)


def test_lean_body_mass_of_sex_other_is_the_mean_of_the_two_formulas():
    """PatientSex O: the mean of the male and female values (IBSI SUV reference), for SUV and SUL alike."""
    for formula in ("james", "janmahasatian"):
        mean = (lean_body_mass_kg(70.0, 1.75, "M", formula) + lean_body_mass_kg(70.0, 1.75, "F", formula)) / 2
        assert lean_body_mass_kg(70.0, 1.75, "O", formula) == pytest.approx(mean)


def test_sphere_and_cylinder_regions_hold_the_voxels_whose_centres_are_inside():
    spacing = (2.0, 2.0, 2.0)
    image = np.zeros((40, 40, 40))
    zz, yy, xx = np.indices(image.shape)
    image[:] = xx  # value = x index: the mean over a symmetric region is its centre's x
    ref = sphere_reference(image, spacing, np.array([20.0, 20.0, 20.0]), 30.0)
    expected = int(((zz - 20) ** 2 + (yy - 20) ** 2 + (xx - 20) ** 2 <= 7.5**2).sum())
    assert ref.n_voxels == expected and ref.mean == pytest.approx(20.0) and ref.kind == "liver_sphere"
    pool = cylinder_reference(image, spacing, np.array([20.0, 20.0, 20.0]), 10.0, 20.0)
    # radius 2.5 voxels: 21 voxel centres per slice; +-5 voxels in z: 11 slices
    assert pool.n_voxels == 21 * 11 and pool.mean == pytest.approx(20.0) and pool.kind == "blood_pool_cylinder"


def test_sphere_placement_in_a_region():
    spacing = (4.0, 4.0, 4.0)
    region = np.zeros((30, 30, 40), bool)
    region[5:25, 5:25, 3:37] = True  # 80 x 80 x 136 mm box
    centre = fit_sphere_centre(region, spacing, 30.0)
    assert centre is not None
    toward_low_x = fit_sphere_centre(region, spacing, 30.0, toward_zyx=np.array([0.0, 0.0, -1.0]))
    assert toward_low_x is not None and toward_low_x[2] < 20  # in the half of the box nearer x = 0
    # the sphere lies entirely in the region
    zz, yy, xx = np.indices(region.shape)
    sphere = ((zz - toward_low_x[0]) * 4) ** 2 + ((yy - toward_low_x[1]) * 4) ** 2 + (
        (xx - toward_low_x[2]) * 4
    ) ** 2 <= 15.0**2
    assert region[sphere].all()
    assert fit_sphere_centre(region[:, :, :7], spacing, 30.0) is None  # 28 mm thick: no 3 cm sphere fits


def test_sphere_placement_counts_the_arrays_faces_as_outside_the_region():
    """A region filling the whole array: a voxel's depth is its distance to the voxels just beyond the faces, so
    the deepest centre is the array's middle (the first in index order among equals), and a sphere fits only
    where that distance exceeds the radius. The same region inside a larger array gives the same voxel, moved."""
    spacing = (4.0, 4.0, 4.0)
    region = np.ones((9, 10, 11), bool)
    assert fit_sphere_centre(region, spacing, 30.0) == (4, 4, 4)  # depth 20 mm (5 voxels) at x = 4, 5 and 6
    assert fit_sphere_centre(region, spacing, 40.0) is None  # no centre deeper than 20 mm
    larger = np.zeros((20, 25, 30), bool)
    larger[6:15, 3:13, 12:23] = region
    assert fit_sphere_centre(larger, spacing, 30.0) == (10, 7, 16)
    toward = np.array([0.0, 1.0, 1.0])
    assert fit_sphere_centre(larger, spacing, 30.0, toward) == tuple(
        int(a) + b for a, b in zip(fit_sphere_centre(region, spacing, 30.0, toward), (6, 3, 12))
    )


def test_liver_reference_away_from_the_lesions_in_liver_like_tissue():
    """A 'liver' (100 HU, SUV 2) with a hypodense hot lesion, next to 'spleen' (160 HU, SUV 3)."""
    rng = np.random.default_rng(0)
    spacing = (4.0, 4.0, 4.0)
    shape = (30, 40, 60)
    ct = np.full(shape, -100.0)
    suv = np.full(shape, 0.5)
    ct[3:27, 5:35, 2:35], suv[3:27, 5:35, 2:35] = 100.0, 2.0  # liver: x < 35
    ct[3:27, 5:35, 38:58], suv[3:27, 5:35, 38:58] = 160.0, 3.0  # spleen
    zz, yy, xx = np.indices(shape)
    lesion = (zz - 15) ** 2 + (yy - 20) ** 2 + (xx - 25) ** 2 <= 3**2
    ct[lesion], suv[lesion] = 50.0, 9.0
    ct += rng.normal(0.0, 10.0, shape)
    region = liver_like_region(ct, spacing, lesion)
    assert not region[:, :, 38:].any(), "the spleen is not liver-like"
    assert not region[lesion].any()
    ref = reference_in_mask(suv, spacing, region)
    assert ref is not None and ref.mean == pytest.approx(2.0) and ref.sd == pytest.approx(0.0)
