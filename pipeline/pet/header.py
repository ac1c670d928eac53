"""The header values of one PET slice (or frame) that SUV computation needs, read tolerantly.

Values are kept as stored (dose as written, weight as written); plausibility
checks and unit repairs are made, with warnings, in :mod:`pipeline.pet.suv`.
Private attributes are read from the block of their private creator:
Philips ``Philips PET Private Group`` (7053,xx00) SUV scale factor and
(7053,xx09) activity concentration scale factor; GE ``GEMS_PETD_01``
(0009,xx0D) post-injection (scan start) date-time; Siemens ``SIEMENS MED PT``
(0071,xx22) decay-correction date-time. Exports that dropped the
Philips private creator element (7053,0010) still carry the two scale factors
at (7053,1000) and (7053,1009): they are read there when the Manufacturer is
Philips (or the Units are CNTS, which only Philips writes) and no other
creator owns the block, with a note (a warning of the header pass).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass

from pydicom.dataset import Dataset
from pydicom.tag import Tag

from pipeline.dicom import values as dv

PHILIPS_CREATOR = "Philips PET Private Group"
GE_CREATOR = "GEMS_PETD_01"
SIEMENS_CREATOR = "SIEMENS MED PT"
PHILIPS_SUV_SCALE = Tag(0x7053, 0x1000)  # with the creator in (7053,0010)
PHILIPS_ACTIVITY_SCALE = Tag(0x7053, 0x1009)
GE_POST_INJECTION_DATETIME = Tag(0x0009, 0x100D)  # with the creator in (0009,0010)
SIEMENS_DECAY_DATETIME = Tag(0x0071, 0x1022)  # with the creator in (0071,0010)
PRIVATE_ELEMENTS = ((0x0009, (0x0D,)), (0x0071, (0x22,)), (0x7053, (0x00, 0x09)))
PRIVATE_TAGS = tuple(
    Tag(group, (block << 8) | element)
    for group, elements in PRIVATE_ELEMENTS
    for block in (0x10, 0x11, 0x12)
    for element in elements
) + tuple(Tag(group, block) for group, _ in PRIVATE_ELEMENTS for block in (0x10, 0x11, 0x12))
PET_UNITS = ("BQML", "CNTS", "GML", "CM2ML")
# non-standard spellings of the SUV units some exporters write (upper case, spaces, "_" and "-" removed):
# the standard Units and the SUV type they imply (None: the standard default of the Units)
SUV_UNIT_SPELLINGS = {
    "SUV": ("GML", None),
    "SUVBW": ("GML", "BW"),
    "G/ML": ("GML", None),
    "GM/ML": ("GML", None),
    "G/CC": ("GML", None),
    "SUVLBM": ("GML", "LBM"),
    "SUVIBW": ("GML", "IBW"),
    "SUVBSA": ("CM2ML", "BSA"),
    "CM2/ML": ("CM2ML", None),
}


def _units(ds: Dataset) -> tuple[str | None, str | None]:
    """(Units, SUVType), the non-standard SUV unit spellings read as the standard Units (with a note)."""
    units = (dv.text(ds, "Units") or "").upper() or None
    suv_type = (dv.text(ds, "SUVType") or "").upper() or None
    key = "".join(c for c in units or "" if c not in " _-")
    if key in SUV_UNIT_SPELLINGS and units not in PET_UNITS:
        standard, implied = SUV_UNIT_SPELLINGS[key]
        dv.note(f"Units {units!r} is not a DICOM unit: read as {standard}")
        return standard, suv_type or implied
    return units, suv_type


def _philips(ds: Dataset, element: int, manufacturer: str | None, units: str | None) -> float | None:
    """A Philips PET scale factor: from its creator's block, else at (7053,10xx) without a creator (see docstring)."""
    value = _private(ds, 0x7053, PHILIPS_CREATOR, element)
    philips = "PHILIPS" in (manufacturer or "").upper() or units == "CNTS"
    if value is None and philips and ds.get(Tag(0x7053, 0x0010)) is None:
        elem = ds.get(Tag(0x7053, 0x1000 | element))
        value = elem.value if elem is not None else None
        if value is not None:
            tag = f"(7053,{0x1000 | element:04X})"
            dv.note(f"Philips PET scale factor {tag} without its private creator: read by position")
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    return dv.to_float(value)


