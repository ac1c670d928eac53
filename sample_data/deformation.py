"""A smooth non-rigid deformation of the abdomen between timepoints (breathing, treatment).

The deformation is given by its *inverse* map: the anatomy seen at a point
``x`` of a follow-up's (deformed) body frame is the baseline anatomy at
``psi(x) = x + u(x)``, with ``u`` a sum of Gaussian bumps:

    u(x) = sum_k a_k exp(-|x - c_k|^2 / (2 w^2))

Organs are rendered through ``psi`` exactly. Each lesion is carried by the
*local affine* approximation of the deformation at its centre (it moves and
shears with the liver around it), so that it stays an exact ellipsoid and its
ground truth stays analytic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sample_data.shapes import Ellipsoid, as_matrix3


@dataclass(frozen=True)
class Deformation:
    centres_mm: tuple[tuple[float, float, float], ...] = ()
    amplitudes_mm: tuple[tuple[float, float, float], ...] = ()
    width_mm: float = 45.0

    @property
    def is_identity(self) -> bool:
        return not self.centres_mm

    @property
    def max_displacement_mm(self) -> float:
        return float(sum(np.linalg.norm(a) for a in self.amplitudes_mm))

    def displacement(self, points: np.ndarray) -> np.ndarray:
        """``u(x)`` for points ``(..., 3)`` (body frame, mm)."""
        points = np.asarray(points, dtype=float)
        out = np.zeros(points.shape)
        for c, a in zip(self.centres_mm, self.amplitudes_mm, strict=True):
            d2 = np.sum((points - np.asarray(c)) ** 2, axis=-1)
            out += np.exp(-d2 / (2 * self.width_mm**2))[..., None] * np.asarray(a)
        return out

    def inverse(self, points: np.ndarray) -> np.ndarray:
        """``psi(x) = x + u(x)``: where the anatomy shown at ``x`` comes from."""
        points = np.asarray(points, dtype=float)
        return points + self.displacement(points) if self.centres_mm else points

    def jacobian(self, point: np.ndarray) -> np.ndarray:
        """3x3 Jacobian of ``psi`` at one point."""
        x = np.asarray(point, dtype=float)
        jac = np.eye(3)
        for c, a in zip(self.centres_mm, self.amplitudes_mm, strict=True):
            diff = x - np.asarray(c)
            g = np.exp(-(diff @ diff) / (2 * self.width_mm**2))
            jac += np.outer(np.asarray(a), -g * diff / self.width_mm**2)
        return jac

    def forward(self, point: np.ndarray, iterations: int = 50) -> np.ndarray:
        """``phi(c)``: the deformed position ``x`` of the baseline point ``c`` (solves ``psi(x) = c``)."""
        c = np.asarray(point, dtype=float)
        x = c.copy()
        for _ in range(iterations):
            x = c - self.displacement(x)
        return x

    def carry(self, lesion: Ellipsoid) -> Ellipsoid:
        """The ellipsoid mapped by the local affine approximation of the deformation at its centre."""
        if self.is_identity:
            return lesion
        centre = self.forward(np.asarray(lesion.centre_mm))
        jac = self.jacobian(centre)
        q = np.asarray(lesion.rotation)
        m = q @ np.diag(1.0 / np.asarray(lesion.semi_axes_mm) ** 2) @ q.T
        m_new = jac.T @ m @ jac
        eigval, eigvec = np.linalg.eigh(m_new)
        if np.linalg.det(eigvec) < 0:
            eigvec[:, 0] *= -1
        semi = tuple(float(v) for v in 1.0 / np.sqrt(eigval))
        return Ellipsoid(tuple(float(v) for v in centre), semi, as_matrix3(eigvec))  # type: ignore[arg-type]


IDENTITY = Deformation()
