"""Seeded CT lesion segmentation for any appearance: hypo-, iso- or hyperdense, rim-enhancing, mottled, dense.

The lesion is what differs from the liver around the seed, delineated where its edge is:

1. **Crop** around the seed (40 mm half-size, grown by 1.6x up to 100 mm while the lesion reaches the crop;
   with a reader's line: 0.75 x its length + 15 mm around its middle), on block means of about 1.5 mm.
2. **Allowed region** (with an organ, the liver): the organ mask closed by 15 mm (or half the reader's line),
   holes filled, grown by 3 mm; when the seed lies outside that (an organ mask that left a large tumour at
   its border out), or when more than 15 % of the region found in step 3 borders on soft tissue outside it
   (the organ mask stopped at the lesion, not the lesion's edge), the organ's convex hull on every axial
   slice, grown by 3 mm, is added.
3. **Region** (:mod:`segmentation.lesion_region`): the liver's level and spread at the region's scale, the
   connected dark-or-bright tissue at the seed, polarity rules for rims, calcifications and deposits, cut
   at thin bridges and necks, holes filled; computed at 2.5 mm and again at a scale of a quarter of its
   equivalent radius (2.5-5 mm), with the liver level taken from a 3-12 mm shell around it.
4. **Edge** (:mod:`segmentation.lesion_edge`): from the region's centroid, a star-shaped extent
   (spherical-harmonic fit of the region's exit radii, capped by the reader's line), then four passes of
   ray-wise half-level crossings on the 0.7 mm-smoothed image with a closing inner window, each fitted by
   spherical harmonics of a degree chosen by the data (:func:`segmentation.rays.fit_radii_selected`); an
   enclosing shell of the other polarity (an enhancing rim, tumour around a deposit) is added; the
   half-level surface is moved out by the curvature shift of the blur (:func:`blur_correction_mm`); when the
   tissue just outside is not liver-like or a fainter layer of the lesion's own kind (a viable periphery around
   a necrotic core), the edge between that layer and the liver, found the same way from 3.5 mm further out
   and at most max(8 mm, half the radius) beyond the first, is the outline when it shows on half of it and
   the tissue beyond it, seen on a third of the outline at least, passes the checks below. That next edge is
   also looked for when the first edge passes the checks but more than a third of the outline has unlike
   tissue just outside it: when the next edge passes them too and holds at least 1.2 times the first one's
   volume, the two edges are two plausible outlines (a darker part inside a fainter periphery, its contrast
   lowered at another phase) and the lesion is refused rather than measured by either.
5. **Mask**: partial-volume fractions of the fitted star surface (sub-voxel sampling 0.4 mm).

Self-checks, each a refusal (``not_found`` with the reason) rather than a wrong number: less than half of
the outline shows an edge against its surroundings; a predicted volume uncertainty above 30 % (1 sd, from
the radii's residual spread and the number of independent rays); more than half of the outline has tissue
just outside it (2-5 mm) that is not liver-like either (the edge found lies inside the lesion: a necrotic
centre inside its rim, a deposit inside its tumour); a fainter layer of the lesion's own kind all around the
outline (the median over the outline of that tissue's difference from the liver, signed by the lesion's
polarity, above a quarter of the liver tolerance and 5 HU: a hypodense halo around a necrotic core, whose
outer boundary is not clear); a volume below 0.03 ml; a confidence below 0.8; with a reader's line and an organ (a liver target), a longest axial diameter more than 4 mm and 15 % of the
line's length away from it, or the middle 80 % of the line running more than max(2.5 mm, 10 % of its length)
outside the outline (:func:`line_agreement`: the outline ends at an edge inside the lesion, such as a
texture edge of a mottled lesion; without an organ the line may be a lymph node's short axis).
The confidence is ``min(1, edge fraction / 0.9) * sqrt(clip(median edge contrast / tol, 0, 1)) *
sqrt(1 - volume sd / 30 %)``.

Dense tissue (iodised oil after chemoembolisation, calcification: at least 3 voxels more than ``dense_hu``
above the liver's level, on the image smoothed by 0.7 voxel, in the lesion found or, when none was found, in
the liver within 10 mm of the seed): the segmentation is run again with the dense tissue folded below the
liver's level (:func:`fold_dense`), so that a deposit and the tumour around it are one lesion of one
polarity, delineated against the liver; that result is kept when a lesion is found with a confidence of at
least ``min_folded_confidence`` (0.95: the folded image is a model, so its result must be clear-cut), at
most 3 % of its outline's volume is fat outside the organ (:func:`fat_outside_organ`: a deposit's ring at the
capsule folded with the fat's level leaks across it) and its tissue beside the dense part is seen as lesion in
the image itself: when that tissue (beyond the dense tissue's ring of 4 voxels) is at least 20 % of the
outline's volume, at most 60 % of it may be liver-like (:func:`liver_like_beside_dense`; more is an outline
placed by the fold's model, not by the tumour's edge).
Otherwise the first result stands, unless more than half of it is dense tissue: a deposit alone is not the
lesion, and it is refused with the reason.

Hints (:class:`segmentation.result.SegmentationHints`): a reader's line places the crop and caps the extent
(the region takes every component its middle 70 % crosses); an organ restricts and calibrates; a search
radius lets a seed mapped from another timepoint find the lesion nearby; a prior (the earlier lesion mapped
to this grid) replaces the seed by the earlier lesion's core and keeps the lesion within 10 mm of it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from measurement.diameters import axial_diameters
from segmentation.lesion_edge import (
    blur_correction_mm,
    crossings,
    enclosing_shell,
    surroundings_unlike_liver,
)
from segmentation.lesion_region import (
    NO_LESION,
    CoarseGrid,
    Parenchyma,
    block_mean,
    coarse_grid,
    exit_radii,
    lesion_region,
    organ_allowed,
    organ_hull_allowed,
    parenchyma,
    shell_level,
    touches_crop,
)
from segmentation.levels import histogram_mode
from segmentation.morphology import bounding_box
from segmentation.rays import (
    DirectionSet,
    fit_radii,
    fit_radii_selected,
    radius_from_coef,
    rasterise_star,
    star_volume_mm3,
)
from segmentation.result import LesionPrior, LesionSegmentation, OrganModel, SegmentationHints, not_found
from segmentation.surface import fibonacci_sphere, real_sh

Vec3 = tuple[float, float, float]


@dataclass(frozen=True)
class SeededCtConfig:
    """Parameters (mm, HU); see the module docstring for where each acts."""

    coarse_mm: float = 1.5
    sample_smoothing_mm: float = 2.0
    region_smoothing_mm: float = 2.5
    max_region_smoothing_mm: float = 5.0
    edge_smoothing_mm: float = 0.7
    initial_half_mm: float = 40.0
    max_half_mm: float = 100.0
    seed_radius_mm: float = 2.5
    parenchyma_k: float = 2.5
    min_parenchyma_hu: float = 6.0
    fat_hu: float = -50.0
    organ_margin_mm: float = 3.0
    organ_close_mm: float = 15.0
    prior_margin_mm: float = 10.0
    extent_directions: int = 300
    edge_reach_mm: float = 4.0
    assumed_psf_mm: float = 0.6
    blur_correction: float = 0.6
    min_edge_fraction: float = 0.5
    max_rel_volume_sd: float = 0.3
    min_confidence: float = 0.8
    min_volume_ml: float = 0.03
    out_sub_voxel_mm: float = 0.4
    outside_smoothing_mm: float = 1.5
    outside_window_mm: tuple[float, float] = (2.0, 5.0)
    max_unlike_outside: float = 0.5
    # above this share, the next edge out is looked for even when the first edge passes the checks
    outer_search_unlike: float = 0.35
    # a second edge that passes the checks too, with this times the first edge's volume or more: ambiguous
    ambiguous_volume_ratio: float = 1.2
    max_cut_by_organ: float = 0.15
    max_halo: float = 0.25
    min_halo_hu: float = 5.0
    dense_hu: float = 150.0
    fold_hu: float = 40.0
    min_folded_confidence: float = 0.95
    #: a folded outline may hold at most this share of fat outside the organ (below ``fat_hu`` at
    #: ``outside_smoothing_mm``)
    max_fat_outside: float = 0.03
    #: a folded outline whose soft tissue (beyond the dense tissue's ring) is at least ``min_soft_share`` of its
    #: volume may hold at most ``max_liver_like`` of it liver-like (within the tolerance of the liver's level)
    min_soft_share: float = 0.2
    max_liver_like: float = 0.6
    #: a reader's line and the longest axial diameter delineated may differ by at most this many mm or this share
    #: of the line, whichever is larger (readers' own lines vary by a few mm)
    line_tolerance_mm: float = 4.0
    line_tolerance: float = 0.15
    #: the middle ``line_middle`` of a reader's line may run outside the outline by at most this many mm or this
    #: share of the line, whichever is larger (its end points vary by a mm or two)
    line_middle: float = 0.8
    line_outside_mm: float = 2.5
    line_outside: float = 0.1


def organ_model(image_zyx: np.ndarray, spacing_zyx: tuple[float, float, float], mask_zyx: np.ndarray) -> OrganModel:
    """The organ's parenchyma level: histogram mode of its voxels averaged in blocks of about 3 mm."""
    from segmentation.lesion_region import block_mean

    f = np.array([max(1, int(round(3.0 / s))) for s in spacing_zyx])
    img = block_mean(np.asarray(image_zyx), f)
    org = block_mean(np.asarray(mask_zyx), f)  # a boolean or integer mask summed as it is, without a float copy
    values = img[org > 0.99]
    level = histogram_mode(values[(values > -20.0) & (values < 300.0)], bin_hu=1.0)
    if level is None:
        raise ValueError("the organ mask holds too little soft tissue to estimate its level")
    return OrganModel(np.asarray(mask_zyx, dtype=bool), float(level))


