"""PET lesion segmentation inside a search volume derived from the CT lesion.

The search volume (``voi_zyx``) is the CT lesion mapped onto the PET grid and
dilated by a margin (PET resolution and PET/CT misalignment). Within it the
lesion is the connected region of the hottest voxel above a threshold:

* ``"41pct"`` — 41 % of SUVmax (EANM guideline for FDG);
* ``"fixed"`` — a fixed SUV (``fixed_suv``, default 2.5);
* ``"percist"`` — 1.5 x liver mean + 2 x liver SD (needs the liver reference).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from segmentation.morphology import bounding_box

PET_METHODS = ("41pct", "fixed", "percist")


@dataclass(frozen=True)
class PetSegmentationConfig:
    """PET lesion region options; each field's ``metadata`` bounds the values a configuration file may give."""

    method: str = field(default="41pct", metadata={"choices": PET_METHODS})
    fraction_of_max: float = field(default=0.41, metadata={"gt": 0.0, "le": 1.0})
    fixed_suv: float = field(default=2.5, metadata={"gt": 0.0, "le": 1000.0})
    search_margin_mm: float = field(default=6.0, metadata={"ge": 0.0, "le": 50.0})


@dataclass(frozen=True, eq=False)
class PetSegmentation:
    mask_zyx: np.ndarray  # bool, full PET grid
    max_index_zyx: tuple[int, int, int]
    suv_max: float
    threshold_suv: float
    method: str
    above_threshold: bool = True  # False: SUVmax below the threshold, no metabolic volume


def pet_threshold(
    suv_max: float,
    config: PetSegmentationConfig,
    liver_mean: float | None = None,
    liver_sd: float | None = None,
    reference_factor: float = 1.5,
    sd_factor: float = 2.0,
) -> float:
    """Threshold SUV of the configured method.

    ``percist``: ``reference_factor x mean + sd_factor x SD`` of the reference
    region (PERCIST 1.0: 1.5 for the liver, 2.0 for the blood pool; 2 SD), in
    the units of the image (SUVbw here: the threshold is linear, so SUL or
    SUVbw give the same voxels).
    """
    if config.method == "41pct":
        return config.fraction_of_max * suv_max
    if config.method == "fixed":
        return config.fixed_suv
    if config.method == "percist":
        if liver_mean is None or liver_sd is None:
            raise ValueError("the PERCIST threshold needs the liver reference mean and SD")
        return reference_factor * liver_mean + sd_factor * liver_sd
    raise ValueError(f"unknown PET segmentation method {config.method!r} (41pct, fixed, percist)")


def segment_pet_lesion(
    suv_zyx: np.ndarray,
    voi_zyx: np.ndarray,
    config: PetSegmentationConfig | None = None,
    liver_mean: float | None = None,
    liver_sd: float | None = None,
    reference_factor: float = 1.5,
    sd_factor: float = 2.0,
) -> PetSegmentation | None:
    """Hot region of the VOI's maximum above the method's threshold; ``None`` for an empty VOI.

    When the maximum itself is below the threshold (``above_threshold`` False)
    the mask is the maximum's voxel only: SUVmax and SUVpeak are defined, a
    metabolic volume is not.
    """
    config = config or PetSegmentationConfig()
    if not voi_zyx.any():
        return None
    box = bounding_box(voi_zyx)  # all the work is within the VOI's box
    voi, suv = voi_zyx[box], suv_zyx[box]
    values = np.where(voi, suv, -np.inf)
    local = np.unravel_index(int(np.argmax(values)), values.shape)
    suv_max = float(suv[local])
    threshold = pet_threshold(suv_max, config, liver_mean, liver_sd, reference_factor, sd_factor)
    labels, _ = ndimage.label((suv >= threshold) & voi)
    region = labels == labels[local] if labels[local] else np.zeros_like(voi)
    region[local] = True
    mask = np.zeros(voi_zyx.shape, dtype=bool)
    mask[box] = region
    peak = tuple(int(i) + s.start for i, s in zip(local, box, strict=True))
    return PetSegmentation(mask, peak, suv_max, threshold, config.method, suv_max >= threshold)
