"""Diameters of analytic shapes rasterised at several orientations and voxel sizes."""

from __future__ import annotations

import numpy as np
import pytest

from measurement.diameters import axial_diameters, max_3d_diameter


def ellipsoid_mask(semi_mm, spacing_zyx, angle_deg=0.0, tilt_deg=0.0, offset=(0.3, 0.2, 0.1), supersample=1):
    """Mask of a rotated ellipsoid (semi-axes a, b, c along x, y, z before rotation).

    ``supersample=1``: binary, voxels whose centres lie inside. ``supersample=n``:
    partial-volume fractions from n^3 points per voxel (in-plane n^2 for speed
    along z when the slice is thin is not assumed).
    """
    a, b, c = semi_mm
    spacing = np.asarray(spacing_zyx, dtype=float)
    n = tuple(int(np.ceil(2.4 * max(semi_mm) / s)) + 4 for s in spacing)
    sub = (np.arange(supersample) + 0.5) / supersample - 0.5
    t, p = np.deg2rad(angle_deg), np.deg2rad(tilt_deg)
    total = np.zeros(n)
    for dz in sub:
        for dy in sub:
            for dx in sub:
                zz, yy, xx = [
                    (np.arange(k) - (k - 1) / 2 + o + d) * s for k, o, d, s in zip(n, offset, (dz, dy, dx), spacing)
                ]
                z, y, x = np.meshgrid(zz, yy, xx, indexing="ij")
                # rotate about z by t, then about x by p (tilt out of the axial plane)
                x1, y1 = np.cos(t) * x + np.sin(t) * y, -np.sin(t) * x + np.cos(t) * y
                y2, z2 = np.cos(p) * y1 + np.sin(p) * z, -np.sin(p) * y1 + np.cos(p) * z
                total += (x1 / a) ** 2 + (y2 / b) ** 2 + (z2 / c) ** 2 <= 1.0
    frac = total / supersample**3
    return frac >= 0.5 if supersample == 1 else frac.astype(np.float32)


def _equator_scale(n_slices: int, slice_mm: float, c_mm: float) -> float:
    """Cross-section scale sqrt(1 - z^2/c^2) at the slice nearest the equator (in-plane rotation only)."""
    z = np.min(np.abs((np.arange(n_slices) - (n_slices - 1) / 2) * slice_mm))
    return float(np.sqrt(1 - z**2 / c_mm**2))


SPACINGS = [(1.0, 1.0, 1.0), (2.5, 0.7, 0.7), (5.0, 0.8, 0.8)]
ANGLES = [0.0, 30.0, 45.0, 71.0]


@pytest.mark.parametrize("spacing", SPACINGS)
@pytest.mark.parametrize("angle", ANGLES)
def test_partial_volume_ellipse_diameters_within_half_a_voxel(spacing, angle):
    semi = (12.0, 7.0, 9.0)  # 24 x 14 mm at the equator
    frac = ellipsoid_mask(semi, spacing, angle_deg=angle, offset=(0.0, 0.2, 0.1), supersample=6)
    # compare on the slab-averaged fractions: the truth is the cross-section at the slice nearest the equator
    scale = _equator_scale(frac.shape[0], spacing[0], 9.0)
    d = axial_diameters(frac, spacing)
    half_voxel = 0.5 * spacing[1]
    slab = 24.0 * (1 - np.sqrt(1 - (spacing[0] / 4) ** 2 / 81.0))  # slab-average shrinks the visible outline
    assert 24.0 * scale - half_voxel - slab <= d.longest_mm <= 24.0 * scale + half_voxel
    assert d.short_axis_mm == pytest.approx(14.0 * scale, abs=half_voxel + slab)


@pytest.mark.parametrize("spacing", SPACINGS)
@pytest.mark.parametrize("angle", ANGLES)
def test_binary_ellipse_diameters_within_one_voxel(spacing, angle):
    mask = ellipsoid_mask((12.0, 7.0, 9.0), spacing, angle_deg=angle, offset=(0.0, 0.2, 0.1))
    scale = _equator_scale(mask.shape[0], spacing[0], 9.0)
    d = axial_diameters(mask, spacing)
    # a binary mask locates each end only to +-half a voxel
    assert d.longest_mm == pytest.approx(24.0 * scale, abs=spacing[1])
    assert d.short_axis_mm == pytest.approx(14.0 * scale, abs=spacing[1])


def test_end_points_lie_on_the_measured_slice_and_span_the_length():
    spacing = (2.0, 0.5, 0.5)
    mask = ellipsoid_mask((10.0, 4.0, 6.0), spacing, angle_deg=30.0)
    d = axial_diameters(mask, spacing)
    (z0, y0, x0), (z1, y1, x1) = d.long_axis_zyx
    assert z0 == z1 == d.slice_index
    assert np.hypot((y1 - y0) * 0.5, (x1 - x0) * 0.5) == pytest.approx(d.longest_mm)
    # the long axis is oriented at 30 degrees (rows are +y, columns +x)
    angle = np.degrees(np.arctan2((y1 - y0), (x1 - x0))) % 180
    assert min(abs(angle - 30), abs(angle - 210) % 180) < 3.0
    (_, sy0, sx0), (_, sy1, sx1) = d.short_axis_zyx
    long_vec = np.array([y1 - y0, x1 - x0])
    short_vec = np.array([sy1 - sy0, sx1 - sx0])
    assert abs(long_vec @ short_vec) / (np.linalg.norm(long_vec) * np.linalg.norm(short_vec)) < 1e-6


def test_single_voxel_measures_one_voxel_not_zero():
    mask = np.zeros((1, 5, 5), bool)
    mask[0, 2, 2] = True
    d = axial_diameters(mask, (3.0, 0.8, 0.8))
    assert d.longest_mm == pytest.approx(0.8)


def test_soft_mask_outline_is_sub_voxel():
    # a disk of radius 4.3 px rendered with exact partial-volume fractions (supersampled)
    n, r = 21, 4.3
    sub = 16
    y, x = (np.mgrid[0 : n * sub, 0 : n * sub] + 0.5) / sub - 0.5
    inside = (y - 10.2) ** 2 + (x - 9.9) ** 2 <= r**2
    frac = inside.reshape(n, sub, n, sub).mean(axis=(1, 3))[None]
    d = axial_diameters(frac, (1.0, 1.0, 1.0))
    assert d.longest_mm == pytest.approx(2 * r, abs=0.15)


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (5.0, 0.8, 0.8)])
def test_max_3d_diameter_of_tilted_ellipsoid(spacing):
    mask = ellipsoid_mask((15.0, 6.0, 8.0), spacing, angle_deg=20.0, tilt_deg=35.0)
    d, (p, q) = max_3d_diameter(mask, spacing)
    assert d == pytest.approx(30.0, abs=0.5 * max(spacing) + 0.05)
    assert np.linalg.norm((np.array(p) - np.array(q)) * spacing) == pytest.approx(d)


def test_empty_mask_is_refused():
    with pytest.raises(ValueError, match="empty mask"):
        axial_diameters(np.zeros((3, 3, 3), bool), (1, 1, 1))
