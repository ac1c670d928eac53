"""Resume: the fingerprint changes with inputs, targets and parameters; the marker checks the outputs."""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from pipeline.batch.resume import MARKER, clear_marker, study_fingerprint, up_to_date, write_marker
from pipeline.config import RunConfig


@pytest.fixture
def finished(pipeline_output: Path, tmp_path: Path) -> Path:
    """A copy of the reference run's outputs, without a marker yet."""
    out = tmp_path / "out"
    shutil.copytree(pipeline_output, out)
    return out


def fingerprint(study: Path, config: RunConfig | None = None):
    return study_fingerprint(study, study / "targets.json", config or RunConfig())


def test_complete_outputs_with_their_marker_are_up_to_date(sample_root: Path, finished: Path) -> None:
    study = sample_root / "study"
    assert up_to_date(finished, fingerprint(study)) == (False, "no completion marker")
    write_marker(finished, fingerprint(study))
    assert up_to_date(finished, fingerprint(study)) == (True, "up to date")
    clear_marker(finished)
    assert not (finished / MARKER).exists()


@pytest.mark.parametrize(
    "damage, reason",
    [
        (lambda out: (out / "masks" / "timepoint_2.nii.gz").unlink(), "masks/timepoint_2.nii.gz missing"),
        (lambda out: (out / "measurements.csv").write_text("edited\n"), "measurements.csv changed"),
        (lambda out: (out / "run.json").unlink(), "unreadable marker or run.json"),
        (lambda out: (out / MARKER).write_text("{"), "unreadable marker"),
    ],
)
def test_incomplete_or_changed_outputs_are_not_up_to_date(
    sample_root: Path, finished: Path, damage, reason: str
) -> None:
    write_marker(finished, fingerprint(sample_root / "study"))
    damage(finished)
    done, why = up_to_date(finished, fingerprint(sample_root / "study"))
    assert not done and why.startswith(reason), why


def test_fingerprint_follows_inputs_targets_and_parameters(study_copy: Path) -> None:
    base = fingerprint(study_copy)
    assert base.files == sum(1 for p in study_copy.rglob("*") if p.is_file())
    assert fingerprint(study_copy, RunConfig(threads=7)) == base  # threads do not change results
    with_dicom = study_fingerprint(study_copy, study_copy / "targets.json", RunConfig(), dicom_out=True)
    assert with_dicom.digest != base.digest  # a run with --dicom-out is not the same run
    assert (
        fingerprint(study_copy, RunConfig(selection=replace(RunConfig().selection, min_ct_slices=11))).digest
        != base.digest
    )
    recist = RunConfig().recist
    assert (
        fingerprint(
            study_copy, replace(RunConfig(), recist=replace(recist, pr_change_pct=recist.pr_change_pct - 1))
        ).digest
        != base.digest
    )

    dicom = next(p for p in sorted(study_copy.rglob("IM*")))
    st = dicom.stat()
    os.utime(dicom, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    touched = fingerprint(study_copy)
    assert touched.digest != base.digest

    targets = study_copy / "targets.json"
    mtime = targets.stat().st_mtime_ns
    targets.write_text(targets.read_text().replace('"L1"', '"X1"'))
    os.utime(targets, ns=(mtime, mtime))  # same size and time: only the content tells
    assert fingerprint(study_copy).digest != touched.digest

    (study_copy / "DICOM" / "extra.dcm").write_bytes(b"new file")
    assert fingerprint(study_copy).files == base.files + 1


def test_fingerprint_follows_the_source_code(study_copy: Path, tmp_path: Path, monkeypatch) -> None:
    """A code change reruns a study even without a version bump: the source digest is in the fingerprint."""
    import segmentation
    from pipeline import provenance

    copy = tmp_path / "segmentation"
    shutil.copytree(Path(segmentation.__file__).parent, copy, ignore=shutil.ignore_patterns("__pycache__"))
    before = provenance.tree_digest([copy])
    assert before == provenance.tree_digest([Path(segmentation.__file__).parent])  # content and relative paths only
    ct_lesion = copy / "ct_lesion.py"
    ct_lesion.write_text(ct_lesion.read_text().replace("min_confidence: float = 0.3", "min_confidence: float = 0.31"))
    assert provenance.tree_digest([copy]) != before

    base = fingerprint(study_copy)
    monkeypatch.setattr(provenance, "source_digest", lambda: "edited")
    assert fingerprint(study_copy).digest != base.digest
