"""Test-retest on a real CT (IRCAD tumour 1, liver crop): the same scan again gives the same measurements.

Reads the real-data folder in place (``LESION_REALDATA``, else ``../shared/realdata`` beside the repository,
else /work/shared/realdata); skipped when it is missing, except under CI (``CI=true``), where that fails.
The full test-retest over every real background is ``make validate`` (tests/validation/section_retest.py).
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


def _realdata() -> Path:
    env = os.environ.get("LESION_REALDATA")
    for candidate in ([Path(env)] if env else []) + [
        REPO.parent / "shared" / "realdata",
        Path("/work/shared/realdata"),
    ]:
        if (candidate / "ircad_patient").is_dir():
            return candidate
    if os.environ.get("CI") == "true":
        pytest.fail("real-data folder not found (required under CI): set LESION_REALDATA")
    pytest.skip("real-data folder not found (set LESION_REALDATA)")


@pytest.fixture(scope="module")
def retest_output(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from pipeline.config import RunConfig
    from pipeline.longitudinal.run import run_study
    from sample_data.retest import crop, load_background, write_retest_study
    from segmentation.ct_seeded import SeededCtConfig

    background = crop(load_background("ircad_patient", _realdata()), lesions=(0,))
    root = tmp_path_factory.mktemp("retest")
    study = write_retest_study(root, background)
    # reproducibility, not accuracy, is tested: the segmenter's self-checks are off (it refuses this tumour)
    # (one thread: the figures are drawn in this process, no worker process to start)
    permissive = RunConfig(
        lesion=SeededCtConfig(
            min_confidence=0.0, max_unlike_outside=1.01, min_edge_fraction=0.0, ambiguous_volume_ratio=1e9
        ),
        threads=1,
    )
    run_study(study, root / "out", config=permissive, progress=lambda *args, **kwargs: None)
    return root / "out"


def test_the_same_scan_again_is_measured_the_same(retest_output: Path):
    with (retest_output / "measurements.csv").open() as f:
        rows = {r["timepoint"]: r for r in csv.DictReader(f) if r["lesion_id"] == "T1"}
    assert {r["status"] for r in rows.values()} == {"measured"}, {k: r["status"] for k, r in rows.items()}
    base = rows["0"]
    for k in ("1", "2"):  # identical +60 d; same pixels shifted 25 mm in a new frame of reference +120 d
        assert abs(float(rows[k]["longest_diameter_mm"]) - float(base["longest_diameter_mm"])) <= 0.5
        assert abs(float(rows[k]["volume_ml"]) / float(base["volume_ml"]) - 1.0) <= 0.01
    shifted = [float(rows["2"][f"centroid_{a}_mm"]) - float(base[f"centroid_{a}_mm"]) for a in "xyz"]
    assert shifted == pytest.approx([25.0, 0.0, 0.0], abs=0.1)
    with (retest_output / "response.csv").open() as f:
        assert [r["recist"] for r in csv.DictReader(f)] == ["baseline", "SD", "SD"]


def test_the_registration_of_the_same_scan_is_the_identity_or_the_shift(retest_output: Path):
    timepoints = json.loads((retest_output / "run.json").read_text())["inputs"]["timepoints"]
    identical, shifted = (tp["registration"] for tp in timepoints[1:])
    for summary, translation in ((identical, [0.0, 0.0, 0.0]), (shifted, [25.0, 0.0, 0.0])):
        assert summary["rotation_deg"] == 0.0 and summary["max_deformation_mm"] == 0.0
        assert summary["affine_translation_mm"] == pytest.approx(translation, abs=1e-3)
    for tp in timepoints[1:]:
        assert [lesion["located"] for lesion in tp["lesions"]] == ["baseline seed mapped"]
