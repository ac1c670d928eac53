"""Target lesions: the ``targets.json`` file the user gives (and the pipeline can write).

Format::

    {"lesions": [{"id": "L1", "seed_lps_mm": [x, y, z], "organ": "liver"}, ...]}

``seed_lps_mm`` is a point inside the lesion in DICOM patient coordinates
(LPS, mm) of the baseline CT. ``organ`` defaults to ``"liver"``; an optional
``"lymph_node": true`` marks a nodal target (measured by its short axis).
Optional: ``"long_axis_lps_mm": [[x, y, z], [x, y, z]]``, the reader's RECIST
line (its end points, baseline LPS mm), and ``"origin"``, where the target
came from (written by the pipeline for targets taken from a viewer's file).
The reader's annotations beside ``"lesions"``: :mod:`pipeline.targets.annotations`.

The whole file is validated against :data:`pipeline.schema.TARGETS_SCHEMA`
(published as ``docs/schemas/targets.schema.json``): an ``id`` is 1 to 64
characters of ``A-Z a-z 0-9 . _ -`` starting with a letter or digit (output
file names are built from it), unique ignoring case; at most
:data:`MAX_TARGETS` lesions; every number finite. The file is at most
:data:`MAX_FILE_BYTES` bytes of JSON nested at most :data:`MAX_DEPTH` levels.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import SimpleITK as sitk

from pipeline.errors import TargetsError
from pipeline.schema import LESION_ID, TARGETS_SCHEMA, validate

TARGETS_FILENAME = "targets.json"
LESION_ID_PATTERN = LESION_ID["pattern"].strip("^$")
MAX_FILE_BYTES = 1_000_000
MAX_DEPTH = 8
_LESION_ID = re.compile(rf"\A{LESION_ID_PATTERN}\Z")


def is_lesion_id(value: object) -> bool:
    """Whether ``value`` is a valid lesion id (:data:`LESION_ID_PATTERN`)."""
    return isinstance(value, str) and _LESION_ID.match(value) is not None


def _depth(data: object) -> int:
    """Nesting depth of decoded JSON (a scalar is 0, ``[]`` is 1), without recursion."""
    deepest, stack = 0, [(data, 1)]
    while stack:
        value, level = stack.pop()
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else None
        if children is None:
            continue
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children)
    return deepest


def read_document(path: Path | str) -> object:
    """The decoded JSON of a targets file, within the size and depth limits; :class:`TargetsError` otherwise."""
    path = Path(path)
    if path.exists() and not path.is_file():
        raise TargetsError(f"{path}: not a regular file")
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise TargetsError(f"{path}: targets file not found") from None
    except OSError as exc:
        raise TargetsError(f"{path}: cannot read targets file ({exc.strerror or exc})") from None
    if len(raw) > MAX_FILE_BYTES:
        raise TargetsError(f"{path}: larger than {MAX_FILE_BYTES} bytes (the limit of a targets file)")
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise TargetsError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise TargetsError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    except RecursionError:
        raise TargetsError(f"{path}: JSON nested more than {MAX_DEPTH} levels deep") from None
    except ValueError as exc:  # e.g. an integer of thousands of digits
        raise TargetsError(f"{path}: not usable JSON ({exc})") from None
    if _depth(data) > MAX_DEPTH:
        raise TargetsError(f"{path}: JSON nested more than {MAX_DEPTH} levels deep")
    return data


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
    """Validate the decoded JSON of a targets file against :data:`pipeline.schema.TARGETS_SCHEMA` (and unique
    ids); ``source`` names it in errors."""
    validate(data, TARGETS_SCHEMA, source, TargetsError)
    assert isinstance(data, dict)
    targets = []
    seen: set[str] = set()
    for k, entry in enumerate(data["lesions"]):
        lesion_id = entry["id"]
        if lesion_id.casefold() in seen:  # ids name output files: unique also where file names ignore case
            raise TargetsError(f"{source}: lesions[{k}].id: duplicate id {lesion_id!r} (ids must differ ignoring case)")
        seen.add(lesion_id.casefold())
        line = entry.get("long_axis_lps_mm")
        targets.append(
            Target(
                lesion_id,
                _point(entry["seed_lps_mm"]),
                entry.get("organ", "liver"),
                entry.get("lymph_node", False),
                None if line is None else (_point(line[0]), _point(line[1])),
                entry.get("origin", ""),
            )
        )
    return tuple(targets)


def _point(value: list[float]) -> Point:
    return float(value[0]), float(value[1]), float(value[2])


def read_targets(path: Path | str) -> tuple[Target, ...]:
    """Read and validate a targets file; raise :class:`TargetsError` with a one-line reason."""
    return parse_targets(read_document(path), str(path))


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
