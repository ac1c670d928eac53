"""Seed checks and the messages that say what is at a point and what the reader's mistake may be."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pipeline.dicom.discover import discover
from pipeline.dicom.load import load_ct
from pipeline.dicom.selection import select_timepoints
from pipeline.errors import TargetsError
from pipeline.longitudinal.seeds import check_seeds, describe, hint, tissue
from pipeline.targets.json_file import Target


@pytest.fixture(scope="module")
def baseline_ct(sample_root: Path):
    index = discover(sample_root / "study", ignore={sample_root / "study" / "targets.json"}, workers=1)
    return load_ct(select_timepoints(index)[0].ct_candidates[0])


@pytest.fixture(scope="module")
def seeds(sample_root: Path) -> dict[str, tuple[float, float, float]]:
    data = json.loads((sample_root / "study" / "targets.json").read_text())
    return {e["id"]: tuple(e["seed_lps_mm"]) for e in data["lesions"]}


def test_tissue_names() -> None:
    assert [tissue(v) for v in (-1000, -700, -100, 40, 200, 900)] == [
        "air",
        "lung or gas",
        "fat",
        "soft tissue",
        "enhanced vessel or contrast",
        "bone, calcification or metal",
    ]


def test_a_point_copied_as_ras_is_recognised(baseline_ct, seeds) -> None:
    x, y, z = seeds["L1"]
    ras = (-x, -y, z)  # what 3D Slicer would have shown for the same point
    message = hint(baseline_ct, ras)
    assert "RAS" in message and f"[{x:.1f}, {y:.1f}, {z:.1f}]" in message
    assert describe(baseline_ct, seeds["L1"]).startswith("soft tissue")


def test_a_seed_outside_the_body_says_what_is_there(baseline_ct) -> None:
    corner = baseline_ct.image.TransformIndexToPhysicalPoint((1, 1, 1))  # air around the body
    with pytest.raises(TargetsError, match=r"outside the body \(air, .* LPS .*another series or study"):
        check_seeds((Target("L9", tuple(float(v) for v in corner)),), baseline_ct)


def test_a_seed_outside_the_ct_is_refused(baseline_ct) -> None:
    far = tuple(float(v) for v in np.asarray(baseline_ct.image.GetOrigin()) - 500.0)
    with pytest.raises(TargetsError, match="outside the baseline CT"):
        check_seeds((Target("L9", far),), baseline_ct)
