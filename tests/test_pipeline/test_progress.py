"""Progress lines: structured per stage, JSON with --log-json, silent with --quiet, no patient names."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pydicom
import pytest

from pipeline.cli.main import PROG, _setup_logging
from pipeline.progress import Progress


def test_log_json_lines_cover_the_stages(dicom_run) -> None:
    records = [json.loads(line) for line in dicom_run.stderr.splitlines() if line.strip()]
    progress = [r for r in records if r["event"] == "progress"]
    assert {"discover", "load", "register", "measure", "dicom", "report"} <= {r["stage"] for r in progress}
    loads = [(r["step"], r["total"]) for r in progress if r["stage"] == "load"]
    assert loads == [(1, 3), (2, 3), (3, 3)]
    measured = [r for r in progress if r["stage"] == "measure"]
    assert len(measured) == 3 * 4 and all(r["total"] == 4 for r in measured)
    for r in records:
        assert {"time", "level", "logger", "event", "message"} <= set(r)


def test_no_patient_identifiers_in_the_log(dicom_run, tiny_root: Path) -> None:
    ds = pydicom.dcmread(
        next(p for p in (tiny_root / "study").rglob("*") if p.is_file() and p.suffix != ".json"),
        stop_before_pixels=True,
    )
    for keyword in ("PatientName", "PatientBirthDate"):
        value = str(ds.get(keyword, "") or "")
        assert value, keyword  # the tiny study has them, so the check means something
        assert value not in dicom_run.stderr
        assert value.replace("^", " ") not in dicom_run.stderr


@pytest.fixture
def restore_loggers():
    """The CLI's logging set-up changes global loggers: put them back afterwards."""
    names = ("pipeline", "segmentation", "measurement", "sample_data")
    saved = [(lg, lg.handlers[:], lg.level, lg.propagate) for lg in map(logging.getLogger, names)]
    yield
    for lg, handlers, level, propagate in saved:
        lg.handlers[:] = handlers
        lg.setLevel(level)
        lg.propagate = propagate


@pytest.mark.parametrize("quiet", [False, True])
def test_human_progress_format_and_quiet(capsys: pytest.CaptureFixture[str], restore_loggers, quiet: bool) -> None:
    _setup_logging(quiet=quiet, verbose=False)
    Progress()("timepoint 1 registered", stage="register", step=1, total=2)
    logging.getLogger("pipeline.longitudinal.run").warning("something odd")
    err = capsys.readouterr().err.splitlines()
    expected = [f"{PROG}: WARNING: something odd"]
    if not quiet:
        expected.insert(0, f"{PROG}: [register 1/2] timepoint 1 registered")
    assert err == expected
