"""Batch test helpers: study folders made of hard links to a generated study, the batch command line (in this
process, or as a process of its own that a test can kill), and the tables a batch writes."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from cli_in_process import CliResult, cli

from pipeline.batch.resume import MARKER
from pipeline.outputs.staging import WORK_DIR

OUTPUTS = (
    "measurements.csv",
    "response.csv",
    "best_response.csv",
    "summary.txt",
    "masks/timepoint_0.nii.gz",
    "masks/timepoint_1.nii.gz",
    "masks/timepoint_2.nii.gz",
)
GOOD, CORRUPT, NO_CT = ("patient_a", "patient_b"), "patient_c_corrupt", "patient_d_no_ct"
BASELINE_ONLY = "patient_a_baseline_only"  # the tiny study's baseline alone (``tiny_baseline_study``): a shorter run
# affine registration, as the reference run of the whole tiny study (``dicom_run``) uses: faster, and the batch
# neither chooses nor changes the registration
AFFINE = ("--registration", "affine")


def batch_cli(*args: str | Path) -> CliResult:
    """``lesion-pipeline batch ARGS --quiet --no-pdf`` in this process (each study still runs in a process of its
    own)."""
    return cli("batch", *args, "--quiet", "--no-pdf")


def start_batch(*args: str | Path) -> subprocess.Popen[str]:
    """``lesion-pipeline batch ARGS --quiet --no-pdf`` as a process of its own (that a test may kill)."""
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli.main", "batch", *map(str, args), "--quiet", "--no-pdf"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def link_study(root: Path, dst: Path) -> Path:
    """A copy of the generated study ``root/study`` made of hard links (files are never modified in place)."""
    shutil.copytree(root / "study", dst, copy_function=os.link)
    return dst


def summary(out: Path) -> dict[str, dict[str, str]]:
    with (out / "batch_summary.csv").open(newline="") as f:
        return {row["study"]: row for row in csv.DictReader(f)}


def rows(path: Path) -> list[list[str]]:
    with path.open(newline="") as f:
        return list(csv.reader(f))


def registrations(out: Path) -> list[dict[str, object] | None]:
    """Each timepoint's registration summary in ``run.json`` (the baseline's is None), without its time."""
    timepoints = json.loads((out / "run.json").read_text())["inputs"]["timepoints"]
    return [
        None if t["registration"] is None else {k: v for k, v in t["registration"].items() if k != "elapsed_s"}
        for t in timepoints
    ]


def assert_reference_outputs(study_out: Path, reference: Path) -> None:
    """Outputs byte-identical to the reference run's (of ``OUTPUTS``, those the reference has: a one-timepoint
    study has one mask) and the same transforms (the same run twice gives the same results), the completion marker
    present, no staging left."""
    for name in OUTPUTS:
        assert (study_out / name).is_file() == (reference / name).is_file(), name
        if (reference / name).is_file():
            assert (study_out / name).read_bytes() == (reference / name).read_bytes(), name
    assert (reference / OUTPUTS[0]).is_file()
    assert registrations(study_out) == registrations(reference)
    assert (study_out / "run.json").is_file() and (study_out / MARKER).is_file()
    assert not (study_out / WORK_DIR / "new").exists(), "staging left behind"


def wait_for_staging_with_masks(out: Path, study: str, proc: subprocess.Popen[str]) -> int:
    """Wait until ``study`` is mid-run (a timepoint's mask in its staging folder); return its worker's pid."""
    deadline = time.monotonic() + 300
    work = out / study / WORK_DIR
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        if list((work / "new").glob("masks/*.nii.gz")):
            return int((work / "lock").read_text())  # the run holding the output folder's lock writes its pid
        time.sleep(0.05)
    raise AssertionError(f"{study} never reached the middle of its run")


def wait_gone(pid: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return
        if state in ("Z", "X"):
            return
        time.sleep(0.05)
    raise AssertionError(f"worker process {pid} outlived the batch")
