"""Target lesions: the ``targets.json`` file the user gives (and the pipeline can write).

Format::

    {"lesions": [{"id": "L1", "seed_lps_mm": [x, y, z], "organ": "liver"}, ...]}

``seed_lps_mm`` is a point inside the lesion in DICOM patient coordinates
(LPS, mm) of the baseline CT. ``organ`` defaults to ``"liver"``; an optional
``"lymph_node": true`` marks a nodal target (measured by its short axis).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import TargetsError

TARGETS_FILENAME = "targets.json"


@dataclass(frozen=True)
class Target:
    lesion_id: str
    seed_lps_mm: tuple[float, float, float]
    organ: str = "liver"
    lymph_node: bool = False


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
        if (
            not isinstance(seed, list)
            or len(seed) != 3
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in seed)
        ):
            raise TargetsError(f'{where} ({lesion_id}): "seed_lps_mm" must be three finite numbers [x, y, z]')
        organ = entry.get("organ", "liver")
        if not isinstance(organ, str) or not organ:
            raise TargetsError(f'{where} ({lesion_id}): "organ" must be a non-empty string')
        node = entry.get("lymph_node", False)
        if not isinstance(node, bool):
            raise TargetsError(f'{where} ({lesion_id}): "lymph_node" must be true or false')
        targets.append(Target(lesion_id, (float(seed[0]), float(seed[1]), float(seed[2])), organ, node))
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
        lesions.append(entry)
    return json.dumps({"lesions": lesions}, indent=2) + "\n"
