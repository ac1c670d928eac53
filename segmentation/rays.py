"""Rays from a centre, star-shaped radius fields on the sphere, and their partial-volume rasterisation.

Positions are millimetres ``index * spacing`` (z, y, x) of the array sampled. A *radius field* is one radius
per direction of a quasi-uniform direction set; :func:`fit_radii` smooths it with real spherical harmonics
(Tikhonov penalty ``lam * (l (l + 1))^2`` per coefficient of degree ``l``, Tukey-reweighted against
outlying rays) and :func:`star_surface` turns the fitted radii into a
:class:`segmentation.surface.StarSurface` for rasterisation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from segmentation.surface import StarSurface, fibonacci_sphere, real_sh, sh_degrees, sh_series


@dataclass(frozen=True, eq=False)
class DirectionSet:
    """``n`` quasi-uniform unit directions (z, y, x) and, for each, its ``k`` nearest neighbours (itself first)."""

    u: np.ndarray
    neighbours: np.ndarray

    @classmethod
    def make(cls, n: int, k: int = 9) -> DirectionSet:
        u = fibonacci_sphere(n)
        _, nb = cKDTree(u).query(u, k=min(k, n))
        return cls(u, nb)

    def __len__(self) -> int:
        return len(self.u)

    def neighbour_median(self, values: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        """Median of each direction's neighbourhood (entries with zero weight left out when possible)."""
        v = values[self.neighbours]
        if weights is None:
            return np.median(v, axis=1)
        w = weights[self.neighbours] > 0
        masked = np.where(w, v, np.nan)
        with np.errstate(all="ignore"):
            out = np.nanmedian(masked, axis=1)
        return np.where(np.isfinite(out), out, np.median(v, axis=1))


def sample_rays(
    image: np.ndarray, spacing: np.ndarray, centre_mm: np.ndarray, u: np.ndarray, radii_mm: np.ndarray
) -> np.ndarray:
    """Trilinear samples ``(n_dirs, n_radii)`` of ``image`` at ``centre + r u`` (outside the array: nearest edge)."""
    pts = centre_mm[None, None, :] + radii_mm[None, :, None] * u[:, None, :]
    coords = (pts / spacing).reshape(-1, 3).T
    out = ndimage.map_coordinates(image, coords, order=1, mode="nearest")
    return out.reshape(len(u), len(radii_mm))


def fit_radii(
    u: np.ndarray,
    radii: np.ndarray,
    weights: np.ndarray,
    l_max: int,
    lam: float,
    robust: bool = True,
    iterations: int = 4,
) -> tuple[np.ndarray, np.ndarray]:
    """Smooth radii: weighted, Tikhonov-regularised spherical-harmonic fit; returns (coefficients, weights used).

    With ``robust``, rays whose residual exceeds 4 robust sd (at least 0.5 mm) get zero weight (Tukey
    biweight), so that a few rays that leaked or stopped early do not bend the surface.
    """
    basis = real_sh(u, l_max)
    degrees = sh_degrees(l_max)
    penalty = lam * (degrees * (degrees + 1.0)) ** 2
    w = np.asarray(weights, dtype=float).copy()
    coef = np.zeros(basis.shape[1])
    for _ in range(iterations if robust else 1):
        a = basis.T @ (basis * w[:, None]) + np.diag(penalty)
        coef = np.linalg.solve(a + 1e-9 * np.eye(len(a)), basis.T @ (w * radii))
        if not robust:
            break
        res = radii - basis @ coef
        good = weights > 0
        scale = max(1.4826 * float(np.median(np.abs(res[good]))) if good.any() else 1.0, 0.5)
        z = res / (4.0 * scale)
        w = np.where(np.abs(z) < 1.0, (1.0 - z**2) ** 2, 0.0) * weights
    return coef, w


def radius_from_coef(u: np.ndarray, coef: np.ndarray) -> np.ndarray:
    l_max = int(round(np.sqrt(len(coef)))) - 1
    return real_sh(u, l_max) @ coef


def star_surface(centre_mm: np.ndarray, u: np.ndarray, radii: np.ndarray, l_max: int) -> StarSurface:
    """A :class:`StarSurface` (``q = r^-2``) through the radii along ``u``.

    ``q`` is fitted in degree ``l_max + 2``, raised (up to 16) until the surface reproduces the radii within
    1 % everywhere (a smooth radius field has a smooth but not a band-limited ``r^-2``).
    """
    q = 1.0 / np.maximum(radii, 0.05) ** 2
    surface = None
    for l in range(l_max + 2, 17, 2):
        basis = real_sh(u, l)
        coef = np.linalg.lstsq(basis, q, rcond=None)[0]
        surface = StarSurface(np.asarray(centre_mm, dtype=float).copy(), coef, l)
        if np.all(basis @ coef > 0) and np.max(np.abs(surface.radius(u) / radii - 1.0)) < 0.01:
            break
    assert surface is not None
    return surface


