"""Registration of a follow-up CT to the baseline CT.

The transform maps *baseline* (fixed) patient coordinates to *follow-up*
(moving) patient coordinates, so baseline seeds are carried into a follow-up
with ``transform.TransformPoint``. Steps:

1. Both CTs are block-averaged (``BinShrink``) to ~4 mm voxels and clamped to
   a soft-tissue window, which keeps organs rather than the air/skin edge in
   charge of the metric.
2. Initial translation: in-plane from the body centres of mass; along z from
   the best correlation of the two slice-mean intensity profiles (the scanned
   ranges may differ, so a z centre of mass would be biased).
3. Rigid (Euler 3D), then affine, by Mattes mutual information with a
   regular-step gradient descent over two resolution levels.
4. Optional deformable refinement inside a region of interest of the
   baseline (the liver): a dense displacement field estimated by symmetric-
   forces demons (two levels, Gaussian-regularised, ``demons_sd_voxels``) on
   ~``deformable_spacing_mm`` images cropped to the region plus a margin,
   composed after the affine transform and tapered to zero across the margin.
   Demons suits the same-modality CT pair and runs multi-threaded while
   staying deterministic (each voxel's update is independent).

Random sampling uses a fixed seed and the metric runs on one thread (ITK's
multi-threaded metric sums partial results in a varying order, which changes
the last bits), so the transform is identical run to run. The working images
are small (~4 mm voxels), so one thread costs little.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from pipeline.config import RegistrationConfig
from pipeline.errors import RegistrationError
from pipeline.records import RegistrationSummary

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RegistrationResult:
    """Fixed (baseline) to moving (follow-up) point transform and its quality figures."""

    transform: sitk.Transform  # affine, or composite: displacement field applied first, then affine
    affine: sitk.AffineTransform
    initial_translation_mm: tuple[float, float, float]
    rigid_metric: float
    affine_metric: float
    rotation_deg: float
    translation_mm: tuple[float, float, float]
    elapsed_s: float
    deformable: bool = False
    max_deformation_mm: float = 0.0
    roi_ncc_affine: float | None = None
    roi_ncc_final: float | None = None

    def map_point(self, point_lps: tuple[float, float, float]) -> tuple[float, float, float]:
        return tuple(float(v) for v in self.transform.TransformPoint(tuple(float(c) for c in point_lps)))  # type: ignore[return-value]

    def summary(self) -> RegistrationSummary:
        return RegistrationSummary(
            type="rigid -> affine" + (" -> demons displacement field (liver region)" if self.deformable else ""),
            affine_matrix=[round(v, 8) for v in self.affine.GetMatrix()],
            affine_translation_mm=[round(v, 4) for v in self.affine.GetTranslation()],
            affine_center_mm=[round(v, 4) for v in self.affine.GetCenter()],
            initial_translation_mm=[round(v, 3) for v in self.initial_translation_mm],
            rigid_metric=round(self.rigid_metric, 6),
            affine_metric=round(self.affine_metric, 6),
            rotation_deg=round(self.rotation_deg, 3),
            max_deformation_mm=round(self.max_deformation_mm, 3),
            liver_ncc_after_affine=None if self.roi_ncc_affine is None else round(self.roi_ncc_affine, 4),
            liver_ncc_final=None if self.roi_ncc_final is None else round(self.roi_ncc_final, 4),
            elapsed_s=round(self.elapsed_s, 3),
        )


def working_image(ct: sitk.Image, config: RegistrationConfig, spacing_mm: float | None = None) -> sitk.Image:
    """Block-averaged (~``spacing_mm``, default the working spacing) float image clamped to the soft-tissue window."""
    target = spacing_mm or config.working_spacing_mm
    factors = [max(1, int(round(target / s))) for s in ct.GetSpacing()]
    small = sitk.BinShrink(sitk.Cast(ct, sitk.sitkFloat32), factors)
    lo, hi = config.window_hu
    return sitk.Clamp(small, sitk.sitkFloat32, lo, hi)


def _body_mask(image: sitk.Image, threshold: float) -> np.ndarray:
    arr = sitk.GetArrayViewFromImage(image)
    mask = arr > threshold
    labels, n = ndimage.label(mask)
    if n == 0:
        raise RegistrationError("no body found in the CT (nothing above the air threshold)")
    sizes = ndimage.sum_labels(mask, labels, index=np.arange(1, n + 1))
    return labels == (int(np.argmax(sizes)) + 1)


def _physical(image: sitk.Image, index_zyx: np.ndarray) -> np.ndarray:
    direction = np.asarray(image.GetDirection()).reshape(3, 3)
    return (np.asarray(index_zyx, dtype=float)[..., ::-1] * np.asarray(image.GetSpacing())) @ direction.T + np.asarray(
        image.GetOrigin()
    )


def _centre_of_mass(image: sitk.Image, mask: np.ndarray) -> np.ndarray:
    return _physical(image, np.asarray(ndimage.center_of_mass(mask)))


def _z_profile(image: sitk.Image, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean windowed intensity inside the body per slice, and the slices' patient z."""
    arr = sitk.GetArrayViewFromImage(image)
    counts = mask.sum(axis=(1, 2))
    sums = np.where(mask, arr, 0).sum(axis=(1, 2))
    profile = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    centre = (np.asarray(arr.shape[1:]) - 1) / 2.0
    z = np.array([_physical(image, np.array([k, centre[0], centre[1]]))[2] for k in range(arr.shape[0])])
    return z, profile


