"""Per-lesion quality-control images (PNG): the measured axes on the CT slice, and the PET region measured.

For every measured lesion at every timepoint, ``qc/lesion_<id>_timepoint_<K>.png``
shows the axial CT slice that holds the longest diameter, at least 100 mm
wide around the lesion (soft-tissue window W 400 / L 40 HU, i.e. -160..240 HU), with

* the lesion outline (yellow: the boundary pixels of the label map on that slice),
* the long axis (magenta) and the short axis (cyan), each labelled with its length,
* the slice number and position, the orientation letters of the panel edges
  (from the image's direction cosines) and a scale bar,

and, when the timepoint has PET in SUV, the PET resampled onto the same slice
and fused over the CT (hot colour map, SUVbw 0..max(2.5, 1.1 x lesion SUVmax),
with its colour bar) with the CT outline (yellow), the PET region that gave
SUVmean, MTV and TLG (green: its method and threshold are written below) and
the 1 ml SUVpeak sphere (blue: its cross-section with the slice, or dashed,
its outline projected, when its centre is more than its radius away).

The image is composed pixel by pixel (each CT voxel becomes an integer block
of PNG pixels, lines drawn without anti-aliasing), so what is drawn is where
the numbers say. ``qc/lesions_timepoint_<K>.json`` records, per image, each
panel's box in the PNG and the 3x3 matrix ``pixel_to_lps`` that maps PNG
coordinates ``(u, v, 1)`` (pixel edges at integers, ``u`` to the right, ``v``
down) to patient LPS mm, the PNG coordinates of the drawn axis end points and
of the SUVpeak sphere.
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

from measurement.intensity import PEAK_SPHERE_RADIUS_MM
from pipeline import spatial
from pipeline.dicom.load import LoadedSeries
from pipeline.outputs import names
from pipeline.outputs.drawing import Submit, draw_here
from pipeline.outputs.qc_draw import draw_circle, draw_line, draw_scale_bar, edge_letters, outline, scale_bar_mm
from pipeline.outputs.qc_registration import WINDOW_HU
from pipeline.outputs.tables import write_json
from pipeline.records import LesionRecord

OUTLINE_RGB = (255, 255, 0)
LONG_AXIS_RGB = (255, 0, 255)
SHORT_AXIS_RGB = (0, 255, 255)
PET_REGION_RGB = (0, 255, 0)
PEAK_SPHERE_RGB = (0, 140, 255)
PANEL_PX = 360  # target panel size (the larger side)
MARGIN_MM = 25.0  # crop margin around the lesion and its axes
MIN_FOV_MM = 100.0
HEADER_PX, FOOTER_PX, GAP_PX = 62, 40, 12
COLOUR_BAR_PX, COLOUR_BAR_LABELS_PX = 14, 44
DPI = 100
PET_METHODS_TEXT = {
    "41pct": "{f:.0f} % of SUVmax",
    "fixed": "fixed SUV",
    "percist": "PERCIST (liver mean + 2 SD x 1.5)",
}


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


def ct_panel(ct_yx: np.ndarray, mask_yx: np.ndarray, crop: Crop) -> np.ndarray:
    """RGB panel of the windowed CT crop with the lesion outline."""
    sl = np.s_[crop.y0 : crop.y1, crop.x0 : crop.x1]
    grey = np.clip((ct_yx[sl].astype(np.float32) - WINDOW_HU[0]) / (WINDOW_HU[1] - WINDOW_HU[0]), 0.0, 1.0)
    rgb = np.repeat(_upsample(np.round(grey * 255).astype(np.uint8), crop)[..., None], 3, axis=2)
    rgb[outline(_upsample(mask_yx[sl], crop))] = OUTLINE_RGB
    return rgb


def pet_on_panel(ct: sitk.Image, pet: sitk.Image, crop: Crop, interpolator: int = sitk.sitkLinear) -> np.ndarray:
    """PET values (linear interpolation; nearest neighbour for labels) at the centres of the panel's pixels."""
    w, h = crop.size_px
    grid = sitk.Image([w, h, 1], sitk.sitkFloat32)
    sx_mm, sy_mm, sz_mm = ct.GetSpacing()
    grid.SetSpacing((sx_mm / crop.sx, sy_mm / crop.sy, sz_mm))
    grid.SetDirection(ct.GetDirection())
    first = (crop.x0 - 0.5 + 0.5 / crop.sx, crop.y0 - 0.5 + 0.5 / crop.sy, float(crop.z))
    grid.SetOrigin(ct.TransformContinuousIndexToPhysicalPoint(first))
    return sitk.GetArrayFromImage(sitk.Resample(pet, grid, sitk.Transform(), interpolator, 0.0, sitk.sitkFloat32))[0]


