"""PET quantification: the factors that turn stored PET values into SUV.

Follows the QIBA vendor-neutral SUV pseudo-code and, where it goes further,
the IBSI SUV computation rules (and their reference implementation):

* ``SUV_X = C * N_X / D(t_ref)``: C the activity concentration (Bq/ml) after
  each slice's RescaleSlope/Intercept, N_X the body-size normaliser of SUV type
  X (:mod:`measurement.body_size`: grams for BW, LBM, IBW; cm^2 for BSA) and D the
  injected activity (Bq) decayed from the injection to the reference time of
  the image values, ``D(t) = D0 * 2 ** (-(t - t_inj) / T_half)``.
* DecayCorrection START (values decay-corrected to the scan start): t_ref is,
  in this order, DecayCorrectionDateTime (0018,9701) of enhanced PET; the
  Siemens private decay-correction date-time (0071,xx22); the series date/time
  unless it is later than the earliest acquisition date/time (the series was
  re-created after the scan); the GE private post-injection date-time
  (0009,xx0D); for GE, ``acquisition - FrameReferenceTime`` (GE's frame
  reference is the frame's start, as the IBSI SUV manual has it); else
  ``acquisition - (FrameReferenceTime - t_avg)`` when the frame times are
  valid (QIBA, Siemens, Philips); else the earliest acquisition date/time.
* DecayCorrection ADMIN (corrected to the injection): ``D = D0``.
* DecayCorrection NONE: each slice is referred to its own frame,
  ``t_ref = acquisition start + t_avg`` with the mean count-rate time
  ``t_avg = ln(lambda*dt / (1 - exp(-lambda*dt))) / lambda`` (frame duration dt,
  ``lambda = ln 2 / T_half``), so the factor differs per slice.
* Injection: RadiopharmaceuticalStartDateTime, else the series (or scan) date
  with RadiopharmaceuticalStartTime; a time-only start later than t_ref was on
  the previous day (scan crossing midnight).
* Units BQML: as above. CNTS (Philips): the private SUV scale factor
  (7053,1000) gives SUVbw directly; else the activity concentration scale
  factor (7053,1009) times the BQML factor. GML and CM2ML already hold an SUV of
  the type named by SUVType (absent: BW for GML, BSA for CM2ML, as DICOM
  defines SUV Type): they are never decay-corrected or divided by the dose
  again; another SUV type is obtained as ``SUV_Y = SUV_X * N_Y / N_X``.
* Plausibility repairs, each with a warning: RadionuclideTotalDose below
  1e5 "Bq" is read as MBq (1e5 to 1e6 Bq is refused as implausible);
  PatientWeight above 1000 "kg" as grams; PatientSize of 30 to 300 "m" as
  cm. Half-life: the header's, else the nuclide's (named in the radionuclide
  code or radiopharmaceutical, :mod:`pipeline.pet.nuclides`).

Missing information raises :class:`SuvUnavailable` with the reason; the
pipeline then reports no SUV rather than guessing.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from measurement import body_size
from pipeline.errors import SuvUnavailable
from pipeline.pet import nuclides
from pipeline.pet.header import (  # noqa: F401 - re-exported for callers and tests
    GE_POST_INJECTION_DATETIME,
    PHILIPS_ACTIVITY_SCALE,
    PHILIPS_SUV_SCALE,
    PetHeader,
)

SUV_UNITS = ("GML", "CM2ML")  # Units of a PET whose values are already SUV
GE_MANUFACTURER = re.compile(r"GE\b", re.I)
MIN_DOSE_BQ = 1e6  # below: not a PET activity in Bq
MAX_DOSE_MBQ = 1e5  # a value below this many "Bq" is read as MBq
MAX_WEIGHT_KG = 400.0
HALF_LIFE_TOLERANCE = 0.01
HALF_LIFE_RANGE_S = (60.0, 10 * 86400.0)  # O-15 (122 s) to I-124 (4.2 days), with margin
MAX_UPTAKE_HALF_LIVES = 6.0  # injection to the reference time of the values


class SuvType(StrEnum):
    """SUV normalisations that can be asked for (DICOM SUV Type term in ``dicom``)."""

    BW = "bw"
    LBM = "lbm"  # Janmahasatian (SUL)
    LBM_JAMES = "lbm-james"  # James, 128
    IBW = "ibw"
    BSA = "bsa"

    @property
    def dicom(self) -> str:
        return {"bw": "BW", "lbm": "LBMJANMA", "lbm-james": "LBMJAMES128", "ibw": "IBW", "bsa": "BSA"}[self.value]

    @property
    def label(self) -> str:
        return {"bw": "SUVbw", "lbm": "SUVlbm", "lbm-james": "SUVlbm-james", "ibw": "SUVibw", "bsa": "SUVbsa"}[
            self.value
        ]

    @property
    def unit(self) -> str:
        return "cm2/ml" if self is SuvType.BSA else "g/ml"


@dataclass(frozen=True)
class SuvFactor:
    """Multiply stored PET values (after each slice's rescale) by ``factor`` to get SUV of ``suv_type``.

    ``slice_factors`` (in the order of the headers given) is set when the
    factor differs between slices (DecayCorrection NONE, per-slice Philips
    scale factors); ``factor`` is then the first slice's.
    """

    factor: float
    units: str
    scan_datetime: dt.datetime | None
    injection_datetime: dt.datetime | None
    decayed_dose_bq: float | None
    weight_kg: float | None
    method: str
    suv_type: SuvType = SuvType.BW
    slice_factors: tuple[float, ...] | None = None
    decay_correction: str | None = None
    dose_bq: float | None = None
    half_life_s: float | None = None
    height_m: float | None = None
    normaliser: float | None = None  # N of suv_type: g, or cm^2 for BSA
    warnings: tuple[str, ...] = field(default=())

    def per_slice(self, n: int) -> list[float]:
        return list(self.slice_factors) if self.slice_factors else [self.factor] * n


@dataclass
class _Context:
    first: PetHeader
    warnings: list[str]
    weight: float | None = None

    def dose_bq(self) -> float:
        d = self.first.total_dose_bq
        if d is not None and not math.isfinite(d):
            raise SuvUnavailable(f"RadionuclideTotalDose {d:g} is not a finite number")
        if d is None or d <= 0:
            raise SuvUnavailable("no injected dose (RadionuclideTotalDose)")
        if d < MAX_DOSE_MBQ:
            self.warnings.append(f"RadionuclideTotalDose {d:g} is not a PET activity in Bq: read as {d:g} MBq")
            return d * 1e6
        if d < MIN_DOSE_BQ:
            raise SuvUnavailable(f"RadionuclideTotalDose {d:g} Bq is implausible (neither Bq nor MBq)")
        return d

    def weight_kg(self) -> float:
        w = self.first.weight_kg
        if w is not None and not math.isfinite(w):
            raise SuvUnavailable(f"PatientWeight {w:g} is not a finite number")
        if w is None or w <= 0:
            raise SuvUnavailable("no patient weight")
        if w > 1000.0:
            self.warnings.append(f"PatientWeight {w:g} is not in kg: read as {w:g} g")
            w /= 1000.0
        if w > MAX_WEIGHT_KG:
            raise SuvUnavailable(f"PatientWeight {w:g} kg is implausible")
        self.weight = w
        return w

    def height_m(self) -> float | None:
        h = self.first.height_m
        if h is not None and not math.isfinite(h):
            raise SuvUnavailable(f"PatientSize {h:g} is not a finite number")
        if h is None or h <= 0:
            return None
        if 30.0 <= h <= 300.0:
            self.warnings.append(f"PatientSize {h:g} is not in m: read as {h:g} cm")
            return h / 100.0
        if h > 3.0:
            raise SuvUnavailable(f"PatientSize {h:g} m is implausible")
        return h

    def safe_height_m(self) -> float | None:
        try:
            return self.height_m()
        except SuvUnavailable:
            return None

    def half_life_s(self) -> float:
        stated = self.first.half_life_s
        nuclide = nuclides.identify_nuclide(self.first.nuclide_text)
        low, high = HALF_LIFE_RANGE_S
        if stated is not None and not (math.isfinite(stated) and low <= stated <= high):
            raise SuvUnavailable(f"RadionuclideHalfLife {stated:g} s is not between {low:g} and {high:g} s")
        if stated is not None and stated > 0:
            if nuclide and abs(stated / nuclides.HALF_LIFE_S[nuclide] - 1.0) > HALF_LIFE_TOLERANCE:
                self.warnings.append(
                    f"RadionuclideHalfLife {stated:g} s differs from {nuclide} ({nuclides.HALF_LIFE_S[nuclide]:g} s); the header's value is used"
                )
            return stated
        if nuclide:
            self.warnings.append(
                f"no RadionuclideHalfLife: {nuclide} half-life {nuclides.HALF_LIFE_S[nuclide]:g} s used"
            )
            return nuclides.HALF_LIFE_S[nuclide]
        raise SuvUnavailable("no radionuclide half-life and no recognisable radionuclide")

    def normaliser(self, kind: str, weight_kg: float) -> float:
        try:
            value, notes = body_size.normaliser(kind, weight_kg, self.height_m(), self.first.sex)
        except ValueError as exc:
            raise SuvUnavailable(str(exc)) from exc
        self.warnings.extend(notes)
        return value


def mean_count_rate_time_s(duration_s: float, half_life_s: float) -> float:
    """Time after a frame's start at which the activity equals its mean over the frame (QIBA, IBSI).

    ``t_avg = ln(lambda*dt / (1 - exp(-lambda*dt))) / lambda`` with ``lambda = ln 2 / T_half``.
    """
    lam = math.log(2.0) / half_life_s
    x = lam * duration_s
    if x < 1e-9:
        return duration_s / 2.0
    return math.log(x / (1.0 - math.exp(-x))) / lam


def scan_reference_datetime(headers: Sequence[PetHeader], half_life_s: float) -> tuple[dt.datetime, str]:
    """Reference time of DecayCorrection START values, and how it was found (see module docstring)."""
    first = headers[0]
    if first.decay_correction_datetime is not None:
        return first.decay_correction_datetime, "DecayCorrectionDateTime"
    timed = [h for h in headers if h.acquisition_datetime is not None]
    earliest = min(timed, key=lambda h: h.acquisition_datetime or dt.datetime.max) if timed else None
    earliest_time = earliest.acquisition_datetime if earliest is not None else None
    if first.siemens_decay_datetime is not None:
        return first.siemens_decay_datetime, "Siemens private decay-correction date/time (0071,xx22)"
    if first.series_datetime is not None and (earliest_time is None or first.series_datetime <= earliest_time):
        return first.series_datetime, "series date/time"
    if first.ge_post_injection_datetime is not None:
        return first.ge_post_injection_datetime, "GE private post-injection date/time (0009,xx0D)"
    if earliest is None:
        raise SuvUnavailable("no series or acquisition date/time")
    assert earliest.acquisition_datetime is not None
    frt, duration = earliest.frame_reference_time_ms, earliest.actual_frame_duration_ms
    if frt is not None and not math.isfinite(frt):
        frt = None
    if duration is not None and not math.isfinite(duration):
        duration = None
    if frt and frt > 0 and GE_MANUFACTURER.match(first.manufacturer or ""):
        return earliest.acquisition_datetime - dt.timedelta(
            milliseconds=frt
        ), "GE: acquisition date/time - FrameReferenceTime (the frame's start)"
    if frt and frt > 0 and duration and duration > 0:
        offset_s = frt / 1000.0 - mean_count_rate_time_s(duration / 1000.0, half_life_s)
        return earliest.acquisition_datetime - dt.timedelta(
            seconds=offset_s
        ), "acquisition date/time - (FrameReferenceTime - mean count-rate time)"
    return earliest.acquisition_datetime, "earliest acquisition date/time (series date/time is later)"


def injection_datetime(first: PetHeader, reference: dt.datetime) -> dt.datetime:
    """Start of the injection; a time-only start after ``reference`` was on the previous day."""
    if first.injection_datetime is not None:
        return first.injection_datetime
    if first.injection_time is None:
        raise SuvUnavailable("no radiopharmaceutical start time")
    injection = dt.datetime.combine(first.series_date or reference.date(), first.injection_time)
    if injection > reference:
        injection -= dt.timedelta(days=1)
    return injection


def _check_corrections(first: PetHeader, warnings: list[str]) -> None:
    corrected = set(first.corrected_image)
    if "ATTN" not in corrected:
        raise SuvUnavailable(f"CorrectedImage {'/'.join(first.corrected_image) or '(missing)'} lacks ATTN")
    if first.decay_correction in ("START", "ADMIN") and "DECY" not in corrected:
        raise SuvUnavailable(
            f"CorrectedImage {'/'.join(first.corrected_image)} lacks DECY but DecayCorrection is {first.decay_correction}"
        )
    if first.decay_correction == "NONE" and "DECY" in corrected:
        warnings.append(
            f"DecayCorrection NONE contradicts CorrectedImage {'/'.join(first.corrected_image)} (DECY): "
            "the values are taken as not decay corrected (DecayCorrection)"
        )


def _check_uptake(elapsed_s: float, half_life_s: float, what: str) -> None:
    """Refuse an uptake time (injection to ``what``) below 0 or above :data:`MAX_UPTAKE_HALF_LIVES` half-lives."""
    if elapsed_s < 0:
        raise SuvUnavailable(f"injection time is {-elapsed_s:.0f} s after {what}")
    if elapsed_s > MAX_UPTAKE_HALF_LIVES * half_life_s:
        raise SuvUnavailable(
            f"uptake time {elapsed_s / 3600:.1f} h (injection to {what}) is more than {MAX_UPTAKE_HALF_LIVES:g} "
            f"half-lives: the injection or scan date/time is wrong"
        )


def _activity_factors(
    headers: Sequence[PetHeader], ctx: _Context, normaliser: float
) -> tuple[list[float], dict[str, object]]:
    """Per-slice ``N / D(t_ref)`` for values in Bq/ml, and what was used."""
    first = headers[0]
    _check_corrections(first, ctx.warnings)
    decay = first.decay_correction
    dose = ctx.dose_bq()
    if decay == "ADMIN":
        return [normaliser / dose] * len(headers), {
            "decayed_dose_bq": dose,
            "dose_bq": dose,
            "method": "decay corrected to administration",
        }
    if decay not in ("START", "NONE"):
        raise SuvUnavailable(f"DecayCorrection {decay or '(missing)'} is not START, ADMIN or NONE")
    half_life = ctx.half_life_s()
    if decay == "START":
        reference, how = scan_reference_datetime(headers, half_life)
        injection = injection_datetime(first, reference)
        elapsed = (reference - injection).total_seconds()
        _check_uptake(elapsed, half_life, "the scan reference time")
        decayed = dose * 2.0 ** (-elapsed / half_life)
        used = {
            "scan_datetime": reference,
            "injection_datetime": injection,
            "decayed_dose_bq": decayed,
            "method": f"decay corrected to {how}",
        }
        return [normaliser / decayed] * len(headers), used | {"dose_bq": dose, "half_life_s": half_life}
    factors = []
    injected: dt.datetime | None = None
    for h in headers:
        duration = h.actual_frame_duration_ms
        if h.acquisition_datetime is None or duration is None or not (math.isfinite(duration) and duration > 0):
            raise SuvUnavailable(
                "DecayCorrection NONE needs every slice's acquisition date/time and ActualFrameDuration"
            )
        t_ref = h.acquisition_datetime + dt.timedelta(seconds=mean_count_rate_time_s(duration / 1000.0, half_life))
        injected = injected or injection_datetime(first, t_ref)
        elapsed = (t_ref - injected).total_seconds()
        _check_uptake(elapsed, half_life, "a frame's acquisition")
        factors.append(normaliser / (dose * 2.0 ** (-elapsed / half_life)))
    earliest = min(h.acquisition_datetime for h in headers)  # type: ignore[type-var]
    used = {
        "scan_datetime": earliest,
        "injection_datetime": injected,
        "decayed_dose_bq": None,
        "dose_bq": dose,
        "half_life_s": half_life,
        "method": "not decay corrected: each slice decayed to its frame's mean count-rate time",
    }
    return factors, used


def _stored_suv_kind(first: PetHeader) -> str:
    stored = first.suv_type
    if first.units == "GML":
        if stored in (None, "BW"):
            return "BW"
        if stored in ("LBM", "LBMJANMA", "LBMJAMES128", "IBW"):
            return stored
        raise SuvUnavailable(f"Units GML with SUVType {stored} is inconsistent")
    if stored in (None, "BSA"):
        return "BSA"
    raise SuvUnavailable(f"Units CM2ML with SUVType {stored} is inconsistent")


def _stored_suv_factors(
    headers: Sequence[PetHeader], ctx: _Context, suv_type: SuvType
) -> tuple[list[float], dict[str, object]]:
    """Factors for values stored as SUV: 1, or the ratio of normalisers when the stored SUV type differs."""
    first = headers[0]
    units = first.units or ""
    stored = _stored_suv_kind(first)
    if stored == suv_type.dicom:
        factors, method = [1.0] * len(headers), f"values already {suv_type.label} (Units {units}, SUVType {stored})"
    else:
        weight = ctx.weight_kg()
        factors = [ctx.normaliser(suv_type.dicom, weight) / ctx.normaliser(stored, weight)] * len(headers)
        method = f"Units {units} hold SUV {stored}: converted to {suv_type.label} as N_{suv_type.dicom} / N_{stored}"
    return factors, {"method": method}


def _activity_suv_factors(
    headers: Sequence[PetHeader], ctx: _Context, suv_type: SuvType
) -> tuple[list[float], dict[str, object]]:
    """Factors for values in Bq/ml (BQML) or Philips counts (CNTS, through its private scale factors)."""
    units = headers[0].units or ""
    weight = ctx.weight_kg()
    normaliser = ctx.normaliser(suv_type.dicom, weight)
    scales = [s for h in headers for s in (h.philips_suv_scale, h.philips_activity_scale) if s is not None]
    if any(not (math.isfinite(s) and s > 0) for s in scales):
        raise SuvUnavailable("a Philips scale factor (7053,1000)/(7053,1009) is not a finite positive number")
    used: dict[str, object]
    if units == "CNTS" and all(h.philips_suv_scale for h in headers):
        to_type = normaliser / ctx.normaliser("BW", weight)
        factors = [h.philips_suv_scale * to_type for h in headers]  # type: ignore[operator]
        used = {
            "method": "Philips SUV scale factor (7053,1000)"
            + ("" if suv_type is SuvType.BW else f" x N_{suv_type.dicom} / N_BW")
        }
    elif units == "CNTS" and not all(h.philips_activity_scale for h in headers):
        raise SuvUnavailable("Units CNTS without Philips scale factors (7053,1000)/(7053,1009) on every slice")
    else:
        factors, used = _activity_factors(headers, ctx, normaliser)
        if units == "CNTS":
            factors = [h.philips_activity_scale * f for h, f in zip(headers, factors, strict=True)]  # type: ignore[operator]
            used["method"] = f"Philips activity concentration scale factor (7053,1009) x BQML: {used['method']}"
    used |= {"normaliser": normaliser}
    return factors, used


def suv_factor(headers: Sequence[PetHeader], suv_type: SuvType | str = SuvType.BW) -> SuvFactor:
    """The factor(s) turning a PET series' stored values into SUV of ``suv_type`` (see module docstring).

    ``headers`` are the series' slices (in the order the factors are wanted).
    """
    suv_type = SuvType(suv_type)
    if not headers:
        raise SuvUnavailable("no PET instances")
    first = headers[0]
    ctx = _Context(first, [])
    units = first.units or ""
    if units in SUV_UNITS:
        factors, used = _stored_suv_factors(headers, ctx, suv_type)
    elif units in ("BQML", "CNTS"):
        factors, used = _activity_suv_factors(headers, ctx, suv_type)
    else:
        raise SuvUnavailable(f"Units {units or '(missing)'} cannot be converted to SUV")
    distinct = len(set(factors)) > 1
    return SuvFactor(
        factor=factors[0],
        units=units,
        scan_datetime=used.get("scan_datetime"),  # type: ignore[arg-type]
        injection_datetime=used.get("injection_datetime"),  # type: ignore[arg-type]
        decayed_dose_bq=used.get("decayed_dose_bq"),  # type: ignore[arg-type]
        weight_kg=ctx.weight if ctx.weight is not None else first.weight_kg,
        method=str(used["method"]),
        suv_type=suv_type,
        slice_factors=tuple(factors) if distinct else None,
        decay_correction=first.decay_correction,
        dose_bq=used.get("dose_bq"),  # type: ignore[arg-type]
        half_life_s=used.get("half_life_s"),  # type: ignore[arg-type]
        height_m=ctx.safe_height_m(),
        normaliser=used.get("normaliser"),  # type: ignore[arg-type]
        warnings=tuple(dict.fromkeys(ctx.warnings)),
    )


def suv_bw_factor(headers: Sequence[PetHeader]) -> SuvFactor:
    """SUVbw factor of a PET series (QIBA); see :func:`suv_factor`."""
    return suv_factor(headers, SuvType.BW)
