"""Analytic shapes rendered by the sample-data generator: diameters and volumes against the exact truth.

Masks come from the generator's renderer (:func:`sample_data.shapes.partial_volume`,
the fraction of each voxel inside the shape) and the truth from its analytic
formulas (:mod:`sample_data.truth`), never from the code under test.

* Partial-volume masks: axial diameters within half a pixel of the section at
  the measured slice centre; the 3D diameter within half a voxel measured
  along its own direction (a 0.8 x 0.8 x 5 mm voxel is 2.5 mm deep along z,
  0.4 mm across) and the mesh volume within 3 % when the lesion spans at
  least five slices (thinner lesions lose their tips and caps to the slab
  average, see docs/validation.md); the voxel-fraction volume within 1 %.
* Binary masks (voxel centres inside the shape): each end of a diameter is
  only known to half a voxel, so diameters are checked within one voxel.
"""

from __future__ import annotations

import numpy as np
import pytest

from measurement.diameters import axial_diameters, max_3d_diameter
from measurement.morphology import morphology
from measurement.volume import volume_ml
from sample_data import truth
from sample_data.grid import Grid
from sample_data.shapes import Ellipsoid, Pose, as_matrix3, partial_volume, rotation_matrix

SPACINGS_XYZ = [(1.0, 1.0, 1.0), (0.7, 0.7, 2.5), (0.8, 0.8, 5.0)]
ORIENTATIONS_DEG = [(0.0, 0.0, 0.0), (0.0, 0.0, 30.0), (20.0, -15.0, 60.0), (35.0, 10.0, 100.0)]
SHAPES_MM = [(10.0, 10.0, 10.0), (15.0, 10.0, 12.0), (13.0, 8.0, 9.0), (20.0, 12.0, 15.0)]
GRID_OFFSET_MM = (0.31, 0.17, 0.23)  # the shape's centre is off the voxel centres


def render(
    ellipsoid: Ellipsoid, spacing_xyz: tuple[float, float, float], binary: bool = False
) -> tuple[np.ndarray, Grid]:
    """The ellipsoid on a grid whose centre is offset from the ellipsoid's.

    Partial-volume fractions, or (``binary``) the voxels whose centres lie inside.
    """
    lo, hi = ellipsoid.bounds()
    half = float(np.max(hi - lo)) / 2.0 + 2.0 * max(spacing_xyz)
    n = [int(np.ceil(2.0 * half / s)) + 1 for s in spacing_xyz]
    grid = Grid.centred((n[2], n[1], n[0]), spacing_xyz, tuple(np.asarray(ellipsoid.centre_mm) + GRID_OFFSET_MM))
    points = grid.points_lps((slice(None),) * 3)
    if binary:
        return ellipsoid.contains(points), grid
    return partial_volume(ellipsoid, points, Pose(), spacing_xyz).astype(np.float32), grid


def section_truth(ellipsoid: Ellipsoid, grid: Grid, slice_index: int) -> tuple[float, float]:
    """Exact longest and short diameters of the ellipsoid's section at a slice centre."""
    dz = float(grid.slice_z_mm()[slice_index] - ellipsoid.centre_mm[2])
    return truth.axial_diameters(ellipsoid, Pose(), dz)


def half_voxel_along(direction_zyx: np.ndarray, spacing_zyx: tuple[float, float, float]) -> float:
    """Half the extent of a voxel along a unit direction."""
    return 0.5 * float(np.abs(direction_zyx) @ np.asarray(spacing_zyx))


CASES = [(semi, angles, spacing) for semi in SHAPES_MM for angles in ORIENTATIONS_DEG for spacing in SPACINGS_XYZ]


@pytest.mark.parametrize("semi, angles, spacing_xyz", CASES)
def test_partial_volume_shapes(semi, angles, spacing_xyz):
    ellipsoid = Ellipsoid((0.0, 0.0, 0.0), semi, as_matrix3(rotation_matrix(angles)))
    frac, grid = render(ellipsoid, spacing_xyz)
    spacing = (spacing_xyz[2], spacing_xyz[1], spacing_xyz[0])
    half_pixel = 0.5 * spacing_xyz[0]

    axial = axial_diameters(frac, spacing)
    longest = max(section_truth(ellipsoid, grid, k)[0] for k in range(frac.shape[0]))  # on any slice
    _, short = section_truth(ellipsoid, grid, axial.slice_index)  # on the slice of the longest diameter
    assert abs(axial.longest_mm - longest) <= half_pixel
    assert abs(axial.short_axis_mm - short) <= half_pixel

    shape = morphology(frac, spacing)
    assert shape.voxel_volume_ml == pytest.approx(ellipsoid.volume_ml, rel=0.01)
    assert volume_ml(frac, spacing) == shape.voxel_volume_ml
    z_extent_mm = float(np.diff(ellipsoid.bounds(), axis=0)[0, 2])
    if z_extent_mm >= 5 * spacing[0]:
        feret, (p, q) = max_3d_diameter(frac, spacing)
        assert feret == shape.max_3d_diameter_mm
        direction = (np.asarray(q) - np.asarray(p)) * spacing
        direction /= np.linalg.norm(direction)
        assert abs(feret - 2.0 * max(semi)) <= half_voxel_along(direction, spacing)
        assert shape.mesh_volume_ml == pytest.approx(ellipsoid.volume_ml, rel=0.03)


@pytest.mark.parametrize("semi, angles, spacing_xyz", CASES)
def test_binary_shapes_within_one_voxel(semi, angles, spacing_xyz):
    ellipsoid = Ellipsoid((0.0, 0.0, 0.0), semi, as_matrix3(rotation_matrix(angles)))
    mask, grid = render(ellipsoid, spacing_xyz, binary=True)
    spacing = (spacing_xyz[2], spacing_xyz[1], spacing_xyz[0])
    axial = axial_diameters(mask, spacing)
    longest = max(section_truth(ellipsoid, grid, k)[0] for k in range(mask.shape[0]))
    _, short = section_truth(ellipsoid, grid, axial.slice_index)
    assert abs(axial.longest_mm - longest) <= spacing_xyz[0]
    assert abs(axial.short_axis_mm - short) <= spacing_xyz[0]
    feret, (p, q) = max_3d_diameter(mask, spacing)
    direction = (np.asarray(q) - np.asarray(p)) * spacing
    direction /= np.linalg.norm(direction)
    assert abs(feret - 2.0 * max(semi)) <= 2.0 * half_voxel_along(direction, spacing)


def test_sphere_shape_descriptors():
    sphere = Ellipsoid((0.0, 0.0, 0.0), (12.0, 12.0, 12.0))
    frac, _ = render(sphere, (1.0, 1.0, 1.0))
    shape = morphology(frac, (1.0, 1.0, 1.0))
    assert shape.surface_area_mm2 == pytest.approx(4 * np.pi * 12.0**2, rel=0.02)
    assert shape.sphericity == pytest.approx(1.0, abs=0.02)
    # IBSI axis lengths: 4 sqrt(variance); a solid ball's variance along any axis is r^2 / 5
    for length in (shape.major_axis_mm, shape.minor_axis_mm, shape.least_axis_mm):
        assert length == pytest.approx(4.0 * 12.0 / np.sqrt(5.0), rel=0.01)
