"""Quality-control images (PNG) of the registration of a follow-up to the baseline.

Per follow-up: the baseline, the follow-up resampled into baseline space with
the final transform, and their checkerboard, on an axial and a coronal slice
through the centre of the liver region, with the baseline liver outline.
Misregistration shows as broken edges across the checkerboard squares.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk
from matplotlib.figure import Figure

from pipeline.outputs.drawing import Submit, draw_here
from segmentation.morphology import bounding_box

WINDOW_HU = (-160.0, 240.0)
CHECKER_MM = 20.0
QC_SPACING_MM = 1.5
#: margins (figure fractions) of the QC figures with a row of titled panels under a title (matplotlib's
#: ``subplots_adjust``): fixed, where ``tight_layout`` would lay the text out once more to find them
LAYOUT = {"left": 0.01, "right": 0.99, "bottom": 0.01, "top": 0.92, "wspace": 0.04, "hspace": 0.1}


def roi_extent(roi_zyx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The first and last index (z, y, x) of the ROI voxels and their mean index; the whole array when empty.

    Computed from the ROI's bounding box and its per-axis voxel counts, without listing the voxels.
    """
    if not roi_zyx.any():
        hi = np.asarray(roi_zyx.shape) - 1
        return np.zeros(3, dtype=int), hi, hi / 2.0
    box = bounding_box(roi_zyx)
    inner = roi_zyx[box]
    lo = np.array([s.start for s in box])
    hi = np.array([s.stop - 1 for s in box])
    n = np.count_nonzero(inner)
    mean = [
        int(np.dot(np.arange(lo[a], hi[a] + 1), np.count_nonzero(inner, axis=tuple(b for b in range(3) if b != a)))) / n
        for a in range(3)
    ]
    return lo, hi, np.asarray(mean)


def _region(
    reference: sitk.Image, lo_zyx: np.ndarray, hi_zyx: np.ndarray, margin_mm: float = 25.0
) -> tuple[sitk.Image, list[int]]:
    """An isotropic QC grid (identity-aligned with ``reference``) around the ROI's index box ``lo_zyx..hi_zyx``:
    its geometry (as a one-voxel image) and its size (x, y, z)."""
    lo, hi = lo_zyx[::-1], hi_zyx[::-1]  # x, y, z
    spacing = np.asarray(reference.GetSpacing())
    margin = np.ceil(margin_mm / spacing).astype(int)
    lo = np.maximum(lo - margin, 0)
    hi = np.minimum(hi + margin, np.asarray(reference.GetSize()) - 1)
    origin = reference.TransformIndexToPhysicalPoint([int(v) for v in lo])
    size = [int(np.ceil((h - l) * s / QC_SPACING_MM)) + 1 for l, h, s in zip(lo, hi, spacing, strict=True)]
    grid = sitk.Image([1, 1, 1], sitk.sitkFloat32)
    grid.SetOrigin(origin)
    grid.SetSpacing([QC_SPACING_MM] * 3)
    grid.SetDirection(reference.GetDirection())
    return grid, size


def _slab(grid: sitk.Image, grid_size: list[int], axis: int, index: int) -> sitk.Image:
    """The one-voxel-thick plane of ``grid`` (of ``grid_size`` voxels) at ``index`` along ``axis`` (0 x, 1 y, 2 z)."""
    size = list(grid_size)
    start = [0, 0, 0]
    size[axis], start[axis] = 1, index
    plane = sitk.Image(size, sitk.sitkFloat32)
    plane.SetOrigin(grid.TransformIndexToPhysicalPoint(start))
    plane.SetSpacing(grid.GetSpacing())
    plane.SetDirection(grid.GetDirection())
    return plane


