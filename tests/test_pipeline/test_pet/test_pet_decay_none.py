"""DecayCorrection NONE: every slice gets its own factor, applied to that slice whatever the file order."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from pipeline.dicom.discover import discover
from pipeline.dicom.load import load_pet
from pipeline.pet.suv import suv_factor


def test_per_slice_factors_follow_the_slices(tmp_path: Path, write_series) -> None:
    files = write_series(tmp_path, "PT", n=6)
    start = dt.datetime(2026, 3, 2, 10, 0)
    for k, path in enumerate(files):  # bed positions acquired one after another, not decay corrected
        ds = pydicom.dcmread(path)
        ds.DecayCorrection = "NONE"
        ds.CorrectedImage = ["ATTN", "SCAT"]
        ds.AcquisitionTime = (start + dt.timedelta(minutes=3 * k)).strftime("%H%M%S")
        ds.ActualFrameDuration = 180000
        ds.save_as(path)
    (series,) = discover(tmp_path, workers=1).by_series().values()
    suv = load_pet(series, tmp_path)
    bq = load_pet(series, tmp_path, suv_type=None)
    assert suv.suv.slice_factors is not None and len(set(suv.suv.slice_factors)) == 6
    by_z = {inst.position[2]: inst for inst in series}
    suv_zyx, bq_zyx = sitk.GetArrayViewFromImage(suv.image), sitk.GetArrayViewFromImage(bq.image)
    for z in range(6):
        position = suv.image.TransformIndexToPhysicalPoint((0, 0, z))[2]
        own = suv_factor([by_z[min(by_z, key=lambda p: abs(p - position))].pet]).factor  # that slice's header alone
        np.testing.assert_allclose(suv_zyx[z], bq_zyx[z] * own, rtol=1e-6, atol=1e-6)
    later = [suv_factor([by_z[p].pet]).factor for p in sorted(by_z)]
    assert later == sorted(later), "later beds have decayed more: larger factor"
    assert suv.units == "SUVbw" and bq.units == "BQML"
    with pytest.raises(AssertionError):
        np.testing.assert_allclose(suv_zyx, bq_zyx * suv.suv.factor, rtol=1e-6)
