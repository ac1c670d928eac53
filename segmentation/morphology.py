"""Binary morphology with physical (mm) radii, on anisotropic grids.

Dilation and erosion by a ball are exact Euclidean operations computed with a
distance transform, so a radius means the same in every direction whatever the
voxel spacing. Axis order is (z, y, x); spacings are in mm. The transforms run on
the bounding box of the mask (grown by what the operation can reach), and so do
hole filling and connected components, which gives the same result as on the
whole array at a fraction of the cost.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage


def distance_mm(mask: np.ndarray, spacing_zyx: Sequence[float] | np.ndarray) -> np.ndarray:
    """Distance (mm) from every voxel of ``mask`` to the nearest voxel outside it (0 outside).

    Computed on the mask's bounding box grown by one voxel: the nearest outside voxel of a mask voxel always
    lies in it (the array border, where the box reaches it, counts as inside, as on the whole array).
    """
    if not mask.any():
        return np.zeros(mask.shape)
    box = bounding_box(mask, margin=1)
    distance = np.zeros(mask.shape)
    distance[box] = ndimage.distance_transform_edt(mask[box], sampling=spacing_zyx)
    return distance


def dilate_mm(mask: np.ndarray, radius_mm: float, spacing_zyx: Sequence[float] | np.ndarray) -> np.ndarray:
    """Voxels within ``radius_mm`` of ``mask`` (none when ``mask`` is empty).

    Computed on the mask's bounding box grown by the radius (and one voxel): no voxel beyond it is that near;
    by binary dilation with the ball of :func:`_small_ball` where there is one.
    """
    near = np.zeros(mask.shape, dtype=bool)
    ball = _small_ball(radius_mm, spacing_zyx)
    if mask.any() and ball is not None:  # every voxel that near is a neighbour: the box grown by one voxel
        box = bounding_box(mask, margin=1)
        near[box] = ndimage.binary_dilation(mask[box], structure=ball)
    elif mask.any():
        box = _reach_box(mask, radius_mm, spacing_zyx)
        near[box] = ndimage.distance_transform_edt(~mask[box], sampling=spacing_zyx) <= radius_mm
    return near


def distance_to_mm(mask: np.ndarray, spacing_zyx: Sequence[float] | np.ndarray, within_mm: float) -> np.ndarray:
    """Distance (mm) from every voxel to the nearest voxel of ``mask`` where it is at most ``within_mm``
    (0 in the mask), ``inf`` where it is farther (everywhere when ``mask`` is empty).

    Computed on the mask's bounding box grown by ``within_mm`` (and one voxel), which holds every voxel of the
    mask: the distances are those of the transform of the whole array.
    """
    distance = np.full(mask.shape, np.inf)
    if mask.any():
        box = _reach_box(mask, within_mm, spacing_zyx)
        near = ndimage.distance_transform_edt(~mask[box], sampling=spacing_zyx)
        distance[box] = np.where(near <= within_mm, near, np.inf)
    return distance


def _reach_box(mask: np.ndarray, radius_mm: float, spacing_zyx: Sequence[float] | np.ndarray) -> tuple[slice, ...]:
    """The bounding box of ``mask`` grown by ``radius_mm`` and one voxel: no voxel beyond it is that near."""
    return bounding_box(mask, margin=[int(np.ceil(radius_mm / s)) + 1 for s in spacing_zyx])


def erode_mm(mask: np.ndarray, radius_mm: float, spacing_zyx: Sequence[float] | np.ndarray) -> np.ndarray:
    """Voxels of ``mask`` farther than ``radius_mm`` from its outside (the image border counts as inside).

    By binary erosion with the ball of :func:`_small_ball` where there is one (on the mask's bounding box grown by
    one voxel), unless the mask has no outside voxel (then from :func:`distance_mm`).
    """
    ball = _small_ball(radius_mm, spacing_zyx)
    if ball is None or not mask.any() or mask.all():
        return distance_mm(mask, spacing_zyx) > radius_mm
    kept = np.zeros(mask.shape, dtype=bool)
    box = bounding_box(mask, margin=1)
    kept[box] = ndimage.binary_erosion(mask[box], structure=ball, border_value=1)
    return kept


#: distances of voxel offsets this close to a radius leave the ball to the distance transform (rounding)
_TIE_MM = 1e-6


def _small_ball(radius_mm: float, spacing_zyx: Sequence[float] | np.ndarray) -> np.ndarray | None:
    """The voxel offsets within ``radius_mm`` as a 3 x 3 x 3 structuring element, when no offset beyond it is that
    near and none lies within ``_TIE_MM`` of the radius (then a binary erosion or dilation by it gives the voxels
    of the distance transform, at less cost); else ``None``."""
    spacing = np.asarray(spacing_zyx, dtype=float)
    if 2.0 * float(spacing.min()) <= radius_mm + _TIE_MM:
        return None
    offsets = (np.indices((3, 3, 3)) - 1) * spacing[:, None, None, None]
    distance = np.sqrt(np.add.reduce(offsets**2, axis=0))
    if np.any(np.abs(distance - radius_mm) <= _TIE_MM):
        return None
    return distance <= radius_mm


def open_mm(mask: np.ndarray, radius_mm: float, spacing_zyx: Sequence[float] | np.ndarray) -> np.ndarray:
    """Opening by a ball: removes parts thinner than ``2 * radius_mm`` (result within ``mask``)."""
    return dilate_mm(erode_mm(mask, radius_mm, spacing_zyx), radius_mm, spacing_zyx) & mask


def close_mm(mask: np.ndarray, radius_mm: float, spacing_zyx: Sequence[float] | np.ndarray) -> np.ndarray:
    """Closing by a ball, on a padded copy so that the image border does not stop it."""
    pad = [int(np.ceil(radius_mm / s)) + 1 for s in spacing_zyx]
    padded = np.pad(mask, [(p, p) for p in pad])
    closed = erode_mm(dilate_mm(padded, radius_mm, spacing_zyx), radius_mm, spacing_zyx)
    return closed[tuple(slice(p, p + n) for p, n in zip(pad, mask.shape, strict=True))]


_IN_PLANE = np.zeros((3, 3, 3), dtype=bool)
_IN_PLANE[1] = ndimage.generate_binary_structure(2, 1)


def _outside_reached(mask: np.ndarray, structure: np.ndarray | None, faces: tuple[int, ...]) -> np.ndarray:
    """The voxels outside ``mask`` connected (by ``structure``) to the array faces along ``faces``."""
    labels, n = ndimage.label(~mask, structure)
    border = np.zeros(n + 1, dtype=bool)
    for axis in faces:
        border[np.take(labels, 0, axis=axis)] = True
        border[np.take(labels, -1, axis=axis)] = True
    border[0] = False
    return border[labels]


def _holes_filled(mask: np.ndarray, axial: bool) -> np.ndarray:
    """``mask`` with its holes filled in 3D, then (``axial``) in every axial slice.

    Computed on the mask's bounding box: every voxel outside the box is outside the mask and reaches the array
    border along a straight line, so a voxel of the box reaches the array border exactly when it reaches the
    box's faces (a voxel outside the mask on a face of the box is on the array border or next to a voxel
    outside the box).
    """
    filled = np.zeros(mask.shape, dtype=bool)
    if not mask.any():
        return filled
    box = bounding_box(mask)
    inner = ~_outside_reached(mask[box], None, (0, 1, 2))
    filled[box] = ~_outside_reached(inner, _IN_PLANE, (1, 2)) if axial else inner
    return filled


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """``mask`` with every region it encloses in 3D (not connected to the array border, 6-connectivity) filled."""
    return _holes_filled(mask, axial=False)


def fill_holes_axial(mask: np.ndarray) -> np.ndarray:
    """Holes filled in 3D and then in every axial slice (z is axis 0; 4-connectivity in the slice)."""
    return _holes_filled(mask, axial=True)


def components_touching(mask: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """The connected components (6-connectivity) of ``mask`` that contain a voxel of ``seeds``.

    Labelled on the mask's bounding box, which holds every component whole.
    """
    kept = np.zeros(mask.shape, dtype=bool)
    if not mask.any():
        return kept
    box = bounding_box(mask)
    labels, n = ndimage.label(mask[box])
    keep = np.zeros(n + 1, dtype=bool)
    keep[labels[seeds[box] & mask[box]]] = True
    keep[0] = False
    kept[box] = keep[labels]
    return kept


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest connected component of ``mask`` (empty when ``mask`` is; the first in raster order of equal
    ones).

    Labelled on the mask's bounding box: the components and their raster order are those of the whole array.
    """
    largest = np.zeros(mask.shape, dtype=bool)
    if not mask.any():
        return largest
    box = bounding_box(mask)
    labels, _ = ndimage.label(mask[box])
    largest[box] = labels == int(np.argmax(np.bincount(labels.ravel())[1:])) + 1
    return largest


