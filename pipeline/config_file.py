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
value of the wrong type, a number that is not finite or outside the bounds
declared next to its field (``metadata`` of the configuration dataclasses:
``ge``, ``gt``, ``le``, ``lt``) or a text outside its ``choices`` is bad input.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import tomllib
from pathlib import Path
from typing import Any

from measurement.criteria.choi import ChoiConfig
from measurement.criteria.percist import PercistConfig
from measurement.criteria.recist import RecistConfig
from measurement.criteria.volumetric import VolumetricConfig
from pipeline.config import RunConfig
from pipeline.errors import ConfigFileError
from segmentation.detect import DetectionConfig
from segmentation.pet_lesion import PetSegmentationConfig

SECTIONS: dict[str, type] = {
    "recist": RecistConfig,
    "volumetric": VolumetricConfig,
    "choi": ChoiConfig,
    "percist": PercistConfig,
    "pet_lesion": PetSegmentationConfig,
    "detection": DetectionConfig,
}
_TYPES: dict[str, tuple[type, ...]] = {"float": (int, float), "int": (int,), "bool": (bool,), "str": (str,)}
_BOUNDS = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}
MAX_FILE_BYTES = 100_000


def _has_type(value: object, kind: str) -> bool:
    """TOML value of the declared kind (a bool is not a number)."""
    return isinstance(value, _TYPES[kind]) and (kind == "bool" or not isinstance(value, bool))


def bounds_text(metadata: Any) -> str:
    """The declared bounds of a field, e.g. ``>= 0, <= 50``."""
    return ", ".join(f"{_BOUNDS[k]} {metadata[k]:g}" for k in _BOUNDS if k in metadata)


def _within(value: float, metadata: Any) -> bool:
    return (
        ("ge" not in metadata or value >= metadata["ge"])
        and ("gt" not in metadata or value > metadata["gt"])
        and ("le" not in metadata or value <= metadata["le"])
        and ("lt" not in metadata or value < metadata["lt"])
    )


def _value(where: str, kind: str, value: Any, metadata: Any) -> object:
    """A checked option value: of its type, finite, within its declared bounds or among its choices."""
    if not _has_type(value, kind):
        raise ConfigFileError(f"{where}: expected {kind}, got {value!r}")
    choices = metadata.get("choices")
    if choices is not None and value not in choices:
        raise ConfigFileError(f"{where}: must be one of {', '.join(choices)}")
    if kind in ("float", "int"):
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigFileError(f"{where}: must be a finite number, got {value!r}")
        if not _within(value, metadata):
            raise ConfigFileError(f"{where}: must be {bounds_text(metadata)}, got {value!r}")
        return float(value) if kind == "float" else value
    return value


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
        out[key] = _value(where, kind, value, fields[key].metadata)
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
    if path.exists() and not path.is_file():
        raise ConfigFileError(f"{path}: not a regular file")
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigFileError(f"{path}: cannot read configuration file ({exc.strerror or exc})") from None
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigFileError(f"{path}: larger than {MAX_FILE_BYTES} bytes (the limit of a configuration file)")
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigFileError(f"{path}: not valid TOML ({exc})") from None
    except (RecursionError, ValueError) as exc:  # nested too deeply, an integer of thousands of digits
        raise ConfigFileError(f"{path}: not usable TOML ({type(exc).__name__})") from None
    config = parse_config(data, str(path), base)
    return dataclasses.replace(
        config, config_file=str(path.resolve()), config_file_sha256=hashlib.sha256(raw).hexdigest()
    )
