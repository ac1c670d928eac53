"""Finding a target again at a follow-up, where the registration puts it, or saying that it is not there.

What the baseline (reference timepoint) says of a lesion: its segmented
centroid, the seed its segmentation grew from, its equivalent-sphere radius
``R`` and its :class:`Appearance`, probed around the centroid:

* ``inner_hu``: median of the image in a ball of radius ``max(R / 2, 1.5 mm)``;
* ``outer_hu``: median of the soft-tissue voxels (-50 to 250 HU) of the shell
  ``1.25 R + 2 mm`` to ``1.25 R + 7 mm`` from the centre (the tissue around);
* ``contrast_hu = inner_hu - outer_hu`` (negative: hypodense);
* ``seed_hu``: the image smoothed by ``sigma = clip(R / 4, 1, 3) mm`` at the
  seed, relative to ``outer_hu`` (how lesion-like the seed point is).

:func:`locate_lesion` probes the follow-up the same way at the baseline
centroid and seed mapped by the registration, and decides:

1. **Present where mapped**: the contrast has the baseline's sign and at
   least half its size. The mapped baseline seed is used when it is at least
   as lesion-like as at baseline or beyond half the baseline contrast (the
   same scan again gives the same seed, hence the same segmentation), else
   step 2 chooses the seed. A lesion whose baseline contrast is below
   ``min_contrast_hu`` (or without soft tissue around it) cannot be told from
   its surroundings by the probe: its mapped seed is used unchecked (said in
   ``how``).
2. **Moved a little**: otherwise the voxels beyond half the baseline contrast
   (smoothed image, relative to the follow-up's ``outer_hu``; hypodense ones
   not darker than air, fat or gas would be) form regions; the one containing
   the mapped centroid, else the nearest within ``search_radius_mm``, gives the
   seed at its deepest point *within* ``search_radius_mm`` of the mapped
   centroid: the seed never moves farther than that, whatever the region's
   extent (a larger darker structure nearby is not followed).
3. **Not there**: no such region within ``search_radius_mm``: not found,
   ``absent`` (nothing of the baseline's appearance is left where it should
   be), with the reason.

The segmentation from that seed is then checked by the caller (its centroid
must stay near the mapped centroid), so that a neighbour is never measured in
place of the target.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

SOFT_TISSUE_HU = (-50.0, 250.0)
_MIN_REGION_ML = 0.03


@dataclass(frozen=True)
class Appearance:
    """A lesion's look around a centre (HU; see the module docstring)."""

    inner_hu: float
    outer_hu: float
    seed_hu: float  # smoothed image at the seed minus outer_hu

    @property
    def contrast_hu(self) -> float:
        return self.inner_hu - self.outer_hu


@dataclass(frozen=True)
class Located:
    """Where to start the follow-up segmentation (``seed_zyx`` ``None``: not found, see ``reason``)."""

    seed_zyx: tuple[float, float, float] | None
    how: str  # how the seed was chosen
    reason: str = ""  # why there is no seed
    absent: bool = False  # nothing of the baseline's appearance where the registration puts the lesion
    appearance: Appearance | None = None  # the follow-up probed at the mapped centroid


def smoothing_mm(radius_mm: float) -> float:
    return float(np.clip(radius_mm / 4.0, 1.0, 3.0))


def _box(shape: tuple[int, ...], centre_zyx: np.ndarray, half_mm: float, spacing: np.ndarray) -> tuple[slice, ...]:
    lo = np.maximum(np.floor(centre_zyx - half_mm / spacing).astype(int), 0)
    hi = np.minimum(np.ceil(centre_zyx + half_mm / spacing).astype(int) + 1, shape)
    return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))


def _distance_mm(shape: tuple[int, ...], centre_local: np.ndarray, spacing: np.ndarray) -> np.ndarray:
    grid = np.indices(shape, dtype=float)
    return np.sqrt(sum(((grid[k] - centre_local[k]) * spacing[k]) ** 2 for k in range(3)))


def _sample(smoothed: np.ndarray, point_local: np.ndarray) -> float:
    index = np.clip(np.round(point_local).astype(int), 0, np.asarray(smoothed.shape) - 1)
    return float(smoothed[tuple(index)])


def _outer_radii(radius_mm: float) -> tuple[float, float]:
    return 1.25 * radius_mm + 2.0, 1.25 * radius_mm + 7.0


def probe(
    image_zyx: np.ndarray,
    spacing_zyx: tuple[float, float, float],
    centre_zyx: tuple[float, float, float],
    seed_zyx: tuple[float, float, float],
    radius_mm: float,
) -> Appearance | None:
    """The :class:`Appearance` around ``centre_zyx`` (``None`` when the shell holds no soft tissue)."""
    spacing = np.asarray(spacing_zyx, dtype=float)
    centre, seed = np.asarray(centre_zyx, dtype=float), np.asarray(seed_zyx, dtype=float)
    sigma = smoothing_mm(radius_mm)
    r_out = _outer_radii(radius_mm)[1]
    reach = max(r_out, float(np.linalg.norm((seed - centre) * spacing))) + 3.0 * sigma + 2.0
    box = _box(image_zyx.shape, centre, reach, spacing)
    patch = image_zyx[box].astype(np.float64)
    lo = np.array([s.start for s in box], dtype=float)
    dist = _distance_mm(patch.shape, centre - lo, spacing)
    inner = patch[dist <= max(radius_mm / 2.0, 1.5)]
    r1, r2 = _outer_radii(radius_mm)
    shell = patch[(dist > r1) & (dist <= r2)]
    shell = shell[(shell >= SOFT_TISSUE_HU[0]) & (shell <= SOFT_TISSUE_HU[1])]
    if inner.size == 0 or shell.size == 0:
        return None
    outer = float(np.median(shell))
    smoothed = ndimage.gaussian_filter(patch, sigma / spacing)
    return Appearance(float(np.median(inner)), outer, _sample(smoothed, seed - lo) - outer)


