"""PET quantification: the factor that turns stored PET values into SUV.

Follows the QIBA vendor-neutral SUV pseudo-code. Definitions:

* SUVbw = C * W / D(t), where C is the activity concentration (Bq/ml) after
  the per-slice rescale, W the patient weight in grams (1 g ~ 1 ml of tissue)
  and D(t) the injected dose (Bq) decayed from the injection start to the scan
  reference time t: ``D(t) = D0 * 2 ** (-(t - t_inj) / T_half)``.
* Scan reference time: the series date/time, unless it is later than the
  earliest acquisition date/time of the series (the series was re-created
  after the scan); then the GE private post-injection date-time if present,
  else the earliest acquisition date/time.
* Units BQML: factor as above. CNTS (Philips): the private SUV scale factor
  (7053,1000) if present, else the activity concentration scale factor
  (7053,1009) times the BQML factor. GML: the values already are SUVbw.

Missing information raises :class:`SuvUnavailable` with the reason; the
pipeline then reports no SUV rather than guessing.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from pydicom.dataset import Dataset
from pydicom.tag import Tag

from pipeline import dicom_values as dv

log = logging.getLogger(__name__)

PHILIPS_SUV_SCALE = Tag(0x7053, 0x1000)
PHILIPS_ACTIVITY_SCALE = Tag(0x7053, 0x1009)
GE_POST_INJECTION_DATETIME = Tag(0x0009, 0x100D)


class SuvUnavailable(ValueError):
    """SUV cannot be computed from the headers; the message says why."""


@dataclass(frozen=True)
class PetHeader:
    """The header values of one PET instance that SUV computation needs."""

    units: str | None
    decay_correction: str | None
    corrected_image: tuple[str, ...]
    series_datetime: dt.datetime | None
    acquisition_datetime: dt.datetime | None
    series_date: dt.date | None
    injection_datetime: dt.datetime | None
    injection_time: dt.time | None
    total_dose_bq: float | None
    half_life_s: float | None
    weight_kg: float | None
    height_m: float | None
    sex: str | None
    frame_reference_time_ms: float | None
    actual_frame_duration_ms: float | None
    philips_suv_scale: float | None
    philips_activity_scale: float | None
    ge_post_injection_datetime: dt.datetime | None

    @classmethod
    def from_dataset(cls, ds: Dataset) -> PetHeader:
        drug = None
        seq = ds.get("RadiopharmaceuticalInformationSequence")
        if seq:
            drug = seq[0]
        series_date = dv.parse_date(dv.text(ds, "SeriesDate"))
        acq_date = dv.parse_date(dv.text(ds, "AcquisitionDate")) or series_date
        ge = ds.get(GE_POST_INJECTION_DATETIME)
        return cls(
            units=(dv.text(ds, "Units") or "").upper() or None,
            decay_correction=(dv.text(ds, "DecayCorrection") or "").upper() or None,
            corrected_image=dv.strings(ds, "CorrectedImage"),
            series_datetime=dv.combine(series_date, dv.parse_time(dv.text(ds, "SeriesTime"))),
            acquisition_datetime=dv.combine(acq_date, dv.parse_time(dv.text(ds, "AcquisitionTime"))),
            series_date=series_date,
            injection_datetime=dv.parse_datetime(dv.text(drug, "RadiopharmaceuticalStartDateTime")) if drug else None,
            injection_time=dv.parse_time(dv.text(drug, "RadiopharmaceuticalStartTime")) if drug else None,
            total_dose_bq=dv.number(drug, "RadionuclideTotalDose") if drug else None,
            half_life_s=dv.number(drug, "RadionuclideHalfLife") if drug else None,
            weight_kg=dv.number(ds, "PatientWeight"),
            height_m=dv.number(ds, "PatientSize"),
            sex=dv.text(ds, "PatientSex"),
            frame_reference_time_ms=dv.number(ds, "FrameReferenceTime"),
            actual_frame_duration_ms=dv.number(ds, "ActualFrameDuration"),
            philips_suv_scale=dv.to_float(ds[PHILIPS_SUV_SCALE].value) if PHILIPS_SUV_SCALE in ds else None,
            philips_activity_scale=dv.to_float(ds[PHILIPS_ACTIVITY_SCALE].value) if PHILIPS_ACTIVITY_SCALE in ds else None,
            ge_post_injection_datetime=dv.parse_datetime(str(ge.value)) if ge is not None else None,
        )


@dataclass(frozen=True)
class SuvFactor:
    """Multiply stored PET values (after rescale) by ``factor`` to get SUVbw (g/ml)."""

    factor: float
    units: str
    scan_datetime: dt.datetime | None
    injection_datetime: dt.datetime | None
    decayed_dose_bq: float | None
    weight_kg: float | None
    method: str


def _scan_datetime(headers: Sequence[PetHeader]) -> dt.datetime:
    first = headers[0]
    acquisitions = [h.acquisition_datetime for h in headers if h.acquisition_datetime is not None]
    earliest = min(acquisitions) if acquisitions else None
    if first.series_datetime is not None and (earliest is None or first.series_datetime <= earliest):
        return first.series_datetime
    if first.ge_post_injection_datetime is not None:
        return first.ge_post_injection_datetime
    if earliest is not None:
        return earliest
    raise SuvUnavailable("no series or acquisition date/time")


def _injection_datetime(first: PetHeader, scan: dt.datetime) -> dt.datetime:
    if first.injection_datetime is not None:
        return first.injection_datetime
    if first.injection_time is None:
        raise SuvUnavailable("no radiopharmaceutical start time")
    injection = dt.datetime.combine(first.series_date or scan.date(), first.injection_time)
    if injection > scan:  # time-only start after the scan: injected before midnight
        injection -= dt.timedelta(days=1)
    return injection


def _bqml_factor(headers: Sequence[PetHeader]) -> tuple[float, dt.datetime, dt.datetime, float]:
    first = headers[0]
    if first.decay_correction not in ("START", None):
        raise SuvUnavailable(f"DecayCorrection {first.decay_correction} is not supported yet")
    if first.total_dose_bq is None or first.total_dose_bq <= 0:
        raise SuvUnavailable("no injected dose (RadionuclideTotalDose)")
    if first.half_life_s is None or first.half_life_s <= 0:
        raise SuvUnavailable("no radionuclide half-life")
    if first.weight_kg is None or first.weight_kg <= 0:
        raise SuvUnavailable("no patient weight")
    scan = _scan_datetime(headers)
    injection = _injection_datetime(first, scan)
    elapsed = (scan - injection).total_seconds()
    if elapsed < 0:
        raise SuvUnavailable(f"injection time is {-elapsed:.0f} s after the scan time")
    decayed = first.total_dose_bq * 2.0 ** (-elapsed / first.half_life_s)
    return first.weight_kg * 1000.0 / decayed, scan, injection, decayed


def suv_bw_factor(headers: Sequence[PetHeader]) -> SuvFactor:
    """SUVbw factor of a PET series from its instances' headers (QIBA)."""
    if not headers:
        raise SuvUnavailable("no PET instances")
    first = headers[0]
    if first.corrected_image and not {"ATTN", "DECY"} <= set(first.corrected_image):
        raise SuvUnavailable(f"CorrectedImage {'/'.join(first.corrected_image)} lacks ATTN and DECY")
    units = first.units or ""
    if units == "BQML":
        factor, scan, injection, decayed = _bqml_factor(headers)
        return SuvFactor(factor, units, scan, injection, decayed, first.weight_kg, "QIBA BQML")
    if units == "CNTS":
        if first.philips_suv_scale:
            return SuvFactor(first.philips_suv_scale, units, None, None, None, first.weight_kg, "Philips SUV scale factor (7053,1000)")
        if first.philips_activity_scale:
            factor, scan, injection, decayed = _bqml_factor(headers)
            return SuvFactor(
                first.philips_activity_scale * factor, units, scan, injection, decayed, first.weight_kg,
                "Philips activity concentration scale factor (7053,1009) x QIBA BQML",
            )
        raise SuvUnavailable("Units CNTS without Philips scale factors (7053,1000)/(7053,1009)")
    if units == "GML":
        return SuvFactor(1.0, units, None, None, None, first.weight_kg, "values already SUVbw (Units GML)")
    raise SuvUnavailable(f"Units {units or '(missing)'} cannot be converted to SUV")
