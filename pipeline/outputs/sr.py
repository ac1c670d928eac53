"""DICOM Comprehensive 3D SR measurement report (TID 1500) of one timepoint, built with highdicom.

One volumetric ROI measurement group (TID 1411) per measured target lesion,
whose ROI is the lesion's segment in the timepoint's SEG (see
:mod:`pipeline.outputs.seg`), with:

* Tracking Identifier = lesion id, Tracking Unique Identifier = the lesion's
  Tracking UID (the same at every timepoint and in the SEG);
* Time Point Context: ``timepoint K`` (order K + 1; type Baseline at K = 0);
* Finding: Lesion, finding site Liver (for liver targets);
* measurements: Long axis (RECIST longest axial diameter, mm, method RECIST
  1.1), Short axis (mm, RECIST 1.1), Volume (ml), mean attenuation (Hounsfield
  unit, derivation Mean) and, when the PET gave SUV, SUVbw (g/ml{SUVbw}) with
  derivation Maximum, Peak Value Within ROI and Mean. The SUV values are those
  of ``measurements.csv``: measured on the PET lesion segmented inside the CT
  lesion grown by a margin (see docs/definitions.md), not on the SEG segment itself.

Beside it, one planar measurement group per measured lesion, with the same Tracking UID, that
viewers draw as the RECIST measurement: a measurement group (TID 1501) whose Long axis and Short axis
measurements (TID 300) are each inferred from a SCOORD POLYLINE on the CT image that holds the longest
diameter (DICOM image coordinates: column, row, the top left corner of the image at 0, 0; the image
by its SOP Instance UID). This is the form OHIF and Cornerstone3D write and read for a bidirectional
measurement (a planar ROI group, TID 1410, may not carry per-measurement coordinates); its Tracking
Identifier is theirs (:data:`VIEWER_BIDIRECTIONAL`) and its Comment is the lesion id (the label they
show).

Values are the unrounded measurements (the CSV rounds them).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import highdicom as hd
import numpy as np
from pydicom import Dataset
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code

from pipeline.outputs import dicom_ids
from pipeline.records import LesionRecord, Point

MILLIMETER = codes.UCUM.Millimeter
MILLILITER = Code("ml", "UCUM", "milliliter")
HOUNSFIELD_UNIT = Code("[hnsf'U]", "UCUM", "Hounsfield unit")
ATTENUATION_COEFFICIENT = Code("112031", "DCM", "Attenuation Coefficient")
SUV_BW = codes.DCM.Suvbw
SUV_BW_UNIT = codes.UCUM.StandardizedUptakeValueBodyWeight
_ORGAN_CODES = {"liver": codes.SCT.Liver}
#: Tracking Identifier of a bidirectional measurement in OHIF / Cornerstone3D measurement reports
VIEWER_BIDIRECTIONAL = "Cornerstone3DTools@^0.1.0:Bidirectional"
COMMENT = codes.DCM.Comment
# the axes as OHIF / Cornerstone3D name them (they match the meaning, case included)
VIEWER_LONG_AXIS = Code(codes.SCT.LongAxis.value, "SCT", "Long Axis")
VIEWER_SHORT_AXIS = Code(codes.SCT.ShortAxis.value, "SCT", "Short Axis")


def image_coordinates(image: Dataset, point_lps: Point) -> tuple[float, float]:
    """SCOORD (column, row) of an LPS point on ``image`` (pixel centres at +0.5, DICOM PS3.3 C.18.6.1.1)."""
    iop = np.asarray(image.ImageOrientationPatient, dtype=float)
    spacing_row, spacing_col = (float(v) for v in image.PixelSpacing)
    d = np.asarray(point_lps, dtype=float) - np.asarray(image.ImagePositionPatient, dtype=float)
    return float(d @ iop[:3] / spacing_col + 0.5), float(d @ iop[3:] / spacing_row + 0.5)


def holding_image(images: Sequence[Dataset], point_lps: Point) -> Dataset:
    """The image whose plane is nearest to ``point_lps``."""

    def distance(image: Dataset) -> float:
        iop = np.asarray(image.ImageOrientationPatient, dtype=float)
        normal = np.cross(iop[:3], iop[3:])
        return abs(float((np.asarray(point_lps) - np.asarray(image.ImagePositionPatient, dtype=float)) @ normal))

    return min(images, key=distance)


def _axis(name: Code, length_mm: float, ends: tuple[Point, Point], image: Dataset) -> hd.sr.Measurement:
    coordinates = np.array([image_coordinates(image, p) for p in ends], dtype=float)
    return hd.sr.Measurement(
        name=name,
        value=float(length_mm),
        unit=MILLIMETER,
        method=codes.DCM.RECIST1Point1,
        referenced_coordinates=[
            hd.sr.CoordinatesForMeasurement(
                graphic_type=hd.sr.GraphicTypeValues.POLYLINE,
                graphic_data=coordinates,
                source_image=hd.sr.SourceImageForRegion.from_source_image(image),
            )
        ],
    )


def planar_group(
    r: LesionRecord, images: Sequence[Dataset], tracking_uid: str, organ: Code | None
) -> hd.sr.MeasurementsAndQualitativeEvaluations | None:
    """The RECIST long and short axes of a measured lesion as a planar group (``None`` without axes).

    The group has no time point context of its own (its Time Point Order would be the group's first
    numeric item, where viewers look for the measurement): the lesion's volumetric group, with the same
    Tracking UID, carries it.
    """
    if r.long_axis_lps_mm is None or r.short_axis_lps_mm is None:
        return None
    if r.longest_diameter_mm is None or r.short_axis_mm is None:
        return None
    image = holding_image(images, r.long_axis_lps_mm[0])
    group = hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=tracking_uid, identifier=VIEWER_BIDIRECTIONAL),
        finding_type=codes.SCT.Lesion,
        finding_sites=[hd.sr.FindingSite(organ)] if organ is not None else None,
        measurements=[
            _axis(VIEWER_LONG_AXIS, r.longest_diameter_mm, r.long_axis_lps_mm, image),
            _axis(VIEWER_SHORT_AXIS, r.short_axis_mm, r.short_axis_lps_mm, image),
        ],
    )
    group[0].ContentSequence.append(hd.sr.TextContentItem(COMMENT, r.lesion_id, hd.sr.RelationshipTypeValues.CONTAINS))
    return group


def _measurements(r: LesionRecord) -> list[hd.sr.Measurement]:
    """TID 300 measurements of one lesion (only the values it has)."""
    recist = codes.DCM.RECIST1Point1
    items: list[tuple[Code, float | None, Code, Code | None, Code | None]] = [
        (codes.SCT.LongAxis, r.longest_diameter_mm, MILLIMETER, None, recist),
        (codes.SCT.ShortAxis, r.short_axis_mm, MILLIMETER, None, recist),
        (codes.SCT.Volume, r.volume_ml, MILLILITER, None, None),
        (ATTENUATION_COEFFICIENT, r.mean_hu, HOUNSFIELD_UNIT, codes.SCT.Mean, None),
        (SUV_BW, r.suv_max, SUV_BW_UNIT, codes.SCT.Maximum, None),
        (SUV_BW, r.suv_peak, SUV_BW_UNIT, codes.DCM.PeakValueWithinROI, None),
        (SUV_BW, r.suv_mean, SUV_BW_UNIT, codes.SCT.Mean, None),
    ]
    return [
        hd.sr.Measurement(name=name, value=float(value), unit=unit, derivation=derivation, method=method)
        for name, value, unit, derivation, method in items
        if value is not None
    ]


def referenced_segment(seg: Dataset, number: int) -> hd.sr.ReferencedSegment:
    """The SR reference to segment ``number`` of ``seg`` with the source images of its frames.

    highdicom stores the segment of a one-segment SEG in the shared functional groups, where
    ``ReferencedSegment.from_segmentation`` does not look; the references are then built here.
    """
    frames = seg.PerFrameFunctionalGroupsSequence
    if all("SegmentIdentificationSequence" in f for f in frames):
        return hd.sr.ReferencedSegment.from_segmentation(seg, number)
    shared = seg.SharedFunctionalGroupsSequence[0].SegmentIdentificationSequence[0].ReferencedSegmentNumber
    if int(shared) != number:
        raise ValueError(f"segment {number} is not in the SEG (its only segment is {shared})")
    images: dict[str, hd.sr.SourceImageForSegmentation] = {}
    for frame in frames:
        for derivation in frame.get("DerivationImageSequence", []):
            for source in derivation.get("SourceImageSequence", []):
                uid = str(source.ReferencedSOPInstanceUID)
                images.setdefault(uid, hd.sr.SourceImageForSegmentation(str(source.ReferencedSOPClassUID), uid))
    return hd.sr.ReferencedSegment(
        str(seg.SOPClassUID), str(seg.SOPInstanceUID), number, source_images=list(images.values())
    )


def _device_observer() -> hd.sr.ObserverContext:
    """The observer of the report: this software, as a device."""
    return hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=dicom_ids.derived_uid("device", dicom_ids.MODEL_NAME),
            name=dicom_ids.MODEL_NAME,
            manufacturer_name=dicom_ids.MANUFACTURER,
            model_name=dicom_ids.MODEL_NAME,
        ),
    )


#: a lesion's measurement groups in the report
_Group = hd.sr.MeasurementsAndQualitativeEvaluations | hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations


def _lesion_groups(
    seg: Dataset,
    source_datasets: Sequence[Dataset],
    lesions: Sequence[LesionRecord],
    segment_numbers: Mapping[str, int],
    organs: Mapping[str, str],
    tracking_uids: Mapping[str, str],
    time_point: hd.sr.TimePointContext,
) -> list[_Group]:
    """Per measured lesion with a segment: its volumetric group (the segment) and, if any, its planar group."""
    groups: list[_Group] = []
    for r in lesions:
        if not r.measured or r.lesion_id not in segment_numbers:
            continue
        organ = _ORGAN_CODES.get(organs.get(r.lesion_id, ""))
        number, uid = segment_numbers[r.lesion_id], tracking_uids[r.lesion_id]
        groups.append(
            hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
                tracking_identifier=hd.sr.TrackingIdentifier(uid=uid, identifier=r.lesion_id),
                referenced_segment=referenced_segment(seg, number),
                time_point_context=time_point,
                finding_type=codes.SCT.Lesion,
                finding_sites=[hd.sr.FindingSite(organ)] if organ is not None else None,
                measurements=_measurements(r),
            )
        )
        planar = planar_group(r, source_datasets, uid, organ)
        if planar is not None:
            groups.append(planar)
    return groups


def build_sr(
    seg: Dataset,
    source_datasets: Sequence[Dataset],
    lesions: Sequence[LesionRecord],
    segment_numbers: Mapping[str, int],
    organs: Mapping[str, str],
    tracking_uids: Mapping[str, str],
    timepoint_index: int,
    with_pet: bool,
) -> hd.sr.Comprehensive3DSR:
    """The TID 1500 measurement report of the lesions measured at one timepoint.

    Parameters
    ----------
    seg
        The timepoint's SEG; ``segment_numbers`` gives each lesion's segment in it.
    source_datasets
        Headers of the CT instances the SEG was derived from (recorded as evidence).
    lesions
        The timepoint's lesion records; those not measured or without a segment are left out.
    organs, tracking_uids
        Each lesion's organ and Tracking UID.
    timepoint_index
        K of ``timepoint K`` (0 = baseline).
    with_pet
        Whether the timepoint's PET was used (adds the PET procedure code).
    """
    observer = _device_observer()
    time_point = hd.sr.TimePointContext(
        time_point=f"timepoint {timepoint_index}",
        time_point_type=codes.cid6146.Baseline if timepoint_index == 0 else None,
        time_point_order=timepoint_index + 1,
    )
    groups = _lesion_groups(seg, source_datasets, lesions, segment_numbers, organs, tracking_uids, time_point)
    procedures = [codes.LN.CTUnspecifiedBodyRegion] + ([codes.LN.PETUnspecifiedBodyRegion] if with_pet else [])
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=observer),
        procedure_reported=procedures,
        imaging_measurements=groups,
    )
    digest = dicom_ids.content_digest([str(seg.SOPInstanceUID), json.dumps([repr(r) for r in lesions])])
    series_uid = str(source_datasets[0].SeriesInstanceUID)
    sop_uid = dicom_ids.derived_uid("SR", series_uid, digest)
    return hd.sr.Comprehensive3DSR(
        evidence=[seg, *source_datasets],
        content=report,
        series_instance_uid=dicom_ids.derived_uid("SR series", sop_uid),
        series_number=dicom_ids.SR_SERIES_NUMBER,
        sop_instance_uid=sop_uid,
        instance_number=1,
        manufacturer=dicom_ids.MANUFACTURER,
        series_description="target lesion measurements",
        is_complete=True,
    )
