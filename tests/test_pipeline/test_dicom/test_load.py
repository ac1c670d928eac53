"""Loading matches an independent reader (SimpleITK's GDCM series reader) voxel for voxel."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from pipeline.dicom.discover import discover
from pipeline.dicom.load import load_ct, load_pet
from pipeline.dicom.selection import select_timepoints


@pytest.fixture(scope="module")
def timepoints(sample_root: Path):
    index = discover(sample_root / "study", ignore={sample_root / "study" / "targets.json"})
    return select_timepoints(index)


def gdcm_read(files: list[Path]) -> sitk.Image:
    reader = sitk.ImageSeriesReader()
    names = [
        str(f)
        for f in sorted(files, key=lambda f: float(pydicom.dcmread(f, stop_before_pixels=True).ImagePositionPatient[2]))
    ]
    reader.SetFileNames(names)
    return reader.Execute()


@pytest.mark.parametrize("k", [0, 1, 2])
def test_ct_matches_gdcm(timepoints, k):
    tp = timepoints[k]
    ours = load_ct(tp.ct_candidates[0]).image
    theirs = gdcm_read([i.path for i in tp.ct_candidates[0]])
    assert ours.GetSize() == theirs.GetSize()
    np.testing.assert_allclose(ours.GetOrigin(), theirs.GetOrigin(), atol=1e-4)
    np.testing.assert_allclose(ours.GetSpacing(), theirs.GetSpacing(), atol=1e-4)
    np.testing.assert_allclose(ours.GetDirection(), theirs.GetDirection(), atol=1e-6)
    np.testing.assert_array_equal(sitk.GetArrayViewFromImage(ours), sitk.GetArrayViewFromImage(theirs))
    # the same voxel has the same world coordinate
    idx = (17, 33, 5)
    np.testing.assert_allclose(
        ours.TransformIndexToPhysicalPoint(idx), theirs.TransformIndexToPhysicalPoint(idx), atol=1e-4
    )


def test_pet_per_slice_slopes_and_suv(timepoints, ground_truth):
    tp = timepoints[0]
    pet = load_pet(tp.pet_candidates[0])
    assert pet.units == "SUVbw"
    assert pet.suv.factor == pytest.approx(ground_truth["timepoints"][0]["pet"]["suvbw_factor_ml_per_bq"], rel=1e-9)
    slopes = {i.rescale_slope for i in tp.pet_candidates[0]}
    assert len(slopes) > 10, "the generator stores one slope per slice"
    bq = gdcm_read([i.path for i in tp.pet_candidates[0]])  # GDCM applies each slice's own rescale
    np.testing.assert_allclose(
        sitk.GetArrayViewFromImage(pet.image), sitk.GetArrayViewFromImage(bq) * pet.suv.factor, rtol=1e-5, atol=1e-4
    )
