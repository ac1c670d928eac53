"""Intensity statistics: IBSI intensity peaks and SUV metrics on known images."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from measurement.intensity import PEAK_SPHERE_RADIUS_MM, ct_intensity, pet_intensity, sphere_kernel

DATA = Path(__file__).parents[1] / "data" / "ibsi_digital_phantom"


def test_ibsi_phantom_intensity_and_peaks():
    image = np.asarray(nib.load(DATA / "image.nii.gz").dataobj).transpose(2, 1, 0).astype(float)
    img = nib.load(DATA / "mask.nii.gz")
    mask = np.asarray(img.dataobj).transpose(2, 1, 0) > 0
    zooms = img.header.get_zooms()[:3]
    spacing = (float(zooms[2]), float(zooms[1]), float(zooms[0]))
    stats = pet_intensity(image, mask, spacing)
    assert stats.suv_max == 6
    assert stats.suv_mean == pytest.approx(2.15, abs=0.005)
    assert stats.suv_peak_local == pytest.approx(2.6, abs=0.05)
    assert stats.suv_peak == pytest.approx(3.1, abs=0.05)


def test_peak_sphere_is_one_millilitre():
    assert 4 / 3 * np.pi * PEAK_SPHERE_RADIUS_MM**3 == pytest.approx(1000.0)
    kernel = sphere_kernel((1.0, 1.0, 1.0))
    assert kernel.sum() == pytest.approx(1000, rel=0.03)  # 1021 voxel centres of 1 mm^3


def test_uniform_lesion():
    suv = np.full((20, 20, 20), 2.0)
    suv[5:15, 5:15, 5:15] = 8.0
    mask = np.zeros_like(suv, bool)
    mask[5:15, 5:15, 5:15] = True
    stats = pet_intensity(suv, mask, (2.0, 2.0, 2.0))
    assert stats.suv_max == 8.0 and stats.suv_mean == 8.0 and stats.suv_peak == pytest.approx(8.0)
    ct = ct_intensity(np.where(mask, 40.0, 100.0), mask)
    assert ct.mean_hu == 40.0 and ct.sd_hu == 0.0


def test_peak_sphere_centre_is_at_the_hot_spot():
    """A Gaussian hot spot off the lesion's centre: the 1 ml sphere with the highest mean is centred on it."""
    zz, yy, xx = np.mgrid[:40, :40, :40]
    suv = 4.0 + 8.0 * np.exp(-((zz - 18) ** 2 + (yy - 14) ** 2 + (xx - 23) ** 2) / (2 * 3.0**2))
    mask = np.zeros_like(suv, bool)
    mask[5:35, 5:35, 5:35] = True
    stats = pet_intensity(suv, mask, (1.0, 1.0, 1.0))
    assert stats.peak_index_zyx == (18, 14, 23)
