"""The liver of each timepoint's CT: segmented (:mod:`segmentation.liver`) or read from another tool's mask.

Built-in: the CT is reoriented to the canonical LPS orientation the segmenter
expects (``SimpleITK.DICOMOrient``), segmented, and the mask resampled back
onto the CT grid (the same voxels, reordered).

Given (``--liver-mask PATH``): a NIfTI (or other SimpleITK-readable) label
image with a single non-zero label, or a DICOM SEG (the segment whose label or
property type says liver, or its only segment); read by
:mod:`pipeline.dicom.mask_files`. ``PATH`` is one file, used for the
baseline (other timepoints are segmented), or a folder of files matched to the
timepoints by CT SeriesInstanceUID (the SEG's referenced series, or the UID in
the file name) or, when no file names a timepoint's series, by name order
(first file: baseline). A mask is mapped onto the CT grid through patient
coordinates (NIfTI RAS and DICOM LPS both become LPS when read), nearest
neighbour; a mask that does not overlap its CT is an error.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from pipeline import spatial
from pipeline.dicom.load import LoadedSeries
from pipeline.dicom.mask_files import load_mask
from pipeline.errors import InputError, LiverMaskError, NoLiverError
from segmentation.liver import LiverConfig, segment_liver
from segmentation.morphology import bounding_box

log = logging.getLogger(__name__)

NIFTI_SUFFIXES = (".nii", ".nii.gz")


@dataclass(frozen=True, eq=False)
class LiverMask:
    """A timepoint's liver on its CT grid (``mask_zyx`` in the CT's array order)."""

    mask_zyx: np.ndarray
    volume_ml: float
    source: str  # "segmented" or the mask file's path
    level_hu: float | None = None
    partial: bool | None = None

    def as_record(self) -> dict[str, object]:
        return {
            "source": self.source,
            "volume_ml": round(self.volume_ml, 1),
            "level_hu": None if self.level_hu is None else round(self.level_hu, 1),
            "partial": self.partial,
        }


def _is_nifti(path: Path) -> bool:
    return path.name.lower().endswith(NIFTI_SUFFIXES)


def _seg_liver(path: Path) -> tuple[int | None, str | None]:
    """The number of the SEG's segment labelled liver (``None``: let the reader take its only segment), and the
    CT series the SEG refers to."""
    import pydicom

    ds = pydicom.dcmread(path, stop_before_pixels=True)
    numbers = []
    for item in ds.get("SegmentSequence", []):
        names = [str(item.get("SegmentLabel", ""))]
        names += [str(c.get("CodeMeaning", "")) for c in item.get("SegmentedPropertyTypeCodeSequence", [])]
        if any("liver" in n.lower() for n in names):
            numbers.append(int(item.SegmentNumber))
    referenced = [str(s.SeriesInstanceUID) for s in ds.get("ReferencedSeriesSequence", []) if "SeriesInstanceUID" in s]
    return (numbers[0] if len(numbers) == 1 else None), (referenced[0] if referenced else None)


def read_mask_file(path: Path) -> tuple[sitk.Image, str | None]:
    """A liver mask file as a uint8 image (1 = liver) in LPS patient space, and the CT series it refers to."""
    segment, referenced = (None, None) if _is_nifti(path) else _seg_liver(path)
    try:
        image, _ = load_mask(path, segment)
    except InputError as exc:
        raise LiverMaskError(f"liver mask {exc}") from None
    if image.GetPixelID() == sitk.sitkFloat32:  # fractions
        image = image >= 0.5
    return sitk.Cast(image > 0, sitk.sitkUInt8), referenced


def mask_on_ct(mask: sitk.Image, ct: sitk.Image, source: str) -> np.ndarray:
    """``mask`` resampled onto the CT grid through patient coordinates (nearest neighbour); must overlap it."""
    on_ct = sitk.Resample(mask, ct, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
    array = sitk.GetArrayFromImage(on_ct) > 0
    if not array.any():
        raise LiverMaskError(f"liver mask {source} does not overlap the CT (different patient or frame of reference?)")
    return array


@dataclass(frozen=True)
class LiverMaskFiles:
    """The user's liver masks: by CT series UID, and in order for the timepoints no file names."""

    by_series: dict[str, Path]
    in_order: tuple[Path, ...]

    def for_timepoint(self, index: int, series_uid: str) -> Path | None:
        if series_uid in self.by_series:
            return self.by_series[series_uid]
        if not self.by_series and index < len(self.in_order):
            return self.in_order[index]
        return None


