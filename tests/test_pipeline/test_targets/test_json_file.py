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


@pytest.mark.parametrize(
    "seed, message",
    [
        ([0, 0, float("nan")], r"seed_lps_mm\[2\] \(lesion L1\): must be a finite number, got nan"),
        ([0, "1", 0], r"seed_lps_mm\[1\] \(lesion L1\): must be a number, got '1'"),
        ([True, 0, 0], r"seed_lps_mm\[0\] \(lesion L1\): must be a number, got True"),
        ([0, 0], r"seed_lps_mm \(lesion L1\): must be three numbers \[x, y, z\]"),
    ],
)
def test_bad_seeds(seed, message):
    with pytest.raises(TargetsError, match=message):
        parse_targets({"lesions": [{"id": "L1", "seed_lps_mm": seed}]}, "x")


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"organ": 3}, "lesions[0].organ (lesion L1): must be a string, got 3"),
        ({"lymph_node": "yes"}, "lesions[0].lymph_node (lesion L1): must be true or false, got 'yes'"),
        (
            {"size_mm": 20},
            "lesions[0].size_mm (lesion L1): unknown key (allowed: id, seed_lps_mm, organ, lymph_node, long_axis_lps_mm, origin)",
        ),
        (
            {"id": ""},
            "lesions[0].id: must be 1 to 64 characters of A-Z a-z 0-9 . _ - starting with a letter or digit (output file names use it), got ''",
        ),
        ({"organ": "x" * 65}, "lesions[0].organ (lesion L1): must be at most 64 characters"),
    ],
)
def test_wrong_types_and_unknown_keys_name_the_key(entry, message):
    with pytest.raises(TargetsError) as exc:
        parse_targets({"lesions": [{"id": "L1", "seed_lps_mm": [0, 0, 0], **entry}]}, "x")
    assert str(exc.value) == f"x: {message}"


def test_missing_file(tmp_path: Path):
    with pytest.raises(TargetsError, match="not found"):
        read_targets(tmp_path / "none.json")


def test_error_names_line_and_column(tmp_path: Path):
    path = tmp_path / "t.json"
    path.write_text('{"lesions": [\n  {"id": "L1",, }]}')
    with pytest.raises(TargetsError, match=r"line 2, column"):
        read_targets(path)
    assert json  # (module used in other tests)


def test_ids_name_files_safely_and_are_unique_ignoring_case():
    lesion = {"seed_lps_mm": [0, 0, 0]}
    with pytest.raises(TargetsError, match=r"lesions\[0\]\.id: must be 1 to 64 characters"):
        parse_targets({"lesions": [{"id": "../x", **lesion}]}, "x")
    with pytest.raises(TargetsError, match=r"lesions\[1\]\.id: duplicate id 'l1' \(ids must differ ignoring case\)"):
        parse_targets({"lesions": [{"id": "L1", **lesion}, {"id": "l1", **lesion}]}, "x")
    with pytest.raises(TargetsError, match="lesions: has 101 entries; at most 100 are allowed"):
        parse_targets({"lesions": [{"id": f"L{k}", **lesion} for k in range(101)]}, "x")
