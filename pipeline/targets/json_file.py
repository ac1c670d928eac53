"""Target lesions: the ``targets.json`` file the user gives (and the pipeline can write).

Format::

    {"lesions": [{"id": "L1", "seed_lps_mm": [x, y, z], "organ": "liver",
                  "long_axis_lps_mm": [[x1, y1, z1], [x2, y2, z2]]}, ...]}

``seed_lps_mm`` is a point inside the lesion in DICOM patient coordinates
(LPS, mm) of the baseline CT. ``organ`` defaults to ``"liver"``; an optional
``"lymph_node": true`` marks a nodal target (measured by its short axis).
The optional ``long_axis_lps_mm`` is the reader's RECIST line on the baseline
CT (its two end points, LPS mm, as drawn in a viewer): the segmenter takes it
as a strong prior on the lesion's position and extent, and refuses a result
whose longest diameter disagrees with it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import TargetsError

TARGETS_FILENAME = "targets.json"


Point = tuple[float, float, float]


@dataclass(frozen=True)
class Target:
    lesion_id: str
    seed_lps_mm: Point
    organ: str = "liver"
    lymph_node: bool = False
    long_axis_lps_mm: tuple[Point, Point] | None = None


def _point(value: object) -> Point | None:
    """Three finite numbers as a point, else ``None``."""
    if (
        isinstance(value, list)
        and len(value) == 3
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value)
    ):
        return (float(value[0]), float(value[1]), float(value[2]))
    return None


def _long_axis(value: object, where: str) -> tuple[Point, Point] | None:
    if value is None:
        return None
    ends = [_point(p) for p in value] if isinstance(value, list) and len(value) == 2 else [None]
    if any(p is None for p in ends):
        raise TargetsError(f'{where}: "long_axis_lps_mm" must be two points [[x, y, z], [x, y, z]]')
    a, b = ends
    assert a is not None and b is not None
    length = math.dist(a, b)
    if length < 1.0:
        raise TargetsError(f'{where}: "long_axis_lps_mm" end points are {length:.1f} mm apart (at least 1 mm)')
    if abs(a[2] - b[2]) > 0.5 * length:
        raise TargetsError(
            f'{where}: "long_axis_lps_mm" is not an axial line (its end points differ in z by {abs(a[2] - b[2]):.1f} mm)'
        )
    return (a, b)


def parse_targets(data: object, source: str) -> tuple[Target, ...]:
    """Validate the decoded JSON of a targets file; ``source`` names it in errors."""
    if not isinstance(data, dict) or not isinstance(data.get("lesions"), list):
        raise TargetsError(f'{source}: expected an object with a "lesions" list')
    if not data["lesions"]:
        raise TargetsError(f'{source}: "lesions" is empty')
    targets = []
    seen: set[str] = set()
    for k, entry in enumerate(data["lesions"]):
        where = f"{source}: lesion #{k + 1}"
        if not isinstance(entry, dict):
            raise TargetsError(f"{where}: expected an object")
        lesion_id = entry.get("id")
        if not isinstance(lesion_id, str) or not lesion_id.strip():
            raise TargetsError(f'{where}: "id" must be a non-empty string')
        if lesion_id in seen:
            raise TargetsError(f"{where}: duplicate id {lesion_id!r}")
        seen.add(lesion_id)
        seed = _point(entry.get("seed_lps_mm"))
        if seed is None:
            raise TargetsError(f'{where} ({lesion_id}): "seed_lps_mm" must be three finite numbers [x, y, z]')
        organ = entry.get("organ", "liver")
        if not isinstance(organ, str) or not organ:
            raise TargetsError(f'{where} ({lesion_id}): "organ" must be a non-empty string')
        node = entry.get("lymph_node", False)
        if not isinstance(node, bool):
            raise TargetsError(f'{where} ({lesion_id}): "lymph_node" must be true or false')
        line = _long_axis(entry.get("long_axis_lps_mm"), f"{where} ({lesion_id})")
        targets.append(Target(lesion_id, seed, organ, node, line))
    return tuple(targets)


def read_targets(path: Path | str) -> tuple[Target, ...]:
    """Read and validate a targets file; raise :class:`TargetsError` with a one-line reason."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TargetsError(f"{path}: targets file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TargetsError(f"{path}: cannot read targets file ({exc})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TargetsError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    return parse_targets(data, str(path))


def targets_to_json(targets: tuple[Target, ...]) -> str:
    lesions = []
    for t in targets:
        entry: dict[str, object] = {
            "id": t.lesion_id,
            "seed_lps_mm": [round(v, 2) for v in t.seed_lps_mm],
            "organ": t.organ,
        }
        if t.lymph_node:
            entry["lymph_node"] = True
        if t.long_axis_lps_mm is not None:
            entry["long_axis_lps_mm"] = [[round(v, 2) for v in p] for p in t.long_axis_lps_mm]
        lesions.append(entry)
    return json.dumps({"lesions": lesions}, indent=2) + "\n"
