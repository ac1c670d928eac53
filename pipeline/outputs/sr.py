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

Values are the unrounded measurements (the CSV rounds them).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import highdicom as hd
from pydicom import Dataset
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code

from pipeline.outputs import dicom_ids
from pipeline.records import LesionRecord

MILLIMETER = codes.UCUM.Millimeter
MILLILITER = Code("ml", "UCUM", "milliliter")
HOUNSFIELD_UNIT = Code("[hnsf'U]", "UCUM", "Hounsfield unit")
ATTENUATION_COEFFICIENT = Code("112031", "DCM", "Attenuation Coefficient")
SUV_BW = codes.DCM.Suvbw
SUV_BW_UNIT = codes.UCUM.StandardizedUptakeValueBodyWeight
_ORGAN_CODES = {"liver": codes.SCT.Liver}


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
    observer = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=dicom_ids.derived_uid("device", dicom_ids.MODEL_NAME),
            name=dicom_ids.MODEL_NAME,
            manufacturer_name=dicom_ids.MANUFACTURER,
            model_name=dicom_ids.MODEL_NAME,
        ),
    )
    time_point = hd.sr.TimePointContext(
        time_point=f"timepoint {timepoint_index}",
        time_point_type=codes.cid6146.Baseline if timepoint_index == 0 else None,
        time_point_order=timepoint_index + 1,
    )
    groups = []
    for r in lesions:
        if not r.measured or r.lesion_id not in segment_numbers:
            continue
        organ = _ORGAN_CODES.get(organs.get(r.lesion_id, ""))
        groups.append(
            hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
                tracking_identifier=hd.sr.TrackingIdentifier(uid=tracking_uids[r.lesion_id], identifier=r.lesion_id),
                referenced_segment=hd.sr.ReferencedSegment.from_segmentation(seg, segment_numbers[r.lesion_id]),
                time_point_context=time_point,
                finding_type=codes.SCT.Lesion,
                finding_sites=[hd.sr.FindingSite(organ)] if organ is not None else None,
                measurements=_measurements(r),
            )
        )
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
