"""Conversions between SimpleITK images, ``(array_zyx, spacing_zyx)`` and LPS points.

SimpleITK images carry the geometry at the I/O and registration boundary;
segmentation and measurement work on numpy arrays indexed ``[z, y, x]`` with
``spacing_zyx`` in mm. These helpers convert between the two without copying
more than needed.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk


def array_zyx(image: sitk.Image) -> np.ndarray:
    """The image's voxels as a numpy array indexed ``[z, y, x]`` (a copy)."""
    return sitk.GetArrayFromImage(image)


LPS_DIRECTION = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)  # direction cosines of an image in LPS order


def in_lps_order(image: sitk.Image) -> sitk.Image:
    """The image with its axes in the canonical LPS order (``SimpleITK.DICOMOrient``); itself when they are."""
    return image if image.GetDirection() == LPS_DIRECTION else sitk.DICOMOrient(image, "LPS")


def spacing_zyx(image: sitk.Image) -> tuple[float, float, float]:
    """Voxel spacing in mm, ordered (z, y, x)."""
    sx, sy, sz = image.GetSpacing()
    return (float(sz), float(sy), float(sx))


def image_like(array: np.ndarray, reference: sitk.Image) -> sitk.Image:
    """A SimpleITK image of ``array`` (``[z, y, x]``) with ``reference``'s geometry."""
    image = sitk.GetImageFromArray(array)
    image.CopyInformation(reference)
    return image


def _affine(image: sitk.Image) -> tuple[np.ndarray, np.ndarray]:
    """Matrix ``A`` and origin ``o`` with ``lps = A @ index_xyz + o``."""
    direction = np.asarray(image.GetDirection(), dtype=float).reshape(3, 3)
    return direction * np.asarray(image.GetSpacing(), dtype=float), np.asarray(image.GetOrigin(), dtype=float)


def index_zyx_to_lps(image: sitk.Image, index_zyx: np.ndarray) -> np.ndarray:
    """LPS mm of continuous voxel indices ``(..., 3)`` given as (z, y, x)."""
    a, o = _affine(image)
    idx_xyz = np.asarray(index_zyx, dtype=float)[..., ::-1]
    return idx_xyz @ a.T + o


def lps_to_index_zyx(image: sitk.Image, points_lps: np.ndarray) -> np.ndarray:
    """Continuous voxel indices (z, y, x) of LPS points ``(..., 3)``."""
    a, o = _affine(image)
    idx_xyz = (np.asarray(points_lps, dtype=float) - o) @ np.linalg.inv(a).T
    return idx_xyz[..., ::-1]


def inside(image: sitk.Image, index_zyx: np.ndarray, margin: float = 0.0) -> bool:
    """True when a continuous (z, y, x) index lies within the image (voxel centres +- 0.5)."""
    size_zyx = np.asarray(image.GetSize()[::-1], dtype=float)
    idx = np.asarray(index_zyx, dtype=float)
    return bool(np.all(idx >= -0.5 + margin) and np.all(idx <= size_zyx - 0.5 - margin))
