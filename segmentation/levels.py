"""Intensity helpers shared by the segmenters: smoothing, histogram modes, balls and search boxes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage


def smooth(
    image_zyx: np.ndarray, spacing_zyx: Sequence[float], sigma_mm: float, in_plane_only: bool = True
) -> np.ndarray:
    """Gaussian smoothing with a physical sigma (float32); ``in_plane_only`` leaves z alone (thick slices)."""
    sigma = [0.0 if (in_plane_only and k == 0) else sigma_mm / s for k, s in enumerate(spacing_zyx)]
    return ndimage.gaussian_filter(np.asarray(image_zyx, dtype=np.float32), sigma=sigma, mode="nearest")


def histogram_mode(values: np.ndarray, bin_hu: float = 2.0, min_count: int = 50) -> float | None:
    """Centre of the most populated bin of a Gaussian-smoothed (2 bins) histogram; ``None`` for < ``min_count`` values."""
    if values.size < min_count or values.size == 0:
        return None
    lo = float(values.min())
    nbins = max(1, int(np.ceil((float(values.max()) - lo) / bin_hu)) + 1)
    counts, edges = np.histogram(values, bins=nbins, range=(lo, lo + nbins * bin_hu))
    counts = ndimage.gaussian_filter1d(counts.astype(float), 2.0, mode="constant")
    k = int(np.argmax(counts))
    return float((edges[k] + edges[k + 1]) / 2.0)


def ball(radius_mm: float, spacing_zyx: Sequence[float] | np.ndarray) -> np.ndarray:
    """Boolean ball of ``radius_mm`` on a grid of the given spacing (at least one voxel in each direction)."""
    r = [max(1, int(np.floor(radius_mm / s))) for s in spacing_zyx]
    zz, yy, xx = np.ogrid[-r[0] : r[0] + 1, -r[1] : r[1] + 1, -r[2] : r[2] + 1]
    dz, dy, dx = spacing_zyx
    return (zz * dz) ** 2 + (yy * dy) ** 2 + (xx * dx) ** 2 <= radius_mm**2 + 1e-9


def search_box(
    seed_zyx: Sequence[float] | np.ndarray,
    half_mm: float,
    spacing_zyx: Sequence[float] | np.ndarray,
    shape: Sequence[int],
) -> tuple[slice, slice, slice]:
    """Index slices of a box of half-size ``half_mm`` around a voxel, clipped to the image."""
    out = []
    for c, s, n in zip(seed_zyx, spacing_zyx, shape, strict=True):
        r = int(np.ceil(half_mm / s))
        c = int(round(float(c)))
        out.append(slice(max(c - r, 0), min(c + r + 1, n)))
    return tuple(out)  # type: ignore[return-value]


def touches_box_face(mask: np.ndarray, box: Sequence[slice], shape: Sequence[int]) -> bool:
    """True when the mask reaches a face of ``box`` that is not also the image border."""
    for axis, (s, n) in enumerate(zip(box, shape, strict=True)):
        if s.start > 0 and np.take(mask, 0, axis=axis).any():
            return True
        if s.stop < n and np.take(mask, mask.shape[axis] - 1, axis=axis).any():
            return True
    return False


def label_medians(values: np.ndarray, labels: np.ndarray, n: int) -> np.ndarray:
    """Median of ``values`` over each label 1..``n`` of ``labels`` (the mean of the two middle values for an even
    count, as :func:`scipy.ndimage.median`, in the values' dtype), from the labelled voxels alone."""
    inside = labels > 0
    v, lab = values[inside], labels[inside]
    order = np.lexsort((v, lab))
    v = v[order]
    counts = np.bincount(lab, minlength=n + 1)[1 : n + 1]
    if np.any(counts == 0):
        raise ValueError("every label 1..n needs at least one voxel")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    low, high = v[starts + (counts - 1) // 2], v[starts + counts // 2]
    if np.issubdtype(low.dtype, np.floating):
        return (low + high) / low.dtype.type(2)
    return (low.astype(np.float64) + high) / 2.0  # integers: no overflow of their sum
