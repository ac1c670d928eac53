"""Where a lesion is: the connected region around a seed whose tissue differs from the liver parenchyma.

Works on a coarse copy of the crop (block means of about 1.5 mm) smoothed at a scale ``sigma_mm``:

* **Parenchyma model**: level ``B`` and spread ``sd`` of the liver at that scale: the histogram mode of the
  organ's voxels in the crop (within 20 HU of the whole organ's level, away from the seed), and the
  narrower half-width at half maximum of that mode's peak / 1.1774 (other tissues widen a peak on one side
  only). Without an organ, the crop's soft tissue.
* **Classes**: *foreign* (fat and air, below ``fat_hu``; outside the allowed organ region), *dark*
  (``< B - tol``), *bright* (``> B + tol``), ``tol = max(k sd, min_hu)``; the rest is parenchyma-like.
* **Region**: the dark-or-bright component at the seed (or the nearest within 5 mm; with a reader's line,
  every component its middle 70 % crosses); bridges thinner than 40 % of the region's depth at the seed
  (1-5 mm) are cut by an opening; holes are filled in 3D and on every axial slice.
* **Polarity**: when the tissue at the seed (and along a reader's line) is of one kind (dark or bright),
  parts of the other kind stay in the region only when 70 % of them lie within ``max(6 mm, half the main
  part's depth)`` of the main part (an enhancing rim, a calcification, tumour beside a dense deposit); a
  vessel or a neighbouring organ that merely touches the lesion runs away from it and is dropped.
* **Iso-like seed** (neither dark nor bright): the region of tissue beyond half the seed's contrast.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from segmentation.levels import histogram_mode
from segmentation.morphology import bounding_box, dilate_mm, distance_mm, distance_to_mm, erode_mm, fill_holes
from segmentation.working_grid import integer_block_means

#: how every "nothing here but liver" reason starts (a follow-up lesion that is gone)
NO_LESION = "no lesion at the seed"


@dataclass(frozen=True, eq=False)
class CoarseGrid:
    """Block means (about ``target_mm``) of a crop: coarse index ``i`` is centred at ``origin_mm + i * spacing``
    (crop-local mm)."""

    raw: np.ndarray
    organ: np.ndarray  # organ fraction per block
    allowed: np.ndarray  # allowed fraction per block
    spacing: np.ndarray
    origin_mm: np.ndarray

    def index(self, points_mm: np.ndarray) -> np.ndarray:
        return (np.asarray(points_mm) - self.origin_mm) / self.spacing

    def smoothed(self, sigma_mm: float) -> np.ndarray:
        return ndimage.gaussian_filter(self.raw, [sigma_mm / s for s in self.spacing], mode="nearest")


def block_mean(a: np.ndarray, f: np.ndarray) -> np.ndarray:
    """float32 means of the whole blocks of ``f`` voxels (exact integer sums where ``a`` holds integers)."""
    n = [max(dim // k, 1) for dim, k in zip(a.shape, f)]
    f = np.minimum(f, a.shape)
    a = a[: n[0] * f[0], : n[1] * f[1], : n[2] * f[2]]
    if a.dtype.kind not in "biu":
        a = np.asarray(a, dtype=np.float32)
    means = integer_block_means(a, f)
    if means is None:
        means = np.asarray(a, dtype=np.float32).reshape(n[0], f[0], n[1], f[1], n[2], f[2]).mean(axis=(1, 3, 5))
    return means


def coarse_grid(
    raw: np.ndarray, organ: np.ndarray, allowed: np.ndarray, spacing: np.ndarray, target_mm: float
) -> CoarseGrid:
    f = np.array([max(1, int(round(target_mm / s))) for s in spacing])
    return CoarseGrid(
        block_mean(raw, f), block_mean(organ, f), block_mean(allowed, f), spacing * f, (f - 1) / 2.0 * spacing
    )


def organ_allowed(organ_fraction: np.ndarray, spacing: np.ndarray, close_mm: float, margin_mm: float) -> np.ndarray:
    """Where a lesion may lie (float 0/1): the organ closed by ``close_mm`` (a lesion at its border leaves a
    notch in an organ mask that stops at the lesion), holes filled, grown by ``margin_mm``."""
    organ = organ_fraction >= 0.5
    if not organ.any():
        return np.ones(organ.shape, np.float32)
    pad = [int(np.ceil((close_mm + margin_mm) / s)) + 1 for s in spacing]  # room for the closing and the margin
    padded = np.pad(organ, [(p, p) for p in pad])
    closed = fill_holes(erode_mm(dilate_mm(padded, close_mm, spacing), close_mm, spacing) | padded)
    allowed = dilate_mm(closed, margin_mm, spacing)
    return allowed[tuple(slice(p, -p) for p in pad)].astype(np.float32)


def organ_hull_allowed(organ_fraction: np.ndarray, spacing: np.ndarray, margin_mm: float) -> np.ndarray:
    """Where a lesion may lie when the seed is outside the (closed) organ mask, as when the organ's own
    segmentation left out a large tumour at its border (float 0/1): the convex hull of the organ on every
    axial slice, grown by ``margin_mm``."""
    from skimage.morphology import convex_hull_image

    organ = organ_fraction >= 0.5
    hull = np.zeros(organ.shape, bool)
    for z in range(organ.shape[0]):
        if organ[z].sum() >= 3:
            hull[z] = convex_hull_image(organ[z])
    return (ndimage.distance_transform_edt(~hull, sampling=spacing) <= margin_mm).astype(np.float32)


@dataclass(frozen=True)
class Parenchyma:
    level_hu: float
    sd_hu: float


def peak_sd(values: np.ndarray, mode: float, bin_hu: float = 1.0) -> float:
    """Standard deviation of the histogram peak at ``mode``: its narrower half-width at half maximum / 1.1774."""
    lo, hi = mode - 60.0, mode + 60.0
    v = values[(values > lo) & (values < hi)]
    if v.size < 50:
        return 5.0
    counts, edges = np.histogram(v, bins=int((hi - lo) / bin_hu), range=(lo, hi))
    counts = ndimage.gaussian_filter1d(counts.astype(float), 1.5)
    k = int(np.clip(np.argmin(np.abs(0.5 * (edges[:-1] + edges[1:]) - mode)), 0, len(counts) - 1))
    half = 0.5 * counts[max(k - 3, 0) : k + 4].max()
    left = k
    while left > 0 and counts[left] > half:
        left -= 1
    right = k
    while right < len(counts) - 1 and counts[right] > half:
        right += 1
    return float(min(k - left, right - k) * bin_hu / 1.1774)


def parenchyma(
    w: np.ndarray,
    grid: CoarseGrid,
    organ_level_hu: float | None,
    seed_idx: np.ndarray,
    exclude_mm: float,
    fat_hu: float,
) -> Parenchyma:
    """The liver's level and spread at the scale of ``w`` (see module docstring)."""
    grid_idx = np.ogrid[tuple(slice(0, n) for n in w.shape)]  # broadcast: one index array per axis
    d2 = sum(((grid_idx[k].astype(np.float32) - seed_idx[k]) * grid.spacing[k]) ** 2 for k in range(3))
    soft = (w > fat_hu) & (w < 300.0) & (d2 > exclude_mm**2)
    if organ_level_hu is not None:
        soft &= np.abs(w - organ_level_hu) < 20.0
    pool = w[soft & (grid.organ > 0.5)]
    if pool.size < 200:
        pool = w[soft]
    level = histogram_mode(pool, bin_hu=1.0, min_count=50)
    if level is None:
        level = organ_level_hu if organ_level_hu is not None else (float(np.median(pool)) if pool.size else 0.0)
    return Parenchyma(float(level), max(peak_sd(pool, level), 2.0))


