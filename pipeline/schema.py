"""The declared schemas of the two input files a user writes, and validation with one-line errors.

* ``targets.json``: :data:`TARGETS_SCHEMA` (JSON Schema, draft 2020-12).
* the configuration file (``--config``, TOML): :func:`config_schema`, built from
  the fields of the criteria and segmentation configurations (type and
  default), :data:`CHOICES` (allowed strings) and :func:`bound` (range of
  every number).

Both are published as ``docs/schemas/*.schema.json`` (a test keeps them equal
to these). :func:`validate` checks a decoded document and raises the given
error type with one line naming the file, the key and the allowed values:
unknown keys (with the closest known one), missing keys, wrong types, values
outside their choices or range; every number must also be finite.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, relevance

from measurement.criteria.choi import ChoiConfig
from measurement.criteria.observations import LesionStatus
from measurement.criteria.percist import PercistConfig
from measurement.criteria.recist import RecistConfig
from measurement.criteria.volumetric import VolumetricConfig
from measurement.pet import LBM_FORMULAS
from segmentation.detect import DetectionConfig
from segmentation.pet_lesion import PET_METHODS, PetSegmentationConfig

# --- targets.json ------------------------------------------------------------------------------------

POINT = {
    "type": "array",
    "items": {"type": "number"},
    "minItems": 3,
    "maxItems": 3,
    "description": "three numbers [x, y, z] (DICOM patient coordinates, LPS, mm)",
}
FOLLOW_UP = {"type": "integer", "minimum": 1, "description": "a follow-up's index in the outputs (1, 2, ...)"}
DATE = {
    "type": "string",
    "pattern": r"^\d{4}-\d{2}-\d{2}$",
    "description": "a study date YYYY-MM-DD",
}
# the reader's verdicts that replace the software's
LESION_ID = {
    "type": "string",
    "pattern": r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
    "description": "1 to 64 characters of A-Z a-z 0-9 . _ - starting with a letter or digit (output file names use it)",
}
MAX_TARGETS = 100
_LARGEST_FLOAT = sys.float_info.max
_VALID_ID = re.compile(LESION_ID["pattern"])
LESION_STATUSES = tuple(s.value for s in (LesionStatus.TOO_SMALL, LesionStatus.DISAPPEARED, LesionStatus.NOT_EVALUATED))

TARGETS_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "lesion-pipeline targets file (targets.json)",
    "type": "object",
    "required": ["lesions"],
    "additionalProperties": False,
    "properties": {
        "lesions": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_TARGETS,
            "description": "the target lesions, each with a seed point inside it on the baseline CT",
            "items": {
                "type": "object",
                "required": ["id", "seed_lps_mm"],
                "additionalProperties": False,
                "properties": {
                    "id": LESION_ID,
                    "seed_lps_mm": POINT,
                    "organ": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": 64,
                        "pattern": "^[^\\x00-\\x1f\\x7f]+$",
                        "description": "1 to 64 printable characters",
                        "default": "liver",
                    },
                    "lymph_node": {"type": "boolean", "default": False},
                    "long_axis_lps_mm": {
                        "type": "array",
                        "items": POINT,
                        "minItems": 2,
                        "maxItems": 2,
                        "description": "the reader's RECIST long axis: its two end points on the baseline CT",
                    },
                    "origin": {
                        "type": "string",
                        "maxLength": 256,
                        "description": "where the target came from (a viewer's file); written by the pipeline",
                    },
                },
            },
        },
        "new_lesions": {
            "type": "array",
            "description": "new lesions the reader saw; the list's presence says every follow-up was looked at",
            "maxItems": 10 * MAX_TARGETS,
            "items": {
                "type": "object",
                "anyOf": [{"required": ["timepoint"]}, {"required": ["study_date"]}],
                "additionalProperties": False,
                "properties": {"timepoint": FOLLOW_UP, "study_date": DATE, "note": {"type": "string"}},
            },
        },
        "lesion_status": {
            "type": "array",
            "description": "the reader's verdict on a target at a follow-up, replacing the software's",
            "maxItems": 10 * MAX_TARGETS,
            "items": {
                "type": "object",
                "required": ["lesion_id", "status"],
                "anyOf": [{"required": ["timepoint"]}, {"required": ["study_date"]}],
                "additionalProperties": False,
                "properties": {
                    "lesion_id": LESION_ID,
                    "timepoint": FOLLOW_UP,
                    "study_date": DATE,
                    "status": {"enum": list(LESION_STATUSES)},
                    "note": {"type": "string"},
                },
            },
        },
        "liver_reference_lps_mm": POINT,
        "blood_pool_lps_mm": POINT,
    },
}

# --- configuration file ------------------------------------------------------------------------------

SECTIONS: dict[str, type] = {
    "recist": RecistConfig,
    "volumetric": VolumetricConfig,
    "choi": ChoiConfig,
    "percist": PercistConfig,
    "pet_lesion": PetSegmentationConfig,
    "detection": DetectionConfig,
}
CHOICES: dict[tuple[str, str], tuple[str, ...]] = {
    ("pet_lesion", "method"): PET_METHODS,
    ("recist", "not_found_as"): ("auto", "not_evaluated", "disappeared"),
    ("choi", "pd_reference"): ("nadir", "baseline"),
    ("percist", "unstable_reference"): ("not_evaluable", "warn"),
    ("percist", "lbm_formula"): tuple(LBM_FORMULAS),
    ("percist", "reference"): ("auto", "liver", "blood_pool"),
}


@dataclass(frozen=True)
class Bound:
    """The range of a number: ``minimum`` (excluded when ``exclusive``) up to ``maximum`` (``None``: none)."""

    minimum: float
    maximum: float | None = None
    exclusive: bool = False


DECREASE = Bound(-100.0, 0.0)  # a response threshold: a decrease in %
# every numeric option is zero or more, except these
BOUNDS: dict[tuple[str, str], Bound] = {
    ("recist", "pr_change_pct"): DECREASE,
    ("volumetric", "pr_change_pct"): DECREASE,
    ("choi", "size_pr_change_pct"): DECREASE,
    ("choi", "density_pr_change_pct"): DECREASE,
    ("percist", "pmr_change_pct"): DECREASE,
    ("recist", "max_targets_total"): Bound(1),
    ("recist", "max_targets_per_organ"): Bound(1),
    ("choi", "max_targets_total"): Bound(1),
    ("choi", "max_targets_per_organ"): Bound(1),
    ("pet_lesion", "fraction_of_max"): Bound(0.0, 1.0, exclusive=True),
    ("detection", "min_confidence"): Bound(0.0, 1.0),
}
_JSON_TYPES = {"float": "number", "int": "integer", "bool": "boolean", "str": "string"}


def bound(section: str, key: str) -> Bound:
    return BOUNDS.get((section, key), Bound(0.0))


_METADATA_BOUNDS = {"ge": "minimum", "gt": "exclusiveMinimum", "le": "maximum", "lt": "exclusiveMaximum"}


def _option(section: str, f: dataclasses.Field) -> dict[str, Any]:
    """One option's schema: its type and default, and its choices or range. A field may declare these next to
    itself (``metadata``: ``choices``, or ``ge``/``gt``/``le``/``lt``); else :data:`CHOICES` and :func:`bound`."""
    kind = f.type if isinstance(f.type, str) else f.type.__name__
    out: dict[str, Any] = {"type": _JSON_TYPES[kind], "default": f.default}
    choices = f.metadata.get("choices", CHOICES.get((section, f.name)))
    if choices is not None:
        out["enum"] = list(choices)
    elif kind in ("float", "int") and any(k in f.metadata for k in _METADATA_BOUNDS):
        out.update({_METADATA_BOUNDS[k]: f.metadata[k] for k in _METADATA_BOUNDS if k in f.metadata})
    elif kind in ("float", "int"):
        b = bound(section, f.name)
        out["exclusiveMinimum" if b.exclusive else "minimum"] = b.minimum
        if b.maximum is not None:
            out["maximum"] = b.maximum
    return out


def config_schema() -> dict[str, Any]:
    """JSON Schema of the decoded TOML configuration file."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "lesion-pipeline configuration file (--config, TOML)",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            name: {
                "type": "object",
                "additionalProperties": False,
                "properties": {f.name: _option(name, f) for f in dataclasses.fields(cls)},
            }
            for name, cls in SECTIONS.items()
        },
    }


