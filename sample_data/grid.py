"""Axial acquisition grids of the synthetic scanners."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Grid:
    """An axial image grid in scanner LPS millimetres (rows along +y, columns along +x).

    ``origin_lps_mm`` is the centre of voxel (z, y, x) = (0, 0, 0); slices are
    stacked along +z. ``spacing_xyz_mm`` is (column spacing, row spacing, slice
    spacing).
    """

    shape_zyx: tuple[int, int, int]
    spacing_xyz_mm: tuple[float, float, float]
    origin_lps_mm: tuple[float, float, float]
    slice_thickness_mm: float

    @classmethod
    def centred(
        cls,
        shape_zyx: tuple[int, int, int],
        spacing_xyz_mm: tuple[float, float, float],
        centre_lps_mm: tuple[float, float, float],
        slice_thickness_mm: float | None = None,
    ) -> Grid:
        """A grid of the given shape and spacing whose centre is ``centre_lps_mm``."""
        nz, ny, nx = shape_zyx
        sx, sy, sz = spacing_xyz_mm
        half = np.array([(nx - 1) * sx, (ny - 1) * sy, (nz - 1) * sz]) / 2.0
        origin = np.asarray(centre_lps_mm, dtype=float) - half
        thickness = sz if slice_thickness_mm is None else slice_thickness_mm
        return cls(shape_zyx, spacing_xyz_mm, tuple(float(v) for v in origin), thickness)  # type: ignore[arg-type]

    @property
    def centre_lps_mm(self) -> tuple[float, float, float]:
        """LPS millimetres of the grid's centre (the inverse of :meth:`centred`)."""
        nz, ny, nx = self.shape_zyx
        half = np.array([(nx - 1), (ny - 1), (nz - 1)]) * np.asarray(self.spacing_xyz_mm) / 2.0
        return tuple(float(v) for v in np.asarray(self.origin_lps_mm) + half)  # type: ignore[return-value]

    def slice_z_mm(self) -> np.ndarray:
        """Patient z (mm) of every slice centre."""
        return self.origin_lps_mm[2] + np.arange(self.shape_zyx[0]) * self.spacing_xyz_mm[2]

    def axis_mm(self, axis: int) -> np.ndarray:
        """Voxel-centre coordinates (mm) along x (0), y (1) or z (2)."""
        n = self.shape_zyx[2 - axis]
        return self.origin_lps_mm[axis] + np.arange(n) * self.spacing_xyz_mm[axis]

    def index_range(self, lo_lps: np.ndarray, hi_lps: np.ndarray, margin: int = 2) -> tuple[slice, slice, slice]:
        """Index slices (z, y, x) of the voxels inside the LPS box ``[lo, hi]`` plus a margin."""
        out = []
        for axis in (2, 1, 0):
            n = self.shape_zyx[2 - axis]
            o, s = self.origin_lps_mm[axis], self.spacing_xyz_mm[axis]
            i0 = int(np.floor((lo_lps[axis] - o) / s)) - margin
            i1 = int(np.ceil((hi_lps[axis] - o) / s)) + margin + 1
            out.append(slice(max(i0, 0), max(min(i1, n), 0)))
        return tuple(out)  # type: ignore[return-value]

    def points_lps(self, zyx: tuple[slice, slice, slice]) -> np.ndarray:
        """Voxel-centre LPS coordinates of a block, shape ``(nz, ny, nx, 3)``."""
        z = self.axis_mm(2)[zyx[0]]
        y = self.axis_mm(1)[zyx[1]]
        x = self.axis_mm(0)[zyx[2]]
        zz, yy, xx = np.meshgrid(z, y, x, indexing="ij")
        return np.stack([xx, yy, zz], axis=-1)
