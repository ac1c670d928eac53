"""Compressed transfer syntaxes decode to the same voxels as the uncompressed series.

Files are re-encoded here with pydicom's encoders (RLE, JPEG-LS via pyjpegls,
JPEG 2000 via pylibjpeg-openjpeg, deflate) and with GDCM (JPEG lossless
process 14; JPEG baseline on 8-bit data, the only depth baseline allows).
JPEG extended (12-bit lossy) is not tested: GDCM's encoder writes 16-bit
precision frames for it that no decoder accepts.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import gdcm
import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLosslessSV1,
    JPEGLSLossless,
    RLELossless,
)

from pipeline.dicom.discover import discover
from pipeline.dicom.load import load_ct


def _gdcm_encode(path: Path, syntax: int) -> None:
    reader = gdcm.ImageReader()
    reader.SetFileName(str(path))
    assert reader.Read()
    change = gdcm.ImageChangeTransferSyntax()
    change.SetTransferSyntax(gdcm.TransferSyntax(syntax))
    change.SetInput(reader.GetImage())
    assert change.Change()
    writer = gdcm.ImageWriter()
    writer.SetFileName(str(path))
    writer.SetFile(reader.GetFile())
    writer.SetImage(change.GetOutput())
    assert writer.Write()


def _gdcm_decode(path: Path, shape: tuple[int, int], dtype: np.dtype) -> np.ndarray:
    reader = gdcm.ImageReader()
    reader.SetFileName(str(path))
    assert reader.Read()
    buffer = reader.GetImage().GetBuffer()
    raw = buffer.encode("latin-1", errors="surrogateescape") if isinstance(buffer, str) else buffer
    return np.frombuffer(raw, dtype=dtype)[: shape[0] * shape[1]].reshape(shape)


def _encode_pydicom(syntax: str):
    def encode(path: Path) -> None:
        ds = pydicom.dcmread(path)
        if syntax == DeflatedExplicitVRLittleEndian:
            ds.file_meta.TransferSyntaxUID = syntax
            ds.save_as(path, enforce_file_format=True)
        else:
            ds.compress(syntax)
            ds.save_as(path)

    return encode


ENCODERS = {
    "RLE lossless (pydicom)": (_encode_pydicom(RLELossless), RLELossless),
    "JPEG-LS lossless (pyjpegls)": (_encode_pydicom(JPEGLSLossless), JPEGLSLossless),
    "JPEG 2000 lossless (openjpeg)": (_encode_pydicom(JPEG2000Lossless), JPEG2000Lossless),
    "deflate (pydicom)": (_encode_pydicom(DeflatedExplicitVRLittleEndian), DeflatedExplicitVRLittleEndian),
    "JPEG lossless SV1 (GDCM)": (
        lambda p: _gdcm_encode(p, gdcm.TransferSyntax.JPEGLosslessProcess14_1),
        JPEGLosslessSV1,
    ),
}


@pytest.fixture
def native_series(tmp_path: Path, write_series) -> tuple[Path, sitk.Image]:
    folder = tmp_path / "native"
    write_series(folder, "CT", n=6, rows=32)
    index = discover(folder, workers=1)
    return folder, load_ct(next(iter(index.by_series().values())), folder).image


@pytest.mark.parametrize("name", list(ENCODERS))
def test_lossless_syntaxes_give_identical_voxels(tmp_path: Path, native_series, name: str) -> None:
    folder, reference = native_series
    encode, syntax = ENCODERS[name]
    copy = tmp_path / "encoded"
    shutil.copytree(folder, copy)
    for path in sorted(copy.iterdir()):
        encode(path)
    index = discover(copy, workers=1)
    assert {i.pixels.transfer_syntax_uid for i in index.instances} == {syntax}
    loaded = load_ct(next(iter(index.by_series().values())), copy).image
    np.testing.assert_array_equal(sitk.GetArrayViewFromImage(loaded), sitk.GetArrayViewFromImage(reference))
    assert loaded.GetOrigin() == reference.GetOrigin() and loaded.GetSpacing() == reference.GetSpacing()


def test_jpeg_baseline_8bit_matches_an_independent_decoder(tmp_path: Path, native_series) -> None:
    folder, _ = native_series
    copy = tmp_path / "baseline"
    shutil.copytree(folder, copy)
    expected = {}
    for path in sorted(copy.iterdir()):
        ds = pydicom.dcmread(path)
        stored = np.clip(ds.pixel_array // 16, 0, 255).astype(np.uint8)
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
        ds.RescaleSlope, ds.RescaleIntercept = "16", "-1024"
        ds.PixelData = stored.tobytes()
        ds.save_as(path)
        _gdcm_encode(path, gdcm.TransferSyntax.JPEGBaselineProcess1)
        decoded = _gdcm_decode(path, stored.shape, np.dtype(np.uint8))
        assert np.abs(decoded.astype(int) - stored).max() <= 2, "lossy but near the original"
        expected[float(ds.ImagePositionPatient[2])] = decoded.astype(np.int32) * 16 - 1024
    index = discover(copy, workers=1)
    assert {i.pixels.transfer_syntax_uid for i in index.instances} == {JPEGBaseline8Bit}
    loaded = sitk.GetArrayFromImage(load_ct(next(iter(index.by_series().values())), copy).image)
    np.testing.assert_array_equal(loaded, np.stack([expected[z] for z in sorted(expected)]))
