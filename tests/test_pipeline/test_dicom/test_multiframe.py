"""Enhanced multi-frame CT and PET (per-frame functional groups) load like their single-frame originals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.uid import JPEG2000Lossless

from pipeline.dicom.discover import discover
from pipeline.dicom.load import load_ct, load_pet
from pipeline.dicom.selection import select_timepoints

ENHANCED_CT = "1.2.840.10008.5.1.4.1.1.2.1"
ENHANCED_PET = "1.2.840.10008.5.1.4.1.1.130"


def _only_series(folder: Path):
    index = discover(folder, workers=1)
    (series,) = index.by_series().values()
    return series


@pytest.mark.parametrize("compress", [False, True], ids=["native", "jpeg2000"])
def test_enhanced_ct_equals_single_frame(tmp_path: Path, write_series, make_enhanced, compress: bool) -> None:
    files = write_series(tmp_path / "single", "CT", n=9, rows=32)  # openjpeg needs >= 32 px
    reference = load_ct(_only_series(tmp_path / "single")).image
    (tmp_path / "multi").mkdir()
    path = make_enhanced(files, tmp_path / "multi" / "enhanced.dcm", ENHANCED_CT)
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


def test_enhanced_pet_per_frame_rescale_and_suv(tmp_path: Path, write_series, make_enhanced) -> None:
    write_series(tmp_path / "single", "CT", n=12, tag="a")
    pet_files = write_series(tmp_path / "single", "PT", n=8, tag="a")
    tp = select_timepoints(discover(tmp_path / "single", workers=1))[0]
    reference = load_pet(tp.pet_candidates[0])
    assert len({pydicom.dcmread(f, stop_before_pixels=True).RescaleSlope for f in pet_files}) > 1
    (tmp_path / "multi").mkdir()
    make_enhanced(pet_files, tmp_path / "multi" / "pet.dcm", ENHANCED_PET)
    loaded = load_pet(_only_series(tmp_path / "multi"))
    assert loaded.units == "SUVbw" and loaded.suv.factor == pytest.approx(reference.suv.factor, rel=1e-12)
    np.testing.assert_allclose(
        sitk.GetArrayViewFromImage(loaded.image), sitk.GetArrayViewFromImage(reference.image), rtol=1e-6, atol=1e-7
    )
