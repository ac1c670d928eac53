"""Analytic shapes of the synthetic phantom and their partial-volume rendering.

Shapes live in the *body frame*: millimetres, axes oriented like DICOM LPS
(x towards the patient's left, y posterior, z superior) with the origin in the
middle of the abdomen. A :class:`Pose` places the body in a scanner's patient
coordinate system (LPS mm) for one timepoint.

Partial volume: the fraction of a voxel inside a shape is the fraction of
``SUPERSAMPLING**3`` regularly spaced points of the voxel (a box filter) that lie
inside the shape. Only voxels near the surface need it: a voxel is entirely
inside or outside when the first-order distance estimate ``(r - 1) / |grad r|``
of its centre to the surface exceeds its half-diagonal by a safety factor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

Matrix3 = tuple[tuple[float, float, float], tuple[float, float, float], tuple[float, float, float]]
IDENTITY: Matrix3 = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))


def rotation_matrix(angles_deg: tuple[float, float, float]) -> np.ndarray:
    """Rotation ``Rz @ Ry @ Rx`` for angles (degrees) about the x, y and z axes."""
    ax, ay, az = np.deg2rad(angles_deg)
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


def box_corners(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The 8 corners ``(8, 3)`` of the axis-aligned box ``[lo, hi]``."""
    return np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])


def as_matrix3(m: np.ndarray) -> Matrix3:
    return tuple(tuple(float(v) for v in row) for row in np.asarray(m))  # type: ignore[return-value]


@dataclass(frozen=True)
class Pose:
    """Rigid placement of the body in a scanner: ``p_lps = R @ x_body + t``."""

    rotation_deg: tuple[float, float, float] = (0.0, 0.0, 0.0)
    translation_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)

    @property
    def matrix(self) -> np.ndarray:
        return rotation_matrix(self.rotation_deg)

    def body_to_lps(self, points_body: np.ndarray) -> np.ndarray:
        """Map body-frame points ``(..., 3)`` to scanner LPS millimetres."""
        return np.asarray(points_body) @ self.matrix.T + np.asarray(self.translation_mm)

    def lps_to_body(self, points_lps: np.ndarray) -> np.ndarray:
        """Map scanner LPS points ``(..., 3)`` to the body frame."""
        return (np.asarray(points_lps) - np.asarray(self.translation_mm)) @ self.matrix


