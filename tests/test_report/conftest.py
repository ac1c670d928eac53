"""One extra pipeline run for the report tests: with ``--dicom-out`` and ``--log-json``, through the CLI."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class CliRun:
    out: Path
    stderr: str


@pytest.fixture(scope="session")
def dicom_run(sample_root: Path, tmp_path_factory: pytest.TempPathFactory) -> CliRun:
    """``lesion-pipeline run --dicom-out --log-json`` on the sample study (affine registration: faster)."""
    out = tmp_path_factory.mktemp("dicom_run") / "out"
    result = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "run", str(sample_root / "study"), "-o", str(out),
         "--dicom-out", "--log-json", "--registration", "affine"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return CliRun(out, result.stderr)
