"""Automatic detection of candidate liver lesions: hypo- and hyperdense regions on CT, hot spots on PET.

CT: inside the liver, the CT is smoothed in-plane (Gaussian ``smoothing_mm``,
normalised to the liver so that fat or air outside does not darken its edge);
the liver level and its noise are the median and robust SD (1.4826 x MAD) of
the smoothed liver. Candidates are the connected regions darker (or brighter)
than the level by ``max(min_contrast_hu, noise_factor x noise)``, or darker by
``max(min_contrast_hu, noise_factor x local noise)`` than the liver's local
level (its parenchyma, voxels within twice that margin of the level, averaged
by a Gaussian of ``local_background_mm``: uneven enhancement does not hide a
lesion in a brighter part of the liver; local noise: the robust SD of that
local contrast in the liver's core; not for bright regions, which would be
vessels; a lesion much larger than that scale is partly its own surroundings
and shows there as smaller regions inside its edge), that reach at
least ``edge_margin_mm`` inside the liver (partial volume with fat along the
liver edge is not a lesion) and hold ``min_volume_ml`` (dark) or
``bright_min_volume_ml`` (bright: the thresholded core of an enhancing lesion of
10 mm or more; smaller bright regions are vessel cross-sections). Each
candidate's seed is its deepest point; a segmenter then delineates and measures
it, and the candidate is kept when the segmenter finds a lesion with a
confidence of at least ``min_confidence`` (higher than for a reader's seed:
nobody vouches for a candidate). A lesion found from a bright candidate differs
from its surroundings by at least ``min_contrast_hu`` on average (a deposit or
calcification with a tumour around it is darker, an enhancing tumour brighter;
a bright spot in tissue like the liver is not a lesion). A lesion brighter than
the liver is kept only when it is measurable (longest axial diameter at least
``bright_min_longest_mm``), not denser on average than ``bright_max_contrast_hu``
above its surroundings (enhancing tumour; denser is contrast-filled vessel or
organ, or a deposit alone), and compact: its volume at least
``bright_min_compactness`` times that of the sphere of its longest diameter,
and its major axis at most ``bright_max_elongation`` times its least axis (IBSI
axis lengths, :func:`measurement.morphology.axis_lengths_mm`; a vessel segment
is long and thin). A dark candidate that the hypodense segmenter refuses is given to the segmenter of any
appearance (a rim, mottled tissue or deposits around its dark core; within
:data:`pipeline.longitudinal.autodetect.RESCUE_MAX_HALF_MM` of the seed), whose lesion is kept when it holds at
least half of the candidate's region (not a structure nearby, nor a piece of a longer dark vessel or duct),
differs from the liver by ``min_contrast_hu`` and is measurable and compact as above. A dark candidate whose
core is at least ``unmeasured_min_depth_mm``
deep (a hypodense mass at least twice that across) is reported even when no
segmenter can delineate it, as a lesion detected but not measured, with the
segmenter's reason: a large mass is a finding whether or not its edge can be
measured.

PET: inside the liver (grown by ``pet_margin_mm``, as PET blurs hot lesions
outward), hot spots are connected regions above the PERCIST threshold
``1.5 x liver mean + 2 x liver SD`` (liver statistics robust: median and
1.4826 x MAD), and at least ``liver + pet_noise_factor x SD``, whose hottest
voxel lies in the liver (within ``pet_peak_margin_mm`` of its mask, for the
resampling of the mask onto the PET grid): uptake in a neighbouring organ
is not a liver candidate.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage


@dataclass(frozen=True)
class DetectionConfig:
    """Automatic detection options; each field's ``metadata`` bounds the values a configuration file may give."""

    smoothing_mm: float = field(default=2.5, metadata={"ge": 0.0, "le": 20.0})
    min_contrast_hu: float = field(default=15.0, metadata={"ge": 0.0, "le": 1000.0})
    noise_factor: float = field(default=3.0, metadata={"ge": 0.0, "le": 100.0})
    # the liver's local level (0: the global level only)
    local_background_mm: float = field(default=12.0, metadata={"ge": 0.0, "le": 100.0})
    # of the segmenter, for a candidate to count as a lesion (no reader's seed vouches for it)
    min_confidence: float = field(default=0.4, metadata={"ge": 0.0, "le": 1.0})
    edge_margin_mm: float = field(default=5.0, metadata={"ge": 0.0, "le": 100.0})
    min_volume_ml: float = field(default=0.05, metadata={"ge": 0.0, "le": 1000.0})
    bright_min_volume_ml: float = field(default=0.2, metadata={"ge": 0.0, "le": 1000.0})
    bright_min_longest_mm: float = field(default=10.0, metadata={"ge": 0.0, "le": 500.0})
    bright_max_contrast_hu: float = field(default=150.0, metadata={"ge": 0.0, "le": 3000.0})
    bright_min_compactness: float = field(default=0.5, metadata={"ge": 0.0, "le": 1.0})
    bright_max_elongation: float = field(default=2.0, metadata={"ge": 1.0, "le": 100.0})
    unmeasured_min_depth_mm: float = field(default=8.0, metadata={"ge": 0.0, "le": 200.0})
    pet_margin_mm: float = field(default=10.0, metadata={"ge": 0.0, "le": 50.0})
    pet_peak_margin_mm: float = field(default=5.0, metadata={"ge": 0.0, "le": 50.0})
    pet_noise_factor: float = field(default=4.0, metadata={"ge": 0.0, "le": 100.0})
    match_distance_mm: float = field(default=12.0, metadata={"ge": 0.0, "le": 100.0})


