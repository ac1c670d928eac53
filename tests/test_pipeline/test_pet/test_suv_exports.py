"""SUV of PET series as real exports deliver them: Philips scale factors without their private creator,
SUVbsa (CM2ML) converted back to SUVbw, SUV units spelled out of the standard, vendor reference times.

Datasets are built here; expected factors are computed in the test from the definitions (QIBA, IBSI SUV
manual), or from published values (Du Bois body surface area).
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from measurement import body_size
from pipeline.dicom.discover import discover
from pipeline.dicom.load import load_pet
from pipeline.pet.suv import PetHeader, SuvType, suv_bw_factor, suv_factor

T_F18 = 6588.0


def philips_cnts(manufacturer: str = "Philips Medical Systems", creator: str | None = None, **scale: str) -> Dataset:
    """The header of the QIBA case PHILIPS_CNTS_AND_BQML_SUV, its scale factors written without a creator by default."""
    ds = Dataset()
    ds.Manufacturer = manufacturer
    ds.Units, ds.DecayCorrection, ds.CorrectedImage = "CNTS", "START", ["DECY", "ATTN", "SCAT"]
    ds.PatientWeight, ds.PatientSex = "54", "F"
    ds.SeriesDate = ds.AcquisitionDate = "20201217"
    ds.SeriesTime, ds.AcquisitionTime = "093556", "095439"
    ds.FrameReferenceTime, ds.ActualFrameDuration = "1183000", "120000"
    drug = Dataset()
    drug.RadionuclideTotalDose, drug.RadionuclideHalfLife, drug.RadiopharmaceuticalStartTime = (
        "238000000",
        "6588",
        "083000",
    )
    ds.RadiopharmaceuticalInformationSequence = Sequence([drug])
    if creator is not None:
        ds.add_new(0x70530010, "LO", creator)
    if "suv" in scale:
        ds.add_new(0x70531000, "DS", scale["suv"])
    if "activity" in scale:
        ds.add_new(0x70531009, "DS", scale["activity"])
    return ds


def bqml_factor() -> float:
    """SUVbw per Bq/ml of that header (QIBA): decay from injection 08:30:00 to the series time 09:35:56."""
    return 54_000.0 / (238e6 * 2.0 ** (-(65 * 60 + 56) / T_F18))


def test_philips_suv_scale_factor_without_private_creator() -> None:
    header = PetHeader.from_dataset(philips_cnts(suv="0.000551"))
    assert header.philips_suv_scale == pytest.approx(0.000551)
    assert suv_bw_factor([header]).factor == pytest.approx(0.000551, rel=1e-12)


def test_philips_activity_scale_factor_without_private_creator() -> None:
    header = PetHeader.from_dataset(philips_cnts(activity="1.602563"))
    assert header.philips_suv_scale is None and header.philips_activity_scale == pytest.approx(1.602563)
    assert suv_bw_factor([header]).factor == pytest.approx(1.602563 * bqml_factor(), rel=1e-9)


@pytest.mark.parametrize(
    "manufacturer, creator",
    [("SIEMENS", None), ("Philips", "SOMEONE ELSE")],
)
def test_scale_factors_are_not_taken_from_another_owner(manufacturer: str, creator: str | None) -> None:
    ds = philips_cnts(manufacturer, creator, suv="0.000551")
    ds.Units = "BQML"  # a Siemens series is not in CNTS; another creator owns the block
    assert PetHeader.from_dataset(ds).philips_suv_scale is None


def test_cnts_series_without_creator_loads_in_suv(tmp_path: Path, write_series, caplog) -> None:
    """A whole series written with implicit VR (the private value arrives as raw bytes) loads in SUVbw."""
    files = write_series(tmp_path / "pet", "PT", n=12, rows=16, tag="philips")
    factors = []
    for k, f in enumerate(files):
        ds = pydicom.dcmread(f)
        ds.Manufacturer, ds.Units = "Philips", "CNTS"
        scale = 0.0005 + 1e-5 * k
        ds.add_new(0x70531000, "DS", f"{scale:.6f}")
        ds.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
        ds.save_as(f, implicit_vr=True, little_endian=True)
        factors.append(scale)
    with caplog.at_level(logging.WARNING, logger="pipeline"):
        index = discover(tmp_path / "pet")
        pet = load_pet(index.instances, index.root)
    assert pet.units == "SUVbw"
    assert any("(7053,1000) without its private creator: read by position in 12 file(s)" in n for n in index.notes)
    order = {inst.path: k for k, inst in enumerate(pet.instances)}
    stored = np.stack([pydicom.dcmread(f).pixel_array * float(pydicom.dcmread(f).RescaleSlope) for f in files])
    suv = sitk.GetArrayFromImage(pet.image)
    for f, s, scale in zip(files, stored, factors, strict=True):
        np.testing.assert_allclose(suv[order[f]], s * scale, rtol=1e-5)


def test_du_bois_body_surface_area_matches_published_values() -> None:
    """Du Bois & Du Bois (1916), as used by Kim et al. (1994), DICOM SUVbsa and the IBSI SUV reference
    implementation: 80 kg, 180 cm -> 1.9964 m^2; 70 kg, 170 cm -> 1.8097 m^2 (published tables)."""
    for weight, height_m, expected_m2 in ((80.0, 1.80, 1.9964), (70.0, 1.70, 1.8097)):
        value, _ = body_size.normaliser("BSA", weight, height_m, None)
        assert value / 1e4 == pytest.approx(expected_m2, abs=1e-4)


def _cm2ml(**changes: object) -> PetHeader:
    base = dict(
        units="CM2ML",
        decay_correction="ADMIN",
        corrected_image=("ATTN", "DECY"),
        series_datetime=None,
        acquisition_datetime=None,
        series_date=None,
        injection_datetime=None,
        injection_time=None,
        total_dose_bq=None,
        half_life_s=None,
        weight_kg=70.0,
        height_m=1.75,
        sex=None,
        frame_reference_time_ms=None,
        actual_frame_duration_ms=None,
        philips_suv_scale=None,
        philips_activity_scale=None,
        ge_post_injection_datetime=None,
    )
    base.update(changes)
    return PetHeader(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize("weight, height", [(70.0, 1.75), (80.0, 1.80), (52.0, 1.58), (115.0, 1.92), (70.0, 175.0)])
def test_cm2ml_converted_back_to_suvbw(weight: float, height: float) -> None:
    """SUVbw = SUVbsa * W[g] / BSA[cm^2] with the Du Bois BSA; a height written in cm is repaired."""
    h_cm = height if height > 3 else 100 * height
    bsa_cm2 = 0.007184 * weight**0.425 * h_cm**0.725 * 1e4
    f = suv_factor([_cm2ml(weight_kg=weight, height_m=height, suv_type=None)], SuvType.BW)
    assert f.factor == pytest.approx(weight * 1000.0 / bsa_cm2, rel=1e-12)
    assert suv_factor([_cm2ml(weight_kg=weight, height_m=height, suv_type="BSA")], SuvType.BSA).factor == 1.0


@pytest.mark.parametrize(
    "spelling, units, suv_type",
    [("SUVbw", "GML", "BW"), ("g/ml", "GML", None), ("SUV", "GML", None), ("SUVbsa", "CM2ML", "BSA")],
)
def test_suv_units_spelled_out_of_the_standard(spelling: str, units: str, suv_type: str | None) -> None:
    ds = Dataset()
    ds.Units, ds.CorrectedImage = spelling, ["ATTN", "DECY"]
    header = PetHeader.from_dataset(ds)
    assert (header.units, header.suv_type) == (units, suv_type)


def _start_header(**changes: object) -> PetHeader:
    base = dict(
        units="BQML",
        decay_correction="START",
        corrected_image=("ATTN", "DECY"),
        series_datetime=dt.datetime(2026, 1, 1, 11, 0),  # re-created after the scan
        acquisition_datetime=dt.datetime(2026, 1, 1, 10, 30),
        series_date=dt.date(2026, 1, 1),
        injection_datetime=dt.datetime(2026, 1, 1, 9, 0),
        injection_time=dt.time(9, 0),
        total_dose_bq=300e6,
        half_life_s=T_F18,
        weight_kg=75.0,
        height_m=1.8,
        sex="M",
        frame_reference_time_ms=90_000.0,
        actual_frame_duration_ms=180_000.0,
        philips_suv_scale=None,
        philips_activity_scale=None,
        ge_post_injection_datetime=None,
    )
    base.update(changes)
    return PetHeader(**base)  # type: ignore[arg-type]


def test_ge_frame_reference_time_is_the_frame_start() -> None:
    """IBSI SUV manual, GE without its private scan time: t_ref = acquisition - FrameReferenceTime."""
    f = suv_bw_factor([_start_header(manufacturer="GE MEDICAL SYSTEMS")])
    assert f.scan_datetime == dt.datetime(2026, 1, 1, 10, 28, 30)
    assert f.factor == pytest.approx(75_000 / (300e6 * 2 ** (-(88.5 * 60) / T_F18)), rel=1e-12)


def test_siemens_private_decay_correction_time_is_used() -> None:
    ds = Dataset()
    ds.Manufacturer = "SIEMENS"
    ds.add_new(0x00710010, "LO", "SIEMENS MED PT")
    ds.add_new(0x00711022, "DT", "20260101100500.000000")
    header = PetHeader.from_dataset(ds)
    assert header.siemens_decay_datetime == dt.datetime(2026, 1, 1, 10, 5)
    f = suv_bw_factor([_start_header(manufacturer="SIEMENS", siemens_decay_datetime=header.siemens_decay_datetime)])
    assert f.scan_datetime == dt.datetime(2026, 1, 1, 10, 5) and "Siemens private" in f.method
