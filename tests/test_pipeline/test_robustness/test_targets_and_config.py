"""Hostile targets files, configuration files and command-line values: each a clean refusal naming the file and the
key, before any work and with OUT_DIR untouched; ids never become paths outside OUT_DIR."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from cli_in_process import cli_logging

from pipeline.cli.main import main
from pipeline.outputs import names
from pipeline.schema import MAX_TARGETS
from pipeline.targets.json_file import LESION_ID_PATTERN, is_lesion_id

SEED = [0.0, 0.0, 0.0]


def _lesion(lesion_id: object = "L1", seed: object = SEED, **more: object) -> dict[str, object]:
    return {"id": lesion_id, "seed_lps_mm": seed, **more}


# (case, targets file text, fragment of the one-line message after the file's path)
TARGETS_CASES = [
    (
        "path in an id",
        json.dumps({"lesions": [_lesion("../../../../tmp/x/PWNED")]}),
        "lesions[0].id: must be 1 to 64 characters of A-Z a-z 0-9 . _ - starting with a letter or digit",
    ),
    (
        "folder in an id",
        json.dumps({"lesions": [_lesion("a/b")]}),
        "lesions[0].id: must be 1 to 64 characters of A-Z a-z 0-9 . _ - starting with a letter or digit",
    ),
    ("300-character id", json.dumps({"lesions": [_lesion("L" * 300)]}), "lesions[0].id: must be 1 to 64 characters"),
    ("NUL in an id", json.dumps({"lesions": [_lesion("L\u00001")]}), "lesions[0].id: must be 1 to 64 characters"),
    ("TeX in an id", json.dumps({"lesions": [_lesion("$\\frac{")]}), "lesions[0].id: must be 1 to 64 characters"),
    ("dot id", json.dumps({"lesions": [_lesion("..")]}), "lesions[0].id: must be 1 to 64 characters"),
    ("empty id", json.dumps({"lesions": [_lesion("")]}), "lesions[0].id: must be 1 to 64 characters"),
    ("number id", json.dumps({"lesions": [_lesion(7)]}), "lesions[0].id: must be a string, got 7"),
    ("duplicate id", json.dumps({"lesions": [_lesion("L1"), _lesion("L1")]}), "lesions[1].id: duplicate id 'L1'"),
    (
        "ids equal ignoring case",
        json.dumps({"lesions": [_lesion("L1"), _lesion("l1")]}),
        "duplicate id 'l1' (ids must differ ignoring case)",
    ),
    (
        "10,000 targets",
        json.dumps({"lesions": [_lesion(f"L{k}") for k in range(10_000)]}),
        f"lesions: has 10000 entries; at most {MAX_TARGETS} are allowed",
    ),
    (
        "seed of 1e400",
        '{"lesions": [{"id": "L1", "seed_lps_mm": [1e400, 0, 0]}]}',
        "seed_lps_mm[0] (lesion L1): must be a finite number, got inf",
    ),
    (
        "seed NaN",
        '{"lesions": [{"id": "L1", "seed_lps_mm": [NaN, 0, 0]}]}',
        "seed_lps_mm[0] (lesion L1): must be a finite number, got nan",
    ),
    (
        "seed of 400 digits",
        '{"lesions": [{"id": "L1", "seed_lps_mm": [' + "9" * 400 + ", 0, 0]}]}",
        "seed_lps_mm[0] (lesion L1): must be a finite number",
    ),
    (
        "seed of 5000 digits",
        '{"lesions": [{"id": "L1", "seed_lps_mm": [' + "9" * 5000 + ", 0, 0]}]}",
        "not usable JSON",
    ),
    (
        "seed as text",
        json.dumps({"lesions": [_lesion(seed="0,0,0")]}),
        "seed_lps_mm (lesion L1): must be a list, got '0,0,0'",
    ),
    (
        "organ with a newline",
        json.dumps({"lesions": [_lesion(organ="liver\nEVIL")]}),
        "lesions[0].organ (lesion L1): must be 1 to 64 printable characters",
    ),
    ("deeply nested JSON", '{"lesions": [' + "[" * 100_000 + "]" * 100_000 + "]}", "nested more than"),
    ("nested 9 levels", json.dumps({"lesions": [_lesion(), [[[[[[[[]]]]]]]]]}), "nested more than 8 levels"),
    ("larger than 1 MB", json.dumps({"lesions": [_lesion()], "pad": "x" * 1_100_000}), "larger than 1000000 bytes"),
    ("not UTF-8", b'{"lesions": [{"id": "\xff"}]}', "not UTF-8"),
    ("empty file", "", "not valid JSON"),
    ("lesions not a list", json.dumps({"lesions": {"id": "L1"}}), "lesions: must be a list"),
    (
        "status of an unknown lesion",
        json.dumps(
            {"lesions": [_lesion()], "lesion_status": [{"lesion_id": "x", "timepoint": 1, "status": "disappeared"}]}
        ),
        "must name a target",
    ),
    (
        "new lesions not a list",
        json.dumps({"lesions": [_lesion()], "new_lesions": 5}),
        "new_lesions: must be a list, got 5",
    ),
]


@pytest.mark.parametrize("case, text, fragment", TARGETS_CASES, ids=[c[0] for c in TARGETS_CASES])
def test_hostile_targets_files_are_refused(
    case: str, text: str | bytes, fragment: str, tmp_path: Path, refused
) -> None:
    study = tmp_path / "study"
    study.mkdir()
    targets = tmp_path / "targets.json"
    targets.write_bytes(text if isinstance(text, bytes) else text.encode())
    started = time.monotonic()
    result = refused("run", study, "-o", tmp_path / "out", "--targets", targets, out=tmp_path / "out")
    assert time.monotonic() - started < 20, "no hang"
    assert f"{targets}: " in result.message and fragment in result.message, result.message
    assert not (tmp_path / "tmp").exists() and not Path("/tmp/x/PWNED_timepoint_0.png").exists()


@pytest.mark.parametrize(
    "lesion_id, valid",
    [
        ("L1", True),
        ("liver-seg_VI.2", True),
        ("9", True),
        ("A" * 64, True),
        ("A" * 65, False),
        ("_L1", False),
        (".hidden", False),
        ("-x", False),
        ("a b", False),
        ("é", False),
        ("a/b", False),
        ("..", False),
    ],
)
def test_the_lesion_id_pattern(lesion_id: str, valid: bool) -> None:
    assert is_lesion_id(lesion_id) is valid
    assert LESION_ID_PATTERN == "[A-Za-z0-9][A-Za-z0-9._-]{0,63}"


def test_output_names_stay_inside_the_output_folder(tmp_path: Path) -> None:
    assert names.inside(tmp_path, names.lesion_qc("L1", 2)) == tmp_path / "qc" / "lesion_L1_timepoint_2.png"
    for bad in ("../x.png", "/etc/passwd", "qc/../../x"):
        with pytest.raises(ValueError, match="outside"):
            names.inside(tmp_path, bad)
    (tmp_path / "qc").symlink_to(tmp_path.parent)  # an existing link that would lead out
    with pytest.raises(ValueError, match="outside"):
        names.inside(tmp_path, names.lesion_qc("L1", 0))
    with pytest.raises(ValueError, match="not a valid lesion id"):
        names.lesion_qc("../../x", 0)


# (case, configuration file text, fragment naming the key)
CONFIG_CASES = [
    ("NaN threshold", "[recist]\npr_change_pct = nan\n", "[recist] pr_change_pct: must be a finite number"),
    ("infinite threshold", "[volumetric]\npd_change_pct = inf\n", "[volumetric] pd_change_pct: must be a finite"),
    (
        "huge margin",
        "[pet_lesion]\nsearch_margin_mm = 1e300\n",
        "[pet_lesion] search_margin_mm: must be in [0, 50], got 1e+300",
    ),
    (
        "huge integer",
        "[recist]\nmax_targets_total = 99999999999999999999999\n",
        "max_targets_total: must be in [1, 100]",
    ),
    ("huge detection margin", "[detection]\npet_margin_mm = 1e9\n", "[detection] pet_margin_mm: must be in [0, 50]"),
    (
        "positive PR threshold",
        "[choi]\nsize_pr_change_pct = 5\n",
        "[choi] size_pr_change_pct: must be in [-100, 0), got 5",
    ),
    ("deeply nested", "[recist]\nx = " + "[" * 5000 + "]" * 5000 + "\n", "not usable TOML"),
    ("unknown key", "[percist]\nliver_factor = 2\n", "[percist] liver_factor: unknown option"),
    ("wrong type", '[recist]\nmin_sd_days = "42"\n', "[recist] min_sd_days: must be a whole number, got '42'"),
    ("not TOML", "[recist\n", "not valid TOML"),
]


@pytest.mark.parametrize("case, text, fragment", CONFIG_CASES, ids=[c[0] for c in CONFIG_CASES])
def test_hostile_configuration_files_are_refused(case: str, text: str, fragment: str, tmp_path: Path, refused) -> None:
    (tmp_path / "study").mkdir()
    config = tmp_path / "c.toml"
    config.write_text(text)
    result = refused("run", tmp_path / "study", "-o", tmp_path / "out", "--config", config, out=tmp_path / "out")
    assert f"{config}: " in result.message and fragment in result.message, result.message


def test_every_configuration_number_declares_its_bounds() -> None:
    """Every number a configuration file may set has bounds next to its field (so none is unbounded)."""
    import dataclasses

    from pipeline.config_file import SECTIONS

    for name, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            if f.type in ("float", "int"):
                assert {"ge", "gt"} & set(f.metadata) and {"le", "lt"} & set(f.metadata), f"[{name}] {f.name}"
            if f.type == "str":
                assert f.metadata.get("choices"), f"[{name}] {f.name}"


@pytest.mark.parametrize(
    "arguments, fragment",
    [
        (["--threads", "0"], "argument --threads: must be from 1 to 256, got 0"),
        (["--threads", "-3"], "argument --threads: must be from 1 to 256, got -3"),
    ],
)
def test_bad_command_line_numbers(arguments: list[str], fragment: str, tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exc, cli_logging():
        main(["run", str(tmp_path), "-o", str(tmp_path / "out"), *arguments])
    assert exc.value.code == 2 and fragment in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc, cli_logging():
        main(["batch", str(tmp_path), "-o", str(tmp_path / "out"), "--timeout", "nan"])
    assert exc.value.code == 2 and "must be a finite number > 0, got nan" in capsys.readouterr().err


def test_log_json_stays_json_lines_on_errors(tmp_path: Path, capsys) -> None:
    (tmp_path / "study").mkdir()
    (tmp_path / "t.json").write_text('{"lesions": [{"id": "../x", "seed_lps_mm": [0, 0, 0]}]}')
    with cli_logging():
        code = main(
            [
                "run",
                str(tmp_path / "study"),
                "-o",
                str(tmp_path / "out"),
                "--targets",
                str(tmp_path / "t.json"),
                "--log-json",
            ]
        )
    lines = capsys.readouterr().err.splitlines()
    records = [json.loads(line) for line in lines]
    assert code == 2 and records[-1]["level"] == "error" and "lesions[0].id: must be" in records[-1]["message"]
    with pytest.raises(SystemExit), cli_logging():
        main(["run", "--log-json", "--no-such-option"])
    (record,) = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert record["level"] == "error" and "arguments are required: STUDY_DIR" in record["message"]


def test_sample_data_force_replaces_only_a_sample_data_folder(tmp_path: Path, refused) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "thesis.tex").write_text("keep me")
    message = refused("sample-data", home, "--force", out=home).message
    assert "replaces only a sample-data folder" in message and (home / "thesis.tex").read_text() == "keep me"


@pytest.mark.parametrize("option", ["--targets", "--config"])
def test_a_pipe_as_targets_or_configuration_file_is_refused_without_blocking(
    option: str, tmp_path: Path, refused
) -> None:
    (tmp_path / "study").mkdir()
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    message = refused("run", tmp_path / "study", "-o", tmp_path / "out", option, pipe, out=tmp_path / "out").message
    assert f"{pipe}: not a regular file" in message
