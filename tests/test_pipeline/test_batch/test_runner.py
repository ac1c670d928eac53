"""Batch: parallel workers, failure isolation, a rerun that skips finished studies, --dicom-out and a generous
--memory-limit, and the same results on Dask.

Every study is a hard-linked copy of the session's generated tiny study
(``tiny_root``: the batch's plumbing is the subject, not the accuracy of the
measurements), or of its baseline alone (``tiny_baseline_study``: a shorter run);
the reference outputs are those of one run on each: ``lesion-pipeline run
--registration affine --dicom-out`` on the tiny study (``dicom_run``) and an
in-process ``run_study`` on its baseline (``baseline_output``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pydicom
import pytest
from batch_studies import (
    AFFINE,
    BASELINE_ONLY,
    CORRUPT,
    GOOD,
    NO_CT,
    assert_reference_outputs,
    batch_cli,
    rows,
    summary,
)
from cli_in_process import CliResult

from pipeline.batch.resume import MARKER
from pipeline.batch.runner import available_cores

# DICOM SEG and SR too, and a memory limit that the tiny study stays well below: neither changes the results
OPTIONS = ("--workers", "2", "--dicom-out", "--memory-limit", "6000", *AFFINE)
FINISHED = (GOOD[0], BASELINE_ONLY)  # the good studies, in the order of the cohort tables
TIMEPOINTS = {GOOD[0]: 3, BASELINE_ONLY: 1}


@pytest.fixture(scope="module")
def local_batch(studies: Path) -> tuple[Path, CliResult, dict[str, dict[str, str]]]:
    """One batch with two local workers (``OPTIONS``): its output root, the process result, its summary right
    after."""
    out = studies.parent / "out_local"
    result = batch_cli(studies, "-o", out, *OPTIONS)
    return out, result, summary(out)


@pytest.fixture(scope="module")
def references(dicom_run, baseline_output: Path) -> dict[str, Path]:
    """The reference run of each good study."""
    return {GOOD[0]: dicom_run.out, BASELINE_ONLY: baseline_output}


def test_good_studies_complete_and_failures_are_reported(local_batch, studies_and_victim, references) -> None:
    out, result, first = local_batch
    assert result.returncode == 1, result.stderr  # some studies failed
    assert {name: row["status"] for name, row in first.items()} == {
        GOOD[0]: "ok",
        BASELINE_ONLY: "ok",
        CORRUPT: "failed",
        NO_CT: "failed",
    }
    assert studies_and_victim[1] in first[CORRUPT]["error"]
    assert "no usable axial CT" in first[NO_CT]["error"]
    assert first[CORRUPT]["error"] in (out / "batch_logs" / f"{CORRUPT}.log").read_text()
    for name in FINISHED:
        assert_reference_outputs(out / name, references[name])  # the references ran with other thread counts
        assert float(first[name]["peak_rss_mb"]) > 0
        threads = json.loads((out / name / "run.json").read_text())["parameters"]["threads"]
        assert threads == max(1, available_cores() // 2)  # 2 workers share the cores
    for name in (CORRUPT, NO_CT):
        assert not (out / name / MARKER).exists() and not (out / name / "run.json").exists()
    assert not [p.name for p in out.iterdir() if p.name.startswith(".") and p.name != ".batch.lock"]
    for table in ("measurements.csv", "response.csv", "best_response.csv"):
        own = {name: rows(references[name] / table) for name in FINISHED}
        assert own[GOOD[0]][0] == own[BASELINE_ONLY][0], table
        assert rows(out / table) == [["study", *own[GOOD[0]][0]]] + [
            [name, *row] for name in FINISHED for row in own[name][1:]
        ]
    cohort = (out / "cohort_report.html").read_text()
    assert all(f'href="{name}/report.html"' in cohort for name in FINISHED)


def test_dicom_out_and_a_generous_memory_limit(local_batch) -> None:
    """--dicom-out writes the SEG and SR of every timepoint, and a generous --memory-limit lets the studies finish
    (that --dicom-out is part of the resume fingerprint is tested in test_resume)."""
    out, _, first = local_batch
    for name in FINISHED:
        assert first[name]["status"] == "ok", first[name]
        modalities = sorted(
            pydicom.dcmread(p, stop_before_pixels=True).Modality for p in (out / name / "dicom").rglob("*.dcm")
        )
        assert modalities == ["SEG"] * TIMEPOINTS[name] + ["SR"] * TIMEPOINTS[name]


def test_rerun_skips_finished_studies_and_retries_failed_ones(local_batch, studies: Path) -> None:
    out = local_batch[0]
    finished = [p for name in FINISHED for p in (out / name).rglob("*") if p.is_file()] + [
        out / "batch_logs" / f"{name}.log" for name in FINISHED
    ]
    before = {p: p.stat().st_mtime_ns for p in finished}
    result = batch_cli(studies, "-o", out, *OPTIONS)
    assert result.returncode == 1, result.stderr
    again = summary(out)
    assert {name: again[name]["status"] for name in FINISHED} == dict.fromkeys(FINISHED, "skipped")
    assert again[CORRUPT]["status"] == again[NO_CT]["status"] == "failed"  # failed studies are tried again
    assert {p: p.stat().st_mtime_ns for p in finished} == before, "a skipped study was rewritten"
    assert rows(out / "measurements.csv")[1][0] == GOOD[0]  # cohort tables rebuilt from the skipped studies


def test_dask_cluster_gives_identical_csvs(local_batch, studies: Path, references, tmp_path: Path) -> None:
    """The shorter good study and the two failing ones on a Dask cluster: the same statuses, outputs and cohort
    rows as the local batch (the longer good study would only repeat the same stages for longer)."""
    from distributed import LocalCluster

    out_local = local_batch[0]
    names = (BASELINE_ONLY, CORRUPT, NO_CT)
    mine = tmp_path / "studies"
    mine.mkdir()
    for name in names:
        (mine / name).symlink_to(studies / name)
    scheduler_file = tmp_path / "scheduler.json"
    with LocalCluster(
        n_workers=1,
        threads_per_worker=2,
        processes=True,
        dashboard_address=None,
        scheduler_kwargs={"scheduler_file": str(scheduler_file)},
    ) as cluster:
        result = batch_cli(mine, "-o", tmp_path / "out", "--scheduler", cluster.scheduler_address)
        only_failing = tmp_path / "only_failing"
        only_failing.mkdir()
        (only_failing / NO_CT).symlink_to(studies / NO_CT)
        via_file = batch_cli(only_failing, "-o", tmp_path / "out_file", "--scheduler", scheduler_file)
    assert result.returncode == 1, result.stderr
    assert {k: v["status"] for k, v in summary(tmp_path / "out").items()} == {
        k: local_batch[2][k]["status"] for k in names
    }
    for table in ("measurements.csv", "response.csv", "best_response.csv"):
        local = rows(out_local / table)
        assert rows(tmp_path / "out" / table) == [local[0], *(r for r in local[1:] if r[0] == BASELINE_ONLY)], table
    # the same outputs as the reference run (the local batch's are compared with it too), without --dicom-out
    assert_reference_outputs(tmp_path / "out" / BASELINE_ONLY, references[BASELINE_ONLY])
    assert not (tmp_path / "out" / BASELINE_ONLY / "dicom").exists()
    assert via_file.returncode == 1, via_file.stderr
    assert "no usable axial CT" in summary(tmp_path / "out_file")[NO_CT]["error"]
