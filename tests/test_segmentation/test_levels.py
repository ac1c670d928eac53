"""Intensity helpers: medians per label agree with SciPy's."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from segmentation.levels import label_medians


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16])
def test_label_medians_equal_scipy_including_even_counts(dtype):
    rng = np.random.default_rng(5)
    for _ in range(10):
        values = rng.normal(100.0, 20.0, (12, 30, 30)).astype(dtype)
        labels, n = ndimage.label(rng.random(values.shape) < 0.3)
        expected = np.asarray(ndimage.median(values, labels, np.arange(1, n + 1)), dtype=float)
        assert np.array_equal(np.asarray(label_medians(values, labels, n), dtype=float), expected)


def test_label_medians_of_a_known_labelling():
    values = np.array([5.0, 1.0, 3.0, 10.0, 20.0, 7.0])
    labels = np.array([1, 1, 1, 2, 2, 0])
    assert label_medians(values, labels, 2).tolist() == [3.0, 15.0]
    with pytest.raises(ValueError, match="at least one voxel"):
        label_medians(values, labels, 3)


def test_label_medians_of_large_integers_do_not_overflow():
    values = np.array([30000, 32000, 31000, 32767], dtype=np.int16)
    labels = np.array([1, 1, 2, 2])
    assert label_medians(values, labels, 2).tolist() == [31000.0, 31883.5]