def ball(radius_mm: float, spacing: np.ndarray) -> np.ndarray:
    r = [max(1, int(np.floor(radius_mm / s))) for s in spacing]
    zz, yy, xx = np.ogrid[-r[0] : r[0] + 1, -r[1] : r[1] + 1, -r[2] : r[2] + 1]
    return (zz * spacing[0]) ** 2 + (yy * spacing[1]) ** 2 + (xx * spacing[2]) ** 2 <= radius_mm**2 + 1e-9


def _clip_index(idx: np.ndarray, shape: tuple[int, ...]) -> tuple[int, int, int]:
    return tuple(int(v) for v in np.clip(np.round(idx).astype(int), 0, np.asarray(shape) - 1))  # type: ignore[return-value]


def component_near(
    cand: np.ndarray, seed_idx: np.ndarray, spacing: np.ndarray, within_mm: float, line_idx: np.ndarray | None
) -> np.ndarray | None:
    """The component of ``cand`` at the seed, else the nearest one within ``within_mm``; plus every component
    that the middle 70 % of a reader's line crosses (``line_idx``: two points), or that holds one of
    ``line_idx``'s points (more than two: an earlier lesion's core)."""
    lab, n = ndimage.label(cand)
    if n == 0:
        return None
    keep: set[int] = set()
    if line_idx is not None:
        if len(line_idx) == 2:
            points = [line_idx[0] + t * (line_idx[1] - line_idx[0]) for t in np.linspace(0.15, 0.85, 25)]
        else:
            points = list(line_idx)
        for p in points:
            i = _clip_index(p, cand.shape)
            if lab[i]:
                keep.add(int(lab[i]))
    i = _clip_index(seed_idx, cand.shape)
    if lab[i]:
        keep.add(int(lab[i]))
    if not keep:
        r = [int(np.ceil(within_mm / s)) for s in spacing]
        box = tuple(slice(max(c - k, 0), c + k + 1) for c, k in zip(i, r))
        pts = np.argwhere(lab[box] > 0) + [b.start for b in box]
        if not len(pts):
            return None
        dist = np.linalg.norm((pts - np.asarray(i)) * spacing, axis=1)
        j = int(np.argmin(dist))
        if dist[j] > within_mm:
            return None
        keep.add(int(lab[tuple(pts[j])]))
    return np.isin(lab, list(keep))