def fused_panel(ct_rgb: np.ndarray, suv_px: np.ndarray, mask_px: np.ndarray, suv_high: float) -> np.ndarray:
    """CT grey (without overlays) blended with the PET in the hot colour map; CT lesion outline on top."""
    grey = ct_rgb.astype(np.float32) / 255.0
    level = np.clip(suv_px / suv_high, 0.0, 1.0)
    hot = colormaps["hot"](level)[..., :3]
    alpha = 0.75 * level[..., None]
    rgb = np.round(255 * ((1 - alpha) * grey + alpha * hot)).astype(np.uint8)
    rgb[outline(mask_px)] = OUTLINE_RGB
    return rgb


def colour_bar(height_px: int) -> np.ndarray:
    """The PET colour map, 0 at the bottom and the window's top value at the top."""
    level = np.linspace(1.0, 0.0, height_px)[:, None] * np.ones((1, COLOUR_BAR_PX))
    return np.round(255 * colormaps["hot"](level)[..., :3]).astype(np.uint8)


def _label_offset(
    ends: Sequence[tuple[float, float]], end: int, size_px: tuple[int, int]
) -> tuple[float, float, str, str]:
    """Where to write an axis length: 10 px beyond end point ``end`` along the axis, aligned away from it, kept
    inside the panel (``size_px``: width, height) so that the text is never cut."""
    p, q = np.asarray(ends[end]), np.asarray(ends[1 - end])
    d = p - q
    d = d / (np.linalg.norm(d) or 1.0)
    r, c = p + 10.0 * d
    ha, va = ("left" if d[1] >= 0 else "right"), ("top" if d[0] >= 0 else "bottom")
    w, h = size_px
    text_w, text_h = 52, 14
    c = min(max(c, 2 + (text_w if ha == "right" else 0)), w - 2 - (text_w if ha == "left" else 0))
    r = min(max(r, 2 + (text_h if va == "bottom" else 0)), h - 2 - (text_h if va == "top" else 0))
    return r, c, ha, va


@dataclass(frozen=True)
class PeakSphere:
    """The SUVpeak sphere on a panel: centre (row, col), radius (PNG pixels), distance of its centre from the
    slice (mm, + towards higher slice index) and whether the slice cuts it."""

    centre_rc: tuple[float, float]
    radius_px: float
    offset_mm: float
    on_slice: bool


def peak_sphere(ct: sitk.Image, crop: Crop, centre_lps_mm: Sequence[float]) -> PeakSphere:
    index = spatial.lps_to_index_zyx(ct, np.asarray(centre_lps_mm, dtype=float))
    offset = float((index[0] - crop.z) * ct.GetSpacing()[2])
    mm_per_px = ct.GetSpacing()[0] / crop.sx
    on_slice = abs(offset) < PEAK_SPHERE_RADIUS_MM
    radius_mm = float(np.sqrt(PEAK_SPHERE_RADIUS_MM**2 - offset**2)) if on_slice else PEAK_SPHERE_RADIUS_MM
    r, c = crop.to_raster(index)
    return PeakSphere((float(r), float(c)), radius_mm / mm_per_px, offset, on_slice)


def _pet_region_text(record: LesionRecord) -> str:
    how = PET_METHODS_TEXT.get(record.pet_method or "", record.pet_method or "?")
    how = how.format(f=100.0 * (record.pet_threshold_suv or 0.0) / (record.suv_max or 1.0))
    threshold = f" = SUVbw {record.pet_threshold_suv:.2f}" if record.pet_threshold_suv is not None else ""
    return f"green: PET region ({how}{threshold}), MTV {record.mtv_ml or 0.0:.1f} ml"


def _sphere_text(record: LesionRecord, sphere: PeakSphere) -> str:
    where = (
        "on this slice"
        if abs(sphere.offset_mm) < 0.05
        else f"centre {abs(sphere.offset_mm):.1f} mm {'below' if sphere.offset_mm > 0 else 'above'} this slice"
    )
    shown = "" if sphere.on_slice else ", dashed: projected"
    return f"blue: SUVpeak sphere (1 ml, {where}{shown}), SUVpeak {record.suv_peak or 0.0:.2f}"


@dataclass(frozen=True)
class PetLayer:
    """What the PET panels of a timepoint show: the PET in SUV and the lesions' PET regions (labels) on the PET
    grid, as an image made once for all the panels."""

    pet: LoadedSeries
    labels: sitk.Image | None

    @classmethod
    def of(cls, pet: LoadedSeries, labels_zyx: np.ndarray | None) -> PetLayer:
        if labels_zyx is None:
            return cls(pet, None)
        labels = sitk.GetImageFromArray(labels_zyx.astype(np.uint16))
        labels.CopyInformation(pet.image)
        return cls(pet, labels)