def _z_offset(fixed: tuple[np.ndarray, np.ndarray], moving: tuple[np.ndarray, np.ndarray], search_mm: float) -> float:
    """Shift (mm) to add to fixed z so that the moving profile matches best (max correlation)."""
    zf, pf = fixed
    zm, pm = moving
    grid = np.arange(math.floor(min(zf.min(), zm.min())), math.ceil(max(zf.max(), zm.max())) + 1.0, 1.0)
    order_f, order_m = np.argsort(zf), np.argsort(zm)
    f = np.interp(grid, zf[order_f], pf[order_f], left=np.nan, right=np.nan)
    m = np.interp(grid, zm[order_m], pm[order_m], left=np.nan, right=np.nan)
    best, best_shift = -np.inf, 0.0
    min_overlap = 0.5 * min(np.isfinite(f).sum(), np.isfinite(m).sum())
    for shift in range(-int(search_mm), int(search_mm) + 1):
        shifted = np.roll(m, -shift)
        if shift > 0:
            shifted[-shift:] = np.nan
        elif shift < 0:
            shifted[:-shift] = np.nan
        ok = np.isfinite(f) & np.isfinite(shifted)
        if ok.sum() < max(min_overlap, 10):
            continue
        a, b = f[ok], shifted[ok]
        if a.std() == 0 or b.std() == 0:
            continue
        r = float(np.corrcoef(a, b)[0, 1])
        if r > best:
            best, best_shift = r, float(shift)
    return best_shift


def _method(
    config: RegistrationConfig, fixed_mask: sitk.Image, iterations: int, shrink: list[int]
) -> sitk.ImageRegistrationMethod:
    reg = sitk.ImageRegistrationMethod()
    reg.SetMetricAsMattesMutualInformation(numberOfHistogramBins=config.histogram_bins)
    reg.SetMetricSamplingStrategy(reg.RANDOM)
    reg.SetMetricSamplingPercentage(config.sampling_fraction, config.random_seed)
    reg.SetMetricFixedMask(fixed_mask)
    reg.SetInterpolator(sitk.sitkLinear)
    reg.SetOptimizerAsRegularStepGradientDescent(
        learningRate=2.0,
        minStep=0.01,
        numberOfIterations=iterations,
        relaxationFactor=0.6,
        gradientMagnitudeTolerance=1e-6,
    )
    reg.SetOptimizerScalesFromPhysicalShift()
    reg.SetShrinkFactorsPerLevel(shrink)
    reg.SetSmoothingSigmasPerLevel([float(s) for s in shrink])
    reg.SmoothingSigmasAreSpecifiedInPhysicalUnitsOff()
    return reg


@contextlib.contextmanager
def _single_threaded() -> Iterator[None]:
    """ITK's metric and optimiser take the global default thread count; use one thread inside."""
    previous = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    try:
        yield
    finally:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(previous)


