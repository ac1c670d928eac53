"""Lesion diameters from a binary mask and its voxel spacing.

Definitions (all in mm):

* **Outline**: on an axial slice, the iso-line at 0.5 of the mask (marching
  squares; see :mod:`measurement.masks`). For a binary mask it runs along
  the voxel edges between lesion and background voxels, cutting corners
  diagonally, so a lesion one voxel wide measures one voxel, not zero
  (distances are *not* taken between voxel centres); for a partial-volume
  mask it is the sub-voxel boundary.
* **Longest axial diameter** (RECIST 1.1): the longest distance between two
  points of the outline of any one axial slice (the slice is a plane of
  constant ``z`` index).
* **Short axis**: on the slice of the longest diameter, the longest extent of
  the outline along a line perpendicular to the longest diameter.
* **Maximum 3D diameter** (Feret): the longest distance between two vertices
  of the 3D iso-surface at 0.5 (marching cubes).

End points are returned as continuous voxel indices (z, y, x) of the input
array, so the caller maps them to patient coordinates exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from skimage import measure

from measurement.masks import fractions, inside, require_lesion
from measurement.morphology import Mesh, farthest_pair, surface_mesh

Point = tuple[float, float, float]


@dataclass(frozen=True)
class AxialDiameters:
    longest_mm: float
    short_axis_mm: float
    slice_index: int
    long_axis_zyx: tuple[Point, Point]
    short_axis_zyx: tuple[Point, Point]


def _slice_outline(mask_2d: np.ndarray) -> list[np.ndarray]:
    """Closed outline polygons (row, col index coordinates) of a 2D mask."""
    padded = np.pad(mask_2d.astype(np.float32), 1)
    return [c - 1.0 for c in measure.find_contours(padded, 0.5)]


def _perpendicular_extent(
    polygons_mm: list[np.ndarray], p: np.ndarray, q: np.ndarray, step_mm: float
) -> tuple[float, np.ndarray, np.ndarray]:
    """Longest extent of the outline along lines perpendicular to segment ``pq``.

    Lines are sampled every ``step_mm`` along ``pq``; on each, the extent is the
    distance between the outermost crossings of the outline.
    """
    u = (q - p) / np.linalg.norm(q - p)
    v = np.array([-u[1], u[0]])
    t_all = np.concatenate([(poly - p) @ u for poly in polygons_mm])
    samples = np.arange(t_all.min(), t_all.max() + step_mm, step_mm)[:, None]
    lo = np.full(len(samples), np.inf)
    hi = np.full(len(samples), -np.inf)
    for poly in polygons_mm:
        a, b = poly, np.roll(poly, -1, axis=0)
        ta, tb = (a - p) @ u, (b - p) @ u
        va, vb = (a - p) @ v, (b - p) @ v
        # each edge crosses the lines in [min(ta, tb), max(ta, tb)) (half-open: shared vertices once)
        cross = (samples >= np.minimum(ta, tb)) & (samples < np.maximum(ta, tb))
        with np.errstate(divide="ignore", invalid="ignore"):
            at = va + (samples - ta) / (tb - ta) * (vb - va)
        lo = np.minimum(lo, np.where(cross, at, np.inf).min(axis=1))
        hi = np.maximum(hi, np.where(cross, at, -np.inf).max(axis=1))
    width = np.where(np.isfinite(hi - lo), hi - lo, 0.0)
    k = int(np.argmax(width))
    if width[k] <= 0:
        return 0.0, p, p
    t = float(samples[k, 0])
    return float(width[k]), p + t * u + lo[k] * v, p + t * u + hi[k] * v


def axial_diameters(mask_zyx: np.ndarray, spacing_zyx: tuple[float, float, float]) -> AxialDiameters:
    """Longest axial diameter and its perpendicular short axis (see module docstring)."""
    require_lesion(mask_zyx)
    mask = fractions(mask_zyx)
    sz, sy, sx = spacing_zyx
    scale = np.array([sy, sx])
    best: tuple[float, int, np.ndarray, np.ndarray, list[np.ndarray]] | None = None
    # slices in decreasing order of an upper bound of their outline's extent: the outline runs within
    # one pixel of the pixels >= 0.5, so it fits in their bounding box grown by one pixel on each side
    lesion = inside(mask)
    bounds: dict[int, float] = {}
    for zi in np.flatnonzero(lesion.any(axis=(1, 2))):
        rows, cols = np.flatnonzero(lesion[zi].any(axis=1)), np.flatnonzero(lesion[zi].any(axis=0))
        bounds[int(zi)] = float(np.hypot((rows[-1] - rows[0] + 2) * sy, (cols[-1] - cols[0] + 2) * sx))
    for z in sorted(bounds, key=lambda k: (-bounds[k], k)):
        if best is not None and bounds[z] < best[0]:
            break
        polygons = _slice_outline(mask[z])
        if not polygons:  # only voxels at exactly 0.5: no crossing of the level
            continue
        pts = np.concatenate(polygons) * scale
        i, j, d = farthest_pair(pts)
        if best is None or d > best[0] or (d == best[0] and z < best[1]):
            best = (d, z, pts[i], pts[j], [poly * scale for poly in polygons])
    if best is None:
        raise ValueError("mask has no outline at level 0.5")
    longest, z, p, q, polygons_mm = best
    short, s0, s1 = _perpendicular_extent(polygons_mm, p, q, step_mm=min(sy, sx) / 20.0)

    def to_index(point_mm: np.ndarray) -> Point:
        return (float(z), float(point_mm[0] / sy), float(point_mm[1] / sx))

    return AxialDiameters(
        longest_mm=longest,
        short_axis_mm=short,
        slice_index=z,
        long_axis_zyx=(to_index(p), to_index(q)),
        short_axis_zyx=(to_index(s0), to_index(s1)),
    )


def max_3d_diameter(
    mask_zyx: np.ndarray, spacing_zyx: tuple[float, float, float], mesh: Mesh | None = None
) -> tuple[float, tuple[Point, Point]]:
    """Maximum 3D (Feret) diameter in mm and its end points as (z, y, x) indices."""
    verts = (mesh or surface_mesh(mask_zyx, spacing_zyx)).vertices_zyx_mm
    i, j, d = farthest_pair(verts)
    spacing = np.asarray(spacing_zyx, dtype=float)
    a = tuple(float(v) for v in verts[i] / spacing)
    b = tuple(float(v) for v in verts[j] / spacing)
    return d, (a, b)  # type: ignore[return-value]
