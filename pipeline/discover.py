"""Discovery: one header-only pass over a folder tree into an index of DICOM instances.

Every regular file is tried as DICOM whatever its name or extension; empty
files, non-DICOM files and unreadable headers are skipped with a warning
naming the file (relative to the scanned folder). Pixel data are not read
here: the index holds what series selection, geometry and SUV need, so later
stages do not read headers again.
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom.errors import InvalidDicomError

from pipeline import dicom_values as dv
from pipeline.errors import InputError
from pipeline.suv import PetHeader

log = logging.getLogger(__name__)

MEDIA_DIRECTORY_STORAGE = "1.2.840.10008.1.3.10"


@dataclass(frozen=True)
class InstanceHeader:
    """The header of one DICOM instance (one file), as far as the pipeline uses it."""

    path: Path
    sop_instance_uid: str
    sop_class_uid: str
    patient_id: str
    study_uid: str
    series_uid: str
    modality: str
    series_number: int | None
    series_description: str
    study_date: str
    study_time: str
    frame_of_reference_uid: str | None
    image_type: tuple[str, ...]
    position: tuple[float, float, float] | None
    orientation: tuple[float, float, float, float, float, float] | None
    pixel_spacing: tuple[float, float] | None
    slice_thickness: float | None
    rows: int | None
    columns: int | None
    instance_number: int | None
    number_of_frames: int
    rescale_slope: float
    rescale_intercept: float
    convolution_kernel: str
    pet: PetHeader | None = None


@dataclass(frozen=True)
class DicomIndex:
    """All DICOM instances found under ``root`` plus the files that were skipped."""

    root: Path
    instances: tuple[InstanceHeader, ...]
    skipped: tuple[tuple[str, str], ...] = field(default=())  # (relative path, reason)
    files_scanned: int = 0

    def by_series(self) -> dict[str, list[InstanceHeader]]:
        groups: dict[str, list[InstanceHeader]] = defaultdict(list)
        for inst in self.instances:
            groups[inst.series_uid].append(inst)
        return dict(groups)

    def relative(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)


def _files(root: Path) -> Iterator[Path]:
    """Every regular file below ``root`` in a deterministic (sorted) order."""
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames.sort()
        for name in sorted(filenames):
            yield Path(dirpath) / name


def _int(value: object) -> int | None:
    f = dv.to_float(value)
    return int(f) if f is not None else None


def read_header(path: Path) -> InstanceHeader:
    """Read one file's header (no pixels). Raises ``InvalidDicomError`` or ``ValueError``."""
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    meta_class = str(getattr(ds.get("file_meta"), "MediaStorageSOPClassUID", "") or "")
    if meta_class == MEDIA_DIRECTORY_STORAGE or "DirectoryRecordSequence" in ds:
        raise ValueError("DICOMDIR (directory record), not an image")
    series_uid = dv.text(ds, "SeriesInstanceUID")
    study_uid = dv.text(ds, "StudyInstanceUID")
    sop_uid = dv.text(ds, "SOPInstanceUID")
    if not (series_uid and study_uid and sop_uid):
        raise ValueError("missing Study/Series/SOP Instance UID")
    modality = (dv.text(ds, "Modality") or "").upper()
    orientation = dv.numbers(ds, "ImageOrientationPatient", 6)
    return InstanceHeader(
        path=path,
        sop_instance_uid=sop_uid,
        sop_class_uid=dv.text(ds, "SOPClassUID") or "",
        patient_id=dv.text(ds, "PatientID") or "",
        study_uid=study_uid,
        series_uid=series_uid,
        modality=modality,
        series_number=_int(ds.get("SeriesNumber")),
        series_description=dv.text(ds, "SeriesDescription") or "",
        study_date=dv.text(ds, "StudyDate") or "",
        study_time=dv.text(ds, "StudyTime") or "",
        frame_of_reference_uid=dv.text(ds, "FrameOfReferenceUID"),
        image_type=dv.strings(ds, "ImageType"),
        position=dv.numbers(ds, "ImagePositionPatient", 3),  # type: ignore[arg-type]
        orientation=orientation,  # type: ignore[arg-type]
        pixel_spacing=dv.numbers(ds, "PixelSpacing", 2),  # type: ignore[arg-type]
        slice_thickness=dv.number(ds, "SliceThickness"),
        rows=_int(ds.get("Rows")),
        columns=_int(ds.get("Columns")),
        instance_number=_int(ds.get("InstanceNumber")),
        number_of_frames=_int(ds.get("NumberOfFrames")) or 1,
        rescale_slope=dv.number(ds, "RescaleSlope") or 1.0,
        rescale_intercept=dv.number(ds, "RescaleIntercept") or 0.0,
        convolution_kernel="\\".join(dv.strings(ds, "ConvolutionKernel")),
        pet=PetHeader.from_dataset(ds) if modality == "PT" else None,
    )


def discover(root: Path | str, ignore: set[Path] | None = None) -> DicomIndex:
    """Scan ``root`` recursively and index every readable DICOM instance.

    ``ignore`` lists files that are known not to be DICOM (e.g. the targets
    file) and are skipped silently.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: not a directory")
    ignore_resolved = {p.resolve() for p in (ignore or set())}
    instances: list[InstanceHeader] = []
    skipped: list[tuple[str, str]] = []
    seen_sop: dict[str, Path] = {}
    scanned = 0
    for path in _files(root):
        if path.resolve() in ignore_resolved:
            continue
        scanned += 1
        rel = str(path.relative_to(root))
        try:
            if path.stat().st_size == 0:
                raise ValueError("empty file")
            header = read_header(path)
        except InvalidDicomError:
            skipped.append((rel, "not a DICOM file"))
            continue
        except (ValueError, OSError, EOFError, AttributeError, KeyError, TypeError) as exc:
            skipped.append((rel, f"unreadable DICOM header ({exc})" if str(exc) != "empty file" else "empty file"))
            continue
        if header.sop_instance_uid in seen_sop:
            skipped.append((rel, f"duplicate of {seen_sop[header.sop_instance_uid].relative_to(root)} (same SOP Instance UID)"))
            continue
        seen_sop[header.sop_instance_uid] = path
        instances.append(header)
    for rel, reason in skipped:
        log.warning("skipped %s: %s", rel, reason)
    return DicomIndex(root, tuple(instances), tuple(skipped), scanned)
