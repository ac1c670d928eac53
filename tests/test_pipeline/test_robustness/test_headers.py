"""Header values validated where they are used: a baseline CT with an impossible value is refused naming its series and
file; PET values that cannot give an SUV leave the PET in stored units with a warning naming series and file; dates
that cannot order the timepoints are refused; link loops are scanned once; unreadable folders are refused."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import pydicom
import pytest
from robustness_corpus import edit, setting

from pipeline.dicom.discover import discover
from pipeline.dicom.load import load_pet
from pipeline.dicom.selection import select_timepoints
from pipeline.errors import InputError

MIDDLE = 5  # the slice damaged when only one is

# (case, slices damaged: "one" or "all", change, fragments of the message besides the series UID)
CT_CASES = [
    ("RescaleSlope 0", "one", setting(RescaleSlope="0"), ["RescaleSlope 0", "finite and non-zero"]),
    ("RescaleSlope NaN", "one", setting(RescaleSlope="nan"), ["RescaleSlope nan"]),
    ("RescaleIntercept infinite", "one", setting(RescaleIntercept="-inf"), ["RescaleIntercept -inf"]),
    ("RescaleSlope huge", "one", setting(RescaleSlope="1e300"), ["pixel values not finite after rescale"]),
    ("negative PixelSpacing", "all", setting(PixelSpacing=["-0.5", "-0.5"]), ["PixelSpacing is not two finite"]),
    ("zero PixelSpacing", "all", setting(PixelSpacing=["0", "0"]), ["PixelSpacing is not two finite"]),
    ("NaN PixelSpacing", "one", setting(PixelSpacing=["nan", "1.25"]), ["PixelSpacing is not two finite"]),
    (
        "all-zero orientation",
        "all",
        setting(ImageOrientationPatient=[0] * 6),
        ["ImageOrientationPatient is not two unit"],
    ),
    ("orientation not unit", "all", setting(ImageOrientationPatient=[2, 0, 0, 0, 2, 0]), ["not two unit vectors"]),
    (
        "orientation not orthogonal",
        "all",
        setting(ImageOrientationPatient=[1, 0, 0, 0.6, 0.8, 0]),
        ["row and column cosines that are not orthogonal"],
    ),
    (
        "NaN position",
        "one",
        setting(ImagePositionPatient=["nan", "0", "0"]),
        ["ImagePositionPatient is not three finite"],
    ),
    ("SliceThickness 0", "all", setting(SliceThickness="0"), ["SliceThickness 0 is not a finite positive number"]),
    (
        "SliceThickness negative",
        "one",
        setting(SliceThickness="-2.5"),
        ["SliceThickness -2.5 is not a finite positive"],
    ),
    ("SliceThickness NaN", "one", setting(SliceThickness="nan"), ["SliceThickness nan is not a finite positive"]),
    ("no Modality", "all", setting(Modality=None), ["no usable axial CT series", "modality (none) not used"]),
    ("wrong SOP class", "all", setting(SOPClassUID="1.2.840.10008.5.1.4.1.1.7"), ["no usable axial CT series"]),
]


@pytest.mark.parametrize("case, which, change, fragments", CT_CASES, ids=[c[0] for c in CT_CASES])
def test_impossible_baseline_ct_values_are_refused_by_series_and_file(
    case: str, which: str, change, fragments: list[str], small_study, refused, tmp_path: Path
) -> None:
    study, files = small_study()
    damaged = [files[MIDDLE]] if which == "one" else files
    edit(damaged, change)
    out = tmp_path / "out"
    message = refused("run", study, "-o", out, out=out).message
    series = str(pydicom.dcmread(files[0], stop_before_pixels=True).SeriesInstanceUID)
    assert series in message and all(f in message for f in fragments), message
    if which == "one":
        assert files[MIDDLE].name in message, message
    assert not out.exists()


def _pet_series(small_study) -> tuple[Path, list[Path]]:
    study, files = small_study(modality="PT")
    return study, files


# (case, change of every PET slice, expected reason fragment; None: SUV computed, with the warning fragment)
PET_CASES = [
    ("weight NaN", setting(PatientWeight="nan"), "PatientWeight nan is not a finite number"),
    ("weight infinite", setting(PatientWeight="inf"), "PatientWeight inf is not a finite number"),
    (
        "dose NaN",
        lambda ds: setattr(ds.RadiopharmaceuticalInformationSequence[0], "RadionuclideTotalDose", "nan"),
        "RadionuclideTotalDose nan is not a finite number",
    ),
    (
        "half-life NaN",
        lambda ds: setattr(ds.RadiopharmaceuticalInformationSequence[0], "RadionuclideHalfLife", "nan"),
        "RadionuclideHalfLife nan s is not between",
    ),
    (
        "half-life 1 s",
        lambda ds: setattr(ds.RadiopharmaceuticalInformationSequence[0], "RadionuclideHalfLife", "1"),
        "RadionuclideHalfLife 1 s is not between",
    ),
]


def _injection_after_scan(ds: pydicom.Dataset) -> None:
    """Injection (time only) at 11:00 while the series starts at 10:00: read as the day before, 23 h of uptake."""
    drug = ds.RadiopharmaceuticalInformationSequence[0]
    drug.RadiopharmaceuticalStartTime = "110000"
    if "RadiopharmaceuticalStartDateTime" in drug:
        del drug.RadiopharmaceuticalStartDateTime


PET_CASES.append(("injection after the scan", _injection_after_scan, "uptake time 23.0 h"))


@pytest.mark.parametrize("case, change, reason", PET_CASES, ids=[c[0] for c in PET_CASES])
def test_pet_values_that_cannot_give_an_suv(case: str, change, reason: str, small_study, caplog) -> None:
    study, files = _pet_series(small_study)
    edit(files, change)
    index = discover(study, workers=1)
    with caplog.at_level(logging.WARNING, logger="pipeline"):
        pet = load_pet(index.by_series()[next(iter(index.by_series()))], index.root)
    assert pet.suv is None and pet.units == "BQML" and reason in (pet.suv_unavailable_reason or "")
    (warning,) = [r.getMessage() for r in caplog.records if "SUV not available" in r.getMessage()]
    assert pet.series_uid in warning and reason in warning and "(file " in warning


def test_decay_correction_contradiction_is_warned(small_study) -> None:
    study, files = _pet_series(small_study)
    ds = pydicom.dcmread(files[0], stop_before_pixels=True)
    assert "DECY" in list(ds.CorrectedImage)
    edit(files, setting(DecayCorrection="NONE"))
    index = discover(study, workers=1)
    pet = load_pet(next(iter(index.by_series().values())), index.root)
    assert pet.suv is not None and pet.suv.decay_correction == "NONE"
    assert any("DecayCorrection NONE contradicts CorrectedImage" in w for w in pet.suv.warnings)


@pytest.mark.parametrize("date", ["99999999", "", "18991231", "2026-13-01"])
def test_a_date_that_cannot_order_the_timepoints_is_refused(date: str, small_study, refused, tmp_path: Path) -> None:
    study, baseline = small_study(tag="a")
    _, followup = small_study(tag="b")
    edit(followup, setting(StudyDate=date))
    message = refused("run", study, "-o", tmp_path / "out", out=tmp_path / "out").message
    series = str(pydicom.dcmread(followup[0], stop_before_pixels=True).SeriesInstanceUID)
    assert series in message and "is not a valid date" in message and "cannot be established" in message
    assert any(f"(file {f.name})" in message for f in followup), message


def test_a_broken_study_that_would_be_the_baseline_is_refused(small_study, refused, tmp_path: Path) -> None:
    """An earlier study whose CT cannot be used is not silently replaced by the next one as the baseline."""
    study, baseline = small_study(tag="a")
    _, followup = small_study(tag="b")
    edit(followup, setting(StudyDate="20260601"))
    edit(baseline, setting(Modality=None))
    message = refused("run", study, "-o", tmp_path / "out", out=tmp_path / "out").message
    assert "would be the baseline but has no usable CT" in message, message
    assert any(f"(file {f.name})" in message for f in baseline), message


def test_a_partial_follow_up_is_dropped_with_a_warning(small_study, write_series, caplog) -> None:
    """A later study whose CT has too few slices is not silently ignored: it is a dropped timepoint."""
    from pipeline.config import RunConfig
    from pipeline.longitudinal.run import read_study
    from pipeline.provenance import Provenance

    study, _ = small_study(tag="a")
    partial = write_series(study, "CT", n=5, tag="b")
    edit(partial, setting(StudyDate="20260601"))
    with caplog.at_level(logging.WARNING, logger="pipeline"):
        inputs = read_study(study, None, RunConfig(), Provenance(), lambda *a, **k: None)
    (dropped,) = inputs.dropped
    series = str(pydicom.dcmread(partial[0], stop_before_pixels=True).SeriesInstanceUID)
    assert len(inputs.timepoints) == 1 and str(dropped.study_date) == "2026-06-01"
    assert series in dropped.reason and "only 5 slices" in dropped.reason
    assert any("dropped" in r.getMessage() and series in r.getMessage() for r in caplog.records)


def test_a_symbolic_link_loop_is_scanned_once(small_study, caplog) -> None:
    study, files = small_study()
    (study / "sub").mkdir()
    (study / "sub" / "loop").symlink_to(study, target_is_directory=True)
    (study / "again").symlink_to(study / "sub", target_is_directory=True)
    with caplog.at_level(logging.WARNING, logger="pipeline"):
        index = discover(study, workers=1)
    assert len(index.instances) == len(files)
    loops = [s for s in index.skipped if "already scanned" in s[1]]
    assert sorted(s[0] for s in loops) == ["again/loop", "sub"]  # "again" (a link to sub) comes first
    assert len(caplog.records) == len(index.skipped) <= 3  # targets.json is skipped too (not DICOM)


def test_a_pipe_in_the_study_folder_is_skipped_without_blocking(small_study) -> None:
    study, files = small_study()
    os.mkfifo(study / "pipe")
    index = discover(study, workers=1)
    assert len(index.instances) == len(files) and ("pipe", "not a regular file") in index.skipped


def test_an_unreadable_folder_is_refused(small_study, monkeypatch: pytest.MonkeyPatch) -> None:
    study, files = small_study()
    hidden = study / "followup"
    hidden.mkdir()
    shutil.copy(files[0], hidden / "x.dcm")
    real = os.scandir

    def scandir(path: str | Path = ".") -> os.ScandirIterator:  # type: ignore[type-arg]
        if Path(path) == hidden:
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    with pytest.raises(InputError, match=r"folder followup cannot be read \(Permission denied\)"):
        discover(study, workers=1)


def test_an_unreadable_file_is_refused(small_study, monkeypatch: pytest.MonkeyPatch) -> None:
    import pipeline.dicom.discover as discover_module

    study, files = small_study()
    real = discover_module.read_header

    def read_header(path: Path) -> object:
        if path == files[3]:
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(discover_module, "read_header", read_header)
    with pytest.raises(InputError, match=rf"file {files[3].name} cannot be read \(Permission denied\)"):
        discover(study, workers=1)


def test_ok_series_selection_is_unchanged(small_study) -> None:
    """Control: the undamaged small study gives one timepoint with its CT."""
    study, files = small_study()
    (tp,) = select_timepoints(discover(study, workers=1))
    assert len(tp.ct_candidates[0]) == len(files)
