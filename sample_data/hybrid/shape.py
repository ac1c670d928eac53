"""Irregular, lobulated lesion shapes with exact (numerical) truth.

A :class:`StarShape` is star-shaped about its centre: a point ``p`` is inside when
``|p - c| <= r(u)`` with ``u = (p - c) / |p - c|`` and

    r(u) = r_ellipsoid(R^T u) * exp(sum_k a_k * (exp(kappa_k (u . d_k - 1)) - m_k)),

``r_ellipsoid`` the radius of the ellipsoid with semi-axes ``(a, b, c)`` along
the columns of the rotation ``R``, and ``k`` runs over smooth bumps (von
Mises-Fisher lobes of amplitude ``a_k``, concentration ``kappa_k`` and direction
``d_k``; ``m_k = (1 - exp(-2 kappa_k)) / (2 kappa_k)`` is a lobe's mean over the
sphere, so that lobes reshape more than they resize). Coordinates are patient
LPS millimetres.

Truth:

* **volume** ``(1/3) * integral of r(u)^3 over the unit sphere``, by the mean over
  ``VOLUME_DIRECTIONS`` quasi-uniform (Fibonacci) directions (relative error
  < 1e-4 for these smooth radii; for an ellipsoid the closed form
  ``4/3 pi a b c``);
* **longest axial diameter** on a plane ``z = z0``: the longest chord of the
  section's outline (the 0-level of ``|p - c| / r(u) - 1`` traced by marching
  squares on a ``step_mm`` grid, convex hull, farthest pair);
* **depth** ``1 - |p - c| / r(u)``: 0 on the surface, 1 at the centre (used
  for rims and cores).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import ConvexHull
from skimage import measure

VOLUME_DIRECTIONS = 200_000


def fibonacci_directions(n: int) -> np.ndarray:
    """``n`` quasi-uniform unit vectors ``(n, 3)`` (Fibonacci sphere)."""
    k = np.arange(n) + 0.5
    phi = np.arccos(1.0 - 2.0 * k / n)
    theta = np.pi * (1.0 + 5.0**0.5) * k
    return np.stack([np.cos(theta) * np.sin(phi), np.sin(theta) * np.sin(phi), np.cos(phi)], axis=1)


@dataclass(frozen=True)
class Lobe:
    amplitude: float
    concentration: float
    direction: tuple[float, float, float]  # unit vector, LPS

    def mean_over_sphere(self) -> float:
        k = self.concentration
        return float((1.0 - np.exp(-2.0 * k)) / (2.0 * k))


@dataclass(frozen=True)
class StarShape:
    """A lobulated ellipsoid (see module docstring); all lengths in mm, LPS."""

    centre_lps_mm: tuple[float, float, float]
    semi_axes_mm: tuple[float, float, float]
    rotation: tuple[tuple[float, float, float], ...]  # 3 x 3, columns are the ellipsoid's axes
    lobes: tuple[Lobe, ...] = ()

    # ------------------------------------------------------------------ geometry
    def radius(self, u_lps: np.ndarray) -> np.ndarray:
        """Surface radius (mm) along unit directions ``u_lps`` ``(..., 3)``."""
        u = np.asarray(u_lps, dtype=float)
        v = u @ np.asarray(self.rotation)
        r = 1.0 / np.sqrt(
            np.einsum("...i,...i->...", v / np.asarray(self.semi_axes_mm), v / np.asarray(self.semi_axes_mm))
        )
        if self.lobes:
            log = np.zeros(u.shape[:-1])
            for lobe in self.lobes:
                cos = u @ np.asarray(lobe.direction)
                log += lobe.amplitude * (np.exp(lobe.concentration * (cos - 1.0)) - lobe.mean_over_sphere())
            r = r * np.exp(log)
        return r

    def _polar(self, points_lps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d = np.asarray(points_lps, dtype=float) - np.asarray(self.centre_lps_mm)
        rho = np.sqrt(np.einsum("...i,...i->...", d, d))
        u = d / np.maximum(rho, 1e-12)[..., None]
        u = np.where((rho > 1e-12)[..., None], u, np.array([1.0, 0.0, 0.0]))
        return rho, self.radius(u)

    def normalised_radius(self, points_lps: np.ndarray) -> np.ndarray:
        """``|p - c| / r(u)``: < 1 inside, 1 on the surface."""
        rho, r = self._polar(points_lps)
        return rho / r

    def radial_distance(self, points_lps: np.ndarray) -> np.ndarray:
        """``r(u) - |p - c|`` (mm): > 0 inside; the distance to the surface along the ray from the centre."""
        rho, r = self._polar(points_lps)
        return r - rho

    def contains(self, points_lps: np.ndarray) -> np.ndarray:
        return self.normalised_radius(points_lps) <= 1.0

    def max_radius_mm(self, n: int = 20_000) -> float:
        return float(self.radius(fibonacci_directions(n)).max())

    def bounds(self, margin_mm: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """An axis-aligned LPS box that contains the shape (from 20 000 surface directions, plus 1 % and a margin)."""
        u = fibonacci_directions(20_000)
        pts = u * self.radius(u)[:, None]
        lo = pts.min(axis=0) * 1.01 - margin_mm
        hi = pts.max(axis=0) * 1.01 + margin_mm
        c = np.asarray(self.centre_lps_mm)
        return c + lo, c + hi

    # ------------------------------------------------------------------ truth
    def volume_ml(self, n: int = VOLUME_DIRECTIONS) -> float:
        """Volume (ml): ``4 pi / 3 * mean(r^3)`` over ``n`` quasi-uniform directions."""
        r = self.radius(fibonacci_directions(n))
        return float(4.0 * np.pi / 3.0 * np.mean(r**3) / 1000.0)

    def section_longest_mm(self, z_lps_mm: float, step_mm: float = 0.1) -> tuple[float, np.ndarray | None]:
        """Longest chord (mm) of the section by the axial plane ``z = z_lps_mm`` and its two end points (LPS)."""
        lo, hi = self.bounds(margin_mm=2.0 * step_mm)
        if not (lo[2] <= z_lps_mm <= hi[2]):
            return 0.0, None
        xs = np.arange(lo[0], hi[0] + step_mm, step_mm)
        ys = np.arange(lo[1], hi[1] + step_mm, step_mm)
        yy, xx = np.meshgrid(ys, xs, indexing="ij")
        pts = np.stack([xx, yy, np.full(xx.shape, z_lps_mm)], axis=-1)
        f = self.normalised_radius(pts)
        if not (f <= 1.0).any():
            return 0.0, None
        outline = np.concatenate(measure.find_contours(f, 1.0))  # (row = y index, col = x index)
        xy = np.stack([xs[0] + outline[:, 1] * step_mm, ys[0] + outline[:, 0] * step_mm], axis=1)
        if len(xy) > 3:
            xy = xy[ConvexHull(xy).vertices]
        d2 = ((xy[:, None, :] - xy[None, :, :]) ** 2).sum(-1)
        i, j = np.unravel_index(int(np.argmax(d2)), d2.shape)
        ends = np.array([[xy[i, 0], xy[i, 1], z_lps_mm], [xy[j, 0], xy[j, 1], z_lps_mm]])
        return float(np.sqrt(d2[i, j])), ends

    def longest_axial_diameter(self, slice_z_mm: np.ndarray) -> tuple[float, float, np.ndarray | None]:
        """RECIST longest axial diameter over the given slice planes: (mm, z of its slice, end points LPS).

        Every plane is traced on a 0.5 mm grid; the three longest are traced again on a 0.1 mm grid.
        """
        lo, hi = self.bounds()
        planes = [float(z) for z in slice_z_mm if lo[2] <= z <= hi[2]]
        if not planes:
            return 0.0, float("nan"), None
        coarse = sorted(planes, key=lambda z: -self.section_longest_mm(z, step_mm=0.5)[0])[:3]
        best = max(((*self.section_longest_mm(z, step_mm=0.1), z) for z in coarse), key=lambda t: t[0])
        return best[0], best[2], best[1]
