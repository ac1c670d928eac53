"""Where in the real liver a lesion goes: interior, against a vessel, the capsule or the diaphragm.

Maps (mm, on the background's grid, within the liver's bounding box grown by 30 mm):

* ``depth``: distance from a liver voxel to the nearest non-liver voxel;
* ``vessel``: distance to the nearest contrast-filled vessel of the liver (liver voxels whose
  1.5 mm-smoothed value exceeds the liver level by 40 HU, opened by a 1 mm ball: at least 2 mm wide);
  only for scans with enhanced vessels;
* ``fat``: distance to fat or air outside the liver (smoothed value below -50 HU);
* ``lung``: distance to lung (below -500 HU) lying above (cranial to) the liver.

A site for a lesion of radii ``r_min..r_max`` (its shortest and longest ray) is a liver voxel, at least
``r_max + 10`` mm (plus the other lesion's longest ray) from every lesion already placed, ``r_max + 2``
from the avoided regions and from the first and last slices (the lesion lies within the scan), with

``interior``   depth >= r_max + 3, vessel >= r_max + 2;
``vessel``     depth >= r_max + 3, r_min <= vessel <= r_max + 1 (some of its surface touches a vessel);
``capsule``    r_min - 2 <= depth <= r_min + 1 and fat <= depth + 3 (the capsule faces fat: the lesion
               touches it and may bulge through it);
``diaphragm``  r_min - 2 <= depth <= r_min + 1, lung <= depth + 15 and the site lies in the upper third
               of the liver (under the dome).

The maps are computed on a grid of about 2 mm (blocks of voxels); one site is drawn at random among the
candidate blocks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from sample_data.hybrid.backgrounds import Background

KINDS = ("interior", "vessel", "capsule", "diaphragm")


@dataclass(frozen=True, eq=False)
class SiteMaps:
    """Distance maps on a coarse grid: coarse index ``i`` is full index ``offset + i * factor + (factor - 1) / 2``."""

    offset_zyx: tuple[int, int, int]
    factor_zyx: tuple[int, int, int]
    spacing_zyx: tuple[float, float, float]  # of the coarse grid
    liver: np.ndarray
    depth: np.ndarray
    vessel: np.ndarray | None
    fat: np.ndarray
    lung: np.ndarray
    avoid: np.ndarray  # distance to the avoided regions and to the first and last slices
    upper_third: np.ndarray  # bool per coarse z index

    def to_full_index(self, coarse_zyx: np.ndarray) -> np.ndarray:
        f = np.asarray(self.factor_zyx)
        return np.asarray(self.offset_zyx) + np.asarray(coarse_zyx) * f + (f - 1) / 2.0


def _block(a: np.ndarray, f: tuple[int, int, int]) -> np.ndarray:
    n = [s // k for s, k in zip(a.shape, f)]
    a = a[: n[0] * f[0], : n[1] * f[1], : n[2] * f[2]].astype(np.float32)
    return a.reshape(n[0], f[0], n[1], f[1], n[2], f[2]).mean(axis=(1, 3, 5))


def site_maps(bg: Background, level_hu: float, working_mm: float = 2.0) -> SiteMaps:
    """The distance maps of the module docstring, on a grid of about ``working_mm``."""
    zs, ys, xs = (np.flatnonzero(bg.liver_zyx.any(axis=a)) for a in ((1, 2), (0, 2), (0, 1)))
    pad = [int(np.ceil(30.0 / s)) for s in bg.spacing_zyx]
    box = tuple(
        slice(max(int(v[0]) - p, 0), min(int(v[-1]) + p + 1, n)) for v, p, n in zip((zs, ys, xs), pad, bg.shape_zyx)
    )
    f = tuple(max(1, int(round(working_mm / s))) for s in bg.spacing_zyx)
    sp = tuple(s * k for s, k in zip(bg.spacing_zyx, f))
    full_sm = ndimage.gaussian_filter(bg.image_zyx[box], [1.5 / s for s in bg.spacing_zyx])
    sm = _block(full_sm, f)  # type: ignore[arg-type]
    liver = _block(bg.liver_zyx[box], f) >= 0.5  # type: ignore[arg-type]
    depth = ndimage.distance_transform_edt(liver, sampling=sp)
    vessel = None
    if bg.vessels_enhanced:
        vessels = ndimage.binary_opening(
            bg.liver_zyx[box] & (full_sm > level_hu + 40.0), structure=_ball(1.0, bg.spacing_zyx)
        )
        vessels = _block(vessels, f) > 0.0  # type: ignore[arg-type]
        vessel = ndimage.distance_transform_edt(~vessels, sampling=sp) if vessels.any() else None
    fat = ndimage.distance_transform_edt(~(~liver & (sm < -50.0)), sampling=sp)
    lung_mask = ~liver & (sm < -500.0)
    below = np.maximum.accumulate(liver, axis=0)  # liver at this z index or a lower one (inferior)
    lung = ndimage.distance_transform_edt(~(lung_mask & below), sampling=sp)
    avoid_box = _block(bg.avoid_zyx[box], f) > 0.0  # type: ignore[arg-type]
    avoid = ndimage.distance_transform_edt(~avoid_box, sampling=sp) if avoid_box.any() else np.full(liver.shape, np.inf)
    # the field of view: a lesion must lie entirely within the scanned slices
    z_full = box[0].start + np.arange(liver.shape[0]) * f[0] + (f[0] - 1) / 2.0
    z_room = np.minimum(z_full, bg.shape_zyx[0] - 1 - z_full) * bg.spacing_zyx[0]
    avoid = np.minimum(avoid, z_room[:, None, None])
    lz = np.flatnonzero(liver.any(axis=(1, 2)))
    upper = np.zeros(liver.shape[0], bool)
    upper[lz[0] + 2 * (lz[-1] - lz[0]) // 3 :] = True
    return SiteMaps(tuple(s.start for s in box), f, sp, liver, depth, vessel, fat, lung, avoid, upper)  # type: ignore[arg-type]


def candidates(
    maps: SiteMaps, kind: str, r_min: float, r_max: float, placed: list[tuple[np.ndarray, float]]
) -> np.ndarray:
    """Candidate centres ``(n, 3)`` (continuous z, y, x indices of the full grid) for a lesion (module docstring).

    ``placed``: (centre in continuous full-grid indices, longest ray mm) of the lesions already placed.
    """
    depth = maps.depth
    ok = maps.liver & (maps.avoid >= r_max + 2.0)
    if kind == "interior":
        ok &= depth >= r_max + 3.0
        if maps.vessel is not None:
            ok &= maps.vessel >= r_max + 2.0
    elif kind == "vessel":
        if maps.vessel is None:
            return np.zeros((0, 3))
        ok &= (depth >= r_max + 3.0) & (maps.vessel >= r_min) & (maps.vessel <= r_max + 1.0)
    elif kind == "capsule":
        ok &= (depth >= r_min - 2.0) & (depth <= r_min + 1.0) & (maps.fat <= depth + 3.0)
    elif kind == "diaphragm":
        ok &= (depth >= r_min - 2.0) & (depth <= r_min + 1.0) & (maps.lung <= depth + 15.0)
        ok &= maps.upper_third[:, None, None]
    else:
        raise ValueError(f"unknown site kind {kind!r}")
    idx = maps.to_full_index(np.argwhere(ok))
    full_spacing = np.asarray(maps.spacing_zyx) / np.asarray(maps.factor_zyx)
    for centre_zyx, radius in placed:
        if not len(idx):
            break
        gap = np.linalg.norm((idx - np.asarray(centre_zyx)) * full_spacing, axis=1)
        idx = idx[gap >= r_max + radius + 10.0]
    return idx


def _ball(radius_mm: float, spacing: tuple[float, float, float]) -> np.ndarray:
    r = [max(1, int(np.floor(radius_mm / s))) for s in spacing]
    zz, yy, xx = np.ogrid[-r[0] : r[0] + 1, -r[1] : r[1] + 1, -r[2] : r[2] + 1]
    return (zz * spacing[0]) ** 2 + (yy * spacing[1]) ** 2 + (xx * spacing[2]) ** 2 <= radius_mm**2 + 1e-9
