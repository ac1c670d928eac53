"""Per-timepoint PET context for PERCIST: the SUL factor, the uptake time and the reference region.

Orchestration only; the measurements are :mod:`measurement.pet`'s pure functions.

Reference region, in this order:

1. a liver mask on the PET grid, when a segmenter provides one (``liver_zyx``);
2. a user-given liver sphere centre (``liver_reference_lps_mm`` in the targets
   file; follow-ups get it through the registration to baseline);
3. automatic: the 3 cm sphere is placed, on the PET grid, in tissue of the
   CT attenuation found around the (liver) targets, at least 10 mm away from
   them, preferring the patient's right half of that tissue (the right lobe);
   see :func:`measurement.pet.liver_like_region`. This cannot recognise a
   diffusely diseased liver (PERCIST then asks for the blood pool);
4. when no liver sphere can be placed (or ``reference = "blood_pool"``): the
   blood pool at a user-given point (``blood_pool_lps_mm``), a 1 cm x 2 cm
   cylinder. There is no automatic aorta finder.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import SimpleITK as sitk

from measurement.criteria.percist import BLOOD_POOL, LIVER, PercistConfig
from measurement.pet import (
    ReferenceRegion,
    cylinder_reference,
    liver_like_region,
    reference_in_mask,
    sphere_reference,
    sul_per_suvbw,
)
from pipeline import spatial
from pipeline.dicom.discover import InstanceHeader
from pipeline.dicom.load import LoadedSeries
from pipeline.records import PetReference, Point

log = logging.getLogger(__name__)

CROP_MARGIN_MM = 120.0  # the liver lies within this distance of its lesions


def slice_thickness_mm(ct: LoadedSeries) -> float:
    """The CT's SliceThickness (median over its slices), else its slice spacing."""
    values = [i.slice_thickness for i in ct.instances if i.slice_thickness]
    return float(np.median(values)) if values else spatial.spacing_zyx(ct.image)[0]


def _sul_factor(instances: Sequence[InstanceHeader], formula: str) -> tuple[float | None, str]:
    headers = [i.pet for i in instances if i.pet is not None]
    if not headers:
        return None, "no PET header"
    h = headers[0]
    if h.weight_kg is None or h.height_m is None or h.sex is None:
        return None, "SUL needs PatientWeight, PatientSize and PatientSex"
    sex = h.sex.upper()
    note = "PatientSex O: lean body mass is the mean of the male and female formulas" if sex == "O" else ""
    try:
        return sul_per_suvbw(h.weight_kg, h.height_m, sex, formula), note
    except ValueError as exc:
        return None, str(exc)


def _uptake_min(pet: LoadedSeries) -> float | None:
    suv = pet.suv
    if suv is None or suv.scan_datetime is None or suv.injection_datetime is None:
        return None
    return (suv.scan_datetime - suv.injection_datetime).total_seconds() / 60.0


def _toward_right_zyx(image: sitk.Image) -> np.ndarray:
    """The patient's right (LPS -x) as a direction along the image's (z, y, x) index axes."""
    direction = np.asarray(image.GetDirection(), dtype=float).reshape(3, 3)
    return (direction.T @ np.array([-1.0, 0.0, 0.0]))[::-1]


def _crop_around(
    mask_zyx: np.ndarray, spacing: tuple[float, float, float], margin_mm: float
) -> tuple[slice, slice, slice]:
    idx = np.argwhere(mask_zyx)
    lo, hi = idx.min(axis=0), idx.max(axis=0)
    r = np.ceil(margin_mm / np.asarray(spacing)).astype(int)
    return tuple(
        slice(int(max(a - m, 0)), int(min(b + m + 1, n))) for a, b, m, n in zip(lo, hi, r, mask_zyx.shape, strict=True)
    )  # type: ignore[return-value]