def cut_bridges(region: np.ndarray, seed_idx: np.ndarray, spacing: np.ndarray, necks: bool = True) -> np.ndarray:
    """Open by a ball of 40 % of the region's depth (1-5 mm), keep the part at (or nearest to) the seed and
    give back its surface detail (dilation by the same ball, within the region); then (``necks``) cut it at
    its necks (:func:`split_at_necks`)."""
    opened = _open_at_seed(region, seed_idx, spacing)
    return split_at_necks(opened, seed_idx, spacing) if necks else opened


def _seed_box(region: np.ndarray, seed_idx: np.ndarray) -> tuple[tuple[slice, ...], tuple[int, ...]]:
    """The region's bounding box grown by one voxel and stretched to hold the seed's voxel, and that voxel's index
    in the box. The region's depth (distance to the nearest voxel outside it) and what lies between the region
    and the seed are the same there as on the whole grid; outside the box there is nothing of the region."""
    at = _clip_index(seed_idx, region.shape)
    box = tuple(
        slice(min(s.start, c), max(s.stop, c + 1)) for s, c in zip(bounding_box(region, margin=1), at, strict=True)
    )
    return box, tuple(c - s.start for c, s in zip(at, box, strict=True))


def _in_box(part: np.ndarray, box: tuple[slice, ...], shape: tuple[int, ...]) -> np.ndarray:
    """A mask of the box on the whole grid."""
    out = np.zeros(shape, dtype=bool)
    out[box] = part
    return out


