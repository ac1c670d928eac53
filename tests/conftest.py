"""Shared fixtures: one generated small study and one pipeline run on it per test run (shared by the xdist
workers), the same study generated at the tiny size (the same patient, lesions and timepoints on coarser grids: for
the tests whose subject is not the accuracy of the measurements), and the command line run in this process."""

from __future__ import annotations

import os

for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # as the command line does
    os.environ.setdefault(_variable, "1")

import json
import pickle
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pydicom
import pytest

sys.path.insert(0, str(Path(__file__).parent))  # the test helpers (shared_folders, cli_in_process)
from cli_in_process import CliResult
from cli_in_process import cli as run_captured
from shared_folders import shared_folder

from sample_data.generate import generate_study
from sample_data.hard_cases import HardCase, render_hard_case

pytest_plugins = ["file_order"]  # the longest test files first

SEED = 1


@pytest.fixture(autouse=True, scope="session")
def _figures_drawn_in_process() -> Iterator[None]:
    """Runs in a test process draw their QC images in it: a run with more than one thread draws them in a worker
    process of its own, whose start-up (a Python process importing the figure writers) would be paid again by
    every run; the figures are the same either way (``test_drawing.py`` compares them)."""
    import pipeline.longitudinal.run as run_module
    from pipeline.outputs.drawing import Drawing

    patch = pytest.MonkeyPatch()
    patch.setattr(run_module, "Drawing", lambda workers=1: Drawing(workers=0))
    yield
    patch.undo()


@pytest.fixture(scope="session")
def sample_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small generated study: ROOT/study (DICOM + targets.json) and ROOT/ground_truth.json."""

    def make(folder: Path) -> None:
        progress: list[tuple[str, dict]] = []
        generate_study(
            folder / "seed1", seed=SEED, size="small", progress=lambda message, **f: progress.append((message, f))
        )
        (folder / "progress.json").write_text(json.dumps(progress))

    return shared_folder(tmp_path_factory, "sample", make) / "seed1"


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample study's scenario generated at the tiny size: ROOT/study (DICOM + targets.json) and
    ROOT/ground_truth.json. For the tests of the plumbing (batch, command line, viewer files, DICOM outputs), whose
    subject is not the accuracy of the measurements; compare its runs with runs of this study only."""

    def make(folder: Path) -> None:
        generate_study(folder / "seed1", seed=SEED, size="tiny")

    return shared_folder(tmp_path_factory, "tiny", make) / "seed1"


@pytest.fixture(scope="session")
def tiny_ground_truth(tiny_root: Path) -> dict:
    return json.loads((tiny_root / "ground_truth.json").read_text())


@pytest.fixture(scope="session")
def sample_progress(sample_root: Path) -> list[tuple[str, dict]]:
    """The progress calls (message, fields) of the generation of ``sample_root``."""
    return [(message, fields) for message, fields in json.loads((sample_root.parent / "progress.json").read_text())]


@pytest.fixture(scope="session")
def ground_truth(sample_root: Path) -> dict:
    return json.loads((sample_root / "ground_truth.json").read_text())


