"""SUV factors: the eight real-scanner header cases (QIBA) and the rules they exercise."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from pipeline.pet.suv import (
    GE_POST_INJECTION_DATETIME,
    PHILIPS_ACTIVITY_SCALE,
    PHILIPS_SUV_SCALE,
    PetHeader,
    SuvType,
    SuvUnavailable,
    suv_bw_factor,
    suv_factor,
)

DATA = Path(__file__).parents[2] / "data" / "suv_headers"
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
DRUG_KEYS = (
    "RadionuclideTotalDose",
    "RadionuclideHalfLife",
    "RadiopharmaceuticalStartTime",
    "RadiopharmaceuticalStartDateTime",
)


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
        units="BQML",
        decay_correction="START",
        corrected_image=("ATTN", "DECY"),
        series_datetime=dt.datetime(2026, 1, 1, 10, 0),
        acquisition_datetime=dt.datetime(2026, 1, 1, 10, 0),
        series_date=dt.date(2026, 1, 1),
        injection_datetime=dt.datetime(2026, 1, 1, 9, 0),
        injection_time=dt.time(9, 0),
        total_dose_bq=300e6,
        half_life_s=6586.2,
        weight_kg=75.0,
        height_m=1.8,
        sex="M",
        frame_reference_time_ms=0.0,
        actual_frame_duration_ms=120000.0,
        philips_suv_scale=None,
        philips_activity_scale=None,
        ge_post_injection_datetime=None,
    )
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
        injection_datetime=None,
        injection_time=dt.time(23, 30),
        series_date=dt.date(2026, 1, 2),
        series_datetime=dt.datetime(2026, 1, 2, 0, 30),
        acquisition_datetime=dt.datetime(2026, 1, 2, 0, 30),
    )
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


# --- quirks of point 4 of the issue (QIBA / IBSI); expected values derived here from the definitions ---

W, H, D0, T = 75.0, 1.80, 300e6, 6586.2


def decayed(seconds: float, half_life: float = T, dose: float = D0) -> float:
    return dose * 2.0 ** (-seconds / half_life)


def lbm_james(w: float, h_m: float, sex: str) -> float:
    h = 100 * h_m
    return 1.10 * w - 128 * (w / h) ** 2 if sex == "M" else 1.07 * w - 148 * (w / h) ** 2


def lbm_janmahasatian(w: float, h_m: float, sex: str) -> float:
    bmi = w / h_m**2
    return 9270 * w / (6680 + 216 * bmi) if sex == "M" else 9270 * w / (8780 + 244 * bmi)


def ibw(h_m: float, sex: str) -> float:
    return 48.0 + 1.06 * (100 * h_m - 152) if sex == "M" else 45.5 + 0.91 * (100 * h_m - 152)


def bsa_cm2(w: float, h_m: float) -> float:
    return 0.007184 * w**0.425 * (100 * h_m) ** 0.725 * 1e4


def test_decay_correction_admin_uses_the_injected_dose():
    f = suv_factor([header(decay_correction="ADMIN", series_datetime=dt.datetime(2026, 1, 1, 15, 0))])
    assert f.factor == pytest.approx(W * 1000 / D0, rel=1e-12)


def test_decay_correction_none_decays_each_frame_to_its_mean_time():
    """Per frame: dose decayed to the frame start times the frame's mean decay (1/dt) * integral of 2^(-t/T)."""
    frames = [(dt.datetime(2026, 1, 1, 10, 0), 120000.0), (dt.datetime(2026, 1, 1, 10, 2), 180000.0)]
    headers = [
        header(decay_correction="NONE", corrected_image=("ATTN",), acquisition_datetime=t, actual_frame_duration_ms=d)
        for t, d in frames
    ]
    f = suv_factor(headers)
    for (start, duration_ms), got in zip(frames, f.per_slice(2), strict=True):
        seconds, dur = (start - dt.datetime(2026, 1, 1, 9, 0)).total_seconds(), duration_ms / 1000
        mean_decay = T / (dur * math.log(2)) * (1 - 2 ** (-dur / T))
        assert got == pytest.approx(W * 1000 / (decayed(seconds) * mean_decay), rel=1e-9)
    assert f.slice_factors is not None and f.slice_factors[0] != f.slice_factors[1]


