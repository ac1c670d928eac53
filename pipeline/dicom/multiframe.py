"""Per-frame geometry and timing of enhanced multi-frame images (Enhanced/Legacy Converted CT and PET).

Each frame's attributes come from its item of the Per-frame Functional Groups
Sequence (5200,9230), else from the Shared Functional Groups Sequence
(5200,9229), else from the top level of the dataset (PS3.3 C.7.6.16):

* Plane Position (Patient) (0020,9113) -> ImagePositionPatient
* Plane Orientation (Patient) (0020,9116) -> ImageOrientationPatient
* Pixel Measures (0028,9110) -> PixelSpacing, SliceThickness
* Pixel Value Transformation (0028,9145) -> RescaleSlope/Intercept/Type
* Frame Content (0020,9111) -> FrameAcquisitionDateTime, FrameReferenceDateTime,
  FrameAcquisitionDuration (ms), TemporalPositionIndex
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pydicom.dataset import Dataset

from pipeline.dicom import values as dv


@dataclass(frozen=True)
class FrameAttributes:
    """What one frame of a multi-frame image says about its plane, rescale and timing."""

    position: tuple[float, ...] | None
    orientation: tuple[float, ...] | None
    pixel_spacing: tuple[float, ...] | None
    slice_thickness: float | None
    rescale_slope: float | None
    rescale_intercept: float | None
    rescale_type: str | None
    acquisition_datetime: dt.datetime | None
    reference_datetime: dt.datetime | None
    duration_ms: float | None
    temporal_position: int | None


def _item(ds: Dataset | None, keyword: str) -> Dataset | None:
    if ds is None:
        return None
    seq = ds.get(keyword)
    return seq[0] if seq else None


def _lookup(per_frame: Dataset | None, shared: Dataset | None, macro: str) -> Dataset | None:
    """The functional-group macro item for a frame: per-frame first, then shared."""
    return _item(per_frame, macro) or _item(shared, macro)


def frame_attributes(ds: Dataset) -> list[FrameAttributes]:
    """One :class:`FrameAttributes` per frame (NumberOfFrames of them).

    Frames missing from the Per-frame Functional Groups Sequence fall back to
    the shared groups and the top level, so a position may be ``None`` (the
    geometry check then refuses the series naming the file).
    """
    n = int(dv.to_float(ds.get("NumberOfFrames")) or 1)
    shared = _item(ds, "SharedFunctionalGroupsSequence")
    per_frame_seq = ds.get("PerFrameFunctionalGroupsSequence") or []
    out = []
    for k in range(n):
        per_frame = per_frame_seq[k] if k < len(per_frame_seq) else None
        plane = _lookup(per_frame, shared, "PlanePositionSequence")
        orient = _lookup(per_frame, shared, "PlaneOrientationSequence")
        measures = _lookup(per_frame, shared, "PixelMeasuresSequence")
        transform = _lookup(per_frame, shared, "PixelValueTransformationSequence")
        content = _item(per_frame, "FrameContentSequence")
        out.append(
            FrameAttributes(
                position=dv.numbers(plane, "ImagePositionPatient", 3)
                if plane
                else dv.numbers(ds, "ImagePositionPatient", 3),
                orientation=dv.numbers(orient, "ImageOrientationPatient", 6)
                if orient
                else dv.numbers(ds, "ImageOrientationPatient", 6),
                pixel_spacing=dv.numbers(measures, "PixelSpacing", 2)
                if measures
                else dv.numbers(ds, "PixelSpacing", 2),
                slice_thickness=dv.number(measures, "SliceThickness") if measures else dv.number(ds, "SliceThickness"),
                rescale_slope=dv.number(transform, "RescaleSlope") if transform else dv.number(ds, "RescaleSlope"),
                rescale_intercept=dv.number(transform, "RescaleIntercept")
                if transform
                else dv.number(ds, "RescaleIntercept"),
                rescale_type=dv.text(transform, "RescaleType") if transform else dv.text(ds, "RescaleType"),
                acquisition_datetime=dv.parse_datetime(dv.text(content, "FrameAcquisitionDateTime"))
                if content
                else None,
                reference_datetime=dv.parse_datetime(dv.text(content, "FrameReferenceDateTime")) if content else None,
                duration_ms=dv.number(content, "FrameAcquisitionDuration") if content else None,
                temporal_position=int(v)
                if content and (v := dv.number(content, "TemporalPositionIndex")) is not None
                else None,
            )
        )
    return out
