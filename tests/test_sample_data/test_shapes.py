"""The phantom's shapes: the test of many points of many voxels at once agrees with the test of each point."""

from __future__ import annotations

import numpy as np
import pytest

from sample_data.shapes import Cylinder, Ellipsoid, Pose, as_matrix3, partial_volume, rotation_matrix
from sample_data.union import Union

ELLIPSOID = Ellipsoid((4.0, -3.0, 2.0), (12.0, 7.0, 9.0), as_matrix3(rotation_matrix((20.0, -35.0, 50.0))))
SHAPES = {
    "ellipsoid": ELLIPSOID,
    "cylinder": Cylinder((1.0, -2.0), (10.0, 6.0), (-5.0, 8.0)),
    "union": Union((ELLIPSOID, Ellipsoid((14.0, 0.0, 0.0), (6.0, 6.0, 6.0)))),
}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_points_of_many_voxels_at_once_are_inside_as_one_by_one(name: str):
    shape = SHAPES[name]
    rng = np.random.default_rng(3)
    centres = rng.uniform(-20.0, 20.0, (4000, 3))
    offsets = rng.uniform(-1.5, 1.5, (27, 3))
    points = centres[:, None, :] + offsets[None, :, :]
    one_by_one = shape.contains(points.reshape(-1, 3)).reshape(points.shape[:2])
    assert one_by_one.any() and not one_by_one.all()  # the points straddle the surface
    np.testing.assert_array_equal(shape.inside_offsets(centres, offsets), one_by_one)


def test_partial_volume_of_a_sphere_sums_to_its_volume():
    """A sphere of radius 10 mm on a 1 mm grid: the fractions (4 x 4 x 4 points per voxel) sum to 4/3 pi r^3
    within 0.2 %."""
    sphere = Ellipsoid((0.3, -0.2, 0.1), (10.0, 10.0, 10.0))
    axis = np.arange(-13.0, 14.0)
    points = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1)
    fraction = partial_volume(sphere, points, Pose(), (1.0, 1.0, 1.0))
    assert fraction.sum() == pytest.approx(4.0 / 3.0 * np.pi * 1000.0, rel=2e-3)
