"""Anatomical landmarks of a CT on the working grid: body, lungs, vertebral column, midline.

Orientation: arrays are in the canonical DICOM LPS order, axis 2 (x) toward
the patient's left, axis 1 (y) toward posterior, axis 0 (z) toward the head
(``SimpleITK.DICOMOrient(image, "LPS")`` gives it). The patient's right is
therefore at low x and anterior at low y.

* Body: the largest connected region above ``body_hu``, holes filled in every
  axial slice (so air in the lungs and bowel is inside the body).
* Lungs: air inside the body (below ``air_hu``) in connected regions of at
  least ``min_lung_ml`` whose median attenuation is above ``lung_median_hu``
  (aerated lung, -950 to -600 HU, against the near -1000 HU of bowel gas),
  lying in the posterior part of the body (the bases of supine lungs are
  posterior, gas in the stomach and colon rises anteriorly), and reaching
  within ``lung_top_tolerance_mm`` of the highest such region.
* Vertebral column: bone (above ``bone_hu``) in the posterior central part of
  the body (the posterior 65 % of its depth, the central 40 % of its width),
  the 3D connected region present in the most slices (the largest of those
  present in as many); accepted when present
  in at least ``min_spine_fraction`` of the slices, behind the middle of the
  body (centre at least ``spine_min_posterior`` of its depth back) and in a
  body at least ``min_trunk_width_mm`` wide (a femur is central in a narrow
  thigh).
* Midline: per slice, the centre of the vertebral column (interpolated
  between slices), or of the body's width when no column is found.

A scan shows a trunk (chest or abdomen) when it has lungs or a vertebral
column; a limb, or a field of view cropped to a limb lesion, has neither.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from segmentation.morphology import largest_component


@dataclass(frozen=True)
class AnatomyConfig:
    body_hu: float = -300.0
    air_hu: float = -400.0
    min_lung_ml: float = 10.0
    lung_median_hu: float = -960.0
    lung_min_posterior: float = 0.4  # centroid at least this far back, as a fraction of the body depth
    lung_top_tolerance_mm: float = 30.0
    bone_hu: float = 200.0
    min_spine_fraction: float = 0.5
    spine_min_posterior: float = 0.55
    min_trunk_width_mm: float = 180.0


@dataclass(frozen=True, eq=False)
class Anatomy:
    body_zyx: np.ndarray  # bool
    lungs_zyx: np.ndarray  # bool
    spine_zyx: np.ndarray | None  # bool, the vertebral column when found
    midline_x: np.ndarray  # per slice: x index of the midline (float)
    spine_front_y: np.ndarray  # per slice: y index of the front of the vertebral bodies (nan without a column)

    @property
    def has_trunk(self) -> bool:
        return bool(self.lungs_zyx.any()) or self.spine_zyx is not None

    def right_of_midline(self) -> np.ndarray:
        """Boolean array: voxels on the patient's right of the midline (x below the midline index)."""
        x = np.arange(self.body_zyx.shape[2])[None, None, :]
        return np.broadcast_to(x < self.midline_x[:, None, None], self.body_zyx.shape)


def body_mask(image_zyx: np.ndarray, threshold_hu: float) -> np.ndarray:
    """The largest region above ``threshold_hu``, holes filled per axial slice."""
    body = largest_component(image_zyx > threshold_hu)
    for z in np.flatnonzero(body.any(axis=(1, 2))):
        body[z] = ndimage.binary_fill_holes(body[z])
    return body


def _extent(mask: np.ndarray, axis: tuple[int, int]) -> tuple[int, int]:
    idx = np.flatnonzero(mask.any(axis=axis))
    return int(idx[0]), int(idx[-1])


