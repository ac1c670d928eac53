"""Tracking decisions between timepoints: what to look for where, and what was found.

* Propagation: a target found at the reference timepoint is looked for at the
  follow-up where the registration maps its *segmented centroid* and its
  seed, with what the reference says of it (:class:`TrackedLesion`: size and
  appearance); :func:`segmentation.recentre.locate_lesion` chooses the seed
  or says the lesion is not there.
* No jump: the follow-up segmentation's centroid must lie within
  :func:`max_track_distance_mm` of the mapped centroid (the search radius plus
  the lesion's baseline radius); a region farther away is another structure,
  and the target is ``not_found`` with the reason, never measured on it.
* Merge: two targets whose follow-up masks overlap (intersection >= half the
  smaller one) are one coalesced lesion; RECIST 1.1 counts its diameter once,
  for the earlier target; the later one is reported ``not_found`` with the
  reason ``merged with ...``.
* Split: a target whose mask falls into several connected parts, each at
  least ``min_fraction`` of its volume, is flagged (RECIST 1.1 sums the
  fragments' diameters; the pipeline measures the whole mask and warns).
* Registration residual: the distance between each mapped centroid and the
  centroid segmented at the follow-up estimates the target registration error
  at the lesions; a median above ``max_residual_mm`` flags the registration.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from pipeline import spatial
from pipeline.records import LesionRecord, Point, Residuals
from segmentation.morphology import bounding_box
from segmentation.recentre import Appearance, probe


@dataclass(frozen=True)
class TrackedLesion:
    """What the reference timepoint knows of a target found there (points in LPS mm)."""

    seed_lps_mm: Point  # where its segmentation started
    centroid_lps_mm: Point
    radius_mm: float  # equivalent-sphere radius of its volume
    appearance: Appearance | None  # None: no soft tissue around it to compare with


@dataclass(frozen=True)
class FollowupPrior:
    """A target's reference knowledge carried into a follow-up by the registration."""

    mapped_seed_lps_mm: Point
    radius_mm: float
    appearance: Appearance | None


def tracked_lesions(image: sitk.Image, records: Sequence[LesionRecord]) -> dict[str, TrackedLesion]:
    """The measured targets of a timepoint, probed on its CT (see :mod:`segmentation.recentre`)."""
    array, spacing = spatial.array_zyx(image), spatial.spacing_zyx(image)
    out = {}
    for r in records:
        if not r.measured or r.centroid_lps_mm is None or r.seed_lps_mm is None or not r.volume_ml:
            continue
        radius = float((3.0 * r.volume_ml * 1000.0 / (4.0 * np.pi)) ** (1.0 / 3.0))
        centre = spatial.lps_to_index_zyx(image, np.asarray(r.centroid_lps_mm))
        seed = spatial.lps_to_index_zyx(image, np.asarray(r.seed_lps_mm))
        look = probe(array, spacing, tuple(centre), tuple(seed), radius)
        out[r.lesion_id] = TrackedLesion(r.seed_lps_mm, r.centroid_lps_mm, radius, look)
    return out


def max_track_distance_mm(search_radius_mm: float, radius_mm: float) -> float:
    """How far the follow-up centroid may lie from the mapped centroid: the search radius plus the lesion's radius."""
    return search_radius_mm + radius_mm


def residuals(mapped: dict[str, Point], found: dict[str, Point], max_residual_mm: float = 10.0) -> Residuals:
    """Distances between mapped and segmented centroids of the lesions found at both timepoints."""
    per = {k: float(np.linalg.norm(np.subtract(found[k], mapped[k]))) for k in sorted(mapped) if k in found}
    if not per:
        return Residuals({}, None, None, True)
    values = np.array(list(per.values()))
    median = float(np.median(values))
    return Residuals(per, median, float(values.max()), median <= max_residual_mm)


def merged_pairs(masks: Sequence[np.ndarray | None], min_overlap: float = 0.5) -> list[tuple[int, int]]:
    """Pairs (i, j), i < j, of boolean masks whose intersection is >= ``min_overlap`` of the smaller.

    Counted within the masks' bounding boxes (an empty mask merges with none)."""
    boxes = [None if m is None or not m.any() else bounding_box(m) for m in masks]
    counts = [0 if m is None or box is None else np.count_nonzero(m[box]) for m, box in zip(masks, boxes, strict=True)]
    pairs = []
    for i in range(len(masks)):
        for j in range(i + 1, len(masks)):
            a, b, box_a, box_b = masks[i], masks[j], boxes[i], boxes[j]
            if a is None or b is None or box_a is None or box_b is None:
                continue
            common = tuple(slice(max(p.start, q.start), min(p.stop, q.stop)) for p, q in zip(box_a, box_b, strict=True))
            inter = 0 if any(c.start >= c.stop for c in common) else np.count_nonzero(a[common] & b[common])
            smaller = min(counts[i], counts[j])
            if smaller and inter >= min_overlap * smaller:
                pairs.append((i, j))
    return pairs


def fragments(mask: np.ndarray, min_fraction: float = 0.1) -> int:
    """Number of 3D-connected parts holding at least ``min_fraction`` of the mask's voxels each."""
    if not mask.any():
        return 0
    mask = mask[bounding_box(mask)]  # the parts are those of the box that holds every voxel
    labels, n = ndimage.label(mask, structure=np.ones((3, 3, 3), bool))
    if n <= 1:
        return n
    sizes = ndimage.sum_labels(mask, labels, index=np.arange(1, n + 1))
    return int(np.count_nonzero(sizes >= min_fraction * sizes.sum()))
