"""Command line: exit status, one-line messages, and nothing half-written on bad input (run in this process, but
for the entry point's own tests), on copies of the tiny study (``tiny_root``: the messages and the outputs written
are the subject, not the accuracy of the measurements)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pydicom
import pytest
from cli_in_process import CliResult
from cli_in_process import cli as run_in_process

Cli = Callable[..., CliResult]


def entry_point(*args: str) -> subprocess.CompletedProcess[str]:
    """The command line as a separate process (the other tests run it in this process)."""
    return subprocess.run(
        [sys.executable, "-m", "pipeline.cli.main", *args], capture_output=True, text=True, timeout=600
    )


def assert_bad_input(result: CliResult | subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith("lesion-pipeline: error: "), result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in message, message


def assert_nothing_written(out: Path) -> None:
    assert not out.exists() or not any(out.iterdir()), list(out.iterdir())
    assert not list(out.parent.glob(f".{out.name}*")), "staging left behind"


def _ct_files(study: Path) -> list[Path]:
    return [p for p in study.rglob("IM*") if pydicom.dcmread(p, stop_before_pixels=True).Modality == "CT"]


def test_empty_folder(tmp_path: Path, cli: Cli) -> None:
    study = tmp_path / "empty"
    study.mkdir()
    (study / "targets.json").write_text('{"lesions": [{"id": "L1", "seed_lps_mm": [0, 0, 0]}]}')
    out = tmp_path / "out"
    assert_bad_input(cli("run", str(study), "-o", str(out)), "no DICOM files")
    assert_nothing_written(out)


def test_missing_study_folder(tmp_path: Path) -> None:
    assert_bad_input(entry_point("run", str(tmp_path / "nope"), "-o", str(tmp_path / "out")), "not found")


def test_folder_without_ct(tiny_copy: Path, tmp_path: Path, cli: Cli) -> None:
    for path in _ct_files(tiny_copy):
        path.unlink()
    out = tmp_path / "out"
    assert_bad_input(cli("run", str(tiny_copy), "-o", str(out)), "no usable axial CT")
    assert_nothing_written(out)


def _series_files(study: Path, series_uid: str) -> list[Path]:
    return sorted(
        p for p in study.rglob("IM*") if pydicom.dcmread(p, stop_before_pixels=True).SeriesInstanceUID == series_uid
    )


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_truncated_baseline_ct_slice_names_the_file(
    tiny_copy: Path, tmp_path: Path, tiny_ground_truth: dict, cli: Cli
) -> None:
    victim = _series_files(tiny_copy, tiny_ground_truth["timepoints"][0]["ct_series_instance_uid"])[3]
    _truncate(victim)
    out = tmp_path / "out"
    result = cli("run", str(tiny_copy), "-o", str(out))
    assert_bad_input(
        result, str(victim.relative_to(tiny_copy)), tiny_ground_truth["timepoints"][0]["ct_series_instance_uid"]
    )
    assert_nothing_written(out)


@pytest.fixture(scope="module")
def damaged_run(tiny_root: Path, tiny_ground_truth: dict, tmp_path_factory: pytest.TempPathFactory):
    """One run (``--quiet --registration affine --no-pdf``) on a copy of the tiny study with two independent
    defects: non-DICOM and input-like files among the good ones, and a truncated CT slice of follow-up 1.
    Returns the study copy, the output folder, the command line's result and the truncated file."""
    root = tmp_path_factory.mktemp("damaged")
    study = root / "study"
    shutil.copytree(tiny_root / "study", study)
    victim = _series_files(study, tiny_ground_truth["timepoints"][1]["ct_series_instance_uid"])[5]
    _truncate(victim)
    (study / "DICOM" / "0000" / "IM99999").write_bytes(b"\x00garbage, not DICOM" * 50)
    (study / "notes.txt").write_text("exported by PACS")
    (study / "DICOM" / "empty.dcm").write_bytes(b"")
    (study / "old").mkdir()
    (study / "old" / "targets.json").write_text('{"lesions": []}')
    (study / "criteria.toml").write_text("[recist]\n")
    (study / "liver.nii.gz").write_bytes(b"\x1f\x8b")
    out = root / "out"
    options = ("--quiet", "--registration", "affine", "--no-pdf", "--threads", "1")  # figures drawn in this process
    result = run_in_process("run", str(study), "-o", str(out), *options)
    return study, out, result, victim


def test_garbage_file_among_good_ones_is_skipped_with_a_warning(damaged_run) -> None:
    """Non-DICOM files are skipped with a warning; input-like ones (a second targets.json, a configuration file,
    a NIfTI mask) are named with why they are not read, even with --quiet."""
    _, out, result, _ = damaged_run
    assert result.returncode == 0, result.stderr
    assert "skipped DICOM/0000/IM99999: not a DICOM file" in result.stderr
    assert "skipped DICOM/empty.dcm: empty file" in result.stderr
    manifest = json.loads((out / "run.json").read_text())
    assert any("IM99999" in w for w in manifest["warnings"])
    (ignored,) = [line for line in result.stderr.splitlines() if "files that look like input were ignored" in line]
    assert "WARNING" in ignored
    for name, why in (
        ("criteria.toml", "only with --config FILE"),
        ("liver.nii.gz", "read only as DICOM"),
        ("old/targets.json", "only from STUDY_DIR/targets.json or --targets FILE"),
    ):
        assert f"{name} (not read: " in ignored and why in ignored
        assert any(s["file"] == name and why in s["reason"] for s in manifest["inputs"]["skipped_files"])
    assert "skipped old/targets.json" not in result.stderr  # named once, with the reason


