"""The fast header path reads every value as pydicom does, file by file, and notes what it read leniently.

For every DICOM file under the real-data and reference-data folders, every kind of file the project's test
writers generate (the sample study, single-frame CT and PET, enhanced multi-frame, compressed and deflated
transfer syntaxes), and hand-made files with the quirks of clinical exports (decimal strings longer than DS allows,
NUL padding, an IS holding a decimal, a comma decimal mark, empty UIDs), each attribute the header pass
reads is read twice: by the fast path (``specific_tags``, raw bytes, :mod:`pipeline.dicom.values`) and by
pydicom's own default reading of the whole header. They must agree.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
from pydicom.errors import InvalidDicomError
from pydicom.uid import DeflatedExplicitVRLittleEndian, JPEGLSLossless, RLELossless

from pipeline.dicom import values as dv
from pipeline.dicom.discover import discover
from pipeline.dicom.instance import HEADER_KEYWORDS, SPECIFIC_TAGS, read_header
from pipeline.dicom.selection import select_timepoints

TEXT = (
    "SOPClassUID",
    "SOPInstanceUID",
    "PatientID",
    "PatientSex",
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "SeriesInstanceUID",
    "SeriesDescription",
    "SeriesDate",
    "SeriesTime",
    "AcquisitionDate",
    "AcquisitionTime",
    "AcquisitionDateTime",
    "Modality",
    "Manufacturer",
    "FrameOfReferenceUID",
    "PhotometricInterpretation",
    "RescaleType",
    "Units",
    "SUVType",
    "DecayCorrection",
    "DecayCorrectionDateTime",
    "DecayCorrected",
)
NUMBER = (
    "PatientWeight",
    "PatientSize",
    "SeriesNumber",
    "SliceThickness",
    "GantryDetectorTilt",
    "Rows",
    "Columns",
    "NumberOfFrames",
    "InstanceNumber",
    "SamplesPerPixel",
    "BitsAllocated",
    "BitsStored",
    "PixelRepresentation",
    "RescaleSlope",
    "RescaleIntercept",
    "FrameReferenceTime",
    "ActualFrameDuration",
)
VECTOR = {"ImagePositionPatient": 3, "ImageOrientationPatient": 6, "PixelSpacing": 2}
STRINGS = ("ImageType", "ConvolutionKernel", "CorrectedImage")
SEQUENCES = {
    "RadiopharmaceuticalInformationSequence",
    "SharedFunctionalGroupsSequence",
    "PerFrameFunctionalGroupsSequence",
    "DirectoryRecordSequence",
}
# pydicom warns about the non-conformant values these tests read on purpose
pytestmark = pytest.mark.filterwarnings(
    "ignore:Invalid value for VR:UserWarning", "ignore:The value length:UserWarning"
)
DRUG_TEXT = ("Radiopharmaceutical", "RadiopharmaceuticalStartTime", "RadiopharmaceuticalStartDateTime")
DRUG_NUMBER = ("RadionuclideTotalDose", "RadionuclideHalfLife")


def test_every_attribute_of_the_header_pass_is_compared() -> None:
    assert set(TEXT) | set(NUMBER) | set(VECTOR) | set(STRINGS) | SEQUENCES == set(HEADER_KEYWORDS)


def _pydicom_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, list | pydicom.multival.MultiValue):
        value = "\\".join(str(v) for v in value)
    text = str(value).strip(" \x00")
    return text or None


def _pydicom_number(value: object) -> float | None:
    if isinstance(value, list | pydicom.multival.MultiValue):
        value = value[0] if len(value) else None
    if value is None or value == "":
        return None
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None  # pydicom keeps a value it cannot read as a number as a string


def _pydicom_vector(value: object, count: int) -> tuple[float, ...] | None:
    if value is None:
        return None
    items = list(value) if isinstance(value, list | pydicom.multival.MultiValue) else [value]
    numbers = tuple(_pydicom_number(v) for v in items)
    return numbers if len(numbers) == count and None not in numbers else None  # type: ignore[return-value]


def _pydicom_strings(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    items = list(value) if isinstance(value, list | pydicom.multival.MultiValue) else [value]
    return tuple(str(v).strip(" \x00").upper() for v in items if str(v).strip(" \x00"))


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def disagreements(path: Path) -> list[str]:
    """Every attribute on which the fast path and pydicom's own reading of ``path`` differ."""
    with open(path, "rb") as fp:
        fast = pydicom.dcmread(fp, stop_before_pixels=True, specific_tags=SPECIFIC_TAGS)
    ref = pydicom.dcmread(path, stop_before_pixels=True)
    out = []

    def compare(keyword: str, ours: object, theirs: object) -> None:
        if not _same(ours, theirs):
            out.append(f"{path}: {keyword}: fast path {ours!r}, pydicom {theirs!r}")

    for k in TEXT:
        compare(k, dv.text(fast, k), _pydicom_text(ref.get(k)))
    for k in NUMBER:
        compare(k, dv.number(fast, k), _pydicom_number(ref.get(k)))
    for k, n in VECTOR.items():
        compare(k, dv.numbers(fast, k, n), _pydicom_vector(ref.get(k), n))
    for k in STRINGS:
        compare(k, dv.strings(fast, k), _pydicom_strings(ref.get(k)))
    fast_drug, ref_drug = (
        fast.get("RadiopharmaceuticalInformationSequence"),
        ref.get("RadiopharmaceuticalInformationSequence"),
    )
    if ref_drug:
        for k in DRUG_TEXT:
            compare(k, dv.text(fast_drug[0], k), _pydicom_text(ref_drug[0].get(k)))
        for k in DRUG_NUMBER:
            compare(k, dv.number(fast_drug[0], k), _pydicom_number(ref_drug[0].get(k)))
    return out


