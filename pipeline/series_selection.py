"""Series selection: which CT and PET series make up each timepoint, and why others were skipped.

A timepoint is a study (StudyInstanceUID) with at least one usable axial CT
series, ordered by study date and time; timepoint 0 is the baseline. A PET
series belongs to the timepoint of its study, or else of the CT that shares
its FrameOfReferenceUID.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

import numpy as np

from pipeline import dicom_values as dv
from pipeline.discover import DicomIndex, InstanceHeader
from pipeline.errors import SeriesSelectionError

log = logging.getLogger(__name__)

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
PET_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.128"
AXIAL_COSINE = 0.94  # slice normal within ~20 degrees of the patient z axis


@dataclass(frozen=True)
class Timepoint:
    """One imaging timepoint: a study with its CT (ranked candidates) and optional PET series."""

    index: int
    study_uid: str
    study_date: dt.date | None
    study_time: dt.time | None
    ct_candidates: tuple[tuple[InstanceHeader, ...], ...]
    pet_candidates: tuple[tuple[InstanceHeader, ...], ...]
    skipped: tuple[tuple[str, str], ...]  # (series UID, reason)

    @property
    def label(self) -> str:
        date = self.study_date.isoformat() if self.study_date else "no date"
        return f"timepoint {self.index} ({date})"


def _slice_normal(orientation: tuple[float, ...]) -> np.ndarray:
    row, col = np.asarray(orientation[:3]), np.asarray(orientation[3:])
    return np.cross(row, col)


def ct_rejection(instances: list[InstanceHeader], min_slices: int) -> str | None:
    """Why a CT series cannot be the measured series, or ``None`` if it can."""
    first = instances[0]
    kinds = set(first.image_type)
    if "LOCALIZER" in kinds or "SCOUT" in kinds:
        return "localizer/scout image"
    if first.image_type and first.image_type[0] != "ORIGINAL":
        return f"ImageType {first.image_type[0]} (derived/secondary, e.g. MPR or dose report)"
    if first.sop_class_uid != CT_IMAGE_STORAGE:
        return f"SOP class {first.sop_class_uid} is not single-frame CT Image Storage"
    if any(i.orientation is None or i.position is None for i in instances):
        return "missing ImageOrientationPatient/ImagePositionPatient"
    if abs(_slice_normal(first.orientation)[2]) < AXIAL_COSINE:  # type: ignore[arg-type]
        return "not axial"
    if len(instances) < min_slices:
        return f"only {len(instances)} slices (< {min_slices})"
    return None


def pet_rejection(instances: list[InstanceHeader]) -> str | None:
    """Why a PET series cannot be used for quantification, or ``None`` if it can."""
    first = instances[0]
    if first.sop_class_uid != PET_IMAGE_STORAGE:
        return f"SOP class {first.sop_class_uid} is not single-frame PET Image Storage"
    if first.image_type and first.image_type[0] != "ORIGINAL":
        return f"ImageType {first.image_type[0]} (derived)"
    corrected = set(first.pet.corrected_image) if first.pet else set()
    if "ATTN" not in corrected:
        return "not attenuation corrected (CorrectedImage lacks ATTN)"
    if any(i.orientation is None or i.position is None for i in instances):
        return "missing ImageOrientationPatient/ImagePositionPatient"
    return None


def _ct_rank(instances: list[InstanceHeader]) -> tuple[int, int, str]:
    first = instances[0]
    return (-len(instances), first.series_number if first.series_number is not None else 10**9, first.series_uid)


def select_timepoints(index: DicomIndex, min_ct_slices: int = 10) -> list[Timepoint]:
    """Group the index into timepoints ordered by study date/time.

    Raises :class:`SeriesSelectionError` when the folder holds more than one
    patient or no usable CT series at all.
    """
    if not index.instances:
        raise SeriesSelectionError(f"{index.root}: no DICOM files found")
    patients = {i.patient_id for i in index.instances}
    if len(patients) > 1:
        raise SeriesSelectionError(f"{index.root}: holds {len(patients)} different PatientIDs; a study folder must hold one patient")
    series = index.by_series()
    studies: dict[str, dict[str, list]] = {}
    for uid, instances in sorted(series.items()):
        study = studies.setdefault(instances[0].study_uid, {"ct": [], "pet": [], "skipped": []})
        modality = instances[0].modality
        if modality == "CT":
            reason, kind = ct_rejection(instances, min_ct_slices), "ct"
        elif modality == "PT":
            reason, kind = pet_rejection(instances), "pet"
        else:
            reason, kind = f"modality {modality or '(none)'} not used", ""
        if reason:
            study["skipped"].append((uid, f"{modality}: {reason}"))
        else:
            study[kind].append(instances)
    # PET in a study without CT joins the study whose CT shares its frame of reference.
    for_to_study = {
        s[0].frame_of_reference_uid: study_uid
        for study_uid, entry in studies.items()
        for s in entry["ct"]
        if s[0].frame_of_reference_uid
    }
    for study_uid, entry in list(studies.items()):
        if entry["ct"] or not entry["pet"]:
            continue
        for pet in list(entry["pet"]):
            target = for_to_study.get(pet[0].frame_of_reference_uid)
            if target:
                studies[target]["pet"].append(pet)
                entry["pet"].remove(pet)
    timepoints = []
    for study_uid, entry in studies.items():
        for uid, reason in entry["skipped"]:
            log.info("series %s skipped: %s", uid, reason)
        if not entry["ct"]:
            for pet in entry["pet"]:
                log.warning("PET series %s has no CT in its study or frame of reference; not used", pet[0].series_uid)
            continue
        first = entry["ct"][0][0]
        timepoints.append(
            Timepoint(
                index=-1,
                study_uid=study_uid,
                study_date=dv.parse_date(first.study_date),
                study_time=dv.parse_time(first.study_time),
                ct_candidates=tuple(tuple(s) for s in sorted(entry["ct"], key=_ct_rank)),
                pet_candidates=tuple(tuple(s) for s in sorted(entry["pet"], key=lambda s: (-len(s), s[0].series_uid))),
                skipped=tuple(entry["skipped"]),
            )
        )
    if not timepoints:
        reasons = "; ".join(f"{uid}: {r}" for e in studies.values() for uid, r in e["skipped"]) or "no CT series"
        raise SeriesSelectionError(f"{index.root}: no usable axial CT series ({reasons})")
    timepoints.sort(key=lambda t: (t.study_date or dt.date.min, t.study_time or dt.time.min, t.study_uid))
    return [
        Timepoint(k, t.study_uid, t.study_date, t.study_time, t.ct_candidates, t.pet_candidates, t.skipped)
        for k, t in enumerate(timepoints)
    ]
