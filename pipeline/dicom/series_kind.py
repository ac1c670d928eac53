"""What kind of series a CT or PET series is: usable for measurement or not, and why.

A CT series can be measured when it is CT Image Storage (single-frame,
Enhanced or Legacy Converted Enhanced), axial (slice normal within ~20 degrees
of the patient z axis), not a localizer/scout, not a dose report, and either

* ``ORIGINAL`` (an acquisition's own reconstruction; an absent ImageType counts
  as original), or
* ``DERIVED`` and an axial reformat of the acquisition, e.g. GE's archived
  thick averages ``DERIVED\\SECONDARY\\REFORMATTED\\AVERAGE`` ("Ax 5.00mm"),
  which is what many archives keep for follow-up CT. Derived series that are
  not images of the tissue in HU are never used: projections (MIP, MinIP,
  volume rendering, SSD, curved reformats, ``PROJECTION IMAGE``), screen saves
  and secondary captures, subtraction, perfusion and material maps
  (iodine, ...).

ORIGINAL series rank before DERIVED ones (:func:`origin_rank`); the choice of
a DERIVED series is recorded with its reason. The same rules hold for PET
(PET Image Storage or Enhanced/Legacy PET, attenuation corrected), where a PET
exported already in SUV (Units GML, CM2ML) is typically marked DERIVED.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

from pipeline.dicom.instance import InstanceHeader

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
# ImageType values (after the first) of derived images that are not the tissue's values on an axial grid
NOT_TISSUE_IMAGE_TYPES = frozenset(
    {
        "MIP",
        "MINIP",
        "MIN IP",
        "MAXIP",
        "MAX IP",
        "PROJECTION IMAGE",
        "PROJECTION",
        "VOLUME",
        "VOLUME RENDERING",
        "VRT",
        "VR",
        "SSD",
        "CPR",
        "CURVED",
        "SURFACE",
        "3D",
        "SCREEN SAVE",
        "SECONDARY CAPTURE",
        "SUBTRACTION",
        "SUB",
        "PERFUSION",
        "IODINE",
        "MAP",
    }
)
NOT_TISSUE_DESCRIPTION = re.compile(
    r"\bMIP\b|\bMIN\s?IP\b|\bMAX\s?IP\b|\bVRT?\b|\b3D\b|VOLUME\s*REND|\bSSD\b|\bCPR\b|CURVED|SCREEN|\bIODINE\b|PERFUSION",
    re.I,
)


def slice_normal(orientation: Sequence[float]) -> np.ndarray:
    row, col = np.asarray(orientation[:3], dtype=float), np.asarray(orientation[3:], dtype=float)
    return np.cross(row, col)


def is_axial(first: InstanceHeader) -> bool:
    return first.orientation is not None and abs(slice_normal(first.orientation)[2]) >= AXIAL_COSINE


def _dominant(instances: Sequence[InstanceHeader]) -> InstanceHeader:
    """An image of the series' most common orientation (the first image when none has one)."""
    oriented = [i for i in instances if i.orientation is not None]
    if not oriented:
        return instances[0]
    common = Counter(tuple(round(v, 2) for v in i.orientation) for i in oriented).most_common(1)[0][0]  # type: ignore[union-attr]
    return next(i for i in oriented if tuple(round(v, 2) for v in i.orientation) == common)  # type: ignore[union-attr]


def is_derived(first: InstanceHeader) -> bool:
    return bool(first.image_type) and first.image_type[0] == "DERIVED"


def origin_rank(first: InstanceHeader) -> int:
    """0 ORIGINAL (or no ImageType), 1 DERIVED: original acquisitions are measured first."""
    return int(is_derived(first))


def image_type_text(first: InstanceHeader) -> str:
    return "\\".join(first.image_type) or "(none)"


def kernel_class(first: InstanceHeader) -> int:
    """0 soft-tissue kernel, 1 unknown, 2 sharp (lung/bone) kernel or description."""
    kernels = [k for k in first.convolution_kernel.split("\\") if k]
    if any(SHARP_KERNEL.search(k) for k in kernels) or SHARP_DESCRIPTION.search(first.series_description):
        return 2
    if any(SOFT_KERNEL.search(k) for k in kernels):
        return 0
    return 1


def _image_type_rejection(first: InstanceHeader) -> str | None:
    kinds = set(first.image_type)
    if "LOCALIZER" in kinds or "SCOUT" in kinds:
        return "localizer/scout image"
    if "DOSE" in first.series_description.upper() or kinds & {"DOSE_INFO", "SCREEN SAVE"}:
        return "dose report or screen save"
    if first.image_type and first.image_type[0] not in ("ORIGINAL", "DERIVED"):
        return f"ImageType {image_type_text(first)} is neither ORIGINAL nor DERIVED"
    if is_derived(first):
        odd = sorted(kinds & NOT_TISSUE_IMAGE_TYPES)
        if odd:
            return f"ImageType {image_type_text(first)}: {'/'.join(odd)} is not an axial image of the tissue"
        if NOT_TISSUE_DESCRIPTION.search(first.series_description):
            return f"derived series described as {first.series_description!r} (projection/rendering/map)"
    return None


def matches(first: InstanceHeader, uid: str | None, pattern: str | None) -> str | None:
    """Why a series is not the one the user asked for (UID, description pattern), or ``None``."""
    if uid is not None and first.series_uid != uid:
        return "not the requested series UID"
    if pattern is not None and not re.search(pattern, first.series_description, re.I):
        return f"description does not match {pattern!r}"
    return None


def ct_rejection(instances: Sequence[InstanceHeader], min_slices: int) -> str | None:
    """Why a CT series cannot be the measured series, or ``None`` if it can (geometry not checked)."""
    first = instances[0]
    reason = _image_type_rejection(first)
    if reason:
        return reason
    if first.sop_class_uid not in CT_SOP_CLASSES:
        return f"SOP class {first.sop_class_uid or '(none)'} is not a CT image storage class"
    if first.orientation is None and _dominant(instances).orientation is None:
        return "missing ImageOrientationPatient"
    if not is_axial(_dominant(instances)):
        return "not axial" + (" (a derived reformat)" if is_derived(first) else "")
    if len(instances) < min_slices:
        return f"only {len(instances)} slices (< {min_slices})"
    return None


def pet_rejection(instances: Sequence[InstanceHeader]) -> str | None:
    """Why a PET series cannot be used for quantification, or ``None`` if it can (geometry not checked)."""
    first = instances[0]
    if first.sop_class_uid not in PET_SOP_CLASSES:
        return f"SOP class {first.sop_class_uid or '(none)'} is not a PET image storage class"
    reason = _image_type_rejection(first)
    if reason:
        return reason
    corrected = set(first.pet.corrected_image) if first.pet else set()
    if "ATTN" not in corrected:
        return "not attenuation corrected (CorrectedImage lacks ATTN)"
    dominant = _dominant(instances)
    if dominant.orientation is not None and not is_axial(dominant):
        return "not axial" + (" (a derived reformat)" if is_derived(first) else "")
    return None


def derived_note(instances: Sequence[InstanceHeader], what: str) -> str | None:
    """Why a DERIVED series is measured (for the record and the report), ``None`` for an ORIGINAL one."""
    first = instances[0]
    if not is_derived(first):
        return None
    return (
        f"{what} series {first.series_uid} ({first.series_description or 'no description'}) is DERIVED "
        f"(ImageType {image_type_text(first)}); it is used because the study has no usable ORIGINAL axial "
        f"{what} series"
    )
