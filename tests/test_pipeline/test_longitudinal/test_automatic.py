"""Automatic mode: lesions detected without targets, targets chosen by RECIST rules, new lesions found."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from pipeline.config import RegistrationConfig, RunConfig
from pipeline.targets.json_file import read_targets
from segmentation.detect import choose_targets


@pytest.fixture(scope="module")
def automatic_run(sample_root: Path, tmp_path_factory: pytest.TempPathFactory):
    import shutil

    from pipeline.longitudinal.run import run_study

    study = tmp_path_factory.mktemp("auto") / "study"
    shutil.copytree(sample_root / "study", study)
    (study / "targets.json").unlink()
    out = study.parent / "out"
    config = RunConfig(registration=RegistrationConfig(deformable=False), threads=1)  # figures drawn in this process
    result = run_study(study, out, config=config, automatic=True)
    with (out / "detected_lesions.csv").open() as f:
        rows = list(csv.DictReader(f))
    return out, rows, result


def _position(row: dict[str, str]) -> np.ndarray:
    return np.array([float(row[f"centroid_{a}_mm"]) for a in "xyz"])


def test_baseline_lesions_are_detected_with_at_most_one_false_positive(automatic_run, ground_truth):
    _, rows, _ = automatic_run
    baseline = [r for r in rows if r["timepoint"] == "0"]
    truth = [l for l in ground_truth["timepoints"][0]["lesions"] if l["longest_axial_diameter_on_slices_mm"] >= 10.0]
    hits = {l["lesion_id"] for l in truth for r in baseline if np.linalg.norm(_position(r) - l["centre_lps_mm"]) < 5.0}
    assert len(hits) >= 0.9 * len(truth)
    false_positives = [
        r for r in baseline if min(np.linalg.norm(_position(r) - l["centre_lps_mm"]) for l in truth) >= 5.0
    ]
    assert len(false_positives) <= 1
    assert list(rows[0].keys()) == [
        "timepoint",
        "lesion_id",
        "centroid_x_mm",
        "centroid_y_mm",
        "centroid_z_mm",
        "longest_diameter_mm",
        "volume_ml",
        "source",
        "chosen_as_target",
        "not_measured_reason",
    ]
    assert all(r["not_measured_reason"] == "" for r in rows)  # every phantom lesion is measured
    assert {r["source"] for r in baseline} <= {"ct", "pet", "ct+pet"}


def test_two_largest_measurable_lesions_become_targets(automatic_run, ground_truth):
    out, rows, result = automatic_run
    chosen = [r for r in rows if r["timepoint"] == "0" and r["chosen_as_target"] == "true"]
    assert len(chosen) == 2  # RECIST 1.1: at most 2 targets per organ
    sizes = sorted((float(r["longest_diameter_mm"]) for r in rows if r["timepoint"] == "0"), reverse=True)
    assert sorted(float(r["longest_diameter_mm"]) for r in chosen) == sorted(sizes[:2])
    targets = read_targets(out / "targets.json")  # valid input for a rerun
    assert [t.lesion_id for t in targets] == [r["lesion_id"] for r in chosen]
    truth = ground_truth["timepoints"][0]["lesions"]
    for t in targets:  # each seed lies inside a true lesion
        nearest = min(truth, key=lambda l: np.linalg.norm(np.subtract(t.seed_lps_mm, l["centre_lps_mm"])))
        assert np.linalg.norm(np.subtract(t.seed_lps_mm, nearest["centre_lps_mm"])) < nearest["short_axis_mm"] / 2


def test_new_lesion_at_follow_up_is_found_and_makes_progression(automatic_run, ground_truth):
    _, rows, result = automatic_run
    new = [r for r in rows if r["timepoint"] != "0"]
    (appearing,) = ground_truth["timepoints"][2]["new_lesions"]
    assert [r["timepoint"] for r in new] == ["2"]
    assert np.linalg.norm(_position(new[0]) - appearing["centre_lps_mm"]) < 5.0
    assert new[0]["source"] == "ct+pet"
    assert any("new-lesion candidate" in w for w in result.warnings)
    assert result.recist[2].category.value == "PD"


def test_target_choice_rules():
    assert choose_targets([12.0, 30.0, 8.0, 20.0], [True, True, False, True], ["liver"] * 4) == [1, 3]
    assert choose_targets([12.0, 30.0, 8.0, 20.0], [True, True, False, True], ["liver"] * 4, max_per_organ=5) == [
        0,
        1,
        3,
    ]
    assert choose_targets([12.0, 30.0, 8.0, 20.0], [True, True, True, True], ["liver"] * 4, 5, max_total=2) == [1, 3]


def test_new_lesions_column_in_automatic_mode(automatic_run):
    """The detector looks at every follow-up: no new lesion at the first, the generator's N1 at the last."""
    out, _, _ = automatic_run
    with (out / "response.csv").open() as f:
        assert [r["new_lesions"] for r in csv.DictReader(f)] == ["", "no", "yes"]
