"""Targets from a DICOM SR measurement report (TID 1500), as OHIF, 3D Slicer and highdicom write them.

Every measurement group of the report's Imaging Measurements that carries
spatial coordinates gives one target:

* a line: the Long Axis (with a Short Axis: a bidirectional measurement), a
  Length or any other measurement inferred from a POLYLINE; seed = the long
  axis's midpoint, and the long axis is the reader's RECIST line
  (``long_axis_lps_mm``);
* a point (POINT, MULTIPOINT): seed = the (first) point;
* an outline (POLYGON, CIRCLE, ELLIPSE, ...): seed = the mean of its points.

Coordinates on an image (SCOORD) are mapped to LPS through the referenced
image's geometry (:mod:`pipeline.targets.geometry`); patient coordinates
(SCOORD3D) are taken as LPS, in the baseline's frame of reference. Groups
without coordinates (volumetric groups referencing a segment) give no target.

Lesion id, in this order: the Tracking Identifier of a group without
coordinates that has the same Tracking UID (this pipeline's own reports name
the lesion there); the group's Comment (the label OHIF and Cornerstone3D
write); a free-text finding; the Tracking Identifier when it is not a viewer's
tool name (``Cornerstone3DTools@^0.1.0:Length``); else ``SR<k>``. Labels are
made safe for file names (:func:`pipeline.targets.naming.lesion_id`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset

from pipeline.errors import TargetsError
from pipeline.targets.geometry import ImageLookup, Point, image_to_lps, midpoint, triples
from pipeline.targets.json_file import Target
from pipeline.targets.naming import lesion_id

IMAGING_MEASUREMENTS = ("DCM", "126010")
MEASUREMENT_GROUP = ("DCM", "125007")
TRACKING_IDENTIFIER = ("DCM", "112039")
TRACKING_UID = ("DCM", "112040")
COMMENT = ("DCM", "121106")
FINDING = ("DCM", "121071")
LONG_AXIS = ("SCT", "103339001")
SHORT_AXIS = ("SCT", "103340004")
LINE_TYPES = ("POLYLINE",)
POINT_TYPES = ("POINT", "MULTIPOINT")


def _code(item: Dataset) -> tuple[str, str]:
    seq = item.get("ConceptNameCodeSequence")
    if not seq:
        return "", ""
    scheme = str(seq[0].get("CodingSchemeDesignator", ""))
    return ("SCT" if scheme == "SRT" else scheme), str(seq[0].get("CodeValue", ""))


def _items(item: Dataset) -> list[Dataset]:
    return list(item.get("ContentSequence", []))


@dataclass(frozen=True)
class _Shape:
    """One SCOORD/SCOORD3D of a group in LPS: its graphic type, its points, and the measurement it belongs to."""

    graphic_type: str
    points: list[Point]
    measurement: tuple[str, str] | None  # the NUM's concept, None for a group-level region


def _scoord_points(item: Dataset, images: ImageLookup, what: str) -> list[Point]:
    data = [float(v) for v in item.GraphicData]
    if item.ValueType == "SCOORD3D":
        images.check_frame_of_reference(str(item.get("ReferencedFrameOfReferenceUID", "")), what)
        return triples(data)
    refs = [r for c in _items(item) for r in c.get("ReferencedSOPSequence", [])]
    if not refs:
        raise TargetsError(f"{images.describe}: {what}: image coordinates without a referenced image")
    frames = refs[0].get("ReferencedFrameNumber")
    frame = int(frames[0] if isinstance(frames, (list, pydicom.multival.MultiValue)) else frames) if frames else None
    return image_to_lps(images.image(str(refs[0].ReferencedSOPInstanceUID), frame, what), data)


def _shapes(group: Dataset, images: ImageLookup, what: str) -> list[_Shape]:
    out = []
    for item in _items(group):
        if item.ValueType in ("SCOORD", "SCOORD3D"):
            out.append(_Shape(str(item.GraphicType), _scoord_points(item, images, what), None))
        elif item.ValueType == "NUM":
            for child in _items(item):
                if child.ValueType in ("SCOORD", "SCOORD3D"):
                    out.append(_Shape(str(child.GraphicType), _scoord_points(child, images, what), _code(item)))
    return out


def _text(group: Dataset, code: tuple[str, str]) -> str | None:
    for item in _items(group):
        if _code(item) == code and item.ValueType == "TEXT":
            return str(item.TextValue)
    return None


def _uid(group: Dataset) -> str | None:
    for item in _items(group):
        if _code(item) == TRACKING_UID:
            return str(item.UID)
    return None


def _free_text_finding(group: Dataset) -> str | None:
    for item in _items(group):
        if _code(item) == FINDING and item.ValueType == "CODE":
            code = item.ConceptCodeSequence[0]
            if "FREETEXT" in str(code.get("CodeValue", "")).upper():
                return str(code.CodeMeaning)
    return None


def _line(shapes: list[_Shape], code: tuple[str, str]) -> tuple[Point, Point] | None:
    for s in shapes:
        if s.measurement == code and s.graphic_type in LINE_TYPES and len(s.points) >= 2:
            return s.points[0], s.points[-1]
    return None


def _seed_and_axis(shapes: list[_Shape]) -> tuple[Point, tuple[Point, Point] | None]:
    """The seed and the reader's long axis of a group's shapes (see module docstring)."""
    axis = _line(shapes, LONG_AXIS)
    if axis is None:
        lines = [s for s in shapes if s.graphic_type in LINE_TYPES and len(s.points) >= 2]
        axis = (lines[0].points[0], lines[0].points[-1]) if lines else None
    if axis is not None:
        return midpoint(*axis), axis
    points = [s for s in shapes if s.graphic_type in POINT_TYPES]
    if points:
        return points[0].points[0], None
    pts = shapes[0].points
    n = float(len(pts))
    return (sum(p[0] for p in pts) / n, sum(p[1] for p in pts) / n, sum(p[2] for p in pts) / n), None


def measurement_groups(report: Dataset, describe: str) -> list[Dataset]:
    """The report's measurement groups (refusing a file that is not a TID 1500 measurement report)."""
    containers = [i for i in report.get("ContentSequence", []) if _code(i) == IMAGING_MEASUREMENTS]
    if not containers:
        raise TargetsError(f"{describe}: not a measurement report (no Imaging Measurements container)")
    return [g for c in containers for g in _items(c) if _code(g) == MEASUREMENT_GROUP]