def _label_at_or_nearest(labels: np.ndarray, index: tuple[int, ...]) -> int:
    """The label at ``index``, or, where that voxel is unlabelled (0), the label of the labelled voxel nearest to it
    (in voxels; ties as scipy's feature transform breaks them)."""
    label = int(labels[index])
    if label == 0:
        near = ndimage.distance_transform_edt(labels == 0, return_distances=False, return_indices=True)
        label = int(labels[tuple(near[k][index] for k in range(labels.ndim))])
    return label


def _open_at_seed(region: np.ndarray, seed_idx: np.ndarray, spacing: np.ndarray) -> np.ndarray:
    if not region.any():
        return region
    box, i = _seed_box(region, seed_idx)
    sub = region[box]
    depth = ndimage.distance_transform_edt(sub, sampling=spacing)
    radius = float(np.clip(0.4 * float(depth.max()), 1.0, 5.0))
    opened = ndimage.binary_opening(sub, structure=ball(radius, spacing))
    if not opened.any():
        return region
    lab, n = ndimage.label(opened)
    if n > 1:
        opened = lab == _label_at_or_nearest(lab, i)
    return _in_box(ndimage.binary_dilation(opened, structure=ball(radius, spacing)) & sub, box, region.shape)


def split_at_necks(region: np.ndarray, seed_idx: np.ndarray, spacing: np.ndarray, ratio: float = 0.5) -> np.ndarray:
    """The part of ``region`` around the seed, cut where it narrows between two blobs (a lesion touching a
    gallbladder, a vessel, another lesion).

    Watershed of the region's depth (distance to its border) from its deep points (local maxima at least
    a third of the deepest); neighbouring basins are merged, starting from the seed's, while the depth at the
    deepest point of their shared border (the neck) is at least ``ratio`` times the shallower of their two
    peaks: a lobulated lesion stays whole, two blobs joined by a neck are cut.
    """
    from skimage.segmentation import watershed

    if not region.any():
        return region
    box, i = _seed_box(region, seed_idx)
    sub = region[box]
    depth = ndimage.distance_transform_edt(sub, sampling=spacing)
    top = float(depth.max())
    if top <= 0:
        return region
    peaks = (depth == ndimage.maximum_filter(depth, size=3)) & (depth >= top / 3.0) & sub
    markers, n = ndimage.label(peaks, structure=np.ones((3, 3, 3)))
    if n <= 1:
        return region
    basins = watershed(-depth, markers, mask=sub)
    peak_depth = np.asarray(ndimage.maximum(depth, basins, index=np.arange(1, n + 1)))
    # deepest shared border point of every pair of touching basins
    saddle: dict[tuple[int, int], float] = {}
    for axis in range(3):
        a = np.moveaxis(basins, axis, 0)
        da = np.moveaxis(depth, axis, 0)
        b1, b2 = a[:-1], a[1:]
        touch = (b1 != b2) & (b1 > 0) & (b2 > 0)
        if not touch.any():
            continue
        d = np.minimum(da[:-1][touch], da[1:][touch])
        for p, q, v in zip(b1[touch], b2[touch], d):
            key = (int(min(p, q)), int(max(p, q)))
            if v > saddle.get(key, -1.0):
                saddle[key] = float(v)
    keep = {_label_at_or_nearest(basins, i)}
    grown = True
    while grown:
        grown = False
        for (p, q), v in saddle.items():
            if (p in keep) != (q in keep):
                other = q if p in keep else p
                if v >= ratio * min(peak_depth[p - 1], peak_depth[q - 1]):
                    keep.add(other)
                    grown = True
    return _in_box(np.isin(basins, list(keep)), box, region.shape)


