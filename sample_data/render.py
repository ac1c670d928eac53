"""Rasterise the phantom onto a scanner grid: CT in HU, PET in SUV."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from sample_data.deformation import IDENTITY, Deformation
from sample_data.grid import Grid
from sample_data.shapes import Pose, Structure, box_corners, partial_volume

AIR_HU = -1000.0
PET_PSF_FWHM_MM = 6.5
_CHUNK_SLICES = 8


def _box_lps(structure: Structure, pose: Pose, margin_mm: float) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = structure.shape.bounds()
    lo = np.maximum(lo - margin_mm, -2000.0)
    hi = np.minimum(hi + margin_mm, 2000.0)
    corners = box_corners(lo, hi)
    mapped = pose.body_to_lps(corners)
    return mapped.min(axis=0), mapped.max(axis=0)


def paint(
    structures: Sequence[Structure],
    pose: Pose,
    grid: Grid,
    attribute: str,
    background: float,
    deformation: Deformation = IDENTITY,
) -> np.ndarray:
    """Noise-free image (float32, z-y-x) of ``structure.<attribute>`` values with partial volume.

    Structures tagged ``"lesion"`` are given in the deformed body frame
    already; the others are seen through ``deformation``.
    """
    image = np.full(grid.shape_zyx, background, dtype=np.float32)
    for structure in structures:
        value = float(getattr(structure, attribute))
        deform = not deformation.is_identity and "lesion" not in structure.tags
        margin = deformation.max_displacement_mm if deform else 0.0
        zs, ys, xs = grid.index_range(*_box_lps(structure, pose, margin))
        for z0 in range(zs.start, zs.stop, _CHUNK_SLICES):
            block = (slice(z0, min(z0 + _CHUNK_SLICES, zs.stop)), ys, xs)
            points = pose.lps_to_body(grid.points_lps(block))
            if deform:
                points = deformation.inverse(points)
            frac = partial_volume(structure.shape, points, pose, grid.spacing_xyz_mm).astype(np.float32)
            if not frac.any():
                continue
            image[block] += frac * (value - image[block])
    return image


def correlated_noise(
    shape: tuple[int, int, int], sd: float, rng: np.random.Generator, sigma_px: float = 0.7
) -> np.ndarray:
    """Gaussian noise with in-plane correlation (like reconstructed CT), standard deviation ``sd``."""
    noise = rng.standard_normal(shape, dtype=np.float32)
    noise = ndimage.gaussian_filter(noise, sigma=(0.0, sigma_px, sigma_px))
    return noise * np.float32(sd / noise.std())


def render_ct(
    structures: Sequence[Structure],
    pose: Pose,
    grid: Grid,
    noise_hu: float,
    rng: np.random.Generator,
    deformation: Deformation = IDENTITY,
) -> np.ndarray:
    """CT in HU (float32, z-y-x): partial-volume phantom plus correlated noise."""
    image = paint(structures, pose, grid, "hu", AIR_HU, deformation)
    image += correlated_noise(grid.shape_zyx, noise_hu, rng)
    return image


def render_pet_suv(
    structures: Sequence[Structure],
    pose: Pose,
    grid: Grid,
    rng: np.random.Generator,
    deformation: Deformation = IDENTITY,
    noise_fraction: float = 0.08,
) -> tuple[np.ndarray, np.ndarray]:
    """PET in SUV (noisy, noise-free), float32 z-y-x: phantom blurred by a Gaussian PSF."""
    image = paint(structures, pose, grid, "suv", 0.0, deformation)
    sigma_mm = PET_PSF_FWHM_MM / (2.0 * np.sqrt(2.0 * np.log(2.0)))
    sx, sy, sz = grid.spacing_xyz_mm
    clean = ndimage.gaussian_filter(image, sigma=(sigma_mm / sz, sigma_mm / sy, sigma_mm / sx))
    noise = correlated_noise(grid.shape_zyx, 1.0, rng, sigma_px=0.8)
    noisy = np.clip(clean * (1.0 + noise_fraction * noise) + 0.02 * noise, 0.0, None)
    return noisy.astype(np.float32), clean.astype(np.float32)
