"""Series selection: which CT and PET series make up each timepoint, and why every other was skipped.

A timepoint is a study (StudyInstanceUID) with at least one usable axial CT
series, ordered by study date and time; timepoint 0 is the baseline. Which
series can be measured is decided by :mod:`pipeline.dicom.series_kind`
(ORIGINAL or DERIVED axial reformats; never localizers, dose reports,
secondary captures, projections or non-axial reformats), with at least
``min_ct_slices`` slices. A series holding a few images of another orientation
(e.g. one coronal image among the axial slices of an archived reformat) keeps
its axial stack; the odd images are dropped with a note naming them
(:func:`pipeline.dicom.slices.split_orientations`). A series failing the
geometry check (:func:`pipeline.dicom.slices.check_geometry`), or with a file
whose pixel data are unreadable, stays a last-ranked candidate so that the
timepoint is not silently lost and loading names the problem.

Usable CT series are ranked: the series named by
``SelectionOptions.ct_series_uid`` (only it, when given), loadable before
broken, ORIGINAL before DERIVED, a soft-tissue reconstruction kernel before an
unknown one before a sharp (lung/bone) one, more slices, lower series number.
The PET series is the attenuation-corrected PET of the study, or of a study
whose CT shares its FrameOfReferenceUID, ranked loadable, ORIGINAL, more
slices. Every series not used is listed with its reason.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.config import SelectionOptions
from pipeline.dicom import values as dv
from pipeline.dicom.discover import DicomIndex, InstanceHeader
from pipeline.dicom.series_kind import (
    AXIAL_COSINE,
    ct_rejection,
    kernel_class,
    matches,
    origin_rank,
    pet_rejection,
)
from pipeline.dicom.slices import check_geometry, describe_files, split_orientations
from pipeline.errors import SeriesSelectionError

log = logging.getLogger(__name__)


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
    notes: tuple[str, ...] = ()  # images dropped from a series (another orientation), naming them

    @property
    def label(self) -> str:
        date = self.study_date.isoformat() if self.study_date else "no date"
        return f"timepoint {self.index} ({date})"


@dataclass(frozen=True)
class Selection:
    """Timepoints of one patient plus the studies that gave none, with every skipped series' reason."""

    timepoints: tuple[Timepoint, ...]
    dropped_studies: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = field(default=())  # (study UID, skipped)


def _ct_rank(instances: Sequence[InstanceHeader]) -> tuple[int, int, int, int, str]:
    first = instances[0]
    number = first.series_number if first.series_number is not None else 10**9
    return (origin_rank(first), kernel_class(first), -len(instances), number, first.series_uid)


def _pet_rank(instances: Sequence[InstanceHeader]) -> tuple[int, int, str]:
    return (origin_rank(instances[0]), -len(instances), instances[0].series_uid)


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
    first = instances[0]
    if first.modality == "CT":
        reason = ct_rejection(instances, options.min_ct_slices)
        return "ct", reason or matches(first, options.ct_series_uid, options.ct_description)
    if first.modality == "PT":
        reason = pet_rejection(instances)
        return "pet", reason or matches(first, options.pet_series_uid, options.pet_description)
    return "", f"modality {first.modality or '(none)'} not used"


def _axial_stack(members: list[InstanceHeader], root: Path) -> tuple[list[InstanceHeader], str | None]:
    """The series without its few images of another orientation, and a note naming those (see module docstring)."""
    if members[0].modality not in ("CT", "PT"):
        return members, None
    kept, other = split_orientations(members, AXIAL_COSINE)
    if not other:
        return members, None
    note = (
        f"{members[0].modality} series {members[0].series_uid}: {len(other)} image(s) of another orientation "
        f"dropped, the {len(kept)} axial ones kept (file {describe_files(other, root)})"
    )
    return kept, note