def _dicom_files(root: Path) -> Iterator[Path]:
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        try:
            pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["Modality"])
        except (InvalidDicomError, OSError, ValueError):
            with pytest.raises((InvalidDicomError, ValueError)):  # the header pass refuses it too
                read_header(path)
            continue
        yield path


@pytest.mark.parametrize("folder", ["realdata", "testdata"])
def test_shared_data_values_agree_with_pydicom(realdata: Path, folder: str) -> None:
    root = realdata if folder == "realdata" else realdata.parent / "testdata"
    if not root.is_dir():
        pytest.skip(f"{root} not found")
    files = list(_dicom_files(root))
    assert folder == "testdata" or len(files) > 500  # every real-data image, RTSTRUCT included
    assert [d for f in files for d in disagreements(f)] == []


def test_generated_files_agree_with_pydicom(sample_root: Path, tmp_path: Path, write_series, make_enhanced) -> None:
    ct = write_series(tmp_path / "ct", "CT", n=6, rows=16)
    pet = write_series(tmp_path / "pet", "PT", n=6, rows=16, tag="p")
    make_enhanced(ct, tmp_path / "enhanced.dcm", "1.2.840.10008.5.1.4.1.1.2.1")
    encoded = []
    for syntax in (RLELossless, JPEGLSLossless, DeflatedExplicitVRLittleEndian):  # JPEG 2000: the real data
        ds = pydicom.dcmread(ct[0])
        if syntax == DeflatedExplicitVRLittleEndian:
            ds.file_meta.TransferSyntaxUID = syntax
        else:
            ds.compress(syntax)
        encoded.append(tmp_path / f"encoded_{len(encoded)}.dcm")
        ds.save_as(encoded[-1], enforce_file_format=True)
    files = list(_dicom_files(sample_root)) + ct + pet + [tmp_path / "enhanced.dcm"] + encoded
    assert len(files) > 300
    assert [d for f in files for d in disagreements(f)] == []


def _patch(path: Path, **raw: tuple[bytes, bytes]) -> None:
    """Replace the bytes of written values by raw quirky ones of the same length (kept even)."""
    data = path.read_bytes()
    for old, new in raw.values():
        assert len(old) == len(new) and data.count(old) == 1, (old, new)
        data = data.replace(old, new)
    path.write_bytes(data)


