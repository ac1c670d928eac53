"""The columns of measurements.csv, response.csv and best_response.csv: one test per column added for readers.

Expected values come from the generator's ground truth (targets, uptake, new lesions) or from definitions
recomputed here from the other columns; the not-found reason from a hand-made record.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import pytest

from pipeline.outputs.tables import BEST_RESPONSE_COLUMNS, measurements_csv
from pipeline.records import LesionRecord, StudyResult, TimepointRecord
from pipeline.targets.json_file import Target


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(text.splitlines()))


# --- measurements.csv --------------------------------------------------------------------------------


def test_role_is_target_for_the_recist_targets_only(pipeline_output: Path, ground_truth: dict) -> None:
    targets = set(ground_truth["timepoints"][0]["recist_targets"])  # the generator's RECIST choice: L1, L2
    rows = _rows(pipeline_output / "measurements.csv")
    assert {r["lesion_id"] for r in rows if r["role"] == "target"} == targets
    assert {r["lesion_id"] for r in rows if r["role"] == "non_target"} == {r["lesion_id"] for r in rows} - targets


def test_organ_comes_from_the_targets_file(pipeline_output: Path, sample_root: Path) -> None:
    given = {
        t["id"]: t.get("organ", "liver")
        for t in json.loads((sample_root / "study" / "targets.json").read_text())["lesions"]
    }
    for row in _rows(pipeline_output / "measurements.csv"):
        assert row["organ"] == given[row["lesion_id"]]


def _not_found_result() -> StudyResult:
    day0, day1 = dt.date(2026, 1, 5), dt.date(2026, 3, 2)
    measured = LesionRecord("A", "measured", longest_diameter_mm=21.0, short_axis_mm=15.0, volume_ml=3.1)
    lost = LesionRecord("A", "not_found", reason="nothing hypodense within 15 mm of the mapped position")

    def tp(index: int, date: dt.date, lesion: LesionRecord) -> TimepointRecord:
        return TimepointRecord(
            index, f"1.2.{index}", date, (date - day0).days, f"1.3.{index}", 80, None, None, None, None, (lesion,)
        )

    return StudyResult(
        "P1", (tp(0, day0, measured), tp(1, day1, lost)), (), (), targets=(Target("A", (0.0, 0.0, 0.0), "liver"),)
    )


def test_not_found_reason_only_where_a_lesion_was_not_found(pipeline_output: Path) -> None:
    rows = _csv_rows(measurements_csv(_not_found_result()))
    assert [(r["status"], r["not_found_reason"]) for r in rows] == [
        ("measured", ""),
        ("not_found", "nothing hypodense within 15 mm of the mapped position"),
    ]
    assert rows[1]["longest_diameter_mm"] == "" and rows[1]["organ"] == "liver"
    assert all(r["not_found_reason"] == "" for r in _rows(pipeline_output / "measurements.csv"))  # all found


def test_sul_peak_is_suv_peak_times_the_lean_body_mass_factor(pipeline_output: Path, ground_truth: dict) -> None:
    for row in _rows(pipeline_output / "measurements.csv"):
        factor = ground_truth["timepoints"][int(row["timepoint"])]["sul_per_suvbw"]  # generator's James LBM / weight
        assert float(row["sul_peak"]) == pytest.approx(float(row["suv_peak"]) * factor, abs=0.002)
        truth = next(
            l
            for l in ground_truth["timepoints"][int(row["timepoint"])]["lesions"]
            if l["lesion_id"] == row["lesion_id"]
        )
        assert float(row["sul_peak"]) == pytest.approx(truth["suv_peak_noise_free"] * factor, rel=0.15)


def test_mtv_is_near_the_true_volume_for_lesions_of_20_mm_and_more(pipeline_output: Path, ground_truth: dict) -> None:
    """41 % of SUVmax delineates a uniform lesion blurred by the scanner close to its true edge when it is large."""
    checked = 0
    for row in _rows(pipeline_output / "measurements.csv"):
        truth = next(
            l
            for l in ground_truth["timepoints"][int(row["timepoint"])]["lesions"]
            if l["lesion_id"] == row["lesion_id"]
        )
        assert float(row["mtv_ml"]) > 0
        if truth["longest_axial_diameter_mm"] >= 20.0:
            assert float(row["mtv_ml"]) == pytest.approx(truth["volume_ml"], rel=0.35), (row, truth["volume_ml"])
            checked += 1
    assert checked >= 3


def test_tlg_is_suv_mean_times_mtv(pipeline_output: Path) -> None:
    for row in _rows(pipeline_output / "measurements.csv"):
        expected = float(row["suv_mean"]) * float(row["mtv_ml"])  # the definition (Larson 1999)
        assert float(row["tlg"]) == pytest.approx(expected, rel=0.002, abs=0.002)


# --- response.csv ------------------------------------------------------------------------------------


def test_new_lesions_not_assessed_with_given_targets(pipeline_output: Path) -> None:
    """The sample study's new lesion (N1 at the last follow-up) is not looked for when targets are given."""
    assert [r["new_lesions"] for r in _rows(pipeline_output / "response.csv")] == ["", "not_assessed", "not_assessed"]


