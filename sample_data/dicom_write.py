"""Write synthetic CT and PET series as standard single-frame DICOM files."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, UID, ExplicitVRLittleEndian, generate_uid

from sample_data.grid import Grid
from sample_data.scenario import Patient, PetAcquisition

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
PET_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.128"


def uid(*parts: object) -> str:
    """A deterministic UID derived from ``parts`` (same parts, same UID)."""
    return generate_uid(entropy_srcs=[str(p) for p in parts])


@dataclass(frozen=True)
class StudyInfo:
    study_uid: str
    frame_of_reference_uid: str
    study_datetime: dt.datetime
    study_id: str
    accession: str


@dataclass(frozen=True)
class SeriesInfo:
    series_uid: str
    number: int
    description: str
    series_datetime: dt.datetime


def _da(t: dt.datetime) -> str:
    return t.strftime("%Y%m%d")


def _tm(t: dt.datetime) -> str:
    return t.strftime("%H%M%S.%f")


def _common(
    sop_class: str, sop_uid: str, patient: Patient, study: StudyInfo, series: SeriesInfo, modality: str
) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class)
    meta.MediaStorageSOPInstanceUID = UID(sop_uid)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.PatientName = patient.name
    ds.PatientID = patient.patient_id
    ds.PatientBirthDate = patient.birth_date
    ds.PatientSex = patient.sex
    ds.PatientWeight = f"{patient.weight_kg:.1f}"
    ds.PatientSize = f"{patient.height_m:.2f}"
    ds.StudyInstanceUID = study.study_uid
    ds.StudyDate = _da(study.study_datetime)
    ds.StudyTime = _tm(study.study_datetime)
    ds.StudyID = study.study_id
    ds.AccessionNumber = study.accession
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = "PET-CT ONCOLOGY SYNTHETIC"
    ds.Modality = modality
    ds.SeriesInstanceUID = series.series_uid
    ds.SeriesNumber = series.number
    ds.SeriesDescription = series.description
    ds.SeriesDate = _da(series.series_datetime)
    ds.SeriesTime = _tm(series.series_datetime)
    ds.PatientPosition = "HFS"
    ds.FrameOfReferenceUID = study.frame_of_reference_uid
    ds.PositionReferenceIndicator = ""
    ds.Manufacturer = "LESION-PIPELINE SYNTHETIC"
    ds.ManufacturerModelName = "Phantom Generator"
    ds.InstitutionName = "Synthetic"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    return ds


def _plane(ds: Dataset, grid: Grid, k: int) -> None:
    sx, sy, _ = grid.spacing_xyz_mm
    z = grid.origin_lps_mm[2] + k * grid.spacing_xyz_mm[2]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.ImagePositionPatient = [f"{grid.origin_lps_mm[0]:.4f}", f"{grid.origin_lps_mm[1]:.4f}", f"{z:.4f}"]
    ds.PixelSpacing = [f"{sy:.6g}", f"{sx:.6g}"]
    ds.SliceThickness = f"{grid.slice_thickness_mm:.4g}"
    ds.SliceLocation = f"{z:.4f}"
    ds.Rows = grid.shape_zyx[1]
    ds.Columns = grid.shape_zyx[2]


def ct_datasets(
    hu_zyx: np.ndarray,
    grid: Grid,
    patient: Patient,
    study: StudyInfo,
    series: SeriesInfo,
    *,
    signed: bool,
    descending: bool,
) -> list[Dataset]:
    """One CT Image Storage dataset per slice.

    ``signed`` stores int16 with intercept 0; otherwise uint16 (12 bits stored)
    with intercept -1024. ``descending`` numbers the instances head to feet.
    """
    n = hu_zyx.shape[0]
    out = []
    for k in range(n):
        ds = _common(CT_IMAGE_STORAGE, uid(series.series_uid, k), patient, study, series, "CT")
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.AcquisitionDate = _da(series.series_datetime)
        ds.AcquisitionTime = _tm(series.series_datetime)
        ds.ContentDate, ds.ContentTime = ds.AcquisitionDate, ds.AcquisitionTime
        ds.InstanceNumber = n - k if descending else k + 1
        ds.AcquisitionNumber = 1
        ds.KVP = "120"
        ds.ConvolutionKernel = "B30f"
        ds.BodyPartExamined = "ABDOMEN"
        _plane(ds, grid, k)
        hu = np.rint(hu_zyx[k])
        if signed:
            ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 15, 1
            ds.RescaleIntercept, ds.RescaleSlope = "0", "1"
            pixels = np.clip(hu, -32768, 32767).astype(np.int16)
        else:
            ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 12, 11, 0
            ds.RescaleIntercept, ds.RescaleSlope = "-1024", "1"
            pixels = np.clip(hu + 1024, 0, 4095).astype(np.uint16)
        ds.RescaleType = "HU"
        ds.WindowCenter, ds.WindowWidth = "50", "400"
        ds.PixelData = pixels.tobytes()
        out.append(ds)
    return out


def pet_datasets(
    bqml_zyx: np.ndarray,
    grid: Grid,
    patient: Patient,
    study: StudyInfo,
    series: SeriesInfo,
    acquisition: PetAcquisition,
) -> list[Dataset]:
    """One PET Image Storage dataset per slice, Units BQML, decay corrected to the series start.

    Every slice has its own RescaleSlope (maximum of the slice / 32767), as PET
    scanners store them.
    """
    n = bqml_zyx.shape[0]
    out = []
    for k in range(n):
        ds = _common(PET_IMAGE_STORAGE, uid(series.series_uid, k), patient, study, series, "PT")
        ds.ImageType = ["ORIGINAL", "PRIMARY"]
        ds.Units = "BQML"
        ds.CountsSource = "EMISSION"
        ds.SeriesType = ["WHOLE BODY", "IMAGE"]
        ds.CorrectedImage = ["DECY", "ATTN", "SCAT", "DTIM", "RAN", "NORM"]
        ds.DecayCorrection = "START"
        ds.RandomsCorrectionMethod = "DLYD"
        ds.AttenuationCorrectionMethod = "CT-based"
        ds.ScatterCorrectionMethod = "Model-based"
        ds.ReconstructionMethod = "OSEM 3i21s"
        ds.CollimatorType = "NONE"
        ds.NumberOfSlices = n
        ds.ImageIndex = k + 1
        ds.InstanceNumber = k + 1
        ds.AcquisitionDate = _da(acquisition.series_time)
        ds.AcquisitionTime = _tm(acquisition.series_time)
        ds.ContentDate, ds.ContentTime = ds.AcquisitionDate, ds.AcquisitionTime
        ds.FrameReferenceTime = "0"
        ds.ActualFrameDuration = 120000
        ds.DecayFactor = "1"
        ds.DoseCalibrationFactor = "1"
        nuclide = Dataset()
        nuclide.CodeValue, nuclide.CodingSchemeDesignator, nuclide.CodeMeaning = "C-111A1", "SRT", "^18^Fluorine"
        drug = Dataset()
        drug.Radiopharmaceutical = "Fluorodeoxyglucose"
        drug.RadiopharmaceuticalStartTime = _tm(acquisition.injection_time)
        drug.RadiopharmaceuticalStartDateTime = acquisition.injection_time.strftime("%Y%m%d%H%M%S.%f")
        drug.RadionuclideTotalDose = f"{acquisition.injected_dose_bq:.6g}"
        drug.RadionuclideHalfLife = f"{acquisition.half_life_s}"
        drug.RadionuclidePositronFraction = "0.9673"
        drug.RadionuclideCodeSequence = DicomSequence([nuclide])
        ds.RadiopharmaceuticalInformationSequence = DicomSequence([drug])
        _plane(ds, grid, k)
        values = bqml_zyx[k].astype(np.float64)
        slope = max(float(values.max()), 1e-3) / 32767.0
        ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 15, 1
        ds.RescaleIntercept = "0"
        ds.RescaleSlope = f"{slope:.8g}"
        ds.PixelData = np.clip(np.rint(values / float(ds.RescaleSlope)), -32768, 32767).astype(np.int16).tobytes()
        out.append(ds)
    return out


def save_all(datasets: list[Dataset], paths: list[Path]) -> None:
    for ds, path in zip(datasets, paths, strict=True):
        path.parent.mkdir(parents=True, exist_ok=True)
        ds.save_as(path, enforce_file_format=True)