def _pet_panel(
    ct: LoadedSeries,
    layer: PetLayer,
    crop: Crop,
    plain: np.ndarray,
    mask_px: np.ndarray,
    label: int,
    record: LesionRecord,
) -> tuple[np.ndarray, float, PeakSphere | None, list[str]]:
    """The fused panel with the PET region and the SUVpeak sphere; its SUV window top, the sphere, the notes."""
    suv_px = pet_on_panel(ct.image, layer.pet.image, crop)
    suv_high = max(2.5, 1.1 * (record.suv_max if record.suv_max is not None else float(suv_px.max(initial=0.0))))
    rgb = fused_panel(plain, suv_px, mask_px, suv_high)
    notes = []
    if layer.labels is not None and record.pet_method is not None:
        region = pet_on_panel(ct.image, layer.labels, crop, sitk.sitkNearestNeighbor) == label
        rgb[outline(region)] = PET_REGION_RGB
        notes.append(_pet_region_text(record))
    sphere = None
    if record.suv_peak_centre_lps_mm is not None:
        sphere = peak_sphere(ct.image, crop, record.suv_peak_centre_lps_mm)
        draw_circle(rgb, sphere.centre_rc, sphere.radius_px, PEAK_SPHERE_RGB, dashed=not sphere.on_slice)
        notes.append(_sphere_text(record, sphere))
    return rgb, suv_high, sphere, notes


def _slice_text(ct: sitk.Image, z: int) -> str:
    position = spatial.index_zyx_to_lps(ct, np.array([float(z), 0.0, 0.0]))
    return f"axial slice {z + 1} of {ct.GetSize()[2]} (index {z}, z = {position[2]:.1f} mm)"


def _text_style() -> dict[str, Any]:
    """White 9 pt text placed in PNG pixel coordinates (origin bottom left)."""
    return dict(color="white", fontsize=9, transform=IdentityTransform())


def _outlined() -> list[withStroke]:
    """A black outline that keeps text readable over the image."""
    return [withStroke(linewidth=2.5, foreground="black")]


@dataclass(frozen=True)
class _CtDrawing:
    """The CT panel with the outline, axes and scale bar drawn; the axis end points as drawn and the scale bar."""

    z: int
    mask_yx: np.ndarray
    crop: Crop
    rgb: np.ndarray
    plain: np.ndarray
    ends: dict[str, list[tuple[float, float]]]
    drawn: dict[str, tuple[tuple[int, int], ...]]
    bar_mm: float
    bar_left: int
    bar_top: int


def _draw_ct(
    ct: LoadedSeries, labels_zyx: np.ndarray, label: int, record: LesionRecord, ct_array: np.ndarray
) -> _CtDrawing:
    """The CT panel on the slice of the longest diameter: outline, long and short axes and scale bar."""
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
        "long": draw_line(rgb, ends["long"], LONG_AXIS_RGB),
        "short": draw_line(rgb, ends["short"], SHORT_AXIS_RGB),
    }
    w, _ = crop.size_px
    mm_per_px = ct.image.GetSpacing()[0] / crop.sx
    bar_mm = scale_bar_mm(w * mm_per_px)
    bar_left, bar_right, bar_top = draw_scale_bar(rgb, int(round(bar_mm / mm_per_px)))
    return _CtDrawing(z, mask_yx, crop, rgb, plain, ends, drawn, bar_mm, bar_left, bar_top)


def _panel_geometry(names_: Sequence[str], crop: Crop, ct: sitk.Image) -> dict[str, object]:
    """Each panel's box in the PNG and its PNG-to-LPS matrix (panels side by side, in order)."""
    w, h = crop.size_px
    geometry: dict[str, object] = {}
    for k, name in enumerate(names_):
        left, top = GAP_PX + k * (w + GAP_PX), HEADER_PX
        geometry[name] = {"box_px": [left, top, w, h], "pixel_to_lps": crop.pixel_to_lps(ct, left, top).tolist()}
    return geometry


