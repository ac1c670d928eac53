"""Series selection: which CT and PET series make up each timepoint, and why every other was skipped.

A timepoint is a study (StudyInstanceUID) with at least one usable axial CT
series, ordered by study date and time; timepoint 0 is the baseline. A CT
series is usable when it is CT Image Storage (single-frame, Enhanced or Legacy
Converted Enhanced), ORIGINAL, not a localizer/scout, not a dose report,
axial (slice normal within ~20 degrees of the patient z axis), has at least
``min_ct_slices`` slices and passes the geometry check
(:func:`pipeline.dicom.slices.check_geometry`; a series failing it, or with a file
whose pixel data are unreadable, stays a last-ranked candidate so that the
timepoint is not silently lost and loading names the problem). Usable CT
series are ranked: the
series named by ``SelectionOptions.ct_series_uid`` (only it, when given), a
soft-tissue reconstruction kernel before an unknown one before a sharp
(lung/bone) one, more slices, lower series number. The PET series is the
attenuation-corrected PET (ORIGINAL, CorrectedImage ATTN) of the study, or of
a study whose CT shares its FrameOfReferenceUID. Every series not used is
listed with its reason.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.config import SelectionOptions
from pipeline.dicom import values as dv
from pipeline.dicom.discover import DicomIndex, InstanceHeader
from pipeline.dicom.slices import check_geometry
from pipeline.errors import SeriesSelectionError

log = logging.getLogger(__name__)

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
PET_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.128"
CT_SOP_CLASSES = {CT_IMAGE_STORAGE, "1.2.840.10008.5.1.4.1.1.2.1", "1.2.840.10008.5.1.4.1.1.2.2"}
PET_SOP_CLASSES = {PET_IMAGE_STORAGE, "1.2.840.10008.5.1.4.1.1.130", "1.2.840.10008.5.1.4.1.1.128.1"}
AXIAL_COSINE = 0.94  # slice normal within ~20 degrees of the patient z axis
SOFT_KERNEL = re.compile(
    r"^(B|BR|BV|BF|I|Q|J|H)[1-4]\d|STANDARD|STND|SOFT|SMOOTH|BODY|ABDOMEN|^FC0?[0-2]\d|^[ABC]$", re.I
)
SHARP_KERNEL = re.compile(
    r"^(B|BR|BL|BV|BF|I|Q|J|HR|H|D)[5-9]\d|LUNG|BONE|SHARP|EDGE|DETAIL|^FC[3-9]\d|^Y[A-D]$|^[DEL]$", re.I
)
SHARP_DESCRIPTION = re.compile(r"\bLUNG|\bBONE|\bPULM|\bHR\b|\bSHARP", re.I)


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


@dataclass(frozen=True)
class Selection:
    """Timepoints of one patient plus the studies that gave none, with every skipped series' reason."""

    timepoints: tuple[Timepoint, ...]
    dropped_studies: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = field(default=())  # (study UID, skipped)


def _slice_normal(orientation: tuple[float, ...]) -> np.ndarray:
    row, col = np.asarray(orientation[:3]), np.asarray(orientation[3:])
    return np.cross(row, col)


def kernel_class(first: InstanceHeader) -> int:
    """0 soft-tissue kernel, 1 unknown, 2 sharp (lung/bone) kernel or description."""
    kernels = [k for k in first.convolution_kernel.split("\\") if k]
    if any(SHARP_KERNEL.search(k) for k in kernels) or SHARP_DESCRIPTION.search(first.series_description):
        return 2
    if any(SOFT_KERNEL.search(k) for k in kernels):
        return 0
    return 1


def _matches(first: InstanceHeader, uid: str | None, pattern: str | None) -> str | None:
    if uid is not None and first.series_uid != uid:
        return "not the requested series UID"
    if pattern is not None and not re.search(pattern, first.series_description, re.I):
        return f"description does not match {pattern!r}"
    return None


