"""Batch: failures are isolated and reported; cohort tables concatenate the good studies."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from pathlib import Path


def test_batch_with_a_bad_study(sample_root: Path, tmp_path: Path):
    studies = tmp_path / "studies"
    shutil.copytree(sample_root / "study", studies / "patient_a")
    (studies / "patient_b_empty").mkdir()
    (studies / "patient_b_empty" / "targets.json").write_text('{"lesions": [{"id": "L1", "seed_lps_mm": [0, 0, 0]}]}')
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "batch", str(studies), "-o", str(out), "--quiet", "--registration", "affine"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr  # one study failed
    with (out / "batch_summary.csv").open() as f:
        summary = {r["study"]: r for r in csv.DictReader(f)}
    assert summary["patient_a"]["status"] == "ok"
    assert summary["patient_b_empty"]["status"] == "failed"
    assert "no DICOM files" in summary["patient_b_empty"]["error"]
    with (out / "measurements.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert {r["study"] for r in rows} == {"patient_a"}
    assert len(rows) == 12
    own = (out / "patient_a" / "measurements.csv").read_text().splitlines()
    assert len(own) == len(rows) + 1
    cohort = (out / "cohort_report.html").read_text()
    assert 'href="patient_a/report.html"' in cohort and "patient_b_empty" in cohort
