"""Shape of a lesion from its mask: iso-surface mesh, surface area, sphericity, axis lengths.

Definitions (IBSI, Zwanenburg et al., Radiology 2020, "Morphological features"):

* **Mesh**: the marching-cubes iso-surface at 0.5 of the mask fractions (the
  mask padded by one empty voxel, so the surface is closed), vertices in mm.
* ``mesh_volume_ml``: volume enclosed by the mesh (divergence theorem).
* ``voxel_volume_ml``: sum of voxel fractions x voxel volume (voxel count for
  a binary mask).
* ``surface_area_mm2``: sum of the mesh triangle areas.
* ``sphericity``: ``(36 pi V^2)^(1/3) / A`` with the mesh volume V and area A
  (1 for a sphere).
* ``max_3d_diameter_mm``: the longest distance between two mesh vertices.
* ``major/minor/least_axis_mm``: ``4 sqrt(lambda)`` for the eigenvalues
  ``lambda`` (largest, middle, smallest) of the covariance matrix (N - 1
  normalisation) of the lesion voxel-centre positions in mm. For a
  partial-volume mask the positions are weighted by the voxel fractions
  (frequency weights); for a binary mask this is IBSI's definition. Note that
  for a solid ellipsoid ``4 sqrt(lambda) = 1.79 x`` its semi-axis, not its
  diameter: these are IBSI's PCA lengths, not calliper diameters.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
from scipy.spatial import ConvexHull, QhullError
from scipy.spatial.distance import cdist
from skimage import measure

from measurement.masks import crop_box, fractions, require_lesion


@dataclass(frozen=True, eq=False)
class Mesh:
    """Closed triangle mesh; ``vertices_zyx_mm`` are (z, y, x) mm from the centre of voxel (0, 0, 0)."""

    vertices_zyx_mm: np.ndarray
    faces: np.ndarray


@dataclass(frozen=True)
class Morphology:
    mesh_volume_ml: float
    voxel_volume_ml: float
    surface_area_mm2: float
    sphericity: float
    max_3d_diameter_mm: float
    major_axis_mm: float
    minor_axis_mm: float
    least_axis_mm: float


def surface_mesh(mask_zyx: np.ndarray, spacing_zyx: tuple[float, float, float]) -> Mesh:
    """Marching-cubes iso-surface at 0.5 of the mask (see module docstring)."""
    require_lesion(mask_zyx)
    box = crop_box(mask_zyx, margin=0)
    offset = np.array([s.start for s in box], dtype=float)
    padded = np.pad(fractions(np.asarray(mask_zyx)[box]), 1)
    spacing = np.asarray(spacing_zyx, dtype=float)
    verts, faces, _, _ = measure.marching_cubes(padded, 0.5, spacing=tuple(float(s) for s in spacing))
    return Mesh(verts + (offset - 1.0) * spacing, faces)


def mesh_volume_mm3(mesh: Mesh) -> float:
    """Volume enclosed by a closed mesh (sum of signed tetrahedra from the origin)."""
    v = mesh.vertices_zyx_mm - mesh.vertices_zyx_mm.mean(axis=0)  # centring reduces rounding
    a, b, c = v[mesh.faces[:, 0]], v[mesh.faces[:, 1]], v[mesh.faces[:, 2]]
    return abs(float(np.einsum("ij,ij->i", a, np.cross(b, c)).sum()) / 6.0)


def surface_area_mm2(mesh: Mesh) -> float:
    return float(measure.mesh_surface_area(mesh.vertices_zyx_mm, mesh.faces))


def axis_lengths_mm(mask_zyx: np.ndarray, spacing_zyx: tuple[float, float, float]) -> tuple[float, float, float]:
    """IBSI major, minor and least axis lengths (mm), fraction-weighted for partial-volume masks."""
    require_lesion(mask_zyx)
    f = fractions(mask_zyx)
    idx = np.nonzero(f)
    w = f[idx].astype(np.float64)
    pos = np.stack(idx, axis=1) * np.asarray(spacing_zyx, dtype=float)
    if w.sum() <= 1.0:  # a single voxel: no spread
        return (0.0, 0.0, 0.0)
    cov = _weighted_cov(pos, w)
    eig = np.clip(np.linalg.eigvalsh(cov), 0.0, None)  # ascending
    return (4.0 * float(np.sqrt(eig[2])), 4.0 * float(np.sqrt(eig[1])), 4.0 * float(np.sqrt(eig[0])))


def _weighted_cov(pos: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Covariance with frequency weights ``w`` (sum of weights minus one in the denominator)."""
    mean = np.average(pos, axis=0, weights=w)
    d = pos - mean
    return (d * w[:, None]).T @ d / (w.sum() - 1.0)


def farthest_pair(points: np.ndarray, block: int = 1024) -> tuple[int, int, float]:
    """Indices of the two points farthest apart and their distance (exact).

    With ``c`` the points' mean and ``R`` the largest distance to it, a pair is
    at most ``|p - c| + R`` long, so points with ``|p - c| < d0 - R`` cannot
    beat a known pair of length ``d0`` (the point farthest from ``c`` and its
    farthest point) and are dropped; of the rest only the convex-hull vertices
    can be ends of the longest pair. These are compared pairwise in blocks;
    ties go to the first pair in index order.
    """
    r = np.linalg.norm(points - points.mean(axis=0), axis=1)
    a = int(np.argmax(r))
    d0 = float(np.linalg.norm(points - points[a], axis=1).max())
    candidates = np.flatnonzero(r >= d0 - r[a] - 1e-9 * max(1.0, d0))
    if len(candidates) > points.shape[1] + 1:
        with contextlib.suppress(QhullError):  # degenerate (collinear / coplanar) point sets keep every candidate
            candidates = candidates[np.sort(ConvexHull(points[candidates]).vertices)]
    sub = points[candidates]
    best = (-1.0, 0, 0)
    for start in range(0, len(sub), block):
        d = cdist(sub[start : start + block], sub)
        k = int(np.argmax(d))
        i, j = divmod(k, len(sub))
        if d.flat[k] > best[0]:
            best = (float(d.flat[k]), start + i, j)
    dist, i, j = best
    i, j = sorted((i, j))
    return int(candidates[i]), int(candidates[j]), dist


def morphology(mask_zyx: np.ndarray, spacing_zyx: tuple[float, float, float], mesh: Mesh | None = None) -> Morphology:
    """All shape descriptors of one lesion (see module docstring); reuses ``mesh`` when given."""
    mesh = mesh or surface_mesh(mask_zyx, spacing_zyx)
    volume = mesh_volume_mm3(mesh)
    area = surface_area_mm2(mesh)
    _, _, feret = farthest_pair(mesh.vertices_zyx_mm)
    major, minor, least = axis_lengths_mm(mask_zyx, spacing_zyx)
    voxel_ml = float(fractions(mask_zyx).sum(dtype=np.float64)) * float(np.prod(spacing_zyx)) / 1000.0
    return Morphology(
        mesh_volume_ml=volume / 1000.0,
        voxel_volume_ml=voxel_ml,
        surface_area_mm2=area,
        sphericity=float((36.0 * np.pi * volume**2) ** (1.0 / 3.0) / area) if area > 0 else 0.0,
        max_3d_diameter_mm=feret,
        major_axis_mm=major,
        minor_axis_mm=minor,
        least_axis_mm=least,
    )
