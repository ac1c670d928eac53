"""Automatic liver segmentation on CT (unenhanced or contrast-enhanced, whole or partial liver).

Input: a CT in HU as ``(array_zyx, spacing_zyx)`` in the canonical LPS
orientation of :mod:`segmentation.anatomy` (x toward the patient's left,
y toward posterior, z toward the head). Output: a :class:`LiverSegmentation`
with a boolean mask on the input grid (``outcome == "found"``), or without one
and the reason: ``"absent"`` (no liver in this scan) or ``"refused"`` (a liver
was segmented but fails a plausibility check).

Method (classical; every intensity is learned from the scan itself):

1. Working grid: block means of about ``working_spacing_mm``
   (:mod:`segmentation.working_grid`).
2. Anatomy (:mod:`segmentation.anatomy`): body, lungs, vertebral column,
   midline. A scan with neither lungs nor a vertebral column shows no trunk:
   no liver in this scan.
3. Where the liver must be: the right upper abdomen, i.e. on the patient's
   right of the midline, in front of the vertebral bodies, in the slab from
   ``search_below_lung_mm`` below to ``search_above_lung_mm`` above the lowest
   point of the right lung (the right hemidiaphragm lies on the liver); without
   lungs in the field of view, the top ``search_top_mm`` of the scan.
4. Intensity model: the liver level is the histogram mode of the soft tissue
   (``soft_tissue_hu``) in that region, where the liver is the dominant organ;
   its spread ``sd`` is 1.4826 x the median absolute deviation of the values
   within 40 HU of the mode. Parenchyma band: level +- max(``band_hu``,
   ``band_sd`` x sd).
5. Liver core: the band eroded by ``core_mm`` (cuts the band's thin bridges
   to neighbouring organs of similar attenuation: spleen, heart, bowel,
   vessels, muscle), and of its connected regions the one with the most
   volume in the search region.
6. Liver: the band within ``growth_mm`` of the core, connected to it
   (restores the eroded rim, leaks at most ``growth_mm`` into a touching
   organ); then a closing by ``closing_mm`` restricted to non-fat tissue and
   hole filling (3D and per axial slice) put back lesions and vessels that the
   liver encloses.
7. Lesions at the dome: tissue between the top of the liver and the lowest
   lung above it (at most ``dome_gap_mm`` of it, at least
   ``dome_margin_mm`` below the lung, ``dome_skin_mm`` inside the body) is
   added where it forms compact blobs (thicker than 2 x
   ``dome_min_thickness_mm``, so diaphragm and chest wall are not) of lesion
   attenuation (median within ``dome_lesion_hu`` of the liver level and above
   ``fluid_hu``, so pleural fluid is not). Lesions at the capsule: within
   ``capsule_gap_mm`` of the liver, tissue at least ``capsule_min_contrast_hu``
   darker (not below ``fluid_hu`` or ``dome_lesion_hu`` under the level) or
   brighter (up to the top of ``soft_tissue_hu``) than the liver, each kind
   apart, opened by ``capsule_min_thickness_mm``, is added where a blob's
   principal extents lie within ``capsule_max_elongation`` and at least
   ``capsule_min_contact`` of the voxels around it are liver (a lesion bulging
   from the surface; not a vessel, not an organ beside the liver). Dense
   tissue (above ``soft_tissue_hu``, with the voxels beside it brighter than
   the liver, its partial-volume shell; not the vertebral column): iodised oil
   or calcium, which no organ beside the liver shows, so a deposit at the
   liver's edge is added with ``capsule_dense_min_contact`` of liver around it
   (a deposit at the tip of a lobe has less than half).
8. Plausibility (:func:`check_plausible`): volume, side, attenuation of the
   result, and a parenchyma level that is not water-like; a doubtful mask is
   refused with the reason.
9. Boundary at the input resolution: voxels within one working voxel of the
   working-grid boundary are liver when their lightly smoothed
   (``boundary_smoothing_mm``) value lies on the liver's side of the halfway
   level between the liver and the tissue just outside (the 50 % partial-volume
   boundary).

Limits: a lesion that bulges out of the liver with less than half of its
surroundings liver (a quarter for a dense deposit), or of water-like attenuation, is left outside; intrahepatic and hilar vessels of liver
attenuation (the IVC on unenhanced CT) can be included; a liver whose
parenchyma is not the dominant tissue under the right hemidiaphragm (e.g. a
lesion of over half its volume) is not found or is refused; a liver darker
than ``min_level_hu`` (severe steatosis on unenhanced CT) is refused.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from segmentation.anatomy import Anatomy, AnatomyConfig, locate_anatomy
from segmentation.levels import histogram_mode, label_medians
from segmentation.morphology import (
    bounding_box,
    close_mm,
    components_touching,
    dilate_mm,
    distance_mm,
    erode_mm,
    fill_holes_axial,
    open_mm,
)
from segmentation.working_grid import WorkingGrid, working_grid


@dataclass(frozen=True)
class LiverConfig:
    working_spacing_mm: float = 3.0
    search_below_lung_mm: float = 60.0
    search_above_lung_mm: float = 20.0
    search_top_mm: float = 60.0
    soft_tissue_hu: tuple[float, float] = (-20.0, 250.0)
    band_hu: float = 25.0
    band_sd: float = 2.5
    trend: bool = True
    core_mm: float = 7.5
    min_core_ml: float = 20.0
    growth_mm: float = 9.0
    closing_mm: float = 10.0
    dome_margin_mm: float = 6.0
    dome_gap_mm: float = 60.0
    dome_skin_mm: float = 15.0
    dome_min_thickness_mm: float = 6.0
    dome_lesion_hu: float = 60.0
    fluid_hu: float = 25.0
    capsule_gap_mm: float = 30.0
    capsule_min_thickness_mm: float = 3.0
    capsule_min_contact: float = 0.5
    capsule_min_contrast_hu: float = 15.0
    capsule_max_elongation: float = 2.0
    capsule_dense_min_contact: float = 0.25
    boundary_smoothing_mm: float = 1.0
    # plausibility
    min_volume_ml: float = 600.0  # a liver wholly in the field of view
    min_partial_volume_ml: float = 100.0  # a liver cut by the first or last slice
    max_volume_ml: float = 4000.0
    min_right_fraction: float = 0.55
    min_band_fraction: float = 0.6
    max_bone_fraction: float = 0.02
    #: below this the tissue found is water-like (urine, bile, fluid-filled bowel), not liver parenchyma; only a
    #: severely fatty liver on unenhanced CT is that dark
    min_level_hu: float = 25.0
    #: dense tissue with at least this share of the voxels around it in the liver mask is a deposit, not bone
    deposit_min_contact: float = 0.9


FOUND, ABSENT, REFUSED = "found", "absent", "refused"


@dataclass(frozen=True, eq=False)
class LiverSegmentation:
    outcome: str  # FOUND, ABSENT (no liver in this scan) or REFUSED (implausible result)
    reason: str  # why there is no mask ("" when found)
    mask_zyx: np.ndarray | None = None  # bool, input grid
    level_hu: float | None = None  # median attenuation of the liver core
    sd_hu: float | None = None  # robust SD of the liver core on the working grid
    volume_ml: float | None = None
    partial: bool | None = None  # the liver reaches the first or last slice: not wholly in the field of view

    @property
    def found(self) -> bool:
        return self.outcome == FOUND

    @property
    def headline(self) -> str:
        """What happened in a few words: "liver found", "no liver in this scan" or "liver segmentation refused"."""
        return {FOUND: "liver found", ABSENT: "no liver in this scan"}.get(self.outcome, "liver segmentation refused")

    @property
    def message(self) -> str:
        """One line: the headline and the volume or the reason."""
        return f"{self.headline}: {self.volume_ml:.0f} ml" if self.found else f"{self.headline}: {self.reason}"


def search_region(anatomy: Anatomy, spacing_zyx: tuple[float, float, float], config: LiverConfig) -> np.ndarray:
    """Where the liver must be (step 3 of the module docstring)."""
    nz = anatomy.body_zyx.shape[0]
    right = anatomy.right_of_midline()
    right_lung_slices = np.flatnonzero((anatomy.lungs_zyx & right).any(axis=(1, 2)))
    if right_lung_slices.size:
        base = int(right_lung_slices[0])
        lo = max(0, base - int(round(config.search_below_lung_mm / spacing_zyx[0])))
        hi = min(nz, base + int(round(config.search_above_lung_mm / spacing_zyx[0])) + 1)
    else:
        lo, hi = max(0, nz - int(round(config.search_top_mm / spacing_zyx[0]))), nz
    shape = anatomy.body_zyx.shape
    region = np.zeros(shape, dtype=bool)
    region[lo:hi] = True
    if not np.isnan(anatomy.spine_front_y).all():
        y = np.arange(shape[1])[None, :, None]
        region &= y < anatomy.spine_front_y[:, None, None]
    return region & right & anatomy.body_zyx & ~anatomy.lungs_zyx


def parenchyma_model(values: np.ndarray) -> tuple[float, float] | None:
    """Liver level (histogram mode) and robust SD of the values within 40 HU of it (step 4)."""
    level = histogram_mode(values)
    if level is None:
        return None
    near = values[np.abs(values - level) < 40.0]
    return level, float(1.4826 * np.median(np.abs(near - np.median(near))))


def level_trend(image: np.ndarray, core: np.ndarray, level: float, half_width: float) -> np.ndarray:
    """The liver level as a linear function of position, fitted to the core (beam hardening, perfusion)."""
    zyx = np.argwhere(core).astype(np.float64)
    values = image[core].astype(np.float64)
    design = np.column_stack([np.ones(len(zyx)), zyx - zyx.mean(axis=0)])
    keep = np.ones(len(values), dtype=bool)
    for _ in range(2):  # refit without outliers (vessels, lesions)
        coef = np.linalg.lstsq(design[keep], values[keep], rcond=None)[0]
        residual = values - design @ coef
        keep = np.abs(residual) <= 2.5 * 1.4826 * np.median(np.abs(residual[keep]))
    z, y, x = (i.astype(np.float32) for i in np.ogrid[tuple(slice(0, n) for n in image.shape)])  # broadcast
    c = zyx.mean(axis=0)
    expected = coef[0] + coef[1] * (z - c[0]) + coef[2] * (y - c[1]) + coef[3] * (x - c[2])
    return np.clip(expected, level - half_width, level + half_width, out=expected).astype(np.float32)


def _core(band: np.ndarray, region: np.ndarray, grid: WorkingGrid, config: LiverConfig) -> np.ndarray | str:
    """The liver core (step 5), or why there is none."""
    labels, n = ndimage.label(erode_mm(band, config.core_mm, grid.spacing_zyx))
    overlap = np.bincount(labels[region], minlength=n + 1)
    overlap[0] = 0
    best = int(np.argmax(overlap))
    if n == 0 or overlap[best] * grid.voxel_ml < config.min_core_ml:
        return (
            "no organ of liver attenuation fills the right upper abdomen "
            f"(largest: {overlap[best] * grid.voxel_ml:.0f} ml, at least {config.min_core_ml:.0f} ml needed)"
        )
    return labels == best


def _diaphragm_height(lungs: np.ndarray, spacing_zyx: tuple[float, float, float]) -> np.ndarray | None:
    """Per (y, x) column, the z index of the lowest lung voxel; where no lung lies above, a smooth
    interpolation of it (Gaussian-weighted mean, sigma 20 mm, of the columns with lung)."""
    has = lungs.any(axis=0)
    if has.sum() < 10:
        return None
    lowest = np.argmax(lungs, axis=0).astype(float)
    sigma = [20.0 / s for s in spacing_zyx[1:]]
    weight = ndimage.gaussian_filter(has.astype(float), sigma, mode="constant")
    spread = ndimage.gaussian_filter(np.where(has, lowest, 0.0), sigma, mode="constant")
    nearest = ndimage.distance_transform_edt(~has, return_distances=False, return_indices=True)
    height = np.where(weight > 1e-3, spread / np.maximum(weight, 1e-3), lowest[tuple(nearest)])
    return np.where(has, lowest, height)


def inside_trunk(anatomy: Anatomy, spacing_zyx: tuple[float, float, float], config: LiverConfig) -> np.ndarray:
    """Where a lesion added to the liver may lie: not lung, at least ``dome_skin_mm`` inside the body."""
    return ~anatomy.lungs_zyx & (distance_mm(anatomy.body_zyx, spacing_zyx) >= config.dome_skin_mm)


def dome_lesions(
    liver: np.ndarray,
    image: np.ndarray,
    anatomy: Anatomy,
    grid: WorkingGrid,
    level: float,
    config: LiverConfig,
    inside: np.ndarray | None = None,
) -> np.ndarray:
    """Compact lesion-like tissue between the top of the liver and the lung above it (step 7); ``inside``:
    :func:`inside_trunk` (computed when not given)."""
    height = _diaphragm_height(anatomy.lungs_zyx, grid.spacing_zyx)
    if height is None:
        return np.zeros(liver.shape, dtype=bool)
    sp = grid.spacing_zyx
    nz = liver.shape[0]
    has = liver.any(axis=0)
    top = np.where(has, nz - 1 - np.argmax(liver[::-1], axis=0), -1)
    limit = height - config.dome_margin_mm / sp[0]
    columns = has & (limit - top <= config.dome_gap_mm / sp[0])
    z = np.arange(nz)[:, None, None]
    candidate = (
        columns[None]
        & (z > top[None])
        & (z <= limit[None])
        & (image > config.soft_tissue_hu[0])
        & (image < level + config.dome_lesion_hu)
        & (inside_trunk(anatomy, sp, config) if inside is None else inside)
    )
    candidate = components_touching(candidate | liver, liver) & candidate
    candidate = open_mm(candidate, config.dome_min_thickness_mm, sp)
    labels, n = ndimage.label(candidate)
    if n == 0:
        return candidate
    medians = label_medians(image, labels, n)
    low = max(level - config.dome_lesion_hu, config.fluid_hu)
    keep = [k + 1 for k, m in enumerate(np.atleast_1d(medians)) if low <= m <= level + config.dome_lesion_hu]
    return np.isin(labels, keep)


def capsule_lesions(
    liver: np.ndarray,
    image: np.ndarray,
    anatomy: Anatomy,
    grid: WorkingGrid,
    level: float,
    config: LiverConfig,
    inside: np.ndarray | None = None,
) -> np.ndarray:
    """Compact lesion-like tissue against the liver's surface, mostly enclosed by the liver (step 7); ``inside``:
    :func:`inside_trunk` (computed when not given)."""
    sp = grid.spacing_zyx
    near = (
        dilate_mm(liver, config.capsule_gap_mm, sp)
        & ~liver
        & (inside_trunk(anatomy, sp, config) if inside is None else inside)
    )
    darker = (image >= max(level - config.dome_lesion_hu, config.fluid_hu)) & (
        image <= level - config.capsule_min_contrast_hu
    )
    brighter = (image >= level + config.capsule_min_contrast_hu) & (image <= config.soft_tissue_hu[1])
    dense = image > config.soft_tissue_hu[1]
    dense |= ndimage.binary_dilation(dense) & (image >= level + config.capsule_min_contrast_hu)  # its shell
    if anatomy.spine_zyx is not None:
        dense &= ~anatomy.spine_zyx
    out = np.zeros(liver.shape, dtype=bool)
    kinds = (
        (darker, config.capsule_min_contact),
        (brighter, config.capsule_min_contact),
        (dense, config.capsule_dense_min_contact),
    )
    for kind, contact in kinds:  # apart: a dark lesion is not joined to a bright organ beside it
        candidate = open_mm(near & kind, config.capsule_min_thickness_mm, sp)
        candidate = components_touching(candidate | liver, liver) & candidate
        labels, _ = ndimage.label(candidate)
        for k, box in enumerate(ndimage.find_objects(labels), start=1):
            if box is not None and _enclosed_blob(labels, k, box, liver, sp, config.capsule_max_elongation, contact):
                out[box] |= labels[box] == k
    return out


def _enclosed_blob(
    labels: np.ndarray,
    k: int,
    box: tuple[slice, ...],
    liver: np.ndarray,
    spacing_zyx: tuple[float, float, float],
    max_elongation: float,
    min_contact: float,
) -> bool:
    """Whether region ``k`` of ``labels`` is compact (its longest principal extent at most ``max_elongation``
    times its shortest) and the liver makes at least ``min_contact`` of the voxels just around it."""
    grown = tuple(slice(max(b.start - 1, 0), b.stop + 1) for b in box)
    part = labels[grown] == k
    points = np.argwhere(part) * np.asarray(spacing_zyx)
    if len(points) < 4:  # (most regions: checked before the ring, which costs a dilation)
        return False
    ring = ndimage.binary_dilation(part) & ~part
    if float((ring & liver[grown]).sum()) < min_contact * float(ring.sum()):
        return False
    extent = np.sqrt(np.maximum(np.linalg.eigvalsh(np.cov(points.T)), 1e-6))
    return bool(extent[-1] <= max_elongation * extent[0])


def check_plausible(
    liver: np.ndarray,
    image: np.ndarray,
    anatomy: Anatomy,
    band: np.ndarray,
    grid: WorkingGrid,
    config: LiverConfig,
    level: float,
) -> tuple[bool, list[str]]:
    """Whether the working-grid mask is partial, and the reasons it is doubtful (none: plausible).

    Checks: volume within [``min_volume_ml``, ``max_volume_ml``] (the lower
    bound is ``min_partial_volume_ml`` when the liver reaches the first or last
    slice); at least ``min_right_fraction`` of it on the patient's right; at
    least ``min_band_fraction`` of it at parenchyma attenuation; at most
    ``max_bone_fraction`` of it above 300 HU (bone or oral contrast; a deposit
    in the liver, see :func:`liver_deposits`, does not count); the
    parenchyma's ``level`` (HU) at least ``min_level_hu`` (not water-like: in a
    scan that shows only the lowest part of the liver, bladder and fluid-filled
    bowel can fill the right abdomen).
    """
    volume = float(liver.sum()) * grid.voxel_ml
    slices = np.flatnonzero(liver.any(axis=(1, 2)))
    partial = bool(slices[0] == 0 or slices[-1] == liver.shape[0] - 1)
    low = config.min_partial_volume_ml if partial else config.min_volume_ml
    reasons = []
    if volume < low:
        where = "of a liver cut by the field of view" if partial else "for a whole liver"
        reasons.append(f"volume {volume:.0f} ml is too small {where} (< {low:.0f} ml)")
    if volume > config.max_volume_ml:
        reasons.append(f"volume {volume:.0f} ml is too large (> {config.max_volume_ml:.0f} ml): leak into other organs")
    right = float((liver & anatomy.right_of_midline()).sum()) / max(int(liver.sum()), 1)
    if right < config.min_right_fraction:
        reasons.append(f"only {100 * right:.0f} % of it lies on the patient's right")
    in_band = float((liver & band).sum()) / max(int(liver.sum()), 1)
    if in_band < config.min_band_fraction:
        reasons.append(f"only {100 * in_band:.0f} % of it has the attenuation of liver parenchyma")
    dense = image > 300.0
    bone = float((liver & dense).sum()) / max(int(liver.sum()), 1)
    if bone > config.max_bone_fraction:  # (only then can the deposits matter)
        deposits = liver_deposits(dense, liver, anatomy, config.deposit_min_contact)
        bone = float((liver & dense & ~deposits).sum()) / max(int(liver.sum()), 1)
    if bone > config.max_bone_fraction:
        reasons.append(f"{100 * bone:.1f} % of it is above 300 HU (bone or contrast, not a deposit it encloses)")
    if level < config.min_level_hu:
        reasons.append(
            f"its attenuation ({level:.0f} HU) is water-like (< {config.min_level_hu:.0f} HU): urine, bile or bowel "
            "content, not liver parenchyma (a severely fatty liver can be this dark: give its mask with --liver-mask)"
        )
    return partial, reasons


def liver_deposits(dense: np.ndarray, liver: np.ndarray, anatomy: Anatomy, min_contact: float) -> np.ndarray:
    """The dense tissue (``dense``: above 300 HU) that is a deposit in the liver (iodised oil, calcification):
    each connected region of it (26-connectivity, over the whole image, so that a rib or a loop of bowel with
    oral contrast is one region with its part outside the liver) outside the vertebral column with at least
    ``min_contact`` of the voxels just around it in the liver mask."""
    out = np.zeros(dense.shape, dtype=bool)
    labels, _ = ndimage.label(dense, np.ones((3, 3, 3), dtype=bool))
    spine = anatomy.spine_zyx if anatomy.spine_zyx is not None else np.zeros(dense.shape, dtype=bool)
    objects = ndimage.find_objects(labels)
    for k in np.unique(labels[liver & dense]):
        box = tuple(slice(max(b.start - 1, 0), b.stop + 1) for b in objects[k - 1])
        region = labels[box] == k
        if (region & spine[box]).any():
            continue
        ring = ndimage.binary_dilation(region) & ~region
        if (ring & liver[box]).sum() >= min_contact * ring.sum():
            out[box] |= region
    return out


def _nearest_values(image: np.ndarray, where: np.ndarray, spacing_zyx: tuple[float, float, float]) -> np.ndarray:
    """Every voxel's value of ``image`` at the nearest voxel of ``where`` (its own where it is in ``where``).

    The nearest such voxel of a voxel not in ``where`` lies in the bounding box of those (grown by one voxel),
    the only part computed.
    """
    values = image.copy()
    if where.all():
        return values
    box = bounding_box(~where, margin=1)
    nearest = ndimage.distance_transform_edt(
        ~where[box], sampling=spacing_zyx, return_distances=False, return_indices=True
    )
    values[box] = image[box][tuple(nearest)]
    return values


def refine_boundary(
    image_zyx: np.ndarray,
    spacing_zyx: tuple[float, float, float],
    liver: np.ndarray,
    grid: WorkingGrid,
    level: float,
    smoothing_mm: float,
) -> np.ndarray:
    """The working-grid mask on the input grid with its boundary placed at input resolution (step 9)."""
    if grid.factors_zyx == (1, 1, 1):
        return grid.to_input(liver)
    sp = grid.spacing_zyx
    far = ~dilate_mm(liver, 1.5 * max(sp), sp)  # outside, clear of partial volume with the liver
    outside = _nearest_values(grid.image_zyx, far, sp)
    box = bounding_box(liver, margin=2)
    structure = ndimage.generate_binary_structure(3, 1)
    inner = ndimage.binary_erosion(liver[box], structure)
    band = ndimage.binary_dilation(liver[box], structure) & ~inner
    fine_box = grid.input_slices(box)

    def up(a: np.ndarray) -> np.ndarray:
        for axis, f in enumerate(grid.factors_zyx):
            a = np.repeat(a, f, axis=axis)
        return a

    sigma = [smoothing_mm / s if s < 2.0 * smoothing_mm else 0.0 for s in spacing_zyx]
    fine = ndimage.gaussian_filter(image_zyx[fine_box].astype(np.float32), sigma, mode="nearest")
    halfway = up((level + outside[box]) / 2.0)
    darker_outside = up(outside[box] < level)
    decided = np.where(darker_outside, fine >= halfway, fine <= halfway)
    mask = np.where(up(band), decided, up(inner))
    mask = ndimage.binary_opening(mask, structure) | up(inner)
    mask = fill_holes_axial(components_touching(mask, up(inner)))
    full = np.zeros(image_zyx.shape, dtype=bool)
    full[fine_box] = mask
    return full


def segment_liver(
    image_zyx: np.ndarray,
    spacing_zyx: tuple[float, float, float],
    config: LiverConfig | None = None,
    anatomy_config: AnatomyConfig | None = None,
) -> LiverSegmentation:
    """Liver mask of a CT in LPS orientation, or the reason there is none (see module docstring)."""
    config = config or LiverConfig()
    grid = working_grid(np.asarray(image_zyx), tuple(float(s) for s in spacing_zyx), config.working_spacing_mm)  # type: ignore[arg-type]
    image, sp = grid.image_zyx, grid.spacing_zyx
    anatomy = locate_anatomy(image, sp, anatomy_config)
    if not anatomy.has_trunk:
        return LiverSegmentation(ABSENT, "it shows neither lungs nor a vertebral column (not a trunk)")
    region = search_region(anatomy, sp, config)
    lo, hi = config.soft_tissue_hu
    model = parenchyma_model(image[region & (image > lo) & (image < hi)])
    if model is None:
        return LiverSegmentation(ABSENT, "no soft tissue in the right upper abdomen")
    level, sd = model
    half_width = max(config.band_hu, config.band_sd * sd)
    band = (np.abs(image - level) <= half_width) & anatomy.body_zyx
    core = _core(band, region, grid, config)
    if isinstance(core, np.ndarray) and config.trend:
        expected = level_trend(image, core, level, half_width)
        band = (np.abs(image - expected) <= half_width) & anatomy.body_zyx
        core = _core(band, core & region if (core & region).any() else region, grid, config)
    if isinstance(core, str):
        return LiverSegmentation(ABSENT, core)
    liver = components_touching(band & dilate_mm(core, config.growth_mm, sp), core)
    tissue = (image > lo) & (image < 400.0) & anatomy.body_zyx & ~anatomy.lungs_zyx
    liver = fill_holes_axial(liver | (close_mm(liver, config.closing_mm, sp) & tissue))
    inside = inside_trunk(anatomy, sp, config)
    liver |= dome_lesions(liver, image, anatomy, grid, level, config, inside)
    liver |= capsule_lesions(liver, image, anatomy, grid, level, config, inside)
    liver = components_touching(ndimage.binary_opening(liver) | core, core)
    liver = fill_holes_axial(liver)
    core_values = image[core]
    level = float(np.median(core_values))
    sd = float(1.4826 * np.median(np.abs(core_values - level)))
    partial, doubts = check_plausible(liver, image, anatomy, band, grid, config, level)
    if doubts:
        return LiverSegmentation(REFUSED, "; ".join(doubts))
    mask = refine_boundary(np.asarray(image_zyx), spacing_zyx, liver, grid, level, config.boundary_smoothing_mm)
    volume = float(mask.sum()) * float(np.prod(spacing_zyx)) / 1000.0
    return LiverSegmentation(FOUND, "", mask, level, sd, volume, partial)
