"""Batch: parallel workers, failure isolation, resume after a kill, and the same results on Dask.

Every study is a hard-linked copy of the session's generated sample study
(``sample_root``); the reference outputs are those of one in-process
``run_study`` on it (``pipeline_output``), whose accuracy the end-to-end tests
check against the generator's ground truth.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pydicom
import pytest

from pipeline.batch.resume import MARKER
from pipeline.batch.runner import available_cores
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


def batch_cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipeline.cli.main", "batch", *map(str, args), "--quiet", "--no-pdf"],
        capture_output=True,
        text=True,
        timeout=600,
    )


def start_batch(*args: str | Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli.main", "batch", *map(str, args), "--quiet", "--no-pdf"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def link_study(sample_root: Path, dst: Path) -> Path:
    """A copy of the sample study made of hard links (files are never modified in place)."""
    shutil.copytree(sample_root / "study", dst, copy_function=os.link)
    return dst


def summary(out: Path) -> dict[str, dict[str, str]]:
    with (out / "batch_summary.csv").open(newline="") as f:
        return {row["study"]: row for row in csv.DictReader(f)}


def rows(path: Path) -> list[list[str]]:
    with path.open(newline="") as f:
        return list(csv.reader(f))


def assert_reference_outputs(study_out: Path, reference: Path) -> None:
    """Outputs byte-identical to the reference run's, the completion marker present, no staging left."""
    for name in OUTPUTS:
        assert (study_out / name).read_bytes() == (reference / name).read_bytes(), name
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


