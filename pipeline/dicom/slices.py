"""Slice geometry: order the slices of a series into one regular volume, or refuse and say why.

Slices (single-frame files or frames of a multi-frame file) are sorted by
their position along the slice normal ``n = row_cosine x column_cosine``
(ImagePositionPatient . n), never by file name or instance number. A stack is
accepted only if every slice has a finite position, an orientation of two
orthogonal unit vectors (0.01, 0.001) and a finite positive pixel spacing, the
same orientation (1e-4), size and pixel spacing, positions are distinct (0.01 mm),
consecutive slices are equally spaced (1 % or 0.01 mm) and lie on the normal
through the first slice (no gantry tilt / shear: in-plane offset <= 0.05 mm or
the spacing tolerance). :func:`check_geometry` lists every problem found (for
``inspect``); :func:`sort_slices` raises on the first.
"""

from __future__ import annotations

import contextlib
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import numpy as np

from pipeline.dicom.discover import InstanceHeader
from pipeline.errors import GeometryError

ORIENTATION_TOLERANCE = 1e-4
SPACING_RELATIVE_TOLERANCE = 0.01
SPACING_ABSOLUTE_TOLERANCE_MM = 0.01
SHEAR_TOLERANCE_MM = 0.05
UNIT_TOLERANCE = 0.01  # |norm - 1| of each direction cosine vector
ORTHOGONALITY_TOLERANCE = 1e-3  # |row . column|
OTHER_ORIENTATION_COSINE = 0.02  # direction cosines differing more than this: another orientation
MAX_OTHER_ORIENTATION_FRACTION = 0.2  # "a few images" of another orientation in a series


class GeometryProblem(StrEnum):
    MISSING_POSITION = "missing position/orientation"
    INVALID_VALUE = "invalid position, orientation or spacing"
    MIXED_ORIENTATION = "mixed orientations"
    MIXED_SIZE = "mixed sizes"
    MIXED_SPACING = "mixed pixel spacing"
    NOT_ORTHOGONAL = "non-orthogonal cosines"
    DUPLICATE_POSITION = "duplicate positions"
    TEMPORAL = "several time frames"
    GAP = "missing slices"
    NON_UNIFORM = "non-uniform spacing"
    TILT = "gantry tilt"


@dataclass(frozen=True)
class GeometryIssue:
    problem: GeometryProblem
    message: str


@dataclass(frozen=True)
class SliceStack:
    """Slices sorted along the slice normal with the volume geometry they define."""

    instances: tuple[InstanceHeader, ...]
    origin_lps_mm: tuple[float, float, float]
    direction: tuple[float, ...]  # SimpleITK order: columns are the i, j, k axes
    spacing_xyz_mm: tuple[float, float, float]
    shape_zyx: tuple[int, int, int]


def series_label(instances: Sequence[InstanceHeader]) -> str:
    first = instances[0]
    return f"{first.modality} series {first.series_uid}"


def _name(inst: InstanceHeader, root: Path | None) -> str:
    path = inst.path
    if root is not None:
        with contextlib.suppress(ValueError):  # outside the root: the path as given
            path = path.relative_to(root)
    return f"{path}" if inst.frame_index is None else f"{path} frame {inst.frame_index + 1}"


def _files(instances: Sequence[InstanceHeader], root: Path | None, limit: int = 3) -> str:
    names = [_name(i, root) for i in instances[:limit]]
    more = f" and {len(instances) - limit} more" if len(instances) > limit else ""
    return ", ".join(names) + more


def orientation_problem(orientation: Sequence[float] | None) -> str | None:
    """Why six ImageOrientationPatient values are not two orthogonal unit vectors, or ``None``."""
    if orientation is None:
        return "is missing"
    values = np.asarray(orientation, dtype=float)
    if values.shape != (6,) or not np.isfinite(values).all():
        return "is not six finite numbers"
    row, col = values[:3], values[3:]
    if max(abs(np.linalg.norm(row) - 1.0), abs(np.linalg.norm(col) - 1.0)) > UNIT_TOLERANCE:
        return "is not two unit vectors"
    if abs(float(row @ col)) > ORTHOGONALITY_TOLERANCE:
        return "has row and column cosines that are not orthogonal"
    return None


