"""Where a lesion's edge is, ray by ray: the crossing of the level half-way between the tissue just inside and
what lies just outside.

Along each ray from the lesion's centre, on the lightly smoothed image:

* inside level: median of the profile in a window ``inner`` mm inside the current edge estimate (moved half
  a voxel further in for coarse voxels, so that it stays clear of the blurred edge), median over the
  direction's neighbours;
* outside level: the same 1.5-4.5 mm outside; the liver's level when that is parenchyma (within ``tol``),
  else what is there (fat at the capsule, a vessel, another organ);
* edge: the crossing of the half-way level nearest to the current estimate, within
  ``max(reach_mm, 0.3 r)``; it counts (weight 1) when the inside and outside levels differ by 3 times the
  spread of the pooled outside levels over the liver (at least 3 HU).

The half-level surface of a blurred curved edge lies inside the true one by about
``sum over the tangent directions t of (t^T V t) / (2 r)`` (``V``: the blur's variance per axis; a
curvature flow of the blur). :func:`blur_correction_mm` returns that shift for ``V`` = the edge smoothing +
the voxel's box (``s^2 / 12``) + linear interpolation (``s^2 / 6``) + an assumed scanner point-spread
function, times a factor calibrated on noise-free ellipsoids (0.6: the box and the interpolation do not blur
a level set as much as a Gaussian of the same variance).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from segmentation.rays import DirectionSet, sample_rays


def crossings(
    image: np.ndarray,
    allowed: np.ndarray,
    spacing: np.ndarray,
    centre: np.ndarray,
    dirs: DirectionSet,
    r_prev: np.ndarray,
    level: float,
    tol: float,
    inner: tuple[float, float],
    reach_mm: float = 4.0,
    step_mm: float = 0.25,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edge radius per direction, its weight (1: an edge was found, 0: none) and the local contrast (HU)."""
    reach = np.maximum(reach_mm, 0.3 * r_prev)
    rr = np.arange(0.0, float((r_prev + reach).max()) + 6.0, step_mm)
    prof = sample_rays(image, spacing, centre, dirs.u, rr)
    outside_organ = sample_rays(allowed, spacing, centre, dirs.u, rr) < 0.5
    r_allowed = np.where(outside_organ.any(axis=1), rr[np.argmax(outside_organ, axis=1)], np.inf)
    d0 = 0.5 * np.sqrt((dirs.u**2) @ spacing**2)
    hi_in = np.maximum(r_prev - inner[0] - d0, 0.5 * r_prev)
    lo_in = np.maximum(r_prev - inner[1] - d0, 0.0)
    lo_out, hi_out = r_prev + 1.5 + d0, r_prev + 4.5 + d0
    win_in = (rr[None, :] >= lo_in[:, None]) & (rr[None, :] <= hi_in[:, None])
    win_out = (rr[None, :] >= lo_out[:, None]) & (rr[None, :] <= hi_out[:, None])
    with np.errstate(all="ignore"):
        lev_in = np.nanmedian(np.where(win_in, prof, np.nan), axis=1)
        lev_out = np.nanmedian(np.where(win_out, prof, np.nan), axis=1)
    lev_in = dirs.neighbour_median(np.where(np.isfinite(lev_in), lev_in, level))
    lev_out = dirs.neighbour_median(np.where(np.isfinite(lev_out), lev_out, level))
    liver_out = np.abs(lev_out - level) <= tol
    spread = float(1.4826 * np.median(np.abs(lev_out[liver_out] - level))) if liver_out.sum() > 20 else tol / 2.5
    lev_out = np.where(liver_out, level, lev_out)
    contrast = lev_in - lev_out
    evidence = np.abs(contrast) >= max(3.0 * spread, 3.0)
    mid = 0.5 * (lev_in + lev_out)
    sdev = np.sign(contrast)[:, None] * (prof - mid[:, None])  # > 0 on the lesion's side
    near = np.abs(rr[None, :] - r_prev[:, None]) <= reach[:, None]
    cross = (sdev[:, :-1] > 0) & (sdev[:, 1:] <= 0) & near[:, :-1] & near[:, 1:]
    frac = sdev[:, :-1] / np.where(cross, sdev[:, :-1] - sdev[:, 1:], 1.0)
    pos = rr[None, :-1] + frac * step_mm
    dist = np.where(cross, np.abs(pos - r_prev[:, None]), np.inf)
    n = len(dirs)
    j = np.argmin(dist, axis=1)
    has = np.isfinite(dist[np.arange(n), j])
    r_new = np.minimum(np.where(has, pos[np.arange(n), j], r_prev), r_allowed)
    return r_new, (evidence & has).astype(float), contrast


def blur_correction_mm(
    u: np.ndarray,
    radii: np.ndarray,
    spacing: np.ndarray,
    smoothing_mm: float,
    psf_mm: float,
    factor: float,
) -> np.ndarray:
    """Outward shift (mm) of the half-level surface to the true edge, per direction (module docstring)."""
    var = smoothing_mm**2 + spacing**2 / 12.0 + spacing**2 / 6.0 + psf_mm**2
    tangential = var.sum() - (u**2) @ var
    return factor * tangential / (2.0 * np.maximum(radii, 0.5))


