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
    """Index box of the voxels with a non-zero fraction, grown by ``margin`` voxels (clipped to the array).

    One pass over the whole array (per-slice maxima), then only the slices
    that hold the lesion are looked at.
    """
    mask = np.asarray(mask_zyx)
    per_slice = mask.reshape(mask.shape[0], -1)
    zs = np.flatnonzero(per_slice.any(axis=1) if mask.dtype == bool else per_slice.max(axis=1) > 0)
    if not zs.size:
        raise ValueError("empty mask: no voxel with a non-zero lesion fraction")
    sub = mask[zs[0] : zs[-1] + 1] > 0
    ys, xs = np.flatnonzero(sub.any(axis=(0, 2))), np.flatnonzero(sub.any(axis=(0, 1)))
    box = []
    for (lo, hi), n in zip(((zs[0], zs[-1]), (ys[0], ys[-1]), (xs[0], xs[-1])), mask.shape, strict=True):
        box.append(slice(max(int(lo) - margin, 0), min(int(hi) + margin + 1, n)))
    return tuple(box)  # type: ignore[return-value]
