"""The SR as a viewer reads it: planar RECIST axes per lesion, parsed by the code OHIF uses (Cornerstone3D
adapters, run with node) and by this project's own SR reader."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest

from pipeline.outputs.sr import VIEWER_BIDIRECTIONAL

VIEWER_DIR = Path(__file__).resolve().parents[2] / "viewer"


def _node_ready() -> str | None:
    """Why the Cornerstone check cannot run here, or None when it can."""
    if shutil.which("node") is None:
        return "node is not installed (Debian nodejs)"
    if not (VIEWER_DIR / "node_modules" / "@cornerstonejs" / "adapters").is_dir():
        return f"the Cornerstone3D adapters are not installed (npm ci --prefix {VIEWER_DIR})"
    return None


@pytest.fixture(scope="module")
def planes(tiny_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Image planes of every CT instance of the input, as a viewer's metadata provider gives them."""
    out = {}
    for path in (tiny_root / "study").rglob("*"):
        if not path.is_file() or path.name == "targets.json":
            continue
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        if ds.Modality != "CT":
            continue
        iop = [float(v) for v in ds.ImageOrientationPatient]
        out[str(ds.SOPInstanceUID)] = {
            "imagePositionPatient": [float(v) for v in ds.ImagePositionPatient],
            "rowCosines": iop[:3],
            "columnCosines": iop[3:],
            "rowPixelSpacing": float(ds.PixelSpacing[0]),
            "columnPixelSpacing": float(ds.PixelSpacing[1]),
            "frameOfReferenceUID": str(ds.FrameOfReferenceUID),
        }
    path = tmp_path_factory.mktemp("planes") / "planes.json"
    path.write_text(json.dumps(out))
    return path


def _lesions(manifest: dict, k: int) -> dict[str, dict]:
    return {r["lesion_id"]: r for r in manifest["inputs"]["timepoints"][k]["lesions"] if r["status"] == "measured"}


def test_cornerstone_draws_one_bidirectional_per_measured_lesion(dicom_run, manifest, csv_rows, planes) -> None:
    why = _node_ready()
    if why is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(why)
        pytest.skip(why)
    for tp in manifest["inputs"]["timepoints"]:
        k = tp["timepoint"]
        sr = dicom_run.out / "dicom" / f"sr_timepoint_{k}.dcm"
        result = subprocess.run(
            ["node", str(VIEWER_DIR / "read_sr.mjs"), str(sr), str(planes)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        annotations = json.loads(result.stdout)
        lesions = _lesions(manifest, k)
        assert sorted(a["label"] for a in annotations) == sorted(lesions)
        for a in annotations:
            assert a["toolType"] == "Bidirectional"
            row, lesion = csv_rows[(k, a["label"])], lesions[a["label"]]
            assert f"{a['length']:.2f}" == row["longest_diameter_mm"]
            assert f"{a['width']:.2f}" == row["short_axis_mm"]
            drawn = np.asarray(a["points"], dtype=float)
            measured = np.asarray([*lesion["long_axis_lps_mm"], *lesion["short_axis_lps_mm"]], dtype=float)
            assert np.abs(drawn - measured).max() < 0.01, (k, a["label"])  # the same end points, in LPS mm


def test_planar_groups_reference_the_ct_image_of_the_long_axis(dicom_run, manifest, tiny_root: Path) -> None:
    positions = {}
    for path in (tiny_root / "study").rglob("*"):
        if path.is_file() and path.name != "targets.json":
            ds = pydicom.dcmread(path, stop_before_pixels=True)
            positions[str(ds.SOPInstanceUID)] = float(ds.ImagePositionPatient[2])
    for tp in manifest["inputs"]["timepoints"]:
        k = tp["timepoint"]
        ds = pydicom.dcmread(dicom_run.out / "dicom" / f"sr_timepoint_{k}.dcm")
        measurements = next(i for i in ds.ContentSequence if i.ConceptNameCodeSequence[0].CodeValue == "126010")
        planar = [
            g
            for g in measurements.ContentSequence
            if any(getattr(i, "TextValue", None) == VIEWER_BIDIRECTIONAL for i in g.ContentSequence)
        ]
        assert len(planar) == len(_lesions(manifest, k))
        for group in planar:
            label = next(
                i.TextValue for i in group.ContentSequence if i.ConceptNameCodeSequence[0].CodeValue == "121106"
            )
            z = _lesions(manifest, k)[label]["long_axis_lps_mm"][0][2]
            for num in (i for i in group.ContentSequence if i.ValueType == "NUM"):
                scoord = next(c for c in num.ContentSequence if c.ValueType == "SCOORD")
                assert scoord.GraphicType == "POLYLINE" and len(scoord.GraphicData) == 4
                image = scoord.ContentSequence[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID
                assert positions[str(image)] == pytest.approx(z, abs=1e-3)
