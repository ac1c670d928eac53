"""DICOM SEG and SR (``--dicom-out``) read back and compared with measurements.csv, the label maps and the input."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import highdicom as hd
import nibabel as nib
import numpy as np
import pydicom
import pytest

from pipeline.outputs.tables import fmt

# (concept, derivation meaning or None) -> (measurements.csv column, decimals written there)
SR_VALUES = {
    ("Long axis", None): ("longest_diameter_mm", 2),
    ("Short axis", None): ("short_axis_mm", 2),
    ("Volume", None): ("volume_ml", 3),
    ("Attenuation Coefficient", "Mean"): ("mean_hu", 1),
    ("SUVbw", "Maximum"): ("suv_max", 3),
    ("SUVbw", "Peak Value Within ROI"): ("suv_peak", 3),
    ("SUVbw", "Mean"): ("suv_mean", 3),
}


@pytest.fixture(scope="module")
def input_instances(tiny_root: Path) -> dict[str, pydicom.Dataset]:
    """SOP Instance UID -> header of every file of the input study."""
    out = {}
    for path in (tiny_root / "study").rglob("*"):
        if path.is_file() and path.name != "targets.json":
            ds = pydicom.dcmread(path, stop_before_pixels=True)
            out[str(ds.SOPInstanceUID)] = ds
    return out


def _timepoints(manifest: dict) -> list[dict]:
    return manifest["inputs"]["timepoints"]


def test_one_seg_and_one_sr_per_timepoint(dicom_run, manifest) -> None:
    files = sorted(p.name for p in (dicom_run.out / "dicom").iterdir())
    n = len(_timepoints(manifest))
    assert files == sorted([f"seg_timepoint_{k}.dcm" for k in range(n)] + [f"sr_timepoint_{k}.dcm" for k in range(n)])
    assert [d["timepoint"] for d in manifest["dicom"]] == list(range(n))


def test_seg_references_the_measured_ct_instances_of_the_input(dicom_run, manifest, input_instances) -> None:
    for tp in _timepoints(manifest):
        seg = hd.seg.segread(dicom_run.out / "dicom" / f"seg_timepoint_{tp['timepoint']}.dcm")
        assert seg.StudyInstanceUID == tp["study_instance_uid"]
        (series,) = seg.ReferencedSeriesSequence
        assert series.SeriesInstanceUID == tp["ct_series_instance_uid"]
        referenced = [item.ReferencedSOPInstanceUID for item in series.ReferencedInstanceSequence]
        assert referenced and all(uid in input_instances for uid in referenced)
        assert {input_instances[uid].SeriesInstanceUID for uid in referenced} == {tp["ct_series_instance_uid"]}
        for frame in seg.PerFrameFunctionalGroupsSequence:
            for source in frame.DerivationImageSequence[0].SourceImageSequence:
                assert source.ReferencedSOPInstanceUID in input_instances


def test_seg_fractions_match_the_label_maps(dicom_run, manifest, input_instances) -> None:
    """The FRACTIONAL SEG's lesion voxels (fraction >= 0.5) are the label map's (up to the 1/255 quantisation)."""
    for tp in _timepoints(manifest):
        k = tp["timepoint"]
        seg = hd.seg.segread(dicom_run.out / "dicom" / f"seg_timepoint_{k}.dcm")
        assert seg.SegmentationType == "FRACTIONAL"
        ct = [ds for ds in input_instances.values() if ds.SeriesInstanceUID == tp["ct_series_instance_uid"]]
        normal = np.cross(*np.reshape(np.asarray(ct[0].ImageOrientationPatient, dtype=float), (2, 3)))
        ct.sort(key=lambda ds: float(np.dot(np.asarray(ds.ImagePositionPatient, dtype=float), normal)))
        fractions = seg.get_pixels_by_source_instance(
            [str(ds.SOPInstanceUID) for ds in ct],
            combine_segments=False,
            assert_missing_frames_are_empty=True,
        )
        labels = np.asarray(nib.load(dicom_run.out / "masks" / f"timepoint_{k}.nii.gz").dataobj).transpose(2, 1, 0)
        ids = [t["lesion_id"] for t in manifest["targets"]]
        for s in seg.SegmentSequence:
            fraction = fractions[..., int(s.SegmentNumber) - 1]
            lesion = labels == 1 + ids.index(s.SegmentLabel)
            decided = np.abs(fraction - 0.5) > 1.0 / 255
            np.testing.assert_array_equal((fraction >= 0.5)[decided], lesion[decided])


def test_measuring_our_seg_gives_the_measured_values(dicom_run, manifest, csv_rows, tiny_root: Path) -> None:
    """``measure`` of the SEG a run wrote reproduces measurements.csv: volume within 1 %, diameter within 0.5 mm."""
    from pipeline.cli.measure import measure_files

    checked = 0
    for tp in _timepoints(manifest):
        k = tp["timepoint"]
        seg = hd.seg.segread(dicom_run.out / "dicom" / f"seg_timepoint_{k}.dcm")
        for s in seg.SegmentSequence:
            row = csv_rows[(k, s.SegmentLabel)]
            result = measure_files(
                tiny_root / "study",
                dicom_run.out / "dicom" / f"seg_timepoint_{k}.dcm",
                label=int(s.SegmentNumber),
                series_uid=tp["ct_series_instance_uid"],
            )
            lesion = result["lesion"]
            assert abs(lesion["voxel_volume_ml"] / float(row["volume_ml"]) - 1.0) <= 0.01, (k, s.SegmentLabel)
            assert abs(lesion["longest_diameter_mm"] - float(row["longest_diameter_mm"])) <= 0.5, (k, s.SegmentLabel)
            checked += 1
    assert checked >= len(_timepoints(manifest))


def test_sr_values_equal_measurements_csv(dicom_run, manifest, csv_rows) -> None:
    checked = 0
    for tp in _timepoints(manifest):
        k = tp["timepoint"]
        sr = hd.sr.srread(dicom_run.out / "dicom" / f"sr_timepoint_{k}.dcm")
        assert sr.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.34"  # Comprehensive 3D SR
        assert sr.StudyInstanceUID == tp["study_instance_uid"]
        groups = sr.content.get_volumetric_roi_measurement_groups()
        measured = {lesion_id for (t, lesion_id), r in csv_rows.items() if t == k and r["status"] == "measured"}
        assert {str(g.tracking_identifier) for g in groups} == measured
        for g in groups:
            row = csv_rows[(k, str(g.tracking_identifier))]
            found = set()
            for m in g.get_measurements():
                key = (m.name.meaning, m.derivation.meaning if m.derivation is not None else None)
                if key not in SR_VALUES:
                    continue  # e.g. the time point order
                column, digits = SR_VALUES[key]
                assert fmt(float(m.value), digits) == row[column], (k, row["lesion_id"], column, m.value)
                found.add(column)
                checked += 1
            assert found == {c for c, _ in SR_VALUES.values() if row[c] != ""}
    assert checked >= 4 * 7 * len(_timepoints(manifest))


def test_tracking_uid_is_the_lesions_across_timepoints_and_in_the_seg(dicom_run, manifest) -> None:
    per_lesion: dict[str, set[str]] = {}
    for tp in _timepoints(manifest):
        k = tp["timepoint"]
        seg = hd.seg.segread(dicom_run.out / "dicom" / f"seg_timepoint_{k}.dcm")
        segments = {s.SegmentLabel: s for s in seg.SegmentSequence}
        sr = hd.sr.srread(dicom_run.out / "dicom" / f"sr_timepoint_{k}.dcm")
        for g in sr.content.get_volumetric_roi_measurement_groups():
            lesion_id = str(g.tracking_identifier)
            per_lesion.setdefault(lesion_id, set()).add(str(g.tracking_uid))
            segment = segments[lesion_id]
            assert segment.TrackingUID == g.tracking_uid and segment.TrackingID == lesion_id
            ref = g.referenced_segment
            assert ref.referenced_sop_instance_uid == seg.SOPInstanceUID
            assert ref.referenced_segment_numbers == [segment.SegmentNumber]
    assert sorted(per_lesion) == [t["lesion_id"] for t in manifest["targets"]]
    assert all(len(uids) == 1 for uids in per_lesion.values()), per_lesion
    assert len({next(iter(u)) for u in per_lesion.values()}) == len(per_lesion)


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dciodvfy (Debian dicom3tools) not installed")
def test_dciodvfy_reports_no_errors(dicom_run) -> None:
    for path in sorted((dicom_run.out / "dicom").iterdir()):
        result = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, timeout=120)
        errors = [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("Error")]
        assert result.returncode == 0 and not errors, (path.name, errors)


def test_seg_has_no_segment_for_a_lesion_absent_at_that_timepoint(tiny_root: Path, manifest) -> None:
    """Segments are numbered 1..m over the lesions present; label and tracking identity stay the lesion's."""
    from pipeline.outputs.dicom_ids import tracking_uid
    from pipeline.outputs.seg import build_seg

    tp = _timepoints(manifest)[0]
    files = [p for p in (tiny_root / "study").rglob("*") if p.is_file() and p.name != "targets.json"]
    ct = [pydicom.dcmread(p, stop_before_pixels=True) for p in files]
    ct = sorted(
        (ds for ds in ct if ds.SeriesInstanceUID == tp["ct_series_instance_uid"]),
        key=lambda ds: float(ds.ImagePositionPatient[2]),
    )
    labels = np.zeros((len(ct), int(ct[0].Rows), int(ct[0].Columns)), dtype=np.uint8)
    labels[3, 10:14, 20:25] = 1  # L1
    labels[5, 40:42, 50:53] = 3  # L3; L2 absent
    ids = ["L1", "L2", "L3"]
    seg, numbers = build_seg(ct, labels, ids, dict.fromkeys(ids, "liver"), {i: tracking_uid("1.2.3", i) for i in ids})
    assert numbers == {"L1": 1, "L3": 2}
    assert [(s.SegmentNumber, s.SegmentLabel, s.TrackingID) for s in seg.SegmentSequence] == [
        (1, "L1", "L1"),
        (2, "L3", "L3"),
    ]
    assert seg.SegmentSequence[1].TrackingUID == tracking_uid("1.2.3", "L3")
    pixels = seg.get_pixels_by_source_instance(
        [str(ds.SOPInstanceUID) for ds in ct], combine_segments=True, assert_missing_frames_are_empty=True
    )
    assert (pixels == 1).sum() == 20 and (pixels == 2).sum() == 6 and pixels[5, 40, 50] == 2