# --- validation --------------------------------------------------------------------------------------

_TYPE_WORDS = {
    "object": "an object",
    "array": "a list",
    "string": "a string",
    "number": "a number",
    "integer": "a whole number",
    "boolean": "true or false",
}


def _where(path: Sequence[str | int], toml: bool) -> str:
    """``lesions[1].seed_lps_mm`` (JSON) or ``[recist] max_targets_total`` (TOML)."""
    if toml:
        return " ".join([f"[{path[0]}]", *map(str, path[1:])]) if path else ""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _range(schema: dict[str, Any]) -> str:
    """``in [0, 1]``, ``in (0, 1]``, ``zero or more``, ``at least 1``, ``more than 0``, ``at most 5`` ..."""
    low_key = "minimum" if "minimum" in schema else "exclusiveMinimum" if "exclusiveMinimum" in schema else None
    high_key = "maximum" if "maximum" in schema else "exclusiveMaximum" if "exclusiveMaximum" in schema else None
    if low_key and high_key:
        left, right = ("[" if low_key == "minimum" else "("), ("]" if high_key == "maximum" else ")")
        return f"in {left}{schema[low_key]:g}, {schema[high_key]:g}{right}"
    if low_key == "exclusiveMinimum":
        return f"more than {schema[low_key]:g}"
    if low_key:
        return "zero or more" if schema[low_key] == 0 else f"at least {schema[low_key]:g}"
    assert high_key is not None
    return f"{'at most' if high_key == 'maximum' else 'less than'} {schema[high_key]:g}"