def _crop(
    shape: tuple[int, ...], centre: np.ndarray, half_mm: float, spacing: np.ndarray
) -> tuple[slice, slice, slice]:
    out = []
    for c, s, n in zip(centre, spacing, shape):
        r = int(np.ceil(half_mm / s))
        c = int(round(float(c)))
        out.append(slice(max(c - r, 0), min(c + r + 1, n)))
    return tuple(out)  # type: ignore[return-value]


def _factor(grid: object, spacing: np.ndarray) -> np.ndarray:
    return np.rint(np.asarray(grid.spacing) / spacing).astype(int)  # type: ignore[attr-defined]


def _prior_points(
    prior: LesionPrior, spacing: np.ndarray, margin_mm: float
) -> tuple[np.ndarray | None, np.ndarray, float, float]:
    """Up to 25 points of the earlier lesion's core (its deepest point first, then points of its deeper half),
    the crop centre, half-size and the radius around it left out of the liver's level."""
    mask = np.asarray(prior.mask_zyx, dtype=bool)
    nz = np.argwhere(mask)
    if not len(nz):
        return None, np.zeros(3), 0.0, 0.0
    lo, hi = nz.min(axis=0), nz.max(axis=0) + 1
    sub = mask[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
    depth = ndimage.distance_transform_edt(np.pad(sub, 1), sampling=spacing)[1:-1, 1:-1, 1:-1]
    deepest = np.unravel_index(int(np.argmax(depth)), depth.shape) + lo
    core = np.argwhere(depth >= 0.5 * depth.max()) + lo
    pick = np.vstack([deepest[None], core[np.linspace(0, len(core) - 1, min(24, len(core))).astype(int)]]).astype(float)
    extent = float(np.max((hi - lo) * spacing))
    centre = (lo + hi - 1) / 2.0
    return pick, centre, 0.5 * extent + margin_mm + 15.0, 0.5 * extent + 3.0


def _cut_by_organ(region: np.ndarray, grid: CoarseGrid, w: np.ndarray, fat_hu: float) -> float:
    """Share of the region's outer surface (the blocks just outside it) that lies outside the allowed organ
    region in soft tissue (not fat or air): where the organ's mask, not the lesion's edge, stopped it."""
    ring = ndimage.binary_dilation(region) & ~region
    if not ring.any():
        return 0.0
    cut = (grid.allowed < 0.5) & (w > fat_hu)
    return float(np.mean(cut[ring]))


def fold_dense(
    image_zyx: np.ndarray,
    spacing_zyx: np.ndarray,
    level_hu: float,
    dense_hu: float,
    fold_hu: float,
    ring_voxels: int = 3,
) -> np.ndarray:
    """Dense tissue shown as lesion tissue darker than the liver (HU).

    A tumour holding a deposit of iodised oil or calcium is darker than the liver where it is tumour and far
    brighter where it is deposit; folded, it is one region darker than the liver, whose edge against the liver
    is found as for a hypodense lesion. With ``e = I - B`` (``B``: the liver's level), the dense voxels are those
    with ``e > dense_hu`` and ``E`` is their median ``e``. The voxels within ``ring_voxels`` (city-block) of a
    dense voxel hold part deposit, part other tissue (partial volume and the scanner's blur); the other tissue's
    level ``o`` is taken from the voxels at least one voxel farther out (Gaussian of 1.5 mm, normalised over
    them), where no deposit shows. Each dense or ringed voxel with ``e > o`` holds the share
    ``a = clip((e - o) / (E - o), 0, 1)`` of deposit, shown at ``-fold_hu``: ``B + (1 - a) o - a fold_hu``.
    Every other voxel keeps its value. Where a deposit meets the liver the folded profile crosses its half-way
    level where the deposit's share is one half, as the image does; where it meets tumour, no liver-like layer is
    left between them.
    """
    excess = np.asarray(image_zyx, dtype=np.float32) - np.float32(level_hu)
    dense = excess > dense_hu
    if not dense.any():
        return np.asarray(image_zyx, dtype=np.float32)
    typical = float(np.median(excess[dense]))
    near = ndimage.binary_dilation(dense, iterations=ring_voxels) | dense
    beyond = ndimage.binary_dilation(near)
    other = (~beyond).astype(np.float32)
    sigma = [1.5 / s for s in spacing_zyx]
    weight = ndimage.gaussian_filter(other, sigma, mode="nearest")
    local = ndimage.gaussian_filter(np.where(beyond, 0.0, excess).astype(np.float32), sigma, mode="nearest")
    o = np.where(weight > 1e-3, local / np.maximum(weight, 1e-3), 0.0)[near]
    e = excess[near]
    share = np.clip((e - o) / np.maximum(typical - o, 1.0), 0.0, 1.0)
    out = np.array(image_zyx, dtype=np.float32)
    out[near] = np.where(e > o, level_hu + (1.0 - share) * o - share * fold_hu, out[near])
    return out


def fat_outside_organ(smoothed_zyx: np.ndarray, inside: np.ndarray, organ_zyx: np.ndarray, fat_hu: float) -> float:
    """Share of an outline's voxels (``inside``) that are fat (``smoothed_zyx`` below ``fat_hu``) outside the
    organ (``organ_zyx`` < 0.5): where the outline has crossed the organ's border into the fat around it. Fat
    within the organ's mask (a fat-containing lesion) is not counted; 0 for an empty outline."""
    if not inside.any():
        return 0.0
    fat = (np.asarray(smoothed_zyx)[inside] < fat_hu) & (np.asarray(organ_zyx)[inside] < 0.5)
    return float(np.mean(fat))


def liver_like_beside_dense(
    image_zyx: np.ndarray,
    inside: np.ndarray,
    spacing_zyx: np.ndarray,
    level_hu: float,
    background_hu: float,
    tol_hu: float,
    config: SeededCtConfig,
    ring_voxels: int = 4,
) -> tuple[float, float]:
    """What a folded outline holds beside its dense tissue, as the image shows it: the share of the outline's
    voxels (``inside``) beyond the dense tissue's ring (``ring_voxels``, city-block, around the voxels more than
    ``config.dense_hu`` above ``level_hu``), and the share of those within ``tol_hu`` of ``background_hu`` on the
    image smoothed by ``config.outside_smoothing_mm`` with the dense tissue and its ring left out (normalised
    convolution). A tumour around a deposit is darker than the liver; an outline whose tissue beside the deposit
    is mostly liver-like has been placed by the fold's model, not by the tumour's edge."""
    box = bounding_box(inside, margin=[int(np.ceil(6.0 / s)) for s in spacing_zyx])
    image = np.asarray(image_zyx[box], dtype=np.float32)
    hidden = ndimage.binary_dilation(image - level_hu > config.dense_hu, iterations=ring_voxels)
    soft = inside[box] & ~hidden
    total = int(inside.sum())
    if not total or not soft.any():
        return 0.0, 0.0
    sigma = [config.outside_smoothing_mm / s for s in spacing_zyx]
    weight = ndimage.gaussian_filter((~hidden).astype(np.float32), sigma, mode="nearest")
    seen = ndimage.gaussian_filter(np.where(hidden, 0.0, image).astype(np.float32), sigma, mode="nearest")
    seen = seen[soft] / np.maximum(weight[soft], 1e-3)
    return float(soft.sum()) / total, float(np.mean(np.abs(seen - background_hu) <= tol_hu))


def _dense_share(image_zyx: np.ndarray, result: LesionSegmentation, threshold_hu: float) -> float:
    """Share of a lesion's voxels (fraction >= 0.5) above ``threshold_hu``."""
    assert result.mask_zyx is not None
    inside = result.mask_zyx >= 0.5
    return float(np.mean(np.asarray(image_zyx[result.box])[inside] > threshold_hu)) if inside.any() else 0.0


def _dense_near(
    image_zyx: np.ndarray,
    spacing: np.ndarray,
    seed: np.ndarray,
    result: LesionSegmentation,
    organ: OrganModel | None,
    threshold_hu: float,
    reach_mm: float = 10.0,
    min_voxels: int = 3,
) -> bool:
    """True when at least ``min_voxels`` voxels above ``threshold_hu`` (on the image smoothed by a Gaussian of
    0.7 voxel) lie inside the lesion found or, when none was found, inside the organ within ``reach_mm`` of the
    seed."""
    if organ is None:
        return False
    if result.found and result.mask_zyx is not None:
        box = result.box
        inside = result.mask_zyx >= 0.5
    else:
        box = _crop(image_zyx.shape, seed, reach_mm, spacing)
        inside = np.asarray(organ.mask_zyx[box], dtype=bool)
    # on the image smoothed by 0.7 voxel: a noise spike in an enhancing rim is not dense tissue
    smooth = ndimage.gaussian_filter(np.asarray(image_zyx[box], dtype=np.float32), 0.7, mode="nearest")
    return int(((smooth > threshold_hu) & inside).sum()) >= min_voxels


def line_agreement(
    result: LesionSegmentation,
    spacing_zyx: tuple[float, float, float],
    line_zyx: tuple[Vec3, Vec3],
    config: SeededCtConfig,
) -> LesionSegmentation:
    """``result``, or a refusal when its longest axial diameter and the reader's line (voxel indices z, y, x)
    differ by more than ``config.line_tolerance_mm`` and ``config.line_tolerance`` of the line's length (the
    outline found is then not the lesion the reader measured: a faint rim left out, a neighbour taken in), or when
    the line's middle runs outside the outline (:func:`line_outside_mm`) by more than ``config.line_outside_mm``
    and ``config.line_outside`` of its length (the outline ends at an edge inside the lesion)."""
    assert result.mask_zyx is not None
    line_mm = float(np.linalg.norm(np.subtract(line_zyx[1], line_zyx[0]) * np.asarray(spacing_zyx)))
    found_mm = axial_diameters(result.mask_zyx, spacing_zyx).longest_mm
    if abs(found_mm - line_mm) > max(config.line_tolerance_mm, config.line_tolerance * line_mm):
        return not_found(
            f"the outline found is {found_mm:.1f} mm long where the reader's line is {line_mm:.1f} mm: more than "
            f"{config.line_tolerance_mm:g} mm and {100 * config.line_tolerance:.0f} % apart, so it is not the "
            "lesion the reader measured (a faint part left out, or a neighbour taken in)",
            result.seed_zyx,
        )
    out_mm = line_outside_mm(result.mask_zyx, result.offset_zyx, spacing_zyx, np.asarray(line_zyx), config.line_middle)
    limit_mm = max(config.line_outside_mm, config.line_outside * line_mm)
    if out_mm > limit_mm:
        return not_found(
            f"the middle of the reader's line runs up to {out_mm:.1f} mm outside the outline found (more than "
            f"{limit_mm:.1f} mm): the outline leaves out part of the lesion the reader measured (it ends at an edge "
            "inside the lesion)",
            result.seed_zyx,
        )
    return result


def line_outside_mm(
    fractions_zyx: np.ndarray, offset_zyx: Vec3, spacing_zyx: Vec3, line: np.ndarray, middle: float
) -> float:
    """How far (mm) the middle ``middle`` share of a reader's ``line`` (its two end points as voxel indices z, y,
    x) runs outside an outline at most (its voxels of fraction >= 0.5; ``fractions_zyx`` starts at ``offset_zyx``);
    0 when it lies inside."""
    sp = np.asarray(spacing_zyx, dtype=float)
    a, b = np.asarray(line[0], dtype=float), np.asarray(line[1], dtype=float)
    t = np.linspace(0.5 - 0.5 * middle, 0.5 + 0.5 * middle, 41)[:, None]
    points = a[None] + t * (b - a)[None] - np.asarray(offset_zyx, dtype=float)[None]
    inside = np.asarray(fractions_zyx) >= 0.5
    lo = np.minimum(np.floor(points.min(axis=0)).astype(int), 0) - 2
    hi = np.maximum(np.ceil(points.max(axis=0)).astype(int) + 1, inside.shape) + 2
    grid = np.zeros(tuple(int(v) for v in hi - lo), dtype=bool)
    grid[tuple(slice(int(-l), int(-l) + n) for l, n in zip(lo, inside.shape))] = inside
    if not grid.any():
        return float("inf")
    distance = ndimage.distance_transform_edt(~grid, sampling=sp)
    return float(ndimage.map_coordinates(distance, (points - lo).T, order=1, mode="nearest").max())


def _upsample(coarse: np.ndarray, shape: tuple[int, ...], factor: np.ndarray) -> np.ndarray:
    """A coarse-grid map on the crop's grid (each voxel takes its block's value; the remainder the last)."""
    idx = [np.minimum(np.arange(shape[k]) // int(factor[k]), coarse.shape[k] - 1) for k in range(3)]
    return coarse[np.ix_(*idx)]


class SeededCtSegmenter:
    """Seeded CT lesion segmentation (see module docstring)."""

    name = "ct-seeded"

    def __init__(self, config: SeededCtConfig | None = None) -> None:
        self.config = config or SeededCtConfig()
        #: diagnostics of the last ``segment`` call; not part of the API
        self.debug: dict[str, object] = {}

    uses_hints = True

    def segment(
        self,
        image_zyx: np.ndarray,
        spacing_zyx: tuple[float, float, float],
        seed_zyx: tuple[float, float, float],
        hints: SegmentationHints | None = None,
    ) -> LesionSegmentation:
        """Segment the lesion containing ``seed_zyx`` (continuous voxel index z, y, x); see the module docstring
        for what each of the ``hints`` changes."""
        hints = hints or SegmentationHints()
        result = self._segment(image_zyx, spacing_zyx, seed_zyx, hints)
        if not result.found or hints.long_axis_zyx is None or hints.organ is None:
            return result  # (a line on a target outside an organ may be a lymph node's short axis)
        return line_agreement(result, spacing_zyx, hints.long_axis_zyx, self.config)

    def _segment(
        self,
        image_zyx: np.ndarray,
        spacing_zyx: tuple[float, float, float],
        seed_zyx: tuple[float, float, float],
        hints: SegmentationHints,
    ) -> LesionSegmentation:
        cfg = self.config
        self.debug = {}
        spacing = np.asarray(spacing_zyx, dtype=float)
        seed = np.asarray(seed_zyx, dtype=float)
        seed_t: Vec3 = (float(seed[0]), float(seed[1]), float(seed[2]))
        if image_zyx.ndim != 3 or not (np.all(seed >= -0.5) and np.all(seed <= np.asarray(image_zyx.shape) - 0.5)):
            return not_found("seed lies outside the image", seed_t)
        line = None if hints.long_axis_zyx is None else np.asarray(hints.long_axis_zyx, dtype=float)
        length = None
        start, half, exclude = seed, cfg.initial_half_mm + hints.search_mm, 8.0
        if line is not None:
            length = float(np.linalg.norm((line[1] - line[0]) * spacing))
            start = 0.5 * (line[0] + line[1])
            half = max(0.75 * length + 15.0, 25.0)
            exclude = max(8.0, 0.6 * length)
        prior_points = None
        if hints.prior is not None:
            prior_points, start, half, exclude = _prior_points(hints.prior, spacing, cfg.prior_margin_mm)
            if prior_points is None:
                return not_found("the lesion's earlier extent maps outside this image", seed_t)
        crop = (start, half, exclude)
        first = self._grown(image_zyx, spacing, seed, seed_t, crop, line, length, hints, prior_points, None)
        level = hints.organ.level_hu if hints.organ is not None else None
        if level is None or not _dense_near(image_zyx, spacing, seed, first, hints.organ, level + cfg.dense_hu):
            return first
        # dense tissue (iodised oil, calcification) in or beside the lesion: once more with it shown as the
        # lesion's darkest part, so that the tumour around it and the deposit make one lesion of one polarity
        debug = self.debug
        folded = self._grown(image_zyx, spacing, seed, seed_t, crop, line, length, hints, prior_points, level)
        if folded.found and folded.confidence < cfg.min_folded_confidence:
            # the folded image is a model of the tissue, not the image itself: its result must be clear-cut
            folded = not_found(
                f"with its dense tissue folded, confidence {folded.confidence:.2f} < {cfg.min_folded_confidence:.2f}",
                seed_t,
            )
        if not folded.found:
            self.debug = debug
            if first.found and _dense_share(image_zyx, first, level + cfg.dense_hu) >= 0.5:
                return not_found(
                    "the lesion found is mostly dense tissue (iodised oil or calcium) and the tumour around it "
                    f"could not be delineated ({folded.reason})",
                    seed_t,
                )
            return first
        self.debug["dense_folded"] = True
        return folded

    def _grown(
        self,
        image_zyx: np.ndarray,
        spacing: np.ndarray,
        seed: np.ndarray,
        seed_t: Vec3,
        crop: tuple[np.ndarray, float, float],
        line: np.ndarray | None,
        length: float | None,
        hints: SegmentationHints,
        prior_points: np.ndarray | None,
        fold_level: float | None,
    ) -> LesionSegmentation:
        """The segmentation in a crop grown by 1.6x while the lesion reaches it (up to ``max_half_mm``)."""
        cfg = self.config
        self.debug = {}
        start, half, exclude = crop
        while True:
            out = self._segment_in_crop(
                image_zyx, spacing, seed, seed_t, start, half, exclude, line, length, hints, prior_points, fold_level
            )
            if not isinstance(out, str):
                return out
            if half >= cfg.max_half_mm:
                return not_found(
                    f"no closed lesion boundary within {cfg.max_half_mm:.0f} mm of the seed (the tissue around "
                    "the seed runs on into its surroundings)",
                    seed_t,
                )
            half = min(cfg.max_half_mm, half * 1.6)
            exclude = max(exclude, half / 2.0)

    # ------------------------------------------------------------------ one crop
    def _segment_in_crop(
        self,
        image: np.ndarray,
        sp: np.ndarray,
        seed: np.ndarray,
        seed_t: Vec3,
        start: np.ndarray,
        half: float,
        exclude: float,
        line: np.ndarray | None,
        length: float | None,
        hints: SegmentationHints,
        prior_points: np.ndarray | None,
        fold_level: float | None = None,
    ) -> LesionSegmentation | str:
        """The segmentation, or ``"grow"`` when the lesion reaches the crop; with ``fold_level`` (the liver's
        level), dense tissue is folded below it first (:func:`fold_dense`)."""
        cfg = self.config
        organ = hints.organ
        box = _crop(image.shape, start, half, sp)
        offset = np.array([s.start for s in box])
        raw = np.asarray(image[box], dtype=np.float32)
        original = raw
        if fold_level is not None:
            raw = fold_dense(raw, sp, fold_level, cfg.dense_hu, cfg.fold_hu)
        org = np.asarray(organ.mask_zyx[box], dtype=np.float32) if organ is not None else np.ones(raw.shape, np.float32)
        grid = coarse_grid(raw, org, np.ones(raw.shape, np.float32), sp, cfg.coarse_mm)
        if organ is not None:
            close = max(cfg.organ_close_mm, 0.5 * length if length is not None else 0.0)
            grid = dataclasses.replace(
                grid, allowed=organ_allowed(grid.organ, grid.spacing, close, cfg.organ_margin_mm)
            )
            at = [(seed - offset) * sp] if line is None else [(line[0] + line[1]) / 2.0 * sp - offset * sp]
            if ndimage.map_coordinates(grid.allowed, grid.index(np.asarray(at)).T, order=0, mode="nearest")[0] < 0.5:
                # the organ's mask left the lesion out (a large tumour at its border): the organ's hull
                grid = dataclasses.replace(
                    grid, allowed=organ_hull_allowed(grid.organ, grid.spacing, cfg.organ_margin_mm)
                )
        if hints.prior is not None:
            near_prior = ndimage.distance_transform_edt(~hints.prior.mask_zyx[box], sampling=sp) <= cfg.prior_margin_mm
            grid = dataclasses.replace(
                grid, allowed=grid.allowed * (block_mean(near_prior.astype(np.float32), _factor(grid, sp)) > 0.0)
            )
        allowed = _upsample(grid.allowed, raw.shape, _factor(grid, sp))
        seed_mm = (seed - offset) * sp
        line_mm = None if line is None else (line - offset) * sp
        seed_c = grid.index(seed_mm)
        line_c = None if line_mm is None else grid.index(line_mm)
        if prior_points is not None:
            # the earlier lesion's core stands for the seed: a seed mapped beside the lesion is not followed
            seed_mm = (prior_points[0] - offset) * sp
            seed_c = grid.index(seed_mm)
            line_c = grid.index((prior_points - offset) * sp)
        within = max(5.0, hints.search_mm)
        # the tissue at the seed (and along the reader's line)
        ws = grid.smoothed(cfg.sample_smoothing_mm)
        pts = [seed_mm[None], seed_mm[None] + fibonacci_sphere(26) * cfg.seed_radius_mm]
        if line_mm is not None:
            t = np.linspace(0.15, 0.85, 15)[:, None]
            pts.append(line_mm[0][None] + t * (line_mm[1] - line_mm[0])[None])
        sample = ndimage.map_coordinates(ws, grid.index(np.concatenate(pts)).T, order=1, mode="nearest")
        # stage A: the region, at a scale that grows with the lesion, with the liver level around it
        level0 = None if organ is None else organ.level_hu
        w = grid.smoothed(cfg.region_smoothing_mm)
        w_fine = grid.smoothed(1.0)
        par = parenchyma(w, grid, level0, seed_c, exclude, cfg.fat_hu)

        def region_of(w: np.ndarray, grid: CoarseGrid, par: Parenchyma) -> np.ndarray | str:
            k, min_hu = cfg.parenchyma_k, cfg.min_parenchyma_hu
            return lesion_region(w, grid, par, seed_c, line_c, sample, k, min_hu, cfg.fat_hu, w_fine, within)

        region = region_of(w, grid, par)
        if isinstance(region, str):
            return not_found(region, seed_t, absent=region.startswith(NO_LESION))
        if organ is not None and _cut_by_organ(region, grid, w, cfg.fat_hu) > cfg.max_cut_by_organ:
            # the organ's mask stops at the lesion (a tumour bulging out of the liver): the organ's hull instead
            hull = organ_hull_allowed(grid.organ, grid.spacing, cfg.organ_margin_mm)
            grid = dataclasses.replace(grid, allowed=np.maximum(grid.allowed, hull))
            allowed = _upsample(grid.allowed, raw.shape, _factor(grid, sp))
            region = region_of(w, grid, par)
            if isinstance(region, str):
                return not_found(region, seed_t, absent=region.startswith(NO_LESION))
            self.debug["organ_hull"] = True
        if line is None and touches_crop(region, box, image.shape):
            return "grow"
        r_eq = (3.0 * float(region.sum()) * float(np.prod(grid.spacing)) / (4.0 * np.pi)) ** (1.0 / 3.0)
        sigma = float(np.clip(0.25 * r_eq, cfg.region_smoothing_mm, cfg.max_region_smoothing_mm))
        w = grid.smoothed(sigma)
        par_s = parenchyma(w, grid, level0, seed_c, max(exclude, r_eq + 3.0), cfg.fat_hu)
        par = Parenchyma(shell_level(w, region, grid.spacing, par_s.level_hu, cfg.fat_hu), par_s.sd_hu)
        second = region_of(w, grid, par)
        if not isinstance(second, str) and second.any() and second.sum() <= 1.6 * region.sum():
            region = second  # (a much larger region at the coarser scale has merged with its neighbours)
        if line is None and touches_crop(region, box, image.shape):
            return "grow"
        b = par.level_hu
        tol = max(cfg.parenchyma_k * par.sd_hu, cfg.min_parenchyma_hu)
        sample_level = float(np.median(sample))
        self.debug.update(offset=offset, background=b, background_sd=par.sd_hu, lesion_level=sample_level, sigma=sigma)
        # star-shaped extent from the region's centroid
        dirs = DirectionSet.make(cfg.extent_directions)
        centre = np.argwhere(region).mean(axis=0) * grid.spacing + grid.origin_mm
        radii = exit_radii(region, grid, centre, dirs.u)
        if length is not None:
            inplane = np.sqrt(dirs.u[:, 1] ** 2 + dirs.u[:, 2] ** 2)
            radii = np.minimum(radii, 0.5 * length * (1.25 + 0.45 * (1.0 - inplane)))
        coef, _ = fit_radii(dirs.u, radii, np.ones(len(dirs)), 4, 1e-3)
        radii = np.maximum(radius_from_coef(dirs.u, coef), 0.5)
        self.debug["extent"] = [(centre.copy(), radii.copy(), b)]
        # stage B: the edge, ray by ray
        w1 = ndimage.gaussian_filter(raw, [cfg.edge_smoothing_mm / s for s in sp], mode="nearest")
        r_mean = float(np.mean(radii))
        edirs = DirectionSet.make(int(np.clip(4.0 * np.pi * r_mean**2 / 1.5, 200, 2000)), k=12)
        coef_a, _ = fit_radii(dirs.u, radii, np.ones(len(dirs)), 4, 1e-3, robust=False)
        r_edge = np.maximum(radius_from_coef(edirs.u, coef_a), 0.5)
        l_top = 4 if r_mean < 8 else (6 if r_mean < 20 else 8)
        resolution = max(float(np.sqrt(np.mean(sp**2))), 2.0 * cfg.edge_smoothing_mm)

        def edge_passes(
            r_edge: np.ndarray, windows: tuple[tuple[float, float], ...]
        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, float, float]:
            weight = contrast = np.zeros(len(edirs))
            l_max, sd_r, n_ind = 2, float("inf"), 1.0
            for inner in windows:
                r_new, weight, contrast = crossings(
                    w1, allowed, sp, centre, edirs, r_edge, b, tol, inner, cfg.edge_reach_mm
                )
                n_ind = 4.0 * np.pi * float(np.mean(r_edge)) ** 2 / resolution**2 * max(float(weight.mean()), 0.05)
                coef, l_max, sd_r = fit_radii_selected(
                    edirs.u, r_new, weight + 1e-3, tuple(range(2, l_top + 1, 2)), 1e-4, n_ind
                )
                r_edge = np.maximum(radius_from_coef(edirs.u, coef), 0.3)
            return r_edge, weight, contrast, l_max, sd_r, n_ind

        # the inner window starts deep (stage A ends up to a few mm outside a strong edge) and closes in
        r_edge, weight, contrast, l_max, sd_r, n_ind = edge_passes(
            r_edge, ((3.0, 5.0), (1.5, 3.0), (0.75, 2.25), (0.75, 2.25))
        )
        # an enclosing shell of the other polarity (enhancing rim, tumour around a deposit) belongs to the lesion
        if fold_level is None:
            r_shell, shows = enclosing_shell(w1, sp, centre, edirs, r_edge, b, tol)
        else:  # a folded deposit is the darkest part: nothing of the other polarity encloses it
            r_shell, shows = r_edge, np.zeros(len(edirs))
        self.debug["shell_fraction"] = float(shows.mean())
        if shows.mean() >= 0.5:
            coef, l_max, sd_r = fit_radii_selected(
                edirs.u, r_shell, shows + 1e-3, tuple(range(2, l_top + 1, 2)), 1e-4, n_ind * float(shows.mean())
            )
            r_edge = np.maximum(radius_from_coef(edirs.u, coef), 0.3)
            weight = np.maximum(weight, shows)

        def corrected(r_edge: np.ndarray) -> np.ndarray:
            return r_edge + blur_correction_mm(
                edirs.u, r_edge, sp, cfg.edge_smoothing_mm, cfg.assumed_psf_mm, cfg.blur_correction
            )

        r_final = corrected(r_edge)
        w_out = ndimage.gaussian_filter(raw, [cfg.outside_smoothing_mm / s for s in sp], mode="nearest")
        polarity = -1.0 if sample_level < b else 1.0
        if shows.mean() >= 0.5:
            polarity = -polarity  # the outline is the enclosing shell's outer edge

        def outside(r_final: np.ndarray, polarity: float) -> tuple[float, float, float]:
            return surroundings_unlike_liver(
                w_out, allowed, sp, centre, edirs, r_final, b, tol, cfg.fat_hu, cfg.outside_window_mm, polarity
            )

        unlike, halo, _ = outside(r_final, polarity)
        halo_limit = max(cfg.max_halo * tol, cfg.min_halo_hu)
        self.debug.update(unlike_outside=unlike, halo=halo)
        first_passes = unlike <= cfg.max_unlike_outside and halo <= halo_limit
        if fold_level is None and (unlike > cfg.outer_search_unlike or not first_passes):
            # the lesion goes on beyond the edge found (a fainter periphery around a necrotic core, a rim the
            # shell search missed): its next edge out, between that layer and the liver, when it is clear
            start = r_edge + float(np.mean(cfg.outside_window_mm))
            r_o, weight_o, contrast_o, l_o, sd_o, n_o = edge_passes(start, ((1.0, 3.0), (0.75, 2.25), (0.75, 2.25)))
            # at most max(8 mm, half the radius) further out: a layer, not a neighbour
            r_o = np.clip(r_o, r_edge, r_edge + np.maximum(8.0, 0.5 * r_edge))
            polarity_o = float(np.sign(np.median(contrast_o[weight_o > 0]))) if (weight_o > 0).any() else 0.0
            r_final_o = corrected(r_o)
            unlike_o, halo_o, counted_o = outside(r_final_o, polarity_o or polarity)
            self.debug.update(outer_layer=(float(weight_o.mean()), unlike_o, halo_o, counted_o))
            if (
                weight_o.mean() >= cfg.min_edge_fraction
                and counted_o >= 1.0 / 3.0  # what lies beyond it seen on a third of the outline at least (not
                # all fat, lung or outside the organ)
                and unlike_o <= cfg.max_unlike_outside
                and halo_o <= halo_limit
            ):
                ratio = star_volume_mm3(r_final_o) / star_volume_mm3(r_final)
                if first_passes and ratio >= cfg.ambiguous_volume_ratio:
                    return not_found(
                        f"two edges: the tissue just outside {100 * unlike:.0f}% of the outline found is not "
                        f"liver-like, and a second edge further out, holding {ratio:.1f} times its volume, passes the "
                        "checks too: the lesion's outer boundary is not clear",
                        seed_t,
                    )
                if not first_passes:  # (when both pass and agree, the first stands)
                    r_edge, weight, contrast, l_max, sd_r, n_ind = r_o, weight_o, contrast_o, l_o, sd_o, n_o
                    r_final, unlike, halo = r_final_o, unlike_o, halo_o
        edge_fraction = float(weight.mean())
        r_mean = float(np.mean(r_final))
        rel_vol_sd = 3.0 * sd_r / (r_mean * np.sqrt(max(n_ind, 1.0)))
        self.debug.update(
            edge_radii=r_edge, final_radii=r_final, evidence=edge_fraction, centre=centre, l_max=l_max, sd_r=sd_r
        )
        # ---- self-checks
        if edge_fraction < cfg.min_edge_fraction:
            return not_found(
                f"only {100 * edge_fraction:.0f}% of the lesion's outline shows an edge against its surroundings",
                seed_t,
            )
        if unlike > cfg.max_unlike_outside:
            return not_found(
                f"the tissue just outside {100 * unlike:.0f}% of the measured outline is not liver-like either: "
                "the lesion (or a part of it that looks different) goes on beyond the edge found",
                seed_t,
            )
        if halo > halo_limit:
            return not_found(
                f"a fainter layer of the lesion's own kind surrounds the edge found (median {halo:.0f} HU beyond the "
                f"liver's {b:.0f} HU just outside it): the lesion's outer boundary is not clear",
                seed_t,
            )
        coef_final = np.linalg.lstsq(real_sh(edirs.u, l_top), r_final, rcond=None)[0]
        mask, moff = rasterise_star(centre, coef_final, sp, raw.shape, cfg.out_sub_voxel_mm)
        vol = star_volume_mm3(r_final) / 1000.0
        if vol < cfg.min_volume_ml or mask.max() < 0.5:
            return not_found(f"lesion at the seed too small ({vol * 1000:.0f} mm3)", seed_t)
        if fold_level is not None:
            # the folded image is a model: an outline it places must hold no fat beyond the organ (where the ring
            # of a deposit at the capsule took the fat's level for the tissue around it) and must hold lesion,
            # not liver, beside the deposit
            inside = np.zeros(raw.shape, dtype=bool)
            inside[tuple(slice(o, o + n) for o, n in zip(moff, mask.shape))] = mask >= 0.5
            fat = fat_outside_organ(w_out, inside, org, cfg.fat_hu)
            self.debug["fat_outside_organ"] = fat
            if fat > cfg.max_fat_outside:
                return not_found(
                    f"with its dense tissue folded, {100 * fat:.0f}% of the outline's volume is fat outside the "
                    "organ: the outline crosses the organ's border into the fat around it",
                    seed_t,
                )
            soft, like = liver_like_beside_dense(original, inside, sp, fold_level, b, tol, cfg)
            self.debug["liver_like_beside_dense"] = (soft, like)
            if soft >= cfg.min_soft_share and like > cfg.max_liver_like:
                return not_found(
                    f"with its dense tissue folded, {100 * like:.0f}% of the tissue the outline holds beside the "
                    "dense part is liver-like in the image: the outline is not the tumour's",
                    seed_t,
                )
        if rel_vol_sd > cfg.max_rel_volume_sd:
            return not_found(
                f"edge too faint or irregular to measure reliably (predicted volume uncertainty "
                f"+-{100 * rel_vol_sd:.0f}% at 1 sd)",
                seed_t,
            )
        cnr = float(np.median(np.abs(contrast[weight > 0]))) / max(tol, 1.0) if (weight > 0).any() else 0.0
        conf = float(
            min(1.0, edge_fraction / 0.9)
            * np.clip(cnr, 0.0, 1.0) ** 0.5
            * np.clip(1.0 - rel_vol_sd / cfg.max_rel_volume_sd, 0.0, 1.0) ** 0.5
        )
        if not conf >= cfg.min_confidence:
            return not_found(
                f"measurement unreliable (confidence {conf:.2f} < {cfg.min_confidence:.2f}: edge fraction "
                f"{edge_fraction:.2f}, predicted volume sd {100 * rel_vol_sd:.0f}%)",
                seed_t,
            )
        return LesionSegmentation(
            found=True,
            reason="",
            seed_zyx=seed_t,
            mask_zyx=mask,
            offset_zyx=tuple(int(v) for v in (offset + moff)),  # type: ignore[arg-type]
            lesion_hu=sample_level,
            background_hu=b,
            threshold_hu=None,
            confidence=conf,
            volume_sd_pct=100.0 * rel_vol_sd,
        )
