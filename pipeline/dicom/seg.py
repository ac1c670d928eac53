"""DICOM Segmentation objects read as images: one segment as a SimpleITK image in patient space."""

from __future__ import annotations

from pathlib import Path

import highdicom as hd
import SimpleITK as sitk

from pipeline.errors import DicomReadError

# what highdicom and pydicom raise for an object that is not a well-formed SEG (missing or malformed attributes,
# frames that do not form a volume, an unreadable file)
SEG_ERRORS = (ValueError, TypeError, AttributeError, KeyError, IndexError, RuntimeError, NotImplementedError, OSError)


def read_seg(path: Path) -> hd.seg.Segmentation:
    """The SEG at ``path``; a file that is not one is a read error naming it."""
    try:
        return hd.seg.segread(path)
    except SEG_ERRORS as exc:
        raise DicomReadError(f"{path}: cannot read the DICOM SEG ({exc})") from None


def is_fractional(seg: hd.seg.Segmentation) -> bool:
    return seg.segmentation_type == hd.seg.SegmentationTypeValues.FRACTIONAL


def segment_image(seg: hd.seg.Segmentation, number: int, source: Path) -> sitk.Image:
    """Segment ``number`` on the SEG's own grid: float32 fractions in [0, 1] (FRACTIONAL) or uint8 0/1 (BINARY)."""
    fractional = is_fractional(seg)
    try:
        volume = seg.get_volume(segment_numbers=[number], combine_segments=not fractional, relabel=True)
        if fractional:
            volume = volume.squeeze_channel()
        image = volume.to_simpleitk()
    except SEG_ERRORS as exc:
        raise DicomReadError(f"{source}: segment {number} does not form a volume ({exc})") from None
    return sitk.Cast(image, sitk.sitkFloat32) if fractional else sitk.Cast(image > 0, sitk.sitkUInt8)