def bounding_box(mask: np.ndarray, margin: int | Sequence[int] = 0) -> tuple[slice, ...]:
    """Index slices of the bounding box of ``mask`` grown by ``margin`` voxels (one number, or one per axis),
    clipped to the array.

    From the mask's projections (no list of its voxels): the first axis's from one pass over the array, the
    others' from the slab of the array between its first and last occupied index along that axis.
    ``ValueError`` when the mask is empty.
    """
    mask = np.asarray(mask, dtype=bool)
    margins = [margin] * mask.ndim if isinstance(margin, int) else list(margin)
    first = np.flatnonzero(np.any(mask, axis=tuple(range(1, mask.ndim))))
    if first.size == 0:
        raise ValueError("the bounding box of an empty mask")
    spans = [(int(first[0]), int(first[-1]) + 1)]
    if mask.ndim > 1:
        plane = np.any(mask[spans[0][0] : spans[0][1]], axis=0)  # the projection along the first axis, of the slab
        for axis in range(plane.ndim):
            along = np.flatnonzero(np.any(plane, axis=tuple(a for a in range(plane.ndim) if a != axis)))
            spans.append((int(along[0]), int(along[-1]) + 1))
    return tuple(
        slice(max(lo - m, 0), min(hi + m, n)) for (lo, hi), m, n in zip(spans, margins, mask.shape, strict=True)
    )
