"""Every measure of one lesion in one call, on the lesion's bounding box.

The mask and the images share one grid (``spacing_zyx``); the arrays may be
whole images: only a box around the lesion (plus the 1 cm^3 peak sphere's
reach) is cut out and measured, so the cost depends on the lesion's size,
not the image's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from measurement.diameters import AxialDiameters, axial_diameters
from measurement.intensity import PEAK_SPHERE_RADIUS_MM, CtIntensity, ct_intensity
from measurement.masks import crop_box
from measurement.morphology import Morphology, morphology
from measurement.pet import PetMeasures, pet_measures
from measurement.volume import centroid_zyx


@dataclass(frozen=True)
class LesionMeasures:
    """Points are continuous (z, y, x) indices of the *input* arrays."""

    axial: AxialDiameters
    shape: Morphology
    centroid_zyx: tuple[float, float, float]
    ct: CtIntensity | None = None
    pet: PetMeasures | None = None


def _shift(p: tuple[float, float, float], offset: np.ndarray) -> tuple[float, float, float]:
    return tuple(float(v) for v in np.asarray(p) + offset)  # type: ignore[return-value]


def measure_lesion(
    mask_zyx: np.ndarray,
    spacing_zyx: tuple[float, float, float],
    ct_zyx: np.ndarray | None = None,
    pet_zyx: np.ndarray | None = None,
) -> LesionMeasures:
    """Diameters, shape, centroid, and CT (HU) or PET (SUV) statistics of the lesion in ``mask_zyx``."""
    reach = [int(np.ceil(PEAK_SPHERE_RADIUS_MM / s)) + 1 for s in spacing_zyx]
    tight = crop_box(mask_zyx, margin=0)
    box = tuple(
        slice(max(s.start - r, 0), min(s.stop + r, n)) for s, r, n in zip(tight, reach, np.shape(mask_zyx), strict=True)
    )
    offset = np.array([s.start for s in box], dtype=float)
    mask = np.asarray(mask_zyx)[box]
    axial = axial_diameters(mask, spacing_zyx)
    axial = AxialDiameters(
        axial.longest_mm,
        axial.short_axis_mm,
        axial.slice_index + int(offset[0]),
        (_shift(axial.long_axis_zyx[0], offset), _shift(axial.long_axis_zyx[1], offset)),
        (_shift(axial.short_axis_zyx[0], offset), _shift(axial.short_axis_zyx[1], offset)),
    )
    return LesionMeasures(
        axial=axial,
        shape=morphology(mask, spacing_zyx),
        centroid_zyx=_shift(centroid_zyx(mask), offset),
        ct=ct_intensity(np.asarray(ct_zyx)[box], mask) if ct_zyx is not None else None,
        pet=pet_measures(np.asarray(pet_zyx)[box], mask, spacing_zyx) if pet_zyx is not None else None,
    )
