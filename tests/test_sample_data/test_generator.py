"""The sample-data generator: deterministic, valid DICOM, and ground truth consistent with its images."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pydicom
import pytest
from scipy import ndimage

from sample_data import truth
from sample_data.anatomy import organs
from sample_data.grid import Grid
from sample_data.render import AIR_HU, paint
from sample_data.scenario import lesion_truth, make_scenario
from sample_data.shapes import Ellipsoid, Pose, Structure, as_matrix3, rotation_matrix


def test_scenario_is_deterministic_and_seed_dependent():
    a, b, c = make_scenario(3), make_scenario(3), make_scenario(4)
    assert a == b
    assert a.lesions != c.lesions


def test_tiny_size_is_the_small_scenario_on_coarser_grids_of_the_same_field_of_view():
    small, tiny = make_scenario(1, "small"), make_scenario(1, "tiny")
    assert (tiny.patient, tiny.lesions, tiny.new_lesions) == (small.patient, small.lesions, small.new_lesions)
    for s, t in zip(small.timepoints, tiny.timepoints, strict=True):
        assert (t.pose, t.deformation, t.study_datetime, t.pet) == (s.pose, s.deformation, s.study_datetime, s.pet)
        for fine, coarse in ((s.ct_grid, t.ct_grid), (s.pet_grid, t.pet_grid)):
            assert all(c > f for f, c in zip(fine.spacing_xyz_mm, coarse.spacing_xyz_mm, strict=True))
            extent = [n * d for n, d in zip(reversed(fine.shape_zyx), fine.spacing_xyz_mm, strict=True)]
            coarse_extent = [n * d for n, d in zip(reversed(coarse.shape_zyx), coarse.spacing_xyz_mm, strict=True)]
            np.testing.assert_allclose(coarse_extent, extent, rtol=0.03)
    assert max(tiny.timepoints[0].ct_grid.spacing_xyz_mm[:2]) <= 2.0  # lesions of 7 mm and more stay measurable
    with pytest.raises(ValueError, match="size must be one of"):
        make_scenario(1, "huge")


@pytest.mark.parametrize("seed", range(1, 6))
def test_scenarios_have_clear_recist_and_sizes(seed):
    scenario = make_scenario(seed)
    truths = lesion_truth(scenario)
    sums = [sum(t.longest_axial_diameter_on_slices_mm for t in tp) for tp in truths]
    assert [c for c, _, _ in truth.recist_categories(sums)] == ["baseline", "PR", "PD"]
    assert len(scenario.timepoints) >= 3 and len(scenario.lesions) >= 4
    base = [t.longest_axial_diameter_on_slices_mm for t in truths[0]]
    assert min(base) >= 10.0 and max(base) <= 35.0
    assert scenario.timepoints[2].ct_grid.spacing_xyz_mm != scenario.timepoints[0].ct_grid.spacing_xyz_mm
    shifts = [np.linalg.norm(tp.pose.translation_mm) for tp in scenario.timepoints[1:]]
    assert all(8.0 <= s <= 20.0 for s in shifts)


def test_axial_diameters_of_a_sphere_and_a_tilted_ellipsoid():
    sphere = Ellipsoid((0.0, 0.0, 0.0), (5.0, 5.0, 5.0))
    assert truth.axial_diameters(sphere, Pose()) == pytest.approx((10.0, 10.0))
    assert truth.axial_diameters(sphere, Pose(), dz_mm=3.0) == pytest.approx((8.0, 8.0))
    # an ellipsoid 20 x 10 x 10 lying along x, rotated 90 degrees about z: still 20 x 10 in the axial plane
    e = Ellipsoid((0.0, 0.0, 0.0), (10.0, 5.0, 5.0), as_matrix3(rotation_matrix((0.0, 0.0, 90.0))))
    assert truth.axial_diameters(e, Pose()) == pytest.approx((20.0, 10.0))
    # the patient tilted 90 degrees about x puts that long axis along z: the axial section is 10 x 10
    assert truth.axial_diameters(e, Pose((90.0, 0.0, 0.0))) == pytest.approx((10.0, 10.0))


def test_rendered_partial_volume_matches_the_analytic_volume():
    from sample_data.grid import Grid

    grid = Grid.centred((20, 40, 40), (0.9, 0.9, 2.5), (0.0, 0.0, 0.0))
    e = Ellipsoid((1.1, -0.7, 0.4), (9.0, 6.0, 7.0), as_matrix3(rotation_matrix((20.0, 10.0, 30.0))))
    frac = paint([Structure("l", e, 1.0, 0.0)], Pose((2.0, -1.0, 4.0), (0.3, 0.2, 0.1)), grid, "hu", 0.0)
    assert frac.sum() * 0.9 * 0.9 * 2.5 / 1000 == pytest.approx(e.volume_ml, rel=0.005)


def test_lungs_lie_inside_the_chest_wall():
    """On the noise-free phantom, over the lungs' whole height: no lung voxel touches the air around the body, at
    least 15 mm of body lies between the lungs and that air, and the voxels 3-6 mm out from the lungs (with no
    lung in them) are soft tissue: no fat, no air."""
    grid = Grid.centred((90, 180, 180), (2.0, 2.0, 3.0), (0.0, 0.0, 135.0))  # z 1.5-268.5 mm, lungs 55-245 mm
    spacing = (3.0, 2.0, 2.0)
    structures = organs()
    image = paint(structures, Pose(), grid, "hu", AIR_HU)
    lung_fraction = paint(
        [Structure(s.name, s.shape, float(s.name.startswith("lung")), 0.0) for s in structures], Pose(), grid, "hu", 0.0
    )
    lungs = lung_fraction >= 0.5
    assert lungs.sum() * np.prod(spacing) / 1000.0 > 1500.0
    labels, _ = ndimage.label(image < -500.0)
    outside = labels == labels[0, 0, 0]
    assert not (outside & (lung_fraction > 0.0)).any()
    from_outside = ndimage.distance_transform_edt(~outside, sampling=spacing)
    assert from_outside[lungs].min() >= 15.0
    from_lungs = ndimage.distance_transform_edt(~lungs, sampling=spacing)
    around = (from_lungs >= 3.0) & (from_lungs <= 6.0) & (lung_fraction == 0.0)
    assert image[around].min() > -50.0  # abdominal wall, liver, spleen: no subcutaneous fat, no air


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def test_study_on_disk(sample_root: Path, ground_truth: dict):
    from sample_data.generate import GENERATOR_VERSION

    study = sample_root / "study"
    assert (study / "targets.json").is_file() and not (study / "ground_truth.json").exists()
    files = [p for p in study.rglob("*") if p.is_file() and p.name != "targets.json"]
    series: dict[str, list] = {}
    for p in files:
        ds = pydicom.dcmread(p, stop_before_pixels=True)
        series.setdefault(ds.SeriesInstanceUID, []).append(ds)
    assert len(series) == 6
    for tp in ground_truth["timepoints"]:
        ct, pet = series[tp["ct_series_instance_uid"]], series[tp["pet_series_instance_uid"]]
        assert {d.StudyInstanceUID for d in ct + pet} == {tp["study_instance_uid"]}
        assert {d.FrameOfReferenceUID for d in ct + pet} == {tp["frame_of_reference_uid"]}
        assert ct[0].SOPClassUID == "1.2.840.10008.5.1.4.1.1.2" and pet[0].SOPClassUID == "1.2.840.10008.5.1.4.1.1.128"
        assert pet[0].Units == "BQML" and pet[0].DecayCorrection == "START"
        assert len({float(d.RescaleSlope) for d in pet}) > 10
        assert float(pet[0].PixelSpacing[0]) >= 3.5
        assert len(ct) == tp["ct_grid"]["shape_zyx"][0]
    assert ground_truth["generator"]["version"] == GENERATOR_VERSION


def test_the_same_seed_writes_the_same_bytes(tiny_root: Path, tiny_ground_truth: dict, tmp_path: Path):
    """Generated again (at the tiny size, the same code as every size on coarser grids), a study is the same bytes;
    it is current for its generator version, seed and size only."""
    from sample_data.generate import generate_study, is_current

    seed = tiny_ground_truth["generator"]["seed"]
    again = generate_study(tmp_path / "again", seed=seed, size="tiny")
    assert _digest(again) == _digest(tiny_root)
    assert json.loads((again / "ground_truth.json").read_text()) == tiny_ground_truth
    assert is_current(again, seed, "tiny")
    assert not is_current(again, seed + 1, "tiny") and not is_current(again, seed, "small")
    assert not is_current(tmp_path / "absent", 1, "small")


def test_ct_is_darker_at_each_lesion_centre(sample_root: Path, ground_truth: dict):
    """At least half of each lesion's contrast to the liver shows at its centre on the CT."""
    import SimpleITK as sitk

    from pipeline.dicom.discover import discover
    from pipeline.dicom.load import load_ct
    from pipeline.dicom.selection import select_timepoints

    liver_hu = 105.0
    lesion_hu = {d["id"]: d["hu"] for d in ground_truth["lesion_definitions"]}
    index = discover(sample_root / "study", ignore={sample_root / "study" / "targets.json"})
    for tp, gt in zip(select_timepoints(index), ground_truth["timepoints"], strict=True):
        image = load_ct(tp.ct_candidates[0]).image
        arr = sitk.GetArrayViewFromImage(image)
        for lesion in gt["lesions"]:
            x, y, z = image.TransformPhysicalPointToIndex(lesion["centre_lps_mm"])
            centre_mean = float(arr[z, y - 1 : y + 2, x - 1 : x + 2].mean())
            assert centre_mean < liver_hu - 0.5 * (liver_hu - lesion_hu[lesion["lesion_id"]]), (
                tp.index,
                lesion["lesion_id"],
            )


