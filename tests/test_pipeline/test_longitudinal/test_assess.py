"""The assess stage end to end with a configuration file and the reader's annotations."""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from pipeline.config import RegistrationConfig
from pipeline.config_file import load_config
from pipeline.longitudinal.run import run_study
from sample_data.anatomy import LIVER_SUV, is_liver_parenchyma
from sample_data.scenario import make_scenario
from sample_data.shapes import Pose

CONFIG = """
[recist]
max_targets_per_organ = 4   # all four liver lesions are RECIST targets

[percist]
lbm_formula = "janmahasatian"
"""


def _liver_point(ground_truth: dict) -> list[float]:
    """A point of the right liver lobe at least 20 mm from the liver's border and from every lesion (baseline LPS)."""
    lesions = [np.array(d["baseline_ellipsoid_body_frame"]["centre_mm"]) for d in ground_truth["lesion_definitions"]]
    reach = [max(d["baseline_ellipsoid_body_frame"]["semi_axes_mm"]) + 20.0 for d in ground_truth["lesion_definitions"]]
    grid = np.stack(
        np.meshgrid(np.arange(-110, -20, 5.0), np.arange(-60, 50, 5.0), np.arange(-40, 40, 5.0), indexing="ij"), -1
    ).reshape(-1, 3)
    ok = is_liver_parenchyma(grid, margin_mm=20.0)
    for centre, r in zip(lesions, reach, strict=True):
        ok &= np.linalg.norm(grid - centre, axis=1) > r
    point = grid[np.flatnonzero(ok)[0]]
    pose = Pose(**{k: tuple(v) for k, v in ground_truth["timepoints"][0]["pose"].items()})
    return [float(v) for v in pose.body_to_lps(point)]


@pytest.fixture(scope="module")
def annotated_run(sample_root: Path, ground_truth: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("annotated")
    targets = json.loads((sample_root / "study" / "targets.json").read_text())
    targets["new_lesions"] = [{"study_date": ground_truth["timepoints"][1]["study_date"], "note": "segment II"}]
    targets["lesion_status"] = [{"lesion_id": "L4", "timepoint": 2, "status": "too_small"}]
    targets["liver_reference_lps_mm"] = _liver_point(ground_truth)
    (tmp / "targets.json").write_text(json.dumps(targets))
    (tmp / "criteria.toml").write_text(CONFIG)
    # registration is not the subject: affine (faster); one thread: the figures are drawn in this process
    config = replace(load_config(tmp / "criteria.toml"), registration=RegistrationConfig(deformable=False), threads=1)
    run_study(sample_root / "study", tmp / "out", tmp / "targets.json", config)
    return tmp


def test_configuration_is_applied_and_recorded(annotated_run: Path, ground_truth: dict) -> None:
    manifest = json.loads((annotated_run / "out" / "run.json").read_text())
    parameters = manifest["parameters"]
    assert parameters["recist"]["max_targets_per_organ"] == 4 and parameters["recist"]["max_targets_total"] == 5
    assert parameters["config_file"] == str((annotated_run / "criteria.toml").resolve())
    assert (
        parameters["config_file_sha256"] == hashlib.sha256((annotated_run / "criteria.toml").read_bytes()).hexdigest()
    )
    summary = json.loads((annotated_run / "out" / "summary.json").read_text())
    assert summary["criteria"]["recist"]["targets"] == ["L1", "L2", "L3", "L4"]


def test_annotations_new_lesion_too_small_and_liver_point(annotated_run: Path, ground_truth: dict) -> None:
    with (annotated_run / "out" / "response.csv").open() as f:
        rows = list(csv.DictReader(f))
    # a new lesion at the first follow-up is progression for every criterion
    assert [rows[1][c] for c in ("recist", "volumetric", "choi", "percist")] == ["PD", "PD", "PD", "PMD"]
    summary = json.loads((annotated_run / "out" / "summary.json").read_text())
    assert (
        summary["criteria"]["percist"]["time_to_progression"]["days"]
        == ground_truth["timepoints"][1]["days_from_baseline"]
    )
    assert summary["timepoints"][1]["new_lesion"] is True
    # L4 "too small to measure" at the last timepoint counts 5 mm in the sum of all four targets
    truth = {
        lesion["lesion_id"]: lesion["longest_axial_diameter_on_slices_mm"]
        for lesion in ground_truth["timepoints"][2]["lesions"]
    }
    expected = truth["L1"] + truth["L2"] + truth["L3"] + 5.0
    assert float(rows[2]["sum_diameters_mm"]) == pytest.approx(expected, abs=4.5)  # 3 lesions measured, 1.5 mm each
    # the liver sphere sits at the given point; SUL by Janmahasatian's lean body mass
    patient = make_scenario(ground_truth["generator"]["seed"], ground_truth["generator"]["size"]).patient
    bmi = patient.weight_kg / patient.height_m**2
    lbm = 9270 * patient.weight_kg / ((6680 + 216 * bmi) if patient.sex == "M" else (8780 + 244 * bmi))
    assert float(rows[0]["liver_reference_sul"]) == pytest.approx(LIVER_SUV * lbm / patient.weight_kg, rel=0.03)
    manifest = json.loads((annotated_run / "out" / "run.json").read_text())
    reference = manifest["inputs"]["timepoints"][0]["pet_reference"]
    assert reference["method"] == "3 cm sphere at the given liver point" and reference["lbm_formula"] == "janmahasatian"
    assert np.linalg.norm(np.array(reference["centre_lps_mm"]) - _liver_point(ground_truth)) < 4.0  # within a PET voxel


@pytest.mark.parametrize(
    "record, override, not_found_as, expected",
    [
        ({"status": "measured", "longest_diameter_mm": 12.0}, None, "not_evaluated", "measured"),
        ({"status": "not_found"}, None, "not_evaluated", "not_evaluated"),  # the default: a miss is not a disappearance
        ({"status": "not_found"}, None, "disappeared", "disappeared"),
        ({"status": "not_found", "assessed": False}, None, "disappeared", "not_evaluated"),  # never looked for
        (
            {"status": "measured", "longest_diameter_mm": 3.0},
            "too_small",
            "not_evaluated",
            "too_small",
        ),  # the reader decides
    ],
)
def test_what_the_criteria_see_of_a_lesion_record(record, override, not_found_as, expected):
    from measurement.criteria.observations import LesionStatus
    from pipeline.longitudinal.assess import observation
    from pipeline.records import LesionRecord

    obs = observation(LesionRecord("L1", **record), LesionStatus(override) if override else None, not_found_as)
    assert obs.status.value == expected
    if expected == "measured":
        assert obs.longest_mm == record["longest_diameter_mm"]


def test_new_lesions_column_from_the_reader(annotated_run: Path) -> None:
    """The reader's "new_lesions" list names follow-up 1 only; its presence says follow-up 2 was looked at too."""
    with (annotated_run / "out" / "response.csv").open() as f:
        assert [r["new_lesions"] for r in csv.DictReader(f)] == ["", "yes", "no"]