@pytest.fixture(scope="module")
def studies_and_victim(
    sample_root: Path, ground_truth: dict, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, str]:
    """Two good studies, one with a truncated baseline CT slice (returned) and one without any CT."""
    root = tmp_path_factory.mktemp("batch") / "studies"
    for name in GOOD:
        link_study(sample_root, root / name)
    headers = {
        p: pydicom.dcmread(p, stop_before_pixels=True) for p in link_study(sample_root, root / CORRUPT).rglob("IM*")
    }
    baseline_ct = ground_truth["timepoints"][0]["ct_series_instance_uid"]
    victim = sorted(p for p, ds in headers.items() if ds.SeriesInstanceUID == baseline_ct)[3]
    data = victim.read_bytes()
    victim.unlink()  # a new file: the hard-linked original stays intact
    victim.write_bytes(data[: len(data) // 2])
    for path in link_study(sample_root, root / NO_CT).rglob("IM*"):
        if headers[root / CORRUPT / path.relative_to(root / NO_CT)].Modality == "CT":
            path.unlink()
    return root, str(victim.relative_to(root / CORRUPT))


@pytest.fixture(scope="module")
def studies(studies_and_victim: tuple[Path, str]) -> Path:
    return studies_and_victim[0]


@pytest.fixture(scope="module")
def local_batch(studies: Path) -> tuple[Path, subprocess.CompletedProcess[str], dict[str, dict[str, str]]]:
    """One batch with two local workers: its output root, the process result, its summary right after."""
    out = studies.parent / "out_local"
    result = batch_cli(studies, "-o", out, "--workers", "2")
    return out, result, summary(out)


def test_good_studies_complete_and_failures_are_reported(
    local_batch, studies_and_victim, pipeline_output: Path
) -> None:
    out, result, first = local_batch
    assert result.returncode == 1, result.stderr  # some studies failed
    assert {name: row["status"] for name, row in first.items()} == {
        GOOD[0]: "ok",
        GOOD[1]: "ok",
        CORRUPT: "failed",
        NO_CT: "failed",
    }
    assert studies_and_victim[1] in first[CORRUPT]["error"]
    assert "no usable axial CT" in first[NO_CT]["error"]
    assert first[CORRUPT]["error"] in (out / "batch_logs" / f"{CORRUPT}.log").read_text()
    for name in GOOD:
        assert_reference_outputs(out / name, pipeline_output)  # the reference ran with 2 threads
        assert float(first[name]["peak_rss_mb"]) > 0
        threads = json.loads((out / name / "run.json").read_text())["parameters"]["threads"]
        assert threads == max(1, available_cores() // 2)  # 2 workers share the cores
    for name in (CORRUPT, NO_CT):
        assert not (out / name / MARKER).exists() and not (out / name / "run.json").exists()
    assert not [p.name for p in out.iterdir() if p.name.startswith(".") and p.name != ".batch.lock"]
    for table in ("measurements.csv", "response.csv", "best_response.csv"):
        own = rows(pipeline_output / table)
        assert rows(out / table) == [["study", *own[0]]] + [[name, *row] for name in GOOD for row in own[1:]]
    cohort = (out / "cohort_report.html").read_text()
    assert all(f'href="{name}/report.html"' in cohort for name in GOOD)


def test_rerun_skips_finished_studies_and_retries_failed_ones(local_batch, studies: Path) -> None:
    out = local_batch[0]
    finished = [p for name in GOOD for p in (out / name).rglob("*") if p.is_file()] + [
        out / "batch_logs" / f"{name}.log" for name in GOOD
    ]
    before = {p: p.stat().st_mtime_ns for p in finished}
    result = batch_cli(studies, "-o", out, "--workers", "2")
    assert result.returncode == 1, result.stderr
    again = summary(out)
    assert {name: again[name]["status"] for name in GOOD} == dict.fromkeys(GOOD, "skipped")
    assert again[CORRUPT]["status"] == again[NO_CT]["status"] == "failed"  # failed studies are tried again
    assert {p: p.stat().st_mtime_ns for p in finished} == before, "a skipped study was rewritten"
    assert rows(out / "measurements.csv")[1][0] == GOOD[0]  # cohort tables rebuilt from the skipped studies


def test_dask_cluster_gives_identical_csvs(local_batch, studies: Path, tmp_path: Path) -> None:
    from distributed import LocalCluster

    out_local = local_batch[0]
    scheduler_file = tmp_path / "scheduler.json"
    with LocalCluster(
        n_workers=1,
        threads_per_worker=2,
        processes=True,
        dashboard_address=None,
        scheduler_kwargs={"scheduler_file": str(scheduler_file)},
    ) as cluster:
        result = batch_cli(studies, "-o", tmp_path / "out", "--scheduler", cluster.scheduler_address)
        only_failing = tmp_path / "only_failing"
        only_failing.mkdir()
        (only_failing / NO_CT).symlink_to(studies / NO_CT)
        via_file = batch_cli(only_failing, "-o", tmp_path / "out_file", "--scheduler", scheduler_file)
    assert result.returncode == 1, result.stderr
    assert {k: v["status"] for k, v in summary(tmp_path / "out").items()} == {
        k: v["status"] for k, v in local_batch[2].items()
    }
    for table in ("measurements.csv", "response.csv", "best_response.csv"):
        assert (tmp_path / "out" / table).read_bytes() == (out_local / table).read_bytes(), table
    for name in GOOD:
        for table in OUTPUTS:
            assert (tmp_path / "out" / name / table).read_bytes() == (out_local / name / table).read_bytes(), table
    assert via_file.returncode == 1, via_file.stderr
    assert "no usable axial CT" in summary(tmp_path / "out_file")[NO_CT]["error"]


def test_killed_batch_then_rerun_gives_complete_correct_outputs(
    sample_root: Path, pipeline_output: Path, tmp_path: Path
) -> None:
    studies, out = tmp_path / "studies", tmp_path / "out"
    for name in GOOD:
        link_study(sample_root, studies / name)
    proc = start_batch(studies, "-o", out, "--workers", "1")
    worker = wait_for_staging_with_masks(out, GOOD[1], proc)  # GOOD[0] is finished, GOOD[1] half-way
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    wait_gone(worker)  # the study's worker process dies with the batch
    assert summary(out)[GOOD[1]]["status"] == "pending"
    assert not (out / GOOD[1] / MARKER).exists() and not (out / GOOD[1] / "run.json").exists()
    assert (out / GOOD[0] / MARKER).exists()
    result = batch_cli(studies, "-o", out)
    assert result.returncode == 0, result.stderr
    assert {k: v["status"] for k, v in summary(out).items()} == {GOOD[0]: "skipped", GOOD[1]: "ok"}
    for name in GOOD:
        assert_reference_outputs(out / name, pipeline_output)


def test_a_worker_killed_by_a_signal_is_reported_and_the_batch_goes_on(studies: Path, tmp_path: Path) -> None:
    mine = tmp_path / "studies"
    mine.mkdir()
    for name in (GOOD[0], NO_CT):
        (mine / name).symlink_to(studies / name)
    out = tmp_path / "out"
    proc = start_batch(mine, "-o", out, "--workers", "1")
    os.kill(wait_for_staging_with_masks(out, GOOD[0], proc), signal.SIGKILL)  # as the out-of-memory killer does
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 1, stderr
    result = summary(out)
    assert result[GOOD[0]]["status"] == "killed"
    assert "SIGKILL" in result[GOOD[0]]["error"] and "out of memory" in result[GOOD[0]]["error"]
    assert result[NO_CT]["status"] == "failed"  # the next study still ran
    assert not (out / GOOD[0] / WORK_DIR / "new").exists() and not (out / GOOD[0] / MARKER).exists()


def test_timeout_stops_the_study(studies: Path, tmp_path: Path) -> None:
    mine = tmp_path / "studies"
    mine.mkdir()
    (mine / GOOD[0]).symlink_to(studies / GOOD[0])
    out = tmp_path / "out"
    result = batch_cli(mine, "-o", out, "--timeout", "0.5")
    assert result.returncode == 1, result.stderr
    assert summary(out)[GOOD[0]]["status"] == "timeout"
    assert not (out / GOOD[0] / MARKER).exists() and not (out / GOOD[0] / WORK_DIR / "new").exists()


def test_workers_and_scheduler_are_exclusive(studies: Path, tmp_path: Path) -> None:
    result = batch_cli(studies, "-o", tmp_path / "out", "--workers", "2", "--scheduler", "tcp://127.0.0.1:1")
    assert result.returncode == 2 and "--workers" in result.stderr
