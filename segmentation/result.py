"""The result every lesion segmenter returns, the interface a segmenter implements, and what the pipeline may
tell a segmenter about a target besides its seed.

Masks are cropped to a box: ``mask_zyx`` covers the voxels
``[offset_zyx[k] : offset_zyx[k] + mask_zyx.shape[k]]`` of the full image.
Mask values are lesion fractions per voxel: bool for a binary segmentation,
float32 in [0, 1] for a partial-volume one (see :mod:`measurement.masks`).
Any segmenter (classical, or a local deep-learning model) that implements
:class:`LesionSegmenter` can replace the default one without touching the
rest of the pipeline. A segmenter whose ``uses_hints`` attribute is true also
receives :class:`SegmentationHints` (the reader's line, the organ, the
baseline lesion at a follow-up) as a fourth argument.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from measurement.masks import inside


@dataclass(frozen=True, eq=False)
class LesionSegmentation:
    """A lesion found (``found``) around a seed, or the reason it was not."""

    found: bool
    reason: str
    seed_zyx: tuple[float, float, float]
    mask_zyx: np.ndarray | None = None
    offset_zyx: tuple[int, int, int] = (0, 0, 0)
    lesion_hu: float | None = None
    background_hu: float | None = None
    threshold_hu: float | None = None
    confidence: float = 0.0
    #: predicted standard deviation of the volume from noise, in % of the volume (None: not estimated)
    volume_sd_pct: float | None = None
    #: not found because nothing but liver-like tissue lies at (and near) the seed: at a follow-up, the lesion
    #: is gone, rather than not measurable
    absent: bool = False

    @property
    def box(self) -> tuple[slice, slice, slice]:
        """Where ``mask_zyx`` lies in the full image (an empty box when nothing was found)."""
        shape = (0, 0, 0) if self.mask_zyx is None else self.mask_zyx.shape
        return tuple(slice(int(o), int(o) + n) for o, n in zip(self.offset_zyx, shape, strict=True))  # type: ignore[return-value]

    def _pasted(self, shape_zyx: tuple[int, int, int], values: np.ndarray | None, dtype: type) -> np.ndarray:
        full: np.ndarray = np.zeros(shape_zyx, dtype=dtype)
        if values is not None:
            full[self.box] = values
        return full

    def full_fractions(self, shape_zyx: tuple[int, int, int]) -> np.ndarray:
        """Lesion fractions (float32) pasted into a zero array of the full image shape."""
        return self._pasted(shape_zyx, self.mask_zyx, np.float32)

    def border_reached(self, shape_zyx: tuple[int, int, int]) -> str:
        """Where the lesion (voxels of fraction >= 0.5) reaches the border of an image of ``shape_zyx``: "" when
        it lies wholly inside, else "its first or last slice" or "the edge of its axial field of view" (the lesion
        may go on beyond the image, so its size is not known)."""
        if self.mask_zyx is None:
            return ""
        voxels = np.argwhere(inside(self.mask_zyx)) + np.asarray(self.offset_zyx)
        if voxels.size == 0:
            return ""
        at_border = (voxels.min(axis=0) <= 0) | (voxels.max(axis=0) >= np.asarray(shape_zyx) - 1)
        if at_border[0]:
            return "its first or last slice"
        return "the edge of its axial field of view" if at_border[1:].any() else ""

    def full_mask(self, shape_zyx: tuple[int, int, int]) -> np.ndarray:
        """Boolean lesion voxels (fraction >= 0.5) pasted into an array of the full image shape."""
        return self._pasted(shape_zyx, None if self.mask_zyx is None else inside(self.mask_zyx), bool)


def not_found(reason: str, seed_zyx: tuple[float, float, float], absent: bool = False) -> LesionSegmentation:
    return LesionSegmentation(found=False, reason=reason, seed_zyx=seed_zyx, absent=absent)


Vec3 = tuple[float, float, float]


@dataclass(frozen=True, eq=False)
class OrganModel:
    """The organ that holds the lesion (the liver): its mask on the image grid and its parenchyma level (HU)."""

    mask_zyx: np.ndarray
    level_hu: float


@dataclass(frozen=True, eq=False)
class LesionPrior:
    """What is known of a lesion from an earlier timepoint, on this image's grid.

    ``mask_zyx``: the earlier lesion mask mapped by the registration (bool, the full image shape);
    ``lesion_hu`` / ``background_hu``: its attenuation and its surroundings' then (HU).
    """

    mask_zyx: np.ndarray
    lesion_hu: float
    background_hu: float


@dataclass(frozen=True, eq=False)
class SegmentationHints:
    """What the pipeline knows about a target besides its seed (every field optional).

    ``long_axis_zyx``: the reader's longest-diameter line (two continuous voxel indices), a strong prior on
    the lesion's position and extent; ``organ``: the organ that holds it; ``search_mm``: how far from the
    seed the lesion may be (a seed mapped from another timepoint); ``prior``: the lesion at an earlier
    timepoint.
    """

    long_axis_zyx: tuple[Vec3, Vec3] | None = None
    organ: OrganModel | None = None
    search_mm: float = 0.0
    prior: LesionPrior | None = None


class LesionSegmenter(Protocol):
    """Segment the lesion that contains (or lies nearest to) a seed voxel."""

    name: str

    def segment(
        self, image_zyx: np.ndarray, spacing_zyx: tuple[float, float, float], seed_zyx: tuple[float, float, float]
    ) -> LesionSegmentation: ...
