"""The targets file: parsing, validation and round trip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.errors import TargetsError
from pipeline.targets.json_file import Target, parse_targets, read_targets, targets_to_json


def test_round_trip(tmp_path: Path):
    targets = (Target("L1", (1.0, -2.5, 30.25)), Target("N1", (4.0, 5.0, 6.0), organ="lymph node", lymph_node=True))
    path = tmp_path / "t.json"
    path.write_text(targets_to_json(targets))
    assert read_targets(path) == targets


def test_organ_defaults_to_liver():
    (t,) = parse_targets({"lesions": [{"id": "L1", "seed_lps_mm": [0, 0, 0]}]}, "x")
    assert t.organ == "liver" and not t.lymph_node


@pytest.mark.parametrize("seed", [[0, 0, float("nan")], [0, "1", 0], [True, 0, 0]])
def test_bad_seeds(seed):
    with pytest.raises(TargetsError, match="three finite numbers"):
        parse_targets({"lesions": [{"id": "L1", "seed_lps_mm": seed}]}, "x")


def test_missing_file(tmp_path: Path):
    with pytest.raises(TargetsError, match="not found"):
        read_targets(tmp_path / "none.json")


def test_error_names_line_and_column(tmp_path: Path):
    path = tmp_path / "t.json"
    path.write_text('{"lesions": [\n  {"id": "L1",, }]}')
    with pytest.raises(TargetsError, match=r"line 2, column"):
        read_targets(path)
    assert json  # (module used in other tests)
