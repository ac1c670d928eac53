"""SUV factors: the eight real-scanner header cases (QIBA) and the rules they exercise."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from pipeline.suv import GE_POST_INJECTION_DATETIME, PHILIPS_ACTIVITY_SCALE, PHILIPS_SUV_SCALE, PetHeader, SuvUnavailable, suv_bw_factor

DATA = Path(__file__).parents[1] / "data" / "suv_headers"
EXPECTED = {
    "SIEMENS": 0.00042748316187197236,
    "GE_MEDICAL_AND_BQML": 0.0005367387681819742,
    "PHILIPS_BQML": 0.0007463747013889488,
    "PHILIPS_CNTS_AND_BQML_SUV": 0.000551,
    "PHILIPS_CNTS_AND_SUV": 0.000728,
    "BQML_AC_DT_lessThan_S_DT_SIEMENS": 0.0004069156854009332,
    "CPS_AND_BQML_AC_DT_-_S_DT": 0.00026503312764157046,
    "RADIOPHARM_DATETIME_UNDEFINED": 0.0003721089202818729,
}
DRUG_KEYS = ("RadionuclideTotalDose", "RadionuclideHalfLife", "RadiopharmaceuticalStartTime", "RadiopharmaceuticalStartDateTime")


def dataset_from_case(fields: dict) -> Dataset:
    """A pydicom dataset carrying the header fields of one instance of a case file."""
    ds, drug = Dataset(), Dataset()
    for key, value in fields.items():
        if key in DRUG_KEYS:
            setattr(drug, key, value.strip() if isinstance(value, str) else value)
        elif key == "PhilipsPETPrivateGroup":
            ds.add_new(0x70530010, "LO", "Philips PET Private Group")
            if "SUVScaleFactor" in value:
                ds.add_new(PHILIPS_SUV_SCALE, "DS", value["SUVScaleFactor"])
            if "ActivityConcentrationScaleFactor" in value:
                ds.add_new(PHILIPS_ACTIVITY_SCALE, "DS", value["ActivityConcentrationScaleFactor"])
        elif key == "GEPrivatePostInjectionDateTime":
            ds.add_new(0x00090010, "LO", "GEMS_PETD_01")
            ds.add_new(GE_POST_INJECTION_DATETIME, "DT", value)
        else:
            setattr(ds, key, value)
    ds.RadiopharmaceuticalInformationSequence = Sequence([drug])
    return ds


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_reference_cases(case):
    instances = json.loads((DATA / f"{case}-instances.json").read_text())
    headers = [PetHeader.from_dataset(dataset_from_case(i)) for i in instances]
    assert suv_bw_factor(headers).factor == pytest.approx(EXPECTED[case], rel=1e-6)


def header(**changes) -> PetHeader:
    base = dict(
        units="BQML", decay_correction="START", corrected_image=("ATTN", "DECY"),
        series_datetime=dt.datetime(2026, 1, 1, 10, 0), acquisition_datetime=dt.datetime(2026, 1, 1, 10, 0),
        series_date=dt.date(2026, 1, 1), injection_datetime=dt.datetime(2026, 1, 1, 9, 0), injection_time=dt.time(9, 0),
        total_dose_bq=300e6, half_life_s=6586.2, weight_kg=75.0, height_m=1.8, sex="M",
        frame_reference_time_ms=0.0, actual_frame_duration_ms=120000.0,
        philips_suv_scale=None, philips_activity_scale=None, ge_post_injection_datetime=None,
    )  # fmt: skip
    base.update(changes)
    return PetHeader(**base)


def test_bqml_definition():
    f = suv_bw_factor([header()])
    decayed = 300e6 * 2 ** (-3600 / 6586.2)
    assert f.factor == pytest.approx(75000 / decayed, rel=1e-12)
    assert f.decayed_dose_bq == pytest.approx(decayed)


def test_series_time_after_acquisition_uses_earliest_acquisition():
    later = header(series_datetime=dt.datetime(2026, 1, 1, 11, 0), acquisition_datetime=dt.datetime(2026, 1, 1, 10, 0))
    assert suv_bw_factor([later]).scan_datetime == dt.datetime(2026, 1, 1, 10, 0)


def test_time_only_injection_before_midnight():
    h = header(
        injection_datetime=None, injection_time=dt.time(23, 30), series_date=dt.date(2026, 1, 2),
        series_datetime=dt.datetime(2026, 1, 2, 0, 30), acquisition_datetime=dt.datetime(2026, 1, 2, 0, 30),
    )  # fmt: skip
    f = suv_bw_factor([h])
    assert f.injection_datetime == dt.datetime(2026, 1, 1, 23, 30)
    assert f.factor == pytest.approx(75000 / (300e6 * 2 ** (-3600 / 6586.2)))


@pytest.mark.parametrize(
    "changes, reason",
    [
        (dict(weight_kg=None), "weight"),
        (dict(total_dose_bq=None), "dose"),
        (dict(half_life_s=None), "half-life"),
        (dict(injection_datetime=None, injection_time=None), "start time"),
        (dict(units="PROPCPS"), "PROPCPS"),
        (dict(corrected_image=("ATTN",)), "DECY"),
        (dict(injection_datetime=dt.datetime(2026, 1, 1, 10, 30)), "after the scan"),
    ],
)
def test_missing_information_is_reported_not_guessed(changes, reason):
    with pytest.raises(SuvUnavailable, match=reason):
        suv_bw_factor([header(**changes)])
