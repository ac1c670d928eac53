"""The liver outputs of a run: mask per timepoint on its CT grid, volume in run.json, QC image, report section."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from pipeline.cli.main import _run_config, build_parser
from sample_data.anatomy import organs
from sample_data.render import paint
from sample_data.scenario import make_scenario
from sample_data.shapes import Structure


def test_liver_mask_volume_and_qc_for_every_timepoint(pipeline_output: Path, ground_truth: dict):
    manifest = json.loads((pipeline_output / "run.json").read_text())
    timepoints = manifest["inputs"]["timepoints"]
    scenario = make_scenario(ground_truth["generator"]["seed"], ground_truth["generator"]["size"])
    structures = organs()
    lobes = [Structure("liver", s.shape, 1.0, 0.0) for s in structures if "liver" in s.tags]
    for tp in timepoints:
        k = tp["timepoint"]
        liver = tp["liver"]
        assert liver["source"] == "segmented" and liver["failed"] is None and not liver["partial"]
        assert liver["mask_file"] == f"masks/liver_timepoint_{k}.nii.gz"
        mask = sitk.ReadImage(str(pipeline_output / liver["mask_file"]))
        lesions = sitk.ReadImage(str(pipeline_output / tp["mask"]))  # the lesion label map: the CT grid
        assert mask.GetSize() == lesions.GetSize() and mask.GetOrigin() == lesions.GetOrigin()
        array = sitk.GetArrayFromImage(mask) > 0
        assert abs(array.sum() * np.prod(mask.GetSpacing()) / 1000.0 - liver["volume_ml"]) < 0.1
        s = scenario.timepoints[k]
        truth = paint(lobes, s.pose, s.ct_grid, "hu", 0.0, s.deformation) >= 0.5
        truth_ml = truth.sum() * np.prod(mask.GetSpacing()) / 1000.0
        assert abs(liver["volume_ml"] - truth_ml) / truth_ml < 0.06  # the phantom's lobes (IVC inside them included)
        assert (pipeline_output / f"qc/liver_timepoint_{k}.png").stat().st_size > 10_000
    report = (pipeline_output / "report.html").read_text()
    assert "<h2>Liver</h2>" in report and report.count('id="qc-liver-') == len(timepoints)


def test_liver_mask_option_reaches_the_run_config(tmp_path: Path):
    args = build_parser().parse_args(["run", str(tmp_path), "-o", str(tmp_path / "out"), "--liver-mask", "masks/"])
    assert _run_config(args).liver_mask == "masks"
    args = build_parser().parse_args(["run", str(tmp_path), "-o", str(tmp_path / "out")])
    assert _run_config(args).liver_mask is None
