"""A batch never fails as a whole for one study (a name colliding with a batch output, no targets file, an unreadable
folder); library warnings reach the log scrubbed of header values; JSON outputs are strict JSON."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cli_in_process import cli

from pipeline.batch.tasks import StudyStatus, StudyTask, execute
from pipeline.config import RunConfig
from pipeline.outputs.tables import json_text
from pipeline.progress import scrub


def _summary(out: Path) -> dict[str, dict[str, str]]:
    with (out / "batch_summary.csv").open(newline="") as f:
        return {row["study"]: row for row in csv.DictReader(f)}


def test_a_study_named_like_a_batch_output_fails_alone(tmp_path: Path) -> None:
    studies = tmp_path / "studies"
    for name in ("measurements.csv", "batch_logs", "empty"):
        (studies / name).mkdir(parents=True)
        (studies / name / "note.txt").write_text("not DICOM")
    out = tmp_path / "out"
    result = cli("batch", studies, "-o", out, "-q")
    assert result.returncode == 1 and "internal error" not in result.stderr, result.stderr
    summary = _summary(out)
    for name in ("measurements.csv", "batch_logs"):
        assert summary[name]["status"] == "failed" and "is the name of a batch output" in summary[name]["error"]
    assert summary["empty"]["status"] == "failed" and "no targets: give --targets FILE" in summary["empty"]["error"]
    assert (out / "measurements.csv").is_file() and (out / "cohort_report.html").is_file()


def test_a_study_without_targets_file_runs_in_automatic_mode(tmp_path: Path) -> None:
    """No targets.json and automatic mode: the worker fingerprints the study without one (no crash) and runs it
    (here: no DICOM)."""
    study = tmp_path / "p1"
    study.mkdir()
    (study / "x.txt").write_text("not DICOM")
    task = StudyTask(
        "p1", str(study), str(tmp_path / "out" / "p1"), str(tmp_path / "p1.log"), RunConfig(), 1, automatic=True
    )
    outcome = execute(task)
    assert outcome.status is StudyStatus.FAILED and "no DICOM files found" in outcome.error, outcome


def test_batch_output_root_checked_before_any_work(tmp_path: Path) -> None:
    studies = tmp_path / "studies"
    (studies / "p1").mkdir(parents=True)
    (tmp_path / "file").write_text("keep")
    for out, fragment in ((tmp_path / "file", "exists and is not a folder"), (studies, "must differ")):
        result = cli("batch", studies, "-o", out, "-q")
        assert result.returncode == 2 and fragment in result.stderr, result.stderr
    assert (tmp_path / "file").read_text() == "keep" and sorted(p.name for p in studies.iterdir()) == ["p1"]


def test_library_warnings_are_logged_scrubbed(tmp_path: Path) -> None:
    """highdicom's warning about a one-component PatientName quotes the name: the log line does not."""
    code = (
        "import logging, sys\n"
        "from pipeline.cli.main import _setup_logging\n"
        "_setup_logging(quiet=True, verbose=False, log_json=sys.argv[1] == 'json')\n"
        "import highdicom\n"
        "highdicom.sr.PersonObserverIdentifyingAttributes(name='DOEJOHN')\n"
        "import pydicom.config\n"
        "pydicom.config.logger.warning('Invalid value for VR PN: %r', 'SMITH^JANE')\n"
    )
    for mode in ("json", "human"):
        result = subprocess.run([sys.executable, "-c", code, mode], capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        lines = result.stderr.splitlines()
        assert len(lines) == 2 and "DOEJOHN" not in result.stderr and "SMITH" not in result.stderr, result.stderr
        assert "<value>" in lines[0] and "highdicom" in lines[0] and "<value>" in lines[1]
        if mode == "json":
            assert [json.loads(line)["level"] for line in lines] == ["warning", "warning"]


def test_itk_messages_are_log_lines(tmp_path: Path) -> None:
    code = (
        "import numpy as np, SimpleITK as sitk, sys\n"
        "from pipeline.cli.main import _setup_logging\n"
        "_setup_logging(quiet=True, verbose=False, log_json=True)\n"
        "image = sitk.GetImageFromArray(np.zeros((3, 4, 5), np.int16))\n"
        "image.SetDirection((1, 0, 0, 0.5, 0.5, 0, 0, 0, 1))\n"
        "sitk.WriteImage(image, sys.argv[1])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "x.nii.gz")], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    (record,) = [json.loads(line) for line in result.stderr.splitlines()]
    assert record["level"] == "warning" and record["logger"] == "pipeline.libraries"
    assert record["message"].startswith("ITK: WARNING:") and "Non-orthogonal direction matrix" in record["message"]


@pytest.mark.parametrize(
    "message, scrubbed",
    [
        ('The string "DOE" is unlikely', "The string <value> is unlikely"),
        ("Invalid value for VR DA: '99999999'.", "Invalid value for VR DA: <value>."),
        ("value b'ABC\\x00' found", "value <value> found"),
        ("no quotes here", "no quotes here"),
    ],
)
def test_scrub(message: str, scrubbed: str) -> None:
    assert scrub(message) == scrubbed


def test_json_outputs_are_strict_json() -> None:
    data = {"a": float("nan"), "b": [float("inf"), -float("inf"), 1.5], "c": np.float32("nan"), "d": (1, np.int64(2))}
    text = json_text(data)
    assert json.loads(text, parse_constant=lambda c: pytest.fail(c)) == {
        "a": None,
        "b": [None, None, 1.5],
        "c": None,
        "d": [1, 2],
    }