def fill(region: np.ndarray) -> np.ndarray:
    """Holes filled in 3D and on every axial slice (necrosis, calcification, vessels inside a lesion).

    On the region's bounding box grown by one voxel: a hole is the part of the box's outside that does not reach
    the box's faces, as on the whole grid."""
    if not region.any():
        return np.zeros(region.shape, dtype=bool)
    box = bounding_box(region, margin=1)
    out = ndimage.binary_fill_holes(region[box])
    for z in range(out.shape[0]):
        if out[z].any():
            out[z] = ndimage.binary_fill_holes(out[z])
    return _in_box(out, box, region.shape)


def lesion_region(
    w: np.ndarray,
    grid: CoarseGrid,
    par: Parenchyma,
    seed_idx: np.ndarray,
    line_idx: np.ndarray | None,
    sample_hu: np.ndarray,
    k: float,
    min_hu: float,
    fat_hu: float,
    w_fine: np.ndarray | None = None,
    within_mm: float = 5.0,
    dense_hu: float = 150.0,
) -> np.ndarray | str:
    """The lesion's region on the coarse grid (module docstring), or why there is none."""
    sp = grid.spacing
    b = par.level_hu
    tol = max(k * par.sd_hu, min_hu)
    d = w - b
    foreign = (w < fat_hu) | (grid.allowed < 0.5)
    dark = (d < -tol) & ~foreign
    bright = (d > tol) & ~foreign
    tol2 = max(1.5 * par.sd_hu, min_hu)  # tissue of the other polarity beside the main part: a looser test
    ds = np.asarray(sample_hu) - b
    f_dark, f_bright = float(np.mean(ds < -tol)), float(np.mean(ds > tol))
    nothing = f"{NO_LESION}: nothing distinct from the liver ({b:.0f} +- {tol:.0f} HU) within {within_mm:.0f} mm"
    if w_fine is not None and _dense_at(w_fine, seed_idx, sp) - b > dense_hu:
        dense_region = _around_dense(w_fine, grid, b, tol2, seed_idx, line_idx, dense_hu, fat_hu)
        if dense_region is not None:
            return dense_region
    if f_dark < 0.3 and f_bright < 0.3:
        c = float(np.median(ds))
        if abs(c) < 0.5 * min_hu:
            return (
                f"{NO_LESION}: its tissue ({b + c:.0f} HU) is not distinct from the liver "
                f"({b:.0f} +- {par.sd_hu:.0f} HU)"
            )
        region = component_near((d * np.sign(c) > abs(c) / 2.0) & ~foreign, seed_idx, sp, within_mm, line_idx)
        return nothing if region is None else fill(cut_bridges(region, seed_idx, sp))
    region = component_near(dark | bright, seed_idx, sp, within_mm, line_idx)
    if region is None:
        return nothing
    region = cut_bridges(region, seed_idx, sp)
    if f_dark >= 0.1 and f_bright >= 0.1:
        return fill(region)  # darker and brighter tissue at the seed: one lesion of mixed attenuation
    if f_dark >= f_bright:
        primary, secondary, loose = dark, bright, (d > tol2) & ~foreign
    else:
        primary, secondary, loose = bright, dark, (d < -tol2) & ~foreign
    main = region & primary
    if not main.any():
        return fill(region)
    near_mm = max(6.0, 0.5 * float(distance_mm(main, sp).max()))
    dist = distance_to_mm(main, sp, near_mm)  # inf beyond near_mm
    keep = main.copy()
    lab, n = ndimage.label(region & secondary)
    for j in range(1, n + 1):
        comp = lab == j
        if float(np.mean(dist[comp] <= near_mm)) >= 0.7:
            keep |= comp
    # fainter tissue of the other polarity that wraps the main part (a thin or faint rim; the tumour around a
    # calcification or a deposit) joins it
    band = (dist > 0) & (dist <= 2.5)
    if band.any() and float(np.mean(loose[band])) >= 0.5:
        lab, _ = ndimage.label(loose & (dist <= near_mm))
        touching = np.unique(lab[band & loose])
        keep |= np.isin(lab, touching[touching > 0])
    return fill(cut_bridges(keep, seed_idx, sp))


