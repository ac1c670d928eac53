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


def crop_box(mask_zyx: np.ndarray, margin: int = 1) -> tuple[slice, slice, slice]:
    """Index box of the voxels with a non-zero fraction, grown by ``margin`` voxels (clipped to the array)."""
    nonzero = np.asarray(mask_zyx) > 0
    if not nonzero.any():
        raise ValueError("empty mask: no voxel with a non-zero lesion fraction")
    box = []
    for axis, n in enumerate(nonzero.shape):
        other = tuple(a for a in range(3) if a != axis)
        idx = np.flatnonzero(nonzero.any(axis=other))
        box.append(slice(max(int(idx[0]) - margin, 0), min(int(idx[-1]) + margin + 1, n)))
    return tuple(box)  # type: ignore[return-value]
