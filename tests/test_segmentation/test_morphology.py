"""Morphology in mm on the mask's bounding box: the same voxels and distances as on the whole array.

The reference is SciPy's Euclidean distance transform of the whole array: a distance of every voxel to the
nearest voxel outside the mask, thresholded at the radius for dilation and erosion; for hole filling and
connected components, SciPy's hole filling and labelling of the whole array.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from segmentation.morphology import (
    bounding_box,
    close_mm,
    components_touching,
    dilate_mm,
    distance_mm,
    distance_to_mm,
    erode_mm,
    fill_holes,
    fill_holes_axial,
    largest_component,
    open_mm,
)

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
        if mask.any():  # (the whole-array transform of an empty mask measures from a voxel before the corner)
            assert np.array_equal(dilate_mm(mask, radius, spacing), outside <= radius)
            assert np.array_equal(distance_to_mm(mask, spacing, radius), np.where(outside <= radius, outside, np.inf))


@pytest.mark.parametrize("spacing", SPACINGS)
def test_balls_of_a_few_voxels_match_the_whole_array_transform(spacing: tuple[float, float, float]) -> None:
    """Radii up to about twice the finest spacing (a ball of 3 x 3 x 3 voxels at most), some exactly the length
    of a voxel offset (the ball's rim on voxel centres)."""
    rng = np.random.default_rng(11)
    offsets = np.sqrt(np.add.reduce(((np.indices((3, 3, 3)) - 1) * np.asarray(spacing)[:, None, None, None]) ** 2))
    radii = [*rng.uniform(0.2, 2.2 * min(spacing), 20), *np.unique(offsets)[1:5], 2.0 * min(spacing)]
    for radius in radii:
        mask = _random_mask(rng)
        inside = ndimage.distance_transform_edt(mask, sampling=spacing)
        outside = ndimage.distance_transform_edt(~mask, sampling=spacing)
        assert np.array_equal(erode_mm(mask, float(radius), spacing), inside > radius)
        if mask.any():
            assert np.array_equal(dilate_mm(mask, float(radius), spacing), outside <= radius)
            eroded = inside > radius
            grown = ndimage.distance_transform_edt(~eroded, sampling=spacing) <= radius if eroded.any() else eroded
            assert np.array_equal(open_mm(mask, float(radius), spacing), grown & mask)


def _shell(rng: np.random.Generator) -> np.ndarray:
    """A random blob with a cavity and a slit (holes in 3D and in slices), sometimes touching the array border."""
    mask = _random_mask(rng)
    if mask.any():
        box = bounding_box(mask)
        mask[box] = True
        inner = tuple(slice(b.start + 1, b.stop - 1) for b in box)
        mask[inner] = False
        if rng.random() < 0.5:  # the cavity opened towards +x: a hole in each axial slice, none in 3D
            mask[inner[0], inner[1], inner[2].stop :] = False
    return mask


def test_hole_filling_and_components_match_the_whole_array() -> None:
    rng = np.random.default_rng(3)
    for _ in range(300):
        mask = _shell(rng) if rng.random() < 0.5 else _random_mask(rng)
        seeds = rng.random(mask.shape) < 0.02
        filled = ndimage.binary_fill_holes(mask)
        axial = np.stack([ndimage.binary_fill_holes(plane) for plane in filled])
        labels, n = ndimage.label(mask)
        touched = np.isin(labels, np.unique(labels[seeds & mask]))
        sizes = np.bincount(labels.ravel(), minlength=n + 1)[1:]
        assert np.array_equal(fill_holes(mask), filled)
        assert np.array_equal(fill_holes_axial(mask), axial)
        assert np.array_equal(components_touching(mask, seeds), touched & mask)
        assert np.array_equal(largest_component(mask), labels == np.argmax(sizes) + 1 if n else mask)


def test_empty_and_full_masks() -> None:
    spacing = (2.0, 1.0, 1.0)
    empty = np.zeros((6, 7, 8), dtype=bool)
    assert not distance_mm(empty, spacing).any()
    assert not erode_mm(empty, 1.0, spacing).any()
    assert not dilate_mm(empty, 5.0, spacing).any()
    assert np.isinf(distance_to_mm(empty, spacing, 5.0)).all()
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


def test_an_opening_keeps_nothing_of_a_mask_thinner_than_the_ball_even_at_the_array_corner() -> None:
    """A plate one voxel thick holds no ball of radius 2 mm: its opening is empty, also where it covers the
    array's corner (dilating the empty erosion gives nothing, not the voxels near the corner)."""
    plate = np.zeros((10, 12, 12), dtype=bool)
    plate[0] = True
    assert not open_mm(plate, 2.0, (1.0, 1.0, 1.0)).any()


def test_distance_to_a_voxel_is_the_euclidean_distance_within_reach_and_infinite_beyond() -> None:
    mask = np.zeros((9, 11, 13), dtype=bool)
    mask[4, 5, 6] = True
    spacing = (2.5, 0.7, 1.6)
    zz, yy, xx = np.indices(mask.shape)
    exact = np.sqrt(((zz - 4) * 2.5) ** 2 + ((yy - 5) * 0.7) ** 2 + ((xx - 6) * 1.6) ** 2)
    got = distance_to_mm(mask, spacing, 6.0)
    near = exact <= 6.0
    assert np.allclose(got[near], exact[near], rtol=0.0, atol=1e-12)
    assert np.isinf(got[~near]).all()


def test_bounding_box_is_the_extent_of_the_voxels() -> None:
    """Against the first and last index of the mask's voxels on each axis, for masks of one to four axes."""
    rng = np.random.default_rng(3)
    for ndim in (1, 2, 3, 3, 3, 4):
        shape = tuple(int(n) for n in rng.integers(1, 12, ndim))
        mask = rng.random(shape) < rng.choice([0.002, 0.05, 0.5])
        margin = [int(m) for m in rng.integers(0, 4, ndim)]
        if not mask.any():
            with pytest.raises(ValueError):
                bounding_box(mask)
            continue
        voxels = np.argwhere(mask)
        lo, hi = voxels.min(axis=0), voxels.max(axis=0) + 1
        expected = tuple(slice(max(int(a) - m, 0), min(int(b) + m, n)) for a, b, m, n in zip(lo, hi, margin, shape))
        assert bounding_box(mask, margin=margin) == expected
        assert bounding_box(mask.astype(np.uint8)) == tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))


def test_bounding_box_margins_per_axis() -> None:
    mask = np.zeros((10, 10, 10), dtype=bool)
    mask[4, 5:7, 2] = True
    assert bounding_box(mask) == (slice(4, 5), slice(5, 7), slice(2, 3))
    assert bounding_box(mask, margin=[1, 0, 3]) == (slice(3, 6), slice(5, 7), slice(0, 6))
    with pytest.raises(ValueError):
        bounding_box(np.zeros((3, 3, 3), dtype=bool))