def star_centroid(centre_mm: np.ndarray, u: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Centroid (mm) of the star-shaped body ``|p - c| <= r(u)`` from radii on quasi-uniform directions."""
    return centre_mm + 0.75 * (radii[:, None] ** 4 * u).sum(0) / (radii**3).sum()


def star_volume_mm3(radii: np.ndarray) -> float:
    return float(4.0 * np.pi * np.mean(radii**3) / 3.0)


def fit_radii_selected(
    u: np.ndarray,
    radii: np.ndarray,
    weights: np.ndarray,
    degrees: tuple[int, ...],
    lam: float,
    n_independent: float,
) -> tuple[np.ndarray, int, float]:
    """:func:`fit_radii` at the degree (among ``degrees``) with the smallest Bayesian information criterion.

    BIC = ``n log(rss / n) + p log(n)`` with ``n = n_independent`` (rays closer than the image's resolution
    are not independent) and ``rss`` the Tukey-weighted mean square residual times ``n``. Returns the
    coefficients (padded to the largest degree), the degree and the robust residual sd (mm).
    """
    best = None
    l_top = max(degrees)
    for l in sorted(degrees):
        coef, w = fit_radii(u, radii, weights, l, lam)
        res = radii - radius_from_coef(u, coef)
        good = w > 0
        if good.sum() < 10:
            continue
        msr = float(np.sum(w * res**2) / np.sum(w))
        n = max(float(n_independent), (l + 1) ** 2 + 2.0)
        bic = n * np.log(max(msr, 1e-6)) + (l + 1) ** 2 * np.log(n)
        if best is None or bic < best[0]:
            padded = np.zeros((l_top + 1) ** 2)
            padded[: coef.size] = coef
            best = (bic, padded, l, float(np.sqrt(msr)))
    if best is None:
        coef, _ = fit_radii(u, radii, weights, min(degrees), lam)
        padded = np.zeros((l_top + 1) ** 2)
        padded[: coef.size] = coef
        return padded, min(degrees), float("inf")
    return best[1], best[2], best[3]


def rasterise_star(
    centre_mm: np.ndarray,
    coef: np.ndarray,
    spacing: np.ndarray,
    shape: tuple[int, ...],
    sub_mm: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Partial-volume fractions of the star-shaped body ``|p - c| <= r(u)`` (``r`` a spherical-harmonic series
    with coefficients ``coef``) on a grid: each voxel near the surface is cut into sub-voxels of about
    ``sub_mm`` and its fraction is the share of sub-voxel centres inside. Returns the fractions (float32,
    cropped to the body plus one voxel) and the crop start (voxel index)."""
    r_max = float(sh_series(fibonacci_sphere(2000), coef).max()) * 1.05 + float(spacing.max())
    lo = np.maximum(np.floor((centre_mm - r_max) / spacing).astype(int) - 1, 0)
    hi = np.minimum(np.ceil((centre_mm + r_max) / spacing).astype(int) + 2, shape)
    grids = np.meshgrid(*[np.arange(a, b) for a, b in zip(lo, hi)], indexing="ij")
    idx = np.stack([g.ravel() for g in grids], axis=1)
    d = idx * spacing - centre_mm
    rho = np.linalg.norm(d, axis=1)
    u = d / np.maximum(rho, 1e-9)[:, None]
    s = sh_series(u, coef) - rho
    half_diagonal = 0.5 * float(np.linalg.norm(spacing))
    frac = (s > 0).astype(np.float32)
    band = np.flatnonzero(np.abs(s) <= 1.5 * half_diagonal)
    n_sub = [max(1, int(np.ceil(sp / sub_mm))) for sp in spacing]
    offsets = np.stack(
        np.meshgrid(*[((np.arange(n) + 0.5) / n - 0.5) * sp for n, sp in zip(n_sub, spacing)], indexing="ij"), -1
    ).reshape(-1, 3)
    chunk = max(1, 200_000 // len(offsets))
    for k in range(0, band.size, chunk):
        sel = band[k : k + chunk]
        p = (d[sel][:, None, :] + offsets[None, :, :]).reshape(-1, 3)
        rp = np.linalg.norm(p, axis=1)
        up = p / np.maximum(rp, 1e-9)[:, None]
        inside = (sh_series(up, coef) - rp) > 0
        frac[sel] = inside.reshape(len(sel), len(offsets)).mean(axis=1)
    mask = frac.reshape(grids[0].shape)
    nz = np.argwhere(mask > 0)
    if nz.size == 0:
        return mask, lo
    a = np.maximum(nz.min(0) - 1, 0)
    b = np.minimum(nz.max(0) + 2, mask.shape)
    return np.ascontiguousarray(mask[a[0] : b[0], a[1] : b[1], a[2] : b[2]]), lo + a
