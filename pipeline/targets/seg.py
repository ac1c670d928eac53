"""Targets from a DICOM SEG: one target per segment, the reader's segment used as the baseline lesion mask.

Lesion id = the segment's label (made safe, :func:`pipeline.targets.naming.lesion_id`), else ``SEG<n>``;
seed = the segment's deepest voxel (farthest from its outline, in mm); the segment itself (fractions for a
FRACTIONAL SEG, 0/1 for a BINARY one) is measured as it is at baseline, unless the run is told to segment
again (``--resegment``). Empty segments are skipped with a warning.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from measurement.masks import inside
from pipeline import spatial
from pipeline.dicom.seg import read_seg, segment_image
from pipeline.errors import TargetsError
from pipeline.targets.geometry import ImageLookup, Point
from pipeline.targets.json_file import Target
from pipeline.targets.naming import lesion_id

log = logging.getLogger(__name__)


def deepest_point(mask: sitk.Image) -> Point | None:
    """LPS centre of the lesion voxel farthest (in mm) from the lesion's outline; ``None`` for an empty mask."""
    lesion = inside(sitk.GetArrayViewFromImage(mask))
    if not lesion.any():
        return None
    depth = ndimage.distance_transform_edt(np.pad(lesion, 1), sampling=spatial.spacing_zyx(mask))[1:-1, 1:-1, 1:-1]
    index = np.unravel_index(int(np.argmax(depth)), depth.shape)
    x, y, z = (float(v) for v in spatial.index_zyx_to_lps(mask, np.asarray(index, dtype=float)))
    return x, y, z


def read_seg_targets(path: Path, images: ImageLookup) -> tuple[Target, ...]:
    seg = read_seg(path)
    images.check_frame_of_reference(str(seg.get("FrameOfReferenceUID", "")), "the segmentation")
    targets: list[Target] = []
    taken: set[str] = set()
    for description in seg.SegmentSequence:
        number = int(description.SegmentNumber)
        mask = segment_image(seg, number, path)
        seed = deepest_point(mask)
        if seed is None:
            log.warning("%s: segment %d (%s) is empty; not a target", path.name, number, description.SegmentLabel)
            continue
        name = lesion_id(str(description.get("SegmentLabel", "")), f"SEG{number}", taken)
        origin = f"SEG {path.name}, segment {number}"
        targets.append(Target(name, seed, reader_mask=sitk.Cast(mask, sitk.sitkFloat32), origin=origin))
    if not targets:
        raise TargetsError(f"{images.describe}: no segment with lesion voxels")
    return tuple(targets)