def test_ground_truth_categories_of_every_criterion(ground_truth: dict) -> None:
    """The exact values from the rendered images agree with the scenario's design (clear categories)."""
    tps = ground_truth["timepoints"]
    for criterion in ("recist", "volumetric", "choi"):
        assert [tp[criterion] for tp in tps] == ["baseline", "PR", "PD"], criterion
    assert [tp["percist"] for tp in tps] == ["baseline", "PMR", "PMD"]
    sul = [tp["hottest_sul_peak_noise_free"] for tp in tps]
    assert sul[1] <= 0.62 * sul[0] and sul[2] >= 1.38 * sul[0]  # 30 % thresholds missed by 8 points
    assert len(tps[0]["recist_targets"]) == 2  # RECIST 1.1: at most 2 targets in the liver


@pytest.mark.parametrize(
    "values, expected",
    [
        (truth.volumetric_categories([10.0, 3.5, 6.06]), ["baseline", "PR", "PD"]),
        (truth.volumetric_categories([10.0, 3.51, 6.0]), ["baseline", "SD", "SD"]),
        (truth.choi_categories([50.0, 45.0, 49.5], [60.0, 60.0, 60.0]), ["baseline", "PR", "PD"]),
        (truth.choi_categories([50.0, 50.0], [60.0, 51.0]), ["baseline", "PR"]),
        (truth.percist_categories([4.0, 2.8, 5.21], 1.0), ["baseline", "PMR", "PMD"]),
        (truth.percist_categories([4.0, 2.81, 5.19, 0.9], 1.0), ["baseline", "SMD", "SMD", "CMR"]),
    ],
)
def test_truth_criteria(values, expected):
    assert values == expected


def test_sul_factor_james():
    # 70 kg, 1.75 m male: LBM = 1.10 x 70 - 128 x (70 / 175)^2 = 56.52 kg
    assert truth.sul_per_suv_james(70.0, 1.75, "M") == pytest.approx(56.52 / 70.0)
