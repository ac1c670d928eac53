"""Quality-control image (PNG) of a timepoint's liver mask.

Three axial slices (at a quarter, half and three quarters of the liver's
height) and a coronal slice through the liver's centre, in radiological
display (patient's right on the left of the image, anterior up, head up),
CT window -160..240 HU, liver outline in yellow. A leak into heart, stomach,
kidney or bowel, or a missed part of the liver, shows at a glance.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk
from matplotlib.figure import Figure

from pipeline import spatial
from pipeline.outputs.drawing import Submit, draw_here
from pipeline.outputs.qc_registration import LAYOUT, roi_extent

WINDOW_HU = (-160.0, 240.0)


def liver_png(path: Path, ct: sitk.Image, liver_zyx: np.ndarray, title: str, submit: Submit = draw_here) -> None:
    """Write the liver QC figure (see module docstring) of ``liver_zyx`` (CT grid) to ``path``.

    The four slices are taken here; ``submit(draw_liver, ...)`` draws the figure (default: here, now; see
    :class:`pipeline.outputs.drawing.Drawing`)."""
    image = spatial.in_lps_order(ct)
    if image is ct:
        liver = np.asarray(liver_zyx, dtype=bool)
    else:
        mask = sitk.DICOMOrient(spatial.image_like(liver_zyx.astype(np.uint8), ct), "LPS")
        liver = sitk.GetArrayViewFromImage(mask) > 0
    hu = sitk.GetArrayViewFromImage(image)
    sz, sy, sx = spatial.spacing_zyx(image)
    zs = np.flatnonzero(liver.any(axis=(1, 2)))
    centre = roi_extent(liver)[2].round().astype(int)
    axial = [int(zs[0] + f * (zs[-1] - zs[0])) for f in (0.75, 0.5, 0.25)]  # top first
    views = [(hu[z].copy(), liver[z].copy(), sy / sx, f"axial, slice {z + 1} of {hu.shape[0]}") for z in axial]
    coronal = (
        hu[::-1, centre[1], :].copy(),
        liver[::-1, centre[1], :].copy(),
        sz / sx,
        "coronal, through the liver centre",
    )
    submit(draw_liver, path, [*views, coronal], title)


def draw_liver(path: Path, views: list[tuple[np.ndarray, np.ndarray, float, str]], title: str) -> None:
    """Draw the liver QC figure: per view (HU slice, liver slice, pixel aspect, caption), side by side."""
    fig = Figure(figsize=(16, 4.6))
    axes = fig.subplots(1, 4)
    for ax, (hu, liver, aspect, caption) in zip(axes, views, strict=True):
        ax.imshow(hu, cmap="gray", vmin=WINDOW_HU[0], vmax=WINDOW_HU[1], aspect=aspect, interpolation="nearest")
        ax.contour(liver.astype(float), levels=[0.5], colors="yellow", linewidths=0.9)
        ax.set_title(caption, fontsize=9)
        ax.set_axis_off()
    fig.suptitle(title, fontsize=10)
    fig.subplots_adjust(**LAYOUT)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
