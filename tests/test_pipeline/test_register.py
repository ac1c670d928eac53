"""Registration recovers the generator's known patient poses, identically run to run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.discover import discover
from pipeline.load import load_ct
from pipeline.register import register_followup
from pipeline.series_selection import select_timepoints


@pytest.fixture(scope="module")
def cts(sample_root: Path):
    index = discover(sample_root / "study", ignore={sample_root / "study" / "targets.json"})
    return [load_ct(tp.ct_candidates[0]).image for tp in select_timepoints(index)]


@pytest.mark.parametrize("k", [1, 2])
def test_baseline_lesion_centres_map_onto_follow_up_centres(cts, ground_truth, k):
    result = register_followup(cts[0], cts[k])
    for before, after in zip(ground_truth["timepoints"][0]["lesions"], ground_truth["timepoints"][k]["lesions"], strict=True):
        mapped = np.array(result.map_point(before["centre_lps_mm"]))
        assert np.linalg.norm(mapped - np.array(after["centre_lps_mm"])) < 2.0, before["lesion_id"]
    true_rotation = np.linalg.norm(ground_truth["timepoints"][k]["pose"]["rotation_deg"])
    assert result.rotation_deg == pytest.approx(true_rotation, abs=1.0)


def test_registration_is_deterministic(cts):
    a = register_followup(cts[0], cts[1])
    b = register_followup(cts[0], cts[1])
    assert a.transform.GetParameters() == b.transform.GetParameters()
    assert a.transform.GetFixedParameters() == b.transform.GetFixedParameters()
