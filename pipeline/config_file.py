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
recorded with every parameter in ``run.json``. The file is validated against
its declared schema (:func:`pipeline.schema.config_schema`, published as
``docs/schemas/config.schema.json``): an unknown section or key, a value of
the wrong type, outside its choices or range, or not finite is bad input.
"""

from __future__ import annotations

import dataclasses
import hashlib
import tomllib
from pathlib import Path
from typing import Any

from pipeline.config import RunConfig
from pipeline.errors import ConfigFileError
from pipeline.schema import SECTIONS, config_schema, validate

MAX_FILE_BYTES = 100_000
_NUMBERS: dict[str, Any] = {"float": float, "int": int}  # TOML 5 for a float option, 2.0 for an integer one


def _same(value: Any) -> Any:
    return value


def parse_config(data: dict[str, object], source: str, base: RunConfig | None = None) -> RunConfig:
    """``base`` (default: the published defaults) with the options of a decoded TOML document, validated
    against :func:`pipeline.schema.config_schema`."""
    validate(data, config_schema(), source, ConfigFileError, toml=True)
    base = base or RunConfig()
    changes = {}
    for name, cls in SECTIONS.items():
        if name in data:
            section: dict[str, Any] = data[name]  # type: ignore[assignment]
            kinds = {f.name: f.type for f in dataclasses.fields(cls)}
            changes[name] = cls(**{k: _NUMBERS.get(str(kinds[k]), _same)(v) for k, v in section.items()})
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
