"""Intensity statistics inside a lesion: CT attenuation and PET SUV.

Definitions:

* ``mean_hu`` / ``sd_hu``: mean and standard deviation (N-1) of the CT values
  of the lesion voxels (fraction >= 0.5).
* ``suv_max`` / ``suv_min``: the highest / lowest voxel SUV in the lesion.
* ``suv_mean``: mean SUV of the lesion voxels.
* ``suv_peak``: the highest mean SUV of a 1 cm^3 sphere (radius 6.2035 mm)
  whose centre is a lesion voxel; the sphere's mean is over the voxels whose
  centres lie inside it (IBSI "global intensity peak" restricted to the
  lesion, as PERCIST defines SULpeak). ``suv_peak_local`` is the same sphere
  centred on the maximum voxel (IBSI "local intensity peak"; when several
  lesion voxels share the maximum, the highest of their sphere means).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from measurement.masks import inside

PEAK_SPHERE_RADIUS_MM = (3.0 / (4.0 * np.pi) * 1000.0) ** (1.0 / 3.0)  # 1 cm^3 sphere: 6.2035 mm


@dataclass(frozen=True)
class CtIntensity:
    mean_hu: float
    sd_hu: float


@dataclass(frozen=True)
class PetIntensity:
    suv_max: float
    suv_mean: float
    suv_peak: float
    suv_peak_local: float
    n_voxels: int
    suv_min: float
    peak_index_zyx: tuple[int, int, int] = (0, 0, 0)  # centre of the SUVpeak sphere (voxel index of the image)


def ct_intensity(image_zyx: np.ndarray, mask_zyx: np.ndarray) -> CtIntensity:
    """Mean and SD (N-1) of the CT values of the voxels with lesion fraction >= 0.5."""
    values = np.asarray(image_zyx)[inside(mask_zyx)].astype(np.float64)
    if values.size == 0:
        raise ValueError("empty mask: no lesion voxel")
    return CtIntensity(float(values.mean()), float(values.std(ddof=1)) if values.size > 1 else 0.0)


def sphere_kernel(spacing_zyx: tuple[float, float, float], radius_mm: float = PEAK_SPHERE_RADIUS_MM) -> np.ndarray:
    """Voxels whose centres lie within ``radius_mm`` of the central voxel's centre."""
    r = [int(np.floor(radius_mm / s)) for s in spacing_zyx]
    zz, yy, xx = np.ogrid[-r[0] : r[0] + 1, -r[1] : r[1] + 1, -r[2] : r[2] + 1]
    dz, dy, dx = spacing_zyx
    return (zz * dz) ** 2 + (yy * dy) ** 2 + (xx * dx) ** 2 <= radius_mm**2 + 1e-9


def sphere_means(
    image_zyx: np.ndarray, spacing_zyx: tuple[float, float, float], radius_mm: float = PEAK_SPHERE_RADIUS_MM
) -> np.ndarray:
    """Mean of the image in a sphere around every voxel (voxels outside the image do not count)."""
    kernel = sphere_kernel(spacing_zyx, radius_mm).astype(np.float64)
    image = np.asarray(image_zyx, dtype=np.float64)
    sums = ndimage.convolve(image, kernel, mode="constant", cval=0.0)
    counts = ndimage.convolve(np.ones_like(image), kernel, mode="constant", cval=0.0)
    return sums / counts


def pet_intensity(suv_zyx: np.ndarray, mask_zyx: np.ndarray, spacing_zyx: tuple[float, float, float]) -> PetIntensity:
    """SUV statistics of a lesion on the PET grid (see module docstring)."""
    mask = inside(mask_zyx)
    if not mask.any():
        raise ValueError("empty mask: no lesion voxel")
    idx = np.argwhere(mask)
    r = np.array([int(np.floor(PEAK_SPHERE_RADIUS_MM / s)) for s in spacing_zyx])
    lo = np.maximum(idx.min(axis=0) - r, 0)
    hi = np.minimum(idx.max(axis=0) + r + 1, suv_zyx.shape)
    box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    suv = np.asarray(suv_zyx[box], dtype=np.float64)
    local_mask = mask[box]
    means = sphere_means(suv, spacing_zyx)
    values = suv[local_mask]
    at_max = local_mask & (suv == values.max())
    inside_zyx = np.argwhere(local_mask)
    peak = inside_zyx[int(np.argmax(means[local_mask]))] + lo  # the first voxel (C order) of the highest mean
    return PetIntensity(
        suv_max=float(values.max()),
        suv_mean=float(values.mean()),
        suv_peak=float(means[local_mask].max()),
        suv_peak_local=float(means[at_max].max()),
        n_voxels=int(values.size),
        suv_min=float(values.min()),
        peak_index_zyx=(int(peak[0]), int(peak[1]), int(peak[2])),
    )
