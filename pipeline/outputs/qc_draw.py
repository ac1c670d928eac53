"""Pixel-exact drawing on QC panels (RGB arrays): outlines, lines, circles, scale bars, orientation letters.

Nothing here is anti-aliased: a drawn pixel has exactly its colour, so tests
can find what was drawn by colour and map it back to patient coordinates.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage
from skimage.draw import circle_perimeter, line

# LPS axes: the letter of the patient side a positive (negative) direction points to
_LETTERS = (("L", "R"), ("P", "A"), ("S", "I"))
SCALE_BAR_LENGTHS_MM = (5.0, 10.0, 20.0, 50.0, 100.0)


def outline(mask_px: np.ndarray) -> np.ndarray:
    """Boundary pixels of a mask (inside, 4-connected)."""
    return mask_px & ~ndimage.binary_erosion(mask_px, border_value=0)


def draw_line(
    rgb: np.ndarray, ends_rc: Sequence[tuple[float, float]], colour: tuple[int, int, int]
) -> tuple[tuple[int, int], ...]:
    """A 2-pixel-wide line between rounded end points; returns the end points (row, col) drawn."""
    (r0, c0), (r1, c1) = ((int(round(r)), int(round(c))) for r, c in ends_rc)
    h, w = rgb.shape[:2]
    rr, cc = line(r0, c0, r1, c1)
    steep = abs(r1 - r0) > abs(c1 - c0)
    for dr, dc in ((0, 0), (0, 1) if steep else (1, 0)):
        r, c = rr + dr, cc + dc
        ok = (r >= 0) & (r < h) & (c >= 0) & (c < w)
        rgb[r[ok], c[ok]] = colour
    return (r0, c0), (r1, c1)


def draw_circle(
    rgb: np.ndarray, centre_rc: tuple[float, float], radius_px: float, colour: tuple[int, int, int], dashed: bool
) -> None:
    """A circle (1 pixel wide); dashed: every other run of 4 perimeter pixels, in angular order."""
    r0, c0 = (int(round(v)) for v in centre_rc)
    rr, cc = circle_perimeter(r0, c0, max(1, int(round(radius_px))), shape=rgb.shape[:2])
    if dashed and len(rr):
        order = np.argsort(np.arctan2(rr - r0, cc - c0), kind="stable")
        keep = order[(np.arange(len(order)) // 4) % 2 == 0]
        rr, cc = rr[keep], cc[keep]
    rgb[rr, cc] = colour


def scale_bar_mm(panel_width_mm: float) -> float:
    """The longest of 5, 10, 20, 50, 100 mm that fits in a quarter of the panel (at least 5 mm)."""
    fitting = [v for v in SCALE_BAR_LENGTHS_MM if v <= panel_width_mm / 4.0]
    return fitting[-1] if fitting else SCALE_BAR_LENGTHS_MM[0]


def draw_scale_bar(rgb: np.ndarray, length_px: int, margin_px: int = 10) -> tuple[int, int, int]:
    """A white bar, 3 pixels high, at the panel's bottom left; returns (left, right, top) of the bar (pixels)."""
    h = rgb.shape[0]
    top = h - margin_px - 3
    rgb[top : top + 3, margin_px : margin_px + length_px] = 0
    rgb[top + 1 : top + 2, margin_px : margin_px + length_px] = 255  # white core, black edge: visible on any grey
    rgb[top : top + 3, margin_px] = rgb[top : top + 3, margin_px + length_px - 1] = 255
    return margin_px, margin_px + length_px, top


def side_letter(direction_lps: Sequence[float] | np.ndarray) -> str:
    """The patient side (R, L, A, P, I, S) a direction points to: its dominant LPS axis and sign."""
    d = np.asarray(direction_lps, dtype=float)
    axis = int(np.argmax(np.abs(d)))
    return _LETTERS[axis][0 if d[axis] > 0 else 1]


def edge_letters(direction_3x3: Sequence[float]) -> dict[str, str]:
    """Letters of the panel edges (left, right, top, bottom) of an image shown with its index x to the right and
    index y down; ``direction_3x3``: the image's direction matrix (row major, columns are the index axes)."""
    d = np.asarray(direction_3x3, dtype=float).reshape(3, 3)
    x, y = d[:, 0], d[:, 1]
    return {"left": side_letter(-x), "right": side_letter(x), "top": side_letter(-y), "bottom": side_letter(y)}
