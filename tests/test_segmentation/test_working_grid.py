"""Block means of the working grid: exact integer block sums give the float32 means of numpy's float32 mean.

The oracle of a block mean is the exact rational mean of the block's integers rounded to the nearest float32;
a float32 mean computed by numpy gives the same numbers wherever its sums are exact, which is where the
integer path is taken.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from segmentation.lesion_region import block_mean
from segmentation.working_grid import integer_block_means, working_grid


def _blocks(a: np.ndarray, f: tuple[int, int, int]) -> np.ndarray:
    n = [s // k for s, k in zip(a.shape, f)]
    return a.reshape(n[0], f[0], n[1], f[1], n[2], f[2])


def _exact_means(a: np.ndarray, f: tuple[int, int, int]) -> np.ndarray:
    """Each block's exact mean (Python integers, a fraction) rounded to the nearest float32."""
    sums = _blocks(a.astype(np.int64), f).sum(axis=(1, 3, 5))
    count = int(np.prod(f))
    return np.array([np.float32(float(Fraction(int(s), count))) for s in sums.ravel()], np.float32).reshape(sums.shape)


def _same(a: np.ndarray | None, b: np.ndarray) -> bool:
    return a is not None and a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


@pytest.mark.parametrize("dtype", [np.int16, np.uint8, np.bool_, np.float32, np.float64])
def test_integer_block_means_are_the_exact_means_rounded_to_float32(dtype: type) -> None:
    rng = np.random.default_rng(5)
    for f in [(1, 1, 1), (2, 4, 4), (3, 2, 5), (1, 3, 1)]:
        shape = tuple(k * int(n) for k, n in zip(f, rng.integers(1, 7, 3)))
        if dtype is np.bool_:
            a = rng.random(shape) < 0.4
        elif dtype is np.uint8:
            a = rng.integers(0, 256, shape).astype(np.uint8)
        else:
            a = rng.integers(-1024, 3072, shape).astype(dtype)
        means = integer_block_means(a, f)
        assert _same(means, _exact_means(a, f))
        assert _same(means, _blocks(a, f).mean(axis=(1, 3, 5), dtype=np.float32))


def test_the_extremes_of_int16_in_the_largest_block_float32_sums_exactly() -> None:
    f = (8, 8, 8)  # 512 voxels of up to 2**15: sums up to 2**24
    a = np.full((16, 8, 8), -32768, np.int16)
    a[8:] = 32767
    means = integer_block_means(a, f)
    assert means is not None and means.ravel().tolist() == [-32768.0, 32767.0]
    assert integer_block_means(np.zeros((8, 8, 9), np.int16), (8, 8, 9)) is None  # 576 voxels: not always exact


@pytest.mark.parametrize(
    "value", [0.5, np.nan, np.inf, -0.0, 2.0**24], ids=["fraction", "nan", "inf", "negative-zero", "too-large"]
)
def test_no_integer_means_of_values_that_are_not_small_integers(value: float) -> None:
    a = np.ones((4, 4, 4), np.float32)
    a[1, 2, 3] = value
    assert integer_block_means(a, (2, 2, 2)) is None
    assert integer_block_means(np.ones((4, 4, 4), np.int32), (2, 2, 2)) is None  # int32 may exceed 2**24


def test_block_mean_of_every_input_type_is_numpys_float32_mean() -> None:
    """The lesion grid's block means (integers summed exactly, other values by numpy) against the float32 mean,
    with blocks larger than the array on one axis (one block of the whole axis)."""
    rng = np.random.default_rng(11)
    f = np.array([2, 3, 7])
    for a in (
        rng.integers(-1024, 3072, (9, 12, 5)).astype(np.int16),
        rng.random((9, 12, 5)) < 0.3,
        rng.normal(40.0, 30.0, (9, 12, 5)).astype(np.float32),
        rng.integers(-(2**28), 2**28, (9, 12, 5)).astype(np.int32),
    ):
        n = [max(s // k, 1) for s, k in zip(a.shape, f)]
        g = np.minimum(f, a.shape)
        crop = np.asarray(a[: n[0] * g[0], : n[1] * g[1], : n[2] * g[2]], dtype=np.float32)
        expected = crop.reshape(n[0], g[0], n[1], g[1], n[2], g[2]).mean(axis=(1, 3, 5))
        assert _same(block_mean(a, f), expected)


def test_working_grid_of_a_ct_is_its_float32_block_means() -> None:
    rng = np.random.default_rng(2)
    ct = rng.integers(-1024, 1500, (21, 66, 70)).astype(np.int16)
    grid = working_grid(ct, (2.0, 0.75, 0.75), 3.0)
    assert grid.factors_zyx == (2, 4, 4)
    work = ct[:20, :64, :68]
    assert _same(grid.image_zyx, _blocks(work, (2, 4, 4)).mean(axis=(1, 3, 5), dtype=np.float32))