def test_sr_of_a_timepoint_with_one_measured_lesion(tiny_root: Path, manifest) -> None:
    """A SEG with one segment (highdicom keeps its identification in the shared functional groups) gives an SR whose
    measurement group references that segment and exactly the CT images holding the lesion."""
    from pipeline.outputs.dicom_ids import tracking_uid
    from pipeline.outputs.seg import build_seg
    from pipeline.outputs.sr import build_sr
    from pipeline.records import LesionRecord

    tp = _timepoints(manifest)[0]
    files = [p for p in (tiny_root / "study").rglob("*") if p.is_file() and p.name != "targets.json"]
    headers = (pydicom.dcmread(p, stop_before_pixels=True) for p in files)
    ct = sorted(
        (ds for ds in headers if ds.SeriesInstanceUID == tp["ct_series_instance_uid"]),
        key=lambda ds: float(ds.ImagePositionPatient[2]),
    )
    labels = np.zeros((len(ct), int(ct[0].Rows), int(ct[0].Columns)), dtype=np.uint8)
    labels[3:5, 10:14, 20:25] = 1
    uids = {"L1": tracking_uid("1.2.3", "L1")}
    seg, numbers = build_seg(ct, labels, ["L1"], {"L1": "liver"}, uids)
    lesion = next(r for r in tp["lesions"] if r["lesion_id"] == "L1")
    record = LesionRecord(**lesion)
    sr = build_sr(seg, ct, [record], numbers, {"L1": "liver"}, uids, 0, with_pet=False)
    (group,) = hd.sr.Comprehensive3DSR.from_dataset(sr).content.get_volumetric_roi_measurement_groups()
    ref = group.referenced_segment
    assert numbers == {"L1": 1} and str(group.tracking_identifier) == "L1"
    assert ref.referenced_sop_instance_uid == seg.SOPInstanceUID and ref.referenced_segment_numbers == [1]
    sources = {str(item.ReferencedSOPSequence[0].ReferencedSOPInstanceUID) for item in ref[1:]}
    assert sources == {str(ct[3].SOPInstanceUID), str(ct[4].SOPInstanceUID)}
