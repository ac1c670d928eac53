"""Agreement of a segmentation with a reference one (e.g. a manual or a phantom's true mask).

For users who check this pipeline's masks against their own, and for the
accuracy benchmarks. Masks follow :mod:`measurement.masks` (binary or
partial-volume fractions) and must be on the same grid.

* ``dice``: ``2 |A & B| / (|A| + |B|)`` of the voxel sets with fraction >= 0.5;
* ``volume_error_pct``: 100 x (volume - reference volume) / reference volume,
  volumes as in :func:`measurement.volume.volume_ml`;
* ``longest_diameter_error_mm``: RECIST longest axial diameter (as in
  :func:`measurement.diameters.axial_diameters`) minus the reference's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from measurement.diameters import axial_diameters
from measurement.masks import inside
from measurement.volume import volume_ml


@dataclass(frozen=True)
class Agreement:
    dice: float
    volume_ml: float
    reference_volume_ml: float
    volume_error_pct: float
    longest_diameter_mm: float
    reference_longest_diameter_mm: float
    longest_diameter_error_mm: float


def dice(mask_zyx: np.ndarray, reference_zyx: np.ndarray) -> float:
    """Dice coefficient of the voxels with fraction >= 0.5 (1.0 when both are empty)."""
    if np.shape(mask_zyx) != np.shape(reference_zyx):
        raise ValueError(f"masks on different grids: {np.shape(mask_zyx)} vs {np.shape(reference_zyx)}")
    a, b = inside(mask_zyx), inside(reference_zyx)
    total = int(np.count_nonzero(a)) + int(np.count_nonzero(b))
    return 1.0 if total == 0 else 2.0 * int(np.count_nonzero(a & b)) / total


def agreement(
    mask_zyx: np.ndarray,
    reference_zyx: np.ndarray,
    spacing_zyx: tuple[float, float, float],
    reference_volume_ml: float | None = None,
    reference_longest_diameter_mm: float | None = None,
) -> Agreement:
    """Dice, volume and longest-diameter errors of ``mask_zyx`` against ``reference_zyx``.

    ``reference_volume_ml`` / ``reference_longest_diameter_mm`` replace the
    values measured on the reference mask when exact ones are known (an
    analytic phantom). Raises ``ValueError`` when either mask is empty (no
    diameter exists; a missed lesion is a detection failure, not an error of
    size).
    """
    ref_volume = volume_ml(reference_zyx, spacing_zyx) if reference_volume_ml is None else reference_volume_ml
    ref_diameter = (
        axial_diameters(reference_zyx, spacing_zyx).longest_mm
        if reference_longest_diameter_mm is None
        else reference_longest_diameter_mm
    )
    if ref_volume <= 0:
        raise ValueError("the reference mask is empty")
    volume = volume_ml(mask_zyx, spacing_zyx)
    diameter = axial_diameters(mask_zyx, spacing_zyx).longest_mm
    return Agreement(
        dice=dice(mask_zyx, reference_zyx),
        volume_ml=volume,
        reference_volume_ml=ref_volume,
        volume_error_pct=100.0 * (volume - ref_volume) / ref_volume,
        longest_diameter_mm=diameter,
        reference_longest_diameter_mm=ref_diameter,
        longest_diameter_error_mm=diameter - ref_diameter,
    )
