"""Insert a lesion into a real CT so that the scan's own noise texture stays.

For a lesion with shape ``S`` and contrast ``c(p)`` (HU relative to the liver level ``B`` at the site):

1. **Partial volume.** Each voxel's fraction inside ``S`` is the fraction of its ``n_z x n_y x n_x``
   regularly spaced sub-points inside (a box filter over the voxel, sub-points at most 0.4 mm apart);
   voxels away from the surface (radial distance beyond one half-diagonal and all eight corners on the
   same side) are taken whole. The voxel's *lesion attenuation* is ``B + mean(c)`` over its inside sub-points
   (voxel centres for whole voxels).
2. **Replacement contrast.** ``delta = f * (B + c - A)``, with ``f`` the fraction and ``A`` the underlying
   anatomy: the scan smoothed by a 1.5 mm Gaussian (liver, or a vessel the lesion displaces).
3. **Scanner blur.** ``delta`` is blurred by the scanner's Gaussian point-spread function (``psf_sigma_mm``
   in all three directions; the slice profile's box is already in step 1) and *added* to the scan: inside
   the lesion the image becomes ``B + c`` plus the scan's own noise (its part above the 1.5 mm smoothing).

The fraction map ``f`` is the truth for Dice; the exact volume and diameters come from the shape
(:mod:`sample_data.hybrid.shape`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from sample_data.hybrid.appearance import Appearance
from sample_data.hybrid.backgrounds import Background
from sample_data.hybrid.shape import StarShape

ANATOMY_SMOOTHING_MM = 1.5
MAX_SUB_STEP_MM = 0.4
_CHUNK = 20_000


@dataclass(frozen=True, eq=False)
class Rendered:
    """A lesion rasterised on a background's grid, in the box ``offset_zyx + shape``."""

    offset_zyx: tuple[int, int, int]
    fraction_zyx: np.ndarray  # float32 partial-volume fraction
    attenuation_zyx: np.ndarray  # float32, lesion HU relative to the liver (mean contrast of the inside part)

    @property
    def box(self) -> tuple[slice, slice, slice]:
        return tuple(slice(o, o + n) for o, n in zip(self.offset_zyx, self.fraction_zyx.shape))  # type: ignore[return-value]


def _box(bg: Background, shape: StarShape, margin_mm: float) -> tuple[slice, slice, slice]:
    lo, hi = shape.bounds(margin_mm)
    ilo = np.floor(bg.lps_to_index(lo)).astype(int)
    ihi = np.ceil(bg.lps_to_index(hi)).astype(int) + 1
    return tuple(
        slice(max(int(a), 0), min(int(b), n))
        for a, b, n in zip(np.minimum(ilo, ihi), np.maximum(ilo, ihi), bg.shape_zyx)
    )  # type: ignore[return-value]


def render(bg: Background, shape: StarShape, appearance: Appearance) -> Rendered:
    """Partial-volume fraction and mean contrast of every voxel near ``shape`` (see module docstring)."""
    margin = 4.0 * bg.psf_sigma_mm + 2.0 * max(bg.spacing_zyx)
    box = _box(bg, shape, margin)
    grids = np.meshgrid(*[np.arange(s.start, s.stop) for s in box], indexing="ij")
    idx = np.stack([g.ravel() for g in grids], axis=1).astype(float)
    centres = bg.index_to_lps(idx)
    spacing_xyz = np.asarray(bg.spacing_zyx)[::-1]
    half_diagonal = 0.5 * float(np.linalg.norm(spacing_xyz))
    s = shape.radial_distance(centres)
    corners = np.array([[i, j, k] for i in (-0.5, 0.5) for j in (-0.5, 0.5) for k in (-0.5, 0.5)]) * spacing_xyz
    near = np.abs(s) < half_diagonal
    mixed = np.zeros(len(centres), bool)
    far = np.flatnonzero(~near & (np.abs(s) < 8.0 * half_diagonal))
    if far.size:
        inside_c = np.stack([shape.contains(centres[far] + c) for c in corners], axis=1)
        mixed[far] = inside_c.any(axis=1) & ~inside_c.all(axis=1)
    band = near | mixed
    frac = (s >= 0).astype(np.float64)
    contrast_sum = np.zeros(len(centres))
    whole = np.flatnonzero(~band & (s >= 0))
    for k in range(0, whole.size, _CHUNK):
        sel = whole[k : k + _CHUNK]
        contrast_sum[sel] = appearance.contrast_hu(shape, centres[sel])
    n_sub = [max(2, int(np.ceil(sp / MAX_SUB_STEP_MM))) for sp in spacing_xyz]
    steps = [((np.arange(n) + 0.5) / n - 0.5) * sp for n, sp in zip(n_sub, spacing_xyz)]
    offsets = np.stack(np.meshgrid(*steps, indexing="ij"), -1).reshape(-1, 3)
    band_idx = np.flatnonzero(band)
    per_chunk = max(1, _CHUNK * 10 // len(offsets))
    for k in range(0, band_idx.size, per_chunk):
        sel = band_idx[k : k + per_chunk]
        pts = centres[sel][:, None, :] + offsets[None, :, :]
        inside = shape.contains(pts)
        frac[sel] = inside.mean(axis=1)
        if inside.any():
            values = np.zeros(inside.shape)
            values[inside] = appearance.contrast_hu(shape, pts[inside])
            contrast_sum[sel] = values.sum(axis=1) / len(offsets)
    shape_box = tuple(sl.stop - sl.start for sl in box)
    fraction = frac.reshape(shape_box).astype(np.float32)
    with np.errstate(invalid="ignore", divide="ignore"):
        attenuation = np.where(frac > 0, contrast_sum / np.maximum(frac, 1e-12), 0.0).reshape(shape_box)
    z0, y0, x0 = (int(sl.start) for sl in box)
    return Rendered((z0, y0, x0), fraction, attenuation.astype(np.float32))


def anatomy(bg: Background, box: tuple[slice, slice, slice]) -> np.ndarray:
    """The scan smoothed by a 1.5 mm Gaussian over ``box`` (computed with a margin, so edges are exact)."""
    pad = [int(np.ceil(4.0 * ANATOMY_SMOOTHING_MM / s)) for s in bg.spacing_zyx]
    big = tuple(slice(max(b.start - p, 0), min(b.stop + p, n)) for b, p, n in zip(box, pad, bg.shape_zyx))
    sm = ndimage.gaussian_filter(bg.image_zyx[big], [ANATOMY_SMOOTHING_MM / s for s in bg.spacing_zyx], mode="nearest")
    inner = tuple(slice(b.start - g.start, b.stop - g.start) for b, g in zip(box, big))
    return sm[inner]


def insert(image_zyx: np.ndarray, bg: Background, rendered: Rendered, liver_level_hu: float) -> None:
    """Add the blurred replacement contrast of ``rendered`` to ``image_zyx`` (in place; see module docstring)."""
    box = rendered.box
    a = anatomy(bg, box)
    delta = rendered.fraction_zyx * (liver_level_hu + rendered.attenuation_zyx - a)
    blurred = ndimage.gaussian_filter(delta, [bg.psf_sigma_mm / s for s in bg.spacing_zyx], mode="constant")
    image_zyx[box] += blurred.astype(image_zyx.dtype)
