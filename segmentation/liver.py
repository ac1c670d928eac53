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
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from segmentation.ct_lesion import histogram_mode


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
    factors = [max(1, int(round(config.working_spacing_mm / s))) for s in spacing_zyx]
    crop = tuple(slice(0, (n // f) * f) for n, f in zip(image_zyx.shape, factors, strict=True))
    work = image_zyx[crop].astype(np.float32)
    small = work.reshape(
        work.shape[0] // factors[0], factors[0], work.shape[1] // factors[1], factors[1], work.shape[2] // factors[2], factors[2]
    ).mean(axis=(1, 3, 5))
    spacing = tuple(s * f for s, f in zip(spacing_zyx, factors, strict=True))
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