def ct_rejection(
    instances: Sequence[InstanceHeader], min_slices: int, options: SelectionOptions | None = None
) -> str | None:
    """Why a CT series cannot be the measured series, or ``None`` if it can (geometry not checked)."""
    first = instances[0]
    kinds = set(first.image_type)
    if "LOCALIZER" in kinds or "SCOUT" in kinds:
        return "localizer/scout image"
    if first.image_type and first.image_type[0] != "ORIGINAL":
        return f"ImageType {first.image_type[0]} (derived/secondary, e.g. MPR or dose report)"
    if "DOSE" in first.series_description.upper() or kinds & {"DOSE_INFO", "SCREEN SAVE"}:
        return "dose report"
    if first.sop_class_uid not in CT_SOP_CLASSES:
        return f"SOP class {first.sop_class_uid} is not a CT image storage class"
    if first.orientation is None:
        return "missing ImageOrientationPatient"
    if abs(_slice_normal(first.orientation)[2]) < AXIAL_COSINE:
        return "not axial"
    if len(instances) < min_slices:
        return f"only {len(instances)} slices (< {min_slices})"
    if options is not None:
        return _matches(first, options.ct_series_uid, options.ct_description)
    return None


def pet_rejection(instances: Sequence[InstanceHeader], options: SelectionOptions | None = None) -> str | None:
    """Why a PET series cannot be used for quantification, or ``None`` if it can (geometry not checked)."""
    first = instances[0]
    if first.sop_class_uid not in PET_SOP_CLASSES:
        return f"SOP class {first.sop_class_uid} is not a PET image storage class"
    if first.image_type and first.image_type[0] != "ORIGINAL":
        return f"ImageType {first.image_type[0]} (derived)"
    corrected = set(first.pet.corrected_image) if first.pet else set()
    if "ATTN" not in corrected:
        return "not attenuation corrected (CorrectedImage lacks ATTN)"
    if options is not None:
        return _matches(first, options.pet_series_uid, options.pet_description)
    return None


def _ct_rank(instances: Sequence[InstanceHeader]) -> tuple[int, int, int, str]:
    first = instances[0]
    number = first.series_number if first.series_number is not None else 10**9
    return (kernel_class(first), -len(instances), number, first.series_uid)


def series_problem(instances: Sequence[InstanceHeader], root: Path | None) -> str | None:
    """Why a series of the right kind cannot be loaded (unreadable pixel data, geometry), or ``None``."""
    broken = [i for i in instances if i.pixels is None]
    if broken:
        name = broken[0].path.relative_to(root) if root and broken[0].path.is_relative_to(root) else broken[0].path
        return f"file {name}: {broken[0].pixel_problem or 'no pixel data'}" + (
            f" (and {len(broken) - 1} more)" if len(broken) > 1 else ""
        )
    stack, issues = check_geometry(instances, root)
    return None if stack is not None else "geometry: " + "; ".join(i.message for i in issues)


def _classify(instances: list[InstanceHeader], options: SelectionOptions) -> tuple[str, str | None]:
    """(kind, reason): kind "ct"/"pet" for a series of the right type, reason when it is skipped."""
    modality = instances[0].modality
    if modality == "CT":
        return "ct", ct_rejection(instances, options.min_ct_slices, options)
    if modality == "PT":
        return "pet", pet_rejection(instances, options)
    return "", f"modality {modality or '(none)'} not used"


