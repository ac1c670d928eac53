"""A coarse working grid for organ-scale segmentation: block means of the CT, and the way back.

The CT is divided into blocks of ``factors`` voxels (the integers nearest to
``target_mm / spacing`` per axis) and each block is replaced by its mean: a
512 x 512 x 300 CT at 0.7 x 0.7 x 1 mm becomes 128 x 128 x 100 voxels of
2.8 x 2.8 x 3 mm with 48 times less noise variance. Voxels beyond the last
whole block (at most ``factor - 1`` per axis) are not covered.

The means are float32. A CT of integers (as stored in DICOM) is summed exactly in int32, a few megabytes of
it at a time, which gives the very values of a float32 mean at a fraction of its time.
"""

from __future__ import annotations

from collections.abc import Sequence
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
    means = integer_block_means(work, factors)
    if means is None:
        blocks = work.reshape(shape[0], factors[0], shape[1], factors[1], shape[2], factors[2])
        means = blocks.mean(axis=(1, 3, 5), dtype=np.float32)
    spacing = tuple(float(s * f) for s, f in zip(spacing_zyx, factors, strict=True))
    return WorkingGrid(means, spacing, factors, tuple(image_zyx.shape))  # type: ignore[arg-type]


#: a float32 sum of integers is exact, in any order, while every partial sum is an integer of at most this size
_FLOAT32_WHOLE = 2**24
#: input bytes summed at a time (the partial sums stay in the processor's cache)
_CHUNK_BYTES = 2**22


def integer_block_means(values: np.ndarray, factors: Sequence[int] | np.ndarray) -> np.ndarray | None:
    """float32 means of the blocks of ``factors`` voxels of a 3D array (whose shape they divide), from exact
    int32 block sums; ``None`` unless ``values`` holds integers (booleans, an integer type, or whole numbers of
    a floating-point type) small enough that a float32 sum of a block is exact in any order.

    Where it gives means, they are those of ``numpy.mean`` in float32 (the same sums, divided the same way).
    """
    sums = integer_block_sums(values, factors)
    if sums is None:
        return None
    means = sums.astype(np.float32)
    return np.true_divide(means, np.intp(np.prod(factors)), out=means, casting="unsafe")


def integer_block_sums(values: np.ndarray, factors: Sequence[int] | np.ndarray) -> np.ndarray | None:
    """Exact int32 sums of the blocks of :func:`integer_block_means` (``None`` where it gives none)."""
    count = int(np.prod(factors))
    limit = _FLOAT32_WHOLE // count  # the largest magnitude whose block sums float32 holds exactly
    kind = values.dtype.kind
    if kind in "iu":
        info = np.iinfo(values.dtype)
        if max(-int(info.min), int(info.max)) > limit:
            return None
    elif kind != "b" and kind != "f":
        return None
    fz, fy, fx = (int(f) for f in factors)
    sums = np.empty([n // f for n, f in zip(values.shape, (fz, fy, fx), strict=True)], dtype=np.int32)
    step = max(1, _CHUNK_BYTES // max(1, values[:fz].nbytes))  # blocks along the first axis per chunk
    for j in range(0, sums.shape[0], step):
        chunk = values[j * fz : (j + step) * fz]
        if kind == "f":
            with np.errstate(invalid="ignore"):  # NaN, infinities: not integers, found below
                whole = chunk.astype(np.int32)
            bits = f"u{chunk.itemsize}"  # bit by bit: -0.0 is no integer either (a float32 sum keeps its sign)
            if not np.array_equal(whole.astype(chunk.dtype).view(bits), chunk.view(bits)):
                return None
            if max(-int(whole.min()), int(whole.max())) > limit:
                return None
            chunk = whole
        plane = chunk[::fz].astype(np.int32)
        for k in range(1, fz):
            plane += chunk[k::fz]
        rows = plane[:, ::fy].copy()
        for k in range(1, fy):
            rows += plane[:, k::fy]
        out = sums[j : j + step]
        out[...] = rows[:, :, ::fx]
        for k in range(1, fx):
            out += rows[:, :, k::fx]
    return sums
