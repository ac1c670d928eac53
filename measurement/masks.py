"""Masks as measurement inputs.

A mask is an array over the image grid whose values are the *fraction of
each voxel inside the lesion*: 0/1 for a binary mask (bool or integer), or
partial-volume fractions in [0, 1] from a segmenter that estimates them. The
lesion outline is the iso-surface at 0.5; a voxel belongs to the lesion for
voxel-wise statistics when its fraction is >= 0.5.
"""

from __future__ import annotations

import numpy as np


def fractions(mask_zyx: np.ndarray) -> np.ndarray:
    """The mask as float32 fractions in [0, 1] (binary masks become 0.0/1.0)."""
    mask = np.asarray(mask_zyx)
    if mask.dtype == bool or np.issubdtype(mask.dtype, np.integer):
        return (mask > 0).astype(np.float32)
    return np.clip(mask.astype(np.float32, copy=False), 0.0, 1.0)


def inside(mask_zyx: np.ndarray) -> np.ndarray:
    """Boolean lesion voxels: fraction >= 0.5."""
    mask = np.asarray(mask_zyx)
    if mask.dtype == bool:
        return mask
    if np.issubdtype(mask.dtype, np.integer):
        return mask > 0
    return mask >= 0.5


def require_lesion(mask_zyx: np.ndarray) -> None:
    if not inside(mask_zyx).any():
        raise ValueError("empty mask: no voxel with lesion fraction >= 0.5")
