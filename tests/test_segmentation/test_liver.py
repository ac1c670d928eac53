"""Liver segmentation against the generator's liver (deformed at follow-ups), Dice >= 0.93."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline import spatial
from pipeline.dicom.discover import discover
from pipeline.dicom.load import load_ct
from pipeline.dicom.selection import select_timepoints
from sample_data.anatomy import organs
from sample_data.render import paint
from sample_data.scenario import make_scenario
from sample_data.shapes import Structure
from segmentation.liver import segment_liver


def true_liver(scenario_tp) -> np.ndarray:
    """Voxels >= 50 % liver and < 50 % any organ painted over the liver (lesions count as liver)."""
    structures = organs()
    last = max(i for i, s in enumerate(structures) if "liver" in s.tags)
    lobes = [Structure("liver", s.shape, 1.0, 0.0) for s in structures if "liver" in s.tags]
    over = [Structure("other", s.shape, 1.0, 0.0) for s in structures[last + 1 :]]
    args = (scenario_tp.pose, scenario_tp.ct_grid, "hu", 0.0, scenario_tp.deformation)
    return (paint(lobes, *args) >= 0.5) & (paint(over, *args) < 0.5)


@pytest.mark.parametrize("k", [0, 2])
def test_liver_dice(sample_root: Path, ground_truth: dict, k: int):
    scenario = make_scenario(ground_truth["generator"]["seed"], ground_truth["generator"]["size"])
    timepoint = select_timepoints(discover(sample_root / "study", ignore={sample_root / "study" / "targets.json"}))[k]
    ct = load_ct(timepoint.ct_candidates[0]).image
    seeds = [
        spatial.lps_to_index_zyx(ct, np.array(l["centre_lps_mm"])) for l in ground_truth["timepoints"][k]["lesions"]
    ]
    liver = segment_liver(spatial.array_zyx(ct), spatial.spacing_zyx(ct), seeds)
    truth = true_liver(scenario.timepoints[k])
    dice = 2 * np.count_nonzero(liver.mask_zyx & truth) / (np.count_nonzero(liver.mask_zyx) + np.count_nonzero(truth))
    assert dice >= 0.93
    assert liver.level_hu == pytest.approx(105.0, abs=5.0)


def test_needs_a_seed():
    with pytest.raises(ValueError, match="seed"):
        segment_liver(np.zeros((4, 4, 4)), (1.0, 1.0, 1.0), [])
