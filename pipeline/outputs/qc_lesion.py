"""Per-lesion quality-control images (PNG): the measured axes on the CT slice, and PET/CT fused.

For every measured lesion at every timepoint, ``qc/lesion_<id>_timepoint_<K>.png``
shows the axial CT slice that holds the longest diameter, cropped around the
lesion (soft-tissue window -160..240 HU), with

* the lesion outline (yellow: the boundary pixels of the label map on that slice),
* the long axis (magenta) and the short axis (cyan), each labelled with its length,

and, when the timepoint has PET in SUV, the PET resampled onto the same slice
and fused over the CT (hot colour map, SUVbw 0..max(2.5, 1.1 x lesion
SUVmax)) with the outline in cyan.

The image is composed pixel by pixel (each CT voxel becomes an integer block
of PNG pixels, lines drawn without anti-aliasing), so what is drawn is where
the numbers say. ``qc/lesions_timepoint_<K>.json`` records, per image, each
panel's box in the PNG and the 3x3 matrix ``pixel_to_lps`` that maps PNG
coordinates ``(u, v, 1)`` (pixel edges at integers, ``u`` to the right, ``v``
down) to patient LPS mm, and the PNG coordinates of the drawn axis end points.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import numpy as np
import SimpleITK as sitk
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.patheffects import withStroke
from matplotlib.transforms import IdentityTransform
from scipy import ndimage
from skimage.draw import line

from pipeline import spatial
from pipeline.dicom.load import LoadedSeries
from pipeline.outputs import names
from pipeline.outputs.qc_registration import WINDOW_HU
from pipeline.outputs.tables import write_json
from pipeline.records import LesionRecord

OUTLINE_RGB = (255, 255, 0)
LONG_AXIS_RGB = (255, 0, 255)
SHORT_AXIS_RGB = (0, 255, 255)
PET_OUTLINE_RGB = (0, 255, 255)
PANEL_PX = 300  # target panel size (the larger side)
MARGIN_MM = 12.0  # crop margin around the lesion and its axes
MIN_FOV_MM = 50.0
HEADER_PX, FOOTER_PX, GAP_PX = 46, 22, 12
DPI = 100


@dataclass(frozen=True)
class Crop:
    """The CT pixels shown: slice ``z``, columns ``x0..x1-1``, rows ``y0..y1-1``, drawn at ``sx x sy`` PNG pixels each."""

    z: int
    x0: int
    x1: int
    y0: int
    y1: int
    sx: int
    sy: int

    @property
    def size_px(self) -> tuple[int, int]:
        """(width, height) of the panel in PNG pixels."""
        return (self.x1 - self.x0) * self.sx, (self.y1 - self.y0) * self.sy

    def to_raster(self, index_zyx: np.ndarray) -> tuple[float, float]:
        """Panel coordinates (row, col; pixel centres at integers) of a continuous CT index."""
        z, y, x = index_zyx
        return (y - self.y0 + 0.5) * self.sy - 0.5, (x - self.x0 + 0.5) * self.sx - 0.5

    def pixel_to_lps(self, image: sitk.Image, left: int, top: int) -> np.ndarray:
        """3x3 matrix: LPS mm = M @ (u, v, 1) for PNG coordinates of a panel placed at (left, top)."""
        to_index_xyz = np.array(
            [
                [1.0 / self.sx, 0.0, self.x0 - 0.5 - left / self.sx],
                [0.0, 1.0 / self.sy, self.y0 - 0.5 - top / self.sy],
                [0.0, 0.0, float(self.z)],
            ]
        )
        direction = np.asarray(image.GetDirection(), dtype=float).reshape(3, 3)
        a = direction * np.asarray(image.GetSpacing(), dtype=float)
        m = a @ to_index_xyz
        m[:, 2] += np.asarray(image.GetOrigin(), dtype=float)
        return m


def axis_slice(ct: sitk.Image, record: LesionRecord) -> int:
    """Index of the axial CT slice holding the record's longest diameter."""
    assert record.long_axis_lps_mm is not None
    z = spatial.lps_to_index_zyx(ct, np.asarray(record.long_axis_lps_mm))[:, 0]
    return int(round(float(z.mean())))