def _studies(
    index: DicomIndex, options: SelectionOptions, instances: Sequence[InstanceHeader] | None
) -> dict[str, dict[str, Any]]:
    """Series grouped by study and classified; per study: ct, pet, skipped, notes (lists), broken (a set of UIDs)."""
    series: dict[str, list[InstanceHeader]] = {}
    for inst in index.instances if instances is None else instances:
        series.setdefault(inst.series_uid, []).append(inst)
    studies: dict[str, dict[str, Any]] = {}
    for uid, members in sorted(series.items()):
        study = studies.setdefault(
            members[0].study_uid, {"ct": [], "pet": [], "skipped": [], "broken": set(), "notes": []}
        )
        members, note = _axial_stack(members, index.root)
        kind, reason = _classify(members, options)
        if note and not reason:
            study["notes"].append(note)
        if reason:
            study["skipped"].append((uid, f"{members[0].modality}: {reason}"))
            continue
        problem = series_problem(members, index.root)
        if problem:
            # kept as a last-ranked candidate: loading it reports the problem by name
            study["skipped"].append((uid, f"{members[0].modality}: {problem}"))
            study["broken"].add(uid)
        study[kind].append(members)
    return studies


def _join_pet_by_frame_of_reference(studies: dict[str, dict[str, Any]]) -> None:
    """Move PET in a study without CT to the study whose CT shares its frame of reference (in place)."""
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


def _study_timepoint(study_uid: str, entry: dict[str, Any]) -> Timepoint:
    """The (unnumbered) timepoint of a study with CT: its series ranked, lower-ranked usable ones noted as skipped."""
    broken = entry["broken"]
    cts = sorted(entry["ct"], key=lambda s: (s[0].series_uid in broken, *_ct_rank(s)))
    pets = sorted(entry["pet"], key=lambda s: (s[0].series_uid in broken, *_pet_rank(s)))
    skipped = list(entry["skipped"])
    for kind, ranked in (("CT", cts), ("PT", pets)):
        skipped += [
            (s[0].series_uid, f"{kind}: usable but ranked below series {ranked[0][0].series_uid}")
            for s in ranked[1:]
            if s[0].series_uid not in broken and ranked[0][0].series_uid not in broken
        ]
    first = cts[0][0]
    return Timepoint(
        -1,
        study_uid,
        dv.parse_date(first.study_date),
        dv.parse_time(first.study_time),
        tuple(tuple(s) for s in cts),
        tuple(tuple(s) for s in pets),
        tuple(skipped),
        tuple(entry["notes"]),
    )


def select(
    index: DicomIndex, options: SelectionOptions | None = None, instances: Sequence[InstanceHeader] | None = None
) -> Selection:
    """Timepoints of the (one) patient in ``instances`` (default: the whole index)."""
    studies = _studies(index, options or SelectionOptions(), instances)
    _join_pet_by_frame_of_reference(studies)
    timepoints, dropped = [], []
    for study_uid, entry in studies.items():
        entry.setdefault("broken", set())
        if not entry["ct"]:
            skipped = entry["skipped"] + [
                (p[0].series_uid, "PT: no usable CT in its study or frame of reference") for p in entry["pet"]
            ]
            dropped.append((study_uid, tuple(skipped)))
            continue
        timepoints.append(_study_timepoint(study_uid, entry))
    timepoints.sort(key=lambda t: (t.study_date or dt.date.min, t.study_time or dt.time.min, t.study_uid))
    numbered = tuple(dataclasses.replace(t, index=k) for k, t in enumerate(timepoints))
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
    return list(select_patient(index, options or SelectionOptions(min_ct_slices=min_ct_slices)).timepoints)


def select_patient(index: DicomIndex, options: SelectionOptions) -> Selection:
    """:func:`select` on the one patient of ``index`` (see :func:`select_timepoints`), with the dropped studies."""
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
    selection = select(index, options)
    for tp in selection.timepoints:
        for uid, reason in tp.skipped:
            log.info("%s: series %s skipped: %s", tp.label, uid, reason)
        for note in tp.notes:
            log.warning("%s: %s", tp.label, note)
    for study_uid, skipped in selection.dropped_studies:
        log.info("study %s has no usable CT: %s", study_uid, "; ".join(f"{u}: {r}" for u, r in skipped))
    if not selection.timepoints:
        reasons = (
            "; ".join(f"{uid}: {r}" for _, skipped in selection.dropped_studies for uid, r in skipped) or "no CT series"
        )
        raise SeriesSelectionError(f"{index.root}: no usable axial CT series ({reasons})")
    return selection
