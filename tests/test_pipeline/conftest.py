"""Small DICOM series written by the sample-data writer (loader, geometry and bad-input tests), and one extra
pipeline run through the CLI with ``--dicom-out`` and ``--log-json`` on the tiny study (output and progress
tests)."""

from __future__ import annotations

import datetime as dt
import random
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid
from shared_folders import shared_folder

from sample_data.dicom_write import SeriesInfo, StudyInfo, ct_datasets, pet_datasets, save_all, uid
from sample_data.grid import Grid
from sample_data.scenario import Patient, PetAcquisition

PATIENT = Patient("LP-TEST-0001", "TEST^SMALL", "M", "19600101", 80.0, 1.80)
WHEN = dt.datetime(2026, 3, 2, 10, 0)
ACQUISITION = PetAcquisition(350e6, dt.datetime(2026, 3, 2, 9, 0), WHEN)


def small_volume(shape_zyx: tuple[int, int, int], seed: int) -> np.ndarray:
    """A reproducible CT-like volume in HU: a bright disc with noise in air."""
    nz, ny, nx = shape_zyx
    yy, xx = np.mgrid[:ny, :nx]
    disc = ((yy - ny / 2) ** 2 + (xx - nx / 2) ** 2) < (0.4 * min(ny, nx)) ** 2
    rng = np.random.default_rng(seed)
    vol = np.where(disc, 40.0, -1000.0)[None] + rng.normal(0, 15, (nz, ny, nx))
    return (vol + 5.0 * np.arange(nz)[:, None, None]).astype(np.float32)


@pytest.fixture
def write_series() -> Callable[..., list[Path]]:
    """``write_series(folder, modality="CT", n=12, rows=24, seed=0, tag="a")``: files of one small series.

    The files are named in shuffled order; ``tag`` makes distinct study/series UIDs.
    """

    def write(
        folder: Path, modality: str = "CT", n: int = 12, rows: int = 24, seed: int = 0, tag: str = "a"
    ) -> list[Path]:
        grid = Grid.centred((n, rows, rows + 4), (1.5, 1.25, 2.5), (10.0, -20.0, 30.0))
        study = StudyInfo(uid("test", tag, "study"), uid("test", tag, "for"), WHEN, "1", "ACC1")
        series = SeriesInfo(uid("test", tag, modality), 2 if modality == "CT" else 3, f"{modality} TEST", WHEN)
        volume = small_volume(grid.shape_zyx, seed)
        if modality == "CT":
            datasets = ct_datasets(volume, grid, PATIENT, study, series, signed=False, descending=False)
        else:
            datasets = pet_datasets(np.abs(volume + 1000.0) * 10.0, grid, PATIENT, study, series, ACQUISITION)
        order = np.random.default_rng(seed + 7).permutation(n)
        paths = [folder / f"{tag}{modality}{k:03d}" for k in order]
        save_all(datasets, paths)
        return sorted(paths, key=lambda p: float(pydicom.dcmread(p, stop_before_pixels=True).ImagePositionPatient[2]))

    return write


ENHANCED_CT = "1.2.840.10008.5.1.4.1.1.2.1"
ENHANCED_PET = "1.2.840.10008.5.1.4.1.1.130"
PER_FILE = (
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "PixelSpacing",
    "SliceThickness",
    "RescaleSlope",
    "RescaleIntercept",
    "RescaleType",
    "InstanceNumber",
    "SliceLocation",
    "AcquisitionTime",
    "ContentTime",
)


def _item(**values: object) -> Dataset:
    ds = Dataset()
    for k, v in values.items():
        setattr(ds, k, v)
    return ds


def to_enhanced(files: list[Path], out: Path, sop_class: str, seed: int = 0) -> Path:
    """One multi-frame file holding the slices of ``files`` in shuffled frame order."""
    slices = [pydicom.dcmread(f) for f in files]
    random.Random(seed).shuffle(slices)
    first = slices[0]
    ds = Dataset()
    for elem in first:
        if elem.keyword not in PER_FILE and elem.keyword != "PixelData":
            ds.add(elem)
    ds.file_meta = FileMetaDataset()
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = first.file_meta.TransferSyntaxUID
    ds.SeriesInstanceUID = generate_uid()
    ds.NumberOfFrames = len(slices)
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL", "NONE"]
    ds.SharedFunctionalGroupsSequence = Sequence(
        [
            _item(
                PixelMeasuresSequence=Sequence(
                    [_item(PixelSpacing=first.PixelSpacing, SliceThickness=first.SliceThickness)]
                ),
                PlaneOrientationSequence=Sequence([_item(ImageOrientationPatient=first.ImageOrientationPatient)]),
            )
        ]
    )
    frames = []
    for s in slices:
        acquired = f"{s.AcquisitionDate}{s.AcquisitionTime}"
        frames.append(
            _item(
                PlanePositionSequence=Sequence([_item(ImagePositionPatient=s.ImagePositionPatient)]),
                PixelValueTransformationSequence=Sequence(
                    [
                        _item(
                            RescaleSlope=s.RescaleSlope,
                            RescaleIntercept=s.RescaleIntercept,
                            RescaleType=s.get("RescaleType", "US"),
                        )
                    ]
                ),
                FrameContentSequence=Sequence(
                    [_item(FrameAcquisitionDateTime=acquired, FrameAcquisitionDuration=120000)]
                ),
            )
        )
    ds.PerFrameFunctionalGroupsSequence = Sequence(frames)
    ds.PixelData = b"".join(s.PixelData for s in slices)
    ds.save_as(out, enforce_file_format=True)
    return out


@pytest.fixture
def make_enhanced() -> Callable[..., Path]:
    """``make_enhanced(files, out, sop_class)``: one multi-frame file holding the slices of ``files``."""
    return to_enhanced


@dataclass(frozen=True)
class CliRun:
    out: Path
    stderr: str


@pytest.fixture(scope="session")
def dicom_run(tiny_root: Path, tmp_path_factory: pytest.TempPathFactory) -> CliRun:
    """``lesion-pipeline run --dicom-out --log-json`` on the tiny study (``tiny_root``; affine registration: faster),
    as a separate process started by its entry point: the reference of the tests of the outputs' plumbing (DICOM
    SEG and SR, progress lines, viewer files, batch), which compare it with other runs of the tiny study."""

    def make(folder: Path) -> None:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pipeline.cli.main",
                "run",
                str(tiny_root / "study"),
                "-o",
                str(folder / "out"),
                "--dicom-out",
                "--log-json",
                "--registration",
                "affine",
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 0, result.stderr
        (folder / "stderr.txt").write_text(result.stderr)

    folder = shared_folder(tmp_path_factory, "dicom_run", make)
    return CliRun(folder / "out", (folder / "stderr.txt").read_text())
