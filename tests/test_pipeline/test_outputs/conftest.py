"""Fixtures shared by the output tests: the run.json and measurements.csv of the ``--dicom-out`` run."""

from __future__ import annotations

import csv
import json

import pytest


@pytest.fixture(scope="module")
def manifest(dicom_run) -> dict:
    return json.loads((dicom_run.out / "run.json").read_text())


@pytest.fixture(scope="module")
def csv_rows(dicom_run) -> dict[tuple[int, str], dict[str, str]]:
    with (dicom_run.out / "measurements.csv").open(newline="") as f:
        return {(int(r["timepoint"]), r["lesion_id"]): r for r in csv.DictReader(f)}