def liver_mask_files(path: Path | str | None, series_uids: list[str]) -> LiverMaskFiles:
    """Resolve ``--liver-mask`` (a file for the baseline, or a folder; see module docstring)."""
    if path is None:
        return LiverMaskFiles({}, ())
    path = Path(path)
    if path.is_file():
        return LiverMaskFiles({}, (path,))
    if not path.is_dir():
        raise LiverMaskError(f"liver mask {path}: no such file or folder")
    files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
    if not files:
        raise LiverMaskError(f"liver mask folder {path} holds no file")
    by_series: dict[str, Path] = {}
    for f in files:
        referenced = None if _is_nifti(f) else read_mask_file(f)[1]
        for uid in series_uids:
            if uid and (uid == referenced or uid in f.name):
                by_series[uid] = f
    if not by_series and len(files) > len(series_uids):
        raise LiverMaskError(
            f"liver mask folder {path}: {len(files)} files for {len(series_uids)} timepoint(s), none naming a CT series"
        )
    return LiverMaskFiles(by_series, () if by_series else tuple(files))


def mask_on_grid(mask_zyx: np.ndarray, ct: sitk.Image, grid: sitk.Image) -> np.ndarray:
    """A mask on the CT grid resampled onto another grid of the same frame of reference (e.g. the PET), nearest.

    Only the mask's bounding box (grown by one voxel of background) is resampled: every point whose nearest CT
    voxel is in the mask lies inside it, and points outside it get the background value, as they would.
    """
    if not mask_zyx.any():
        return np.zeros(grid.GetSize()[::-1], dtype=bool)
    box = bounding_box(mask_zyx, margin=1)
    image = sitk.GetImageFromArray(np.ascontiguousarray(mask_zyx[box], dtype=np.uint8))
    image.SetSpacing(ct.GetSpacing())
    image.SetDirection(ct.GetDirection())
    start_xyz = [int(s.start) for s in reversed(box)]
    image.SetOrigin(ct.TransformIndexToPhysicalPoint(start_xyz))
    return sitk.GetArrayFromImage(sitk.Resample(image, grid, sitk.Transform(), sitk.sitkNearestNeighbor, 0)) > 0


def segment_ct_liver(ct: LoadedSeries, config: LiverConfig) -> LiverMask:
    """The built-in segmentation of the CT's liver; :class:`NoLiverError` (with the series) when there is none."""
    oriented = spatial.in_lps_order(ct.image)
    canonical = oriented is ct.image  # already in the segmenter's orientation
    result = segment_liver(spatial.array_zyx(oriented), spatial.spacing_zyx(oriented), config)
    if not result.found or result.mask_zyx is None or result.volume_ml is None:
        raise NoLiverError(f"{result.headline} (CT series {ct.series_uid}): {result.reason}")
    if canonical:
        on_ct = result.mask_zyx
    else:
        mask = spatial.image_like(result.mask_zyx.astype(np.uint8), oriented)
        on_ct = sitk.GetArrayFromImage(sitk.Resample(mask, ct.image, sitk.Transform(), sitk.sitkNearestNeighbor, 0)) > 0
    return LiverMask(on_ct, result.volume_ml, "segmented", result.level_hu, result.partial)


def liver_for(ct: LoadedSeries, index: int, files: LiverMaskFiles, config: LiverConfig) -> LiverMask:
    """Timepoint ``index``'s liver: the user's mask for it if any, else the built-in segmentation."""
    path = files.for_timepoint(index, ct.series_uid)
    if path is None:
        return segment_ct_liver(ct, config)
    image, _ = read_mask_file(path)
    mask = mask_on_ct(image, ct.image, str(path))
    volume = float(mask.sum()) * float(np.prod(ct.image.GetSpacing())) / 1000.0
    log.info("timepoint %d: liver mask from %s (%.0f ml)", index, path, volume)
    return LiverMask(mask, volume, str(path))
