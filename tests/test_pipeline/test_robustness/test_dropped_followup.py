"""A follow-up that cannot be used is dropped visibly: a WARNING even with ``-q``, listed in run.json, summary and
report, and every later response carries a note; the measurements of the other timepoints equal those of the run on
the undamaged study (both with affine registration: faster, and not the subject). The kinds of damage that drop a
follow-up are each checked where they act (selection or loading), naming the series and a file."""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import pydicom
import pytest
from cli_in_process import cli
from robustness_corpus import edit, setting

from pipeline.config import RunConfig
from pipeline.dicom.load import load_ct, load_first_usable
from pipeline.errors import InputError
from pipeline.longitudinal.run import read_study
from pipeline.provenance import Provenance

DROPPED = 1  # the follow-up damaged: the one between the baseline and the last follow-up


def _copy(tiny_root: Path, dst: Path) -> Path:
    shutil.copytree(tiny_root / "study", dst, copy_function=os.link)
    return dst


def _ct_files(study: Path, series_uid: str) -> list[Path]:
    files = [p for p in study.rglob("*") if p.is_file() and p.name != "targets.json"]
    return sorted(p for p in files if pydicom.dcmread(p, stop_before_pixels=True).SeriesInstanceUID == series_uid)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def dropped_run(tiny_root: Path, tiny_ground_truth: dict, tmp_path_factory: pytest.TempPathFactory):
    """``lesion-pipeline run -q --log-json --registration affine`` on the tiny study with RescaleSlope 0 on one CT
    slice of follow-up 1."""
    root = tmp_path_factory.mktemp("dropped")
    study = _copy(tiny_root, root / "study")
    files = _ct_files(study, tiny_ground_truth["timepoints"][DROPPED]["ct_series_instance_uid"])
    edit([files[10]], setting(RescaleSlope="0"))
    out = root / "out"
    # one thread: the figures are drawn in this process
    result = cli("run", study, "-o", out, "-q", "--log-json", "--registration", "affine", "--threads", "1")
    assert result.returncode == 0, result.stderr
    return out, result.stderr, files[10].relative_to(study)


def test_the_drop_is_a_visible_warning_in_valid_json_lines(dropped_run, tiny_root: Path) -> None:
    _, stderr, damaged = dropped_run
    records = [json.loads(line) for line in stderr.splitlines()]  # every line is JSON
    dropped = [r for r in records if r["level"] == "warning" and "dropped: no loadable CT" in r["message"]]
    assert len(dropped) == 1 and str(damaged) in dropped[0]["message"] and "RescaleSlope 0" in dropped[0]["message"]
    header = pydicom.dcmread(tiny_root / "study" / damaged, stop_before_pixels=True)
    for keyword in ("PatientName", "PatientBirthDate", "PatientID"):
        value = str(header.get(keyword, "") or "")
        assert value and value not in stderr and value.replace("^", " ") not in stderr, keyword


def test_run_json_summary_and_report_list_the_dropped_follow_up(dropped_run, tiny_ground_truth: dict) -> None:
    out, _, damaged = dropped_run
    strict = json.loads((out / "run.json").read_text(), parse_constant=lambda c: pytest.fail(f"{c} in run.json"))
    (entry,) = strict["inputs"]["dropped_timepoints"]
    truth = tiny_ground_truth["timepoints"][DROPPED]
    assert entry["study_instance_uid"] == truth["study_instance_uid"] and entry["study_date"] == truth["study_date"]
    assert str(damaged) in entry["reason"] and truth["ct_series_instance_uid"] in entry["reason"]
    assert [t["study_instance_uid"] for t in strict["inputs"]["timepoints"]] == [
        tiny_ground_truth["timepoints"][k]["study_instance_uid"] for k in (0, 2)
    ]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["dropped_timepoints"] == [entry]
    assert f"DROPPED: the study of {truth['study_date']}" in (out / "summary.txt").read_text()
    report = (out / "report.html").read_text()
    assert "Dropped timepoints" in report and truth["study_instance_uid"] in report


def test_later_responses_carry_a_note(dropped_run, tiny_ground_truth: dict) -> None:
    out, _, _ = dropped_run
    rows = _rows(out / "response.csv")
    truth = tiny_ground_truth["timepoints"][DROPPED]
    assert rows[0]["note"] == ""
    assert rows[1]["note"].startswith(f"conditional: the study of {truth['study_date']}")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["timepoints"][0]["notes"] == [] and summary["timepoints"][1]["notes"] == [rows[1]["note"]]


def test_the_other_timepoints_are_measured_as_without_the_damage(dropped_run, dicom_run) -> None:
    out, _, _ = dropped_run
    reference = {(r["timepoint"], r["lesion_id"]): r for r in _rows(dicom_run.out / "measurements.csv")}
    rows = _rows(out / "measurements.csv")
    assert len(rows) == 2 * len({k[1] for k in reference})
    for row in rows:
        original = reference[("0" if row["timepoint"] == "0" else "2", row["lesion_id"])]
        assert {k: v for k, v in row.items() if k != "timepoint"} == {
            k: v for k, v in original.items() if k != "timepoint"
        }


# damage to every CT slice of follow-up 1 (or one slice), and where it drops the follow-up
DAMAGE = [
    ("no Modality", "all", setting(Modality=None), "selection"),
    ("wrong SOP class", "all", setting(SOPClassUID="1.2.840.10008.5.1.4.1.1.7"), "selection"),
    ("all-zero orientation", "all", setting(ImageOrientationPatient=[0] * 6), "loading"),
    ("RescaleSlope NaN", "one", setting(RescaleSlope="nan"), "loading"),
    ("negative PixelSpacing", "one", setting(PixelSpacing=["-0.7", "-0.7"]), "loading"),
]


@pytest.mark.parametrize("case, which, change, where", DAMAGE, ids=[d[0] for d in DAMAGE])
def test_each_damage_drops_the_follow_up_naming_series_and_file(
    case: str, which: str, change, where: str, tiny_root: Path, tiny_ground_truth: dict, tmp_path: Path
) -> None:
    study = _copy(tiny_root, tmp_path / "study")
    truth = tiny_ground_truth["timepoints"][DROPPED]
    files = _ct_files(study, truth["ct_series_instance_uid"])
    damaged = [files[10]] if which == "one" else files
    edit(damaged, change)
    inputs = read_study(study, None, RunConfig(), Provenance(), lambda *a, **k: None)
    names = {str(p.relative_to(study)) for p in damaged}
    if where == "selection":
        (entry,) = inputs.dropped
        assert entry.study_uid == truth["study_instance_uid"] and truth["ct_series_instance_uid"] in entry.reason
        assert any(f"(file {n})" in entry.reason for n in names), entry.reason
        assert [t.study_uid for t in inputs.timepoints] == [
            tiny_ground_truth["timepoints"][k]["study_instance_uid"] for k in (0, 2)
        ]
        return
    assert not inputs.dropped
    tp = inputs.timepoints[DROPPED]
    assert tp.study_uid == truth["study_instance_uid"]
    with pytest.raises(InputError) as exc:
        load_first_usable(tp.ct_candidates, load_ct, inputs.index.root, tp.label)
    assert truth["ct_series_instance_uid"] in str(exc.value) and any(n in str(exc.value) for n in names), exc.value
