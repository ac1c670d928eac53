"""Command-line options: help for every option, suggestions for mistyped ones, checked numbers, --auto."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from pipeline.cli.main import build_parser, main
from pipeline.cli.parsing import suggestion


def _parsers(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser]]:
    out = [(parser.prog, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                out += _parsers(sub)
    return out


def test_every_option_and_argument_has_help() -> None:
    missing = [
        f"{prog}: {action.option_strings or action.dest}"
        for prog, parser in _parsers(build_parser())
        for action in parser._actions
        if not action.help or action.help == argparse.SUPPRESS
    ]
    assert missing == []
    commands = {prog.split()[-1] for prog, _ in _parsers(build_parser())[1:]}
    assert {"run", "batch", "measure", "sample-data", "inspect", "convert"} <= commands


def _error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as exc:
        main(list(argv))
    assert exc.value.code == 2
    return capsys.readouterr().err.strip().splitlines()[-1]


def test_mistyped_option_gets_a_suggestion(capsys, tmp_path: Path) -> None:
    line = _error(capsys, "run", str(tmp_path), "-o", str(tmp_path / "out"), "--treads", "3")
    assert "unrecognized arguments: --treads 3" in line and "did you mean --threads?" in line
    line = _error(capsys, "batch", str(tmp_path), "-o", str(tmp_path / "out"), "--wrokers=2")
    assert "did you mean --workers?" in line
    line = _error(capsys, "run", str(tmp_path), "-o", str(tmp_path / "out"), "--dicomout")
    assert "did you mean --dicom-out?" in line


def test_mistyped_command_and_choice_get_a_suggestion(capsys, tmp_path: Path) -> None:
    line = _error(capsys, "rnu", str(tmp_path))
    assert "invalid choice: 'rnu'" in line and "did you mean run?" in line
    line = _error(capsys, "sample-dta", str(tmp_path))
    assert "did you mean sample-data?" in line
    line = _error(capsys, "run", str(tmp_path), "-o", str(tmp_path / "o"), "--registration", "afine")
    assert "did you mean affine?" in line
    assert not suggestion("xyz", ["run", "batch"])  # nothing close: no suggestion


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["run", "S", "-o", "O", "--threads", "0"], "argument --threads: must be from 1 to 256, got 0"),
        (["run", "S", "-o", "O", "--threads", "two"], "argument --threads: expected a whole number >= 1"),
        (["batch", "S", "-o", "O", "--threads", "-1"], "argument --threads: must be from 1 to 256"),
        (["batch", "S", "-o", "O", "--workers", "0"], "argument --workers: must be from 1 to 256"),
        (["batch", "S", "-o", "O", "--timeout", "0"], "argument --timeout: must be a finite number > 0"),
        (["batch", "S", "-o", "O", "--memory-limit", "nan"], "argument --memory-limit: must be a finite number > 0"),
    ],
)
def test_counts_and_limits_are_checked(capsys, argv: list[str], fragment: str) -> None:
    assert fragment in _error(capsys, *argv)


def test_auto_and_targets_exclude_each_other(capsys, tmp_path: Path) -> None:
    line = _error(capsys, "run", str(tmp_path), "-o", str(tmp_path / "o"), "--auto", "--targets", "t.json")
    assert "not allowed with argument" in line


def test_without_targets_and_without_auto_both_ways_are_named(capsys, tmp_path: Path) -> None:
    """Giving the parent folder: the study's targets.json one level down is named, nothing is written."""
    study = tmp_path / "patients" / "P1"
    study.mkdir(parents=True)
    (study / "targets.json").write_text('{"lesions": [{"id": "L1", "seed_lps_mm": [0, 0, 0]}]}')
    out = tmp_path / "out"
    assert main(["run", str(tmp_path / "patients"), "-o", str(out)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("lesion-pipeline: error: ")
    for fragment in (
        "no targets",
        "--targets FILE",
        "targets.json in the study folder",
        "--auto",
        f"is the study folder {study}?",
    ):
        assert fragment in line, line
    assert not out.exists()


def test_auto_runs_without_targets_and_says_so(tmp_path: Path, capsys) -> None:
    """--auto on a folder without DICOM gets past the targets check to the DICOM check (automatic mode chosen)."""
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["run", str(empty), "-o", str(tmp_path / "o"), "--auto"]) == 2
    err = capsys.readouterr().err
    assert "automatic mode" in err and "no DICOM files" in err.strip().splitlines()[-1]


def test_auto_with_a_targets_file_uses_the_file_and_warns(tmp_path: Path, capsys) -> None:
    study = tmp_path / "study"
    study.mkdir()
    (study / "targets.json").write_text(json.dumps({"lesions": [{"id": "L1", "seed_lps_mm": [0, 0, 0]}]}))
    assert main(["run", str(study), "-o", str(tmp_path / "o"), "--auto", "-q"]) == 2  # no DICOM
    err = capsys.readouterr().err
    assert f"WARNING: targets read from {study / 'targets.json'}: --auto applies only when no targets are given" in err


def test_sample_data_reports_progress_per_timepoint(sample_progress: list[tuple[str, dict]]) -> None:
    steps = [(fields["stage"], fields["step"], fields["total"]) for _, fields in sample_progress]
    assert steps == [("sample-data", k, 3) for k in (1, 1, 2, 2, 3, 3)]
    assert [m for m, _ in sample_progress][:2] == ["timepoint 0: rendering the CT", "timepoint 0: rendering the PET"]


def test_batch_study_without_targets_needs_auto(tmp_path: Path, capsys) -> None:
    """Without --auto the study fails as bad input naming both ways; with it, it reaches the DICOM check."""
    import csv

    (tmp_path / "studies" / "P1").mkdir(parents=True)
    (tmp_path / "studies" / "P1" / "notes.txt").write_text("no DICOM here")

    def errors(*extra: str) -> str:
        assert main(["batch", str(tmp_path / "studies"), "-o", str(tmp_path / "out"), "-q", *extra]) == 1
        with (tmp_path / "out" / "batch_summary.csv").open() as f:
            (row,) = list(csv.DictReader(f))
        return row["error"]

    error = errors()
    assert "no targets" in error and "--auto" in error
    assert "no DICOM files" in errors("--auto")


def test_pdf_without_a_browser_is_refused_before_any_work(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("LESION_PIPELINE_CHROMIUM", str(tmp_path / "no-such-browser"))
    study = tmp_path / "study"
    study.mkdir()
    (study / "targets.json").write_text(json.dumps({"lesions": [{"id": "L1", "seed_lps_mm": [0, 0, 0]}]}))
    assert main(["run", str(study), "-o", str(tmp_path / "o"), "--pdf"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "--pdf needs a headless Chromium" in line and "LESION_PIPELINE_CHROMIUM" in line
    assert not (tmp_path / "o").exists()
    # without --pdf the same run goes on to the DICOM check: no PDF, no error about it
    assert main(["run", str(study), "-o", str(tmp_path / "o")]) == 2
    assert "no DICOM files" in capsys.readouterr().err
