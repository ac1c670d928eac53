"""PET segmentation thresholds inside a search volume."""

from __future__ import annotations

import numpy as np
import pytest

from segmentation.pet_lesion import PetSegmentationConfig, pet_threshold, segment_pet_lesion


def hot_sphere(peak: float = 10.0) -> np.ndarray:
    z, y, x = np.mgrid[0:21, 0:21, 0:21] - 10
    r = np.sqrt(x**2 + y**2 + z**2)
    return np.where(r <= 6, peak * np.exp(-(r**2) / 50), 0.0) + 2.0  # liver-like background 2.0


def test_41_percent_of_max():
    suv = hot_sphere()
    voi = np.ones_like(suv, bool)
    seg = segment_pet_lesion(suv, voi)
    assert seg.suv_max == pytest.approx(12.0)
    assert seg.threshold_suv == pytest.approx(0.41 * 12.0)
    assert seg.mask_zyx.sum() == (suv >= 0.41 * 12.0).sum()


def test_region_stays_in_the_search_volume():
    suv = hot_sphere()
    suv[:, :, :3] = 20.0  # a hotter structure outside the VOI
    voi = np.zeros_like(suv, bool)
    voi[4:17, 4:17, 4:17] = True
    seg = segment_pet_lesion(suv, voi)
    assert seg.max_index_zyx == (10, 10, 10)
    assert not seg.mask_zyx[:, :, :3].any()


def test_fixed_and_percist_thresholds():
    assert pet_threshold(10.0, PetSegmentationConfig(method="fixed", fixed_suv=3.0)) == 3.0
    assert pet_threshold(10.0, PetSegmentationConfig(method="percist"), liver_mean=2.0, liver_sd=0.3) == pytest.approx(
        3.6
    )
    with pytest.raises(ValueError, match="liver reference"):
        pet_threshold(10.0, PetSegmentationConfig(method="percist"))
    with pytest.raises(ValueError, match="unknown"):
        pet_threshold(10.0, PetSegmentationConfig(method="otsu"))


def test_percist_threshold_with_a_blood_pool_reference():
    suv = hot_sphere()
    voi = np.ones_like(suv, bool)
    liver = segment_pet_lesion(suv, voi, PetSegmentationConfig(method="percist"), 2.0, 0.2)
    blood = segment_pet_lesion(suv, voi, PetSegmentationConfig(method="percist"), 2.0, 0.2, reference_factor=2.0)
    assert liver.threshold_suv == pytest.approx(1.5 * 2.0 + 2 * 0.2) and blood.threshold_suv == pytest.approx(
        2.0 * 2.0 + 2 * 0.2
    )
    # the sphere's profile is monotonic, so each region is every voxel at or above its threshold
    assert liver.mask_zyx.sum() == (suv >= 3.4).sum() and blood.mask_zyx.sum() == (suv >= 4.4).sum()


def test_percist_sd_factor_and_a_lesion_below_the_threshold():
    suv = hot_sphere(peak=1.0)  # maximum 3.0
    voi = np.ones_like(suv, bool)
    seg = segment_pet_lesion(suv, voi, PetSegmentationConfig(method="percist"), 2.0, 0.2, sd_factor=3.0)
    assert seg.threshold_suv == pytest.approx(1.5 * 2.0 + 3 * 0.2)  # 3.6 > 3.0
    assert not seg.above_threshold and seg.mask_zyx.sum() == 1 and seg.mask_zyx[seg.max_index_zyx]
    assert segment_pet_lesion(suv, voi).above_threshold  # 41 % of the maximum always includes it


def test_empty_voi():
    assert segment_pet_lesion(hot_sphere(), np.zeros((21, 21, 21), bool)) is None
