"""The segmentation result: where a lesion reaches the border of its image."""

from __future__ import annotations

import numpy as np
import pytest

from segmentation.result import LesionSegmentation

SHAPE = (20, 30, 40)


def _cube(offset_zyx: tuple[int, int, int], fraction: float = 1.0) -> LesionSegmentation:
    """A 4 x 4 x 4 voxel lesion whose box starts at ``offset_zyx`` and holds the lesion in its inner 2 x 2 x 2
    voxels (the outer layer at ``fraction``, as a partial-volume mask has)."""
    mask = np.full((4, 4, 4), fraction, dtype=np.float32)
    mask[1:3, 1:3, 1:3] = 1.0
    return LesionSegmentation(True, "", (0.0, 0.0, 0.0), mask, offset_zyx)


@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        ((8, 10, 10), ""),
        ((1, 1, 1), ""),  # the box's outer layer is lesion too: slices 1-4, rows 1-4, columns 1-4
        ((0, 10, 10), "its first or last slice"),  # lesion voxels in slice 0
        ((16, 10, 10), "its first or last slice"),  # in slice 19
        ((8, 0, 10), "the edge of its axial field of view"),
        ((8, 10, 36), "the edge of its axial field of view"),  # in column 39
        ((0, 0, 10), "its first or last slice"),
    ],
)
def test_border_reached(offset, expected):
    assert _cube(offset).border_reached(SHAPE) == expected


def test_partial_volume_below_half_at_the_border_is_not_lesion():
    """The box's outer layer at fraction 0.4 touches slice 0 and the first row; the lesion's voxels do not."""
    assert _cube((0, 0, 10), fraction=0.4).border_reached(SHAPE) == ""
    assert _cube((0, 0, 10), fraction=0.5).border_reached(SHAPE) == "its first or last slice"


def test_not_found_reaches_nothing():
    assert LesionSegmentation(False, "no lesion", (1.0, 1.0, 1.0)).border_reached(SHAPE) == ""
