"""A real CT moved by a known motion: the truth for registration on real anatomy.

The follow-up shows the baseline's anatomy moved: a rigid motion (Euler angles about the liver centre, then a
translation) after a smooth local deformation (Gaussian bumps, sigma 25 mm, of given displacement). With
``S`` the map from follow-up to baseline points (the deformation applied first, then the rigid motion), the
follow-up is the baseline resampled through ``S`` (linear), with Gaussian noise of ``noise_hu`` added so that
its noise is not the baseline's; a baseline point ``p`` appears at ``S^-1(p)`` (found by fixed-point
iteration). Slices whose voxels come from outside the baseline's scanned range (more than 10 % of the slice)
are dropped, as a follow-up scan simply ends there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

BUMP_SIGMA_MM = 25.0
FIELD_SPACING_MM = 6.0


@dataclass(frozen=True)
class Motion:
    """Euler angles (degrees, about x, y, z), translation (mm) and bumps (centre LPS mm, displacement mm)."""

    rotation_deg: tuple[float, float, float]
    translation_mm: tuple[float, float, float]
    bumps: tuple[tuple[tuple[float, float, float], tuple[float, float, float]], ...] = ()


def _bump_field(image: sitk.Image, bumps: Sequence[tuple[Sequence[float], Sequence[float]]]) -> sitk.Transform:
    size = [int(n * s / FIELD_SPACING_MM) + 2 for n, s in zip(image.GetSize(), image.GetSpacing(), strict=True)]
    axes = [np.arange(n) * FIELD_SPACING_MM + o for n, o in zip(size, image.GetOrigin(), strict=True)]
    points = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)  # (x, y, z, 3)
    displacement = np.zeros(points.shape)
    for centre, shift in bumps:
        weight = np.exp(-np.sum((points - np.asarray(centre)) ** 2, axis=-1) / (2.0 * BUMP_SIGMA_MM**2))
        displacement += weight[..., None] * np.asarray(shift, dtype=float)
    field = sitk.GetImageFromArray(np.ascontiguousarray(np.transpose(displacement, (2, 1, 0, 3))), isVector=True)
    field.SetOrigin(image.GetOrigin())
    field.SetSpacing([FIELD_SPACING_MM] * 3)
    return sitk.DisplacementFieldTransform(sitk.Cast(field, sitk.sitkVectorFloat64))


def moved_followup(
    image: sitk.Image, centre_lps_mm: Sequence[float], motion: Motion, noise_hu: float = 8.0, seed: int = 0
) -> tuple[sitk.Image, sitk.Transform]:
    """The follow-up image and ``S`` (follow-up -> baseline points); see the module docstring."""
    rigid = sitk.Euler3DTransform()
    rigid.SetCenter([float(v) for v in centre_lps_mm])
    rigid.SetRotation(*(float(np.radians(a)) for a in motion.rotation_deg))
    rigid.SetTranslation([float(v) for v in motion.translation_mm])
    to_baseline = sitk.CompositeTransform([rigid, _bump_field(image, motion.bumps)])  # the field applies first
    moved = sitk.Resample(sitk.Cast(image, sitk.sitkFloat32), image, to_baseline, sitk.sitkLinear, -1024.0)
    ones = sitk.Image(image.GetSize(), sitk.sitkUInt8) + 1
    ones.CopyInformation(image)
    seen = sitk.GetArrayFromImage(sitk.Resample(ones, image, to_baseline, sitk.sitkNearestNeighbor, 0)) > 0
    keep = np.nonzero(seen.mean(axis=(1, 2)) >= 0.9)[0]
    if keep.size == 0:
        raise ValueError("the motion moves the whole scan out of its field of view")
    lo, hi = int(keep.min()), int(keep.max()) + 1
    values = sitk.GetArrayFromImage(moved)[lo:hi] + np.random.default_rng(seed).normal(
        0.0, noise_hu, (hi - lo, *seen.shape[1:])
    )
    out = sitk.GetImageFromArray(np.clip(np.rint(values), -32768, 32767).astype(np.int16))
    out.SetSpacing(image.GetSpacing())
    out.SetDirection(image.GetDirection())
    out.SetOrigin(image.TransformIndexToPhysicalPoint([0, 0, lo]))
    return out, to_baseline


def where_moved(to_baseline: sitk.Transform, point_lps_mm: Sequence[float], iterations: int = 100) -> np.ndarray:
    """``S^-1(p)``: where baseline point ``p`` lies in the follow-up (fixed-point iteration, to 1e-6 mm)."""
    target = np.asarray(point_lps_mm, dtype=float)
    q = target.copy()
    for _ in range(iterations):
        step = np.asarray(to_baseline.TransformPoint(tuple(float(v) for v in q))) - target
        q -= step
        if np.linalg.norm(step) < 1e-6:
            break
    return q