def _finite_positive(values: Sequence[float]) -> bool:
    return all(math.isfinite(v) and v > 0 for v in values)


def _invalid_values(instances: Sequence[InstanceHeader], root: Path | None) -> list[GeometryIssue]:
    """Positions, orientations and pixel spacings that no volume can have (each named with a file)."""
    checks = (
        ("ImagePositionPatient is not three finite numbers", lambda i: all(math.isfinite(v) for v in i.position)),
        (
            "ImageOrientationPatient {}",
            lambda i: orientation_problem(i.orientation) is None,
        ),
        (
            "PixelSpacing is not two finite positive numbers",
            lambda i: i.pixel_spacing is None or _finite_positive(i.pixel_spacing),
        ),
    )
    issues = []
    for message, valid in checks:
        bad = [i for i in instances if not valid(i)]
        if bad:
            what = message.format(orientation_problem(bad[0].orientation)) if "{}" in message else message
            issues.append(
                GeometryIssue(
                    GeometryProblem.INVALID_VALUE, f"{what} ({len(bad)} slice(s), e.g. file {_files(bad, root, 1)})"
                )
            )
    return issues


def _consistency(instances: Sequence[InstanceHeader], root: Path | None) -> list[GeometryIssue]:
    issues = []
    missing = [i for i in instances if i.orientation is None or i.position is None]
    if missing:
        issues.append(
            GeometryIssue(
                GeometryProblem.MISSING_POSITION,
                f"{len(missing)} slice(s) without ImagePositionPatient/ImageOrientationPatient (file {_files(missing, root)})",
            )
        )
        return issues
    invalid = _invalid_values(instances, root)
    if invalid:
        return invalid
    orient = np.array([i.orientation for i in instances], dtype=float)
    odd = np.abs(orient - orient[0]).max(axis=1) > ORIENTATION_TOLERANCE
    if odd.any():
        differing = [i for i, o in zip(instances, odd, strict=True) if o]
        issues.append(
            GeometryIssue(
                GeometryProblem.MIXED_ORIENTATION,
                f"slices have different orientations ({len(differing)} differ from the first, e.g. file {_files(differing, root, 1)})",
            )
        )
    for attribute, problem, what in (
        (lambda i: (i.rows, i.columns), GeometryProblem.MIXED_SIZE, "sizes"),
        (lambda i: i.pixel_spacing, GeometryProblem.MIXED_SPACING, "PixelSpacing"),
    ):
        counts = Counter(attribute(i) for i in instances)
        absent = [i for i in instances if attribute(i) in (None, (None, None))]
        if len(counts) > 1 or absent:
            common = counts.most_common(1)[0][0]
            odd_ones = absent or [i for i in instances if attribute(i) != common]
            shown = ", ".join(f"{v} x{n}" for v, n in counts.most_common(4))
            issues.append(
                GeometryIssue(
                    problem, f"slices have different or missing {what} ({shown}; e.g. file {_files(odd_ones, root, 1)})"
                )
            )
    row, col = orient[0, :3], orient[0, 3:]
    if abs(float(row @ col)) / (np.linalg.norm(row) * np.linalg.norm(col) + 1e-12) > 1e-3:
        issues.append(GeometryIssue(GeometryProblem.NOT_ORTHOGONAL, "row and column cosines are not orthogonal"))
    return issues


def _duplicate_issues(
    along: np.ndarray, dup: np.ndarray, ordered: Sequence[InstanceHeader], root: Path | None
) -> list[GeometryIssue]:
    """Slices sharing a position (``dup``: indices of the zero steps), and several temporal positions if any."""
    issues: list[GeometryIssue] = []
    times = {i.temporal_position for i in ordered if i.temporal_position is not None}
    if len(times) > 1:
        issues.append(
            GeometryIssue(
                GeometryProblem.TEMPORAL, f"{len(times)} temporal positions (a dynamic series, not one volume)"
            )
        )
    k = int(dup[0])
    same = [ordered[j] for j in range(len(ordered)) if abs(along[j] - along[k]) < SPACING_ABSOLUTE_TOLERANCE_MM]
    issues.append(
        GeometryIssue(
            GeometryProblem.DUPLICATE_POSITION,
            f"{dup.size} duplicate slice position(s); {len(same)} slices at {along[k]:.2f} mm along the normal (files {_files(same, root)})",
        )
    )
    return issues


