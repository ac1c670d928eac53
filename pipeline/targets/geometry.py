"""Where a viewer's coordinates are in patient space: image coordinates on a referenced image, RAS or LPS.

Image coordinates follow DICOM (PS3.3 C.18.6.1.1): ``(column, row)``, the top
left corner of the top left pixel at ``(0, 0)`` and its centre at ``(0.5, 0.5)``.
The referenced image's plane comes from the study's own headers (its
ImagePositionPatient, ImageOrientationPatient and PixelSpacing).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import SimpleITK as sitk

from pipeline.dicom.discover import DicomIndex, InstanceHeader
from pipeline.dicom.slices import sort_slices
from pipeline.errors import GeometryError, TargetsError

Point = tuple[float, float, float]


class ImageLookup:
    """The study's images by SOP Instance UID (and frame), to place a viewer's image coordinates."""

    def __init__(self, index: DicomIndex, baseline_study_uid: str, describe: str) -> None:
        self._by_uid: dict[tuple[str, int], InstanceHeader] = {}
        for inst in index.instances:
            self._by_uid[(inst.sop_instance_uid, (inst.frame_index or 0) + 1)] = inst
        self._baseline = baseline_study_uid
        self.describe = describe  # names the file in messages

    def image(self, sop_instance_uid: str, frame_number: int | None, what: str) -> InstanceHeader:
        """The referenced image; it must be one of the baseline study's images."""
        inst = self._by_uid.get((sop_instance_uid, frame_number or 1))
        if inst is None:
            raise TargetsError(
                f"{self.describe}: {what} is drawn on image {sop_instance_uid}, which is not in the study folder "
                "(a measurement made on another series or study?)"
            )
        if inst.study_uid != self._baseline:
            raise TargetsError(
                f"{self.describe}: {what} is drawn on an image of study {inst.study_uid} ({inst.study_date}), "
                "not of the baseline; targets are marked on the baseline"
            )
        if inst.position is None or inst.orientation is None or inst.pixel_spacing is None:
            raise TargetsError(f"{self.describe}: {what}: image {sop_instance_uid} has no plane geometry")
        return inst

    def grid(self, series_uid: str | None) -> sitk.Image:
        """An empty image (uint8) with the geometry of a baseline series: ``series_uid`` when the baseline has
        it, else the baseline's CT series with the most slices."""
        baseline = [i for i in self._by_uid.values() if i.study_uid == self._baseline and i.modality == "CT"]
        series: dict[str, list[InstanceHeader]] = {}
        for inst in baseline:
            series.setdefault(inst.series_uid, []).append(inst)
        if not series:
            raise TargetsError(f"{self.describe}: the baseline has no CT series to draw the contours on")
        chosen = series.get(series_uid or "") or max(series.values(), key=len)
        try:
            stack = sort_slices(chosen)
        except GeometryError as exc:
            raise TargetsError(f"{self.describe}: cannot place the contours: {exc}") from None
        image = sitk.Image([int(v) for v in stack.shape_zyx[::-1]], sitk.sitkUInt8)
        image.SetOrigin(stack.origin_lps_mm)
        image.SetSpacing(stack.spacing_xyz_mm)
        image.SetDirection(stack.direction)
        return image

    def check_frame_of_reference(self, frame_of_reference_uid: str | None, what: str) -> None:
        """Patient coordinates (SCOORD3D) must be in the baseline's frame of reference when the file says so."""
        if not frame_of_reference_uid:
            return
        baseline = {i.frame_of_reference_uid for i in self._by_uid.values() if i.study_uid == self._baseline}
        if frame_of_reference_uid not in baseline:
            raise TargetsError(
                f"{self.describe}: {what} is in frame of reference {frame_of_reference_uid}, not the baseline's "
                "(a measurement made on another study?)"
            )


def image_to_lps(inst: InstanceHeader, columns_rows: Sequence[float]) -> list[Point]:
    """LPS points of flat image coordinates ``[c0, r0, c1, r1, ...]`` on ``inst``."""
    assert inst.position is not None and inst.orientation is not None and inst.pixel_spacing is not None
    iop = np.asarray(inst.orientation, dtype=float)
    spacing_row, spacing_col = inst.pixel_spacing
    pairs = np.asarray(columns_rows, dtype=float).reshape(-1, 2) - 0.5
    points = (
        np.asarray(inst.position, dtype=float)
        + pairs[:, :1] * spacing_col * iop[:3]
        + pairs[:, 1:] * spacing_row * iop[3:]
    )
    return [(float(p[0]), float(p[1]), float(p[2])) for p in points]


def triples(values: Iterable[float]) -> list[Point]:
    """Flat ``[x0, y0, z0, x1, ...]`` as points."""
    flat = np.asarray(list(values), dtype=float).reshape(-1, 3)
    return [(float(p[0]), float(p[1]), float(p[2])) for p in flat]


def ras_to_lps(point: Sequence[float]) -> Point:
    """RAS (3D Slicer's world) to LPS (DICOM's): x and y change sign."""
    return -float(point[0]), -float(point[1]), float(point[2])


def midpoint(a: Point, b: Point) -> Point:
    return (a[0] + b[0]) / 2.0, (a[1] + b[1]) / 2.0, (a[2] + b[2]) / 2.0