@dataclass(frozen=True)
class CtCandidate:
    """A candidate region: its seed (deepest point, voxel index), volume, and mean contrast to the liver's
    global level (HU, signed by ``polarity``: negative for a region found only against the liver's local level);
    ``polarity`` -1 darker than the liver, +1 brighter; ``depth_mm`` its core's half width."""

    seed_zyx: tuple[float, float, float]
    volume_ml: float
    contrast_hu: float
    polarity: int = -1
    #: the largest distance (mm) from a voxel of the region to its outside: half the width of its core
    depth_mm: float = 0.0
    #: the region's voxels (bool) in its bounding box, which starts at ``region_offset_zyx``
    region_zyx: np.ndarray | None = field(default=None, compare=False, repr=False)
    region_offset_zyx: tuple[int, int, int] = (0, 0, 0)

    def region_voxels(self) -> np.ndarray:
        """The region's voxel indices (n x 3) in the whole image (none when the region is not kept)."""
        if self.region_zyx is None:
            return np.zeros((0, 3), dtype=int)
        return np.argwhere(self.region_zyx) + np.asarray(self.region_offset_zyx)


@dataclass(frozen=True)
class PetHotspot:
    peak_zyx: tuple[int, int, int]
    suv_max: float
    mask_zyx: np.ndarray  # bool, PET grid


def _robust(values: np.ndarray) -> tuple[float, float]:
    median = float(np.median(values))
    return median, float(1.4826 * np.median(np.abs(values - median)))


def ct_candidates(
    image_zyx: np.ndarray,
    spacing_zyx: tuple[float, float, float],
    liver_zyx: np.ndarray,
    config: DetectionConfig | None = None,
    polarities: tuple[int, ...] = (-1, 1),
) -> list[CtCandidate]:
    """Dark (polarity -1) and bright (+1) candidate regions inside the liver, largest first (see module
    docstring)."""
    config = config or DetectionConfig()
    if not liver_zyx.any():
        return []
    idx = np.argwhere(liver_zyx)
    box = tuple(slice(int(a), int(b) + 1) for a, b in zip(idx.min(axis=0), idx.max(axis=0), strict=True))
    liver = liver_zyx[box]
    sigma = [0.0] + [config.smoothing_mm / s for s in spacing_zyx[1:]]
    # smoothing restricted to the liver: fat or air outside does not darken its edge
    smooth, _ = _masked_gaussian(image_zyx[box], liver, sigma, 1e-3)
    level, noise = _robust(smooth[liver])
    margin = max(config.min_contrast_hu, config.noise_factor * noise)
    core = ndimage.distance_transform_edt(liver, sampling=spacing_zyx) >= config.edge_margin_mm
    local = _local_contrast(smooth, liver, level, margin, spacing_zyx, config.local_background_mm)
    local_margin = None
    if local is not None:
        local_margin = max(
            config.min_contrast_hu, config.noise_factor * _robust(local[core if core.any() else liver])[1]
        )
    offset = np.array([s.start for s in box])
    out = []
    for polarity in polarities:
        differs = polarity * (smooth - level) > margin
        if polarity < 0 and local is not None and local_margin is not None:
            differs |= local < -local_margin  # darker than the liver around it (bright: vessels would be)
        differs &= liver
        min_volume = config.min_volume_ml if polarity < 0 else config.bright_min_volume_ml
        for seed, volume, mean, depth, region, start in _regions(differs, core, smooth, spacing_zyx, min_volume):
            seed_full = tuple(float(v) for v in np.asarray(seed) + offset)
            contrast = float(polarity * (mean - level))
            region_offset = (int(start[0] + offset[0]), int(start[1] + offset[1]), int(start[2] + offset[2]))
            out.append(CtCandidate(seed_full, volume, contrast, polarity, depth, region, region_offset))  # type: ignore[arg-type]
    return sorted(out, key=lambda c: -c.volume_ml)


def _local_contrast(
    smooth: np.ndarray,
    liver: np.ndarray,
    level: float,
    margin: float,
    spacing_zyx: tuple[float, float, float],
    background_mm: float,
) -> np.ndarray | None:
    """``smooth`` minus the liver's local level: the liver's voxels within ``2 x margin`` of its global
    ``level``, averaged by a Gaussian of ``background_mm`` (normalised convolution); the global level where
    there are too few of them nearby. ``None`` when ``background_mm`` is 0."""
    if background_mm <= 0:
        return None
    parenchyma = liver & (np.abs(smooth - level) < 2.0 * margin)
    mean, weight = _masked_gaussian(smooth, parenchyma, [background_mm / s for s in spacing_zyx], 0.05)
    return smooth - np.where(weight > 0.05, mean, level)


