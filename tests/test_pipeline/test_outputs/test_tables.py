"""Staged output: all or nothing, and only the pipeline's own entries are replaced."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.outputs.staging import staged_output
from pipeline.outputs.tables import fmt


def test_failure_leaves_nothing(tmp_path: Path):
    out = tmp_path / "out"
    with pytest.raises(RuntimeError), staged_output(out) as staging:
        (staging / "measurements.csv").write_text("half")
        raise RuntimeError("boom")
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_success_replaces_own_entries_and_keeps_others(tmp_path: Path):
    out = tmp_path / "out"
    (out / "masks").mkdir(parents=True)
    (out / "masks" / "timepoint_9.nii.gz").write_text("stale")
    (out / "measurements.csv").write_text("old")
    (out / "my_notes.txt").write_text("user file")
    with staged_output(out) as staging:
        (staging / "measurements.csv").write_text("new")
        (staging / "masks").mkdir()
        (staging / "masks" / "timepoint_0.nii.gz").write_text("m")
        (staging / "run.json").write_text("{}")
    assert (out / "measurements.csv").read_text() == "new"
    assert sorted(p.name for p in (out / "masks").iterdir()) == ["timepoint_0.nii.gz"]
    assert (out / "my_notes.txt").read_text() == "user file"
    assert (out / "run.json").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_fmt():
    assert fmt(None) == "" and fmt(1.23456) == "1.23" and fmt(1.23456, 3) == "1.235" and fmt(3) == "3"