def _crop_to_roi(image: sitk.Image, roi: sitk.Image, margin_mm: float) -> tuple[sitk.Image, sitk.Image]:
    """``image`` and ``roi`` (same grid) cropped to the ROI's bounding box grown by ``margin_mm``."""
    stats = sitk.LabelShapeStatisticsImageFilter()
    stats.Execute(roi)
    if not stats.HasLabel(1):
        raise RegistrationError("the deformable region of interest is empty")
    x, y, z, sx, sy, sz = stats.GetBoundingBox(1)
    size = np.array(image.GetSize())
    margin = np.ceil(margin_mm / np.array(image.GetSpacing())).astype(int)
    lo = np.maximum(np.array([x, y, z]) - margin, 0)
    hi = np.minimum(np.array([x + sx, y + sy, z + sz]) + margin, size)
    index, extent = [int(v) for v in lo], [int(v) for v in hi - lo]
    return sitk.RegionOfInterest(image, extent, index), sitk.RegionOfInterest(roi, extent, index)


def _ncc(a: sitk.Image, b: sitk.Image, mask: np.ndarray) -> float:
    x = sitk.GetArrayViewFromImage(a)[mask].astype(np.float64)
    y = sitk.GetArrayViewFromImage(b)[mask].astype(np.float64)
    x, y = x - x.mean(), y - y.mean()
    return float((x @ y) / np.sqrt((x @ x) * (y @ y) + 1e-12))


