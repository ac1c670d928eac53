"""Series choice fitting clinical archives: ORIGINAL axial first, then DERIVED axial reformats such as GE's
"Ax 5.00mm" thick averages (with the reason recorded), never projections, screen saves, secondary captures or
non-axial reformats; a series holding a stray image of another orientation keeps its axial stack."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pydicom
import pytest
from pydicom.uid import generate_uid

from pipeline.cli.main import main
from pipeline.dicom.discover import discover
from pipeline.dicom.load import load_ct, load_first_usable
from pipeline.dicom.selection import select_timepoints
from pipeline.errors import SeriesSelectionError

GE_REFORMAT = ["DERIVED", "SECONDARY", "REFORMATTED", "AVERAGE"]
CORONAL = [1.0, 0.0, 0.0, 0.0, 0.0, -1.0]


def as_series(files: list[Path], folder: Path, image_type: list[str], description: str, **attrs) -> list[Path]:
    """Copies of ``files`` as a new series of the same study (new series and SOP Instance UIDs)."""
    folder.mkdir(parents=True)
    series_uid, out = generate_uid(), []
    for k, f in enumerate(files):
        ds = pydicom.dcmread(f)
        ds.SeriesInstanceUID, ds.SOPInstanceUID = series_uid, generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.ImageType, ds.SeriesDescription, ds.SeriesNumber = image_type, description, 300
        for key, value in attrs.items():
            setattr(ds, key, value)
        out.append(folder / f"IM{k:04d}")
        ds.save_as(out[-1])
    return out


def stray_coronal(axial: Path, out: Path) -> Path:
    """One coronal image of the series of ``axial`` (as GE reformat series sometimes hold)."""
    ds = pydicom.dcmread(axial)
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.ImageOrientationPatient = CORONAL
    ds.save_as(out)
    return out


@pytest.fixture
def original(tmp_path: Path, write_series) -> list[Path]:
    return write_series(tmp_path / "study" / "original", "CT", n=20, rows=24)


def test_original_before_derived_reformat(tmp_path: Path, original: list[Path]) -> None:
    derived = as_series(original, tmp_path / "study" / "ax5", GE_REFORMAT, "Ax 5.00mm")
    (tp,) = select_timepoints(discover(tmp_path / "study"))
    assert tp.ct_candidates[0][0].series_uid == pydicom.dcmread(original[0]).SeriesInstanceUID
    uid = pydicom.dcmread(derived[0]).SeriesInstanceUID
    assert dict(tp.skipped)[uid].startswith("CT: usable but ranked below")


def test_derived_reformat_with_a_stray_coronal_image_is_measured(tmp_path: Path, original: list[Path], capsys) -> None:
    derived = as_series(original, tmp_path / "ax5" / "ax5", GE_REFORMAT, "Ax 5.00mm")
    stray = stray_coronal(derived[7], tmp_path / "ax5" / "ax5" / "IM9999")
    index = discover(tmp_path / "ax5")
    (tp,) = select_timepoints(index)
    (series,) = tp.ct_candidates
    assert len(series) == 20 and stray not in {i.path for i in series}
    assert tp.notes == (
        f"CT series {series[0].series_uid}: 1 image(s) of another orientation dropped, the 20 axial ones kept "
        "(file ax5/IM9999)",
    )
    ct = load_first_usable(tp.ct_candidates, load_ct, index.root, tp.label)
    assert ct.image.GetSize()[2] == 20
    assert main(["inspect", str(tmp_path / "ax5"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    (chosen,) = [s for s in report["patients"][0]["timepoints"][0]["series"] if s["status"] == "chosen"]
    assert "is DERIVED (ImageType DERIVED\\SECONDARY\\REFORMATTED\\AVERAGE)" in chosen["note"]
    assert report["patients"][0]["timepoints"][0]["notes"] == list(tp.notes)


@pytest.mark.parametrize(
    "image_type, description, orientation, reason",
    [
        (["DERIVED", "SECONDARY", "MIP"], "MIP 10mm", None, "MIP is not an axial image of the tissue"),
        (["DERIVED", "SECONDARY", "AXIAL"], "Ax MIP 10mm", None, "projection/rendering/map"),
        (["DERIVED", "SECONDARY", "REFORMATTED", "AVERAGE"], "Cor 3.00mm", CORONAL, "not axial (a derived reformat)"),
        (["DERIVED", "SECONDARY", "SCREEN SAVE"], "Dose report", None, "dose report or screen save"),
        (["ORIGINAL", "PRIMARY", "LOCALIZER"], "Scout", None, "localizer/scout image"),
    ],
)
def test_non_tissue_and_non_axial_derived_series_are_never_measured(
    tmp_path: Path, original: list[Path], image_type, description, orientation, reason
) -> None:
    attrs = {"ImageOrientationPatient": orientation} if orientation else {}
    files = as_series(original, tmp_path / "only" / "x", image_type, description, **attrs)
    with pytest.raises(SeriesSelectionError, match="no usable axial CT series") as refused:
        select_timepoints(discover(tmp_path / "only"))
    assert f"{pydicom.dcmread(files[0]).SeriesInstanceUID}: CT: " in str(refused.value)
    assert reason in str(refused.value)


def test_secondary_capture_is_not_a_ct_image(tmp_path: Path, original: list[Path]) -> None:
    as_series(original, tmp_path / "sc" / "x", GE_REFORMAT, "Ax", SOPClassUID="1.2.840.10008.5.1.4.1.1.7")
    with pytest.raises(SeriesSelectionError, match="is not a CT image storage class"):
        select_timepoints(discover(tmp_path / "sc"))


def test_half_coronal_series_is_not_split(tmp_path: Path, original: list[Path]) -> None:
    folder = tmp_path / "half" / "x"
    files = as_series(original, folder, GE_REFORMAT, "Ax")
    for k, f in enumerate(files[:8]):
        stray_coronal(f, folder / f"COR{k}")
    (tp,) = select_timepoints(discover(tmp_path / "half"))
    assert tp.notes == ()
    assert "different orientations" in dict(tp.skipped)[tp.ct_candidates[0][0].series_uid]


def test_run_records_why_a_derived_ct_was_measured(tiny_root: Path, tiny_ground_truth: dict, tmp_path: Path) -> None:
    """A baseline-only study (of the tiny study: the series choice is the subject) whose CT is a GE thick-average
    reformat with a stray coronal image: ``run`` measures it and records the reason in run.json, the warnings and
    the report."""
    from pipeline.config import RunConfig
    from pipeline.longitudinal.run import run_study

    tp0 = tiny_ground_truth["timepoints"][0]
    study = tmp_path / "study"
    study.mkdir()
    shutil.copy(tiny_root / "study" / "targets.json", study / "targets.json")
    ct_files = []
    for path in sorted((tiny_root / "study").rglob("IM*")):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        if ds.SeriesInstanceUID == tp0["ct_series_instance_uid"]:
            ct_files.append(path)
        elif ds.SeriesInstanceUID == tp0["pet_series_instance_uid"]:
            shutil.copy(path, study / f"PET_{path.name}")
    derived = as_series(sorted(ct_files), study / "ax5", GE_REFORMAT, "Ax 5.00mm")
    stray_coronal(derived[3], study / "ax5" / "CORONAL")
    run_study(study, tmp_path / "out", config=RunConfig(threads=1))  # figures drawn in this process
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    (tp,) = run["inputs"]["timepoints"]
    assert tp["ct_series_instance_uid"] == pydicom.dcmread(derived[0]).SeriesInstanceUID
    assert "is DERIVED (ImageType DERIVED\\SECONDARY\\REFORMATTED\\AVERAGE)" in tp["ct_choice"]
    assert tp["pet_choice"] is None and tp["pet_series_instance_uid"] == tp0["pet_series_instance_uid"]
    assert tp["series_notes"] == [
        f"CT series {tp['ct_series_instance_uid']}: 1 image(s) of another orientation dropped, "
        f"the {len(derived)} axial ones kept (file ax5/CORONAL)"
    ]
    assert any(tp["ct_choice"] in w for w in run["warnings"])
    assert any("ax5/CORONAL" in w for w in run["warnings"])
    assert "Ax 5.00mm" in (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
