"""Tracking decisions between timepoints: what to look for where, and what was found.

* Propagation: a target found at the reference timepoint is looked for at the
  follow-up around its *segmented centroid* mapped through the registration
  (the user's click may sit off-centre; the centroid is the better landmark).
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

import numpy as np
from scipy import ndimage

from pipeline.records import Point, Residuals


def residuals(mapped: dict[str, Point], found: dict[str, Point], max_residual_mm: float = 10.0) -> Residuals:
    """Distances between mapped and segmented centroids of the lesions found at both timepoints."""
    per = {k: float(np.linalg.norm(np.subtract(found[k], mapped[k]))) for k in sorted(mapped) if k in found}
    if not per:
        return Residuals({}, None, None, True)
    values = np.array(list(per.values()))
    median = float(np.median(values))
    return Residuals(per, median, float(values.max()), median <= max_residual_mm)


def merged_pairs(masks: Sequence[np.ndarray | None], min_overlap: float = 0.5) -> list[tuple[int, int]]:
    """Pairs (i, j), i < j, of boolean masks whose intersection is >= ``min_overlap`` of the smaller."""
    pairs = []
    for i in range(len(masks)):
        for j in range(i + 1, len(masks)):
            a, b = masks[i], masks[j]
            if a is None or b is None:
                continue
            inter = np.count_nonzero(a & b)
            smaller = min(np.count_nonzero(a), np.count_nonzero(b))
            if smaller and inter >= min_overlap * smaller:
                pairs.append((i, j))
    return pairs


def fragments(mask: np.ndarray, min_fraction: float = 0.1) -> int:
    """Number of 3D-connected parts holding at least ``min_fraction`` of the mask's voxels each."""
    labels, n = ndimage.label(mask, structure=np.ones((3, 3, 3), bool))
    if n <= 1:
        return n
    sizes = ndimage.sum_labels(mask, labels, index=np.arange(1, n + 1))
    return int(np.count_nonzero(sizes >= min_fraction * sizes.sum()))
