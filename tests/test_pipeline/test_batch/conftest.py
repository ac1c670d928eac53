"""The studies of the batch tests: hard-linked copies of the tiny study (``tiny_root``: the batch's plumbing is the
subject, not the accuracy of the measurements) and of its baseline alone, two of the latter damaged."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pydicom
import pytest

sys.path.insert(0, str(Path(__file__).parent))  # the batch test helpers (batch_studies)
from batch_studies import BASELINE_ONLY, CORRUPT, GOOD, NO_CT, link_study
from shared_folders import shared_folder


@pytest.fixture(scope="module")
def studies_and_victim(
    tiny_root: Path, tiny_baseline_study: Path, tiny_ground_truth: dict, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, str]:
    """Two good studies (the tiny study, and its baseline alone: a shorter run), and two copies of the baseline
    alone (fewer files to read before they fail): one with a truncated CT slice (returned), one without its CT."""

    def copy(name: str) -> Path:
        return shutil.copytree(tiny_baseline_study, root / name, copy_function=os.link)

    root = tmp_path_factory.mktemp("batch") / "studies"
    link_study(tiny_root, root / GOOD[0])
    copy(BASELINE_ONLY)
    headers = {p: pydicom.dcmread(p, stop_before_pixels=True) for p in copy(CORRUPT).rglob("IM*")}
    baseline_ct = tiny_ground_truth["timepoints"][0]["ct_series_instance_uid"]
    victim = sorted(p for p, ds in headers.items() if ds.SeriesInstanceUID == baseline_ct)[3]
    data = victim.read_bytes()
    victim.unlink()  # a new file: the hard-linked original stays intact
    victim.write_bytes(data[: len(data) // 2])
    for path in copy(NO_CT).rglob("IM*"):
        if headers[root / CORRUPT / path.relative_to(root / NO_CT)].Modality == "CT":
            path.unlink()
    return root, str(victim.relative_to(root / CORRUPT))


@pytest.fixture(scope="module")
def studies(studies_and_victim: tuple[Path, str]) -> Path:
    return studies_and_victim[0]


@pytest.fixture(scope="session")
def baseline_output(tiny_baseline_study: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Output folder of one in-process run on ``tiny_baseline_study`` (the tiny study's baseline alone): the reference
    of the batch tests that need a finished study but not a whole longitudinal run."""

    def make(folder: Path) -> None:
        from pipeline.config import RunConfig
        from pipeline.longitudinal.run import run_study

        run_study(tiny_baseline_study, folder / "out", config=RunConfig(threads=1))  # the results do not depend on it

    return shared_folder(tmp_path_factory, "tiny_baseline_run", make) / "out"
