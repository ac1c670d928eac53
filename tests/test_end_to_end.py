"""The pipeline's outputs on a generated study against the generator's ground truth."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from pipeline.outputs.tables import MEASUREMENT_COLUMNS, RESPONSE_COLUMNS

DIAMETER_TOLERANCE_MM = 1.5
VOLUME_TOLERANCE = 0.10  # lesions whose true longest diameter is >= 10 mm
SMALL_VOLUME_TOLERANCE = 0.35  # sub-centimetre lesions on 2.5-3 mm slices (see docs/validation.md)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _truth(ground_truth: dict, timepoint: int, lesion_id: str) -> dict:
    return next(l for l in ground_truth["timepoints"][timepoint]["lesions"] if l["lesion_id"] == lesion_id)


def test_output_files_and_columns(pipeline_output: Path) -> None:
    for name in ("measurements.csv", "response.csv", "run.json", "summary.txt"):
        assert (pipeline_output / name).is_file(), name
    with (pipeline_output / "measurements.csv").open() as f:
        assert tuple(next(csv.reader(f))) == MEASUREMENT_COLUMNS
    with (pipeline_output / "response.csv").open() as f:
        assert tuple(next(csv.reader(f))) == RESPONSE_COLUMNS
    assert not list(pipeline_output.parent.glob(".*partial*")), "staging folder left behind"


def test_timepoints_match_the_generated_studies(pipeline_output: Path, ground_truth: dict) -> None:
    manifest = json.loads((pipeline_output / "run.json").read_text())
    found = manifest["inputs"]["timepoints"]
    assert len(found) == len(ground_truth["timepoints"])
    for tp, truth in zip(found, ground_truth["timepoints"], strict=True):
        assert tp["study_instance_uid"] == truth["study_instance_uid"]
        assert tp["ct_series_instance_uid"] == truth["ct_series_instance_uid"]
        assert tp["pet_series_instance_uid"] == truth["pet_series_instance_uid"]
        assert tp["study_date"] == truth["study_date"]


def test_every_target_found_with_the_right_identity(pipeline_output: Path, ground_truth: dict) -> None:
    rows = _rows(pipeline_output / "measurements.csv")
    assert len(rows) == 4 * len(ground_truth["timepoints"])
    for row in rows:
        assert row["status"] == "measured", row
        tp = int(row["timepoint"])
        centroid = np.array([float(row[f"centroid_{a}_mm"]) for a in "xyz"])
        centres = {l["lesion_id"]: np.array(l["centre_lps_mm"]) for l in ground_truth["timepoints"][tp]["lesions"]}
        nearest = min(centres, key=lambda k: np.linalg.norm(centres[k] - centroid))
        assert nearest == row["lesion_id"]
        assert np.linalg.norm(centres[row["lesion_id"]] - centroid) < 1.5, row


def test_diameters_and_volumes_within_tolerance(pipeline_output: Path, ground_truth: dict) -> None:
    for row in _rows(pipeline_output / "measurements.csv"):
        truth = _truth(ground_truth, int(row["timepoint"]), row["lesion_id"])
        true_d = truth["longest_axial_diameter_on_slices_mm"]
        assert abs(float(row["longest_diameter_mm"]) - true_d) <= DIAMETER_TOLERANCE_MM, (row, true_d)
        tolerance = VOLUME_TOLERANCE if true_d >= 10.0 else SMALL_VOLUME_TOLERANCE
        assert float(row["volume_ml"]) == pytest.approx(truth["volume_ml"], rel=tolerance), (row, truth["volume_ml"])


def test_recist_categories(pipeline_output: Path, ground_truth: dict) -> None:
    rows = _rows(pipeline_output / "response.csv")
    assert [r["recist"] for r in rows] == [tp["recist"] for tp in ground_truth["timepoints"]]
    assert rows[0]["change_from_baseline_pct"] == ""


def test_label_maps_mark_each_target_in_its_timepoint_space(pipeline_output: Path, ground_truth: dict) -> None:
    for tp in ground_truth["timepoints"]:
        img = nib.load(pipeline_output / "masks" / f"timepoint_{tp['timepoint']}.nii.gz")
        labels = np.asarray(img.dataobj)
        assert labels.shape == tuple(tp["ct_grid"]["shape_zyx"][::-1])
        for k, lesion in enumerate(tp["lesions"], start=1):
            ijk = np.argwhere(labels == k)
            assert len(ijk), lesion["lesion_id"]
            ras = nib.affines.apply_affine(img.affine, ijk.mean(axis=0))
            lps = ras * np.array([-1.0, -1.0, 1.0])
            assert np.linalg.norm(lps - np.array(lesion["centre_lps_mm"])) < 2.0


def test_every_criterion_per_timepoint(pipeline_output: Path, ground_truth: dict) -> None:
    """RECIST, volumetric, Choi and PERCIST categories against the generator's exact values."""
    rows = _rows(pipeline_output / "response.csv")
    for criterion in ("recist", "volumetric", "choi", "percist"):
        assert [r[criterion] for r in rows] == [tp[criterion] for tp in ground_truth["timepoints"]], criterion
    for row, tp in zip(rows, ground_truth["timepoints"], strict=True):
        assert float(row["sul_peak"]) == pytest.approx(tp["hottest_sul_peak_noise_free"], rel=0.1)
        assert float(row["liver_reference_sul"]) == pytest.approx(tp["liver_reference_sul"], rel=0.05)
        assert float(row["sum_diameters_mm"]) == pytest.approx(
            tp["sum_longest_diameters_mm"], abs=2 * DIAMETER_TOLERANCE_MM
        )


def test_summary_best_response_and_time_to_progression(pipeline_output: Path, ground_truth: dict) -> None:
    summary = json.loads((pipeline_output / "summary.json").read_text())
    timepoints = ground_truth["timepoints"]
    assert summary["patient_id"] == ground_truth["patient_id"]
    assert summary["criteria"]["recist"]["targets"] == timepoints[0]["recist_targets"]
    for criterion, progression in (("recist", "PD"), ("volumetric", "PD"), ("choi", "PD"), ("percist", "PMD")):
        categories = [tp[criterion] for tp in timepoints]
        first = categories.index(progression)  # every sample study progresses at its last timepoint
        ttp = summary["criteria"][criterion]["time_to_progression"]
        assert ttp["progressed"] and ttp["timepoint"] == first
        assert ttp["days"] == timepoints[first]["days_from_baseline"]
        assert ttp["months"] == pytest.approx(ttp["days"] / 30.4375, abs=0.005)
        best = summary["criteria"][criterion]["best_overall_response"]
        assert best == {"category": categories[1], "timepoint": 1}  # the response at the first follow-up