def lung_mask(
    image_zyx: np.ndarray, spacing_zyx: tuple[float, float, float], body: np.ndarray, config: AnatomyConfig
) -> np.ndarray:
    """Aerated lung inside the body (see module docstring)."""
    labels, n = ndimage.label(body & (image_zyx < config.air_hu))
    lungs = np.zeros(body.shape, dtype=bool)
    if n == 0:
        return lungs
    voxel_ml = float(np.prod(spacing_zyx)) / 1000.0
    y0, y1 = _extent(body, (0, 2))
    sizes = np.bincount(labels.ravel())
    candidates: list[tuple[int, int]] = []  # (label, top z)
    for k, obj in enumerate(ndimage.find_objects(labels), start=1):
        if obj is None or sizes[k] * voxel_ml < config.min_lung_ml:
            continue
        component = labels[obj] == k
        if float(np.median(image_zyx[obj][component])) < config.lung_median_hu:
            continue
        zyx = np.argwhere(component) + [s.start for s in obj]
        if (zyx[:, 1].mean() - y0) / max(y1 - y0, 1) < config.lung_min_posterior:
            continue
        candidates.append((k, int(zyx[:, 0].max())))
    if candidates:
        top = max(z for _, z in candidates)
        tolerance = config.lung_top_tolerance_mm / spacing_zyx[0]
        lungs = np.isin(labels, [k for k, z in candidates if z >= top - tolerance])
    return lungs


def spine_mask(
    image_zyx: np.ndarray, spacing_zyx: tuple[float, float, float], body: np.ndarray, config: AnatomyConfig
) -> np.ndarray | None:
    """The vertebral column (see module docstring), or ``None``."""
    column = np.zeros(body.shape, dtype=bool)
    front = np.full(body.shape[0], np.nan)
    depths = np.full(body.shape[0], np.nan)
    widths = np.zeros(body.shape[0])
    for z in np.flatnonzero(body.any(axis=(1, 2))):
        ys = np.flatnonzero(body[z].any(axis=1))
        xs = np.flatnonzero(body[z].any(axis=0))
        depth, width, centre = ys[-1] - ys[0], xs[-1] - xs[0], (xs[-1] + xs[0]) / 2.0
        front[z], depths[z], widths[z] = ys[0], max(depth, 1), width * spacing_zyx[2]
        column[z, int(ys[0] + 0.35 * depth) : ys[-1] + 1, int(centre - 0.2 * width) : int(centre + 0.2 * width) + 1] = (
            True
        )
    labels, n = ndimage.label(column & (image_zyx > config.bone_hu))
    if n == 0:
        return None
    slice_of_voxel = np.nonzero(labels)[0]
    pairs = np.unique(slice_of_voxel * (n + 1) + labels[labels > 0])  # one entry per (slice, label) present
    slices_per_label = np.bincount(pairs % (n + 1), minlength=n + 1)
    voxels_per_label = np.bincount(labels.ravel(), minlength=n + 1)
    # the most slices; of regions in as many (a short scan), the largest, not the first in index order
    best = max(range(1, n + 1), key=lambda k: (slices_per_label[k], voxels_per_label[k]))
    if slices_per_label[best] < config.min_spine_fraction * body.shape[0]:
        return None
    spine = labels == best
    zs, ys, _ = np.nonzero(spine)
    if float(np.mean((ys - front[zs]) / depths[zs])) < config.spine_min_posterior:
        return None
    if float(np.median(widths[np.unique(zs)])) < config.min_trunk_width_mm:
        return None
    return spine


def _interpolate(values: np.ndarray) -> np.ndarray:
    known = ~np.isnan(values)
    if not known.any():
        return values
    z = np.arange(values.size)
    return np.interp(z, z[known], values[known])


def locate_anatomy(
    image_zyx: np.ndarray, spacing_zyx: tuple[float, float, float], config: AnatomyConfig | None = None
) -> Anatomy:
    """Body, lungs, vertebral column and midline of a CT in LPS orientation (see module docstring)."""
    config = config or AnatomyConfig()
    body = body_mask(image_zyx, config.body_hu)
    nz = image_zyx.shape[0]
    if not body.any():
        empty = np.zeros(body.shape, dtype=bool)
        return Anatomy(body, empty, None, np.full(nz, image_zyx.shape[2] / 2.0), np.full(nz, np.nan))
    lungs = lung_mask(image_zyx, spacing_zyx, body, config)
    spine = spine_mask(image_zyx, spacing_zyx, body, config)
    x0, x1 = _extent(body, (0, 1))
    midline = np.full(nz, (x0 + x1) / 2.0)
    front = np.full(nz, np.nan)
    if spine is not None:
        centre = np.full(nz, np.nan)
        for z in np.flatnonzero(spine.any(axis=(1, 2))):
            yx = np.argwhere(spine[z])
            centre[z] = yx[:, 1].mean()
            front[z] = yx[:, 0].min()
        midline, front = _interpolate(centre), _interpolate(front)
    return Anatomy(body, lungs, spine, midline, front)
