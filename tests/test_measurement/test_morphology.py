"""IBSI digital phantom: every published morphology and intensity reference value (tests/data/README.md)."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from measurement.morphology import morphology
from measurement.pet import pet_measures

DATA = Path(__file__).parents[1] / "data" / "ibsi_digital_phantom"

# (value, tolerance) from the IBSI reference manual, copied in tests/data/README.md
REFERENCE = {
    "mesh_volume_mm3": (556.0, 4.0),
    "voxel_volume_mm3": (592.0, 4.0),
    "surface_area_mm2": (388.0, 3.0),
    "max_3d_diameter_mm": (13.1, 0.1),
    "major_axis_mm": (11.4, 0.1),
    "minor_axis_mm": (9.31, 0.06),
    "least_axis_mm": (8.54, 0.05),
    "sphericity": (0.843, 0.005),
}


def _zyx(path: Path) -> tuple[np.ndarray, tuple[float, float, float]]:
    img = nib.load(path)
    zooms = img.header.get_zooms()[:3]
    return np.asarray(img.dataobj).transpose(2, 1, 0), (float(zooms[2]), float(zooms[1]), float(zooms[0]))


def test_ibsi_morphology():
    mask, spacing = _zyx(DATA / "mask.nii.gz")
    shape = morphology(mask > 0, spacing)
    measured = {
        "mesh_volume_mm3": shape.mesh_volume_ml * 1000.0,
        "voxel_volume_mm3": shape.voxel_volume_ml * 1000.0,
        "surface_area_mm2": shape.surface_area_mm2,
        "max_3d_diameter_mm": shape.max_3d_diameter_mm,
        "major_axis_mm": shape.major_axis_mm,
        "minor_axis_mm": shape.minor_axis_mm,
        "least_axis_mm": shape.least_axis_mm,
        "sphericity": shape.sphericity,
    }
    for name, (value, tolerance) in REFERENCE.items():
        assert measured[name] == pytest.approx(value, abs=tolerance), name


def test_ibsi_intensity_statistics_and_peaks():
    mask, spacing = _zyx(DATA / "mask.nii.gz")
    image, _ = _zyx(DATA / "image.nii.gz")
    stats = pet_measures(image.astype(float), mask > 0, spacing)
    assert (stats.suv_max, stats.suv_min) == (6.0, 1.0)
    assert stats.suv_mean == pytest.approx(2.15, abs=0.005)
    # published to one decimal: the peaks round to the reference
    assert round(stats.suv_peak_local, 1) == 2.6
    assert round(stats.suv_peak, 1) == 3.1
    assert stats.mtv_ml == pytest.approx(0.592)
    assert stats.tlg_suv_ml == pytest.approx(stats.suv_mean * 0.592)


@pytest.mark.parametrize("dims, n, seed", [(2, 5, 0), (2, 300, 1), (3, 4, 2), (3, 2000, 3), (3, 500, 4)])
def test_farthest_pair_is_exact(dims, n, seed):
    from scipy.spatial.distance import pdist

    from measurement.morphology import farthest_pair

    rng = np.random.default_rng(seed)
    points = rng.normal(size=(n, dims)) * rng.uniform(0.2, 3.0, dims)
    i, j, d = farthest_pair(points, block=128)
    assert d == pytest.approx(pdist(points).max())
    assert np.linalg.norm(points[i] - points[j]) == pytest.approx(d)
    line = np.outer(np.linspace(0, 1, 7), [1.0, 2.0, 0.5][:dims])  # collinear: no convex hull
    assert farthest_pair(line)[2] == pytest.approx(np.linalg.norm(line[-1] - line[0]))
