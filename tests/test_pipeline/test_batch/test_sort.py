"""``sort``: a PACS export mixing three patients' files (and junk) becomes three study folders, one per patient,
as ``batch`` takes them; nothing in the export changes (every file's content and modification time are checked)."""

from __future__ import annotations

import csv
import hashlib
import json
import os
from pathlib import Path

import pydicom
import pytest
from pydicom.uid import generate_uid

from pipeline.batch.runner import list_studies
from pipeline.cli.main import main
from pipeline.dicom.discover import discover
from pipeline.dicom.inspection import patient_key
from pipeline.dicom.selection import select_timepoints

PATIENTS = ("SORT-PATIENT-A", "SORT-PATIENT-B", "SORT-PATIENT-C")


def _fingerprint(root: Path) -> dict[str, tuple[str, int, int]]:
    """Every file below ``root``: SHA-256, size and modification time (ns)."""
    out = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        stat = path.stat()
        out[str(path.relative_to(root))] = (
            hashlib.sha256(path.read_bytes()).hexdigest(),
            stat.st_size,
            stat.st_mtime_ns,
        )
    return out


def _baseline_series(sample_root: Path) -> dict[str, list[Path]]:
    """The files of the sample study's baseline CT and PET, by modality."""
    truth = json.loads((sample_root / "ground_truth.json").read_text())["timepoints"][0]
    wanted = {truth["ct_series_instance_uid"], truth["pet_series_instance_uid"]}
    series: dict[str, list[Path]] = {}
    for path in sorted((sample_root / "study").rglob("IM*")):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        if ds.SeriesInstanceUID in wanted:
            series.setdefault(str(ds.Modality), []).append(path)
    return series


@pytest.fixture(scope="module")
def export(sample_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Baseline CT and PET of the sample study as three patients, files interleaved in a flat export, plus junk."""
    sources = sorted(p for paths in _baseline_series(sample_root).values() for p in paths)
    root = tmp_path_factory.mktemp("export") / "EXPORT"
    for n, patient in enumerate(PATIENTS):
        uids: dict[str, str] = {}
        for k, src in enumerate(sources):
            ds = pydicom.dcmread(src)
            ds.PatientID, ds.PatientName = patient, f"SORT^{patient[-1]}"
            for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID"):
                setattr(ds, keyword, uids.setdefault(str(ds.get(keyword)), generate_uid()))
            ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
            folder = root / "DICOM" / f"{(k * 7 + n) % 5:03d}"  # the three patients share folders
            folder.mkdir(parents=True, exist_ok=True)
            ds.save_as(folder / f"I{n}{k:04d}")
    (root / "README.TXT").write_text("exported by a PACS\n")
    (root / "DICOM" / "EMPTY").touch()
    (root / "DICOM" / "000" / "garbage.bin").write_bytes(os.urandom(2048))
    return root


def test_sort_splits_the_export_by_patient_and_changes_nothing(
    export: Path, sample_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _fingerprint(export)
    studies = tmp_path / "studies"
    assert main(["sort", str(export), "-o", str(studies)]) == 0
    out = capsys.readouterr().out
    assert _fingerprint(export) == before
    keys = sorted(patient_key(p) for p in PATIENTS)
    assert sorted(p.name for p in studies.iterdir() if p.is_dir()) == keys
    dicom_files = [f for f in before if Path(f).name.startswith("I")]
    for patient in PATIENTS:
        folder = studies / patient_key(patient)
        files = [p for p in folder.rglob("*") if p.is_file()]
        assert len(files) == len(dicom_files) // 3
        assert {str(pydicom.dcmread(p, stop_before_pixels=True).PatientID) for p in files} == {patient}
        assert all(
            not p.is_symlink() and p.stat().st_mtime_ns == (export / p.relative_to(folder)).stat().st_mtime_ns
            for p in files
        )
        assert patient not in out and patient_key(patient) in out  # the summary never shows the ID
    with open(studies / "sort_summary.csv", newline="") as f:
        rows = {r["source"]: r for r in csv.DictReader(f)}
    assert set(rows) == set(before)
    assert rows["README.TXT"]["status"] == "not sorted: not a DICOM file"
    assert rows["DICOM/EMPTY"]["status"] == "not sorted: empty file"
    assert rows["DICOM/000/garbage.bin"]["status"].startswith("not sorted:")
    assert "not sorted: 3 file(s)" in out
    # a second sort finds everything in place; a different file in the way stops it before writing
    assert main(["sort", str(export), "-o", str(studies), "-q"]) == 0
    victim = next((studies / keys[0]).rglob("I*"))
    victim.write_bytes(b"changed")
    assert main(["sort", str(export), "-o", str(studies), "-q"]) == 2
    assert "a different file is already there" in capsys.readouterr().err
    assert _fingerprint(export) == before

    # the study folders are what ``batch`` takes: one study per patient, each with the baseline's CT and PET of the
    # sample study (the same number of slices; new UIDs); running them is what the other batch tests do
    victim.unlink()
    assert main(["sort", str(export), "-o", str(studies), "-q"]) == 0
    assert [p.name for p in list_studies(studies, tmp_path / "out")] == keys
    slices = {m: len(series) for m, series in _baseline_series(sample_root).items()}
    for key in keys:
        (timepoint,) = select_timepoints(discover(studies / key, workers=1))
        assert (len(timepoint.ct_candidates[0]), len(timepoint.pet_candidates[0])) == (slices["CT"], slices["PT"])


def test_sort_with_links_points_into_the_export(export: Path, tmp_path: Path) -> None:
    before = _fingerprint(export)
    studies = tmp_path / "linked"
    assert main(["sort", str(export), "-o", str(studies), "--link", "-q"]) == 0
    links = list(studies.rglob("I*"))
    assert links and all(p.is_symlink() and Path(os.readlink(p)).is_relative_to(export.resolve()) for p in links)
    assert main(["sort", str(export), "-o", str(studies), "--link", "-q"]) == 0
    assert _fingerprint(export) == before


def test_sort_refuses_an_output_inside_the_export(export: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sort", str(export), "-o", str(export / "sorted")]) == 2
    assert "must not be the export folder, inside it or around it" in capsys.readouterr().err
    assert not (export / "sorted").exists()
