"""Quality-control images (PNG) of the registration of a follow-up to the baseline.

Per follow-up: the baseline, the follow-up resampled into baseline space with
the final transform, and their checkerboard, on an axial and a coronal slice
through the centre of the liver region, with the baseline liver outline.
Misregistration shows as broken edges across the checkerboard squares.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import SimpleITK as sitk
from scipy import ndimage

WINDOW_HU = (-160.0, 240.0)
CHECKER_MM = 20.0
QC_SPACING_MM = 1.5


def _region(reference: sitk.Image, roi_zyx: np.ndarray, margin_mm: float = 25.0) -> sitk.Image:
    """An isotropic QC grid (identity-aligned with ``reference``) around the ROI."""
    idx = np.argwhere(roi_zyx)
    lo, hi = idx.min(axis=0)[::-1], idx.max(axis=0)[::-1]  # x, y, z
    spacing = np.asarray(reference.GetSpacing())
    margin = np.ceil(margin_mm / spacing).astype(int)
    lo = np.maximum(lo - margin, 0)
    hi = np.minimum(hi + margin, np.asarray(reference.GetSize()) - 1)
    origin = reference.TransformIndexToPhysicalPoint([int(v) for v in lo])
    size = [int(np.ceil((h - l) * s / QC_SPACING_MM)) + 1 for l, h, s in zip(lo, hi, spacing, strict=True)]
    grid = sitk.Image(size, sitk.sitkFloat32)
    grid.SetOrigin(origin)
    grid.SetSpacing([QC_SPACING_MM] * 3)
    grid.SetDirection(reference.GetDirection())
    return grid


def registration_png(
    path: Path, baseline: sitk.Image, followup: sitk.Image, transform: sitk.Transform, roi_zyx: np.ndarray, title: str
) -> None:
    """Write the registration QC figure of one follow-up to ``path``."""
    grid = _region(baseline, roi_zyx)
    fixed = sitk.GetArrayFromImage(
        sitk.Resample(baseline, grid, sitk.Transform(), sitk.sitkLinear, -1000.0, sitk.sitkFloat32)
    )
    moving = sitk.GetArrayFromImage(
        sitk.Resample(followup, grid, transform, sitk.sitkLinear, -1000.0, sitk.sitkFloat32)
    )
    roi_img = sitk.GetImageFromArray(roi_zyx.astype(np.uint8))
    roi_img.CopyInformation(baseline)
    roi = (
        sitk.GetArrayFromImage(
            sitk.Resample(roi_img, grid, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
        )
        > 0
    )
    centre = np.round(ndimage.center_of_mass(roi)).astype(int) if roi.any() else np.array(fixed.shape) // 2
    n = int(CHECKER_MM / QC_SPACING_MM)
    zz, yy, xx = np.indices(fixed.shape)
    checker = ((zz // n + yy // n + xx // n) % 2).astype(bool)
    mixed = np.where(checker, fixed, moving)
    views = {
        "axial": lambda a: a[centre[0]],
        "coronal": lambda a: a[:, centre[1], :][::-1],
    }
    fig, axes = plt.subplots(2, 3, figsize=(12, 8))
    for row, (name, cut) in enumerate(views.items()):
        for col, (label, data) in enumerate(
            (("baseline", fixed), ("follow-up (registered)", moving), ("checkerboard", mixed))
        ):
            ax = axes[row, col]
            ax.imshow(cut(data), cmap="gray", vmin=WINDOW_HU[0], vmax=WINDOW_HU[1], interpolation="nearest")
            ax.contour(cut(roi.astype(float)), levels=[0.5], colors="yellow", linewidths=0.8)
            ax.set_title(f"{name}: {label}", fontsize=9)
            ax.set_axis_off()
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