def _step_issues(
    along: np.ndarray, spacing: float, tol: float, ordered: Sequence[InstanceHeader], root: Path | None
) -> list[GeometryIssue]:
    """Steps off the median ``spacing`` by more than ``tol`` (mm): whole missing slices (gaps), or non-uniform."""
    issues: list[GeometryIssue] = []
    full_steps = np.diff(along)
    bad = np.flatnonzero((np.abs(full_steps - spacing) > tol) & (full_steps >= SPACING_ABSOLUTE_TOLERANCE_MM))
    if not bad.size:
        return issues
    ratios = full_steps[bad] / spacing
    gaps = [int(k) for k, r in zip(bad, ratios, strict=True) if round(r) >= 2 and abs(r - round(r)) * spacing <= tol]
    other = [int(k) for k in bad if int(k) not in gaps]
    if gaps:
        k = gaps[0]
        missing = sum(int(round(full_steps[g] / spacing)) - 1 for g in gaps)
        issues.append(
            GeometryIssue(
                GeometryProblem.GAP,
                f"{missing} missing slice(s): first gap between {along[k]:.2f} and {along[k + 1]:.2f} mm (after file {_name(ordered[k], root)}), spacing {spacing:.3f} mm",
            )
        )
    if other:
        issues.append(
            GeometryIssue(
                GeometryProblem.NON_UNIFORM,
                f"non-uniform slice spacing ({full_steps[full_steps >= SPACING_ABSOLUTE_TOLERANCE_MM].min():.3f} to {full_steps.max():.3f} mm; first at file {_name(ordered[other[0] + 1], root)})",
            )
        )
    return issues


def _tilt_issue(
    along: np.ndarray, positions: np.ndarray, normal: np.ndarray, ordered: Sequence[InstanceHeader], tol: float
) -> GeometryIssue | None:
    """A stack whose slice origins drift in-plane (mm) by more than ``max(tol, SHEAR_TOLERANCE_MM)``."""
    drift = positions - positions[0] - np.outer(along - along[0], normal)
    shear = float(np.linalg.norm(drift, axis=1).max())
    if not shear > max(tol, SHEAR_TOLERANCE_MM):
        return None
    extent = float(along[-1] - along[0])
    angle = math.degrees(math.atan2(shear, extent)) if extent > 0 else float("nan")
    header_tilt = ordered[0].gantry_tilt_deg
    stated = f"; GantryDetectorTilt {header_tilt:g} deg" if header_tilt else ""
    return GeometryIssue(
        GeometryProblem.TILT,
        f"gantry tilt or sheared stack: slices drift {shear:.2f} mm in-plane over {extent:.1f} mm ({angle:.1f} deg){stated}; resampling is not done",
    )


def _spacing_issues(
    along: np.ndarray, positions: np.ndarray, normal: np.ndarray, ordered: Sequence[InstanceHeader], root: Path | None
) -> tuple[list[GeometryIssue], float]:
    """Spacing problems of a sorted stack (``along``: positions along the ``normal``, mm) and its spacing (mm)."""
    issues: list[GeometryIssue] = []
    steps = np.diff(along)
    dup = np.flatnonzero(steps < SPACING_ABSOLUTE_TOLERANCE_MM)
    if dup.size:
        issues += _duplicate_issues(along, dup, ordered, root)
        steps = steps[steps >= SPACING_ABSOLUTE_TOLERANCE_MM]
        if steps.size == 0:
            return issues, 1.0
    spacing = float(np.median(steps))
    tol = max(SPACING_RELATIVE_TOLERANCE * spacing, SPACING_ABSOLUTE_TOLERANCE_MM)
    issues += _step_issues(along, spacing, tol, ordered, root)
    tilt = _tilt_issue(along, positions, normal, ordered, tol)
    if tilt is not None:
        issues.append(tilt)
    return issues, spacing