def _auto_liver(
    ct: LoadedSeries, pet: LoadedSeries, labels_zyx: np.ndarray, suv_zyx: np.ndarray
) -> ReferenceRegion | None:
    spacing = spatial.spacing_zyx(pet.image)
    label_image = spatial.image_like(labels_zyx.astype(np.uint8 if labels_zyx.max() < 256 else np.uint16), ct.image)
    lesions = (
        sitk.GetArrayFromImage(sitk.Resample(label_image, pet.image, sitk.Transform(), sitk.sitkNearestNeighbor, 0)) > 0
    )
    if not lesions.any():
        return None
    box = _crop_around(lesions, spacing, CROP_MARGIN_MM)
    crop = pet.image[box[2], box[1], box[0]]  # SimpleITK indexes (x, y, z)
    ct_on_pet = sitk.GetArrayFromImage(
        sitk.Resample(ct.image, crop, sitk.Transform(), sitk.sitkLinear, -1000.0, sitk.sitkFloat32)
    )
    region = liver_like_region(ct_on_pet, spacing, lesions[box])
    found = reference_in_mask(suv_zyx[box], spacing, region, _toward_right_zyx(pet.image))
    if found is None:
        return None
    centre = np.asarray(found.centre_zyx) + np.array([s.start for s in box])
    return ReferenceRegion(found.kind, found.mean, found.sd, found.n_voxels, tuple(float(v) for v in centre))  # type: ignore[arg-type]


def pet_reference(
    pet: LoadedSeries | None,
    ct: LoadedSeries,
    labels_zyx: np.ndarray,
    config: PercistConfig,
    liver_point_lps: Point | None = None,
    blood_pool_point_lps: Point | None = None,
    liver_zyx: np.ndarray | None = None,
) -> PetReference | None:
    """The timepoint's PET context (see module docstring); ``None`` without a PET in SUV."""
    if pet is None or pet.suv is None:
        return None
    factor, why = _sul_factor(pet.instances, config.lbm_formula)
    base = PetReference(sul_per_suvbw=factor, lbm_formula=config.lbm_formula, uptake_min=_uptake_min(pet))
    suv = spatial.array_zyx(pet.image)
    spacing = spatial.spacing_zyx(pet.image)
    region: ReferenceRegion | None = None
    method = ""
    if config.reference in ("auto", "liver"):
        if liver_zyx is not None:
            region, method = (
                reference_in_mask(suv, spacing, liver_zyx, _toward_right_zyx(pet.image)),
                "3 cm sphere in the liver mask",
            )
        elif liver_point_lps is not None:
            centre = spatial.lps_to_index_zyx(pet.image, np.asarray(liver_point_lps))
            if spatial.inside(pet.image, centre):
                region, method = sphere_reference(suv, spacing, centre), "3 cm sphere at the given liver point"
        else:
            region, method = (
                _auto_liver(ct, pet, labels_zyx, suv),
                "3 cm sphere placed automatically in liver-like CT tissue",
            )
    if region is None and config.reference in ("auto", "blood_pool") and blood_pool_point_lps is not None:
        centre = spatial.lps_to_index_zyx(pet.image, np.asarray(blood_pool_point_lps))
        if spatial.inside(pet.image, centre):
            region, method = cylinder_reference(suv, spacing, centre), "1 x 2 cm cylinder at the given blood-pool point"
    if region is None:
        reason = "no liver reference sphere could be placed" + (
            "" if blood_pool_point_lps else " and no blood-pool point was given"
        )
        log.warning("PERCIST reference region unavailable: %s", reason)
        return replace(base, reason="; ".join(r for r in (why, reason) if r))
    kind = LIVER if region.kind == "liver_sphere" else BLOOD_POOL
    x, y, z = (float(v) for v in spatial.index_zyx_to_lps(pet.image, np.asarray(region.centre_zyx)))
    if factor is None:
        log.warning("PET series %s: no SUL (%s); PERCIST not assessable", pet.series_uid, why)
    return replace(
        base,
        kind=kind,
        method=method,
        mean_suv=region.mean,
        sd_suv=region.sd,
        n_voxels=region.n_voxels,
        centre_lps_mm=(x, y, z),
        reason=why,
    )
