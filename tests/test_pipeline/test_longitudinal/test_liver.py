"""The liver stage: the built-in segmentation through DICOM, and liver masks from other tools (``--liver-mask``)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import highdicom as hd
import numpy as np
import pytest
import SimpleITK as sitk
from pydicom.sr.codedict import codes

from pipeline import spatial
from pipeline.dicom.discover import discover
from pipeline.dicom.load import LoadedSeries, load_ct
from pipeline.errors import LiverMaskError, NoLiverError
from pipeline.longitudinal.liver import liver_for, liver_mask_files, segment_ct_liver
from sample_data.dicom_write import SeriesInfo, StudyInfo, ct_datasets, save_all, uid
from sample_data.grid import Grid
from sample_data.scenario import Patient
from segmentation.liver import LiverConfig

PATIENT = Patient("TS-EXAMPLE", "Example^CT", "O", "19700101", 70.0, 1.7)


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b))


def write_as_dicom(nifti: Path, folder: Path) -> list:
    """The NIfTI CT as a DICOM series (LPS, axial, head last); returns the datasets."""
    image = sitk.DICOMOrient(sitk.ReadImage(str(nifti)), "LPS")
    sx, sy, sz = image.GetSpacing()
    grid = Grid(tuple(image.GetSize()[::-1]), (sx, sy, sz), tuple(image.GetOrigin()), sz)  # type: ignore[arg-type]
    when = dt.datetime(2024, 1, 2, 10, 0, 0)
    study = StudyInfo(uid("ts", "study"), uid("ts", "for"), when, "1", "A1")
    series = SeriesInfo(uid("ts", "series"), 2, "example_ct", when)
    datasets = ct_datasets(sitk.GetArrayFromImage(image), grid, PATIENT, study, series, signed=True, descending=False)
    folder.mkdir(parents=True, exist_ok=True)
    save_all(datasets, [folder / f"{k:04d}.dcm" for k in range(len(datasets))])
    return datasets


@pytest.fixture(scope="module")
def example_ct(realdata: Path, tmp_path_factory: pytest.TempPathFactory):
    """TotalSegmentator's example CT written as DICOM and loaded by the pipeline, with its datasets."""
    folder = tmp_path_factory.mktemp("ts") / "ct"
    datasets = write_as_dicom(realdata / "totalsegmentator_example" / "example_ct.nii.gz", folder)
    index = discover(folder)
    return load_ct(index.instances), datasets


def model_mask(realdata: Path) -> Path:
    return realdata / "totalsegmentator_example" / "example_ct_liver_model.nii.gz"


def model_on_lps_grid(realdata: Path) -> np.ndarray:
    """The model's mask (a RAS NIfTI) reoriented voxel by voxel to the LPS grid the DICOM copy was written on."""
    return sitk.GetArrayFromImage(sitk.DICOMOrient(sitk.ReadImage(str(model_mask(realdata))), "LPS")) > 0.5


def test_nifti_mask_maps_through_patient_coordinates(realdata: Path, example_ct):
    """The RAS NIfTI mask lands on exactly its voxels of the LPS DICOM CT (TotalSegmentator's liver, ~1123 ml)."""
    ct, _ = example_ct
    files = liver_mask_files(model_mask(realdata), [ct.series_uid])
    liver = liver_for(ct, 0, files, LiverConfig())
    assert liver.source == str(model_mask(realdata))
    assert np.array_equal(liver.mask_zyx, model_on_lps_grid(realdata))
    assert liver.volume_ml == pytest.approx(1123.3, abs=1.0)


def test_built_in_segmentation_through_dicom(realdata: Path, example_ct):
    ct, _ = example_ct
    liver = segment_ct_liver(ct, LiverConfig())
    assert liver.source == "segmented" and liver.partial
    assert dice(liver.mask_zyx, model_on_lps_grid(realdata)) >= 0.90


def test_dicom_seg_mask(realdata: Path, example_ct, tmp_path: Path):
    """A DICOM SEG with a liver segment among others: the liver segment is found by its label."""
    ct, datasets = example_ct
    truth = model_on_lps_grid(realdata)
    other = np.zeros_like(truth)
    other[10:20, 40:60, 80:100] = True
    algorithm = hd.AlgorithmIdentificationSequence("test", codes.DCM.ArtificialIntelligence, "1")
    segments = [
        hd.seg.SegmentDescription(
            1,
            "spleen",
            codes.SCT.Organ,
            codes.SCT.Spleen,
            hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm,
        ),
        hd.seg.SegmentDescription(
            2,
            "liver",
            codes.SCT.Organ,
            codes.SCT.Liver,
            hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm,
        ),
    ]
    seg = hd.seg.Segmentation(
        source_images=datasets,
        pixel_array=np.stack([other, truth], axis=-1).astype(np.uint8),
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=segments,
        series_instance_uid=hd.UID(),
        series_number=50,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="test",
        manufacturer_model_name="test",
        software_versions="1",
        device_serial_number="1",
    )
    folder = tmp_path / "masks"
    folder.mkdir()
    seg.save_as(folder / "liver_seg.dcm")
    files = liver_mask_files(folder, [ct.series_uid, "1.2.3.4"])  # matched by the SEG's referenced series
    assert files.for_timepoint(0, ct.series_uid) == folder / "liver_seg.dcm"
    assert files.for_timepoint(1, "1.2.3.4") is None
    liver = liver_for(ct, 0, files, LiverConfig())
    assert np.array_equal(liver.mask_zyx, truth)


