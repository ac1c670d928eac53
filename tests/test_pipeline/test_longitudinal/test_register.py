"""Registration recovers the generator's known patient poses, identically run to run; identity and shifted frames exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from pipeline.config import RegistrationConfig
from pipeline.dicom.discover import discover
from pipeline.dicom.load import load_ct
from pipeline.dicom.selection import select_timepoints
from pipeline.longitudinal.register import block_means, prepare_reference, register_followup


@pytest.fixture(scope="module")
def cts(sample_root: Path):
    index = discover(sample_root / "study", ignore={sample_root / "study" / "targets.json"})
    return [load_ct(tp.ct_candidates[0]).image for tp in select_timepoints(index)]


@pytest.fixture(scope="module")
def liver_roi(cts):
    from pipeline import spatial
    from segmentation.liver import segment_liver

    roi = sitk.GetImageFromArray(  # the generated CT is in LPS orientation already
        segment_liver(spatial.array_zyx(cts[0]), spatial.spacing_zyx(cts[0])).mask_zyx.astype(np.uint8)
    )
    roi.CopyInformation(cts[0])
    return roi


@pytest.fixture(scope="module")
def deformable_1(cts, liver_roi):
    """Follow-up 1 registered to the baseline with the default (deformable) configuration and the liver region:
    computed once for the tests that need this result (the determinism test computes it once more)."""
    return register_followup(cts[0], cts[1], RegistrationConfig(), liver_roi)


def _errors(result, ground_truth, k):
    pairs = zip(ground_truth["timepoints"][0]["lesions"], ground_truth["timepoints"][k]["lesions"], strict=True)
    return np.array(
        [np.linalg.norm(np.array(result.map_point(a["centre_lps_mm"])) - b["centre_lps_mm"]) for a, b in pairs]
    )


@pytest.mark.parametrize("k", [1, 2])
def test_baseline_lesion_centres_map_onto_follow_up_centres(cts, liver_roi, deformable_1, ground_truth, k):
    rigid_affine = register_followup(cts[0], cts[k], RegistrationConfig(deformable=False))
    deformable = deformable_1 if k == 1 else register_followup(cts[0], cts[k], RegistrationConfig(), liver_roi)
    # the global stage alone is within the non-rigid motion of the liver
    shifts = [l["nonrigid_shift_mm"] for l in ground_truth["timepoints"][k]["lesions"]]
    assert _errors(rigid_affine, ground_truth, k).max() < max(shifts) + 2.0
    errors = _errors(deformable, ground_truth, k)
    assert errors.max() < 3.0, errors
    # the liver displacement field does better than the global transform where the liver deformed
    assert errors.mean() < _errors(rigid_affine, ground_truth, k).mean()
    assert deformable.roi_ncc_final > deformable.roi_ncc_affine


def test_registration_is_deterministic(cts, liver_roi, deformable_1):
    a = deformable_1
    b = register_followup(cts[0], cts[1], RegistrationConfig(), liver_roi)
    assert a.affine.GetParameters() == b.affine.GetParameters()
    points = [(x, y, z) for x in (-80.0, -40.0, 0.0) for y in (-60.0, 0.0) for z in (-20.0, 0.0, 30.0)]
    assert [a.map_point(p) for p in points] == [b.map_point(p) for p in points]


def _liver_points(cts, liver_roi, step: int = 37) -> list[tuple[float, float, float]]:
    inside = np.argwhere(sitk.GetArrayViewFromImage(liver_roi))[::step]
    return [cts[0].TransformContinuousIndexToPhysicalPoint([float(v) for v in p[::-1]]) for p in inside]


def test_a_scan_registered_to_itself_is_the_identity(cts, liver_roi):
    reference = prepare_reference(cts[0], RegistrationConfig(), liver_roi)
    result = register_followup(reference, cts[0])
    points = _liver_points(cts, liver_roi)
    assert len(points) > 1000
    assert max(np.linalg.norm(np.subtract(result.map_point(p), p)) for p in points) < 0.1
    assert result.rotation_deg < 1e-6 and result.deformable
    assert set(result.iterations) == {1}, "identical images: every stage stops at its first iteration"


@pytest.mark.parametrize("shift", [(25.0, 0.0, 0.0), (0.0, -25.0, 0.0), (0.0, 0.0, 25.0)])
def test_the_same_pixels_in_a_shifted_frame_of_reference_map_by_the_shift(cts, liver_roi, shift):
    moved = sitk.Image(cts[0])
    moved.SetOrigin(tuple(o + s for o, s in zip(cts[0].GetOrigin(), shift, strict=True)))
    result = register_followup(cts[0], moved, RegistrationConfig(), liver_roi)
    points = _liver_points(cts, liver_roi)
    assert max(np.linalg.norm(np.subtract(result.map_point(p), np.add(p, shift))) for p in points) < 0.1


def test_a_reference_prepared_once_gives_the_same_transform(cts, liver_roi, deformable_1):
    reference = prepare_reference(cts[0], RegistrationConfig(), liver_roi)
    once = register_followup(reference, cts[1])
    direct = deformable_1
    assert once.affine.GetParameters() == direct.affine.GetParameters()
    points = _liver_points(cts, liver_roi, 997)
    assert [once.map_point(p) for p in points] == [direct.map_point(p) for p in points]
    with pytest.raises(ValueError):
        register_followup(reference, cts[1], roi=liver_roi)


@pytest.mark.parametrize("pixel", [np.int16, np.uint8, np.float32])
def test_block_means_are_itk_bin_shrink_of_the_float_image_to_the_bit(pixel: type) -> None:
    """The reference is ITK's own BinShrink of the image cast to float32 (whole numbers and, for float32, values
    with fractions, which take ITK's path); the geometry too, in a flipped orientation."""
    rng = np.random.default_rng(5)
    for _ in range(20):
        shape = tuple(int(n) for n in rng.integers(6, 40, 3))
        values = rng.integers(0 if pixel is np.uint8 else -1024, 256 if pixel is np.uint8 else 3000, shape)
        image = sitk.GetImageFromArray((values + (rng.random(shape) if pixel is np.float32 else 0)).astype(pixel))
        image.SetSpacing(tuple(float(v) for v in rng.uniform(0.5, 3.0, 3)))
        image.SetOrigin(tuple(float(v) for v in rng.uniform(-300.0, 300.0, 3)))
        image.SetDirection((1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, -1.0))
        factors = [int(f) for f in rng.integers(1, 6, 3)]
        expected = sitk.BinShrink(sitk.Cast(image, sitk.sitkFloat32), factors)
        small = block_means(image, factors)
        assert small.GetPixelID() == sitk.sitkFloat32
        assert np.array_equal(sitk.GetArrayViewFromImage(small), sitk.GetArrayViewFromImage(expected))
        assert small.GetOrigin() == expected.GetOrigin() and small.GetSpacing() == expected.GetSpacing()
        assert small.GetDirection() == expected.GetDirection()
