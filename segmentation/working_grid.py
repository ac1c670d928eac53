"""A coarse working grid for organ-scale segmentation: block means of the CT, and the way back.

The CT is divided into blocks of ``factors`` voxels (the integers nearest to
``target_mm / spacing`` per axis) and each block is replaced by its mean: a
512 x 512 x 300 CT at 0.7 x 0.7 x 1 mm becomes 128 x 128 x 100 voxels of
2.8 x 2.8 x 3 mm with 48 times less noise variance. Voxels beyond the last
whole block (at most ``factor - 1`` per axis) are not covered.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class WorkingGrid:
    image_zyx: np.ndarray  # float32 block means (HU)
    spacing_zyx: tuple[float, float, float]  # mm, of the working grid
    factors_zyx: tuple[int, int, int]  # input voxels per working voxel, per axis
    input_shape_zyx: tuple[int, int, int]

    @property
    def voxel_ml(self) -> float:
        return float(np.prod(self.spacing_zyx)) / 1000.0

    def to_input(self, mask_zyx: np.ndarray) -> np.ndarray:
        """A working-grid mask on the input grid (each block's value repeated; uncovered voxels False)."""
        full = np.zeros(self.input_shape_zyx, dtype=bool)
        up = mask_zyx
        for axis, f in enumerate(self.factors_zyx):
            up = np.repeat(up, f, axis=axis)
        full[tuple(slice(0, n) for n in up.shape)] = up
        return full

    def input_slices(self, box: tuple[slice, ...]) -> tuple[slice, ...]:
        """The input-grid index slices covered by a box of working voxels."""
        return tuple(slice(s.start * f, s.stop * f) for s, f in zip(box, self.factors_zyx, strict=True))


def working_grid(image_zyx: np.ndarray, spacing_zyx: tuple[float, float, float], target_mm: float) -> WorkingGrid:
    """Block means of ``image_zyx`` on blocks of about ``target_mm`` (see module docstring)."""
    factors = tuple(max(1, int(round(target_mm / s))) for s in spacing_zyx)
    shape = tuple(n // f for n, f in zip(image_zyx.shape, factors, strict=True))
    if min(shape) < 1:
        raise ValueError(f"image of {image_zyx.shape} voxels is smaller than one {target_mm} mm block")
    work = image_zyx[tuple(slice(0, n * f) for n, f in zip(shape, factors, strict=True))]
    blocks = work.reshape(shape[0], factors[0], shape[1], factors[1], shape[2], factors[2])
    means = blocks.mean(axis=(1, 3, 5), dtype=np.float32)
    spacing = tuple(float(s * f) for s, f in zip(spacing_zyx, factors, strict=True))
    return WorkingGrid(means, spacing, factors, tuple(image_zyx.shape))  # type: ignore[arg-type]