def _draw_panels(
    fig: Figure, panels: Sequence[tuple[str, np.ndarray]], crop: Crop, height: int, letters: dict[str, str]
) -> None:
    """Place the panels side by side with their orientation letters."""
    w, h = crop.size_px
    letter_style = {**_text_style(), "fontsize": 10, "fontweight": "bold", "path_effects": _outlined()}
    for k, (_, panel) in enumerate(panels):
        left, top = GAP_PX + k * (w + GAP_PX), HEADER_PX
        fig.figimage(panel, xo=left, yo=height - top - h, origin="upper")
        for edge, (x, y, ha, va) in {
            "left": (left + 3, height - top - h / 2, "left", "center"),
            "right": (left + w - 3, height - top - h / 2, "right", "center"),
            "top": (left + w / 2, height - top - 3, "center", "top"),
            "bottom": (left + w / 2, height - top - h + 3, "center", "bottom"),
        }.items():
            fig.text(x, y, letters[edge], ha=ha, va=va, **letter_style)


def _write_ct_labels(fig: Figure, drawing: _CtDrawing, record: LesionRecord, height: int) -> None:
    """The scale bar's length and each axis' length beside its end point on the CT panel."""
    w, h = drawing.crop.size_px
    ct_left, top = GAP_PX, HEADER_PX
    text_style, outlined = _text_style(), _outlined()
    fig.text(
        ct_left + drawing.bar_left,
        height - top - drawing.bar_top + 3,
        f"{drawing.bar_mm:g} mm",
        va="bottom",
        path_effects=outlined,
        **text_style,
    )
    for name, length in (("long", record.longest_diameter_mm), ("short", record.short_axis_mm)):
        r, c, ha, va = _label_offset(drawing.ends[name], 0, (w, h))
        fig.text(ct_left + c, height - top - r, f"{length:.1f} mm", ha=ha, va=va, path_effects=outlined, **text_style)


def _write_header(fig: Figure, slice_text: str, record: LesionRecord, title: str, height: int, h: int) -> None:
    """Title, axis lengths and slice above the panels; the CT window below the CT panel."""
    text_style = _text_style()
    fig.text(GAP_PX, height - 16, title, **{**text_style, "fontsize": 10})
    fig.text(
        GAP_PX,
        height - 34,
        f"long axis {record.longest_diameter_mm:.1f} mm (magenta), short axis {record.short_axis_mm:.1f} mm (cyan), "
        "outline yellow",
        **text_style,
    )
    fig.text(GAP_PX, height - 50, slice_text, **text_style)
    fig.text(
        GAP_PX,
        height - HEADER_PX - h - 16,
        f"CT  W {WINDOW_HU[1] - WINDOW_HU[0]:.0f} / L {(WINDOW_HU[0] + WINDOW_HU[1]) / 2:.0f} HU",
        **text_style,
    )


def _write_pet_legend(fig: Figure, suv_high: float, notes: Sequence[str], w: int, h: int, height: int) -> None:
    """The PET colour bar with its values, the PET panel's window and the notes on the PET region and sphere."""
    text_style, top = _text_style(), HEADER_PX
    pet_left = GAP_PX + w + GAP_PX
    bar_x = pet_left + w + 6
    fig.figimage(colour_bar(h), xo=bar_x, yo=height - top - h, origin="upper")
    for value, frac in ((0.0, 0.0), (suv_high / 2.0, 0.5), (suv_high, 1.0)):
        fig.text(bar_x + COLOUR_BAR_PX + 3, height - top - h + frac * h, f"{value:.1f}", va="center", **text_style)
    fig.text(pet_left, height - top - h - 16, f"PET/CT fused  SUVbw 0..{suv_high:.1f}", **text_style)
    for k, note in enumerate(notes):
        fig.text(GAP_PX, height - top - h - 32 - 15 * k, note, **{**text_style, "fontsize": 8.5})


def _geometry_entry(
    path: Path,
    record: LesionRecord,
    drawing: _CtDrawing,
    geometry: dict[str, object],
    letters: dict[str, str],
    sphere: PeakSphere | None,
) -> dict[str, object]:
    """The image's record in the geometry file: panels, drawn axis end points, scale bar, letters, sphere."""
    ct_left, top = GAP_PX, HEADER_PX
    entry: dict[str, object] = {
        "lesion_id": record.lesion_id,
        "file": path.name,
        "slice_index_z": drawing.z,
        "panels": geometry,
        "drawn_axes_png_px": {
            name: [[ct_left + c + 0.5, top + r + 0.5] for r, c in pts] for name, pts in drawing.drawn.items()
        },  # centres of the end pixels
        "scale_bar_mm": drawing.bar_mm,
        "edge_letters": letters,
    }
    if sphere is not None:
        w, _ = drawing.crop.size_px
        pet_left = GAP_PX + w + GAP_PX
        entry["suv_peak_sphere_png_px"] = {
            "centre": [pet_left + sphere.centre_rc[1] + 0.5, top + sphere.centre_rc[0] + 0.5],
            "radius": sphere.radius_px,
            "offset_from_slice_mm": sphere.offset_mm,
            "on_slice": sphere.on_slice,
        }
    return entry


