"""Targets from a reader's viewer: DICOM SR (ours and OHIF-style), DICOM SEG and 3D Slicer markups.

The runs driven by a viewer file use the tiny study's baseline and first follow-up (``tiny_two_timepoint_study``):
the subject is the targets' input and their tracking to a follow-up, which the last follow-up would only repeat; the
viewer files and the reference measurements are those of the run on the tiny study (``dicom_run``)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code

from pipeline.config import RegistrationConfig, RunConfig
from pipeline.dicom.discover import discover
from pipeline.errors import TargetsError
from pipeline.targets.geometry import ImageLookup
from pipeline.targets.markups import targets_from_markups
from pipeline.targets.sources import read_dicom_targets, target_source
from pipeline.targets.sr import read_sr_targets

# registration is not the subject here; one thread: the figures are drawn in the run's own process (no worker
# process to start; the results do not depend on the number of threads)
AFFINE = RunConfig(registration=RegistrationConfig(deformable=False), threads=1)


def _rows(out: Path, timepoints: int = 3) -> dict[tuple[int, str], dict[str, str]]:
    """The rows of measurements.csv of the first ``timepoints`` timepoints, by (timepoint, lesion id)."""
    with (out / "measurements.csv").open(newline="") as f:
        return {(int(r["timepoint"]), r["lesion_id"]): r for r in csv.DictReader(f) if int(r["timepoint"]) < timepoints}


def _same_measurements(before: dict, after: dict) -> None:
    """The same lesions measured alike: at baseline (the same lesion on the same image) within 0.5 mm and 1 %; at
    the follow-ups within 1 mm and 10 %: a follow-up's search starts where the registration maps the point the
    baseline segmentation started from (here the line's midpoint or the mask's deepest point instead of the
    hand-placed seed), which moves the result of these 9-15 mm lesions by up to about one voxel."""
    for key, row in before.items():
        assert after[key]["status"] == row["status"], key
        if row["status"] == "measured":
            mm, rel = (0.5, 0.01) if key[0] == 0 else (1.0, 0.10)
            assert abs(float(after[key]["longest_diameter_mm"]) - float(row["longest_diameter_mm"])) <= mm, key
            assert abs(float(after[key]["volume_ml"]) / float(row["volume_ml"]) - 1.0) <= rel, key


def _seeds(root: Path) -> dict[str, list[float]]:
    data = json.loads((root / "study" / "targets.json").read_text())
    return {entry["id"]: entry["seed_lps_mm"] for entry in data["lesions"]}


@pytest.fixture(scope="module")
def study_index(tiny_root: Path):
    return discover(tiny_root / "study", ignore={tiny_root / "study" / "targets.json"}, workers=1)


@pytest.fixture(scope="module")
def baseline_study_uid(dicom_run) -> str:
    return json.loads((dicom_run.out / "run.json").read_text())["inputs"]["timepoints"][0]["study_instance_uid"]


def test_our_sr_round_trips(dicom_run, tiny_two_timepoint_study: Path, tmp_path: Path) -> None:
    """The baseline SR a run wrote, given back as --targets: the same lesion ids and measurements."""
    from pipeline.longitudinal.run import run_study

    out = tmp_path / "out"
    run_study(tiny_two_timepoint_study, out, dicom_run.out / "dicom" / "sr_timepoint_0.dcm", AFFINE)
    before, after = _rows(dicom_run.out, 2), _rows(out)
    assert sorted(after) == sorted(before)
    _same_measurements(before, after)
    used = json.loads((out / "targets.json").read_text())["lesions"]
    assert all(entry["origin"].startswith("SR sr_timepoint_0.dcm") and "long_axis_lps_mm" in entry for entry in used)


def test_our_seg_round_trips(dicom_run, tiny_two_timepoint_study: Path, tmp_path: Path) -> None:
    """The baseline SEG as --targets: one target per segment, measured as drawn (volumes within 1 %)."""
    from pipeline.longitudinal.run import run_study

    out = tmp_path / "out"
    run_study(tiny_two_timepoint_study, out, dicom_run.out / "dicom" / "seg_timepoint_0.dcm", AFFINE)
    before, after = _rows(dicom_run.out, 2), _rows(out)
    assert sorted(after) == sorted(before)
    for (k, lesion_id), row in before.items():
        if row["status"] != "measured":
            continue
        assert after[(k, lesion_id)]["status"] == "measured", (k, lesion_id)
        if k == 0:  # the reader's mask itself
            assert abs(float(after[(0, lesion_id)]["volume_ml"]) / float(row["volume_ml"]) - 1.0) <= 0.01
            assert abs(float(after[(0, lesion_id)]["longest_diameter_mm"]) - float(row["longest_diameter_mm"])) <= 0.5
    manifest = json.loads((out / "run.json").read_text())
    assert all(t["reader_mask"] for t in manifest["targets"])
    assert {r["lesion_id"] for r in manifest["inputs"]["timepoints"][0]["lesions"]} == {k for _, k in before}


def _ohif_style_sr(study: Path, tiny_ground_truth: dict, path: Path) -> dict[str, str]:
    """An SR as OHIF exports one, built with highdicom: a Length line across each baseline lesion.

    L1 and L2 are labelled the way OHIF does (its tool's Tracking Identifier and a Comment); L3 and L4 by
    their Tracking Identifier. Returns the expected lesion id of each truth lesion.
    """
    images = {}
    for p in study.rglob("*"):
        if p.is_file() and p.name != "targets.json":
            ds = pydicom.dcmread(p, stop_before_pixels=True)
            if ds.Modality == "CT":
                images.setdefault(str(ds.StudyInstanceUID), []).append(ds)
    baseline_uid = min(images, key=lambda uid: str(images[uid][0].StudyDate))
    ct = images[baseline_uid]
    groups, expected = [], {}
    for k, lesion in enumerate(tiny_ground_truth["timepoints"][0]["lesions"]):
        centre = np.asarray(lesion["centre_lps_mm"])
        image = min(ct, key=lambda ds: abs(float(ds.ImagePositionPatient[2]) - centre[2]))
        # a RECIST line as long as the lesion's longest axial diameter, through its centre (along x)
        half = lesion["longest_axial_diameter_on_slices_mm"] / 2.0
        ends = [centre + [-half, 0.0, 0.0], centre + [half, 0.0, 0.0]]
        origin = np.asarray(image.ImagePositionPatient, dtype=float)
        spacing = [float(v) for v in image.PixelSpacing]
        pixel = [((e[0] - origin[0]) / spacing[1] + 0.5, (e[1] - origin[1]) / spacing[0] + 0.5) for e in ends]
        tool_style = k < 2
        identifier = "Cornerstone3DTools@^0.1.0:Length" if tool_style else lesion["lesion_id"]
        group = hd.sr.MeasurementsAndQualitativeEvaluations(
            tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(), identifier=identifier),
            measurements=[
                hd.sr.Measurement(
                    name=Code("410668003", "SCT", "Length"),
                    value=2 * half,
                    unit=codes.UCUM.Millimeter,
                    referenced_coordinates=[
                        hd.sr.CoordinatesForMeasurement(
                            graphic_type=hd.sr.GraphicTypeValues.POLYLINE,
                            graphic_data=np.asarray(pixel),
                            source_image=hd.sr.SourceImageForRegion.from_source_image(image),
                        )
                    ],
                )
            ],
        )
        if tool_style:
            label = f"Lesion {lesion['lesion_id']}"
            group[0].ContentSequence.append(
                hd.sr.TextContentItem(codes.DCM.Comment, label, hd.sr.RelationshipTypeValues.CONTAINS)
            )
            expected[lesion["lesion_id"]] = f"Lesion_{lesion['lesion_id']}"
        else:
            expected[lesion["lesion_id"]] = lesion["lesion_id"]
        groups.append(group)
    observer = hd.sr.ObserverContext(
        observer_type=codes.DCM.Person,
        observer_identifying_attributes=hd.sr.PersonObserverIdentifyingAttributes("Reader^A"),
    )
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_person_context=observer),
        procedure_reported=codes.LN.CTUnspecifiedBodyRegion,
        imaging_measurements=groups,
    )
    sr = hd.sr.Comprehensive3DSR(
        evidence=ct,
        content=report,
        series_instance_uid=hd.UID(),
        series_number=99,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="viewer",
    )
    sr.save_as(path)
    return expected


def test_an_ohif_style_sr_drives_a_full_run(
    tiny_two_timepoint_study: Path, tiny_ground_truth: dict, tmp_path: Path
) -> None:
    from pipeline.longitudinal.run import run_study

    expected = _ohif_style_sr(tiny_two_timepoint_study, tiny_ground_truth, tmp_path / "reader.dcm")
    out = tmp_path / "out"
    run_study(tiny_two_timepoint_study, out, tmp_path / "reader.dcm", AFFINE)
    rows = _rows(out)
    timepoints = {k for k, _ in rows}
    assert timepoints == {0, 1}
    for lesion_id in expected.values():
        for k in timepoints:
            assert rows[(k, lesion_id)]["status"] == "measured", (k, lesion_id)
    truth = {lesion["lesion_id"]: lesion for lesion in tiny_ground_truth["timepoints"][0]["lesions"]}
    for truth_id, lesion_id in expected.items():  # the baseline measurement is of the right lesion
        d = float(rows[(0, lesion_id)]["longest_diameter_mm"])
        assert abs(d - truth[truth_id]["longest_axial_diameter_on_slices_mm"]) < 1.5, lesion_id


def test_sr_on_images_outside_the_study_is_refused(dicom_run, study_index) -> None:
    """A reader's SR drawn on another study's images names the mistake instead of measuring elsewhere."""
    images = ImageLookup(study_index, "1.2.3.4", "reader.dcm")  # a baseline that is none of the study's
    with pytest.raises(TargetsError, match="not of the baseline"):
        read_sr_targets(dicom_run.out / "dicom" / "sr_timepoint_1.dcm", images)


@pytest.mark.parametrize("system", ["RAS", "LPS"])
def test_slicer_markups_give_the_same_seeds_as_targets_json(tiny_root: Path, system: str) -> None:
    seeds = _seeds(tiny_root)
    sign = np.array([-1.0, -1.0, 1.0]) if system == "RAS" else np.ones(3)
    points = [
        {"id": str(k), "label": lesion_id, "position": list(np.asarray(seed) * sign)}
        for k, (lesion_id, seed) in enumerate(seeds.items())
    ]
    data = {
        "@schema": "https://raw.githubusercontent.com/slicer/slicer/master/Modules/Loadable/Markups/Resources/Schema/markups-schema-v1.0.3.json#",
        "markups": [{"type": "Fiducial", "coordinateSystem": system, "coordinateUnits": "mm", "controlPoints": points}],
    }
    targets = targets_from_markups(data, "points.mrk.json")
    assert [t.lesion_id for t in targets] == list(seeds)
    for t in targets:
        np.testing.assert_allclose(t.seed_lps_mm, seeds[t.lesion_id], atol=1e-9)


def test_slicer_line_markup_is_a_recist_line(tiny_root: Path) -> None:
    a, b = [10.0, 20.0, 30.0], [16.0, 28.0, 30.0]  # RAS
    data = {
        "markups": [
            {
                "type": "Line",
                "name": "liver 1",
                "coordinateSystem": "RAS",
                "controlPoints": [{"position": a}, {"position": b}],
            }
        ]
    }
    (target,) = targets_from_markups(data, "line.mrk.json")
    assert target.lesion_id == "liver_1"
    assert target.long_axis_lps_mm == ((-10.0, -20.0, 30.0), (-16.0, -28.0, 30.0))
    assert target.seed_lps_mm == (-13.0, -24.0, 30.0)


def test_a_folder_of_viewer_files_is_read_together(dicom_run, study_index, baseline_study_uid, tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "sr.dcm").write_bytes((dicom_run.out / "dicom" / "sr_timepoint_0.dcm").read_bytes())
    (folder / "notes.txt").write_text("not a targets file")
    source = target_source(folder)
    assert [p.name for p, _ in source.dicom_files] == ["sr.dcm"] and not source.json_files
    targets = read_dicom_targets(source, study_index, baseline_study_uid)
    assert [t.lesion_id for t in targets] == ["L1", "L2", "L3", "L4"]
    with pytest.raises(TargetsError, match="not a targets file"):
        target_source(folder / "notes.txt")


def _rtstruct_of_label_map(label_map: Path, lesion_ids: list[str], frame_uid: str, path: Path) -> None:
    """An RT Structure Set whose ROIs are the label map's lesions, one closed contour per slice and part.

    Contours follow the 0.5 level of each lesion's 0/1 mask (halfway between voxel centres), in LPS.
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid
    from skimage.measure import find_contours

    image = sitk.ReadImage(str(label_map))
    labels = sitk.GetArrayFromImage(image)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.481.3"
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPClassUID, ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.StructureSetLabel = "RTSTRUCT", "targets"
    ref = Dataset()
    ref.FrameOfReferenceUID = frame_uid
    ds.ReferencedFrameOfReferenceSequence = Sequence([ref])
    ds.StructureSetROISequence, ds.ROIContourSequence = Sequence(), Sequence()
    for k, lesion_id in enumerate(lesion_ids, start=1):
        roi = Dataset()
        roi.ROINumber, roi.ROIName, roi.ReferencedFrameOfReferenceUID = k, lesion_id, frame_uid
        ds.StructureSetROISequence.append(roi)
        item = Dataset()
        item.ReferencedROINumber, item.ContourSequence = k, Sequence()
        for z in np.flatnonzero((labels == k).any(axis=(1, 2))):
            padded = np.pad((labels[z] == k).astype(float), 1)
            for rc in find_contours(padded, 0.5):
                lps = [image.TransformContinuousIndexToPhysicalPoint((c - 1.0, r - 1.0, float(z))) for r, c in rc]
                contour = Dataset()
                contour.ContourGeometricType, contour.NumberOfContourPoints = "CLOSED_PLANAR", len(lps)
                contour.ContourData = [round(v, 4) for p in lps for v in p]
                item.ContourSequence.append(contour)
        ds.ROIContourSequence.append(item)
    ds.save_as(path, enforce_file_format=True)


def test_an_rtstruct_gives_one_target_per_roi_measured_as_drawn(
    dicom_run, study_index, baseline_study_uid, tmp_path: Path
) -> None:
    """Contours of the run's baseline lesions: the same ids; the rasterised masks hold the label map's voxels."""
    manifest = json.loads((dicom_run.out / "run.json").read_text())
    ids = [t["lesion_id"] for t in manifest["targets"]]
    frame = next(i.frame_of_reference_uid for i in study_index.instances if i.study_uid == baseline_study_uid)
    _rtstruct_of_label_map(dicom_run.out / "masks" / "timepoint_0.nii.gz", ids, frame, tmp_path / "rs.dcm")
    targets = read_dicom_targets(target_source(tmp_path / "rs.dcm"), study_index, baseline_study_uid)
    assert [t.lesion_id for t in targets] == ids
    labels = sitk.ReadImage(str(dicom_run.out / "masks" / "timepoint_0.nii.gz"))
    for k, t in enumerate(targets, start=1):
        drawn = sitk.Resample(t.reader_mask, labels, sitk.Transform(), sitk.sitkNearestNeighbor, 0.0)
        np.testing.assert_array_equal(sitk.GetArrayViewFromImage(drawn) > 0.5, sitk.GetArrayViewFromImage(labels) == k)


def test_an_rtstruct_round_trips_when_segmented_again(
    dicom_run, tiny_two_timepoint_study: Path, study_index, baseline_study_uid, tmp_path: Path
) -> None:
    """With --resegment, targets from the RTSTRUCT give the run's ids and measurements again."""
    from dataclasses import replace

    from pipeline.longitudinal.run import run_study

    manifest = json.loads((dicom_run.out / "run.json").read_text())
    ids = [t["lesion_id"] for t in manifest["targets"]]
    frame = next(i.frame_of_reference_uid for i in study_index.instances if i.study_uid == baseline_study_uid)
    _rtstruct_of_label_map(dicom_run.out / "masks" / "timepoint_0.nii.gz", ids, frame, tmp_path / "rs.dcm")
    out = tmp_path / "out"
    run_study(tiny_two_timepoint_study, out, tmp_path / "rs.dcm", replace(AFFINE, resegment=True))
    before, after = _rows(dicom_run.out, 2), _rows(out)
    assert sorted(after) == sorted(before)
    _same_measurements(before, after)
