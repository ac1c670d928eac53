"""The result every lesion segmenter returns, and the interface a segmenter implements.

Masks are cropped to a box: ``mask_zyx`` covers the voxels
``[offset_zyx[k] : offset_zyx[k] + mask_zyx.shape[k]]`` of the full image.
Mask values are lesion fractions per voxel: bool for a binary segmentation,
float32 in [0, 1] for a partial-volume one (see :mod:`measurement.masks`).
Any segmenter (classical, or a local deep-learning model) that implements
:class:`LesionSegmenter` can replace the default one without touching the
rest of the pipeline.
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

    def _pasted(self, shape_zyx: tuple[int, int, int], values: np.ndarray | None, dtype: type) -> np.ndarray:
        full: np.ndarray = np.zeros(shape_zyx, dtype=dtype)
        if values is not None:
            z, y, x = self.offset_zyx
            dz, dy, dx = values.shape
            full[z : z + dz, y : y + dy, x : x + dx] = values
        return full

    def full_fractions(self, shape_zyx: tuple[int, int, int]) -> np.ndarray:
        """Lesion fractions (float32) pasted into a zero array of the full image shape."""
        return self._pasted(shape_zyx, self.mask_zyx, np.float32)

    def full_mask(self, shape_zyx: tuple[int, int, int]) -> np.ndarray:
        """Boolean lesion voxels (fraction >= 0.5) pasted into an array of the full image shape."""
        return self._pasted(shape_zyx, None if self.mask_zyx is None else inside(self.mask_zyx), bool)


def not_found(reason: str, seed_zyx: tuple[float, float, float]) -> LesionSegmentation:
    return LesionSegmentation(found=False, reason=reason, seed_zyx=seed_zyx)


class LesionSegmenter(Protocol):
    """Segment the lesion that contains (or lies nearest to) a seed voxel."""

    name: str

    def segment(
        self, image_zyx: np.ndarray, spacing_zyx: tuple[float, float, float], seed_zyx: tuple[float, float, float]
    ) -> LesionSegmentation: ...
