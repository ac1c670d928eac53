"""Targets from a DICOM RT Structure Set: one target per ROI with contours, the reader's contours as its mask.

Each ROI is rasterised (:func:`pipeline.dicom.rtstruct.rasterise`) onto the
grid of the baseline series the structure set references (else the baseline's
CT with the most slices). Lesion id = the ROI's name (made safe), else
``ROI<number>``; seed = the mask's deepest voxel; the mask is measured as drawn
at baseline unless the run is told to segment again (``--resegment``). ROIs
without a closed contour on the baseline's slices are skipped with a warning.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from pipeline.dicom.rtstruct import rasterise, read_rtstruct
from pipeline.errors import TargetsError
from pipeline.targets.geometry import ImageLookup
from pipeline.targets.json_file import Target
from pipeline.targets.naming import lesion_id
from pipeline.targets.seg import deepest_point

log = logging.getLogger(__name__)


def _cropped(mask_zyx: np.ndarray, grid: sitk.Image) -> sitk.Image:
    """The mask (fractions 0/1, float32) on the part of ``grid`` that holds it, with one voxel around."""
    lo = np.maximum(np.min(np.nonzero(mask_zyx), axis=1) - 1, 0)
    hi = np.minimum(np.max(np.nonzero(mask_zyx), axis=1) + 2, mask_zyx.shape)
    crop = sitk.GetImageFromArray(mask_zyx[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]].astype(np.float32))
    crop.SetSpacing(grid.GetSpacing())
    crop.SetDirection(grid.GetDirection())
    crop.SetOrigin(grid.TransformIndexToPhysicalPoint([int(v) for v in lo[::-1]]))
    return crop


def read_rtstruct_targets(path: Path, images: ImageLookup) -> tuple[Target, ...]:
    structures = read_rtstruct(path)
    images.check_frame_of_reference(structures.frame_of_reference_uid, "the structure set")
    grid = images.grid(structures.referenced_series_uid)
    targets: list[Target] = []
    taken: set[str] = set()
    for roi in structures.rois:
        mask = rasterise(roi, grid, path.name)
        if not mask.any():
            log.warning(
                "%s: ROI %d (%s) has no closed contour on the baseline's slices; not a target",
                path.name,
                roi.number,
                roi.name,
            )
            continue
        reader_mask = _cropped(mask, grid)
        seed = deepest_point(reader_mask)
        assert seed is not None
        name = lesion_id(roi.name, f"ROI{roi.number}", taken)
        origin = f"RTSTRUCT {path.name}, ROI {roi.number}"
        targets.append(Target(name, seed, reader_mask=reader_mask, origin=origin))
    if not targets:
        raise TargetsError(f"{images.describe}: no ROI with a closed contour on the baseline")
    return tuple(targets)
