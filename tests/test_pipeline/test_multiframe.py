"""Enhanced multi-frame CT and PET (per-frame functional groups) load like their single-frame originals."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import JPEG2000Lossless, generate_uid

from pipeline.discover import discover
from pipeline.load import load_ct, load_pet
from pipeline.series_selection import select_timepoints

ENHANCED_CT = "1.2.840.10008.5.1.4.1.1.2.1"
ENHANCED_PET = "1.2.840.10008.5.1.4.1.1.130"
PER_FILE = ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing", "SliceThickness", "RescaleSlope",
            "RescaleIntercept", "RescaleType", "InstanceNumber", "SliceLocation", "AcquisitionTime", "ContentTime")  # fmt: skip


def _item(**values: object) -> Dataset:
    ds = Dataset()
    for k, v in values.items():
        setattr(ds, k, v)
    return ds


def to_enhanced(files: list[Path], out: Path, sop_class: str, seed: int = 0) -> Path:
    """One multi-frame file holding the slices of ``files`` in shuffled frame order."""
    slices = [pydicom.dcmread(f) for f in files]
    random.Random(seed).shuffle(slices)
    first = slices[0]
    ds = Dataset()
    for elem in first:
        if elem.keyword not in PER_FILE and elem.keyword != "PixelData":
            ds.add(elem)
    ds.file_meta = FileMetaDataset()
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = first.file_meta.TransferSyntaxUID
    ds.SeriesInstanceUID = generate_uid()
    ds.NumberOfFrames = len(slices)
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL", "NONE"]
    ds.SharedFunctionalGroupsSequence = Sequence([_item(
        PixelMeasuresSequence=Sequence([_item(PixelSpacing=first.PixelSpacing, SliceThickness=first.SliceThickness)]),
        PlaneOrientationSequence=Sequence([_item(ImageOrientationPatient=first.ImageOrientationPatient)]),
    )])  # fmt: skip
    frames = []
    for s in slices:
        acquired = f"{s.AcquisitionDate}{s.AcquisitionTime}"
        frames.append(_item(
            PlanePositionSequence=Sequence([_item(ImagePositionPatient=s.ImagePositionPatient)]),
            PixelValueTransformationSequence=Sequence([_item(
                RescaleSlope=s.RescaleSlope, RescaleIntercept=s.RescaleIntercept, RescaleType=s.get("RescaleType", "US"))]),
            FrameContentSequence=Sequence([_item(FrameAcquisitionDateTime=acquired, FrameAcquisitionDuration=120000)]),
        ))  # fmt: skip
    ds.PerFrameFunctionalGroupsSequence = Sequence(frames)
    ds.PixelData = b"".join(s.PixelData for s in slices)
    ds.save_as(out, enforce_file_format=True)
    return out


def _only_series(folder: Path):
    index = discover(folder, workers=1)
    (series,) = index.by_series().values()
    return series


@pytest.mark.parametrize("compress", [False, True], ids=["native", "jpeg2000"])
def test_enhanced_ct_equals_single_frame(tmp_path: Path, write_series, compress: bool) -> None:
    files = write_series(tmp_path / "single", "CT", n=9, rows=32)  # openjpeg needs >= 32 px
    reference = load_ct(_only_series(tmp_path / "single")).image
    (tmp_path / "multi").mkdir()
    path = to_enhanced(files, tmp_path / "multi" / "enhanced.dcm", ENHANCED_CT)
    if compress:
        ds = pydicom.dcmread(path)
        ds.compress(JPEG2000Lossless)
        ds.save_as(path)
    series = _only_series(tmp_path / "multi")
    assert len(series) == 9 and {i.frame_index for i in series} == set(range(9))
    loaded = load_ct(series).image
    np.testing.assert_array_equal(sitk.GetArrayViewFromImage(loaded), sitk.GetArrayViewFromImage(reference))
    np.testing.assert_allclose(loaded.GetOrigin(), reference.GetOrigin(), atol=1e-6)
    np.testing.assert_allclose(loaded.GetSpacing(), reference.GetSpacing(), atol=1e-6)
    np.testing.assert_allclose(loaded.GetDirection(), reference.GetDirection(), atol=1e-9)


def test_enhanced_pet_per_frame_rescale_and_suv(tmp_path: Path, write_series) -> None:
    write_series(tmp_path / "single", "CT", n=12, tag="a")
    pet_files = write_series(tmp_path / "single", "PT", n=8, tag="a")
    tp = select_timepoints(discover(tmp_path / "single", workers=1))[0]
    reference = load_pet(tp.pet_candidates[0])
    assert len({pydicom.dcmread(f, stop_before_pixels=True).RescaleSlope for f in pet_files}) > 1
    (tmp_path / "multi").mkdir()
    to_enhanced(pet_files, tmp_path / "multi" / "pet.dcm", ENHANCED_PET)
    loaded = load_pet(_only_series(tmp_path / "multi"))
    assert loaded.units == "SUVbw" and loaded.suv.factor == pytest.approx(reference.suv.factor, rel=1e-12)
    np.testing.assert_allclose(
        sitk.GetArrayViewFromImage(loaded.image), sitk.GetArrayViewFromImage(reference.image), rtol=1e-6, atol=1e-7
    )