@dataclass(frozen=True)
class Ellipsoid:
    """Solid ellipsoid: centre, semi-axes and a rotation whose columns are its axes."""

    centre_mm: tuple[float, float, float]
    semi_axes_mm: tuple[float, float, float]
    rotation: Matrix3 = IDENTITY

    def scaled(self, factor: float) -> Ellipsoid:
        """The same ellipsoid with every semi-axis multiplied by ``factor``."""
        return Ellipsoid(self.centre_mm, tuple(s * factor for s in self.semi_axes_mm), self.rotation)  # type: ignore[arg-type]

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Axis-aligned body-frame box that contains the ellipsoid."""
        q = np.asarray(self.rotation)
        half = np.sqrt((q**2) @ np.asarray(self.semi_axes_mm) ** 2)
        c = np.asarray(self.centre_mm)
        return c - half, c + half

    def radius_and_gradient(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Normalised radius ``r`` (1 on the surface) and its body-frame gradient."""
        q = np.asarray(self.rotation)
        s = np.asarray(self.semi_axes_mm)
        u = ((points - np.asarray(self.centre_mm)) @ q) / s
        r = np.sqrt(np.einsum("...i,...i->...", u, u))
        r_safe = np.maximum(r, 1e-9)
        grad = ((u / s) / r_safe[..., None]) @ q.T
        return r, grad

    def radius(self, points: np.ndarray) -> np.ndarray:
        """The normalised radius of :meth:`radius_and_gradient` alone (the same values, without the gradient)."""
        u = ((points - np.asarray(self.centre_mm)) @ np.asarray(self.rotation)) / np.asarray(self.semi_axes_mm)
        return np.sqrt(np.einsum("...i,...i->...", u, u))

    def contains(self, points: np.ndarray) -> np.ndarray:
        return self.radius(np.asarray(points, dtype=float)) <= 1.0

    def inside_offsets(self, centres: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """Whether each point ``centres[i] + offsets[k]`` lies in the ellipsoid (bool, n x k): the normalised
        coordinates are linear in the point, so ``r^2 = |u|^2 + 2 u.v + |v|^2`` for the centre's ``u`` and the
        offset's ``v``, one matrix product for every pair."""
        q = np.asarray(self.rotation)
        s = np.asarray(self.semi_axes_mm)
        return _within_unit(((centres - np.asarray(self.centre_mm)) @ q) / s, (offsets @ q) / s)

    def surface_points(self, n: int = 400) -> np.ndarray:
        """Quasi-uniform points on the surface (Fibonacci sphere mapped onto it)."""
        k = np.arange(n) + 0.5
        phi = np.arccos(1 - 2 * k / n)
        theta = np.pi * (1 + 5**0.5) * k
        unit = np.stack([np.cos(theta) * np.sin(phi), np.sin(theta) * np.sin(phi), np.cos(phi)], axis=1)
        return (unit * np.asarray(self.semi_axes_mm)) @ np.asarray(self.rotation).T + np.asarray(self.centre_mm)

    @property
    def volume_ml(self) -> float:
        a, b, c = self.semi_axes_mm
        return 4.0 / 3.0 * np.pi * a * b * c / 1000.0


@dataclass(frozen=True)
class Cylinder:
    """Elliptic cylinder along the body z axis, optionally limited in z."""

    centre_xy_mm: tuple[float, float]
    semi_axes_xy_mm: tuple[float, float]
    z_range_mm: tuple[float, float] = (-1e4, 1e4)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        cx, cy = self.centre_xy_mm
        a, b = self.semi_axes_xy_mm
        return np.array([cx - a, cy - b, self.z_range_mm[0]]), np.array([cx + a, cy + b, self.z_range_mm[1]])

    def radius_and_gradient(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s = np.asarray(self.semi_axes_xy_mm)
        u = (points[..., :2] - np.asarray(self.centre_xy_mm)) / s
        r = np.sqrt(np.einsum("...i,...i->...", u, u))
        grad = np.zeros(points.shape, dtype=float)
        grad[..., :2] = (u / s) / np.maximum(r, 1e-9)[..., None]
        # Outside the z range the shape is absent; emulate with a large radius.
        z0, z1 = self.z_range_mm
        outside = (points[..., 2] < z0) | (points[..., 2] > z1)
        r = np.where(outside, np.inf, r)
        return r, grad

    def radius(self, points: np.ndarray) -> np.ndarray:
        """The normalised radius of :meth:`radius_and_gradient` alone (the same values, without the gradient)."""
        u = (points[..., :2] - np.asarray(self.centre_xy_mm)) / np.asarray(self.semi_axes_xy_mm)
        z0, z1 = self.z_range_mm
        outside = (points[..., 2] < z0) | (points[..., 2] > z1)
        return np.where(outside, np.inf, np.sqrt(np.einsum("...i,...i->...", u, u)))

    def contains(self, points: np.ndarray) -> np.ndarray:
        return self.radius(np.asarray(points, dtype=float)) <= 1.0

    def inside_offsets(self, centres: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """Whether each point ``centres[i] + offsets[k]`` lies in the cylinder (bool, n x k; see
        :meth:`Ellipsoid.inside_offsets`)."""
        s = np.asarray(self.semi_axes_xy_mm)
        inside = _within_unit((centres[:, :2] - np.asarray(self.centre_xy_mm)) / s, offsets[:, :2] / s)
        z = centres[:, 2:3] + offsets[None, :, 2]
        z0, z1 = self.z_range_mm
        return inside & (z >= z0) & (z <= z1)


def _within_unit(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``|u[i] + v[k]|^2 <= 1`` for every pair (bool, n x k)."""
    r2 = np.einsum("ij,ij->i", u, u)[:, None] + 2.0 * (u @ v.T) + np.einsum("ij,ij->i", v, v)[None, :]
    return r2 <= 1.0


class Shape(Protocol):
    """What rendering needs of a shape (body frame, mm): its bounding box and its normalised radius field."""

    def bounds(self) -> tuple[np.ndarray, np.ndarray]: ...

    def radius_and_gradient(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...

    def contains(self, points: np.ndarray) -> np.ndarray: ...

    def inside_offsets(self, centres: np.ndarray, offsets: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class Structure:
    """A named shape with its CT attenuation (HU) and PET uptake (SUV)."""

    name: str
    shape: Shape
    hu: float
    suv: float
    tags: frozenset[str] = field(default_factory=frozenset)


SUPERSAMPLING = 4
_ROWS = 16384  # voxels per block of the supersampling (bounds its memory: rows x SUPERSAMPLING**3 values)


def partial_volume(
    shape: Shape, points_body: np.ndarray, pose: Pose, voxel_size_xyz_mm: tuple[float, float, float]
) -> np.ndarray:
    """Fraction (0..1) of each voxel centred at ``points_body`` inside ``shape`` (box filter)."""
    r, grad = shape.radius_and_gradient(points_body)
    gnorm = np.maximum(np.sqrt(np.einsum("...i,...i->...", grad, grad)), 1e-12)
    distance = np.where(np.isfinite(r), (r - 1.0) / gnorm, np.inf)
    half_diagonal = 0.5 * float(np.linalg.norm(voxel_size_xyz_mm))
    frac = (distance < 0).astype(np.float64)
    band = np.abs(distance) < 1.5 * half_diagonal + 0.3
    if band.any():
        n = SUPERSAMPLING
        steps = (np.arange(n) + 0.5) / n - 0.5
        offsets_lps = np.stack(np.meshgrid(steps, steps, steps, indexing="ij"), -1).reshape(-1, 3) * np.asarray(
            voxel_size_xyz_mm
        )
        offsets_body = offsets_lps @ pose.matrix  # rows: R^T applied to each LPS offset
        centres = points_body[band]
        inside = np.zeros(len(centres))
        for start in range(0, len(centres), _ROWS):  # every point of every voxel at once, in blocks of voxels
            inside[start : start + _ROWS] = shape.inside_offsets(centres[start : start + _ROWS], offsets_body).sum(1)
        frac[band] = inside / len(offsets_body)
    return frac
