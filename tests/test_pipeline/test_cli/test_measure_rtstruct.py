"""``measure`` with a DICOM RTSTRUCT mask: contours rasterised on the image grid (voxel centres inside), ROIs
chosen by name or number, holes by the even-odd rule; on the IBSI soft-tissue sarcoma cases the volume equals
that of the NIfTI masks distributed with them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from pipeline.cli.main import main
from pipeline.dicom.discover import discover
from pipeline.dicom.load import load_ct

RT_STRUCTURE_SET = "1.2.840.10008.5.1.4.1.1.481.3"


def measure(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict | None, str]:
    code = main(["measure", *args, "--json"])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if code == 0 else None), err


@pytest.mark.parametrize("case", ["STS_004", "STS_005"])
@pytest.mark.parametrize("modality", ["CT", "PET"])
def test_ibsi_rtstruct_volume_equals_the_nifti_mask(realdata: Path, capsys, case: str, modality: str) -> None:
    root = realdata / "ibsi_sts"
    dicom = root / "dicom" / case / modality
    code, ours, err = measure(capsys, str(dicom / "image"), str(dicom / "mask"))
    assert code == 0, err
    nifti = root / "nifti" / case
    code, ref, err = measure(capsys, str(nifti / f"{modality}_image.nii.gz"), str(nifti / f"{modality}_mask.nii.gz"))
    assert code == 0, err
    assert ours["roi_name"] == f"GTV_Mass_{modality}" and ours["label"] == 1
    assert ours["lesion"]["voxel_volume_ml"] == pytest.approx(ref["lesion"]["voxel_volume_ml"], rel=0.02)
    assert ours["lesion"]["max"] == pytest.approx(ref["lesion"]["max"], rel=1e-4)  # the same voxels


def _contour(image, corners_ijk: list[tuple[float, float]], k: int) -> list[float]:
    points = [image.TransformContinuousIndexToPhysicalPoint((i, j, float(k))) for i, j in corners_ijk]
    return [round(v, 4) for p in points for v in p]


def _square(i0: int, j0: int, i1: int, j1: int) -> list[tuple[float, float]]:
    """A square whose edges lie half a voxel outside the centres of voxels i0..i1, j0..j1."""
    return [(i0 - 0.5, j0 - 0.5), (i1 + 0.5, j0 - 0.5), (i1 + 0.5, j1 + 0.5), (i0 - 0.5, j1 + 0.5)]


def write_rtstruct(
    path: Path, ct_file: Path, rois: dict[int, tuple[str, list[list[float]]]], for_uid: str | None = None
):
    ref = pydicom.dcmread(ct_file, stop_before_pixels=True)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = RT_STRUCTURE_SET
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.Modality, ds.PatientID = "RTSTRUCT", ref.PatientID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = ref.StudyInstanceUID, generate_uid()
    frame = for_uid or ref.FrameOfReferenceUID
    series_ref = Dataset()
    series_ref.SeriesInstanceUID = ref.SeriesInstanceUID
    study_ref = Dataset()
    study_ref.RTReferencedSeriesSequence = Sequence([series_ref])
    frame_ref = Dataset()
    frame_ref.FrameOfReferenceUID = frame
    frame_ref.RTReferencedStudySequence = Sequence([study_ref])
    ds.ReferencedFrameOfReferenceSequence = Sequence([frame_ref])
    ds.StructureSetROISequence, ds.ROIContourSequence = Sequence(), Sequence()
    for number, (name, contours) in rois.items():
        roi = Dataset()
        roi.ROINumber, roi.ROIName, roi.ReferencedFrameOfReferenceUID = number, name, frame
        ds.StructureSetROISequence.append(roi)
        item = Dataset()
        item.ReferencedROINumber = number
        item.ContourSequence = Sequence()
        for data in contours:
            c = Dataset()
            c.ContourGeometricType, c.NumberOfContourPoints, c.ContourData = "CLOSED_PLANAR", len(data) // 3, data
            item.ContourSequence.append(c)
        ds.ROIContourSequence.append(item)
    ds.save_as(path, enforce_file_format=True)
    return path


@pytest.fixture
def ct_with_rtstruct(tmp_path: Path, write_series):
    files = write_series(tmp_path / "ct", "CT", n=12, rows=24)
    index = discover(tmp_path / "ct")
    image = load_ct(index.instances, index.root).image
    lesion = [_contour(image, _square(4, 5, 9, 12), k) for k in range(3, 8)]  # 6 x 8 voxels on 5 slices
    ring = [_contour(image, _square(2, 2, 13, 13), 9), _contour(image, _square(5, 5, 8, 8), 9)]  # 144 - 16
    rs = write_rtstruct(tmp_path / "rs.dcm", files[0], {1: ("Lesion", lesion), 7: ("ring", ring)})
    voxel_ml = float(np.prod(image.GetSpacing())) / 1000.0
    return tmp_path / "ct", rs, files, voxel_ml


def test_rtstruct_rois_are_chosen_and_rasterised(ct_with_rtstruct, capsys) -> None:
    ct, rs, _, voxel_ml = ct_with_rtstruct
    code, _, err = measure(capsys, str(ct), str(rs))
    assert code == 2 and "2 ROIs with contours (1 'Lesion', 7 'ring'); choose one with --roi" in err
    code, by_name, err = measure(capsys, str(ct), str(rs), "--roi", "lesion")
    assert code == 0, err
    assert (by_name["label"], by_name["roi_name"]) == (1, "Lesion")
    assert by_name["lesion"]["voxel_volume_ml"] == pytest.approx(6 * 8 * 5 * voxel_ml, rel=1e-9)
    code, by_number, _ = measure(capsys, str(ct), str(rs), "--roi", "1")
    assert by_number["lesion"] == by_name["lesion"]
    code, ring, _ = measure(capsys, str(ct), str(rs), "--roi", "7")
    assert ring["lesion"]["voxel_volume_ml"] == pytest.approx((144 - 16) * voxel_ml, rel=1e-9)  # the hole is out
    code, _, err = measure(capsys, str(ct), str(rs), "--roi", "liver")
    assert code == 2 and "no ROI 'liver' (has 1 'Lesion', 7 'ring')" in err
    code, _, err = measure(capsys, str(ct), str(rs), "--roi", "1", "--label", "3")
    assert code == 0  # --roi wins over --label for a structure set


def test_rtstruct_of_another_frame_of_reference_is_refused(ct_with_rtstruct, tmp_path: Path, capsys) -> None:
    ct, _, files, _ = ct_with_rtstruct
    index = discover(ct)
    image = load_ct(index.instances, index.root).image
    other = write_rtstruct(
        tmp_path / "other.dcm", files[0], {1: ("x", [_contour(image, _square(1, 1, 3, 3), 2)])}, generate_uid()
    )
    code, _, err = measure(capsys, str(ct), str(other))
    assert code == 2 and "frame of reference" in err and "Traceback" not in err
