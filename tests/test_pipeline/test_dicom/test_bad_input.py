"""The bad-input corpus: each defect is generated here and must give a clear message naming the
series (and file); a broken file never stops the other series; nothing crashes."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pydicom
import pytest

from pipeline.cli.main import main
from pipeline.dicom.discover import discover
from pipeline.dicom.load import load_ct, load_pet
from pipeline.dicom.selection import select_timepoints
from pipeline.errors import InputError, SeriesSelectionError


def _edit(path: Path, change: Callable[[pydicom.Dataset], None]) -> None:
    ds = pydicom.dcmread(path)
    change(ds)
    ds.save_as(path)


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * 0.6)])


def _del(keyword: str) -> Callable[[pydicom.Dataset], None]:
    return lambda ds: delattr(ds, keyword)


def _set(**values: object) -> Callable[[pydicom.Dataset], None]:
    def change(ds: pydicom.Dataset) -> None:
        for k, v in values.items():
            setattr(ds, k, v)

    return change


# (defect name, how to damage slice 5 of the CT, fragment expected in the loader's message)
FILE_DEFECTS = [
    ("truncated file", _truncate, "truncated"),
    ("missing pixel data", lambda p: _edit(p, _del("PixelData")), "no pixel data"),
    ("pixel data length", lambda p: _edit(p, _set(Rows=20)), "does not match"),
    ("absurd dimensions", lambda p: _edit(p, _set(Rows=65535, Columns=65535)), "absurd dimensions"),
    ("missing position", lambda p: _edit(p, _del("ImagePositionPatient")), "without ImagePositionPatient"),
    (
        "missing orientation",
        lambda p: _edit(p, _del("ImageOrientationPatient")),
        "without ImagePositionPatient/ImageOrientationPatient",
    ),
]


def _inspect(folder: Path, capsys: pytest.CaptureFixture[str]) -> dict:
    assert main(["inspect", str(folder), "--json", "-q"]) == 0
    return json.loads(capsys.readouterr().out)


def _series_entries(report: dict) -> list[dict]:
    out = []
    for patient in report["patients"]:
        for tp in patient["timepoints"]:
            out += tp["series"]
        for study in patient["studies_without_usable_ct"]:
            out += study["series"]
    return out


@pytest.mark.parametrize("name, damage, fragment", FILE_DEFECTS, ids=[d[0] for d in FILE_DEFECTS])
def test_broken_slice_names_series_and_file_and_spares_the_other_series(
    tmp_path: Path, write_series, capsys, name, damage, fragment
) -> None:
    ct = write_series(tmp_path, "CT", tag="a")
    good = write_series(tmp_path, "CT", tag="b", seed=3)
    victim = ct[5]
    damage(victim)
    series_uid = pydicom.dcmread(ct[0], stop_before_pixels=True).SeriesInstanceUID
    report = _inspect(tmp_path, capsys)  # nothing crashes, and the problem is listed
    text = json.dumps(report)
    assert victim.name in text and series_uid in text
    entries = {e["series_instance_uid"]: e for e in _series_entries(report)}
    assert fragment.split()[0] in (entries[series_uid]["reason"] or "")
    index = discover(tmp_path, workers=1)
    series = index.by_series()
    with pytest.raises(InputError) as err:
        load_ct(series[series_uid], tmp_path)
    message = str(err.value)
    assert series_uid in message and victim.name in message and fragment in message, message
    other = pydicom.dcmread(good[0], stop_before_pixels=True).SeriesInstanceUID
    assert load_ct(series[other], tmp_path).n_slices == len(good)


def test_duplicate_instance_is_skipped_and_the_series_loads(tmp_path: Path, write_series, capsys) -> None:
    ct = write_series(tmp_path, "CT")
    shutil.copy(ct[4], tmp_path / "copy_of_slice")
    report = _inspect(tmp_path, capsys)
    assert {"file": "copy_of_slice", "reason": f"duplicate of {ct[4].name} (same SOP Instance UID)"} in report[
        "skipped_files"
    ]
    index = discover(tmp_path, workers=1)
    assert load_ct(next(iter(index.by_series().values())), tmp_path).n_slices == len(ct)


def test_same_position_twice_names_both_files(tmp_path: Path, write_series) -> None:
    ct = write_series(tmp_path, "CT")
    position = pydicom.dcmread(ct[3], stop_before_pixels=True).ImagePositionPatient
    _edit(ct[4], _set(ImagePositionPatient=position))
    index = discover(tmp_path, workers=1)
    with pytest.raises(InputError, match=rf"2 slices at .* \(files .*{ct[3].name}.*\)") as err:
        load_ct(next(iter(index.by_series().values())), tmp_path)
    assert ct[4].name in str(err.value)


def test_gap_in_the_slices(tmp_path: Path, write_series, capsys) -> None:
    ct = write_series(tmp_path, "CT")
    ct[6].unlink()
    report = _inspect(tmp_path, capsys)
    entry = _series_entries(report)[0]
    assert "1 missing slice(s)" in entry["reason"] and ct[5].name in entry["reason"]
    with pytest.raises(InputError, match=rf"1 missing slice\(s\): first gap between .* \(after file {ct[5].name}\)"):
        load_ct(next(iter(discover(tmp_path, workers=1).by_series().values())), tmp_path)


def test_two_patients_in_one_folder(tmp_path: Path, write_series, capsys) -> None:
    write_series(tmp_path, "CT", tag="a")
    other = write_series(tmp_path, "CT", tag="b")
    for path in other:
        _edit(path, _set(PatientID="SOMEONE-ELSE"))
    report = _inspect(tmp_path, capsys)
    assert len(report["patients"]) == 2
    assert "SOMEONE-ELSE" not in json.dumps(report), "patient IDs are not shown"
    with pytest.raises(SeriesSelectionError, match="2 different PatientIDs") as err:
        select_timepoints(discover(tmp_path, workers=1))
    assert other[0].name in str(err.value) or any(p.name in str(err.value) for p in other)
    assert "SOMEONE-ELSE" not in str(err.value)


def test_pet_without_radiopharmaceutical_data(tmp_path: Path, write_series, capsys) -> None:
    write_series(tmp_path, "CT", tag="a")
    pet = write_series(tmp_path, "PT", tag="a", n=8)
    for path in pet:
        _edit(path, _del("RadiopharmaceuticalInformationSequence"))
    report = _inspect(tmp_path, capsys)
    pet_entry = next(e for e in _series_entries(report) if e["modality"] == "PT")
    assert pet_entry["status"] == "chosen"
    assert "no injected dose" in pet_entry["pet"]["suvbw"]["unavailable"]
    index = discover(tmp_path, workers=1)
    (tp,) = select_timepoints(index)
    loaded = load_pet(tp.pet_candidates[0], tmp_path)
    assert loaded.suv is None and loaded.units == "BQML"
    assert "no injected dose" in loaded.suv_unavailable_reason
    assert (
        f"PT series {pet_entry['series_instance_uid']}: SUV not available: no injected dose" in capsys.readouterr().err
    )


def test_non_dicom_and_dicomdir_are_skipped(tmp_path: Path, write_series) -> None:
    write_series(tmp_path, "CT")
    (tmp_path / "README.TXT").write_text("exported")
    dicomdir = pydicom.Dataset()
    dicomdir.file_meta = pydicom.dataset.FileMetaDataset()
    dicomdir.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.1.3.10"
    dicomdir.file_meta.MediaStorageSOPInstanceUID = "1.2.3.4"
    dicomdir.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    dicomdir.DirectoryRecordSequence = pydicom.Sequence([])
    dicomdir.save_as(tmp_path / "DICOMDIR", enforce_file_format=True)
    index = discover(tmp_path, workers=1)
    reasons = dict(index.skipped)
    assert reasons["README.TXT"] == "not a DICOM file"
    assert "DICOMDIR" in reasons["DICOMDIR"]
    assert len(index.instances) == 12


def test_convert_refuses_pet_without_suv_and_writes_nothing(tmp_path: Path, write_series, capsys) -> None:
    folder = tmp_path / "pet"
    pet = write_series(folder, "PT", n=8)
    for path in pet:
        _edit(path, _del("RadiopharmaceuticalInformationSequence"))
    out = tmp_path / "out" / "pet.nii.gz"
    assert main(["convert", str(folder), "-o", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert "SUV not available" in err and "--suv none" in err
    assert not out.parent.exists() or not any(out.parent.iterdir())
    assert main(["convert", str(folder), "-o", str(out), "--suv", "none", "-q"]) == 0
    assert out.exists()
