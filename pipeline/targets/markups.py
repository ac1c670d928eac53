"""Targets from 3D Slicer markups (``.mrk.json``): fiducial points and lines, in RAS or LPS.

Each control point of a point list (``Fiducial``) is a target: id = its label,
seed = its position. Each ``Line`` markup is a target: id = the markup's name,
seed = the line's midpoint, and the line is the reader's RECIST long axis.
Positions are in the markup's ``coordinateSystem`` (``LPS`` or ``RAS``, the
default of 3D Slicer's files; RAS x and y are negated) and in millimetres.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from pipeline.errors import TargetsError
from pipeline.targets.geometry import Point, midpoint, ras_to_lps
from pipeline.targets.json_file import Target
from pipeline.targets.naming import lesion_id

POINT_TYPES = ("Fiducial", "PointList")
MAX_BYTES = 10_000_000


def is_markups(data: object) -> bool:
    """Whether decoded JSON is a 3D Slicer markups file."""
    return isinstance(data, dict) and isinstance(data.get("markups"), list)


def _position(point: object, system: str, where: str) -> Point:
    position = point.get("position") if isinstance(point, dict) else None
    if (
        not isinstance(position, list)
        or len(position) != 3
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in position)
    ):
        raise TargetsError(f"{where}: a control point needs a position of three finite numbers")
    return ras_to_lps(position) if system == "RAS" else (float(position[0]), float(position[1]), float(position[2]))


def targets_from_markups(data: dict, source: str) -> tuple[Target, ...]:
    """The targets of a decoded markups file (see module docstring)."""
    targets: list[Target] = []
    taken: set[str] = set()
    for k, markup in enumerate(data["markups"], start=1):
        where = f"{source}: markup {k}"
        if not isinstance(markup, dict):
            raise TargetsError(f"{where}: expected an object")
        system = str(markup.get("coordinateSystem", "RAS")).upper()
        if system not in ("RAS", "LPS"):
            raise TargetsError(f"{where}: coordinateSystem {system!r} is neither RAS nor LPS")
        if str(markup.get("coordinateUnits", "mm")) != "mm":
            raise TargetsError(f"{where}: coordinates must be in mm")
        points = markup.get("controlPoints") or []
        kind = str(markup.get("type", ""))
        if kind in POINT_TYPES:
            for j, point in enumerate(points, start=1):
                label = point.get("label") if isinstance(point, dict) else None
                seed = _position(point, system, where)
                name = lesion_id(str(label) if label else None, f"P{len(targets) + 1}", taken)
                targets.append(Target(name, seed, origin=f"markups {source}, markup {k} point {j} ({system})"))
        elif kind == "Line":
            if len(points) != 2:
                raise TargetsError(f"{where}: a line needs 2 control points, it has {len(points)}")
            a, b = (_position(p, system, where) for p in points)
            name = lesion_id(str(markup.get("name") or ""), f"LINE{len(targets) + 1}", taken)
            targets.append(
                Target(name, midpoint(a, b), long_axis_lps_mm=(a, b), origin=f"markups {source}, line {k} ({system})")
            )
        else:
            raise TargetsError(f"{where}: markup type {kind!r} is not a point list or a line")
    if not targets:
        raise TargetsError(f"{source}: no control point")
    return tuple(targets)


def read_markups(path: Path) -> tuple[Target, ...]:
    if path.stat().st_size > MAX_BYTES:
        raise TargetsError(f"{path}: markups file larger than {MAX_BYTES // 1_000_000} MB")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TargetsError(f"{path}: cannot read markups file ({exc})") from None
    if not is_markups(data):
        raise TargetsError(f'{path}: not a 3D Slicer markups file (no "markups" list)')
    return targets_from_markups(data, path.name)
