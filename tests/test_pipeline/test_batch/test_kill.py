"""Batch: a killed batch resumed, a study's worker killed by a signal or stopped by the timeout, exclusive options.

The studies are copies of the tiny study (``tiny_root``); the reference outputs are those of ``lesion-pipeline run
--registration affine`` on it (``dicom_run``) and of an in-process ``run_study`` on its baseline alone
(``baseline_output``).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

from batch_studies import (
    AFFINE,
    BASELINE_ONLY,
    GOOD,
    NO_CT,
    assert_reference_outputs,
    batch_cli,
    link_study,
    start_batch,
    summary,
    wait_for_staging_with_masks,
    wait_gone,
)

from pipeline.batch.resume import MARKER
from pipeline.outputs.staging import WORK_DIR


def test_killed_batch_then_rerun_gives_complete_correct_outputs(
    tiny_root: Path, tiny_baseline_study: Path, dicom_run, baseline_output: Path, tmp_path: Path
) -> None:
    """A batch killed while its second study is half-way: the first one (the tiny study's baseline alone: a
    shorter run) stays finished and is skipped by the rerun, which completes the second."""
    studies, out = tmp_path / "studies", tmp_path / "out"
    studies.mkdir()
    (studies / BASELINE_ONLY).symlink_to(tiny_baseline_study)
    link_study(tiny_root, studies / GOOD[1])
    references = {BASELINE_ONLY: baseline_output, GOOD[1]: dicom_run.out}
    assert sorted(references) == [BASELINE_ONLY, GOOD[1]]  # the order in which one worker runs them
    proc = start_batch(studies, "-o", out, "--workers", "1", *AFFINE)
    worker = wait_for_staging_with_masks(out, GOOD[1], proc)  # BASELINE_ONLY is finished, GOOD[1] half-way
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    wait_gone(worker)  # the study's worker process dies with the batch
    assert summary(out)[GOOD[1]]["status"] == "pending"
    assert not (out / GOOD[1] / MARKER).exists() and not (out / GOOD[1] / "run.json").exists()
    assert (out / BASELINE_ONLY / MARKER).exists()
    result = batch_cli(studies, "-o", out, *AFFINE)  # the same options: the finished study is up to date
    assert result.returncode == 0, result.stderr
    assert {k: v["status"] for k, v in summary(out).items()} == {BASELINE_ONLY: "skipped", GOOD[1]: "ok"}
    for name, reference in references.items():
        assert_reference_outputs(out / name, reference)


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
