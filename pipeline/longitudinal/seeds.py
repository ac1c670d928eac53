"""Checks of the reader's baseline seeds, and messages that say what is at a point and what the mistake may be.

The two common mistakes behind a seed that misses its lesion: a point copied
from a viewer that shows RAS coordinates (3D Slicer's default; DICOM patient
coordinates are LPS, so x and y have the wrong sign), or a point taken on
another series or study (another frame of reference).
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from pipeline import spatial
from pipeline.dicom.load import LoadedSeries
from pipeline.errors import TargetsError
from pipeline.targets.json_file import Point, Target

BODY_THRESHOLD_HU = -500.0
TISSUES = (
    (-900.0, "air"),
    (-150.0, "lung or gas"),
    (-30.0, "fat"),
    (130.0, "soft tissue"),
    (300.0, "enhanced vessel or contrast"),
)


def tissue(hu: float) -> str:
    """A plain name for a CT value: air, lung or gas, fat, soft tissue, enhanced vessel or contrast, bone or metal."""
    for upper, name in TISSUES:
        if hu < upper:
            return name
    return "bone, calcification or metal"


def value_at(ct: LoadedSeries, point: Point) -> float | None:
    """Median HU in the 3 x 3 x 3 voxels around ``point`` (``None`` outside the CT)."""
    idx = spatial.lps_to_index_zyx(ct.image, np.asarray(point, dtype=float))
    if not spatial.inside(ct.image, idx):
        return None
    array = sitk.GetArrayViewFromImage(ct.image)
    centre = [int(round(v)) for v in idx]
    box = tuple(slice(max(c - 1, 0), c + 2) for c in centre)
    return float(np.median(array[box]))


def _ras_hint(ct: LoadedSeries, point: Point) -> str:
    flipped = (-point[0], -point[1], point[2])
    hu = value_at(ct, flipped)
    if hu is None or hu < BODY_THRESHOLD_HU:
        return ""
    return (
        f"; with x and y negated, [{flipped[0]:.1f}, {flipped[1]:.1f}, {flipped[2]:.1f}] lies in {tissue(hu)} "
        f"({hu:.0f} HU): was the point copied as RAS (3D Slicer shows RAS) instead of LPS?"
    )


def hint(ct: LoadedSeries, point: Point) -> str:
    """What may be wrong with a point that missed its lesion: the RAS check, else the other common mistake."""
    ras = _ras_hint(ct, point)
    return ras or "; is the point in LPS (not RAS), and from this study's baseline CT (not another series or study)?"


def describe(ct: LoadedSeries, point: Point) -> str:
    """What the baseline CT holds at ``point``."""
    hu = value_at(ct, point)
    return "outside the CT" if hu is None else f"{tissue(hu)} ({hu:.0f} HU)"


def check_seeds(targets: tuple[Target, ...], ct: LoadedSeries) -> None:
    """Every baseline seed must lie inside the baseline CT and inside the body."""
    for t in targets:
        where = f"seed of lesion {t.lesion_id} at {[round(v, 2) for v in t.seed_lps_mm]} mm"
        hu = value_at(ct, t.seed_lps_mm)
        if hu is None:
            raise TargetsError(
                f"{where} lies outside the baseline CT (series {ct.series_uid}){hint(ct, t.seed_lps_mm)}"
            )
        if hu < BODY_THRESHOLD_HU:
            raise TargetsError(
                f"{where} is outside the body ({tissue(hu)}, {hu:.0f} HU in the baseline CT){hint(ct, t.seed_lps_mm)}"
            )