def lesion_png(
    path: Path,
    ct: LoadedSeries,
    pet: PetLayer | None,
    labels_zyx: np.ndarray,
    label: int,
    record: LesionRecord,
    ct_array: np.ndarray,
    title: str,
    submit: Submit = draw_here,
) -> dict[str, object]:
    """Write one lesion's QC image; returns its geometry record (see module docstring).

    The panels are composed here; ``submit(draw_lesion, figure)`` draws the figure (default: here, now; see
    :class:`pipeline.outputs.drawing.Drawing`)."""
    drawing = _draw_ct(ct, labels_zyx, label, record, ct_array)
    crop = drawing.crop
    w, h = crop.size_px
    panels = [("CT", drawing.rgb)]
    suv_high: float | None = None
    sphere: PeakSphere | None = None
    notes: list[str] = []
    if pet is not None and pet.pet.units == "SUVbw":
        mask_px = _upsample(drawing.mask_yx[crop.y0 : crop.y1, crop.x0 : crop.x1], crop)
        fused, suv_high, sphere, notes = _pet_panel(ct, pet, crop, drawing.plain, mask_px, label, record)
        panels.append(("PET", fused))
    bar_space = COLOUR_BAR_PX + COLOUR_BAR_LABELS_PX if suv_high is not None else 0
    width = GAP_PX + len(panels) * (w + GAP_PX) + bar_space
    height = HEADER_PX + h + FOOTER_PX + 15 * max(0, len(notes) - 1)
    letters = edge_letters(ct.image.GetDirection())
    geometry = _panel_geometry([name for name, _ in panels], crop, ct.image)
    figure = LesionFigure(
        path, width, height, panels, drawing, letters, record, title, _slice_text(ct.image, drawing.z), suv_high, notes
    )
    submit(draw_lesion, figure)
    return _geometry_entry(path, record, drawing, geometry, letters, sphere)


@dataclass(frozen=True)
class LesionFigure:
    """Everything a lesion's QC image shows, composed: its panels (RGB), the CT drawing and the texts."""

    path: Path
    width: int
    height: int
    panels: list[tuple[str, np.ndarray]]
    drawing: _CtDrawing
    letters: dict[str, str]
    record: LesionRecord
    title: str
    slice_text: str
    suv_high: float | None
    notes: list[str]


def draw_lesion(figure: LesionFigure) -> None:
    """Draw a lesion's QC image (panels, orientation letters, lengths, header, PET legend) to its PNG file."""
    f, crop = figure, figure.drawing.crop
    w, h = crop.size_px
    fig = Figure(figsize=(f.width / DPI, f.height / DPI), dpi=DPI, facecolor="black")
    _draw_panels(fig, f.panels, crop, f.height, f.letters)
    _write_ct_labels(fig, f.drawing, f.record, f.height)
    _write_header(fig, f.slice_text, f.record, f.title, f.height, h)
    if f.suv_high is not None:
        _write_pet_legend(fig, f.suv_high, f.notes, w, h, f.height)
    f.path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(f.path, dpi=DPI, facecolor="black")


def lesion_qc(
    out_dir: Path,
    timepoint: int,
    ct: LoadedSeries,
    pet: LoadedSeries | None,
    labels_zyx: np.ndarray,
    records: Sequence[LesionRecord],
    title: str,
    pet_labels_zyx: np.ndarray | None = None,
    submit: Submit = draw_here,
) -> list[dict[str, object]]:
    """QC images of every measured lesion of one timepoint (label ``k + 1`` = ``records[k]``, on the CT and, in
    ``pet_labels_zyx``, on the PET grid) and their geometry file; ``submit`` draws the images (:func:`lesion_png`)."""
    ct_array = sitk.GetArrayViewFromImage(ct.image)  # read only: the panels take a slice each
    layer = PetLayer.of(pet, pet_labels_zyx) if pet is not None else None
    entries = []
    for k, r in enumerate(records):
        if not r.measured or r.long_axis_lps_mm is None or r.short_axis_lps_mm is None:
            continue
        path = names.inside(out_dir, names.lesion_qc(r.lesion_id, timepoint))
        entries.append(lesion_png(path, ct, layer, labels_zyx, k + 1, r, ct_array, f"{r.lesion_id}  {title}", submit))
    index = names.inside(out_dir, names.lesion_qc_index(timepoint))
    index.parent.mkdir(parents=True, exist_ok=True)  # the images may still be drawing, or there are none
    write_json(index, entries)
    return entries
