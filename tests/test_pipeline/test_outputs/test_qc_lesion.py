"""Per-lesion QC images: the axes are drawn where they were measured, on the right slice of the right image.

The test reads the PNG itself: it finds the pixels of the long-axis (magenta)
and short-axis (cyan) colours in the CT panel, takes the two farthest apart as
the drawn end points, maps them to patient coordinates with the panel's
recorded ``pixel_to_lps`` and compares them with the end points measured
(run.json). That mapping is checked independently: every outline pixel
(yellow) must land, through nibabel's affine of the label map, in a voxel of
that lesion.
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.image as mpimg
import nibabel as nib
import numpy as np
import pytest

from pipeline.outputs.qc_lesion import LONG_AXIS_RGB, OUTLINE_RGB, SHORT_AXIS_RGB


def _pixels(png: np.ndarray, box: list[int], rgb: tuple[int, int, int]) -> np.ndarray:
    """PNG coordinates (u, v) of the centres of the pixels of colour ``rgb`` inside ``box``."""
    left, top, w, h = box
    panel = np.round(png[top : top + h, left : left + w, :3] * 255).astype(int)
    v, u = np.nonzero(np.all(panel == np.asarray(rgb), axis=2))
    return np.column_stack([u + left + 0.5, v + top + 0.5])


def _farthest_pair(points: np.ndarray) -> np.ndarray:
    d = np.linalg.norm(points[:, None, :] - points[None, :, :], axis=2)
    i, j = np.unravel_index(int(d.argmax()), d.shape)
    return points[[i, j]]


def _to_lps(matrix: np.ndarray, uv: np.ndarray) -> np.ndarray:
    return np.column_stack([uv, np.ones(len(uv))]) @ matrix.T


def _match_error(drawn: np.ndarray, measured: np.ndarray) -> float:
    """Largest end point distance (mm) under the better of the two pairings."""
    straight = np.linalg.norm(drawn - measured, axis=1).max()
    crossed = np.linalg.norm(drawn - measured[::-1], axis=1).max()
    return float(min(straight, crossed))


def _qc_entries(out: Path) -> list[tuple[int, dict]]:
    entries = []
    for path in sorted((out / "qc").glob("lesions_timepoint_*.json")):
        k = int(path.stem.rsplit("_", 1)[1])
        entries += [(k, e) for e in json.loads(path.read_text())]
    return entries


def test_one_qc_image_per_measured_lesion_and_timepoint(pipeline_output: Path) -> None:
    manifest = json.loads((pipeline_output / "run.json").read_text())
    expected = {
        (tp["timepoint"], lesion["lesion_id"])
        for tp in manifest["inputs"]["timepoints"]
        for lesion in tp["lesions"]
        if lesion["status"] == "measured"
    }
    found = {(k, e["lesion_id"]) for k, e in _qc_entries(pipeline_output)}
    assert found == expected
    for _, e in _qc_entries(pipeline_output):
        assert (pipeline_output / "qc" / e["file"]).is_file()
        assert "PET" in e["panels"]  # the sample study has PET at every timepoint


def test_drawn_axes_are_the_measured_ones(pipeline_output: Path) -> None:
    manifest = json.loads((pipeline_output / "run.json").read_text())
    lesions = {(tp["timepoint"], l["lesion_id"]): l for tp in manifest["inputs"]["timepoints"] for l in tp["lesions"]}
    entries = _qc_entries(pipeline_output)
    assert entries
    for k, e in entries:
        png = mpimg.imread(pipeline_output / "qc" / e["file"])
        ct = e["panels"]["CT"]
        matrix = np.asarray(ct["pixel_to_lps"])
        mm_per_px = float(np.linalg.norm(matrix[:, 0]))  # size of one PNG pixel in mm
        lesion = lesions[(k, e["lesion_id"])]
        for colour, key, length_key in (
            (LONG_AXIS_RGB, "long_axis_lps_mm", "longest_diameter_mm"),
            (SHORT_AXIS_RGB, "short_axis_lps_mm", "short_axis_mm"),
        ):
            drawn = _to_lps(matrix, _farthest_pair(_pixels(png, ct["box_px"], colour)))
            measured = np.asarray(lesion[key])
            # end points rounded to whole PNG pixels (<= 0.71 px) and the line's second pixel row (1 px): < 2 px
            assert _match_error(drawn, measured) <= 2.0 * mm_per_px, (k, e["lesion_id"], key, drawn, measured)
            assert np.linalg.norm(drawn[0] - drawn[1]) == pytest.approx(lesion[length_key], abs=3 * mm_per_px)


def test_panel_geometry_agrees_with_the_label_map(pipeline_output: Path) -> None:
    """Outline pixels mapped to LPS fall inside the lesion's voxels of masks/timepoint_K.nii.gz (nibabel's affine)."""
    manifest = json.loads((pipeline_output / "run.json").read_text())
    order = [t["lesion_id"] for t in manifest["targets"]]
    for k, e in _qc_entries(pipeline_output):
        img = nib.load(pipeline_output / "masks" / f"timepoint_{k}.nii.gz")
        labels = np.asarray(img.dataobj)
        png = mpimg.imread(pipeline_output / "qc" / e["file"])
        outline = _pixels(png, e["panels"]["CT"]["box_px"], OUTLINE_RGB)
        assert len(outline) > 20
        lps = _to_lps(np.asarray(e["panels"]["CT"]["pixel_to_lps"]), outline)
        ijk = nib.affines.apply_affine(np.linalg.inv(img.affine), lps * np.array([-1.0, -1.0, 1.0]))
        ijk = np.round(ijk).astype(int)
        assert np.all(ijk[:, 2] == e["slice_index_z"])
        hit = labels[ijk[:, 0], ijk[:, 1], ijk[:, 2]] == order.index(e["lesion_id"]) + 1
        assert hit.mean() == 1.0, (k, e["lesion_id"], hit.mean())


def test_edge_letters_follow_the_direction_cosines() -> None:
    from pipeline.outputs.qc_draw import edge_letters

    assert edge_letters((1, 0, 0, 0, 1, 0, 0, 0, 1)) == {"left": "R", "right": "L", "top": "A", "bottom": "P"}
    # rows running to the patient's right and columns to the feet (e.g. a coronal-like or flipped export)
    assert edge_letters((-1, 0, 0, 0, 0, 1, 0, -1, 0)) == {"left": "L", "right": "R", "top": "S", "bottom": "I"}


def test_scale_bar_orientation_and_field_of_view(pipeline_output: Path) -> None:
    """The white scale bar at the bottom left is as long as it says; the field of view is at least 100 mm."""
    for _, e in _qc_entries(pipeline_output):
        png = mpimg.imread(pipeline_output / "qc" / e["file"])
        left, top, w, h = e["panels"]["CT"]["box_px"]
        mm_per_px = float(np.linalg.norm(np.asarray(e["panels"]["CT"]["pixel_to_lps"])[:, 0]))
        assert w * mm_per_px >= 99.0 and h * mm_per_px >= 99.0
        bottom = np.round(png[top + h - 20 : top + h, left : left + w // 2, :3] * 255).astype(int)
        longest = max(_longest_run(np.all(row == 255, axis=1)) for row in bottom)
        assert longest * mm_per_px == pytest.approx(e["scale_bar_mm"], abs=1.5 * mm_per_px)
        assert e["edge_letters"] == {"left": "R", "right": "L", "top": "A", "bottom": "P"}  # axial, as the generator


def _longest_run(flags: np.ndarray) -> int:
    best = run = 0
    for f in flags:
        run = run + 1 if f else 0
        best = max(best, run)
    return best


def _pet_of(sample_root: Path, timepoint: int):
    from pipeline.dicom.discover import discover
    from pipeline.dicom.load import load_pet
    from pipeline.dicom.selection import select_timepoints

    study = sample_root / "study"
    return load_pet(select_timepoints(discover(study, ignore={study / "targets.json"}))[timepoint].pet_candidates[0])


def test_pet_region_and_peak_sphere_are_drawn_where_measured(pipeline_output: Path, sample_root: Path) -> None:
    """Green outline pixels lie in PET voxels at or above the recorded threshold; the blue circle is centred on
    the recorded SUVpeak centre, where the mean SUV of the 1 ml sphere (recomputed here) is SUVpeak."""
    from pipeline import spatial
    from pipeline.outputs.qc_lesion import PEAK_SPHERE_RGB, PET_REGION_RGB

    manifest = json.loads((pipeline_output / "run.json").read_text())
    lesions = {(tp["timepoint"], l["lesion_id"]): l for tp in manifest["inputs"]["timepoints"] for l in tp["lesions"]}
    pets, voxels_lps = {}, {}
    for k, e in _qc_entries(pipeline_output):
        pet = pets.setdefault(k, _pet_of(sample_root, k))
        suv = spatial.array_zyx(pet.image)
        if k not in voxels_lps:  # every PET voxel's centre in LPS mm, once per timepoint
            zyx = np.stack(np.meshgrid(*[np.arange(n) for n in suv.shape], indexing="ij"), -1).reshape(-1, 3)
            voxels_lps[k] = spatial.index_zyx_to_lps(pet.image, zyx.astype(float))
        lesion = lesions[(k, e["lesion_id"])]
        png = mpimg.imread(pipeline_output / "qc" / e["file"])
        panel = e["panels"]["PET"]
        matrix = np.asarray(panel["pixel_to_lps"])
        green = _to_lps(matrix, _pixels(png, panel["box_px"], PET_REGION_RGB))
        assert len(green) > 10
        idx = np.round(spatial.lps_to_index_zyx(pet.image, green)).astype(int)
        assert (suv[idx[:, 0], idx[:, 1], idx[:, 2]] >= lesion["pet_threshold_suv"] - 1e-4).all()
        centre = np.asarray(lesion["suv_peak_centre_lps_mm"])
        near = np.linalg.norm(voxels_lps[k] - centre, axis=1) <= 6.2035
        assert suv.reshape(-1)[near].mean() == pytest.approx(lesion["suv_peak"], rel=1e-5)
        sphere = e["suv_peak_sphere_png_px"]
        drawn = _to_lps(matrix, np.asarray([sphere["centre"]]))[0]
        in_plane = (drawn - centre)[:2]
        assert np.linalg.norm(in_plane) <= 1.0 * float(np.linalg.norm(matrix[:, 0])) + 1e-6
        blue = _pixels(png, panel["box_px"], PEAK_SPHERE_RGB)
        radii = np.linalg.norm(blue - np.asarray(sphere["centre"]), axis=1)
        assert len(blue) > 8 and np.abs(radii - sphere["radius"]).max() <= 1.5


@pytest.mark.parametrize(
    "ends",
    [
        [(150.0, 295.0), (150.0, 100.0)],  # end at the right edge: text pushed back to the left of it
        [(2.0, 150.0), (100.0, 150.0)],  # end at the top edge
        [(150.0, 3.0), (150.0, 200.0)],  # end at the left edge, text aligned right of its anchor
        [(298.0, 298.0), (100.0, 100.0)],  # bottom right corner
    ],
)
def test_length_labels_stay_inside_the_panel(ends) -> None:
    from pipeline.outputs.qc_lesion import _label_offset

    w, h = 300, 300
    r, c, ha, va = _label_offset(ends, 0, (w, h))
    left = c - (52 if ha == "right" else 0)
    top = r - (14 if va == "bottom" else 0)
    assert left >= 0 and left + 52 <= w and top >= 0 and top + 14 <= h, (r, c, ha, va)
