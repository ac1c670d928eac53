"""Target lesions: the ``targets.json`` file the user gives (and the pipeline can write).

Format::

    {"lesions": [{"id": "L1", "seed_lps_mm": [x, y, z], "organ": "liver"}, ...]}

``seed_lps_mm`` is a point inside the lesion in DICOM patient coordinates
(LPS, mm) of the baseline CT. ``organ`` defaults to ``"liver"``; an optional
``"lymph_node": true`` marks a nodal target (measured by its short axis).
Optional: ``"long_axis_lps_mm": [[x, y, z], [x, y, z]]``, the reader's RECIST
line (its end points, baseline LPS mm), and ``"origin"``, where the target
came from (written by the pipeline for targets taken from a viewer's file).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import SimpleITK as sitk

from pipeline.errors import TargetsError

TARGETS_FILENAME = "targets.json"


Point = tuple[float, float, float]


@dataclass(frozen=True)
class Target:
    """A target lesion: where it is at baseline (LPS mm) and what is known of it.

    ``reader_mask`` is the reader's own delineation (from a DICOM SEG or RTSTRUCT): a SimpleITK image of
    lesion fractions in [0, 1] in patient space, measured as it is at baseline instead of segmenting.
    """

    lesion_id: str
    seed_lps_mm: Point
    organ: str = "liver"
    lymph_node: bool = False
    long_axis_lps_mm: tuple[Point, Point] | None = None
    origin: str = ""
    reader_mask: sitk.Image | None = field(default=None, compare=False, repr=False)


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
        seed = entry.get("seed_lps_mm")
        if not isinstance(seed, list) or not _finite_triple(seed):
            raise TargetsError(f'{where} ({lesion_id}): "seed_lps_mm" must be three finite numbers [x, y, z]')
        organ = entry.get("organ", "liver")
        if not isinstance(organ, str) or not organ:
            raise TargetsError(f'{where} ({lesion_id}): "organ" must be a non-empty string')
        node = entry.get("lymph_node", False)
        if not isinstance(node, bool):
            raise TargetsError(f'{where} ({lesion_id}): "lymph_node" must be true or false')
        line = _long_axis(entry.get("long_axis_lps_mm"), f"{where} ({lesion_id})")
        origin = entry.get("origin", "")
        if not isinstance(origin, str):
            raise TargetsError(f'{where} ({lesion_id}): "origin" must be a string')
        targets.append(Target(lesion_id, _point(seed), organ, node, line, origin))
    return tuple(targets)


def _finite_triple(value: object) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 3
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value)
    )


def _point(value: list[float]) -> Point:
    return float(value[0]), float(value[1]), float(value[2])


def _long_axis(value: object, where: str) -> tuple[Point, Point] | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != 2 or not all(_finite_triple(p) for p in value):
        raise TargetsError(f'{where}: "long_axis_lps_mm" must be two points [[x, y, z], [x, y, z]]')
    return _point(value[0]), _point(value[1])


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
        if t.origin:
            entry["origin"] = t.origin
        lesions.append(entry)
    return json.dumps({"lesions": lesions}, indent=2) + "\n"
