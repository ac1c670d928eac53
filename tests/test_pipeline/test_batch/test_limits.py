"""Batch limits on one copy of the sample study: a --memory-limit too low for it (a generous one, with
--dicom-out, is tested on the local batch of test_runner)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from batch_studies import batch_cli, link_study

from pipeline.batch.resume import MARKER

STUDY = "patient_a"


@pytest.fixture(scope="module")
def one_study(sample_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A studies root holding one hard-linked copy of the sample study."""
    root = tmp_path_factory.mktemp("limits") / "studies"
    link_study(sample_root, root / STUDY)
    return root


def batch(studies: Path, out: Path, *options: str) -> tuple[int, dict[str, str]]:
    """Exit status of ``lesion-pipeline batch`` and the study's row of batch_summary.csv."""
    status = batch_cli(studies, "-o", out, *options).returncode
    with (out / "batch_summary.csv").open(newline="") as f:
        return status, next(row for row in csv.DictReader(f) if row["study"] == STUDY)


def test_memory_limit_fails_the_study_as_out_of_memory(one_study: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    status, row = batch(one_study, out, "--memory-limit", "350")  # the small study needs more than that
    assert status == 1
    assert row["status"] == "error" and row["error"] == "out of memory (limit 350 MB)"
    assert not (out / STUDY / MARKER).exists() and not list(out.glob(f".{STUDY}.partial-*"))