def _small_ct(origin_z: float) -> LoadedSeries:
    image = sitk.GetImageFromArray(np.zeros((10, 20, 20), np.int16))
    image.SetSpacing((2.0, 2.0, 3.0))
    image.SetOrigin((0.0, 0.0, origin_z))
    return LoadedSeries(image, f"1.2.826.0.1.{int(origin_z)}", "CT", "HU", 10, None)


def _write_mask(path: Path, ct: LoadedSeries, box: tuple[slice, ...]) -> None:
    array = np.zeros(sitk.GetArrayViewFromImage(ct.image).shape, np.uint8)
    array[box] = 1
    sitk.WriteImage(spatial.image_like(array, ct.image), str(path))


def test_folder_of_masks_by_order_and_by_series(tmp_path: Path):
    cts = [_small_ct(0.0), _small_ct(100.0)]
    by_order = tmp_path / "order"
    by_order.mkdir()
    _write_mask(by_order / "a.nii.gz", cts[0], (slice(2, 4),) * 3)
    _write_mask(by_order / "b.nii.gz", cts[1], (slice(2, 6),) * 3)
    files = liver_mask_files(by_order, [c.series_uid for c in cts])
    assert [int(liver_for(c, k, files, LiverConfig()).mask_zyx.sum()) for k, c in enumerate(cts)] == [8, 64]
    by_uid = tmp_path / "uid"
    by_uid.mkdir()
    _write_mask(by_uid / f"{cts[1].series_uid}.nii.gz", cts[1], (slice(2, 5),) * 3)
    files = liver_mask_files(by_uid, [c.series_uid for c in cts])
    assert files.for_timepoint(0, cts[0].series_uid) is None  # segmented instead
    assert int(liver_for(cts[1], 1, files, LiverConfig()).mask_zyx.sum()) == 27


def test_mask_of_another_patient_or_region_is_refused(tmp_path: Path):
    ct, elsewhere = _small_ct(0.0), _small_ct(500.0)
    _write_mask(tmp_path / "liver.nii.gz", elsewhere, (slice(2, 4),) * 3)
    files = liver_mask_files(tmp_path / "liver.nii.gz", [ct.series_uid])
    with pytest.raises(LiverMaskError, match="does not overlap the CT"):
        liver_for(ct, 0, files, LiverConfig())
    with pytest.raises(LiverMaskError, match="no such file"):
        liver_mask_files(tmp_path / "missing.nii.gz", [ct.series_uid])


def test_ct_without_liver_is_bad_input():
    ct = _small_ct(0.0)
    with pytest.raises(NoLiverError, match=r"no liver in this scan \(CT series 1\.2\.826\.0\.1\.0\)"):
        segment_ct_liver(ct, LiverConfig())


def test_ircad_through_the_dicom_loader(realdata: Path):
    """The IRCAD series (over-long PixelSpacing, origin 0) loaded as a run loads it: the manual liver's Dice."""
    from pipeline.dicom.selection import select_timepoints

    (timepoint,) = select_timepoints(discover(realdata / "ircad_patient" / "ct"))
    ct = load_ct(timepoint.ct_candidates[0])
    masks = sitk.ReadImage(str(realdata / "ircad_patient" / "masks.nii.gz"))
    truth = sitk.GetArrayFromImage(masks) > 0  # on the CT grid
    liver = segment_ct_liver(ct, LiverConfig())
    assert truth.shape == liver.mask_zyx.shape
    assert dice(liver.mask_zyx, truth) >= 0.93


def test_a_mask_resampled_from_its_bounding_box_equals_the_whole_mask_resampled():
    import SimpleITK as sitk
    from scipy import ndimage

    from pipeline import spatial
    from pipeline.longitudinal.liver import mask_on_grid

    rng = np.random.default_rng(0)
    for trial in range(12):
        shape = (40, 120, 110)
        mask = ndimage.binary_dilation(rng.random(shape) < 0.0005, iterations=3)
        if trial == 0:
            mask[:] = False
        if trial == 1:
            mask[0, 0, 0] = mask[-1, -1, -1] = True  # a box reaching the array's corners
        ct = sitk.Image(shape[::-1], sitk.sitkUInt8)
        ct.SetSpacing((0.8, 0.8, 2.5))
        ct.SetOrigin((-40.0, -30.0, 10.0))
        angle = rng.uniform(-0.3, 0.3)
        ct.SetDirection((np.cos(angle), -np.sin(angle), 0, np.sin(angle), np.cos(angle), 0, 0, 0, 1))
        pet = sitk.Image((50, 45, 30), sitk.sitkUInt8)
        pet.SetSpacing((2.0, 2.1, 3.27))
        pet.SetOrigin((-45.0 + rng.uniform(-5, 5), -35.0, 5.0 + rng.uniform(-3, 3)))
        whole = spatial.image_like(mask.astype(np.uint8), ct)
        expected = sitk.GetArrayFromImage(sitk.Resample(whole, pet, sitk.Transform(), sitk.sitkNearestNeighbor, 0)) > 0
        assert np.array_equal(mask_on_grid(mask, ct, pet), expected)
