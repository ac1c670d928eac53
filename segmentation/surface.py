"""Star-shaped lesion surfaces and their partial-volume rasterisation.

A surface is ``r(u) = q(u)^(-1/2)`` about a centre (mm), for unit directions
``u`` (z, y, x), with ``q`` a real spherical-harmonic series of degree
``<= l_max``; degrees 0 and 2 about the right centre are exactly an ellipsoid
(``q = u^T M u``).

The *lesion fraction* of a voxel is the mean over its sub-voxels of
``clip(0.5 + s / w, 0, 1)``, with ``s = r(u) - rho`` the radial signed distance
of the sub-voxel centre (mm, > 0 inside) and ``w`` the sub-voxel extent along
``u``: a box filter, the exact partial volume of a locally planar surface.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np


def sh_degrees(l_max: int) -> np.ndarray:
    """Degree ``l`` of each basis function, in basis order."""
    return np.array([l for l in range(l_max + 1) for _ in range(2 * l + 1)])


def _sh_terms(u: np.ndarray, l_max: int) -> Iterator[tuple[int, int, np.ndarray, np.ndarray, np.ndarray]]:
    """For each degree ``l`` and order ``m >= 0`` (m outer, l inner): ``(l, m, k P~_l^m(z), C_m, S_m)`` with ``k``
    the normalisation (times sqrt(2) for m > 0); ``Y_l^m = k P~ C_m`` and ``Y_l^-m = k P~ S_m``."""
    z, y, x = u[:, 0], u[:, 1], u[:, 2]
    n = len(u)
    # P~_l^m(z) = P_l^m(z) / sin^m: polynomials in z; C_m + i S_m = (x + i y)^m carries the azimuth.
    cm, smm = np.ones(n), np.zeros(n)
    for m in range(l_max + 1):
        if m > 0:
            cm, smm = x * cm - y * smm, x * smm + y * cm
        p_prev = np.full(n, float(np.prod(np.arange(1, 2 * m, 2))) * (-1) ** m)
        p_prev2 = None
        for l in range(m, l_max + 1):
            if l == m:
                p = p_prev
            elif l == m + 1:
                p = z * (2 * m + 1) * p_prev
            else:
                assert p_prev2 is not None
                p = ((2 * l - 1) * z * p_prev - (l + m - 1) * p_prev2) / (l - m)
            if l > m:
                p_prev2, p_prev = p_prev, p
            norm = math.sqrt((2 * l + 1) / (4 * math.pi) * math.factorial(l - m) / math.factorial(l + m))
            yield l, m, (norm if m == 0 else math.sqrt(2) * norm) * p, cm, smm


def real_sh(u: np.ndarray, l_max: int) -> np.ndarray:
    """Orthonormal real spherical harmonics of degrees 0..l_max at unit vectors ``u`` (N, 3), axes (z, y, x)."""
    out = np.empty((len(u), (l_max + 1) ** 2))
    for l, m, kp, cm, smm in _sh_terms(u, l_max):
        base = l * l + l
        if m == 0:
            out[:, base] = kp
        else:
            out[:, base + m] = kp * cm
            out[:, base - m] = kp * smm
    return out


def sh_series(u: np.ndarray, coef: np.ndarray) -> np.ndarray:
    """``real_sh(u, l_max) @ coef`` (``l_max`` from the number of coefficients) without the basis matrix: the
    series summed order by order (equal up to rounding, several times faster for many points)."""
    l_max = int(round(math.sqrt(len(coef)))) - 1
    total = np.zeros(len(u))
    cos_sum, sin_sum = np.zeros(len(u)), np.zeros(len(u))
    order, azimuth = 0, (np.ones(len(u)), np.zeros(len(u)))
    for l, m, kp, cm, smm in _sh_terms(u, l_max):
        if m != order:  # the previous order's sums are complete
            total += cos_sum * azimuth[0] + sin_sum * azimuth[1]
            cos_sum, sin_sum = np.zeros(len(u)), np.zeros(len(u))
            order = m
        azimuth = (cm, smm)
        base = l * l + l
        cos_sum += coef[base + m] * kp
        if m > 0:
            sin_sum += coef[base - m] * kp
    return total + cos_sum * azimuth[0] + sin_sum * azimuth[1]


def _fibonacci_sphere(n: int) -> np.ndarray:
    k = np.arange(n) + 0.5
    phi = np.arccos(1 - 2 * k / n)
    theta = np.pi * (1 + 5**0.5) * k
    return np.stack([np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta) * np.sin(phi)], axis=1)


def fibonacci_sphere(n: int) -> np.ndarray:
    """``n`` quasi-uniform unit directions (z, y, x)."""
    k = np.arange(n) + 0.5
    phi = np.arccos(1 - 2 * k / n)
    theta = np.pi * (1 + 5**0.5) * k
    return np.stack([np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta) * np.sin(phi)], axis=1)


@dataclass
class StarSurface:
    """Star-shaped surface ``r(u) = q(u)^(-1/2)``, ``q = real_sh(u) @ coef``, about ``centre`` (mm)."""

    centre: np.ndarray
    coef: np.ndarray
    l_max: int

    def radius(self, u: np.ndarray) -> np.ndarray:
        q = real_sh(u, self.l_max) @ self.coef
        return 1.0 / np.sqrt(np.maximum(q, 1e-8))

    def centroid(self, dirs: np.ndarray) -> np.ndarray:
        r = self.radius(dirs)
        return self.centre + 0.75 * (r[:, None] ** 4 * dirs).sum(0) / (r**3).sum()

    def volume_mm3(self, dirs: np.ndarray) -> float:
        return float(4.0 * np.pi * np.mean(self.radius(dirs) ** 3) / 3.0)

    def reexpand(self, centre: np.ndarray, l_max: int, dirs: np.ndarray) -> StarSurface:
        """The same surface described about a new centre (which must see all of it), in degree ``l_max``."""
        # fixed point: t = distance from the new centre along v to the old surface
        delta = centre - self.centre
        t = self.radius(dirs)
        for _ in range(8):
            p = delta + t[:, None] * dirs
            rho = np.linalg.norm(p, axis=1)
            r_old = self.radius(p / np.maximum(rho, 1e-9)[:, None])
            # solve |delta + t v| = r_old for t (the root on the far side of the new centre)
            bv = dirs @ delta
            disc = np.maximum(bv**2 - (delta @ delta - r_old**2), 1e-12)
            t = -bv + np.sqrt(disc)
        basis = real_sh(dirs, l_max)
        coef = np.linalg.lstsq(basis, 1.0 / t**2, rcond=None)[0]
        return StarSurface(np.asarray(centre, float).copy(), coef, l_max)


class PartialVolumeBand:
    """Voxels near the surface with their (fixed-centre) basis: fast fractions and Jacobians.

    With the centre fixed, the directions of voxel centres and sub-voxel
    centres do not change, so their spherical-harmonic basis is computed once
    per stage; the fraction of a voxel is the mean over its sub-voxels of
    ``clip(0.5 + (r(u) - rho) / w, 0, 1)``.
    """

    def __init__(
        self, shape: StarSurface, flat: np.ndarray, pts: np.ndarray, spacing: np.ndarray, sub_mm: float, reach: float
    ) -> None:
        self.l_max = shape.l_max
        self.flat = flat
        d = pts - shape.centre
        self.rho = np.linalg.norm(d, axis=1)
        u = d / np.maximum(self.rho, 1e-9)[:, None]
        self.basis = real_sh(u, shape.l_max)
        self.half = 0.5 * (np.abs(u) @ spacing) + 0.25  # half extent of the voxel along u (+ curvature slack)
        s_c = self._radius(self.basis, shape.coef) - self.rho
        self.pv = np.flatnonzero(np.abs(s_c) < self.half + reach)
        n = [max(1, int(np.ceil(sp / sub_mm - 1e-6))) for sp in spacing]
        axes = [((np.arange(k) + 0.5) / k - 0.5) * sp for k, sp in zip(n, spacing, strict=True)]
        offsets = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
        self.k = len(offsets)
        sub = spacing / np.asarray(n)
        ds = (d[self.pv, None, :] + offsets[None]).reshape(-1, 3)
        self.rho_s = np.linalg.norm(ds, axis=1)
        us = ds / np.maximum(self.rho_s, 1e-9)[:, None]
        self.basis_s = real_sh(us, shape.l_max)
        self.w_s = np.abs(us) @ sub + 1e-6
        self.reach = reach
        self.r_start = self._radius(self.basis, shape.coef)

    @staticmethod
    def _radius(basis: np.ndarray, coef: np.ndarray) -> np.ndarray:
        return 1.0 / np.sqrt(np.maximum(basis @ coef, 1e-8))

    def signed(self, coef: np.ndarray) -> np.ndarray:
        """Radial signed distance (mm, > 0 inside) of every voxel centre."""
        return self._radius(self.basis, coef) - self.rho

    def moved_too_far(self, coef: np.ndarray, sel: np.ndarray) -> bool:
        return bool(np.abs(self._radius(self.basis[sel], coef) - self.r_start[sel]).max() > 0.6 * self.reach)

    def fraction(self, coef: np.ndarray, want_jac: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """Fraction of every stage voxel; Jacobian d fraction / d coef (rows: voxels)."""
        s_c = self.signed(coef)
        frac = (s_c > 0).astype(float)
        q = self.basis_s @ coef
        qc = np.maximum(q, 1e-8)
        rad = 1.0 / np.sqrt(qc)
        t = 0.5 + (rad - self.rho_s) / self.w_s
        frac[self.pv] = np.clip(t, 0.0, 1.0).reshape(-1, self.k).mean(axis=1)
        if not want_jac:
            return frac, None
        jac = np.zeros((len(frac), len(coef)))
        g = np.where((t > 0.0) & (t < 1.0), -0.5 * qc**-1.5 / self.w_s, 0.0).reshape(-1, self.k)
        busy = np.flatnonzero(g.any(axis=1))
        if busy.size:
            bs = self.basis_s.reshape(-1, self.k, len(coef))
            jac[self.pv[busy]] = np.einsum("vk,vkc->vc", g[busy], bs[busy], optimize=True) / self.k
        return frac, jac


def moment_ellipsoid(region: np.ndarray, spacing: np.ndarray, vol_ml: float) -> StarSurface:
    """Ellipsoid with the region's centroid and second moments, scaled to the region's volume."""
    pts = np.argwhere(region).astype(float) * spacing
    centre = pts.mean(axis=0)
    cov = (np.cov((pts - centre).T) if len(pts) > 3 else np.zeros((3, 3))) + np.diag(spacing**2 / 12.0)
    m = np.linalg.inv(5.0 * cov)
    vol_e = 4.0 / 3.0 * np.pi / np.sqrt(np.linalg.det(m))
    m *= (vol_e / (vol_ml * 1000.0)) ** (2.0 / 3.0)
    dirs = _fibonacci_sphere(400)
    qd = np.einsum("ni,ij,nj->n", dirs, m, dirs)
    return StarSurface(centre, np.linalg.lstsq(real_sh(dirs, 2), qd, rcond=None)[0], 2)


def rasterise(
    shape: StarSurface, spacing: np.ndarray, dims: tuple[int, ...], sub_mm: float, dirs: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Partial-volume fractions of the voxels around the shape (cropped) and the crop start."""
    rmax = float(shape.radius(dirs).max()) * 1.05 + spacing.max()
    lo = np.maximum(np.floor((shape.centre - rmax) / spacing).astype(int) - 1, 0)
    hi = np.minimum(np.ceil((shape.centre + rmax) / spacing).astype(int) + 2, dims)
    zz, yy, xx = np.meshgrid(*[np.arange(a, b) for a, b in zip(lo, hi, strict=True)], indexing="ij")
    pts = np.stack([zz.ravel(), yy.ravel(), xx.ravel()], 1) * spacing
    rho = np.linalg.norm(pts - shape.centre, axis=1)
    rr = shape.radius(dirs)
    hd = 0.5 * float(np.linalg.norm(spacing)) + 0.5
    flat = np.zeros(len(pts), np.float32)
    flat[rho < float(rr.min()) - hd] = 1.0
    cand = np.flatnonzero((rho >= float(rr.min()) - hd) & (rho <= float(rr.max()) + hd))
    stage = PartialVolumeBand(shape, cand, pts[cand], spacing, sub_mm, 0.0)
    flat[cand] = stage.fraction(shape.coef, False)[0]
    mask = flat.reshape(zz.shape)
    nz = np.argwhere(mask > 0)
    if nz.size == 0:
        return mask, lo
    a = np.maximum(nz.min(0) - 1, 0)
    b = np.minimum(nz.max(0) + 2, mask.shape)
    return np.ascontiguousarray(mask[a[0] : b[0], a[1] : b[1], a[2] : b[2]]), lo + a