@pytest.fixture(scope="session")
def pipeline_output(sample_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Output folder of one in-process run on the sample study (with report.pdf when a headless Chromium is
    installed)."""

    def make(folder: Path) -> None:
        from pipeline.longitudinal.run import run_study
        from pipeline.outputs.report.pdf import find_browser

        run_study(sample_root / "study", folder / "out", pdf_browser=find_browser())

    return shared_folder(tmp_path_factory, "run", make) / "out"


def _timepoints_study(sample_root: Path, ground_truth: dict, timepoints: range, folder: Path) -> None:
    """``folder/study``: the CT and PET of the sample study's ``timepoints`` (hard links) and its targets.json."""
    wanted = {ground_truth["timepoints"][k][f"{m}_series_instance_uid"] for k in timepoints for m in ("ct", "pet")}
    for path in sorted((sample_root / "study").rglob("IM*")):
        if pydicom.dcmread(path, stop_before_pixels=True).SeriesInstanceUID in wanted:
            (folder / path.parent.relative_to(sample_root)).mkdir(parents=True, exist_ok=True)
            os.link(path, folder / path.relative_to(sample_root))
    os.link(sample_root / "study" / "targets.json", folder / "study" / "targets.json")


@pytest.fixture(scope="session")
def baseline_study(sample_root: Path, ground_truth: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The baseline timepoint of the sample study alone (its CT and PET, hard links) with the study's targets.json:
    a one-timepoint study for tests whose subject is the baseline."""

    def make(folder: Path) -> None:
        _timepoints_study(sample_root, ground_truth, range(1), folder)

    return shared_folder(tmp_path_factory, "baseline_study", make) / "study"


@pytest.fixture(scope="session")
def tiny_baseline_study(tiny_root: Path, tiny_ground_truth: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The baseline timepoint of the tiny study alone (hard links) with the study's targets.json."""

    def make(folder: Path) -> None:
        _timepoints_study(tiny_root, tiny_ground_truth, range(1), folder)

    return shared_folder(tmp_path_factory, "tiny_baseline_study", make) / "study"


@pytest.fixture(scope="session")
def tiny_two_timepoint_study(
    tiny_root: Path, tiny_ground_truth: dict, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The baseline and first follow-up of the tiny study (hard links) with the study's targets.json."""

    def make(folder: Path) -> None:
        _timepoints_study(tiny_root, tiny_ground_truth, range(2), folder)

    return shared_folder(tmp_path_factory, "tiny_two_timepoint_study", make) / "study"


@pytest.fixture(scope="session")
def two_timepoint_study(sample_root: Path, ground_truth: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The baseline and first follow-up of the sample study (hard links) with the study's targets.json: a shorter
    longitudinal study for tests whose subject is the targets' input, not the last follow-up's other CT protocol."""

    def make(folder: Path) -> None:
        _timepoints_study(sample_root, ground_truth, range(2), folder)

    return shared_folder(tmp_path_factory, "two_timepoint_study", make) / "study"


@pytest.fixture(scope="session")
def hard_case(tmp_path_factory: pytest.TempPathFactory) -> Callable[[int, int], HardCase]:
    """``hard_case(seed, timepoint)``: ``sample_data.hard_cases.render_hard_case(seed, timepoint)``, rendered once
    per test run (shared by the xdist workers: several test files use the same cases)."""

    def get(seed: int, timepoint: int) -> HardCase:
        def make(folder: Path) -> None:
            with (folder / "case.pickle").open("wb") as f:
                pickle.dump(render_hard_case(seed, timepoint), f, protocol=pickle.HIGHEST_PROTOCOL)

        with (shared_folder(tmp_path_factory, f"hard_case_{seed}_{timepoint}", make) / "case.pickle").open("rb") as f:
            return pickle.load(f)

    return get


@pytest.fixture
def cli() -> Callable[..., CliResult]:
    """``cli(*arguments)``: the command line run in this process; its exit status, stdout and stderr."""
    return run_captured


@pytest.fixture
def study_copy(sample_root: Path, tmp_path: Path) -> Path:
    """A private copy of the sample study folder that a test may damage."""
    dst = tmp_path / "study"
    shutil.copytree(sample_root / "study", dst)
    return dst


@pytest.fixture
def tiny_copy(tiny_root: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny study folder that a test may damage."""
    dst = tmp_path / "study"
    shutil.copytree(tiny_root / "study", dst)
    return dst


def realdata_root() -> Path | None:
    """The real-data folder: ``LESION_REALDATA``, else ``<repo>/../shared/realdata``, else /work/shared/realdata."""
    env = os.environ.get("LESION_REALDATA")
    candidates = [Path(env)] if env else [Path(__file__).resolve().parents[1].parent / "shared" / "realdata"]
    candidates.append(Path("/work/shared/realdata"))
    return next((c for c in candidates if c.is_dir()), None)


@pytest.fixture(scope="session")
def realdata() -> Path:
    """The real-data folder; a test needing it skips when it is missing, except under CI (``CI=true``): then it fails."""
    root = realdata_root()
    if root is None:
        message = "real-data folder not found (set LESION_REALDATA or place it at ../shared/realdata)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return root
