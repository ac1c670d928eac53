"""Binary morphology with physical (mm) radii, on anisotropic grids.

Dilation and erosion by a ball are exact Euclidean operations computed with a
distance transform, so a radius means the same in every direction whatever the
voxel spacing. Axis order is (z, y, x); spacings are in mm.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage


def distance_mm(mask: np.ndarray, spacing_zyx: Sequence[float]) -> np.ndarray:
    """Distance (mm) from every voxel of ``mask`` to the nearest voxel outside it (0 outside)."""
    return ndimage.distance_transform_edt(mask, sampling=spacing_zyx)


def dilate_mm(mask: np.ndarray, radius_mm: float, spacing_zyx: Sequence[float]) -> np.ndarray:
    """Voxels within ``radius_mm`` of ``mask``."""
    return distance_mm(~mask, spacing_zyx) <= radius_mm


def erode_mm(mask: np.ndarray, radius_mm: float, spacing_zyx: Sequence[float]) -> np.ndarray:
    """Voxels of ``mask`` farther than ``radius_mm`` from its outside (the image border counts as inside)."""
    return distance_mm(mask, spacing_zyx) > radius_mm


def open_mm(mask: np.ndarray, radius_mm: float, spacing_zyx: Sequence[float]) -> np.ndarray:
    """Opening by a ball: removes parts thinner than ``2 * radius_mm`` (result within ``mask``)."""
    return dilate_mm(erode_mm(mask, radius_mm, spacing_zyx), radius_mm, spacing_zyx) & mask


def close_mm(mask: np.ndarray, radius_mm: float, spacing_zyx: Sequence[float]) -> np.ndarray:
    """Closing by a ball, on a padded copy so that the image border does not stop it."""
    pad = [int(np.ceil(radius_mm / s)) + 1 for s in spacing_zyx]
    padded = np.pad(mask, [(p, p) for p in pad])
    closed = erode_mm(dilate_mm(padded, radius_mm, spacing_zyx), radius_mm, spacing_zyx)
    return closed[tuple(slice(p, p + n) for p, n in zip(pad, mask.shape, strict=True))]


def fill_holes_axial(mask: np.ndarray) -> np.ndarray:
    """Holes filled in 3D and then in every axial slice (z is axis 0)."""
    out = ndimage.binary_fill_holes(mask)
    for z in np.flatnonzero(out.any(axis=(1, 2))):
        out[z] = ndimage.binary_fill_holes(out[z])
    return out


def components_touching(mask: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """The connected components (6-connectivity) of ``mask`` that contain a voxel of ``seeds``."""
    labels, _ = ndimage.label(mask)
    keep = np.unique(labels[seeds & mask])
    return np.isin(labels, keep[keep > 0])


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest connected component of ``mask`` (empty when ``mask`` is)."""
    labels, n = ndimage.label(mask)
    if n == 0:
        return mask.copy()
    return labels == int(np.argmax(np.bincount(labels.ravel())[1:])) + 1


def bounding_box(mask: np.ndarray, margin: int = 0) -> tuple[slice, ...]:
    """Index slices of the bounding box of ``mask`` grown by ``margin`` voxels, clipped to the array."""
    idx = np.argwhere(mask)
    lo = np.maximum(idx.min(axis=0) - margin, 0)
    hi = np.minimum(idx.max(axis=0) + 1 + margin, mask.shape)
    return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
