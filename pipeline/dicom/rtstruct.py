"""DICOM RT Structure Sets: their regions of interest, and each one rasterised onto an image grid.

An RTSTRUCT holds, per ROI (number and name), planar contours in patient
coordinates (LPS mm). :func:`rasterise` draws one ROI onto any image grid of
the same frame of reference (SimpleITK image, LPS):

* each CLOSED_PLANAR contour must lie in one slice plane of the image (its
  points within half a slice of one slice along the slice axis); it is drawn
  on that slice (the nearest one, with a warning when the contours lie off the
  image's slice planes by more than a tenth of the spacing);
* a voxel is inside a contour when its centre is (scikit-image
  ``draw.polygon`` on the contour's continuous voxel coordinates);
* contours on the same slice combine by the even-odd rule (a contour inside
  another is a hole, as RTSTRUCT represents holes);
* POINT and OPEN_PLANAR contours have no inside and are ignored with a warning.

Nothing here depends on what the ROI is for: ``measure`` uses it for masks,
and targets drawn as contours can use it the same way.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
import SimpleITK as sitk
from skimage.draw import polygon

from pipeline.errors import InputError

log = logging.getLogger(__name__)

OFF_PLANE_WARNING = 0.1  # fraction of the slice spacing


@dataclass(frozen=True)
class Roi:
    """One region of interest: its number, name and contours (each an (n, 3) array of LPS mm points)."""

    number: int
    name: str
    contours_lps_mm: tuple[np.ndarray, ...]
    ignored_contours: int = 0  # POINT / OPEN_PLANAR contours (no inside)


@dataclass(frozen=True)
class StructureSet:
    path: Path
    frame_of_reference_uid: str | None
    referenced_series_uid: str | None
    rois: tuple[Roi, ...]

    def describe(self) -> str:
        return ", ".join(f"{r.number} {r.name!r}" for r in self.rois) or "none"


def _referenced(ds: pydicom.Dataset) -> tuple[str | None, str | None]:
    """(frame of reference UID, referenced series UID) of a structure set."""
    for ref in ds.get("ReferencedFrameOfReferenceSequence", []):
        for study in ref.get("RTReferencedStudySequence", []):
            for series in study.get("RTReferencedSeriesSequence", []):
                return ref.get("FrameOfReferenceUID"), series.get("SeriesInstanceUID")
        return ref.get("FrameOfReferenceUID"), None
    return None, None


def read_rtstruct(path: Path) -> StructureSet:
    """The ROIs of an RT Structure Set file; :class:`InputError` naming the file when it is not one."""
    try:
        ds = pydicom.dcmread(path)
    except Exception as exc:
        raise InputError(f"{path}: cannot read the RTSTRUCT ({exc})") from None
    if ds.get("Modality") != "RTSTRUCT":
        raise InputError(f"{path}: not a DICOM RTSTRUCT (Modality {ds.get('Modality')})")
    names = {int(r.ROINumber): str(r.get("ROIName", "")) for r in ds.get("StructureSetROISequence", [])}
    rois = []
    for item in ds.get("ROIContourSequence", []):
        number = int(item.ReferencedROINumber)
        contours, ignored = [], 0
        for contour in item.get("ContourSequence", []):
            points = np.asarray(contour.get("ContourData", []), dtype=float).reshape(-1, 3)
            if contour.get("ContourGeometricType", "CLOSED_PLANAR") != "CLOSED_PLANAR" or len(points) < 3:
                ignored += 1
                continue
            contours.append(points)
        rois.append(Roi(number, names.get(number, ""), tuple(contours), ignored))
    for_uid, series_uid = _referenced(ds)
    return StructureSet(path, for_uid, series_uid, tuple(sorted(rois, key=lambda r: r.number)))


def choose_roi(structures: StructureSet, selector: str | int | None) -> Roi:
    """The ROI named or numbered by ``selector`` (a number, or a name, case-insensitive); needed when there are several."""
    rois = [r for r in structures.rois if r.contours_lps_mm]
    where = f"{structures.path}"
    if selector is None:
        if len(rois) != 1:
            raise InputError(
                f"{where}: {len(rois)} ROIs with contours ({structures.describe()}); choose one with --roi"
            )
        return rois[0]
    text = str(selector).strip()
    chosen = [r for r in structures.rois if str(r.number) == text] or [
        r for r in structures.rois if r.name.strip().lower() == text.lower()
    ]
    if not chosen:
        raise InputError(f"{where}: no ROI {text!r} (has {structures.describe()})")
    if len(chosen) > 1:
        raise InputError(f"{where}: several ROIs named {text!r}; choose one by number ({structures.describe()})")
    if not chosen[0].contours_lps_mm:
        raise InputError(f"{where}: ROI {chosen[0].number} {chosen[0].name!r} has no closed contour")
    return chosen[0]


def rasterise(roi: Roi, reference: sitk.Image, source: Path | str = "") -> np.ndarray:
    """The ROI as a boolean mask ``[z, y, x]`` on ``reference``'s grid (see module docstring)."""
    size_xyz = reference.GetSize()
    mask = np.zeros(size_xyz[::-1], dtype=bool)
    off_plane = 0.0
    for points in roi.contours_lps_mm:
        index_xyz = np.array([reference.TransformPhysicalPointToContinuousIndex(p.tolist()) for p in points])
        k = index_xyz[:, 2]
        if k.max() - k.min() > 0.5:
            raise InputError(
                f"{source}: ROI {roi.number} {roi.name!r} has a contour that is not parallel to the image slices"
            )
        plane = int(round(float(k.mean())))
        off_plane = max(off_plane, abs(float(k.mean()) - plane))
        if not 0 <= plane < size_xyz[2]:
            continue
        rows, cols = polygon(index_xyz[:, 1], index_xyz[:, 0], shape=(size_xyz[1], size_xyz[0]))
        drawn = np.zeros(mask.shape[1:], dtype=bool)
        drawn[rows, cols] = True
        mask[plane] ^= drawn
    if off_plane > OFF_PLANE_WARNING:
        log.warning(
            "%s: ROI %d contours lie up to %.2f slice from the image's slice planes; drawn on the nearest slices",
            source,
            roi.number,
            off_plane,
        )
    if roi.ignored_contours:
        log.warning("%s: ROI %d: %d point/open contour(s) ignored", source, roi.number, roi.ignored_contours)
    return mask
