"""``lesion-pipeline measure``: NIfTI and DICOM SEG masks on NIfTI and DICOM images."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from pipeline.cli.main import main
from sample_data import truth
from sample_data.grid import Grid
from sample_data.shapes import Ellipsoid, Pose, as_matrix3, partial_volume, rotation_matrix

ELLIPSOID = Ellipsoid((12.3, -40.2, 7.9), (14.0, 9.0, 10.0), as_matrix3(rotation_matrix((10.0, -5.0, 35.0))))
SPACING_XYZ = (0.8, 0.8, 2.5)


def run_measure(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["measure", *args])
    out, err = capsys.readouterr()
    return code, out, err


def _write(array_zyx: np.ndarray, grid: Grid, path: Path) -> Path:
    image = sitk.GetImageFromArray(array_zyx)
    image.SetSpacing(grid.spacing_xyz_mm)
    image.SetOrigin(grid.origin_lps_mm)
    sitk.WriteImage(image, str(path))
    return path


@pytest.fixture(scope="module")
def nifti_lesion(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Grid]:
    """A partial-volume ellipsoid (fractions) and a CT-like image (100 HU liver, 40 HU lesion) as NIfTI."""
    tmp = tmp_path_factory.mktemp("nifti")
    grid = Grid.centred((20, 50, 50), SPACING_XYZ, (12.0, -40.0, 8.0))
    frac = partial_volume(ELLIPSOID, grid.points_lps((slice(None),) * 3), Pose(), SPACING_XYZ).astype(np.float32)
    mask = _write(frac, grid, tmp / "mask.nii.gz")
    image = _write((100.0 + (40.0 - 100.0) * frac).astype(np.float32), grid, tmp / "image.nii.gz")
    return image, mask, grid


def test_nifti_fractions_against_the_analytic_shape(nifti_lesion, capsys):
    image, mask, grid = nifti_lesion
    code, out, _ = run_measure(capsys, str(image), str(mask), "--json")
    assert code == 0
    result = json.loads(out)
    lesion = result["lesion"]
    assert result["mask_type"] == "fractions"
    longest = max(
        truth.axial_diameters(ELLIPSOID, Pose(), float(z - ELLIPSOID.centre_mm[2]))[0] for z in grid.slice_z_mm()
    )
    assert abs(lesion["longest_diameter_mm"] - longest) <= 0.4
    assert lesion["voxel_volume_ml"] == pytest.approx(ELLIPSOID.volume_ml, rel=0.01)
    # patient coordinates survive the NIfTI (RAS) round trip
    assert np.linalg.norm(np.array(lesion["centroid_lps_mm"]) - ELLIPSOID.centre_mm) < 0.1
    ends = np.array(lesion["long_axis_lps_mm"])
    assert np.linalg.norm(ends[1] - ends[0]) == pytest.approx(lesion["longest_diameter_mm"], abs=1e-3)
    assert 40.0 <= lesion["mean"] <= 70.0  # voxels at least half inside the lesion
    code, out, _ = run_measure(capsys, str(image), str(mask))
    assert code == 0 and "longest axial diameter" in out and "LPS mm" in out


def test_label_map_needs_a_label(nifti_lesion, tmp_path, capsys):
    image, mask, grid = nifti_lesion
    frac = sitk.GetArrayFromImage(sitk.ReadImage(str(mask)))
    labels = np.where(frac >= 0.5, 3, 0).astype(np.uint8)
    labels[0, :2, :2] = 7
    label_path = _write(labels, grid, tmp_path / "labels.nii.gz")
    code, _, err = run_measure(capsys, str(image), str(label_path))
    assert code == 2 and "2 labels (3, 7); choose one with --label N" in err and "Traceback" not in err
    code, out, _ = run_measure(capsys, str(image), str(label_path), "--label", "3", "--json")
    assert code == 0 and json.loads(out)["mask_type"] == "binary"
    code, _, err = run_measure(capsys, str(image), str(label_path), "--label", "5")
    assert code == 2 and "no label 5" in err
    code, _, err = run_measure(capsys, str(tmp_path / "nope.nii.gz"), str(label_path))
    assert code == 2 and "image not found" in err


def _write_seg(ct_files: list[Path], labels_zyx: np.ndarray, path: Path, fractional: bool = False) -> None:
    import highdicom as hd
    from pydicom.sr.codedict import codes

    datasets = sorted((pydicom.dcmread(p) for p in ct_files), key=lambda d: float(d.ImagePositionPatient[2]))
    description = hd.seg.SegmentDescription(
        segment_number=1,
        segment_label="lesion",
        segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
        segmented_property_type=codes.SCT.Lesion,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
    )
    kind = hd.seg.SegmentationTypeValues.FRACTIONAL if fractional else hd.seg.SegmentationTypeValues.BINARY
    seg = hd.seg.Segmentation(
        source_images=datasets,
        pixel_array=labels_zyx.astype(np.float32) if fractional else labels_zyx,
        segmentation_type=kind,
        segment_descriptions=[description],
        series_instance_uid=hd.UID(),
        series_number=99,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="test",
        manufacturer_model_name="test",
        software_versions="0",
        device_serial_number="0",
    )
    seg.save_as(path)


def test_dicom_seg_on_a_dicom_series_matches_the_nifti_mask(
    sample_root, ground_truth, pipeline_output, tmp_path, capsys
):
    study = sample_root / "study"
    uid = ground_truth["timepoints"][0]["ct_series_instance_uid"]
    ct_files = [p for p in study.rglob("IM*") if pydicom.dcmread(p, stop_before_pixels=True).SeriesInstanceUID == uid]
    label_map = pipeline_output / "masks" / "timepoint_0.nii.gz"
    lesion_1 = (sitk.GetArrayFromImage(sitk.ReadImage(str(label_map))) == 1).astype(np.uint8)
    _write_seg(ct_files, lesion_1, tmp_path / "seg.dcm")
    code, out, err = run_measure(capsys, str(study), str(tmp_path / "seg.dcm"), "--series", uid, "--json")
    assert code == 0, err
    from_seg = json.loads(out)["lesion"]
    code, out, _ = run_measure(capsys, str(study), str(label_map), "--label", "1", "--series", uid, "--json")
    from_nifti = json.loads(out)["lesion"]
    assert from_seg.keys() == from_nifti.keys()
    for key, value in from_nifti.items():
        assert from_seg[key] == (pytest.approx(value, abs=1e-3) if isinstance(value, float) else value), key
    assert from_seg["intensity_units"] == "HU"
    rows = {r["lesion_id"]: r for r in _measurements(pipeline_output) if r["timepoint"] == "0"}
    # the pipeline measured L1's partial-volume mask; its binary label map locates each end to half a voxel
    pixel_mm = ground_truth["timepoints"][0]["ct_grid"]["spacing_xyz_mm"][0]
    assert from_seg["longest_diameter_mm"] == pytest.approx(float(rows["L1"]["longest_diameter_mm"]), abs=pixel_mm)
    code, _, err = run_measure(capsys, str(study), str(tmp_path / "seg.dcm"))
    assert code == 2 and "choose one with --series UID" in err
    # a FRACTIONAL SEG of fractions 0/1 measures the same
    _write_seg(ct_files, lesion_1, tmp_path / "fractional.dcm", fractional=True)
    code, out, err = run_measure(capsys, str(study), str(tmp_path / "fractional.dcm"), "--series", uid, "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["mask_type"] == "fractions"
    assert result["lesion"]["longest_diameter_mm"] == pytest.approx(from_nifti["longest_diameter_mm"], abs=1e-3)
    assert result["lesion"]["voxel_volume_ml"] == pytest.approx(from_nifti["voxel_volume_ml"], rel=1e-4)


def test_pet_series_with_a_ct_mask_is_resampled_and_reported_in_suv(sample_root, ground_truth, pipeline_output, capsys):
    uid = ground_truth["timepoints"][0]["pet_series_instance_uid"]
    label_map = pipeline_output / "masks" / "timepoint_0.nii.gz"
    code, out, err = run_measure(
        capsys, str(sample_root / "study"), str(label_map), "--label", "2", "--series", uid, "--json"
    )
    assert code == 0, err
    assert "resampled onto the image" in err
    lesion = json.loads(out)["lesion"]
    truth_l2 = next(t for t in ground_truth["timepoints"][0]["lesions"] if t["lesion_id"] == "L2")
    assert lesion["intensity_units"] == "SUVbw"
    assert lesion["max"] == pytest.approx(truth_l2["suv_max_noise_free"], rel=0.2)  # 8 % noise per voxel
    assert lesion["sul_peak"] == pytest.approx(
        lesion["peak_global"] * ground_truth["timepoints"][0]["sul_per_suvbw"], rel=1e-6
    )


def _measurements(out: Path) -> list[dict[str, str]]:
    import csv

    with (out / "measurements.csv").open() as f:
        return list(csv.DictReader(f))
