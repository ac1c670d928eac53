"""Discovery: one header-only pass over a folder tree into an index of DICOM slices.

Every regular file is tried as DICOM whatever its name or extension (a
DICOMDIR is not needed and is itself skipped). Only the attributes the later
stages need are parsed (pydicom ``specific_tags``, ``stop_before_pixels``);
the pass also records where each file's pixel data start
(:class:`pipeline.dicom.pixels.PixelFormat`), so loading reads pixels without a
second header pass. Enhanced multi-frame images give one
:class:`InstanceHeader` per frame.

Skipped with a reason naming the file (relative to the scanned folder): empty
files, non-DICOM files, unreadable headers and second copies of an instance
(same SOP Instance UID). Image files whose pixel data are missing, truncated,
of the wrong length or of absurd size are listed with the reason too but stay
in the index (``pixel_problem``), so that their series is refused by name
rather than silently loaded with a slice missing.

Large trees are scanned by a pool of processes (pydicom's parsing is
CPU-bound, so threads do not help); results are merged in sorted file order,
so the index is the same whatever the number of workers.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections import defaultdict
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import pydicom
from pydicom.errors import InvalidDicomError
from pydicom.tag import Tag

from pipeline.config import available_cores
from pipeline.dicom import values as dv
from pipeline.dicom.multiframe import FrameAttributes, frame_attributes
from pipeline.dicom.pixels import PixelFormat, pixel_format
from pipeline.errors import InputError, PixelDataProblem
from pipeline.pet.header import PRIVATE_TAGS, PetHeader

log = logging.getLogger(__name__)

MEDIA_DIRECTORY_STORAGE = "1.2.840.10008.1.3.10"
PARALLEL_MIN_FILES = 400  # below this a process pool costs more than it saves
CHUNK_FILES = 64
HEADER_KEYWORDS = (
    "SOPClassUID",
    "SOPInstanceUID",
    "PatientID",
    "PatientSex",
    "PatientWeight",
    "PatientSize",
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "SeriesInstanceUID",
    "SeriesNumber",
    "SeriesDescription",
    "SeriesDate",
    "SeriesTime",
    "AcquisitionDate",
    "AcquisitionTime",
    "AcquisitionDateTime",
    "Modality",
    "Manufacturer",
    "FrameOfReferenceUID",
    "ImageType",
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "PixelSpacing",
    "SliceThickness",
    "GantryDetectorTilt",
    "Rows",
    "Columns",
    "NumberOfFrames",
    "InstanceNumber",
    "SamplesPerPixel",
    "PhotometricInterpretation",
    "BitsAllocated",
    "BitsStored",
    "PixelRepresentation",
    "RescaleSlope",
    "RescaleIntercept",
    "RescaleType",
    "ConvolutionKernel",
    "Units",
    "SUVType",
    "DecayCorrection",
    "CorrectedImage",
    "FrameReferenceTime",
    "ActualFrameDuration",
    "RadiopharmaceuticalInformationSequence",
    "DecayCorrectionDateTime",
    "DecayCorrected",
    "SharedFunctionalGroupsSequence",
    "PerFrameFunctionalGroupsSequence",
    "DirectoryRecordSequence",
)
SPECIFIC_TAGS = [Tag(k) for k in HEADER_KEYWORDS] + list(PRIVATE_TAGS)


@dataclass(frozen=True)
class InstanceHeader:
    """One image slice as far as the pipeline uses it: a single-frame file or one frame of a multi-frame file."""

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
    frame_index: int | None = None  # frame of a multi-frame file (0-based), None for single-frame
    pixels: PixelFormat | None = None
    gantry_tilt_deg: float | None = None
    manufacturer: str = ""
    temporal_position: int | None = None
    pixel_problem: str | None = None  # why the pixel data cannot be read (truncated, wrong length, ...)

    @property
    def where(self) -> str:
        """The file (and frame) for messages."""
        return f"{self.path}" if self.frame_index is None else f"{self.path} frame {self.frame_index + 1}"


@dataclass(frozen=True)
class DicomIndex:
    """All DICOM slices found under ``root`` plus the files that were skipped."""

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


def read_header(path: Path) -> list[InstanceHeader]:
    """Read one file's header (no pixels): one header per frame.

    A file whose header is readable but whose pixel data are not (missing,
    truncated, wrong length, absurd size) is kept with ``pixel_problem`` set, so
    that its series can be named and refused. Raises ``InvalidDicomError``
    (not DICOM) or ``ValueError`` (unusable header).
    """
    size = path.stat().st_size
    if size == 0:
        raise ValueError("empty file")
    with open(path, "rb") as fp:
        ds = pydicom.dcmread(fp, stop_before_pixels=True, specific_tags=SPECIFIC_TAGS)
        meta = getattr(ds, "file_meta", None)
        meta_class = dv.text(meta, "MediaStorageSOPClassUID") or ""
        if meta_class == MEDIA_DIRECTORY_STORAGE or "DirectoryRecordSequence" in ds:
            raise ValueError("DICOMDIR (directory record), not an image")
        problem = None
        try:
            fmt = pixel_format(ds, fp, size)
        except PixelDataProblem as exc:
            fmt, problem = None, str(exc)
    series_uid = dv.text(ds, "SeriesInstanceUID")
    study_uid = dv.text(ds, "StudyInstanceUID")
    sop_uid = dv.text(ds, "SOPInstanceUID") or dv.text(meta, "MediaStorageSOPInstanceUID")
    if not (series_uid and study_uid and sop_uid):
        raise ValueError("missing Study/Series/SOP Instance UID")
    modality = (dv.text(ds, "Modality") or "").upper()
    pet = PetHeader.from_dataset(ds) if modality == "PT" else None
    base = InstanceHeader(
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
        orientation=dv.numbers(ds, "ImageOrientationPatient", 6),  # type: ignore[arg-type]
        pixel_spacing=dv.numbers(ds, "PixelSpacing", 2),  # type: ignore[arg-type]
        slice_thickness=dv.number(ds, "SliceThickness"),
        rows=fmt.rows if fmt else _int(dv.number(ds, "Rows")),
        columns=fmt.columns if fmt else _int(dv.number(ds, "Columns")),
        instance_number=_int(ds.get("InstanceNumber")),
        number_of_frames=fmt.number_of_frames if fmt else 1,
        rescale_slope=_or(dv.number(ds, "RescaleSlope"), 1.0),
        rescale_intercept=_or(dv.number(ds, "RescaleIntercept"), 0.0),
        convolution_kernel="\\".join(dv.strings(ds, "ConvolutionKernel")),
        pet=pet,
        pixels=fmt,
        gantry_tilt_deg=dv.number(ds, "GantryDetectorTilt"),
        manufacturer=dv.text(ds, "Manufacturer") or "",
        pixel_problem=problem,
    )
    if fmt is None or (fmt.number_of_frames == 1 and "PerFrameFunctionalGroupsSequence" not in ds):
        return [base]
    return [_frame_header(base, k, f) for k, f in enumerate(frame_attributes(ds))]


def _or(value: float | None, default: float) -> float:
    return default if value is None else value


def _frame_header(base: InstanceHeader, k: int, f: FrameAttributes) -> InstanceHeader:
    pet = base.pet.for_frame(f.acquisition_datetime, f.duration_ms, f.rescale_type) if base.pet else None
    return dataclasses.replace(
        base,
        frame_index=k,
        # values.numbers gives exactly 3, 6 and 2 values (or None)
        position=cast(tuple[float, float, float] | None, f.position),
        orientation=cast(tuple[float, float, float, float, float, float] | None, f.orientation),
        pixel_spacing=cast(tuple[float, float] | None, f.pixel_spacing),
        slice_thickness=f.slice_thickness,
        rescale_slope=_or(f.rescale_slope, 1.0),
        rescale_intercept=_or(f.rescale_intercept, 0.0),
        pet=pet,
        temporal_position=f.temporal_position,
    )


def _scan_one(path: Path) -> list[InstanceHeader] | str:
    """Headers of one file, or the reason it is skipped."""
    try:
        return read_header(path)
    except InvalidDicomError:
        return "not a DICOM file"
    except PixelDataProblem as exc:
        return str(exc)
    except (ValueError, OSError, EOFError, AttributeError, KeyError, TypeError, IndexError) as exc:
        return "empty file" if str(exc) == "empty file" else f"unreadable DICOM header ({exc})"
    except Exception as exc:
        return f"unreadable DICOM header ({type(exc).__name__}: {exc})"


def _scan_chunk(paths: Sequence[Path]) -> list[list[InstanceHeader] | str]:
    return [_scan_one(p) for p in paths]


def _scan(paths: list[Path], workers: int) -> list[list[InstanceHeader] | str]:
    if workers <= 1 or len(paths) < PARALLEL_MIN_FILES:
        return _scan_chunk(paths)
    chunks = [paths[i : i + CHUNK_FILES] for i in range(0, len(paths), CHUNK_FILES)]
    try:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            return [result for chunk in pool.map(_scan_chunk, chunks) for result in chunk]
    except (OSError, NotImplementedError, BrokenProcessPool) as exc:  # no process pool on this system
        log.debug("header scan in one process (process pool unavailable: %s)", exc)
        return _scan_chunk(paths)


def default_workers() -> int:
    """Processes for the header scan: the CPUs this process may use, at most 4."""
    return max(1, min(4, available_cores()))


def discover(root: Path | str, ignore: set[Path] | None = None, workers: int | None = None) -> DicomIndex:
    """Scan ``root`` recursively and index every readable DICOM slice.

    ``ignore`` lists files that are known not to be DICOM (e.g. the targets
    file) and are skipped silently. ``workers``: processes for the header scan
    (default :func:`default_workers`; 1 = in this process).
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: not a directory")
    ignore_resolved = {p.resolve() for p in (ignore or set())}
    paths = [p for p in _files(root) if not ignore_resolved or p.resolve() not in ignore_resolved]
    results = _scan(paths, default_workers() if workers is None else workers)
    instances: list[InstanceHeader] = []
    skipped: list[tuple[str, str]] = []
    seen_sop: dict[str, Path] = {}
    for path, result in zip(paths, results, strict=True):
        rel = str(path.relative_to(root))
        if isinstance(result, str):
            skipped.append((rel, result))
            continue
        sop = result[0].sop_instance_uid
        if sop in seen_sop:
            skipped.append((rel, f"duplicate of {seen_sop[sop].relative_to(root)} (same SOP Instance UID)"))
            continue
        seen_sop[sop] = path
        instances.extend(result)
        if result[0].pixel_problem:
            skipped.append((rel, f"pixel data unusable: {result[0].pixel_problem} (its series cannot be loaded)"))
    for rel, reason in skipped:
        log.warning("skipped %s: %s", rel, reason)
    return DicomIndex(root, tuple(instances), tuple(skipped), len(paths))
