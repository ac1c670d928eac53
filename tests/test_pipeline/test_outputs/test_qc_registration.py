"""The region of the registration QC image: first, last and mean index of the ROI voxels, without listing them."""

from __future__ import annotations

import numpy as np

from pipeline.outputs.qc_registration import roi_extent


def test_extent_is_that_of_the_voxel_list() -> None:
    rng = np.random.default_rng(3)
    for _ in range(30):
        roi = np.zeros(tuple(int(n) for n in rng.integers(4, 40, 3)), dtype=bool)
        box = tuple(slice(int(rng.integers(0, n // 2)), int(rng.integers(n // 2, n)) + 1) for n in roi.shape)
        roi[box] = rng.random(roi[box].shape) < 0.3
        roi[box[0].start, box[1].start, box[2].start] = True
        voxels = np.argwhere(roi)
        lo, hi, mean = roi_extent(roi)
        assert np.array_equal(lo, voxels.min(axis=0))
        assert np.array_equal(hi, voxels.max(axis=0))
        assert np.array_equal(mean, voxels.mean(axis=0))  # bit for bit: the QC slices are where they were


def test_empty_roi_is_the_whole_image() -> None:
    lo, hi, mean = roi_extent(np.zeros((5, 8, 9), dtype=bool))
    assert lo.tolist() == [0, 0, 0] and hi.tolist() == [4, 7, 8]
    assert mean.tolist() == [2.0, 3.5, 4.0]