def read_sr_targets(path: Path, images: ImageLookup) -> tuple[Target, ...]:
    """The targets of a measurement report (see module docstring)."""
    report = pydicom.dcmread(path)
    groups = measurement_groups(report, images.describe)
    named_by_uid = {}
    for g in groups:
        identifier, uid = _text(g, TRACKING_IDENTIFIER), _uid(g)
        if uid and identifier and ":" not in identifier and not _shapes_present(g):
            named_by_uid[uid] = identifier
    targets: list[Target] = []
    taken: set[str] = set()
    for k, g in enumerate(groups, start=1):
        what = f"measurement group {k}"
        shapes = _shapes(g, images, what)
        if not shapes:
            continue
        identifier = _text(g, TRACKING_IDENTIFIER)
        label = (
            named_by_uid.get(_uid(g) or "")
            or _text(g, COMMENT)
            or _free_text_finding(g)
            or (identifier if identifier and ":" not in identifier else None)
        )
        seed, axis = _seed_and_axis(shapes)
        name = lesion_id(label, f"SR{len(targets) + 1}", taken)
        targets.append(Target(name, seed, long_axis_lps_mm=axis, origin=f"SR {path.name}, {what}"))
    if not targets:
        raise TargetsError(f"{images.describe}: no measurement with coordinates (a line, point or outline) to use")
    return tuple(targets)


def _shapes_present(group: Dataset) -> bool:
    return any(
        i.ValueType in ("SCOORD", "SCOORD3D")
        or (i.ValueType == "NUM" and any(c.ValueType in ("SCOORD", "SCOORD3D") for c in _items(i)))
        for i in _items(group)
    )