def select(
    index: DicomIndex, options: SelectionOptions | None = None, instances: Sequence[InstanceHeader] | None = None
) -> Selection:
    """Timepoints of the (one) patient in ``instances`` (default: the whole index)."""
    options = options or SelectionOptions()
    series: dict[str, list[InstanceHeader]] = {}
    for inst in index.instances if instances is None else instances:
        series.setdefault(inst.series_uid, []).append(inst)
    studies: dict[str, dict[str, Any]] = {}  # per study: ct, pet, skipped (lists) and broken (a set of UIDs)
    for uid, members in sorted(series.items()):
        study = studies.setdefault(members[0].study_uid, {"ct": [], "pet": [], "skipped": [], "broken": set()})
        kind, reason = _classify(members, options)
        if reason:
            study["skipped"].append((uid, f"{members[0].modality}: {reason}"))
            continue
        problem = series_problem(members, index.root)
        if problem:
            # kept as a last-ranked candidate: loading it reports the problem by name
            study["skipped"].append((uid, f"{members[0].modality}: {problem}"))
            study["broken"].add(uid)
        study[kind].append(members)
    # PET in a study without CT joins the study whose CT shares its frame of reference.
    for_to_study = {
        s[0].frame_of_reference_uid: su for su, e in studies.items() for s in e["ct"] if s[0].frame_of_reference_uid
    }
    for entry in studies.values():
        if entry["ct"]:
            continue
        for pet in list(entry["pet"]):
            target = for_to_study.get(pet[0].frame_of_reference_uid)
            if target:
                studies[target]["pet"].append(pet)
                entry["pet"].remove(pet)
    timepoints, dropped = [], []
    for study_uid, entry in studies.items():
        entry.setdefault("broken", set())
        if not entry["ct"]:
            skipped = entry["skipped"] + [
                (p[0].series_uid, "PT: no usable CT in its study or frame of reference") for p in entry["pet"]
            ]
            dropped.append((study_uid, tuple(skipped)))
            continue
        broken = entry["broken"]
        cts = sorted(entry["ct"], key=lambda s: (s[0].series_uid in broken, *_ct_rank(s)))
        pets = sorted(entry["pet"], key=lambda s: (s[0].series_uid in broken, -len(s), s[0].series_uid))
        skipped = list(entry["skipped"])
        for kind, ranked in (("CT", cts), ("PT", pets)):
            skipped += [
                (s[0].series_uid, f"{kind}: usable but ranked below series {ranked[0][0].series_uid}")
                for s in ranked[1:]
                if s[0].series_uid not in broken and ranked[0][0].series_uid not in broken
            ]
        first = cts[0][0]
        timepoints.append(
            Timepoint(
                -1,
                study_uid,
                dv.parse_date(first.study_date),
                dv.parse_time(first.study_time),
                tuple(tuple(s) for s in cts),
                tuple(tuple(s) for s in pets),
                tuple(skipped),
            )
        )
    timepoints.sort(key=lambda t: (t.study_date or dt.date.min, t.study_time or dt.time.min, t.study_uid))
    numbered = tuple(
        Timepoint(k, t.study_uid, t.study_date, t.study_time, t.ct_candidates, t.pet_candidates, t.skipped)
        for k, t in enumerate(timepoints)
    )
    return Selection(numbered, tuple(dropped))


def patients(index: DicomIndex) -> dict[str, list[InstanceHeader]]:
    """The index's slices grouped by PatientID (in order of first appearance)."""
    groups: dict[str, list[InstanceHeader]] = {}
    for inst in index.instances:
        groups.setdefault(inst.patient_id, []).append(inst)
    return groups


def select_timepoints(
    index: DicomIndex, min_ct_slices: int = 10, options: SelectionOptions | None = None
) -> list[Timepoint]:
    """Timepoints of the one patient of ``index``, ordered by study date/time (see module docstring).

    Raises :class:`SeriesSelectionError` when the folder holds more than one
    patient (naming a series and file of each, not the IDs) or no usable CT.
    """
    if not index.instances:
        raise SeriesSelectionError(f"{index.root}: no DICOM files found")
    groups = patients(index)
    if len(groups) > 1:
        examples = "; ".join(
            f"series {members[0].series_uid} (file {index.relative(members[0].path)})" for members in groups.values()
        )
        raise SeriesSelectionError(
            f"{index.root}: holds {len(groups)} different PatientIDs; a study folder must hold one patient ({examples})"
        )
    if options is None:
        options = SelectionOptions(min_ct_slices=min_ct_slices)
    selection = select(index, options)
    for tp in selection.timepoints:
        for uid, reason in tp.skipped:
            log.info("%s: series %s skipped: %s", tp.label, uid, reason)
    for study_uid, skipped in selection.dropped_studies:
        log.info("study %s has no usable CT: %s", study_uid, "; ".join(f"{u}: {r}" for u, r in skipped))
    if not selection.timepoints:
        reasons = (
            "; ".join(f"{uid}: {r}" for _, skipped in selection.dropped_studies for uid, r in skipped) or "no CT series"
        )
        raise SeriesSelectionError(f"{index.root}: no usable axial CT series ({reasons})")
    return list(selection.timepoints)
