"""The lesion region's shape operations on shapes whose answer is known: two balls joined by a neck, a ball with
a spike, hollow shapes open or closed at the array's faces, and the same shapes moved inside a larger grid
(the operations work on the region's bounding box: the grid around it must not matter)."""

from __future__ import annotations

import numpy as np
import pytest

from segmentation.lesion_region import CoarseGrid, Parenchyma, cut_bridges, fill, lesion_region, split_at_necks
from segmentation.liver import level_trend

ISO = np.array([1.0, 1.0, 1.0])


def _ball(shape: tuple[int, int, int], centre: tuple[float, float, float], radius: float) -> np.ndarray:
    zz, yy, xx = np.indices(shape)
    return (zz - centre[0]) ** 2 + (yy - centre[1]) ** 2 + (xx - centre[2]) ** 2 <= radius**2


def _dumbbell(shape: tuple[int, int, int] = (24, 24, 48), left: float = 11.0) -> tuple[np.ndarray, ...]:
    """Two balls of radius 7 voxels joined along x by a neck of radius 1.5 voxels."""
    a = _ball(shape, (12, 12, left), 7.0)
    b = _ball(shape, (12, 12, left + 24), 7.0)
    zz, yy, xx = np.indices(shape)
    neck = ((zz - 12) ** 2 + (yy - 12) ** 2 <= 1.5**2) & (xx >= left) & (xx <= left + 24)
    return a, b, a | b | neck


def _padded(mask: np.ndarray, pad: tuple[int, int, int]) -> np.ndarray:
    return np.pad(mask, [(p, 2 * p + 1) for p in pad])


def test_a_dumbbell_is_cut_at_its_neck_and_the_seeds_ball_kept() -> None:
    a, b, region = _dumbbell()
    kept = split_at_necks(region, np.array([12.0, 12.0, 11.0]), ISO)
    assert kept[a].all() and not kept[b].any()
    kept = split_at_necks(region, np.array([12.0, 12.0, 35.0]), ISO)
    assert kept[b].all() and not kept[a].any()


def test_a_seed_outside_the_region_takes_the_nearest_part() -> None:
    a, b, region = _dumbbell()
    kept = split_at_necks(region, np.array([12.0, 22.0, 37.0]), ISO)  # beside the right ball, not in it
    assert not region[12, 22, 37] and kept[b].all() and not kept[a].any()


def test_a_dumbbell_at_the_arrays_face_is_cut_the_same_way() -> None:
    """The left ball cut by the array's face (x = 0): the face is no border of the region."""
    a, b, region = _dumbbell(left=3.0)
    kept = split_at_necks(region, np.array([12.0, 12.0, 3.0]), ISO)
    assert kept[a].all() and not kept[b].any()


def test_a_spike_is_cut_off_and_the_ball_kept() -> None:
    """A ball of radius 8 voxels with a spike one voxel thin and 10 long: the opening (a ball of 40 % of the
    depth) drops the spike's far part; the ball's inside stays."""
    shape = (28, 28, 40)
    ball = _ball(shape, (14, 14, 14), 8.0)
    region = ball.copy()
    region[14, 14, 22:33] = True
    kept = cut_bridges(region, np.array([14.0, 14.0, 14.0]), ISO, necks=False)
    assert not kept[14, 14, 27:33].any()
    assert kept[_ball(shape, (14, 14, 14), 6.5)].all() and not (kept & ~region).any()


@pytest.mark.parametrize("seed", [(12.0, 12.0, 11.0), (12.0, 22.0, 37.0), (3.0, 2.0, 46.0)])
def test_the_cut_does_not_depend_on_the_grid_around_the_region(seed: tuple[float, float, float]) -> None:
    """The same region and seed moved into a larger grid give the same voxels, moved, whatever the seed
    (in the region, beside it, far from it in a corner)."""
    _, _, region = _dumbbell()
    region = region.copy()
    region[5:8, 11:14, 24] = True  # a side branch
    spacing = np.array([2.5, 0.8, 0.8])
    pad = (3, 5, 4)
    here = cut_bridges(region, np.array(seed), spacing)
    moved = cut_bridges(_padded(region, pad), np.array(seed) + pad, spacing)
    assert np.array_equal(moved, _padded(here, pad))
    assert np.array_equal(fill(_padded(here, pad)), _padded(fill(here), pad))


def test_fill_closes_a_hollow_ball() -> None:
    shell = _ball((20, 20, 20), (10, 10, 10), 7.0) & ~_ball((20, 20, 20), (10, 10, 10), 5.0)
    assert np.array_equal(fill(shell), _ball((20, 20, 20), (10, 10, 10), 7.0))


def test_fill_closes_a_tube_along_z_on_every_slice_and_not_one_along_x() -> None:
    """A tube through the whole grid along z is open in 3D (its inside reaches the array's faces) but a ring on
    every axial slice: filled. Along x, the axial slices show two bars: it stays hollow."""
    shape = (12, 20, 20)
    zz, yy, xx = np.indices(shape)
    r_zy = np.hypot(yy - 10, xx - 10)
    tube_z = (r_zy <= 6) & (r_zy > 4)
    assert np.array_equal(fill(tube_z), r_zy <= 6)
    r_x = np.hypot(zz - 6, yy - 10)
    tube_x = (r_x <= 5) & (r_x > 3)
    assert np.array_equal(fill(tube_x), tube_x)


def test_a_vessel_running_away_from_a_dark_lesion_is_left_out() -> None:
    """A dark ball (40 HU below the liver) touched by a bright tube (90 HU above) running away from it, on a
    noise-free liver: the region is the ball and at most the tube's stub within the opening ball's reach
    (5 mm at most), the same in a larger grid."""
    shape = (30, 40, 40)
    lesion = _ball(shape, (15, 20, 20), 7.0)
    zz, yy, xx = np.indices(shape)
    vessel = (np.hypot(zz - 15, yy - 20) <= 1.5) & (xx >= 27)
    w = np.where(lesion, 20.0, np.where(vessel, 150.0, 60.0)).astype(np.float32)
    par = Parenchyma(60.0, 5.0)
    seed = np.array([15.0, 20.0, 20.0])
    sample = np.full(27, 20.0, np.float32)

    def region(w: np.ndarray, seed: np.ndarray) -> np.ndarray:
        ones = np.ones(w.shape, np.float32)
        grid = CoarseGrid(w, ones, ones, ISO * 1.5, np.zeros(3))
        found = lesion_region(w, grid, par, seed, None, sample, 2.5, 10.0, -50.0)
        assert isinstance(found, np.ndarray)
        return found

    found = region(w, seed)
    assert found[lesion].all() and not (found & ~lesion & ~vessel).any()
    stub = np.argwhere(found & vessel)
    assert stub.size and (stub[:, 2] - 27).max() * 1.5 <= 5.0
    pad = (4, 2, 6)
    wide = np.pad(w, [(p, 2 * p + 1) for p in pad], constant_values=60.0)
    assert np.array_equal(region(wide, seed + pad), _padded(found, pad))


def test_level_trend_of_a_linear_image_is_that_image_within_the_band() -> None:
    shape = (10, 30, 40)
    zz, yy, xx = np.indices(shape)
    image = (55.0 + 0.8 * zz - 0.3 * yy + 0.25 * xx).astype(np.float32)
    core = np.zeros(shape, dtype=bool)
    core[2:8, 5:25, 5:35] = True
    expected = level_trend(image, core, 60.0, 10.0)
    assert expected.dtype == np.float32 and expected.shape == shape
    assert np.allclose(expected, np.clip(image, 50.0, 70.0), atol=1e-3)