def split_orientations(
    instances: Sequence[InstanceHeader], axial_cosine: float, max_other_fraction: float = MAX_OTHER_ORIENTATION_FRACTION
) -> tuple[list[InstanceHeader], list[InstanceHeader]]:
    """(axial stack, images of another orientation) of a series holding a few images of another orientation.

    The stack is the images within ``OTHER_ORIENTATION_COSINE`` of the most
    common axial orientation (slice normal within ``acos(axial_cosine)`` of z);
    it is split off only when the other images are at most
    ``max_other_fraction`` of the series (e.g. one coronal image in an axial
    series). Otherwise, or with no axial image, the series is returned whole
    (the geometry check then reports its mixed orientations). Images without
    an orientation stay in the stack, where the geometry check names them.
    """
    oriented = [i for i in instances if i.orientation is not None]
    axial = [i for i in oriented if abs(_normal(i.orientation)[2]) >= axial_cosine]  # type: ignore[arg-type]
    if not axial or len(axial) == len(oriented):
        return list(instances), []
    common = Counter(tuple(round(v, 2) for v in i.orientation) for i in axial).most_common(1)[0][0]  # type: ignore[union-attr]
    reference = np.asarray(common, dtype=float)
    other = [
        i
        for i in oriented
        if np.abs(np.asarray(i.orientation, dtype=float) - reference).max() > OTHER_ORIENTATION_COSINE
    ]
    if not other or len(other) > max_other_fraction * len(instances):
        return list(instances), []
    ids = {id(i) for i in other}
    return [i for i in instances if id(i) not in ids], other


def _normal(orientation: Sequence[float]) -> np.ndarray:
    return np.cross(np.asarray(orientation[:3], dtype=float), np.asarray(orientation[3:], dtype=float))


def describe_files(instances: Sequence[InstanceHeader], root: Path | None, limit: int = 3) -> str:
    """The files (and frames) of ``instances`` for a message: the first ``limit`` and how many more."""
    return _files(instances, root, limit)


def check_geometry(
    instances: Sequence[InstanceHeader], root: Path | None = None
) -> tuple[SliceStack | None, tuple[GeometryIssue, ...]]:
    """Sort the slices and list every geometry problem; the stack is ``None`` when there is any."""
    if not instances:
        raise GeometryError("empty series")
    issues = _consistency(instances, root)
    if any(i.problem in (GeometryProblem.MISSING_POSITION, GeometryProblem.INVALID_VALUE) for i in issues):
        return None, tuple(issues)
    first = instances[0]
    orient = np.asarray(first.orientation, dtype=float)
    row = orient[:3] / np.linalg.norm(orient[:3])
    col = orient[3:] / np.linalg.norm(orient[3:])
    normal = np.cross(row, col)
    positions = np.array([i.position for i in instances], dtype=float)
    along = positions @ normal
    order = np.argsort(along, kind="stable")
    along, positions = along[order], positions[order]
    ordered = tuple(instances[k] for k in order)
    spacing = first.slice_thickness or 1.0
    if len(ordered) > 1:
        more, spacing = _spacing_issues(along, positions, normal, ordered, root)
        issues.extend(more)
    if issues or first.pixel_spacing is None:
        return None, tuple(issues)
    row_spacing, col_spacing = first.pixel_spacing
    stack = SliceStack(
        instances=ordered,
        origin_lps_mm=tuple(float(v) for v in positions[0]),  # type: ignore[arg-type]
        direction=tuple(float(v) for v in np.column_stack([row, col, normal]).ravel()),
        spacing_xyz_mm=(float(col_spacing), float(row_spacing), float(spacing)),
        shape_zyx=(len(ordered), int(first.rows), int(first.columns)),  # type: ignore[arg-type]
    )
    return stack, ()


def sort_slices(instances: Sequence[InstanceHeader], root: Path | None = None) -> SliceStack:
    """Sort and validate; raise :class:`GeometryError` naming the series (and files) on any problem."""
    stack, issues = check_geometry(instances, root)
    if stack is None:
        detail = "; ".join(i.message for i in issues) or "no pixel spacing"
        raise GeometryError(f"{series_label(instances)}: {detail}")
    return stack
