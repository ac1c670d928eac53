"""Re-centring a seed mapped from the baseline onto the lesion at a follow-up.

Registration carries the baseline seed close to the lesion; the lesion may
have shrunk, grown or moved a little, so the mapped point may fall just
outside it. The seed is moved to the deepest point (largest distance to the
region's border) of the hypodense region nearest to the mapped point, within
``radius_mm``. A hypodense region is darker than the surrounding soft tissue
by at least ``max(min_contrast_hu, 4 x noise)`` (noise: robust SD of the
smoothed image around the point) and holds at least ``min_volume_ml``, so
that noise texture is not taken for a lesion. If no such region exists the
lesion is reported as not found: it is never replaced by a farther neighbour.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from segmentation.levels import histogram_mode, smooth


@dataclass(frozen=True)
class Recentred:
    seed_zyx: tuple[float, float, float] | None
    shift_mm: float | None
    reason: str


def recentre_seed(
    image_zyx: np.ndarray,
    spacing_zyx: tuple[float, float, float],
    seed_zyx: tuple[float, float, float],
    radius_mm: float = 12.0,
    min_contrast_hu: float = 15.0,
    smoothing_mm: float = 1.5,
    min_volume_ml: float = 0.03,
) -> Recentred:
    """Move ``seed_zyx`` to the nearest hypodense region within ``radius_mm`` (see module docstring)."""
    spacing = np.asarray(spacing_zyx, dtype=float)
    seed = np.asarray(seed_zyx, dtype=float)
    half = radius_mm + 30.0
    lo = np.maximum(np.floor(seed - half / spacing).astype(int), 0)
    hi = np.minimum(np.ceil(seed + half / spacing).astype(int) + 1, image_zyx.shape)
    box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    sm = smooth(image_zyx[box], spacing_zyx, smoothing_mm, in_plane_only=False)
    soft = sm[(sm > -50.0) & (sm < 250.0)]
    background = histogram_mode(soft)
    if background is None:
        return Recentred(None, None, "no soft tissue around the mapped seed")
    tissue = sm[np.abs(sm - background) < 30.0]
    noise = float(1.4826 * np.median(np.abs(tissue - np.median(tissue)))) if tissue.size else 0.0
    dark = (sm <= background - max(min_contrast_hu, 4.0 * noise)) & (sm >= background - 150.0)
    voxel_ml = float(np.prod(spacing)) / 1000.0
    local = seed - lo
    grid = np.indices(sm.shape, dtype=float)
    dist = np.sqrt(sum(((grid[k] - local[k]) * spacing[k]) ** 2 for k in range(3)))
    labels, n = ndimage.label(dark)
    if n == 0:
        return Recentred(None, None, f"no hypodense region within {radius_mm:.0f} mm of the mapped seed")
    sizes = ndimage.sum_labels(dark, labels, index=np.arange(1, n + 1)) * voxel_ml
    nearest = np.where(sizes >= min_volume_ml, ndimage.minimum(dist, labels, index=np.arange(1, n + 1)), np.inf)
    best = int(np.argmin(nearest))
    if nearest[best] > radius_mm:
        return Recentred(None, None, f"no hypodense region within {radius_mm:.0f} mm of the mapped seed")
    component = labels == best + 1
    depth = ndimage.distance_transform_edt(component, sampling=spacing)
    # Deepest point, preferring points near the mapped seed among equally deep ones.
    score = depth - 1e-3 * dist
    new_local = np.array(np.unravel_index(int(np.argmax(score)), score.shape), dtype=float)
    new_seed = new_local + lo
    shift = float(np.linalg.norm((new_seed - seed) * spacing))
    return Recentred(tuple(float(v) for v in new_seed), shift, "")  # type: ignore[arg-type]
