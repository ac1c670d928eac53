"""Tracking: lesions followed through known poses and deformation; explicit not-found, merge and failure."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pydicom
import pytest

from pipeline.config import RegistrationConfig, RunConfig
from pipeline.longitudinal.tracking import fragments, merged_pairs, residuals

# faster where registration is not the subject; one thread: the figures are drawn in the run's own process (no
# worker process to start; the results do not depend on the number of threads)
AFFINE_ONLY = RunConfig(registration=RegistrationConfig(deformable=False), threads=1)


def _manifest(out: Path) -> dict:
    return json.loads((out / "run.json").read_text())


def _rows(out: Path) -> list[dict[str, str]]:
    with (out / "measurements.csv").open() as f:
        return list(csv.DictReader(f))


def test_mapped_seeds_and_centroids_against_the_known_motion(pipeline_output: Path, ground_truth: dict):
    manifest = _manifest(pipeline_output)
    moved = []
    for tp in manifest["inputs"]["timepoints"][1:]:
        truth = {l["lesion_id"]: l for l in ground_truth["timepoints"][tp["timepoint"]]["lesions"]}
        assert tp["registration"]["type"].endswith("(liver region)")
        for lesion in tp["lesions"]:
            true_centre = np.array(truth[lesion["lesion_id"]]["centre_lps_mm"])
            assert np.linalg.norm(np.array(lesion["mapped_seed_lps_mm"]) - true_centre) < 3.0, lesion["lesion_id"]
            assert np.linalg.norm(np.array(lesion["centroid_lps_mm"]) - true_centre) < 1.5, lesion["lesion_id"]
            moved.append(truth[lesion["lesion_id"]]["nonrigid_shift_mm"])
        assert tp["tracking"]["registration_residuals"]["plausible"]
    assert max(moved) > 3.0, "the sample must exercise a non-rigid motion of several mm"


def test_registration_qc_images(pipeline_output: Path):
    pngs = sorted(p.name for p in (pipeline_output / "qc").glob("registration_timepoint_*.png"))
    assert pngs == ["registration_timepoint_1.png", "registration_timepoint_2.png"]
    assert all((pipeline_output / "qc" / p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)


# that the same run twice gives the same transforms and measurements is asserted by the batch tests: each of their
# studies is a run of its own, compared with a reference run of the same tiny study (``dicom_run``,
# ``baseline_output``; tests/test_pipeline/test_batch/batch_studies.py)


def _erase_lesion(
    study: Path, series_uid: str, centre_lps: list[float], radius_mm: float, liver_hu: float = 105.0
) -> None:
    """Paint liver attenuation (plus the image's own noise texture elsewhere) over a lesion in a follow-up CT."""
    rng = np.random.default_rng(0)
    for path in study.rglob("IM*"):
        ds = pydicom.dcmread(path)
        if ds.SeriesInstanceUID != series_uid:
            continue
        z = float(ds.ImagePositionPatient[2])
        if abs(z - centre_lps[2]) > radius_mm:
            continue
        ox, oy = float(ds.ImagePositionPatient[0]), float(ds.ImagePositionPatient[1])
        sy, sx = (float(v) for v in ds.PixelSpacing)
        yy, xx = np.mgrid[0 : ds.Rows, 0 : ds.Columns]
        inside = (ox + xx * sx - centre_lps[0]) ** 2 + (oy + yy * sy - centre_lps[1]) ** 2 + (
            z - centre_lps[2]
        ) ** 2 <= radius_mm**2
        pixels = ds.pixel_array.astype(np.int32)
        slope, intercept = float(ds.RescaleSlope), float(ds.RescaleIntercept)
        values = (liver_hu + rng.normal(0, 12, inside.sum()) - intercept) / slope
        pixels[inside] = np.round(values).astype(np.int32)
        ds.PixelData = pixels.astype(ds.pixel_array.dtype).tobytes()
        ds.save_as(path)


@pytest.fixture(scope="module")
def twin_and_gone(tiny_root: Path, tiny_ground_truth: dict, tmp_path_factory: pytest.TempPathFactory):
    """One run on a copy of the tiny study (``tiny_root``: tracking is the subject, not the accuracy of the
    measurements) with two independent changes: a second target 1 mm from L1 at
    baseline (``twin``), and L2 (the second RECIST target, one of the two largest lesions) painted over with
    liver at follow-up 1 (``gone``). Returns the output folder, the run's result and the erased lesion's truth."""
    import shutil

    from pipeline.longitudinal.run import run_study

    root = tmp_path_factory.mktemp("tracking")
    study = root / "study"
    shutil.copytree(tiny_root / "study", study)
    targets = json.loads((study / "targets.json").read_text())
    first = targets["lesions"][0]
    twin = {"id": "L1bis", "seed_lps_mm": [v + 1.0 for v in first["seed_lps_mm"]], "organ": "liver"}
    targets["lesions"].insert(1, twin)
    path = root / "targets.json"
    path.write_text(json.dumps(targets))
    tp1 = tiny_ground_truth["timepoints"][1]
    gone = tp1["lesions"][1]
    _erase_lesion(study, tp1["ct_series_instance_uid"], gone["centre_lps_mm"], gone["max_3d_diameter_mm"] / 2 + 3.0)
    result = run_study(study, root / "out", path, AFFINE_ONLY)
    return root / "out", result, gone


def test_two_targets_on_one_lesion_are_merged(twin_and_gone):
    out, result, _ = twin_and_gone
    rows = [r for r in _rows(out) if r["lesion_id"] == "L1bis"]
    assert {r["status"] for r in rows} == {"not_found"}
    assert any("merged" in w for w in result.warnings)
    flags = _manifest(out)["inputs"]["timepoints"][0]["tracking"]["flags"]
    assert flags["L1"] == ["merged with L1bis"] and flags["L1bis"] == ["merged with L1"]
    # counted once: the twin is no RECIST target and the sum is over the measured targets only
    recist_targets = json.loads((out / "summary.json").read_text())["criteria"]["recist"]["targets"]
    assert "L1bis" not in recist_targets
    baseline = {r["lesion_id"]: r for r in _rows(out) if r["timepoint"] == "0"}
    expected = sum(float(baseline[t]["longest_diameter_mm"]) for t in recist_targets)
    assert result.recist[0].sum_diameters_mm == pytest.approx(expected, abs=0.03)


def test_a_lesion_that_disappears_is_not_found_and_counts_zero(twin_and_gone, tiny_ground_truth: dict):
    out, result, gone = twin_and_gone
    tp1 = tiny_ground_truth["timepoints"][1]
    rows = [r for r in _rows(out) if r["timepoint"] == "1"]
    row = next(r for r in rows if r["lesion_id"] == gone["lesion_id"])
    assert row["status"] == "not_found" and row["longest_diameter_mm"] == ""
    assert any(f"lesion {gone['lesion_id']} not found: no hypodense region" in w for w in result.warnings)
    assert any(f"lesion {gone['lesion_id']} not found: counted as disappeared (0 mm)" in w for w in result.warnings)
    targets = json.loads((out / "summary.json").read_text())["criteria"]["recist"]["targets"]
    assert gone["lesion_id"] in targets
    measured = sum(
        float(r["longest_diameter_mm"]) for r in rows if r["lesion_id"] in targets and r["status"] == "measured"
    )
    assert result.recist[1].sum_diameters_mm == pytest.approx(measured, abs=0.02)  # the gone target adds 0 mm
    # no neighbour was substituted: every other lesion keeps its own identity
    for r in rows:
        if r["status"] == "measured":
            truth = next(l for l in tp1["lesions"] if l["lesion_id"] == r["lesion_id"])
            centroid = np.array([float(r[f"centroid_{a}_mm"]) for a in "xyz"])
            assert np.linalg.norm(centroid - np.array(truth["centre_lps_mm"])) < 1.5


def test_a_lesion_cut_by_the_follow_ups_scanned_range_is_not_evaluated(
    tiny_root: Path, tiny_ground_truth: dict, tmp_path: Path
):
    """Follow-up 1 scanned only from the middle of its lowest lesion up (the slices below removed): that lesion
    is not measured (half of it is beyond the scan, so its size is not known) but not evaluated, with the
    reason, and the timepoint is not evaluable unless the others show progression; the lesions above are
    measured."""
    import shutil

    from pipeline.longitudinal.run import run_study
    from pipeline.records import NOT_FOUND

    study = tmp_path / "study"
    shutil.copytree(tiny_root / "study", study)
    tp1 = tiny_ground_truth["timepoints"][1]
    cut = min(tp1["lesions"], key=lambda lesion: lesion["centre_lps_mm"][2])
    for path in study.rglob("IM*"):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        if (
            ds.SeriesInstanceUID == tp1["ct_series_instance_uid"]
            and float(ds.ImagePositionPatient[2]) < cut["centre_lps_mm"][2]
        ):
            path.unlink()
    result = run_study(study, tmp_path / "out", config=AFFINE_ONLY)
    row = next(r for r in _rows(tmp_path / "out") if r["timepoint"] == "1" and r["lesion_id"] == cut["lesion_id"])
    assert row["status"] == NOT_FOUND and row["longest_diameter_mm"] == ""
    assert "of this CT: not wholly in the scan" in row["not_found_reason"]
    recist = result.recist[1]
    assert cut["lesion_id"] in recist.not_evaluated and not recist.evaluable
    assert recist.category.value in ("NE", "PD")
    measured = [r for r in _rows(tmp_path / "out") if r["timepoint"] == "1" and r["status"] == "measured"]
    assert measured  # the other targets


def test_failed_registration_is_reported_per_lesion(tiny_root: Path, tmp_path: Path):
    from pipeline.longitudinal.run import run_study

    config = RunConfig(registration=RegistrationConfig(deformable=False, max_rotation_deg=0.01), threads=1)
    result = run_study(tiny_root / "study", tmp_path / "out", config=config)
    rows = [r for r in _rows(tmp_path / "out") if r["timepoint"] != "0"]
    assert {r["status"] for r in rows} == {"not_found"}
    assert any("implausible registration" in w for w in result.warnings)
    manifest = _manifest(tmp_path / "out")
    assert "implausible" in manifest["inputs"]["timepoints"][1]["registration"]["failed"]
    # nothing evaluated at the follow-ups: NE everywhere, never a 0 mm sum or -100 %
    out = tmp_path / "out"
    summary = (out / "summary.txt").read_text()
    for line in summary.splitlines()[3:5]:
        assert line.split()[-5:] == ["NE", "NE", "NE", "NE", "NE"], line
    assert "-100.0" not in summary and " 0.0 " not in summary
    with (out / "response.csv").open() as f:
        response = [r for r in csv.DictReader(f) if r["timepoint"] != "0"]
    totals = ("sum_diameters_mm", "change_from_baseline_pct", "change_from_nadir_pct", "total_volume_ml")
    assert all(r["recist"] == "NE" and all(r[c] == "" for c in totals) for r in response)
    timepoints = json.loads((out / "summary.json").read_text())["timepoints"][1:]
    assert all(t["recist"] == "NE" and t["sum_diameters_mm"] is None and t["targets_not_evaluated"] for t in timepoints)
    assert json.loads((out / "summary.json").read_text())["timepoints"][0]["sum_diameters_mm"] > 0
    report = (out / "report.html").read_text()
    assert report.count('<span class="warn">NE</span>') >= 2 * len(totals)


def test_tracking_helpers():
    a = np.zeros((5, 5, 5), bool)
    a[1:3, 1:3, 1:3] = True
    b = a.copy()
    c = np.zeros_like(a)
    c[4, 4, 4] = True
    assert merged_pairs([a, None, b, c]) == [(0, 2)]
    split = a.copy()
    split[4, 4, 4] = True  # a detached voxel: 1/9 of the mask
    assert fragments(split, min_fraction=0.2) == 1
    assert fragments(split, min_fraction=0.1) == 2
    assert fragments(a) == 1
    r = residuals({"L1": (0.0, 0.0, 0.0), "L2": (0.0, 0.0, 0.0)}, {"L1": (3.0, 4.0, 0.0)}, max_residual_mm=4.0)
    assert r.per_lesion_mm == {"L1": 5.0} and not r.plausible


class _FarSegmenter:
    """Returns a 'lesion' 30 mm from the seed, as a segmenter that leaked into a neighbour would."""

    name = "far"

    def segment(self, image_zyx, spacing_zyx, seed_zyx):
        from segmentation.result import LesionSegmentation

        mask = np.ones((5, 5, 5), dtype=np.float32)
        offset = (int(seed_zyx[0]) - 2, int(seed_zyx[1]) - 2, int(seed_zyx[2]) + 28)
        return LesionSegmentation(True, "", seed_zyx, mask, offset, confidence=1.0)


def test_a_follow_up_region_far_from_the_mapped_lesion_is_not_measured_as_the_target():
    import SimpleITK as sitk

    from pipeline.config import RunConfig
    from pipeline.dicom.load import LoadedSeries
    from pipeline.longitudinal.lesions import SeedRequest, process_timepoint
    from pipeline.longitudinal.tracking import FollowupPrior
    from segmentation.recentre import Appearance

    array = np.full((20, 80, 80), 100.0, dtype=np.float32)
    array[8:12, 38:42, 38:42] = 50.0  # the lesion, where the registration puts it
    image = sitk.GetImageFromArray(array)  # 1 mm voxels, origin 0
    ct = LoadedSeries(image, "1.2.3", "CT", "HU", 20, None)
    prior = FollowupPrior((40.0, 40.0, 10.0), 3.0, Appearance(50.0, 100.0, -50.0))
    request = SeedRequest("L1", (40.0, 40.0, 10.0), prior=prior)
    result = process_timepoint([request], ct, None, RunConfig(), segmenter=_FarSegmenter())
    record = result.records[0]
    assert record.status == "not_found" and not record.absent and record.assessed
    assert "from where the registration puts the lesion" in record.reason
    assert record.located == "baseline seed mapped"
    assert not result.labels_zyx.any()


def test_chained_registration_tracks_each_follow_up_from_the_previous_one(sample_root: Path, tmp_path: Path):
    """On the small study: the tracking of every lesion through a chain of affine registrations depends on their
    accuracy (on the tiny study's coarser grids the largest lesion is lost at the last follow-up)."""
    from dataclasses import replace

    from pipeline.longitudinal.run import run_study

    run_study(sample_root / "study", tmp_path / "out", config=replace(AFFINE_ONLY, chain_registration=True))
    timepoints = _manifest(tmp_path / "out")["inputs"]["timepoints"]
    assert [tp["registration"]["reference"] for tp in timepoints[1:]] == ["baseline", "timepoint 1"]
    assert all(lesion["status"] == "measured" for tp in timepoints for lesion in tp["lesions"])
    assert all(tp["tracking"]["registration_residuals"]["plausible"] for tp in timepoints[1:])
