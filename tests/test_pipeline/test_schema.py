"""The published schemas of targets.json and the configuration file: valid, current, and what they accept."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from pipeline.config import RunConfig
from pipeline.config_file import parse_config
from pipeline.errors import ConfigFileError
from pipeline.schema import TARGETS_SCHEMA, config_schema, published, schema_text, validate

DOCS = Path(__file__).resolve().parents[2] / "docs" / "schemas"


@pytest.mark.parametrize("name", sorted(published()))
def test_published_schema_is_valid_and_current(name: str) -> None:
    schema = published()[name]
    Draft202012Validator.check_schema(schema)
    assert (DOCS / name).read_text() == schema_text(schema), f"regenerate docs/schemas/{name} (docs/development.md)"


def test_config_schema_declares_every_option_with_its_default() -> None:
    sections = config_schema()["properties"]
    defaults = RunConfig()
    for section, options in sections.items():
        for key, option in options["properties"].items():
            assert option["default"] == getattr(getattr(defaults, section), key), (section, key)
            assert (
                "enum" in option
                or option["type"] in ("boolean", "string")
                or "minimum" in option
                or ("exclusiveMinimum" in option)
            ), (section, key)


def test_every_default_is_valid_and_the_documented_example_parses(tmp_path: Path) -> None:
    defaults = RunConfig()
    document = {
        s: {k: o["default"] for k, o in opts["properties"].items()} for s, opts in config_schema()["properties"].items()
    }
    assert parse_config(document, "defaults") == defaults
    example = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text().split("```toml\n")[1]
    parse_config(tomllib.loads(example.split("```")[0]), "docs/configuration.md")


def test_the_sample_targets_file_is_valid(sample_root: Path) -> None:
    validate(json.loads((sample_root / "study" / "targets.json").read_text()), TARGETS_SCHEMA, "sample", ValueError)


def test_an_integer_option_accepts_a_whole_float_and_a_float_option_an_integer() -> None:
    config = parse_config({"recist": {"max_targets_total": 3.0, "pd_absolute_mm": 4}}, "c.toml")
    assert config.recist.max_targets_total == 3 and isinstance(config.recist.max_targets_total, int)
    assert config.recist.pd_absolute_mm == 4.0 and isinstance(config.recist.pd_absolute_mm, float)
    with pytest.raises(ConfigFileError, match=r"\[recist\] max_targets_total: must be a whole number"):
        parse_config({"recist": {"max_targets_total": "3"}}, "c.toml")


def test_bounds_and_choices_declared_next_to_a_field_are_used() -> None:
    import dataclasses

    from pipeline.schema import _option

    @dataclasses.dataclass(frozen=True)
    class Options:
        level: float = dataclasses.field(default=0.5, metadata={"gt": 0.0, "lt": 1.0})
        mode: str = dataclasses.field(default="a", metadata={"choices": ("a", "b")})

    level, mode = (_option("x", f) for f in dataclasses.fields(Options))
    assert level == {"type": "number", "default": 0.5, "exclusiveMinimum": 0.0, "exclusiveMaximum": 1.0}
    assert mode == {"type": "string", "default": "a", "enum": ["a", "b"]}
    with pytest.raises(ValueError, match=r"x\.toml: \[x\] level: must be in \(0, 1\), got 1"):
        validate(
            {"x": {"level": 1}},
            {"type": "object", "properties": {"x": {"type": "object", "properties": {"level": level}}}},
            "x.toml",
            ValueError,
            toml=True,
        )
