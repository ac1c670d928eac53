"""The robustness corpus: hostile inputs generated in the tests, each with its expected class.

A case is either a *refusal* (exit 2, one error line naming the file, series or
key, ``OUT_DIR`` untouched) or a *result with a visible warning* whose numbers
equal those of the same data without the defect.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pydicom
import pytest

from pipeline.cli.main import main

sys.path.insert(0, str(Path(__file__).parent))  # the corpus helpers (robustness_corpus) and the commit child
from cli_in_process import cli_logging


@dataclass(frozen=True)
class Refusal:
    code: int
    stderr: str

    @property
    def message(self) -> str:
        return self.stderr.strip().splitlines()[-1]


@pytest.fixture
def refused(capsys: pytest.CaptureFixture[str]) -> Callable[..., Refusal]:
    """``refused(*arguments, out=OUT_DIR)``: run the command line; assert a clean refusal that left OUT_DIR as it
    was; return the error line."""

    def run(*arguments: str | Path, out: Path) -> Refusal:
        before = sorted(p.as_posix() for p in out.rglob("*")) if out.exists() else None
        capsys.readouterr()
        with cli_logging():
            code = main([*map(str, arguments), "-q"])
        stderr = capsys.readouterr().err
        result = Refusal(code, stderr)
        assert code == 2, stderr
        assert result.message.startswith("lesion-pipeline: error: "), stderr
        assert "Traceback" not in stderr and "internal error" not in stderr, stderr
        after = sorted(p.as_posix() for p in out.rglob("*")) if out.exists() else None
        assert after == before, "OUT_DIR changed"
        return result

    return run


@pytest.fixture
def small_study(tmp_path: Path, write_series: Callable[..., list[Path]]) -> Callable[..., tuple[Path, list[Path]]]:
    """``small_study(name="study", modality="CT", tag="a")``: a study folder holding one small series and a
    targets file whose seed lies inside the volume; returns the folder and the series' files (sorted along z)."""

    def make(name: str = "study", modality: str = "CT", tag: str = "a") -> tuple[Path, list[Path]]:
        folder = tmp_path / name
        folder.mkdir(exist_ok=True)
        files = write_series(folder, modality, tag=tag)
        ds = pydicom.dcmread(files[len(files) // 2], stop_before_pixels=True)
        seed = [float(v) for v in ds.ImagePositionPatient]
        seed[0] += 10.0
        seed[1] += 10.0
        (folder / "targets.json").write_text(json.dumps({"lesions": [{"id": "L1", "seed_lps_mm": seed}]}))
        return folder, files

    return make