def test_mean_hu_change_is_the_choi_density_change(pipeline_output: Path, ground_truth: dict) -> None:
    """Mean of the Choi targets' mean HU (all four lesions: up to 5 per organ), change from baseline; the
    generator keeps each lesion's density, so the true change is 0 %."""
    rows = _rows(pipeline_output / "measurements.csv")
    response = _rows(pipeline_output / "response.csv")
    density = {k: sum(float(r["mean_hu"]) for r in rows if r["timepoint"] == str(k)) / 4 for k in range(len(response))}
    assert response[0]["mean_hu_change_pct"] == ""
    for k in range(1, len(response)):
        expected = 100.0 * (density[k] - density[0]) / density[0]
        assert float(response[k]["mean_hu_change_pct"]) == pytest.approx(expected, abs=0.06)
        assert abs(float(response[k]["mean_hu_change_pct"])) < 10.0


def test_sul_peak_change_is_the_percist_change_from_baseline(pipeline_output: Path, ground_truth: dict) -> None:
    response = _rows(pipeline_output / "response.csv")
    truth = [tp["hottest_sul_peak_noise_free"] for tp in ground_truth["timepoints"]]
    assert response[0]["sul_peak_change_pct"] == ""
    for k in range(1, len(response)):
        expected = (
            100.0 * (float(response[k]["sul_peak"]) - float(response[0]["sul_peak"])) / float(response[0]["sul_peak"])
        )
        assert float(response[k]["sul_peak_change_pct"]) == pytest.approx(expected, abs=0.06)
        assert float(response[k]["sul_peak_change_pct"]) == pytest.approx(100.0 * (truth[k] / truth[0] - 1.0), abs=12.0)


# --- best_response.csv -------------------------------------------------------------------------------


def test_best_response_csv_one_row_per_criterion(pipeline_output: Path, ground_truth: dict) -> None:
    with (pipeline_output / "best_response.csv").open(newline="") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames or ()) == BEST_RESPONSE_COLUMNS
        rows = {r["criterion"]: r for r in reader}
    timepoints = ground_truth["timepoints"]
    assert list(rows) == ["recist", "volumetric", "choi", "percist"]
    for criterion, progression in (("recist", "PD"), ("volumetric", "PD"), ("choi", "PD"), ("percist", "PMD")):
        categories = [tp[criterion] for tp in timepoints]
        first = categories.index(progression)
        row = rows[criterion]
        assert row["patient_id"] == ground_truth["patient_id"]
        assert (row["best_overall_response"], row["best_response_timepoint"]) == (categories[1], "1")
        assert row["best_response_days"] == str(timepoints[1]["days_from_baseline"])
        assert (row["progressed"], row["ttp_timepoint"]) == ("yes", str(first))
        assert row["ttp_days"] == str(timepoints[first]["days_from_baseline"])
        assert float(row["ttp_months"]) == pytest.approx(timepoints[first]["days_from_baseline"] / 30.4375, abs=0.005)
    assert rows["recist"]["targets"] == ";".join(timepoints[0]["recist_targets"])


# --- the declaration of every column and its documentation --------------------------------------------


def test_every_column_is_declared_and_documented() -> None:
    from pipeline.outputs.columns import COLUMNS, RESPONSE_OVERRIDES, TABLES, markdown_table

    docs = (Path(__file__).resolve().parents[3] / "docs" / "outputs.md").read_text()
    start, end = "a test keeps it current -->\n\n", "<!-- end of columns -->"
    assert docs[docs.index(start) + len(start) : docs.index(end)] == markdown_table(), "paste markdown_table()"
    suffix_units = {"_mm": "mm", "_ml": "ml", "_pct": "%"}
    for table, columns in TABLES.items():
        for name in columns:
            declared = RESPONSE_OVERRIDES.get(name) if table == "response.csv" else None
            column = declared or COLUMNS[name]  # KeyError: a column without a declaration
            assert column.definition and column.label, name
            for suffix, unit in suffix_units.items():
                if name.endswith(suffix):
                    assert column.unit == unit, name


def test_summary_names_targets_and_non_targets(pipeline_output: Path, ground_truth: dict) -> None:
    first = (pipeline_output / "summary.txt").read_text().splitlines()[0]
    targets = ground_truth["timepoints"][0]["recist_targets"]
    others = sorted({l["lesion_id"] for l in ground_truth["timepoints"][0]["lesions"]} - set(targets))
    assert first.endswith(f"4 lesion(s) (RECIST targets: {', '.join(targets)}; non-targets: {', '.join(others)})")