def _words(values: Iterable[object]) -> str:
    return ", ".join(str(v) for v in values)


def _problem(error: ValidationError, toml: bool) -> tuple[list[str | int], str]:
    """The path of the offending key and what is wrong with it."""
    path: list[str | int] = list(error.absolute_path)
    schema, value, keyword = error.schema, error.instance, error.validator
    assert isinstance(schema, dict)
    if keyword == "additionalProperties":
        known = list(schema.get("properties", {}))
        unknown = sorted(set(value) - set(known))[0]
        close = difflib.get_close_matches(unknown, known, n=1, cutoff=0.6)
        kind = ("section" if not path else "option") if toml else "key"
        hint = f"; did you mean {close[0]}?" if close else ""
        return [*path, unknown], f"unknown {kind} (allowed: {_words(known)}{hint})"
    if keyword == "required":
        missing = next(k for k in error.validator_value if k not in value)
        return [*path, missing], f"missing (required: {_words(error.validator_value)})"
    if keyword == "anyOf" and all(set(s) == {"required"} for s in error.validator_value):
        names = [s["required"][0] for s in error.validator_value]
        return path, f"give {' or '.join(names)}"
    if keyword == "type":
        kind = "a table of options" if toml and schema["type"] == "object" else _TYPE_WORDS[schema["type"]]
        return path, f"must be {kind}, got {value!r}"
    if keyword == "enum":
        return path, f"must be one of {_words(schema['enum'])}, got {value!r}"
    if keyword in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        return path, f"must be {_range(schema)}, got {value!r}"
    if keyword == "minLength" and "description" not in schema:
        return path, "must be a non-empty string"
    if keyword == "maxLength":
        return path, f"must be at most {schema['maxLength']} characters"
    if keyword in ("minItems", "maxItems") and schema.get("minItems") != schema.get("maxItems"):
        if keyword == "maxItems":
            return path, f"has {len(value)} entries; at most {schema['maxItems']} are allowed"
        return path, "is empty (give at least one)"
    if "description" in schema and keyword in ("minItems", "maxItems", "pattern", "minLength"):  # points, dates, ids
        return path, f"must be {schema['description']}, got {value!r}"
    return path, error.message


def _non_finite(value: object, path: list[str | int]) -> list[str | int] | None:
    """The path of the first number in ``value`` that is not finite (NaN, infinity, an integer too large for a
    float)."""
    if isinstance(value, float) and not math.isfinite(value):
        return path
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > _LARGEST_FLOAT:
        return path
    items: Iterable[tuple[str | int, object]] = ()
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    for key, item in items:
        found = _non_finite(item, [*path, key])
        if found is not None:
            return found
    return None


def _value_at(document: object, path: Sequence[str | int]) -> object:
    for part in path:
        document = document[part]  # type: ignore[index]
    return document


def _lesion(document: object, path: Sequence[str | int]) -> str:
    """`` (lesion ID)`` when ``path`` lies inside an entry of ``lesions`` that has a valid id (an invalid one is
    shown only by the message about the id itself, quoted)."""
    if len(path) >= 3 and path[0] == "lesions" and isinstance(path[1], int):
        entry = _value_at(document, path[:2])
        if isinstance(entry, dict) and isinstance(entry.get("id"), str) and _VALID_ID.match(entry["id"]):
            return f" (lesion {entry['id']})"
    return ""


def validate(document: object, schema: dict[str, Any], source: str, error: type[Exception], toml: bool = False) -> None:
    """Raise ``error("SOURCE: KEY: what is wrong (allowed values)")`` for the first problem of ``document``."""
    bad = _non_finite(document, [])
    if bad is not None:
        where = _where(bad, toml) + ("" if toml else _lesion(document, bad))
        shown = repr(_value_at(document, bad))
        shown = shown if len(shown) <= 40 else f"{shown[:20]}... ({len(shown)} digits)"
        raise error(f"{source}: {where}: must be a finite number, got {shown}")
    errors = list(Draft202012Validator(schema).iter_errors(document))
    if errors:  # the most relevant: the shallowest, then strong keywords (as jsonschema's best_match, not descending)
        path, problem = _problem(max(errors, key=relevance), toml)
        where = _where(path, toml) + ("" if toml else _lesion(document, path))
        raise error(f"{source}: {where}: {problem}" if where else f"{source}: {problem}")


def published() -> dict[str, dict[str, Any]]:
    """The schemas as published in ``docs/schemas/`` (file name -> schema)."""
    return {"targets.schema.json": TARGETS_SCHEMA, "config.schema.json": config_schema()}


def schema_text(schema: dict[str, Any]) -> str:
    import json

    return json.dumps(schema, indent=2) + "\n"