def test_decay_correction_none_without_frame_times_gives_no_suv():
    with pytest.raises(SuvUnavailable, match="ActualFrameDuration"):
        suv_factor([header(decay_correction="NONE", actual_frame_duration_ms=None)])


@pytest.mark.parametrize(
    "changes, reason",
    [
        (dict(decay_correction=None), "DecayCorrection"),
        (dict(corrected_image=()), "lacks ATTN"),
        (dict(sex=None), "PatientSex"),
        (dict(height_m=None), "height"),
    ],
)
def test_lbm_needs_height_and_sex(changes, reason):
    with pytest.raises(SuvUnavailable, match=reason):
        suv_factor([header(**changes)], SuvType.LBM)


@pytest.mark.parametrize("sex", ["M", "F"])
def test_suv_types_from_bqml(sex):
    d = decayed(3600)
    expected = {
        SuvType.BW: W * 1000,
        SuvType.LBM: lbm_janmahasatian(W, H, sex) * 1000,
        SuvType.LBM_JAMES: lbm_james(W, H, sex) * 1000,
        SuvType.IBW: ibw(H, sex) * 1000,
        SuvType.BSA: bsa_cm2(W, H),
    }
    for suv_type, normaliser in expected.items():
        f = suv_factor([header(sex=sex)], suv_type)
        assert f.factor == pytest.approx(normaliser / d, rel=1e-12), suv_type
        assert f.suv_type is suv_type


def test_sex_other_uses_the_mean_of_both_formulas_and_says_so():
    f = suv_factor([header(sex="O")], SuvType.IBW)
    assert f.factor == pytest.approx((ibw(H, "M") + ibw(H, "F")) / 2 * 1000 / decayed(3600), rel=1e-12)
    assert any("PatientSex O" in w for w in f.warnings)
    assert suv_factor([header(sex="O")], SuvType.BW).warnings == ()


def test_gml_is_never_converted_twice():
    f = suv_factor([header(units="GML", suv_type=None, total_dose_bq=None, injection_datetime=None)])
    assert f.factor == 1.0 and "already SUVbw" in f.method


@pytest.mark.parametrize(
    "stored, sex, normaliser_g",
    [
        ("LBMJAMES128", "M", lambda: lbm_james(W, H, "M") * 1000),
        ("LBMJANMA", "F", lambda: lbm_janmahasatian(W, H, "F") * 1000),
        ("IBW", "O", lambda: (ibw(H, "M") + ibw(H, "F")) / 2 * 1000),
    ],
)
def test_gml_of_another_type_is_reported_as_suvbw(stored, sex, normaliser_g):
    """SUV_bw = SUV_X * N_bw / N_X; dose and times are not used (they may be absent)."""
    h = header(units="GML", suv_type=stored, sex=sex, total_dose_bq=None, injection_datetime=None, injection_time=None)
    assert suv_factor([h], SuvType.BW).factor == pytest.approx(W * 1000 / normaliser_g(), rel=1e-12)
    assert suv_factor([h], SuvType(next(t for t in SuvType if t.dicom == stored))).factor == 1.0


def test_cm2ml_holds_suvbsa():
    h = header(units="CM2ML", suv_type=None, total_dose_bq=None)
    assert suv_factor([h], SuvType.BSA).factor == 1.0
    assert suv_factor([h], SuvType.BW).factor == pytest.approx(W * 1000 / bsa_cm2(W, H), rel=1e-12)
    with pytest.raises(SuvUnavailable, match="inconsistent"):
        suv_factor([header(units="GML", suv_type="BSA")])


def test_philips_suv_scale_converted_to_lbm():
    h = header(units="CNTS", philips_suv_scale=0.0005, sex="F")
    assert suv_factor([h], SuvType.LBM).factor == pytest.approx(0.0005 * lbm_janmahasatian(W, H, "F") / W, rel=1e-12)