def _cropped(roi_zyx: np.ndarray, lo_zyx: np.ndarray, hi_zyx: np.ndarray, reference: sitk.Image) -> sitk.Image:
    """The ROI's box ``lo_zyx..hi_zyx`` as a uint8 image in ``reference``'s space (nothing of the ROI lies outside)."""
    box = tuple(slice(int(a), int(b) + 1) for a, b in zip(lo_zyx, hi_zyx, strict=True))
    image = sitk.GetImageFromArray(roi_zyx[box].astype(np.uint8))
    image.SetOrigin(reference.TransformIndexToPhysicalPoint([int(v) for v in lo_zyx[::-1]]))
    image.SetSpacing(reference.GetSpacing())
    image.SetDirection(reference.GetDirection())
    return image


Planes = dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]


def registration_png(
    path: Path,
    baseline: sitk.Image,
    followup: sitk.Image,
    transform: sitk.Transform,
    roi_zyx: np.ndarray,
    title: str,
    submit: Submit = draw_here,
) -> None:
    """Write the registration QC figure of one follow-up to ``path`` (only the two planes shown are resampled).

    ``submit(draw_registration, path, planes, title)`` draws it (default: here, now; see
    :class:`pipeline.outputs.drawing.Drawing`)."""
    lo, hi, mean = roi_extent(roi_zyx)
    grid, grid_size = _region(baseline, lo, hi)
    roi_img = _cropped(roi_zyx, lo, hi, baseline)
    centre_lps = baseline.TransformContinuousIndexToPhysicalPoint([float(v) for v in mean[::-1]])
    centre = np.clip(
        np.round(grid.TransformPhysicalPointToContinuousIndex(centre_lps)).astype(int),
        0,
        np.asarray(grid_size) - 1,
    )
    n = int(CHECKER_MM / QC_SPACING_MM)
    planes: Planes = {}
    for name, axis in (("axial", 2), ("coronal", 1)):
        plane = _slab(grid, grid_size, axis, int(centre[axis]))
        fixed = sitk.Resample(baseline, plane, sitk.Transform(), sitk.sitkLinear, -1000.0, sitk.sitkFloat32)
        moving = sitk.Resample(followup, plane, transform, sitk.sitkLinear, -1000.0, sitk.sitkFloat32)
        roi = sitk.Resample(roi_img, plane, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
        zz, yy, xx = np.indices(sitk.GetArrayViewFromImage(fixed).shape)
        zz, yy, xx = zz + (centre[2] if axis == 2 else 0), yy + (centre[1] if axis == 1 else 0), xx
        checker = ((zz // n + yy // n + xx // n) % 2).astype(bool)
        f, m = sitk.GetArrayFromImage(fixed), sitk.GetArrayFromImage(moving)
        cut = (lambda a: a[0]) if axis == 2 else (lambda a: a[:, 0, :][::-1])
        planes[name] = (cut(f), cut(m), cut(np.where(checker, f, m)), cut(sitk.GetArrayFromImage(roi) > 0))
    submit(draw_registration, path, planes, title)


def draw_registration(path: Path, planes: Planes, title: str) -> None:
    """Draw the figure of the registration's QC ``planes`` (per plane: baseline, follow-up, checkerboard, ROI)."""
    fig = Figure(figsize=(12, 8))
    axes = fig.subplots(2, 3)
    for row, (name, (fixed_2d, moving_2d, mixed_2d, roi_2d)) in enumerate(planes.items()):
        for col, (label, data) in enumerate(
            (("baseline", fixed_2d), ("follow-up (registered)", moving_2d), ("checkerboard", mixed_2d))
        ):
            ax = axes[row, col]
            ax.imshow(data, cmap="gray", vmin=WINDOW_HU[0], vmax=WINDOW_HU[1], interpolation="nearest")
            ax.contour(roi_2d.astype(float), levels=[0.5], colors="yellow", linewidths=0.8)
            ax.set_title(f"{name}: {label}", fontsize=9)
            ax.set_axis_off()
    fig.suptitle(title, fontsize=10)
    fig.subplots_adjust(**LAYOUT)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
