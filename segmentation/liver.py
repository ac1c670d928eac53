"""Liver segmentation on contrast-enhanced CT, seeded by points known to lie in the liver.

Method (classical, intensity model estimated from the image):

1. Liver level: the histogram mode of the smoothed CT within 25 mm of the
   seed points (the target lesions lie in the liver, and liver dominates their
   surroundings), restricted to soft-tissue values.
2. Parenchyma: voxels of the smoothed CT within ``half_width_hu`` of that level,
   opened to cut thin bridges to neighbouring organs of similar attenuation.
3. The connected component(s) that touch the seed neighbourhoods; closing and
   hole filling add back lesions and vessels enclosed by the liver.

Returns a boolean mask on the input grid. A coarse working resolution is used
for speed; the result is upsampled by nearest neighbour.

Without seeds (automatic mode), :func:`locate_liver` proposes them: in
portal-venous CT the liver is the largest connected organ at the dominant
enhanced soft-tissue attenuation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from segmentation.levels import histogram_mode


@dataclass(frozen=True)
class LiverConfig:
    working_spacing_mm: float = 3.0
    smoothing_mm: float = 2.0
    half_width_hu: float = 30.0
    seed_radius_mm: float = 25.0
    opening_mm: float = 4.0
    closing_mm: float = 12.0


@dataclass(frozen=True, eq=False)
class LiverSegmentation:
    mask_zyx: np.ndarray
    level_hu: float
    volume_ml: float


def _dilate(mask: np.ndarray, radius_mm: float, spacing: Sequence[float]) -> np.ndarray:
    """Dilation by a ball of ``radius_mm`` (exact Euclidean, via a distance transform)."""
    return ndimage.distance_transform_edt(~mask, sampling=spacing) <= radius_mm


def _erode(mask: np.ndarray, radius_mm: float, spacing: Sequence[float]) -> np.ndarray:
    return ndimage.distance_transform_edt(mask, sampling=spacing) > radius_mm


def _block_mean(image_zyx: np.ndarray, spacing_zyx: tuple[float, float, float], target_mm: float):
    factors = [max(1, int(round(target_mm / s))) for s in spacing_zyx]
    crop = tuple(slice(0, (n // f) * f) for n, f in zip(image_zyx.shape, factors, strict=True))
    work = image_zyx[crop].astype(np.float32)
    small = work.reshape(
        work.shape[0] // factors[0],
        factors[0],
        work.shape[1] // factors[1],
        factors[1],
        work.shape[2] // factors[2],
        factors[2],
    ).mean(axis=(1, 3, 5))
    spacing = tuple(s * f for s, f in zip(spacing_zyx, factors, strict=True))
    return small, spacing, factors, crop


def locate_liver(
    image_zyx: np.ndarray, spacing_zyx: tuple[float, float, float], config: LiverConfig | None = None, n_seeds: int = 3
) -> list[tuple[float, float, float]]:
    """Seed points (continuous z, y, x indices) deep inside the liver, found without user input.

    The enhanced-soft-tissue level is the histogram mode of the smoothed CT in
    [60, 200] HU; the liver is the largest connected region within
    ``half_width_hu`` of it. Seeds are its deepest points (largest distance to
    its border), at least 20 mm apart.
    """
    config = config or LiverConfig()
    small, spacing, factors, _ = _block_mean(image_zyx, spacing_zyx, config.working_spacing_mm)
    smooth = ndimage.gaussian_filter(small, [config.smoothing_mm / s for s in spacing])
    level = histogram_mode(smooth[(smooth > 60.0) & (smooth < 200.0)])
    if level is None:
        raise ValueError("no enhanced soft tissue in the CT: cannot locate the liver")
    organ = _dilate(
        _erode(np.abs(smooth - level) <= config.half_width_hu, config.opening_mm, spacing), config.opening_mm, spacing
    )
    labels, n = ndimage.label(organ)
    if n == 0:
        raise ValueError("no organ at the liver attenuation found")
    largest = labels == int(np.argmax(ndimage.sum_labels(organ, labels, np.arange(1, n + 1)))) + 1
    depth = ndimage.distance_transform_edt(largest, sampling=spacing)
    seeds: list[tuple[float, float, float]] = []
    for _ in range(n_seeds):
        k = np.unravel_index(int(np.argmax(depth)), depth.shape)
        if depth[k] <= 0:
            break
        seeds.append(tuple(float(i * f + (f - 1) / 2) for i, f in zip(k, factors, strict=True)))  # type: ignore[arg-type]
        near = np.zeros(depth.shape, bool)
        near[k] = True
        depth[_dilate(near, 20.0, spacing)] = 0
    return seeds


def segment_liver(
    image_zyx: np.ndarray,
    spacing_zyx: tuple[float, float, float],
    seeds_zyx: Sequence[Sequence[float]],
    config: LiverConfig | None = None,
) -> LiverSegmentation:
    """Liver mask from seed points inside the liver (see module docstring)."""
    config = config or LiverConfig()
    if not seeds_zyx:
        raise ValueError("at least one seed inside the liver is needed")
    small, spacing, factors, crop = _block_mean(image_zyx, spacing_zyx, config.working_spacing_mm)
    smooth = ndimage.gaussian_filter(small, [config.smoothing_mm / s for s in spacing])
    seeds = np.clip(np.round(np.asarray(seeds_zyx, dtype=float) / factors).astype(int), 0, np.array(small.shape) - 1)
    near = np.zeros(small.shape, bool)
    near[tuple(seeds.T)] = True
    near = _dilate(near, config.seed_radius_mm, spacing)
    soft = smooth[near & (smooth > 40.0) & (smooth < 250.0)]
    level = histogram_mode(soft)
    if level is None:
        raise ValueError("no soft tissue around the seeds: cannot estimate the liver attenuation")
    parenchyma = np.abs(smooth - level) <= config.half_width_hu
    parenchyma = _dilate(_erode(parenchyma, config.opening_mm, spacing), config.opening_mm, spacing)
    labels, _ = ndimage.label(parenchyma)
    touching = np.unique(labels[near & parenchyma])
    touching = touching[touching > 0]
    liver = np.isin(labels, touching)
    padded = np.pad(liver, 1)  # closing must not grow into the image border
    closed = _erode(_dilate(padded, config.closing_mm, spacing), config.closing_mm, spacing)[1:-1, 1:-1, 1:-1]
    liver = ndimage.binary_fill_holes(closed | liver)
    full = np.zeros(image_zyx.shape, bool)
    up = liver.repeat(factors[0], 0).repeat(factors[1], 1).repeat(factors[2], 2)
    full[crop] = up
    volume = float(full.sum()) * float(np.prod(spacing_zyx)) / 1000.0
    return LiverSegmentation(full, float(level), volume)