@pytest.fixture
def quirky_series(tmp_path: Path, write_series) -> list[Path]:
    """A CT series whose values carry the quirks of real exports, written byte by byte."""
    files = write_series(tmp_path / "quirky", "CT", n=12, rows=16)
    for k, f in enumerate(files):
        ds = pydicom.dcmread(f)
        ds.PixelSpacing = ["1.2500000000000000", "2.50000000000000"]  # written values, patched below
        ds.InstanceNumber = 7391 + k
        ds.SliceThickness = "9.75"
        ds.save_as(f)
        _patch(
            f,
            spacing=(b"1.2500000000000000\\2.50000000000000 ", b"1.25000000000000000\\2.5000000000000\x00"),
            number=(f"{7391 + k}".encode(), f"{k + 1}.00".encode()[:4]),
            thickness=(b"9.75", b"9,75"),
        )
    return files


def test_quirky_values_read_like_pydicom_with_notes(quirky_series: list[Path], caplog) -> None:
    assert [d for f in quirky_series for d in disagreements(f)] == []
    header = read_header(quirky_series[0])[0]
    assert header.pixel_spacing == (1.25, 2.5)
    assert header.instance_number == 1
    notes = set(header.value_notes)
    assert "PixelSpacing: DS value longer than 16 characters (read in full)" in notes
    assert "PixelSpacing: value padded with NUL instead of space" in notes
    with caplog.at_level(logging.WARNING, logger="pipeline"):
        index = discover(quirky_series[0].parent)
    (tp,) = select_timepoints(index)
    assert len(tp.ct_candidates[0]) == 12  # the series loads: spacing read
    expected = "PixelSpacing: DS value longer than 16 characters (read in full) in 12 file(s), e.g. "
    assert any(n.startswith(expected) for n in index.notes)
    assert header.slice_thickness is None  # as pydicom: not a number
    assert any(n.startswith("SliceThickness: comma decimal mark ('9,75'): not a number") for n in index.notes)
    assert any(r.getMessage().startswith(expected) for r in caplog.records)


def test_empty_uids_get_deterministic_uids_from_content(tmp_path: Path, write_series, caplog) -> None:
    files = write_series(tmp_path / "blank", "CT", n=12, rows=16)
    for f in files:
        ds = pydicom.dcmread(f)
        ds.StudyInstanceUID = ds.SeriesInstanceUID = ds.SOPInstanceUID = ""
        del ds.file_meta.MediaStorageSOPInstanceUID
        ds.save_as(f)
    assert [d for f in files for d in disagreements(f)] == []
    with caplog.at_level(logging.WARNING, logger="pipeline"):
        first = discover(tmp_path / "blank")
    again = discover(tmp_path / "blank", workers=1)
    assert first.instances == again.instances and first.skipped == ()
    assert len({i.sop_instance_uid for i in first.instances}) == 12
    assert len({i.series_uid for i in first.instances}) == 1 and first.instances[0].series_uid.startswith("2.25.")
    (tp,) = select_timepoints(first)
    assert len(tp.ct_candidates[0]) == 12
    assert any(
        "12 file(s) with empty or missing Study/Series/SOP Instance UIDs" in r.getMessage() for r in caplog.records
    )


def test_an_unreadable_rescale_refuses_its_series_by_name(tmp_path: Path, write_series) -> None:
    """A comma in RescaleSlope must not silently become slope 1: the series is refused naming the file."""
    files = write_series(tmp_path / "slope", "CT", n=12, rows=16)
    ds = pydicom.dcmread(files[3])
    ds.RescaleSlope = "1.5"
    ds.save_as(files[3])
    _patch(files[3], slope=(b"1.5 ", b"1,5 "))
    assert read_header(files[3])[0].pixel_problem == "RescaleSlope '1,5' is not a number"
    index = discover(tmp_path / "slope")
    assert (files[3].name, "pixel data unusable: RescaleSlope '1,5' is not a number (its series cannot be loaded)") in (
        index.skipped
    )