def choose_crop(ct: sitk.Image, mask_yx: np.ndarray, z: int, axis_points_zyx: np.ndarray) -> Crop:
    """A crop around the lesion's pixels and axis end points on slice ``z`` (margin, minimum field of view)."""
    sz, sy_mm, sx_mm = spatial.spacing_zyx(ct)
    ny, nx = mask_yx.shape
    pts = np.argwhere(mask_yx).astype(float)
    pts = np.vstack([pts, axis_points_zyx[:, 1:]]) if pts.size else axis_points_zyx[:, 1:]
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    centre = (lo + hi) / 2.0
    half = np.maximum(
        (hi - lo) / 2.0 + np.array([MARGIN_MM / sy_mm, MARGIN_MM / sx_mm]),
        np.array([MIN_FOV_MM / 2.0 / sy_mm, MIN_FOV_MM / 2.0 / sx_mm]),
    )
    y0, x0 = (int(np.floor(v)) for v in np.maximum(centre - half, 0))
    y1 = int(min(np.ceil(centre[0] + half[0]) + 1, ny))
    x1 = int(min(np.ceil(centre[1] + half[1]) + 1, nx))
    scale_x = max(1, int(PANEL_PX // max((x1 - x0), (y1 - y0) * sy_mm / sx_mm)))
    scale_y = max(1, int(round(scale_x * sy_mm / sx_mm)))
    return Crop(z, x0, x1, y0, y1, scale_x, scale_y)


def _upsample(a: np.ndarray, crop: Crop) -> np.ndarray:
    return np.repeat(np.repeat(a, crop.sy, axis=0), crop.sx, axis=1)


def _outline(mask_px: np.ndarray) -> np.ndarray:
    """Boundary pixels of an upsampled mask (inside, 4-connected)."""
    return mask_px & ~ndimage.binary_erosion(mask_px, border_value=0)


def _draw_axis(
    rgb: np.ndarray, ends_rc: Sequence[tuple[float, float]], colour: tuple[int, int, int]
) -> tuple[tuple[int, int], ...]:
    """Draw a 2-pixel-wide line between rounded end points; returns the end points (row, col) drawn."""
    (r0, c0), (r1, c1) = ((int(round(r)), int(round(c))) for r, c in ends_rc)
    h, w = rgb.shape[:2]
    rr, cc = line(r0, c0, r1, c1)
    steep = abs(r1 - r0) > abs(c1 - c0)
    for dr, dc in ((0, 0), (0, 1) if steep else (1, 0)):
        r, c = rr + dr, cc + dc
        ok = (r >= 0) & (r < h) & (c >= 0) & (c < w)
        rgb[r[ok], c[ok]] = colour
    return (r0, c0), (r1, c1)


def ct_panel(ct_yx: np.ndarray, mask_yx: np.ndarray, crop: Crop) -> np.ndarray:
    """RGB panel of the windowed CT crop with the lesion outline."""
    sl = np.s_[crop.y0 : crop.y1, crop.x0 : crop.x1]
    grey = np.clip((ct_yx[sl].astype(np.float32) - WINDOW_HU[0]) / (WINDOW_HU[1] - WINDOW_HU[0]), 0.0, 1.0)
    rgb = np.repeat(_upsample(np.round(grey * 255).astype(np.uint8), crop)[..., None], 3, axis=2)
    rgb[_outline(_upsample(mask_yx[sl], crop))] = OUTLINE_RGB
    return rgb


def pet_on_panel(ct: sitk.Image, pet: sitk.Image, crop: Crop) -> np.ndarray:
    """PET values (linear interpolation) at the centres of the panel's pixels."""
    w, h = crop.size_px
    grid = sitk.Image([w, h, 1], sitk.sitkFloat32)
    sx_mm, sy_mm, sz_mm = ct.GetSpacing()
    grid.SetSpacing((sx_mm / crop.sx, sy_mm / crop.sy, sz_mm))
    grid.SetDirection(ct.GetDirection())
    first = (crop.x0 - 0.5 + 0.5 / crop.sx, crop.y0 - 0.5 + 0.5 / crop.sy, float(crop.z))
    grid.SetOrigin(ct.TransformContinuousIndexToPhysicalPoint(first))
    return sitk.GetArrayFromImage(sitk.Resample(pet, grid, sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkFloat32))[0]


def fused_panel(ct_rgb: np.ndarray, suv_px: np.ndarray, mask_px: np.ndarray, suv_high: float) -> np.ndarray:
    """CT grey (without overlays) blended with the PET in the hot colour map; CT lesion outline on top."""
    grey = ct_rgb.astype(np.float32) / 255.0
    level = np.clip(suv_px / suv_high, 0.0, 1.0)
    hot = colormaps["hot"](level)[..., :3]
    alpha = 0.75 * level[..., None]
    rgb = np.round(255 * ((1 - alpha) * grey + alpha * hot)).astype(np.uint8)
    rgb[_outline(mask_px)] = PET_OUTLINE_RGB
    return rgb


def _label_offset(ends: Sequence[tuple[float, float]], end: int) -> tuple[float, float, str, str]:
    """Where to write an axis length: 10 px beyond end point ``end`` along the axis, aligned away from it."""
    p, q = np.asarray(ends[end]), np.asarray(ends[1 - end])
    d = p - q
    d = d / (np.linalg.norm(d) or 1.0)
    r, c = p + 10.0 * d
    return r, c, ("left" if d[1] >= 0 else "right"), ("top" if d[0] >= 0 else "bottom")


def lesion_png(
    path: Path,
    ct: LoadedSeries,
    pet: LoadedSeries | None,
    labels_zyx: np.ndarray,
    label: int,
    record: LesionRecord,
    ct_array: np.ndarray,
    pet_suv_max: float | None,
    title: str,
) -> dict[str, object]:
    """Write one lesion's QC image; returns its geometry record (see module docstring)."""
    assert record.long_axis_lps_mm is not None and record.short_axis_lps_mm is not None
    z = axis_slice(ct.image, record)
    mask_yx = labels_zyx[z] == label
    axes_zyx = {
        name: spatial.lps_to_index_zyx(ct.image, np.asarray(points))
        for name, points in (("long", record.long_axis_lps_mm), ("short", record.short_axis_lps_mm))
    }
    crop = choose_crop(ct.image, mask_yx, z, np.vstack(list(axes_zyx.values())))
    rgb = ct_panel(ct_array[z], mask_yx, crop)
    plain = ct_panel(ct_array[z], np.zeros_like(mask_yx), crop)
    ends = {name: [crop.to_raster(p) for p in pts] for name, pts in axes_zyx.items()}
    drawn = {
        "long": _draw_axis(rgb, ends["long"], LONG_AXIS_RGB),
        "short": _draw_axis(rgb, ends["short"], SHORT_AXIS_RGB),
    }
    panels = [("CT", rgb)]
    suv_high = None
    if pet is not None and pet.units == "SUVbw":
        suv_high = max(2.5, 1.1 * (pet_suv_max or 0.0))
        mask_px = _upsample(mask_yx[crop.y0 : crop.y1, crop.x0 : crop.x1], crop)
        panels.append(("PET", fused_panel(plain, pet_on_panel(ct.image, pet.image, crop), mask_px, suv_high)))
    w, h = crop.size_px
    width = GAP_PX + len(panels) * (w + GAP_PX)
    height = HEADER_PX + h + FOOTER_PX
    fig = Figure(figsize=(width / DPI, height / DPI), dpi=DPI, facecolor="black")
    geometry: dict[str, object] = {}
    text_style: dict[str, Any] = dict(color="white", fontsize=9, transform=IdentityTransform())
    for k, (name, panel) in enumerate(panels):
        left, top = GAP_PX + k * (w + GAP_PX), HEADER_PX
        fig.figimage(panel, xo=left, yo=height - top - h, origin="upper")
        geometry[name] = {"box_px": [left, top, w, h], "pixel_to_lps": crop.pixel_to_lps(ct.image, left, top).tolist()}
        caption = (
            f"CT  W {WINDOW_HU[0]:.0f}..{WINDOW_HU[1]:.0f} HU"
            if name == "CT"
            else f"PET/CT fused  SUVbw 0..{suv_high:.1f}"
        )
        fig.text(left, 6, caption, **text_style)
    left, top = GAP_PX, HEADER_PX
    outlined = [withStroke(linewidth=2.5, foreground="black")]
    for name, length in (("long", record.longest_diameter_mm), ("short", record.short_axis_mm)):
        r, c, ha, va = _label_offset(ends[name], 0)
        fig.text(left + c, height - top - r, f"{length:.1f} mm", ha=ha, va=va, path_effects=outlined, **text_style)
    fig.text(GAP_PX, height - 16, title, **{**text_style, "fontsize": 10})
    summary = (
        f"long axis {record.longest_diameter_mm:.1f} mm (magenta)   short axis {record.short_axis_mm:.1f} mm (cyan)"
    )
    fig.text(GAP_PX, height - 36, summary, **text_style)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, facecolor="black")
    return {
        "lesion_id": record.lesion_id,
        "file": path.name,
        "slice_index_z": z,
        "panels": geometry,
        "drawn_axes_png_px": {
            name: [[left + c + 0.5, top + r + 0.5] for r, c in pts] for name, pts in drawn.items()
        },  # centres of the end pixels
    }


def lesion_qc(
    out_dir: Path,
    timepoint: int,
    ct: LoadedSeries,
    pet: LoadedSeries | None,
    labels_zyx: np.ndarray,
    records: Sequence[LesionRecord],
    title: str,
) -> list[dict[str, object]]:
    """QC images of every measured lesion of one timepoint (label ``k + 1`` = ``records[k]``) and their geometry file."""
    ct_array = spatial.array_zyx(ct.image)
    entries = []
    for k, r in enumerate(records):
        if not r.measured or r.long_axis_lps_mm is None or r.short_axis_lps_mm is None:
            continue
        path = out_dir / names.lesion_qc(r.lesion_id, timepoint)
        entries.append(lesion_png(path, ct, pet, labels_zyx, k + 1, r, ct_array, r.suv_max, f"{r.lesion_id}  {title}"))
    write_json(out_dir / names.lesion_qc_index(timepoint), entries)
    return entries
