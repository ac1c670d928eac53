"""One image slice as the pipeline sees it, and the header-only read of one file into such slices.

Only the attributes the later stages need are parsed (pydicom
``specific_tags``, ``stop_before_pixels``); the read also records where the
file's pixel data start (:class:`pipeline.dicom.pixels.PixelFormat`). Enhanced
multi-frame images give one :class:`InstanceHeader` per frame. Values are read
with :mod:`pipeline.dicom.values`; the non-conformant ones read anyway are
listed in ``value_notes``. Empty or missing Study, Series and SOP Instance
UIDs are left empty here (``missing_uids`` names them) and derived by the
header pass (:mod:`pipeline.dicom.derived_uids`), which knows the scanned folder.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import pydicom
from pydicom.tag import Tag

from pipeline.dicom import values as dv
from pipeline.dicom.multiframe import FrameAttributes, frame_attributes
from pipeline.dicom.pixels import PixelFormat, pixel_format
from pipeline.errors import PixelDataProblem
from pipeline.pet.header import PRIVATE_TAGS, PetHeader

MEDIA_DIRECTORY_STORAGE = "1.2.840.10008.1.3.10"
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
UID_ATTRIBUTES = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")


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
    series_time: str = ""
    missing_uids: tuple[str, ...] = ()  # UID attributes empty or absent in the file (derived by the header pass)
    value_notes: tuple[str, ...] = ()  # non-conformant values read anyway (see pipeline.dicom.values)

    @property
    def where(self) -> str:
        """The file (and frame) for messages."""
        return f"{self.path}" if self.frame_index is None else f"{self.path} frame {self.frame_index + 1}"


def _int(value: object) -> int | None:
    f = dv.to_float(value)
    return int(f) if f is not None else None


def read_header(path: Path) -> list[InstanceHeader]:
    """Read one file's header (no pixels): one header per frame.

    A file whose header is readable but whose pixel data are not (missing,
    truncated, wrong length, absurd size) is kept with ``pixel_problem`` set, so
    that its series can be named and refused. Raises ``InvalidDicomError``
    (not DICOM) or ``ValueError`` (unusable header: a DICOMDIR, or no image
    and no UIDs at all).
    """
    size = path.stat().st_size
    if size == 0:
        raise ValueError("empty file")
    with dv.collect_repairs() as notes:
        headers = _read(path, size)
    if notes:
        headers = [dataclasses.replace(h, value_notes=tuple(notes)) for h in headers]
    return headers


def _read(path: Path, size: int) -> list[InstanceHeader]:
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
    series_uid = dv.text(ds, "SeriesInstanceUID") or ""
    study_uid = dv.text(ds, "StudyInstanceUID") or ""
    sop_uid = dv.text(ds, "SOPInstanceUID") or dv.text(meta, "MediaStorageSOPInstanceUID") or ""
    missing = tuple(k for k, v in zip(UID_ATTRIBUTES, (study_uid, series_uid, sop_uid)) if not v)
    if len(missing) == len(UID_ATTRIBUTES) and fmt is None:
        raise ValueError("no Study, Series or SOP Instance UID and no image")
    modality = (dv.text(ds, "Modality") or "").upper()
    pet = PetHeader.from_dataset(ds) if modality == "PT" else None
    slope, intercept = dv.number(ds, "RescaleSlope"), dv.number(ds, "RescaleIntercept")
    for keyword, value in (("RescaleSlope", slope), ("RescaleIntercept", intercept)):
        if value is None and (stored := dv.text(ds, keyword)) is not None and fmt is not None:
            fmt, problem = None, f"{keyword} {stored!r} is not a number"  # never read as the default
    base = InstanceHeader(
        path=path,
        sop_instance_uid=sop_uid,
        sop_class_uid=dv.text(ds, "SOPClassUID") or meta_class,
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
        rescale_slope=_or(slope, 1.0),
        rescale_intercept=_or(intercept, 0.0),
        convolution_kernel="\\".join(dv.strings(ds, "ConvolutionKernel")),
        pet=pet,
        pixels=fmt,
        gantry_tilt_deg=dv.number(ds, "GantryDetectorTilt"),
        manufacturer=dv.text(ds, "Manufacturer") or "",
        pixel_problem=problem,
        series_time=dv.text(ds, "SeriesTime") or "",
        missing_uids=missing,
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