def _masked_gaussian(
    values: np.ndarray, mask: np.ndarray, sigma: list[float], min_weight: float
) -> tuple[np.ndarray, np.ndarray]:
    """The Gaussian mean of ``values`` over ``mask`` (normalised convolution, weights floored at
    ``min_weight``) and the smoothed mask (the weight of each mean)."""
    weight = ndimage.gaussian_filter(mask.astype(np.float32), sigma)
    total = ndimage.gaussian_filter(np.where(mask, values, 0).astype(np.float32), sigma)
    return total / np.maximum(weight, min_weight), weight


def _regions(
    mask: np.ndarray,
    core: np.ndarray,
    values: np.ndarray,
    spacing_zyx: tuple[float, float, float],
    min_volume_ml: float,
) -> list[tuple[tuple[int, int, int], float, float, float, np.ndarray, tuple[int, int, int]]]:
    """The connected regions of ``mask`` that reach ``core`` and hold ``min_volume_ml``: each one's deepest
    point (index), volume (ml), mean of ``values``, depth (mm) there, voxels in its bounding box and the
    box's start (index)."""
    labels, n = ndimage.label(mask)
    voxel_ml = float(np.prod(spacing_zyx)) / 1000.0
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    reaching_core = np.bincount(labels[core].ravel(), minlength=n + 1) > 0
    out = []
    for k, obj in enumerate(ndimage.find_objects(labels), start=1):
        volume = float(sizes[k]) * voxel_ml
        if obj is None or not reaching_core[k] or volume < min_volume_ml:
            continue
        region = labels[obj] == k
        # pad with outside voxels except along the faces of the box (as on the whole box)
        pads = [(int(s.start > 0), int(s.stop < n_)) for s, n_ in zip(obj, labels.shape, strict=True)]
        padded = np.pad(region, pads)
        depth = ndimage.distance_transform_edt(padded, sampling=spacing_zyx)[
            tuple(slice(a, a + m) for (a, _), m in zip(pads, region.shape, strict=True))
        ]
        deepest = np.unravel_index(int(np.argmax(depth)), depth.shape)
        start = (int(obj[0].start), int(obj[1].start), int(obj[2].start))
        seed = (int(deepest[0]) + start[0], int(deepest[1]) + start[1], int(deepest[2]) + start[2])
        out.append((seed, volume, float(values[obj][region].mean()), float(depth[deepest]), region, start))
    return out


def pet_hotspots(
    suv_zyx: np.ndarray,
    spacing_zyx: tuple[float, float, float],
    liver_zyx: np.ndarray,
    config: DetectionConfig | None = None,
) -> list[PetHotspot]:
    """Hot spots in and around the liver on the PET grid, hottest first (see module docstring)."""
    config = config or DetectionConfig()
    if not liver_zyx.any():
        return []
    eroded = ndimage.distance_transform_edt(liver_zyx, sampling=spacing_zyx) >= 8.0
    reference = suv_zyx[eroded] if eroded.any() else suv_zyx[liver_zyx]
    mean, sd = _robust(reference)
    threshold = max(1.5 * mean + 2.0 * sd, mean + config.pet_noise_factor * sd)
    outside = ndimage.distance_transform_edt(~liver_zyx, sampling=spacing_zyx)
    search = outside <= config.pet_margin_mm
    labels, n = ndimage.label((suv_zyx >= threshold) & search)
    out = []
    for k in range(1, n + 1):
        region = labels == k
        if region.sum() < 2:
            continue
        values = np.where(region, suv_zyx, -np.inf)
        peak = np.unravel_index(int(np.argmax(values)), values.shape)
        if outside[peak] > config.pet_peak_margin_mm:
            continue
        out.append(PetHotspot(tuple(int(v) for v in peak), float(suv_zyx[peak]), region))  # type: ignore[arg-type]
    return sorted(out, key=lambda h: -h.suv_max)


def choose_targets(
    longest_mm: list[float], measurable: list[bool], organs: list[str], max_per_organ: int = 2, max_total: int = 5
) -> list[int]:
    """Indices of the RECIST 1.1 targets: measurable lesions, largest first, at most ``max_per_organ``
    per organ and ``max_total`` in all (the RECIST 1.1 defaults)."""
    chosen: list[int] = []
    per_organ: dict[str, int] = {}
    for k in sorted(range(len(longest_mm)), key=lambda i: -longest_mm[i]):
        if not measurable[k] or len(chosen) >= max_total:
            continue
        if per_organ.get(organs[k], 0) >= max_per_organ:
            continue
        chosen.append(k)
        per_organ[organs[k]] = per_organ.get(organs[k], 0) + 1
    return sorted(chosen)