def _str(value: object) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)


def _private(ds: Dataset, group: int, creator: str, element: int) -> object | None:
    """A private element's value if its block belongs to ``creator``."""
    for block in range(0x10, 0x100):
        owner = ds.get(Tag(group, block))
        if owner is None:
            if block > 0x12:
                return None
            continue
        if str(owner.value).strip() == creator:
            elem = ds.get(Tag(group, (block << 8) | element))
            return elem.value if elem is not None else None
    return None


@dataclass(frozen=True)
class PetHeader:
    """PET values of one slice or frame (times are local date-times, doses as stored)."""

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
    suv_type: str | None = None
    nuclide_text: str | None = None
    decay_correction_datetime: dt.datetime | None = None
    manufacturer: str | None = None
    siemens_decay_datetime: dt.datetime | None = None

    @classmethod
    def from_dataset(cls, ds: Dataset) -> PetHeader:
        seq = ds.get("RadiopharmaceuticalInformationSequence")
        drug = seq[0] if seq else None
        code = None
        if drug is not None and drug.get("RadionuclideCodeSequence"):
            code = drug.RadionuclideCodeSequence[0]
        series_date = dv.parse_date(dv.text(ds, "SeriesDate"))
        acq_date = dv.parse_date(dv.text(ds, "AcquisitionDate")) or series_date
        acquisition = dv.parse_datetime(dv.text(ds, "AcquisitionDateTime")) or dv.combine(
            acq_date, dv.parse_time(dv.text(ds, "AcquisitionTime"))
        )
        ge = _private(ds, 0x0009, GE_CREATOR, 0x0D)
        siemens = _private(ds, 0x0071, SIEMENS_CREATOR, 0x22)
        units, suv_type = _units(ds)
        manufacturer = dv.text(ds, "Manufacturer")
        decay = (dv.text(ds, "DecayCorrection") or "").upper() or None
        decay_dt = dv.parse_datetime(dv.text(ds, "DecayCorrectionDateTime"))
        if decay is None and (dv.text(ds, "DecayCorrected") or "").upper() == "NO":
            decay = "NONE"
        elif decay is None and decay_dt is not None:
            decay = "START"
        nuclide_texts = [dv.text(code, "CodeMeaning") if code is not None else None]
        if drug is not None:
            nuclide_texts.append(dv.text(drug, "Radiopharmaceutical"))
        return cls(
            units=units,
            decay_correction=decay,
            corrected_image=dv.strings(ds, "CorrectedImage"),
            series_datetime=dv.combine(series_date, dv.parse_time(dv.text(ds, "SeriesTime"))),
            acquisition_datetime=acquisition,
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
            philips_suv_scale=_philips(ds, 0x00, manufacturer, units),
            philips_activity_scale=_philips(ds, 0x09, manufacturer, units),
            ge_post_injection_datetime=dv.parse_datetime(_str(ge)) if ge is not None else None,
            suv_type=suv_type,
            nuclide_text=" / ".join(t for t in nuclide_texts if t) or None,
            decay_correction_datetime=decay_dt,
            manufacturer=manufacturer,
            siemens_decay_datetime=dv.parse_datetime(_str(siemens)) if siemens is not None else None,
        )

    def for_frame(
        self, acquisition: dt.datetime | None, duration_ms: float | None, rescale_type: str | None
    ) -> PetHeader:
        """This header with one frame's acquisition date-time and duration (enhanced multi-frame PET)."""
        units = self.units
        if units is None and rescale_type and rescale_type.upper() in PET_UNITS:
            units = rescale_type.upper()
        return dataclasses.replace(
            self,
            units=units,
            acquisition_datetime=acquisition or self.acquisition_datetime,
            actual_frame_duration_ms=duration_ms if duration_ms is not None else self.actual_frame_duration_ms,
        )
