"""Seeded segmentation of a hypodense liver lesion on CT.

Method (all intensities estimated from the image around the seed):

1. Crop a box around the seed; smooth lightly in-plane (Gaussian,
   ``smoothing_mm``) to tame noise without moving edges much.
2. Lesion level: median of the smoothed image in a small sphere at the seed.
   Background (surrounding liver) level: the histogram mode of the voxels
   clearly brighter than the lesion. No contrast -> ``not_found``.
3. Boundary: the half-way level between lesion and background (the 50 %
   partial-volume iso-level, where a boundary blurred by the voxel size lies),
   with a lower bound that keeps fat and air out. The connected region of the
   seed is kept, holes are filled, thin bridges are cut by an in-plane
   opening. Lesion level is re-estimated from the region's interior and the
   boundary recomputed once.
4. Leak guard: a region touching the search box grows the box once; if it
   still touches, the lesion has no closed boundary -> ``not_found``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from segmentation.result import LesionSegmentation, not_found


@dataclass(frozen=True)
class CtLesionConfig:
    search_half_size_mm: float = 40.0
    max_search_half_size_mm: float = 80.0
    smoothing_mm: float = 0.6
    seed_radius_mm: float = 2.5
    min_contrast_hu: float = 15.0
    min_volume_ml: float = 0.02
    max_volume_ml: float = 1000.0
    recentre_radius_mm: float = 12.0


def _ball(radius_mm: float, spacing: tuple[float, float, float]) -> np.ndarray:
    r = [max(1, int(np.floor(radius_mm / s))) for s in spacing]
    zz, yy, xx = np.ogrid[-r[0] : r[0] + 1, -r[1] : r[1] + 1, -r[2] : r[2] + 1]
    return (zz * spacing[0]) ** 2 + (yy * spacing[1]) ** 2 + (xx * spacing[2]) ** 2 <= radius_mm**2


def _box(seed: np.ndarray, half_mm: float, spacing: tuple[float, float, float], shape: tuple[int, ...]) -> tuple[slice, ...]:
    out = []
    for c, s, n in zip(seed, spacing, shape, strict=True):
        r = int(np.ceil(half_mm / s))
        c = int(round(float(c)))
        out.append(slice(max(c - r, 0), min(c + r + 1, n)))
    return tuple(out)


def smooth(image_zyx: np.ndarray, spacing: tuple[float, float, float], sigma_mm: float, in_plane_only: bool = True) -> np.ndarray:
    """Gaussian smoothing with a physical sigma (float32 result)."""
    sigma = [0.0 if (in_plane_only and k == 0) else sigma_mm / s for k, s in enumerate(spacing)]
    return ndimage.gaussian_filter(image_zyx.astype(np.float32, copy=False), sigma=sigma, mode="nearest")


def histogram_mode(values: np.ndarray, bin_hu: float = 4.0) -> float | None:
    """Centre of the most populated bin (lightly smoothed histogram); ``None`` if empty."""
    if values.size == 0:
        return None
    lo, hi = float(values.min()), float(values.max())
    nbins = max(1, int(np.ceil((hi - lo) / bin_hu)))
    counts, edges = np.histogram(values, bins=nbins, range=(lo, lo + nbins * bin_hu))
    counts = ndimage.uniform_filter1d(counts.astype(float), size=3, mode="constant")
    k = int(np.argmax(counts))
    return float((edges[k] + edges[k + 1]) / 2.0)


def _sphere_median(image: np.ndarray, centre: np.ndarray, radius_mm: float, spacing: tuple[float, float, float]) -> float:
    ball = _ball(radius_mm, spacing)
    r = np.array(ball.shape) // 2
    c = np.round(centre).astype(int)
    lo = c - r
    sl = tuple(slice(max(l, 0), min(l + n, dim)) for l, n, dim in zip(lo, ball.shape, image.shape, strict=True))
    bsl = tuple(slice(s.start - l, s.stop - l) for s, l in zip(sl, lo, strict=True))
    return float(np.median(image[sl][ball[bsl]]))


def _region(
    smoothed: np.ndarray, seed: tuple[int, int, int], threshold: float, lower: float, spacing: tuple[float, float, float]
) -> np.ndarray | None:
    """Connected region of the seed within ``[lower, threshold]``, holes filled, bridges cut."""
    candidate = (smoothed <= threshold) & (smoothed >= lower)
    if not candidate[seed]:
        return None
    labels, _ = ndimage.label(candidate)
    region = labels == labels[seed]
    region = ndimage.binary_fill_holes(region)
    opened = ndimage.binary_opening(region, structure=ndimage.generate_binary_structure(3, 1)[1:2])
    if opened[seed]:
        labels, _ = ndimage.label(opened)
        region = ndimage.binary_fill_holes(labels == labels[seed])
    return region


def _touches_border(mask: np.ndarray, box: tuple[slice, ...], shape: tuple[int, ...]) -> bool:
    """True if the mask reaches a face of the box that is not also the image border."""
    for axis, (s, n) in enumerate(zip(box, shape, strict=True)):
        lo_face = np.take(mask, 0, axis=axis)
        hi_face = np.take(mask, mask.shape[axis] - 1, axis=axis)
        if (s.start > 0 and lo_face.any()) or (s.stop < n and hi_face.any()):
            return True
    return False


class CtLesionSegmenter:
    """Seeded CT segmentation of a hypodense lesion (see module docstring)."""

    name = "ct-threshold-halfway"

    def __init__(self, config: CtLesionConfig | None = None) -> None:
        self.config = config or CtLesionConfig()

    def segment(
        self, image_zyx: np.ndarray, spacing_zyx: tuple[float, float, float], seed_zyx: tuple[float, float, float]
    ) -> LesionSegmentation:
        cfg = self.config
        seed = np.asarray(seed_zyx, dtype=float)
        half = cfg.search_half_size_mm
        while True:
            result = self._segment_in_box(image_zyx, spacing_zyx, seed, half)
            if result is not None:
                return result
            if half >= cfg.max_search_half_size_mm:
                return not_found(
                    f"no closed lesion boundary within {cfg.max_search_half_size_mm:.0f} mm of the seed (region leaks)",
                    tuple(seed_zyx),
                )
            half = min(2 * half, cfg.max_search_half_size_mm)

    def _segment_in_box(
        self, image_zyx: np.ndarray, spacing: tuple[float, float, float], seed: np.ndarray, half_mm: float
    ) -> LesionSegmentation | None:
        """Segmentation in a box; ``None`` when the region leaks out of the box."""
        cfg = self.config
        box = _box(seed, half_mm, spacing, image_zyx.shape)
        offset = np.array([s.start for s in box])
        local_seed = tuple(int(v) for v in np.clip(np.round(seed - offset), 0, np.array([s.stop - s.start for s in box]) - 1))
        seed_t = tuple(float(v) for v in seed)
        smoothed = smooth(image_zyx[box], spacing, cfg.smoothing_mm)
        lesion = _sphere_median(smoothed, np.asarray(local_seed), cfg.seed_radius_mm, spacing)
        brighter = smoothed[(smoothed > lesion + cfg.min_contrast_hu) & (smoothed < lesion + 300.0)]
        background = histogram_mode(brighter)
        if background is None or brighter.size < 50:
            return not_found(f"no tissue brighter than the seed region ({lesion:.0f} HU) around it", seed_t)
        region = None
        threshold = lower = float("nan")
        for _ in range(2):
            contrast = background - lesion
            if contrast < cfg.min_contrast_hu:
                return not_found(f"no hypodense lesion at the seed (contrast {contrast:.0f} HU)", seed_t)
            threshold = lesion + contrast / 2.0
            lower = lesion - contrast
            region = _region(smoothed, local_seed, threshold, lower, spacing)
            if region is None:
                return not_found("seed voxel is not darker than the half-way level", seed_t)
            interior = ndimage.binary_erosion(region, structure=ndimage.generate_binary_structure(3, 1)[1:2])
            if interior.sum() >= 5:
                lesion = float(np.median(smoothed[interior]))
        assert region is not None
        if _touches_border(region, box, image_zyx.shape):
            return None
        volume_ml = float(region.sum()) * float(np.prod(spacing)) / 1000.0
        if volume_ml < cfg.min_volume_ml:
            return not_found(f"region at the seed too small ({volume_ml * 1000:.0f} mm3)", seed_t)
        if volume_ml > cfg.max_volume_ml:
            return not_found(f"region at the seed too large ({volume_ml:.0f} ml), not a lesion", seed_t)
        noise = float(np.std(image_zyx[box][region].astype(np.float32) - smoothed[region])) if region.sum() > 10 else 0.0
        cnr = (background - lesion) / max(noise, 1.0)
        zs, ys, xs = np.nonzero(region)
        crop = (slice(zs.min(), zs.max() + 1), slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1))
        return LesionSegmentation(
            found=True,
            reason="",
            seed_zyx=seed_t,
            mask_zyx=region[crop].copy(),
            offset_zyx=tuple(int(o + c.start) for o, c in zip(offset, crop, strict=True)),  # type: ignore[arg-type]
            lesion_hu=lesion,
            background_hu=background,
            threshold_hu=threshold,
            confidence=float(np.clip(cnr / 5.0, 0.0, 1.0)),
        )