def _dense_at(w_fine: np.ndarray, seed_idx: np.ndarray, spacing: np.ndarray, radius_mm: float = 2.5) -> float:
    """The highest value of ``w_fine`` within ``radius_mm`` of the seed."""
    i = _clip_index(seed_idx, w_fine.shape)
    r = [int(np.ceil(radius_mm / s)) for s in spacing]
    box = tuple(slice(max(c - k, 0), c + k + 1) for c, k in zip(i, r))
    return float(w_fine[box].max())


def _around_dense(
    w_fine: np.ndarray,
    grid: CoarseGrid,
    b: float,
    tol: float,
    seed_idx: np.ndarray,
    line_idx: np.ndarray | None,
    dense_hu: float,
    fat_hu: float,
) -> np.ndarray | None:
    """A dense seed (calcification, iodised oil, ``> B + dense_hu``): the dense part plus the soft-tissue lesion
    around it, when at least 30 % of a 3-6 mm shell around the dense part (beyond its blur) is darker (or
    brighter) than the liver by ``tol``; on the lightly smoothed image, which the dense part floods least."""
    sp = grid.spacing
    d = w_fine - b
    foreign = (w_fine < fat_hu) | (grid.allowed < 0.5)
    dense = component_near(d > dense_hu, seed_idx, sp, 3.0, line_idx)
    if dense is None:
        return None
    dist = distance_to_mm(dense, sp, 6.0)  # inf beyond 6 mm
    shell = (dist > 3.0) & (dist <= 6.0) & ~foreign  # beyond the dense part's blur
    if not shell.any():
        return None
    halo = dist <= 3.0
    for tissue in ((d < -tol) & ~foreign, (d > tol) & (d <= dense_hu) & ~foreign):
        if float(np.mean(tissue[shell])) >= 0.3:
            region = component_near(tissue | halo, seed_idx, sp, 3.0, line_idx)
            if region is not None:
                return fill(cut_bridges(region, seed_idx, sp, necks=False))
    return fill(dense)


def touches_crop(region: np.ndarray, box: tuple[slice, slice, slice], image_shape: tuple[int, ...]) -> bool:
    """True when the region reaches a face of the crop that is not the image's border."""
    for axis, (s, n) in enumerate(zip(box, image_shape)):
        if s.start > 0 and np.take(region, 0, axis=axis).any():
            return True
        if s.stop < n and np.take(region, region.shape[axis] - 1, axis=axis).any():
            return True
    return False


def shell_level(w: np.ndarray, region: np.ndarray, spacing: np.ndarray, level: float, fat_hu: float) -> float:
    """Histogram mode of ``w`` 3-12 mm outside the region, within 15 HU of ``level`` (else ``level``)."""
    dist = distance_to_mm(region, spacing, 12.0)  # inf beyond 12 mm
    shell = (dist >= 3.0) & (dist <= 12.0) & (np.abs(w - level) < 15.0) & (w > fat_hu)
    mode = histogram_mode(w[shell], bin_hu=1.0, min_count=100)
    return level if mode is None else mode


def exit_radii(region: np.ndarray, grid: CoarseGrid, centre_mm: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Distance from ``centre_mm`` along each direction to where it first leaves ``region`` (mm)."""
    step = 0.5
    rr = np.arange(0.0, float(np.linalg.norm(np.asarray(region.shape) * grid.spacing)), step)
    pts = centre_mm[None, None, :] + rr[None, :, None] * u[:, None, :]
    coords = grid.index(pts).reshape(-1, 3).T
    inside = ndimage.map_coordinates(region.astype(np.float32), coords, order=1, mode="constant", cval=0.0)
    outside = inside.reshape(len(u), rr.size) < 0.5
    first = np.where(outside.any(axis=1), np.argmax(outside, axis=1), rr.size - 1)
    return np.maximum(rr[first] - 0.5 * step, 0.5)
