"""Deterministic UIDs for images whose Study, Series or SOP Instance UID is empty or missing.

De-identification sometimes blanks the UIDs of valid images. Such images are
kept and given UIDs derived from their content, so that the same files always
get the same UIDs (``2.25.`` followed by the first 128 bits of a SHA-256 read
as an integer, the UUID-derived form of PS3.5 B.2):

* SOP Instance UID: the file meta's Media Storage SOP Instance UID when that is
  present, else derived from the file's path relative to the scanned folder;
* Study Instance UID: from PatientID, StudyDate and StudyTime (without a
  study date, also from the file's top-level folder below the scanned one);
* Series Instance UID: from the study, Modality, SeriesNumber,
  SeriesDescription, SeriesTime, FrameOfReferenceUID, ImageType, image size,
  pixel spacing and orientation: images agreeing in all of these are one
  series wherever they lie in the tree (a series spread over folders stays
  whole; two series differing in none of them are one, and are then refused
  by the geometry check, naming the files, rather than split wrongly).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from pathlib import Path

from pipeline.dicom.instance import InstanceHeader

UID_ROOT = "2.25."


def derived_uid(*parts: object) -> str:
    """A UID determined by ``parts`` (``2.25.<128-bit integer>``)."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8")).hexdigest()
    return UID_ROOT + str(int(digest[:32], 16))


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def _study_key(inst: InstanceHeader, root: Path) -> tuple[object, ...]:
    if inst.study_date:
        return ("study", inst.patient_id, inst.study_date, inst.study_time)
    top = _relative(inst.path, root).split("/")[0] if inst.path.parent != root else ""
    return ("study", inst.patient_id, top)


def _series_key(inst: InstanceHeader, study_uid: str) -> tuple[object, ...]:
    orientation = tuple(round(v, 3) for v in inst.orientation) if inst.orientation else None
    return (
        "series",
        study_uid,
        inst.modality,
        inst.series_number,
        inst.series_description,
        inst.series_time,
        inst.frame_of_reference_uid,
        "\\".join(inst.image_type),
        inst.rows,
        inst.columns,
        inst.pixel_spacing,
        orientation,
    )


def fill_missing_uids(instances: Sequence[InstanceHeader], root: Path) -> tuple[list[InstanceHeader], list[str]]:
    """The instances with every empty UID derived (see module docstring), and the files that needed it (relative)."""
    out: list[InstanceHeader] = []
    files: dict[str, None] = {}
    for inst in instances:
        if inst.study_uid and inst.series_uid and inst.sop_instance_uid:
            out.append(inst)
            continue
        rel = _relative(inst.path, root)
        files[rel] = None
        study = inst.study_uid or derived_uid(*_study_key(inst, root))
        series = inst.series_uid or derived_uid(*_series_key(inst, study))
        sop = inst.sop_instance_uid or derived_uid("instance", rel)
        out.append(dataclasses.replace(inst, study_uid=study, series_uid=series, sop_instance_uid=sop))
    return out, list(files)