def locate_lesion(
    image_zyx: np.ndarray,
    spacing_zyx: tuple[float, float, float],
    centroid_zyx: tuple[float, float, float],
    seed_zyx: tuple[float, float, float],
    baseline: Appearance | None,
    radius_mm: float,
    search_radius_mm: float = 12.0,
    min_contrast_hu: float = 5.0,
) -> Located:
    """Where to segment a target at a follow-up (see the module docstring).

    ``centroid_zyx`` and ``seed_zyx`` are the baseline centroid and seed
    mapped into this image (voxel indices); ``baseline`` and ``radius_mm``
    describe the lesion at baseline.
    """
    mapped_seed = tuple(float(v) for v in seed_zyx)
    if baseline is None:
        return Located(mapped_seed, "baseline seed mapped (presence not checked: no soft tissue around it at baseline)")  # type: ignore[arg-type]
    contrast = baseline.contrast_hu
    if abs(contrast) < min_contrast_hu:
        how = f"baseline seed mapped (presence not checked: baseline contrast {contrast:+.0f} HU)"
        return Located(mapped_seed, how)  # type: ignore[arg-type]
    sign = -1.0 if contrast < 0 else 1.0
    kind = "hypodense" if contrast < 0 else "hyperdense"
    here = probe(image_zyx, spacing_zyx, centroid_zyx, seed_zyx, radius_mm)
    if here is None:
        return Located(None, "", "no soft tissue around where the registration puts the lesion", absent=False)
    half = 0.5 * abs(contrast)
    present = sign * here.contrast_hu >= half
    if present and sign * here.seed_hu >= min(half, sign * baseline.seed_hu):
        return Located(mapped_seed, "baseline seed mapped", appearance=here)  # type: ignore[arg-type]
    return _nearest_region(
        image_zyx, spacing_zyx, centroid_zyx, here, sign * half, radius_mm, search_radius_mm, kind, contrast
    )


def _nearest_region(
    image_zyx: np.ndarray,
    spacing_zyx: tuple[float, float, float],
    centroid_zyx: tuple[float, float, float],
    here: Appearance,
    threshold_hu: float,
    radius_mm: float,
    search_radius_mm: float,
    kind: str,
    contrast_hu: float,
) -> Located:
    """Step 2 of the module docstring: the deepest point, within the search radius, of the nearest region
    beyond ``threshold_hu`` (signed, relative to the follow-up's tissue level)."""
    spacing = np.asarray(spacing_zyx, dtype=float)
    centre = np.asarray(centroid_zyx, dtype=float)
    sigma = smoothing_mm(radius_mm)
    box = _box(image_zyx.shape, centre, search_radius_mm + 2.0 * radius_mm + 3.0 * sigma + 5.0, spacing)
    lo = np.array([s.start for s in box], dtype=float)
    smoothed = ndimage.gaussian_filter(image_zyx[box].astype(np.float64), sigma / spacing) - here.outer_hu
    if threshold_hu < 0:  # hypodense, but not air, fat or gas
        like = (smoothed <= threshold_hu) & (smoothed >= -max(150.0, 3.0 * abs(contrast_hu)))
    else:
        like = smoothed >= threshold_hu
    where = f"within {search_radius_mm:.0f} mm of where the registration puts it"
    missing = Located(
        None,
        "",
        f"no {kind} region (baseline contrast {contrast_hu:+.0f} HU to the tissue around) {where}",
        absent=True,
        appearance=here,
    )
    labels, n = ndimage.label(like)
    if n == 0:
        return missing
    index = np.arange(1, n + 1)
    dist = _distance_mm(like.shape, centre - lo, spacing)
    volumes = ndimage.sum_labels(like, labels, index) * float(np.prod(spacing)) / 1000.0
    nearest = np.where(volumes >= _MIN_REGION_ML, ndimage.minimum(dist, labels, index), np.inf)
    best = int(np.argmin(nearest))
    if not np.isfinite(nearest[best]) or nearest[best] > search_radius_mm:
        return missing
    region = labels == best + 1
    depth = ndimage.distance_transform_edt(region, sampling=spacing)
    score = np.where(region & (dist <= search_radius_mm), depth - 1e-3 * dist, -np.inf)
    local = np.array(np.unravel_index(int(np.argmax(score)), score.shape), dtype=float)
    seed = local + lo
    moved = float(np.linalg.norm((seed - centre) * spacing))
    return Located(
        tuple(float(v) for v in seed),  # type: ignore[arg-type]
        f"deepest point of the nearest {kind} region, {moved:.1f} mm from the mapped centroid",
        appearance=here,
    )
