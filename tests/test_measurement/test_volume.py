"""Volumes: analytic spheres, the IBSI digital phantom, partial-volume masks."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from measurement.diameters import max_3d_diameter
from measurement.volume import centroid_zyx, mesh_volume_ml, volume_ml

DATA = Path(__file__).parents[1] / "data" / "ibsi_digital_phantom"


def ibsi_mask() -> tuple[np.ndarray, tuple[float, float, float]]:
    img = nib.load(DATA / "mask.nii.gz")
    zooms = img.header.get_zooms()[:3]
    mask = np.asarray(img.dataobj).transpose(2, 1, 0) > 0  # (i, j, k) -> (z, y, x)
    return mask, (float(zooms[2]), float(zooms[1]), float(zooms[0]))


def test_ibsi_phantom_volumes_and_max_diameter():
    mask, spacing = ibsi_mask()
    assert mask.sum() == 74
    assert volume_ml(mask, spacing) * 1000 == pytest.approx(592, abs=4)
    assert mesh_volume_ml(mask, spacing) * 1000 == pytest.approx(556, abs=4)
    assert max_3d_diameter(mask, spacing)[0] == pytest.approx(13.1, abs=0.1)


@pytest.mark.parametrize("radius, spacing", [(10.0, (1.0, 1.0, 1.0)), (12.0, (2.5, 0.8, 0.8)), (15.0, (5.0, 0.8, 0.8))])
def test_partial_volume_sphere(radius, spacing):
    n = [int(2.6 * radius / s) + 4 for s in spacing]
    sub = (np.arange(4) + 0.5) / 4 - 0.5
    frac = np.zeros(n)
    for dz in sub:
        for dy in sub:
            for dx in sub:
                z, y, x = np.meshgrid(
                    *[(np.arange(k) - k / 2 + 0.17 + d) * s for k, d, s in zip(n, (dz, dy, dx), spacing)], indexing="ij"
                )
                frac += x**2 + y**2 + z**2 <= radius**2
    frac /= 64
    truth_ml = 4 / 3 * np.pi * radius**3 / 1000
    assert volume_ml(frac.astype(np.float32), spacing) == pytest.approx(truth_ml, rel=0.01)
    assert volume_ml(frac >= 0.5, spacing) == pytest.approx(truth_ml, rel=0.03)
    assert mesh_volume_ml(frac.astype(np.float32), spacing) == pytest.approx(truth_ml, rel=0.03)


def test_centroid_is_fraction_weighted():
    mask = np.zeros((1, 1, 4), np.float32)
    mask[0, 0, 1] = 1.0
    mask[0, 0, 2] = 0.5
    assert centroid_zyx(mask)[2] == pytest.approx((1 * 1.0 + 2 * 0.5) / 1.5)