def refine_deformable(
    fixed_ct: sitk.Image, moving_ct: sitk.Image, affine: sitk.Transform, roi: sitk.Image, config: RegistrationConfig
) -> tuple[sitk.DisplacementFieldTransform, float, float, float]:
    """Demons displacement field inside ``roi`` (uint8 on the fixed grid), to be applied before ``affine``.

    Returns the transform, its largest displacement inside the ROI (mm) and
    the normalised cross-correlation in the ROI after the affine and after the
    refinement.
    """
    fixed_crop, roi_crop = _crop_to_roi(fixed_ct, roi, config.roi_margin_mm)
    spacing = config.deformable_spacing_mm
    fixed = working_image(fixed_crop, config, spacing)
    moving_work = working_image(moving_ct, config, spacing)
    moving = sitk.Resample(moving_work, fixed, affine, sitk.sitkLinear, config.window_hu[0], sitk.sitkFloat32)
    fixed_s = sitk.SmoothingRecursiveGaussian(fixed, spacing / 2)
    moving_s = sitk.SmoothingRecursiveGaussian(moving, spacing / 2)
    field = None
    for shrink, iterations in zip((2, 1), config.demons_iterations, strict=True):
        f = sitk.Shrink(fixed_s, [shrink] * 3) if shrink > 1 else fixed_s
        m = sitk.Shrink(moving_s, [shrink] * 3) if shrink > 1 else moving_s
        demons = sitk.FastSymmetricForcesDemonsRegistrationFilter()
        demons.SetNumberOfIterations(iterations)
        demons.SetStandardDeviations(config.demons_sd_voxels)
        demons.SetSmoothDisplacementField(True)
        if field is None:
            field = demons.Execute(f, m)
        else:
            field = demons.Execute(
                f, m, sitk.Resample(field, f, sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkVectorFloat64)
            )
    assert field is not None
    field = sitk.Resample(field, fixed, sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkVectorFloat64)
    # taper to zero across the margin so that the composite transform is continuous at the crop border
    vectors = sitk.GetArrayFromImage(field)
    border = np.ones(vectors.shape[:3], bool)
    border[1:-1, 1:-1, 1:-1] = False
    distance = ndimage.distance_transform_edt(~border, sampling=fixed.GetSpacing()[::-1])
    vectors *= np.clip(distance / config.roi_margin_mm, 0.0, 1.0)[..., None]
    tapered = sitk.GetImageFromArray(vectors, isVector=True)
    tapered.CopyInformation(fixed)
    roi_work = sitk.Resample(roi_crop, fixed, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
    inside = sitk.GetArrayViewFromImage(roi_work) > 0
    max_displacement = float(np.linalg.norm(vectors[inside], axis=-1).max()) if inside.any() else 0.0
    transform = sitk.DisplacementFieldTransform(sitk.Cast(tapered, sitk.sitkVectorFloat64))
    warped = sitk.Resample(
        moving_work,
        fixed,
        sitk.CompositeTransform([affine, transform]),
        sitk.sitkLinear,
        config.window_hu[0],
        sitk.sitkFloat32,
    )
    return transform, max_displacement, _ncc(fixed, moving, inside), _ncc(fixed, warped, inside)


def register_followup(
    fixed_ct: sitk.Image,
    moving_ct: sitk.Image,
    config: RegistrationConfig | None = None,
    roi: sitk.Image | None = None,
) -> RegistrationResult:
    """Register a follow-up CT (moving) to the baseline CT (fixed); see the module docstring.

    ``roi`` (uint8, 1 inside, on the fixed grid) enables the deformable stage
    when ``config.deformable``.
    """
    config = config or RegistrationConfig()
    t0 = time.perf_counter()
    fixed = working_image(fixed_ct, config)
    moving = working_image(moving_ct, config)
    air = config.window_hu[0] + 1.0
    fixed_body = _body_mask(fixed, air)
    moving_body = _body_mask(moving, air)
    cf = _centre_of_mass(fixed, fixed_body)
    cm = _centre_of_mass(moving, moving_body)
    dz = _z_offset(_z_profile(fixed, fixed_body), _z_profile(moving, moving_body), config.z_search_mm)
    initial = (float(cm[0] - cf[0]), float(cm[1] - cf[1]), dz)
    mask_image = sitk.GetImageFromArray(ndimage.binary_dilation(fixed_body, iterations=2).astype(np.uint8))
    mask_image.CopyInformation(fixed)

    rigid = sitk.Euler3DTransform()
    rigid.SetCenter(tuple(float(v) for v in cf))
    rigid.SetTranslation(initial)
    reg = _method(config, mask_image, config.rigid_iterations, [2, 1])
    reg.SetInitialTransform(rigid, inPlace=True)
    with _single_threaded():
        reg.Execute(fixed, moving)
    rigid_metric = reg.GetMetricValue()

    affine = sitk.AffineTransform(3)
    affine.SetCenter(rigid.GetCenter())
    affine.SetMatrix(rigid.GetMatrix())
    affine.SetTranslation(rigid.GetTranslation())
    reg = _method(config, mask_image, config.affine_iterations, [1])
    reg.SetInitialTransform(affine, inPlace=True)
    with _single_threaded():
        reg.Execute(fixed, moving)
    affine_metric = reg.GetMetricValue()

    matrix = np.asarray(affine.GetMatrix()).reshape(3, 3)
    u, _, vt = np.linalg.svd(matrix)
    rotation = u @ vt
    angle = math.degrees(math.acos(max(-1.0, min(1.0, (np.trace(rotation) - 1.0) / 2.0))))
    translation = tuple(float(v) for v in affine.GetTranslation())
    scales = np.linalg.svd(matrix, compute_uv=False)
    if (
        angle > config.max_rotation_deg
        or np.linalg.norm(translation) > config.max_translation_mm
        or scales.min() < 0.8
        or scales.max() > 1.25
    ):
        raise RegistrationError(
            f"implausible registration (rotation {angle:.1f} deg, translation {np.linalg.norm(translation):.1f} mm, "
            f"scales {scales.min():.2f}-{scales.max():.2f})"
        )
    transform: sitk.Transform = affine
    max_deformation, ncc_affine, ncc_final = 0.0, None, None
    deformable = bool(config.deformable and roi is not None)
    if deformable:
        assert roi is not None
        field, max_deformation, ncc_affine, ncc_final = refine_deformable(fixed_ct, moving_ct, affine, roi, config)
        if max_deformation > config.max_deformation_mm:
            raise RegistrationError(f"implausible deformation: {max_deformation:.1f} mm inside the liver region")
        transform = sitk.CompositeTransform([affine, field])  # the field (added last) is applied first
    return RegistrationResult(
        transform=transform,
        affine=affine,
        initial_translation_mm=initial,
        rigid_metric=float(rigid_metric),
        affine_metric=float(affine_metric),
        rotation_deg=angle,
        translation_mm=translation,  # type: ignore[arg-type]
        elapsed_s=time.perf_counter() - t0,
        deformable=deformable,
        max_deformation_mm=max_deformation,
        roi_ncc_affine=ncc_affine,
        roi_ncc_final=ncc_final,
    )