def enclosing_shell(
    image: np.ndarray,
    spacing: np.ndarray,
    centre: np.ndarray,
    dirs: DirectionSet,
    r_edge: np.ndarray,
    level: float,
    tol: float,
    max_shell_mm: float = 8.0,
    step_mm: float = 0.25,
) -> tuple[np.ndarray, np.ndarray]:
    """A shell of the other polarity around the edge (an enhancing rim around a necrotic centre, hypodense
    tumour around a dense deposit): per direction, the radius of the shell's outer edge (else ``r_edge``),
    and per direction 1 where it shows the shell (all 0 when there is none).

    A shell is there when, just outside the edge (0.75-3 mm), the tissue differs from the liver by twice the
    spread of the same window medians over the liver (at least 4 HU; median over the directions), with the
    opposite sign of the tissue just inside (1-3 mm, beyond ``tol``). A direction shows it when its own
    shell window has that sign (beyond one spread) and, further out (``max_shell_mm``), the liver resumes or
    tissue beyond the liver on the other side lies (lung, fat, muscle: the shell ends at the capsule or the
    diaphragm); the shell's edge is the last crossing of the level half-way
    between the shell's peak (within 5 mm of the edge) and the liver.
    """
    rr = np.arange(0.0, float(r_edge.max()) + max_shell_mm + 6.0, step_mm)
    prof = sample_rays(image, spacing, centre, dirs.u, rr)
    prof = prof[dirs.neighbours].mean(axis=1)

    def window(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        sel = (rr[None, :] >= lo[:, None]) & (rr[None, :] <= hi[:, None])
        with np.errstate(all="ignore"):
            out = np.nanmedian(np.where(sel, prof, np.nan), axis=1)
        return np.where(np.isfinite(out), out, level)

    inside = window(np.maximum(r_edge - 3.0, 0.0), np.maximum(r_edge - 1.0, 0.5 * r_edge)) - level
    shell = window(r_edge + 0.75, r_edge + 3.0) - level
    beyond = window(r_edge + max_shell_mm - 2.0, r_edge + max_shell_mm + 2.0) - level
    liver = np.abs(beyond) < tol
    # significance: the spread of the same window medians over the liver beyond
    spread = float(1.4826 * np.median(np.abs(beyond[liver]))) if liver.sum() > 20 else tol / 2.5
    # the shell is judged over all directions (its median), then followed where each direction agrees
    polarity = -np.sign(np.median(inside))
    if not (np.median(shell) * polarity >= max(2.0 * spread, 4.0) and np.abs(np.median(inside)) >= tol):
        return r_edge, np.zeros(len(r_edge))
    # further out, the liver resumes, or tissue of the other side (lung, fat, muscle beyond a rim at the capsule)
    ends = liver | (beyond * polarity < -tol)
    shows = (np.sign(shell) == polarity) & (np.abs(shell) >= spread) & ends
    # the half-way level below the shell's peak (a thin blurred shell's median lies below its level)
    zone0 = (rr[None, :] >= r_edge[:, None]) & (rr[None, :] <= (r_edge + 5.0)[:, None])
    peak = polarity * np.max(np.where(zone0, polarity * (prof - level), -np.inf), axis=1)
    mid = 0.5 * np.where(np.isfinite(peak), peak, shell)
    sdev = np.sign(shell)[:, None] * (prof - level - mid[:, None])  # > 0 in the shell
    zone = (rr[None, :] >= r_edge[:, None]) & (rr[None, :] <= (r_edge + max_shell_mm)[:, None])
    cross = (sdev[:, :-1] > 0) & (sdev[:, 1:] <= 0) & zone[:, :-1] & zone[:, 1:]
    frac = sdev[:, :-1] / np.where(cross, sdev[:, :-1] - sdev[:, 1:], 1.0)
    pos = np.where(cross, rr[None, :-1] + frac * step_mm, -np.inf)
    outer = pos.max(axis=1)
    ok = shows & np.isfinite(outer)
    return np.where(ok, outer, r_edge), ok.astype(float)


def surroundings_unlike_liver(
    image: np.ndarray,
    allowed: np.ndarray,
    spacing: np.ndarray,
    centre: np.ndarray,
    dirs: DirectionSet,
    r_final: np.ndarray,
    level: float,
    tol: float,
    fat_hu: float,
    near_mm: tuple[float, float] = (2.0, 5.0),
    polarity: float = -1.0,
) -> tuple[float, float, float]:
    """Share of the outline where the tissue just outside it (``near_mm`` beyond the edge, median along each
    ray over it and its neighbours) still differs from the liver by more than ``tol``: where the lesion goes
    on beyond the measured edge (a necrotic centre inside its rim, a deposit inside its tumour). Directions
    that leave the allowed organ, or meet fat, are not counted; 0 when none is left.

    Also returns the halo: the median over the counted directions of that tissue's difference from the
    liver, signed by the lesion's ``polarity`` (-1 darker, +1 brighter than the liver; HU): a fainter layer
    of the lesion's own kind all around the edge found (a hypodense halo around a necrotic core) shows as a
    clearly positive halo while most single directions stay within ``tol``; and the share of the directions
    counted.
    """
    rr = np.arange(near_mm[0], near_mm[1] + 1e-9, 0.5)
    radii = r_final[:, None] + rr[None, :]
    pts = centre[None, None, :] + radii[:, :, None] * dirs.u[:, None, :]
    coords = (pts / spacing).reshape(-1, 3).T
    prof = ndimage.map_coordinates(image, coords, order=1, mode="nearest").reshape(radii.shape)
    inside_organ = ndimage.map_coordinates(allowed, coords, order=1, mode="constant", cval=0.0).reshape(radii.shape)
    prof = prof[dirs.neighbours].mean(axis=1)
    counted = (inside_organ.min(axis=1) >= 0.5) & (prof.min(axis=1) > fat_hu)
    if not counted.any():
        return 0.0, 0.0, 0.0
    deviation = np.median(prof, axis=1) - level
    unlike = np.abs(deviation) > tol
    return float(np.mean(unlike[counted])), float(polarity * np.median(deviation[counted])), float(counted.mean())
