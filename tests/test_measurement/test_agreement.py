"""Agreement metrics on boxes whose overlap, volumes and diameters are known by hand."""

from __future__ import annotations

import numpy as np
import pytest

from measurement.agreement import agreement, dice

SPACING = (2.0, 1.0, 1.0)


def box(z0: int, y0: int, x0: int, size: tuple[int, int, int] = (4, 10, 10)) -> np.ndarray:
    mask = np.zeros((12, 30, 30), bool)
    mask[z0 : z0 + size[0], y0 : y0 + size[1], x0 : x0 + size[2]] = True
    return mask


def test_dice_of_shifted_boxes():
    a, b = box(2, 5, 5), box(2, 5, 10)  # 400 voxels each, 200 shared
    assert dice(a, b) == pytest.approx(0.5)
    assert dice(a, a) == 1.0
    assert dice(np.zeros((2, 2, 2)), np.zeros((2, 2, 2))) == 1.0


def test_volume_and_diameter_errors():
    mask, reference = box(2, 5, 5, (4, 10, 12)), box(2, 5, 5)  # 4x10x12 vs 4x10x10 voxels
    result = agreement(mask, reference, SPACING)
    assert result.volume_ml == pytest.approx(4 * 10 * 12 * 2e-3)
    assert result.volume_error_pct == pytest.approx(20.0)

    # the outline of a binary W x H mm rectangle (1 mm pixels) cuts each corner at half a pixel, so its
    # longest chord joins opposite cut corners: max(hypot(W - 1, H), hypot(W, H - 1))
    def longest(w: float, h: float) -> float:
        return max(np.hypot(w - 1, h), np.hypot(w, h - 1))

    assert result.longest_diameter_error_mm == pytest.approx(longest(12, 10) - longest(10, 10), abs=1e-6)
    exact = agreement(mask, reference, SPACING, reference_volume_ml=1.0, reference_longest_diameter_mm=15.0)
    assert exact.volume_error_pct == pytest.approx(100.0 * (0.96 - 1.0))
    assert exact.longest_diameter_error_mm == pytest.approx(longest(12, 10) - 15.0, abs=1e-6)


def test_refuses_different_grids_and_empty_reference():
    with pytest.raises(ValueError, match="different grids"):
        dice(np.zeros((2, 2, 2)), np.zeros((2, 2, 3)))
    with pytest.raises(ValueError, match="empty"):
        agreement(box(2, 5, 5), np.zeros((12, 30, 30), bool), SPACING)
