"""Target lesions: the ``targets.json`` file the user gives (and the pipeline can write).

Format::

    {"lesions": [{"id": "L1", "seed_lps_mm": [x, y, z], "organ": "liver"}, ...]}

``seed_lps_mm`` is a point inside the lesion in DICOM patient coordinates
(LPS, mm) of the baseline CT. ``organ`` defaults to ``"liver"``; an optional
``"lymph_node": true`` marks a nodal target (measured by its short axis). The
reader's annotations beside ``"lesions"``: :mod:`pipeline.targets.annotations`.
The whole file is validated against :data:`pipeline.schema.TARGETS_SCHEMA`
(published as ``docs/schemas/targets.schema.json``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import TargetsError
from pipeline.schema import TARGETS_SCHEMA, validate

TARGETS_FILENAME = "targets.json"


@dataclass(frozen=True)
class Target:
    lesion_id: str
    seed_lps_mm: tuple[float, float, float]
    organ: str = "liver"
    lymph_node: bool = False


def parse_targets(data: object, source: str) -> tuple[Target, ...]:
    """Validate the decoded JSON of a targets file against :data:`pipeline.schema.TARGETS_SCHEMA` (and unique
    ids); ``source`` names it in errors."""
    validate(data, TARGETS_SCHEMA, source, TargetsError)
    assert isinstance(data, dict)
    targets = []
    seen: set[str] = set()
    for k, entry in enumerate(data["lesions"]):
        lesion_id = entry["id"]
        if lesion_id.lower() in seen:  # ids name output files: unique also where file names ignore case
            raise TargetsError(f"{source}: lesions[{k}].id: duplicate id {lesion_id!r} (ids must differ ignoring case)")
        seen.add(lesion_id.lower())
        seed = entry["seed_lps_mm"]
        point = (float(seed[0]), float(seed[1]), float(seed[2]))
        targets.append(Target(lesion_id, point, entry.get("organ", "liver"), entry.get("lymph_node", False)))
    return tuple(targets)


def _not_a_number(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


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
        data = json.loads(text, parse_constant=_not_a_number)
    except json.JSONDecodeError as exc:
        raise TargetsError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    except ValueError as exc:  # NaN, Infinity
        raise TargetsError(f"{path}: not valid JSON ({exc})") from None
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
