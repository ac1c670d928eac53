"""Where a file's pixel data are, whether they can be what the header says, and reading them.

The header pass (:mod:`pipeline.dicom.discover`) stops at the Pixel Data element and
records its byte offset and length (:class:`PixelFormat`), so that loading
reads native (uncompressed) frames straight from the file without parsing the
header again. Compressed (encapsulated) and deflated files are decoded by
pydicom with the decoder plugins declared as dependencies (pylibjpeg with its
libjpeg, openjpeg and RLE plugins, pyjpegls, python-gdcm).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pydicom
from pydicom.uid import UID

from pipeline.dicom import values as dv
from pipeline.errors import PixelDataProblem

PIXEL_DATA_TAG = 0x7FE00010
UNDEFINED_LENGTH = 0xFFFFFFFF
MAX_DIMENSION = 16384  # rows or columns beyond this are refused as absurd
MAX_VOXELS = 2**31  # frames x rows x columns beyond this are refused as absurd
DEFLATED = "1.2.840.10008.1.2.1.99"
NATIVE_SYNTAXES = {
    "1.2.840.10008.1.2",  # Implicit VR Little Endian
    "1.2.840.10008.1.2.1",  # Explicit VR Little Endian
    "1.2.840.10008.1.2.2",  # Explicit VR Big Endian (retired)
}


@dataclass(frozen=True)
class PixelFormat:
    """How one file stores its pixels (one record per file, shared by its frames)."""

    transfer_syntax_uid: str
    rows: int
    columns: int
    number_of_frames: int
    samples_per_pixel: int
    bits_allocated: int
    bits_stored: int
    pixel_representation: int  # 0 unsigned, 1 two's complement
    photometric: str
    value_offset: int | None  # byte offset of the Pixel Data value in the file (None: not addressable)
    value_length: int | None  # None: encapsulated (undefined length)

    @property
    def native(self) -> bool:
        """Uncompressed and addressable in the file: read with one seek and one read per frame."""
        return (
            self.transfer_syntax_uid in NATIVE_SYNTAXES
            and self.value_offset is not None
            and self.value_length is not None
            and self.samples_per_pixel == 1
            and self.bits_allocated in (8, 16, 32)
        )

    @property
    def frame_bytes(self) -> int:
        return self.rows * self.columns * self.samples_per_pixel * self.bits_allocated // 8

    @property
    def dtype(self) -> np.dtype:
        kind = "i" if self.pixel_representation == 1 else "u"
        order = ">" if self.transfer_syntax_uid == "1.2.840.10008.1.2.2" else "<"
        return np.dtype(f"{order}{kind}{self.bits_allocated // 8}")


def _int(ds: pydicom.Dataset, keyword: str, default: int | None = None) -> int | None:
    value = dv.number(ds, keyword)
    return int(value) if value is not None else default


def _image_fields(ds: pydicom.Dataset) -> dict[str, Any] | None:
    """The image attributes of :class:`PixelFormat` (without the value's position), checked; ``None``: no image.

    Raises
    ------
    PixelDataProblem
        Rows, Columns or BitsAllocated missing or invalid, or absurd dimensions.
    """
    rows, columns = _int(ds, "Rows"), _int(ds, "Columns")
    if rows is None and columns is None:
        return None
    frames = _int(ds, "NumberOfFrames", 1) or 1
    bits = _int(ds, "BitsAllocated")
    spp = _int(ds, "SamplesPerPixel", 1) or 1
    if rows is None or columns is None or bits is None:
        raise PixelDataProblem("image without Rows, Columns or BitsAllocated")
    if (
        not (0 < rows <= MAX_DIMENSION and 0 < columns <= MAX_DIMENSION)
        or frames <= 0
        or frames * rows * columns > MAX_VOXELS
    ):
        raise PixelDataProblem(f"absurd dimensions {frames} frame(s) x {rows} rows x {columns} columns")
    if bits not in (1, 8, 16, 32, 64):
        raise PixelDataProblem(f"BitsAllocated {bits} is not valid")
    syntax = dv.text(getattr(ds, "file_meta", None), "TransferSyntaxUID") or "1.2.840.10008.1.2"
    return dict(
        transfer_syntax_uid=syntax,
        rows=rows,
        columns=columns,
        number_of_frames=frames,
        samples_per_pixel=spp,
        bits_allocated=bits,
        bits_stored=_int(ds, "BitsStored", bits) or bits,
        pixel_representation=_int(ds, "PixelRepresentation", 0) or 0,
        photometric=(dv.text(ds, "PhotometricInterpretation") or "").upper(),
    )


def _pixel_data_element(fp: BinaryIO, syntax: str) -> tuple[int, int]:
    """Offset (bytes from the file start) and stated length of the Pixel Data value whose element starts at ``fp``."""
    start = fp.tell()
    head = fp.read(12)
    if len(head) < 8:
        raise PixelDataProblem("no pixel data (the file ends before Pixel Data: truncated, or never had any)")
    explicit = syntax != "1.2.840.10008.1.2"
    big = syntax == "1.2.840.10008.1.2.2"
    group, element = struct.unpack(">HH" if big else "<HH", head[:4])
    if (group << 16 | element) != PIXEL_DATA_TAG:
        raise PixelDataProblem("no Pixel Data element (float pixel data are not supported)")
    fmt = ">L" if big else "<L"
    if explicit and head[4:6] in (b"OB", b"OW", b"OF", b"OD", b"OL", b"UN"):
        if len(head) < 12:
            raise PixelDataProblem("file truncated in the Pixel Data element")
        length, offset = struct.unpack(fmt, head[8:12])[0], start + 12
    elif explicit and not head[4:6].isalpha():
        length, offset = struct.unpack(fmt, head[4:8])[0], start + 8  # implicit VR despite the syntax
    elif explicit:
        length, offset = struct.unpack(">H" if big else "<H", head[6:8])[0], start + 8
    else:
        length, offset = struct.unpack(fmt, head[4:8])[0], start + 8
    return offset, length


def _checked_length(fields: dict[str, Any], offset: int, length: int, file_size: int) -> int | None:
    """The Pixel Data length (``None``: encapsulated, undefined length), checked against the image and file size."""
    native = fields["transfer_syntax_uid"] in NATIVE_SYNTAXES
    if length == UNDEFINED_LENGTH:
        if native:
            raise PixelDataProblem("native transfer syntax with encapsulated (undefined length) pixel data")
        return None
    if native:
        frames, rows, columns = fields["number_of_frames"], fields["rows"], fields["columns"]
        spp, bits = fields["samples_per_pixel"], fields["bits_allocated"]
        expected = frames * rows * columns * spp * bits // 8 if bits != 1 else (frames * rows * columns * spp + 7) // 8
        if length < expected or length > expected + 1:
            raise PixelDataProblem(
                f"pixel data length {length} bytes does not match {frames} x {rows} x {columns} x {spp} samples"
                f" x {bits} bits = {expected} bytes"
            )
        if offset + expected > file_size:
            raise PixelDataProblem(
                f"truncated: the file ends {offset + expected - file_size} bytes before the end of its pixel data"
            )
    elif offset > file_size:
        raise PixelDataProblem("truncated in the pixel data")
    return length


def pixel_format(ds: pydicom.Dataset, fp: BinaryIO, file_size: int) -> PixelFormat | None:
    """The pixel format of a header just read with ``stop_before_pixels`` from ``fp``.

    ``fp`` must be positioned where pydicom stopped (the Pixel Data element).
    Returns ``None`` for objects without an image (no Rows): SR, RTSTRUCT, ...

    Raises
    ------
    PixelDataProblem
        Image attributes present but the pixel data are missing, truncated, of
        the wrong length, or the dimensions are absurd.
    """
    fields = _image_fields(ds)
    if fields is None:
        return None
    if fields["transfer_syntax_uid"] == DEFLATED:
        # the dataset is a deflate stream: the pixel data are found (and checked) when decoded
        return PixelFormat(**fields, value_offset=None, value_length=None)
    offset, stated_length = _pixel_data_element(fp, fields["transfer_syntax_uid"])
    length = _checked_length(fields, offset, stated_length, file_size)
    return PixelFormat(**fields, value_offset=offset, value_length=length)


def transfer_syntax_name(uid: str) -> str:
    """A readable name of a transfer syntax UID (the UID itself if unknown)."""
    name = UID(uid).name
    return name if name and name != uid else uid


def _sign_extend(frame: np.ndarray, fmt: PixelFormat) -> np.ndarray:
    """Native signed data with BitsStored < BitsAllocated: bits above the high bit are not data."""
    if fmt.pixel_representation != 1 or fmt.bits_stored >= fmt.bits_allocated:
        return frame
    shift = fmt.bits_allocated - fmt.bits_stored
    return (frame << shift) >> shift


def read_native_frames(path: Path, fmt: PixelFormat, frames: list[int]) -> list[np.ndarray]:
    """Frames ``[rows, columns]`` of an uncompressed file, read at the recorded offset."""
    assert fmt.value_offset is not None
    dtype = fmt.dtype
    out = []
    with open(path, "rb") as f:
        for k in frames:
            f.seek(fmt.value_offset + k * fmt.frame_bytes)
            frame = np.empty((fmt.rows, fmt.columns), dtype=dtype)
            if f.readinto(frame.data.cast("B")) != fmt.frame_bytes:
                raise PixelDataProblem("truncated pixel data")
            if dtype.byteorder == ">":
                frame = frame.astype(dtype.newbyteorder("="))
            if fmt.bits_stored < fmt.bits_allocated:
                if fmt.pixel_representation == 1:
                    frame = _sign_extend(frame, fmt)
                else:
                    frame &= np.array((1 << fmt.bits_stored) - 1, dtype=frame.dtype)
            out.append(frame)
    return out


def stored_range(fmt: PixelFormat) -> tuple[int, int]:
    """The smallest and largest value the stored bits can hold."""
    bits = fmt.bits_stored
    if fmt.pixel_representation == 1:
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1


def read_native_into(path: Path, fmt: PixelFormat, frames: list[int], out: list[np.ndarray]) -> None:
    """Read native frames straight into ``out`` arrays of the stored width (no intermediate copy).

    ``out[i].dtype.itemsize`` must be ``BitsAllocated / 8``; the stored values
    must fit ``out``'s dtype (see :func:`stored_range`). Bits above BitsStored
    are cleared (unsigned) or sign-extended (signed) in place.
    """
    assert fmt.value_offset is not None and fmt.dtype.byteorder != ">"
    with open(path, "rb") as f:
        for k, target in zip(frames, out, strict=True):
            f.seek(fmt.value_offset + k * fmt.frame_bytes)
            if f.readinto(target.data.cast("B")) != fmt.frame_bytes:
                raise PixelDataProblem("truncated pixel data")
            if fmt.bits_stored < fmt.bits_allocated:
                shift = fmt.bits_allocated - fmt.bits_stored
                if fmt.pixel_representation == 1:
                    target <<= shift
                    target >>= shift
                else:
                    target &= np.array((1 << fmt.bits_stored) - 1).astype(target.dtype)


def decode_frames(path: Path, fmt: PixelFormat, frames: list[int]) -> list[np.ndarray]:
    """Frames ``[rows, columns]`` of any file pydicom can decode (compressed, deflated, ...)."""
    ds = pydicom.dcmread(path)
    if "PixelData" not in ds:
        raise PixelDataProblem("no pixel data")
    if fmt.samples_per_pixel != 1:
        raise PixelDataProblem(f"{fmt.samples_per_pixel} samples per pixel (colour) is not a CT/PET image")
    array = ds.pixel_array
    if array.ndim == 2:
        array = array[np.newaxis]
    if array.shape[1:] != (fmt.rows, fmt.columns) or array.shape[0] < max(frames) + 1:
        raise PixelDataProblem(
            f"decoded pixel array {array.shape} does not match {fmt.number_of_frames} x {fmt.rows} x {fmt.columns}"
        )
    return [array[k] for k in frames]


def read_frames(path: Path, fmt: PixelFormat, frames: list[int]) -> list[np.ndarray]:
    """Frames of one file, native by offset or decoded; raises :class:`PixelDataProblem` or decoder errors."""
    if fmt.native:
        return read_native_frames(path, fmt, frames)
    return decode_frames(path, fmt, frames)
