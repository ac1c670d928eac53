"""The criteria options from a TOML configuration file (``--config FILE``).

Sections and keys are the fields of the criteria configurations, e.g.::

    [recist]
    max_targets_per_organ = 5      # published default 2
    not_found_as = "disappeared"   # default "auto"

    [volumetric]
    pr_change_pct = -65.0

    [choi]
    pd_reference = "baseline"

    [percist]
    lbm_formula = "janmahasatian"
    unstable_reference = "warn"

    [pet_lesion]
    method = "percist"             # "41pct" (default, EANM), "fixed", "percist"

    [detection]                    # automatic mode
    min_contrast_hu = 20.0

The targets chosen in automatic mode follow ``[recist] max_targets_per_organ``
and ``max_targets_total``.

Absent keys keep the published defaults. The file's path and SHA-256 are
recorded with every parameter in ``run.json``. An unknown section or key, a
value of the wrong type or outside its choices is bad input.
"""

from __future__ import annotations

import dataclasses
import hashlib
import tomllib
from pathlib import Path
from typing import Any

from measurement.criteria.choi import ChoiConfig
from measurement.criteria.percist import PercistConfig
from measurement.criteria.recist import RecistConfig
from measurement.criteria.volumetric import VolumetricConfig
from measurement.pet import LBM_FORMULAS
from pipeline.config import RunConfig
from pipeline.errors import ConfigFileError
from segmentation.detect import DetectionConfig
from segmentation.pet_lesion import PET_METHODS, PetSegmentationConfig

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
# segmentation options are lengths, levels, volumes and fractions: never negative; these also have an upper bound
NON_NEGATIVE_SECTIONS = ("pet_lesion", "detection")
UPPER_BOUNDS: dict[tuple[str, str], float] = {
    ("pet_lesion", "fraction_of_max"): 1.0,
    ("detection", "min_confidence"): 1.0,
}
_TYPES: dict[str, tuple[type, ...]] = {"float": (int, float), "int": (int,), "bool": (bool,), "str": (str,)}


def _has_type(value: object, kind: str) -> bool:
    """TOML value of the declared kind (a bool is not a number)."""
    return isinstance(value, _TYPES[kind]) and (kind == "bool" or not isinstance(value, bool))


def _section(name: str, cls: type, values: Any, source: str) -> Any:
    if not isinstance(values, dict):
        raise ConfigFileError(f"{source}: [{name}] must be a table of options")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    out: dict[str, object] = {}
    items: dict[str, Any] = values
    for key, value in items.items():
        where = f"{source}: [{name}] {key}"
        if key not in fields:
            raise ConfigFileError(f"{where}: unknown option (known: {', '.join(fields)})")
        declared = fields[key].type
        kind = declared if isinstance(declared, str) else declared.__name__
        if not _has_type(value, kind):
            raise ConfigFileError(f"{where}: expected {kind}, got {value!r}")
        choices = CHOICES.get((name, key))
        if choices and value not in choices:
            raise ConfigFileError(f"{where}: must be one of {', '.join(choices)}")
        if kind == "int" and value < (1 if key.startswith("max_targets") else 0):
            raise ConfigFileError(
                f"{where}: must be {'at least 1' if key.startswith('max_targets') else 'zero or more'}"
            )
        if kind == "float" and name in NON_NEGATIVE_SECTIONS:
            upper = UPPER_BOUNDS.get((name, key))
            if value < 0 or (upper is not None and value > upper) or (key == "fraction_of_max" and value == 0):
                bounds = (
                    f"in (0, {upper:g}]"
                    if key == "fraction_of_max"
                    else f"in [0, {upper:g}]"
                    if upper
                    else "zero or more"
                )
                raise ConfigFileError(f"{where}: must be {bounds}")
        out[key] = float(value) if kind == "float" else value
    return cls(**out)


def parse_config(data: dict[str, object], source: str, base: RunConfig | None = None) -> RunConfig:
    """``base`` (default: the published defaults) with the options of a decoded TOML document."""
    base = base or RunConfig()
    unknown = set(data) - set(SECTIONS)
    if unknown:
        raise ConfigFileError(f"{source}: unknown section [{sorted(unknown)[0]}] (known: {', '.join(SECTIONS)})")
    changes = {name: _section(name, cls, data[name], source) for name, cls in SECTIONS.items() if name in data}
    return dataclasses.replace(base, **changes)


def load_config(path: Path | str, base: RunConfig | None = None) -> RunConfig:
    """Read a TOML configuration file; the result records the file's path and SHA-256."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigFileError(f"{path}: cannot read configuration file ({exc.strerror or exc})") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigFileError(f"{path}: not valid TOML ({exc})") from None
    config = parse_config(data, str(path), base)
    return dataclasses.replace(
        config, config_file=str(path.resolve()), config_file_sha256=hashlib.sha256(raw).hexdigest()
    )