def test_truncated_follow_up_ct_drops_that_timepoint(damaged_run, tiny_ground_truth: dict) -> None:
    study, out, result, victim = damaged_run
    assert result.returncode == 0, result.stderr
    assert str(victim.relative_to(study)) in result.stderr
    manifest = json.loads((out / "run.json").read_text())
    assert [t["study_instance_uid"] for t in manifest["inputs"]["timepoints"]] == [
        tiny_ground_truth["timepoints"][k]["study_instance_uid"] for k in (0, 2)
    ]
    assert (
        manifest["inputs"]["dropped_timepoints"][0]["study_instance_uid"]
        == tiny_ground_truth["timepoints"][1]["study_instance_uid"]
    )


@pytest.mark.parametrize(
    "content, fragment",
    [
        ("{not json", "not valid JSON"),
        ('{"lesions": []}', "lesions: is empty"),
        ('{"lesions": [{"id": "L1"}]}', "lesions[0].seed_lps_mm (lesion L1): missing"),
        (
            '{"lesions": [{"id": "L1", "seed_lps_mm": [1, 2]}]}',
            "seed_lps_mm (lesion L1): must be three numbers [x, y, z]",
        ),
        (
            '{"lesions": [{"id": "L1", "seed_lps_mm": [1, NaN, 3]}]}',
            "seed_lps_mm[1] (lesion L1): must be a finite number, got nan",
        ),
        (
            '{"lesions": [{"id": "L1", "seed_lps_mm": [1, 2, 3]}, {"id": "L1", "seed_lps_mm": [1, 2, 3]}]}',
            "duplicate id",
        ),
        ("[1, 2]", "must be an object"),
        (
            '{"lesions": [{"id": "L1", "seed_lps_mm": [1, 2, 3]}], "new_lesion": [{"timepoint": 1}]}',
            "new_lesion: unknown key (allowed: lesions, new_lesions, lesion_status, liver_reference_lps_mm, "
            "blood_pool_lps_mm; did you mean new_lesions?)",
        ),
        (
            '{"lesions": [{"id": "L1", "seed_lps_mm": [1, 2, 3]}], "lesion_statuses": []}',
            "did you mean lesion_status?",
        ),
    ],
)
def test_malformed_targets(tiny_copy: Path, tmp_path: Path, content: str, fragment: str, cli: Cli) -> None:
    targets = tmp_path / "bad_targets.json"
    targets.write_text(content)
    out = tmp_path / "out"
    assert_bad_input(cli("run", str(tiny_copy), "-o", str(out), "--targets", str(targets)), str(targets), fragment)
    assert_nothing_written(out)


def test_seed_outside_the_body(tiny_copy: Path, tmp_path: Path, cli: Cli) -> None:
    data = json.loads((tiny_copy / "targets.json").read_text())
    data["lesions"][1]["seed_lps_mm"] = [-175.0, -170.0, 0.0]  # the corner of the field of view: air
    targets = tmp_path / "targets.json"
    targets.write_text(json.dumps(data))
    out = tmp_path / "out"
    assert_bad_input(cli("run", str(tiny_copy), "-o", str(out), "--targets", str(targets)), "L2", "outside the body")
    assert_nothing_written(out)


def test_seed_outside_the_image(tiny_copy: Path, tmp_path: Path, cli: Cli) -> None:
    data = json.loads((tiny_copy / "targets.json").read_text())
    data["lesions"][0]["seed_lps_mm"] = [0.0, 0.0, 900.0]
    targets = tmp_path / "targets.json"
    targets.write_text(json.dumps(data))
    assert_bad_input(
        cli("run", str(tiny_copy), "-o", str(tmp_path / "out"), "--targets", str(targets)),
        "L1",
        "outside the baseline CT",
    )


def test_failed_run_keeps_previous_outputs(tiny_copy: Path, tmp_path: Path, cli: Cli) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "measurements.csv").write_text("previous results\n")
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    assert_bad_input(cli("run", str(tiny_copy), "-o", str(out), "--targets", str(bad)))
    assert (out / "measurements.csv").read_text() == "previous results\n"


def test_sample_data_refuses_to_overwrite(tmp_path: Path, cli: Cli) -> None:
    (tmp_path / "x").mkdir()
    assert_bad_input(cli("sample-data", str(tmp_path / "x")), "exists")


def test_version() -> None:
    result = entry_point("--version")
    assert result.returncode == 0 and result.stdout.startswith("lesion-pipeline ")


def test_inspect_lists_chosen_and_skipped(tiny_root: Path, tiny_ground_truth: dict, cli: Cli) -> None:
    result = cli("inspect", str(tiny_root / "study"))
    assert result.returncode == 0, result.stderr
    assert "file targets.json: not a DICOM file" in result.stdout
    assert result.stdout.count("CHOSEN") == 6
    assert tiny_ground_truth["patient_id"] not in result.stdout
    for tp in tiny_ground_truth["timepoints"]:
        assert tp["ct_series_instance_uid"] in result.stdout
    assert "SUVbw factor" in result.stdout


def test_convert_needs_a_series_in_a_study(tiny_root: Path, tmp_path: Path, cli: Cli) -> None:
    assert_bad_input(cli("convert", str(tiny_root / "study"), "-o", str(tmp_path / "x.nii.gz")), "--series")


def test_inspect_selection_options(tiny_root: Path, cli: Cli) -> None:
    result = cli("inspect", str(tiny_root / "study"), "--ct-description", "no such series")
    assert result.returncode == 0, result.stderr
    assert "0 timepoint(s)" in result.stdout and "description does not match 'no such series'" in result.stdout
    assert_bad_input(cli("inspect", str(tiny_root / "study"), "--ct-description", "("), "invalid regular expression")
