"""Slice geometry: order the instances of a series into one regular volume, or refuse.

Slices are sorted by their position along the slice normal
``n = row_cosine x column_cosine`` (ImagePositionPatient . n), never by file
name or instance number. A stack is accepted only if every slice has the same
orientation, size and pixel spacing, positions are distinct, consecutive
slices are equally spaced (1 % or 0.01 mm tolerance) and lie on the normal
through the first slice (no gantry tilt / shear).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.discover import InstanceHeader
from pipeline.errors import GeometryError

ORIENTATION_TOLERANCE = 1e-4
SPACING_RELATIVE_TOLERANCE = 0.01
SPACING_ABSOLUTE_TOLERANCE_MM = 0.01


@dataclass(frozen=True)
class SliceStack:
    """Instances sorted along the slice normal with the volume geometry they define."""

    instances: tuple[InstanceHeader, ...]
    origin_lps_mm: tuple[float, float, float]
    direction: tuple[float, ...]  # SimpleITK order: columns are the i, j, k axes
    spacing_xyz_mm: tuple[float, float, float]
    shape_zyx: tuple[int, int, int]


def _label(instances: Sequence[InstanceHeader]) -> str:
    first = instances[0]
    return f"{first.modality} series {first.series_uid}"


def sort_slices(instances: Sequence[InstanceHeader]) -> SliceStack:
    """Sort and validate; raise :class:`GeometryError` naming the series on any inconsistency."""
    if not instances:
        raise GeometryError("empty series")
    label = _label(instances)
    first = instances[0]
    if any(i.orientation is None or i.position is None for i in instances):
        raise GeometryError(f"{label}: missing ImageOrientationPatient or ImagePositionPatient")
    orient = np.array([i.orientation for i in instances], dtype=float)
    if np.abs(orient - orient[0]).max() > ORIENTATION_TOLERANCE:
        raise GeometryError(f"{label}: slices have different orientations")
    sizes = {(i.rows, i.columns) for i in instances}
    if len(sizes) != 1 or None in next(iter(sizes)):
        raise GeometryError(f"{label}: slices have different or missing sizes {sorted(map(str, sizes))}")
    spacings = {i.pixel_spacing for i in instances}
    if len(spacings) != 1 or first.pixel_spacing is None:
        raise GeometryError(f"{label}: slices have different or missing PixelSpacing")
    if any(i.number_of_frames > 1 for i in instances):
        raise GeometryError(f"{label}: multi-frame instances are not supported")
    row = orient[0, :3] / np.linalg.norm(orient[0, :3])
    col = orient[0, 3:] / np.linalg.norm(orient[0, 3:])
    if abs(float(row @ col)) > 1e-3:
        raise GeometryError(f"{label}: row and column cosines are not orthogonal")
    normal = np.cross(row, col)
    positions = np.array([i.position for i in instances], dtype=float)
    along = positions @ normal
    order = np.argsort(along, kind="stable")
    along = along[order]
    positions = positions[order]
    sorted_instances = tuple(instances[k] for k in order)
    row_spacing, col_spacing = first.pixel_spacing
    if len(sorted_instances) == 1:
        slice_spacing = first.slice_thickness or 1.0
    else:
        steps = np.diff(along)
        dup = np.flatnonzero(steps < SPACING_ABSOLUTE_TOLERANCE_MM)
        if dup.size:
            z = along[dup[0]]
            raise GeometryError(f"{label}: {dup.size + 1} slices share position {z:.2f} mm along the normal")
        slice_spacing = float(np.median(steps))
        tol = max(SPACING_RELATIVE_TOLERANCE * slice_spacing, SPACING_ABSOLUTE_TOLERANCE_MM)
        bad = np.flatnonzero(np.abs(steps - slice_spacing) > tol)
        if bad.size:
            k = bad[0]
            ratio = steps[k] / slice_spacing
            if abs(ratio - round(ratio)) * slice_spacing <= tol and round(ratio) >= 2:
                raise GeometryError(
                    f"{label}: {int(round(ratio)) - 1} missing slice(s) between {along[k]:.2f} and {along[k + 1]:.2f} mm"
                )
            raise GeometryError(
                f"{label}: non-uniform slice spacing ({steps.min():.3f} to {steps.max():.3f} mm)"
            )
        drift = positions - positions[0] - np.outer(along - along[0], normal)
        shear = float(np.abs(drift).max())
        if shear > max(tol, 0.05):
            raise GeometryError(f"{label}: slices are offset in-plane by up to {shear:.2f} mm (gantry tilt or sheared stack)")
    direction = np.column_stack([row, col, normal])
    return SliceStack(
        instances=sorted_instances,
        origin_lps_mm=tuple(float(v) for v in positions[0]),  # type: ignore[arg-type]
        direction=tuple(float(v) for v in direction.ravel()),
        spacing_xyz_mm=(float(col_spacing), float(row_spacing), slice_spacing),
        shape_zyx=(len(sorted_instances), int(first.rows), int(first.columns)),  # type: ignore[arg-type]
    )