@pytest.mark.parametrize(
    "changes, warning",
    [
        (dict(total_dose_bq=300.0), "read as 300 MBq"),
        (dict(weight_kg=75000.0), "read as 75000 g"),
    ],
)
def test_unit_repairs_give_the_same_factor_with_a_warning(changes, warning):
    f = suv_factor([header(**changes)])
    assert f.factor == pytest.approx(W * 1000 / decayed(3600), rel=1e-12)
    assert any(warning in w for w in f.warnings)


def test_height_in_cm_is_repaired_for_lbm():
    f = suv_factor([header(height_m=180.0, sex="M")], SuvType.LBM)
    assert f.factor == pytest.approx(lbm_janmahasatian(W, H, "M") * 1000 / decayed(3600), rel=1e-12)
    assert any("read as 180 cm" in w for w in f.warnings)


def test_implausible_dose_is_refused():
    with pytest.raises(SuvUnavailable, match="implausible"):
        suv_factor([header(total_dose_bq=5e5)])


def test_half_life_from_the_nuclide_when_absent():
    f = suv_factor([header(half_life_s=None, nuclide_text="^68^Gallium / Ga-68 DOTATATE")])
    assert f.half_life_s == 4062.6
    assert f.factor == pytest.approx(W * 1000 / decayed(3600, 4062.6), rel=1e-12)
    assert any("Ga-68" in w for w in f.warnings)
    with pytest.raises(SuvUnavailable, match="half-life"):
        suv_factor([header(half_life_s=None, nuclide_text="Fluorodeoxyglucose")])


def test_half_life_disagreeing_with_the_nuclide_is_flagged():
    f = suv_factor([header(half_life_s=4062.6, nuclide_text="^18^Fluorine")])
    assert any("differs from F-18" in w for w in f.warnings)


def test_ge_private_post_injection_time_when_series_time_is_later():
    h = header(
        series_datetime=dt.datetime(2026, 1, 1, 11, 0),
        acquisition_datetime=dt.datetime(2026, 1, 1, 10, 5),
        ge_post_injection_datetime=dt.datetime(2026, 1, 1, 10, 0),
    )
    f = suv_factor([h])
    assert f.scan_datetime == dt.datetime(2026, 1, 1, 10, 0)
    assert f.factor == pytest.approx(W * 1000 / decayed(3600), rel=1e-12)


def test_frame_reference_time_gives_the_scan_start_when_series_time_is_later():
    """QIBA: scan start = acquisition - (FrameReferenceTime - mean count-rate time of the frame)."""
    duration = 180.0
    t_avg = T / math.log(2) * math.log((math.log(2) * duration / T) / (1 - 2 ** (-duration / T)))
    acq = dt.datetime(2026, 1, 1, 10, 30)
    h = header(
        series_datetime=dt.datetime(2026, 1, 1, 12, 0),
        acquisition_datetime=acq,
        frame_reference_time_ms=1_800_000.0 + 1000 * t_avg,
        actual_frame_duration_ms=1000 * duration,
    )
    f = suv_factor([h])
    assert abs((f.scan_datetime - dt.datetime(2026, 1, 1, 10, 0)).total_seconds()) < 1e-3


def test_start_datetime_preferred_over_time_only():
    h = header(injection_datetime=dt.datetime(2026, 1, 1, 0, 0), injection_time=dt.time(9, 0))
    assert suv_factor([h]).factor == pytest.approx(W * 1000 / decayed(10 * 3600), rel=1e-12)


def test_private_scale_read_only_from_its_creator_block():
    ds = Dataset()
    ds.add_new(0x70530011, "LO", "Philips PET Private Group")
    ds.add_new(0x70531100, "DS", "0.0007")
    ds.add_new(0x00090010, "LO", "SOMEONE ELSE")
    ds.add_new(0x0009100D, "DT", "20260101100000")
    h = PetHeader.from_dataset(ds)
    assert h.philips_suv_scale == pytest.approx(0.0007)
    assert h.ge_post_injection_datetime is None


def test_plain_lbm_suv_type_is_read_as_james_120_with_a_warning():
    h = header(units="GML", suv_type="LBM", sex="M", total_dose_bq=None)
    f = suv_factor([h], SuvType.BW)
    assert f.factor == pytest.approx(W / (1.10 * W - 120 * (W / (100 * H)) ** 2), rel=1e-12)
    assert any("does not name its formula" in w for w in f.warnings)
