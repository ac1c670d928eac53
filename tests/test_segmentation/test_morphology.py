"""Morphology in mm on the mask's bounding box: the same voxels and distances as on the whole array.

The reference is SciPy's Euclidean distance transform of the whole array: a distance of every voxel to the
nearest voxel outside the mask, thresholded at the radius for dilation and erosion.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from segmentation.morphology import bounding_box, close_mm, dilate_mm, distance_mm, erode_mm

SPACINGS = [(1.0, 1.0, 1.0), (2.0, 0.78125, 0.78125), (3.125, 0.7, 1.6), (2.5, 3.0, 0.743)]


def _random_mask(rng: np.random.Generator) -> np.ndarray:
    """A random blob somewhere in a random array, sometimes touching the array border."""
    shape = tuple(int(n) for n in rng.integers(5, 30, 3))
    mask = np.zeros(shape, dtype=bool)
    box = tuple(slice(int(rng.integers(0, n)), int(rng.integers(0, n)) + 2) for n in shape)
    mask[box] = rng.random(mask[box].shape) < rng.uniform(0.4, 1.0)
    return mask


@pytest.mark.parametrize("spacing", SPACINGS)
def test_distances_and_balls_match_the_whole_array_transform(spacing: tuple[float, float, float]) -> None:
    rng = np.random.default_rng(7)
    for _ in range(40):
        mask = _random_mask(rng)
        radius = float(rng.uniform(0.5, 10.0))
        inside = ndimage.distance_transform_edt(mask, sampling=spacing)
        outside = ndimage.distance_transform_edt(~mask, sampling=spacing)
        assert np.array_equal(distance_mm(mask, spacing), inside)
        assert np.array_equal(erode_mm(mask, radius, spacing), inside > radius)
        assert np.array_equal(dilate_mm(mask, radius, spacing), outside <= radius)


def test_empty_and_full_masks() -> None:
    spacing = (2.0, 1.0, 1.0)
    empty = np.zeros((6, 7, 8), dtype=bool)
    assert not distance_mm(empty, spacing).any()
    assert not erode_mm(empty, 1.0, spacing).any()
    full = np.ones((6, 7, 8), dtype=bool)
    assert np.array_equal(dilate_mm(full, 1.0, spacing), full)
    assert np.array_equal(close_mm(full, 3.0, spacing), full)


def test_dilation_reaches_the_radius_and_no_further() -> None:
    """A single voxel dilated by 5 mm on a 1 mm grid: the voxels whose centre is within 5 mm (a digital ball)."""
    mask = np.zeros((21, 21, 21), dtype=bool)
    mask[10, 10, 10] = True
    zz, yy, xx = np.indices(mask.shape) - 10
    ball = zz**2 + yy**2 + xx**2 <= 25
    assert np.array_equal(dilate_mm(mask, 5.0, (1.0, 1.0, 1.0)), ball)


def test_bounding_box_margins_per_axis() -> None:
    mask = np.zeros((10, 10, 10), dtype=bool)
    mask[4, 5:7, 2] = True
    assert bounding_box(mask) == (slice(4, 5), slice(5, 7), slice(2, 3))
    assert bounding_box(mask, margin=[1, 0, 3]) == (slice(3, 6), slice(5, 7), slice(0, 6))
    with pytest.raises(ValueError):
        bounding_box(np.zeros((3, 3, 3), dtype=bool))
