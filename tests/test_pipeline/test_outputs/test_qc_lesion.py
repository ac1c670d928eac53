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
