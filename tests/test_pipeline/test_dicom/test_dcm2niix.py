"""``convert`` agrees with an independent reader, dcm2niix: identical voxel values at the same world
coordinates (RAS), whatever voxel order each tool chooses."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import dcm2niix
import nibabel as nib
import numpy as np
import pydicom
import pytest

from pipeline.dicom.convert import convert
from pipeline.dicom.discover import discover


def run_dcm2niix(series_dir: Path, out_dir: Path) -> nib.Nifti1Image:
    out_dir.mkdir()
    subprocess.run(
        [str(dcm2niix.bin), "-z", "n", "-b", "n", "-f", "ref", "-o", str(out_dir), str(series_dir)],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    (nifti,) = out_dir.glob("*.nii")
    return nib.load(nifti)


def aligned(theirs: np.ndarray, affine_ours: np.ndarray, affine_theirs: np.ndarray) -> np.ndarray:
    """``theirs`` re-indexed onto our voxel grid; fails unless the grids coincide (axis permutation and flips)."""
    m = np.linalg.inv(affine_theirs) @ affine_ours  # our voxel -> their voxel
    p = np.rint(m[:3, :3])
    np.testing.assert_allclose(m[:3, :3], p, atol=1e-3, err_msg="voxel grids are not aligned")
    axes = [int(np.flatnonzero(p[:, a])[0]) for a in range(3)]
    out = np.transpose(theirs, axes)
    for a in range(3):
        b = axes[a]
        if p[b, a] < 0:
            assert abs(m[b, 3] - (theirs.shape[b] - 1)) < 1e-2
            out = np.flip(out, axis=a)
        else:
            assert abs(m[b, 3]) < 1e-2
    return out


def _series_dir(sample_root: Path, series_uid: str, tmp_path: Path) -> Path:
    index = discover(sample_root / "study", workers=1)
    folder = tmp_path / "series"
    folder.mkdir()
    for inst in index.by_series()[series_uid]:
        shutil.copy(inst.path, folder / inst.path.name)
    return folder


@pytest.mark.parametrize("k, modality", [(0, "ct"), (2, "ct"), (0, "pet")])
def test_convert_matches_dcm2niix(sample_root: Path, ground_truth: dict, tmp_path: Path, k: int, modality: str) -> None:
    uid = ground_truth["timepoints"][k][f"{modality}_series_instance_uid"]
    folder = _series_dir(sample_root, uid, tmp_path)
    convert(folder, tmp_path / "ours.nii", suv="none")
    ours = nib.load(tmp_path / "ours.nii")
    theirs = run_dcm2niix(folder, tmp_path / "dcm2niix")
    ours_values = np.asarray(ours.dataobj, dtype=np.float64)
    theirs_values = aligned(np.asarray(theirs.dataobj, dtype=np.float64).squeeze(), ours.affine, theirs.affine)
    assert ours_values.shape == theirs_values.shape
    if modality == "ct":
        np.testing.assert_array_equal(ours_values, theirs_values)  # HU, integers
    else:
        np.testing.assert_allclose(ours_values, theirs_values, rtol=1e-5, atol=1e-3)  # Bq/ml, per-slice slopes
    # the same voxel has the same world coordinate in both files ...
    rng = np.random.default_rng(0)
    voxels = np.column_stack([rng.integers(0, n, 20) for n in ours_values.shape] + [np.ones(20)])
    m = np.linalg.inv(theirs.affine) @ ours.affine
    np.testing.assert_allclose((ours.affine @ voxels.T)[:3], (theirs.affine @ (m @ voxels.T))[:3], atol=1e-3)
    # ... and it is the DICOM position of that slice's first pixel, in RAS
    for z in (0, ours_values.shape[2] - 1):
        world_ras = ours.affine @ np.array([0, 0, z, 1.0])
        lps = np.array(world_ras[:3]) * [-1, -1, 1]
        positions = [
            np.array(pydicom.dcmread(f, stop_before_pixels=True).ImagePositionPatient, float) for f in folder.iterdir()
        ]
        assert min(np.linalg.norm(p - lps) for p in positions) < 1e-3


def test_enhanced_multiframe_ct_matches_dcm2niix(tmp_path: Path, write_series, make_enhanced) -> None:
    files = write_series(tmp_path / "single", "CT", n=10, rows=40)
    folder = tmp_path / "multi"
    folder.mkdir()
    make_enhanced(files, folder / "enhanced.dcm", "1.2.840.10008.5.1.4.1.1.2.1")
    convert(folder, tmp_path / "ours.nii", suv="none")
    ours = nib.load(tmp_path / "ours.nii")
    theirs = run_dcm2niix(folder, tmp_path / "dcm2niix")
    theirs_values = aligned(np.asarray(theirs.dataobj, dtype=np.float64).squeeze(), ours.affine, theirs.affine)
    np.testing.assert_array_equal(np.asarray(ours.dataobj, dtype=np.float64), theirs_values)


REAL_SERIES = (
    "hcc048_portal_venous",
    "ircad_patient/ct",  # GDCM-written: PixelSpacing longer than DS allows, NUL-padded
    "totalsegmentator_example/example_ct_dicom",  # JPEG 2000, empty Study/Series/SOP Instance UIDs
    "ibsi_sts/dicom/STS_004/CT/image",
    "ibsi_sts/dicom/STS_004/PET/image",  # DERIVED, Units GML
    "ibsi_sts/dicom/STS_005/CT/image",
    "ibsi_sts/dicom/STS_005/PET/image",
)


@pytest.mark.parametrize("folder", REAL_SERIES)
def test_real_series_convert_like_dcm2niix(realdata: Path, tmp_path: Path, folder: str) -> None:
    """Real exports: the same voxel values at the same world coordinates as dcm2niix."""
    series = realdata / folder
    convert(series, tmp_path / "ours.nii", suv="none")
    ours = nib.load(tmp_path / "ours.nii")
    theirs = run_dcm2niix(series, tmp_path / "dcm2niix")
    ours_values = np.asarray(ours.dataobj, dtype=np.float64)
    theirs_values = aligned(np.asarray(theirs.dataobj, dtype=np.float64).squeeze(), ours.affine, theirs.affine)
    assert ours_values.shape == theirs_values.shape
    if "PET" in folder:
        np.testing.assert_allclose(ours_values, theirs_values, rtol=1e-5, atol=1e-5)  # SUV as exported
    else:
        np.testing.assert_array_equal(ours_values, theirs_values)  # HU
    m = np.linalg.inv(theirs.affine) @ ours.affine
    corners = np.array([[0, 0, 0, 1], [*(n - 1 for n in ours_values.shape), 1]], dtype=float)
    np.testing.assert_allclose((ours.affine @ corners.T)[:3], (theirs.affine @ (m @ corners.T))[:3], atol=1e-3)
