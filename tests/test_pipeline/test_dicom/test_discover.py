"""Discovery and series selection on a small hand-made tree."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest

from pipeline.dicom.discover import discover
from pipeline.dicom.selection import select_timepoints
from pipeline.errors import SeriesSelectionError


def test_sample_study_index(sample_root: Path, ground_truth: dict):
    index = discover(sample_root / "study")
    assert ("targets.json", "not a DICOM file") in index.skipped
    assert len(index.by_series()) == 6
    timepoints = select_timepoints(index)
    assert [t.study_uid for t in timepoints] == [t["study_instance_uid"] for t in ground_truth["timepoints"]]
    assert all(len(t.ct_candidates) == 1 and len(t.pet_candidates) == 1 for t in timepoints)


def _rewrite(files: list[Path], **attrs) -> None:
    for f in files:
        ds = pydicom.dcmread(f)
        for k, v in attrs.items():
            setattr(ds, k, v)
        ds.save_as(f)


def _series_files(study: Path, uid: str) -> list[Path]:
    return [p for p in study.rglob("IM*") if pydicom.dcmread(p, stop_before_pixels=True).SeriesInstanceUID == uid]


def test_localizer_and_derived_series_are_skipped_with_reasons(study_copy: Path, ground_truth: dict):
    from pydicom.uid import generate_uid

    tp0, tp1 = ground_truth["timepoints"][0], ground_truth["timepoints"][1]
    _rewrite(_series_files(study_copy, tp1["ct_series_instance_uid"]), ImageType=["DERIVED", "SECONDARY", "MIP"])
    scout = pydicom.dcmread(_series_files(study_copy, tp0["ct_series_instance_uid"])[0])
    scout.SeriesInstanceUID, scout.SOPInstanceUID = generate_uid(), generate_uid()
    scout.file_meta.MediaStorageSOPInstanceUID = scout.SOPInstanceUID
    scout.ImageType = ["ORIGINAL", "PRIMARY", "LOCALIZER"]
    scout.save_as(study_copy / "scout")
    timepoints = select_timepoints(discover(study_copy))
    # the follow-up whose only CT is a projection (MIP) is not a timepoint
    assert [t.study_uid for t in timepoints] == [
        tp0["study_instance_uid"],
        ground_truth["timepoints"][2]["study_instance_uid"],
    ]
    reasons = dict(timepoints[0].skipped)
    assert reasons[scout.SeriesInstanceUID] == "CT: localizer/scout image"
    assert timepoints[0].ct_candidates[0][0].series_uid == tp0["ct_series_instance_uid"]


def test_two_patients_are_refused(study_copy: Path, ground_truth: dict):
    _rewrite(_series_files(study_copy, ground_truth["timepoints"][2]["pet_series_instance_uid"]), PatientID="OTHER")
    with pytest.raises(SeriesSelectionError, match="2 different PatientIDs"):
        select_timepoints(discover(study_copy))


def test_duplicate_files_are_skipped(study_copy: Path):
    src = next(study_copy.rglob("IM*"))
    (study_copy / "copy_of_one_file").write_bytes(src.read_bytes())
    index = discover(study_copy)
    assert any("duplicate of" in reason for _, reason in index.skipped)


def test_parallel_scan_gives_the_same_index(sample_root: Path, monkeypatch: pytest.MonkeyPatch):
    import pipeline.dicom.discover

    monkeypatch.setattr(pipeline.dicom.discover, "PARALLEL_MIN_FILES", 0)
    serial = discover(sample_root / "study", workers=1)
    parallel = discover(sample_root / "study", workers=2)
    assert serial == parallel
    assert all(i.pixels is not None and i.pixels.native for i in serial.instances)


def test_index_carries_what_loading_needs(sample_root: Path):
    """Pixel data are read at the recorded offset: the bytes there are the slice's PixelData."""
    index = discover(sample_root / "study", workers=1)
    inst = index.instances[0]
    ds = pydicom.dcmread(inst.path)
    with open(inst.path, "rb") as f:
        f.seek(inst.pixels.value_offset)
        assert f.read(inst.pixels.value_length) == ds.PixelData


def _copy_series(study: Path, series_uid: str, description: str, kernel: str) -> str:
    from pydicom.uid import generate_uid

    new_uid = generate_uid()
    for k, path in enumerate(_series_files(study, series_uid)):
        ds = pydicom.dcmread(path)
        ds.SeriesInstanceUID, ds.SOPInstanceUID = new_uid, generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.SeriesDescription, ds.ConvolutionKernel, ds.SeriesNumber = description, kernel, 1
        ds.save_as(study / f"extra_{kernel}_{k}")
    return new_uid


def test_soft_tissue_kernel_preferred_and_selection_configurable(study_copy: Path, ground_truth: dict):
    from pipeline.config import SelectionOptions

    tp0 = ground_truth["timepoints"][0]
    lung = _copy_series(study_copy, tp0["ct_series_instance_uid"], "CT THORAX LUNG 1.0 B70f", "B70f")
    index = discover(study_copy)
    first = select_timepoints(index)[0]
    assert first.ct_candidates[0][0].series_uid == tp0["ct_series_instance_uid"]
    assert "ranked below" in dict(first.skipped)[lung]
    by_pattern = select_timepoints(index, options=SelectionOptions(ct_description="lung"))[0]
    assert by_pattern.ct_candidates[0][0].series_uid == lung
    assert "does not match 'lung'" in dict(by_pattern.skipped)[tp0["ct_series_instance_uid"]]
    by_uid = select_timepoints(index, options=SelectionOptions(ct_series_uid=lung))
    assert [t.ct_candidates[0][0].series_uid for t in by_uid] == [lung]


@pytest.mark.parametrize(
    "charset, text", [("ISO_IR 100", "Thorax-Übersicht"), ("ISO_IR 192", "胸部 CT"), ("ISO 2022 IR 87", "胸部")]
)
def test_texts_are_decoded_with_the_character_set(tmp_path: Path, charset: str, text: str):
    """The fast text path and pydicom agree, nested items (sequence) included."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    from pipeline.dicom import values as dv

    ds = Dataset()
    ds.SpecificCharacterSet = charset
    ds.SeriesDescription = text
    item = Dataset()
    item.Radiopharmaceutical = text
    ds.RadiopharmaceuticalInformationSequence = Sequence([item])
    ds.file_meta = pydicom.dataset.FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    ds.save_as(tmp_path / "f.dcm", enforce_file_format=False)
    read = pydicom.dcmread(tmp_path / "f.dcm", force=True)
    assert dv.text(read, "SeriesDescription") == text
    assert dv.text(read.RadiopharmaceuticalInformationSequence[0], "Radiopharmaceutical") == text
