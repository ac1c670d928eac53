"""Registration of a follow-up CT to the baseline CT.

The transform maps *baseline* (fixed) patient coordinates to *follow-up*
(moving) patient coordinates, so baseline seeds are carried into a follow-up
with ``transform.TransformPoint``. What depends on the baseline alone (its
working images, body mask and centre, slice profile, liver region) is computed
once per study (:func:`prepare_reference`) and reused for every follow-up.

1. Working images: each CT block-averaged (``BinShrink``) to ~4 mm voxels and
   clamped to a soft-tissue window, which keeps organs rather than the
   air/skin edge in charge of the metric; a two-level pyramid (~8 and ~4 mm),
   each level Gaussian-smoothed by half its voxel.
2. Initial translation: in-plane from the body centres of mass; along z from
   the best correlation of the two slice-mean intensity profiles (the scanned
   ranges may differ, so a z centre of mass would be biased).
3. Rigid (Euler 3D) on the ~8 then ~4 mm level, then affine on ~4 mm:
   normalised cross-correlation over a fixed number of random points of the
   baseline body (``metric_samples``), regular-step gradient descent with
   physical-shift scales, stopped when the step falls below 0.01 mm or the
   gradient vanishes. Identical images (or the same pixels in a shifted frame
   of reference) coincide under the initial transform: the gradient there is
   zero and the optimiser stops at once, at the identity (or the shift).
4. Optional deformable refinement inside the baseline liver: the ~4 mm
   images cropped to the liver region (opened by 8 mm, which drops thin
   attachments such as vessels, largest part) plus ``roi_margin_mm``; the
   follow-up resampled by the affine transform, its median in the liver
   matched to the baseline's (contrast-phase offset); a dense displacement
   field by symmetric-forces demons over shrink factors
   ``demons_shrink_factors`` (Gaussian-regularised by ``demons_sd_voxels``),
   stopping early when the field no longer changes, tapered to zero across
   the margin and applied before the affine transform. Identical images give
   a zero field.

Deterministic: random sampling uses a fixed seed, and the metric runs on one
thread (ITK's multi-threaded metric sums partial results in a varying order,
which changes the last bits); the demons update of each voxel is independent
of the thread split. The transform is identical run to run.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from pipeline.config import RegistrationConfig
from pipeline.errors import RegistrationError
from pipeline.records import RegistrationSummary
from segmentation.working_grid import integer_block_sums

log = logging.getLogger(__name__)

_PYRAMID_SHRINK = (2, 1)  # of the working image: ~8 mm, ~4 mm
_DEFORMABLE_SMOOTHING_VOXELS = 0.75  # Gaussian sigma of the deformable stage's images (noise)
_ROI_MIN_AREA_FRACTION = 0.05  # slices of the liver region with less (vessels, thin tips) do not extend the crop


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
    iterations: tuple[int, ...] = ()  # rigid per level, affine, demons per level
    affine_kept: bool = True

    def map_point(self, point_lps: tuple[float, float, float]) -> tuple[float, float, float]:
        return tuple(float(v) for v in self.transform.TransformPoint(tuple(float(c) for c in point_lps)))  # type: ignore[return-value]

    def summary(self) -> RegistrationSummary:
        return RegistrationSummary(
            type=("rigid -> affine" if self.affine_kept else "rigid (affine stage did not improve the metric)")
            + (" -> demons displacement field (liver region)" if self.deformable else ""),
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
            iterations=list(self.iterations),
        )


@dataclass(frozen=True, eq=False)
class _Side:
    """One CT's working images: the pyramid (coarse to fine), its body mask, centre and slice profile."""

    pyramid: tuple[sitk.Image, ...]
    body_zyx: np.ndarray
    centre_lps_mm: np.ndarray
    z_profile: tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True, eq=False)
class _Region:
    """The baseline's deformable region: cropped ~4 mm image, its liver mask, the taper weights."""

    image: sitk.Image
    roi_zyx: np.ndarray
    taper_zyx: np.ndarray
    median_hu: float


@dataclass(frozen=True, eq=False)
class RegistrationReference:
    """The baseline's share of every registration of a study (:func:`prepare_reference`)."""

    side: _Side
    masks: tuple[sitk.Image, ...]  # metric masks per pyramid level (the dilated body)
    mask_voxels: tuple[int, ...]
    region: _Region | None
    elapsed_s: float


def _float(ct: sitk.Image) -> sitk.Image:
    return ct if ct.GetPixelID() == sitk.sitkFloat32 else sitk.Cast(ct, sitk.sitkFloat32)


def block_means(ct: sitk.Image, factors: Sequence[int]) -> sitk.Image:
    """``sitk.BinShrink`` of the CT in float32, to the bit, without a float copy of the CT when it holds small
    integers (as stored in DICOM): exact block sums times ``1 / n`` in double, rounded to float32, as ITK does.

    ``factors`` in ITK's (x, y, z) order.
    """
    values = sitk.GetArrayViewFromImage(ct)
    f_zyx = tuple(int(f) for f in reversed(factors))
    n_zyx = [n // f for n, f in zip(values.shape, f_zyx, strict=True)]
    sums = None
    if min(n_zyx) >= 1:
        sums = integer_block_sums(values[tuple(slice(0, n * f) for n, f in zip(n_zyx, f_zyx, strict=True))], f_zyx)
    if sums is None:
        return sitk.BinShrink(_float(ct), [int(f) for f in factors])
    small = sitk.GetImageFromArray((sums * (1.0 / math.prod(f_zyx))).astype(np.float32))
    small.SetSpacing([s * f for s, f in zip(ct.GetSpacing(), factors, strict=True)])
    small.SetDirection(ct.GetDirection())
    small.SetOrigin(ct.TransformContinuousIndexToPhysicalPoint([0.5 * (f - 1) for f in factors]))
    return small


def working_image(ct: sitk.Image, config: RegistrationConfig, spacing_mm: float | None = None) -> sitk.Image:
    """Block-averaged (~``spacing_mm``, default the working spacing) float image clamped to the soft-tissue window."""
    target = spacing_mm or config.working_spacing_mm
    factors = [max(1, int(round(target / s))) for s in ct.GetSpacing()]
    lo, hi = config.window_hu
    return sitk.Clamp(block_means(ct, factors), sitk.sitkFloat32, lo, hi)


def _deformable_image(ct: sitk.Image, config: RegistrationConfig) -> sitk.Image:
    """The working image of the deformable stage: ~``deformable_spacing_mm``, smoothed by half a voxel."""
    return _smooth(working_image(ct, config, config.deformable_spacing_mm), _DEFORMABLE_SMOOTHING_VOXELS)


def _smooth(image: sitk.Image, sigma_voxels: float) -> sitk.Image:
    return sitk.SmoothingRecursiveGaussian(image, [sigma_voxels * s for s in image.GetSpacing()])


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
    rows = np.column_stack(
        [np.arange(arr.shape[0]), np.full(arr.shape[0], centre[0]), np.full(arr.shape[0], centre[1])]
    )
    return _physical(image, rows)[:, 2], profile


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


def _side(ct: sitk.Image, config: RegistrationConfig) -> _Side:
    work = working_image(ct, config)
    body = _body_mask(work, config.window_hu[0] + 1.0)
    levels = tuple(
        sitk.Shrink(_smooth(work, 0.5 * s), [s] * 3) if s > 1 else _smooth(work, 0.5) for s in _PYRAMID_SHRINK
    )
    return _Side(levels, body, _centre_of_mass(work, body), _z_profile(work, body))


def _liver_region(work: sitk.Image, roi: sitk.Image, config: RegistrationConfig) -> _Region:
    """The deformable region on the baseline's working grid (see the module docstring, step 4)."""
    fraction = sitk.Resample(roi, work, sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkFloat32)  # no float copy
    inside = sitk.GetArrayViewFromImage(fraction) >= 0.5
    if not inside.any():
        raise RegistrationError("the deformable region of interest is empty")
    area = inside.sum(axis=(1, 2))
    inside = inside & (area >= _ROI_MIN_AREA_FRACTION * area.max())[:, None, None]
    where = np.nonzero(inside)
    margin = np.ceil(config.roi_margin_mm / np.asarray(work.GetSpacing()[::-1])).astype(int)
    lo = np.maximum(np.array([w.min() for w in where]) - margin, 0)
    hi = np.minimum(np.array([w.max() + 1 for w in where]) + margin, inside.shape)
    crop = sitk.RegionOfInterest(work, [int(v) for v in (hi - lo)[::-1]], [int(v) for v in lo[::-1]])
    roi_crop = inside[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
    border = np.ones(roi_crop.shape, bool)
    border[1:-1, 1:-1, 1:-1] = False
    distance = ndimage.distance_transform_edt(~border, sampling=crop.GetSpacing()[::-1])
    taper = np.clip(distance / config.roi_margin_mm, 0.0, 1.0)
    median = float(np.median(sitk.GetArrayViewFromImage(crop)[roi_crop]))
    return _Region(crop, roi_crop, taper, median)


def prepare_reference(
    fixed_ct: sitk.Image, config: RegistrationConfig | None = None, roi: sitk.Image | None = None
) -> RegistrationReference:
    """The baseline's share of the registrations (see the module docstring).

    ``roi`` (1 inside, on the fixed grid) is the liver region of the
    deformable stage (used when ``config.deformable``).
    """
    config = config or RegistrationConfig()
    t0 = time.perf_counter()
    side = _side(fixed_ct, config)
    body = ndimage.binary_dilation(side.body_zyx, iterations=2)
    masks, counts = [], []
    for level in side.pyramid:
        shrink = [int(round(a / b)) for a, b in zip(level.GetSpacing(), side.pyramid[-1].GetSpacing(), strict=True)]
        mask = sitk.GetImageFromArray(body.astype(np.uint8))
        mask.CopyInformation(side.pyramid[-1])
        mask = sitk.BinShrink(mask, shrink) if max(shrink) > 1 else mask
        mask = sitk.Cast(mask > 0, sitk.sitkUInt8)
        masks.append(mask)
        counts.append(int(np.count_nonzero(sitk.GetArrayViewFromImage(mask))))
    region = None
    if config.deformable and roi is not None:
        region = _liver_region(_deformable_image(fixed_ct, config), roi, config)
    return RegistrationReference(side, tuple(masks), tuple(counts), region, time.perf_counter() - t0)


def _method(
    config: RegistrationConfig, mask: sitk.Image, voxels: int, samples: int, iterations: int, learning_rate: float
) -> sitk.ImageRegistrationMethod:
    reg = sitk.ImageRegistrationMethod()
    reg.SetMetricAsCorrelation()
    reg.SetMetricSamplingStrategy(reg.RANDOM)
    reg.SetMetricSamplingPercentage(min(1.0, samples / max(voxels, 1)), config.random_seed)
    reg.SetMetricFixedMask(mask)
    reg.SetMetricUseFixedImageGradientFilter(False)
    reg.SetMetricUseMovingImageGradientFilter(False)
    reg.SetInterpolator(sitk.sitkLinear)
    reg.SetOptimizerAsRegularStepGradientDescent(
        learningRate=learning_rate,
        minStep=0.01,
        numberOfIterations=iterations,
        relaxationFactor=0.5,
        gradientMagnitudeTolerance=1e-8,
    )
    reg.SetOptimizerScalesFromPhysicalShift()
    reg.SetShrinkFactorsPerLevel([1])
    reg.SetSmoothingSigmasPerLevel([0.0])
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


def _ncc(a: np.ndarray, b: np.ndarray) -> float:
    x, y = a.astype(np.float64), b.astype(np.float64)
    x, y = x - x.mean(), y - y.mean()
    return float((x @ y) / np.sqrt((x @ x) * (y @ y) + 1e-12))


def _demons(
    region: _Region, moving: sitk.Image, affine: sitk.Transform, config: RegistrationConfig
) -> tuple[sitk.DisplacementFieldTransform, float, float, float, tuple[int, ...]]:
    """Displacement field on the region's grid (tapered), its largest length in the liver, NCC before/after (in
    the liver seen by the follow-up), iterations per level. Where the follow-up's field of view ends, the
    baseline stands in for it, so that the border of the scanned range exerts no force."""
    fixed = region.image
    warped = sitk.Resample(moving, fixed, affine, sitk.sitkLinear, config.window_hu[0], sitk.sitkFloat32)
    ones = sitk.Image(moving.GetSize(), sitk.sitkUInt8) + 1
    ones.CopyInformation(moving)
    seen = sitk.GetArrayFromImage(sitk.Resample(ones, fixed, affine, sitk.sitkNearestNeighbor, 0)) > 0
    if not (seen & region.roi_zyx).any():
        raise RegistrationError("the liver region lies outside the follow-up's field of view")
    offset = float(np.median(sitk.GetArrayViewFromImage(warped)[region.roi_zyx & seen])) - region.median_hu
    if offset or not seen.all():  # beyond the follow-up's field of view: the baseline itself, so no force there
        values = np.where(seen, sitk.GetArrayViewFromImage(warped) - offset, sitk.GetArrayViewFromImage(fixed))
        warped = sitk.GetImageFromArray(values.astype(np.float32))
        warped.CopyInformation(fixed)
    field = None
    iterations = []
    for shrink, n in zip(config.demons_shrink_factors, config.demons_iterations, strict=True):
        f = sitk.Shrink(fixed, [shrink] * 3) if shrink > 1 else fixed
        m = sitk.Shrink(warped, [shrink] * 3) if shrink > 1 else warped
        demons = sitk.FastSymmetricForcesDemonsRegistrationFilter()
        demons.SetNumberOfIterations(n)
        demons.SetStandardDeviations(config.demons_sd_voxels)
        demons.SetSmoothDisplacementField(True)
        demons.SetMaximumRMSError(config.demons_rms_change_mm)
        if field is None:
            field = demons.Execute(f, m)
        else:
            field = demons.Execute(f, m, sitk.Resample(field, f, sitk.Transform(), sitk.sitkLinear, 0.0))
        iterations.append(int(demons.GetElapsedIterations()))
    assert field is not None
    field = sitk.Resample(field, fixed, sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkVectorFloat64)
    vectors = sitk.GetArrayFromImage(field) * region.taper_zyx[..., None]
    tapered = sitk.GetImageFromArray(vectors, isVector=True)
    tapered.CopyInformation(fixed)
    transform = sitk.DisplacementFieldTransform(tapered)
    longest = float(np.linalg.norm(vectors[region.roi_zyx], axis=-1).max())
    inside = region.roi_zyx & seen
    final = sitk.Resample(
        moving, fixed, sitk.CompositeTransform([affine, transform]), sitk.sitkLinear, config.window_hu[0]
    )
    fixed_values = sitk.GetArrayViewFromImage(fixed)[inside]
    before = _ncc(fixed_values, sitk.GetArrayViewFromImage(warped)[inside])
    after = _ncc(fixed_values, sitk.GetArrayViewFromImage(final)[inside])
    return transform, longest, before, after, tuple(iterations)


def _global(
    reference: RegistrationReference, moving: _Side, config: RegistrationConfig
) -> tuple[sitk.AffineTransform, tuple[float, float, float], float, float, list[int], bool]:
    """Initial translation, rigid per pyramid level, then affine (steps 2-3 of the module docstring).

    The affine stage is kept only if it improves the metric over the rigid
    result on the same sample points; otherwise the rigid transform stands.
    """
    dz = _z_offset(reference.side.z_profile, moving.z_profile, config.z_search_mm)
    cf, cm = reference.side.centre_lps_mm, moving.centre_lps_mm
    initial = (float(cm[0] - cf[0]), float(cm[1] - cf[1]), dz)
    iterations: list[int] = []
    rigid = sitk.Euler3DTransform()
    rigid.SetCenter(tuple(float(v) for v in cf))
    rigid.SetTranslation(initial)
    levels = zip(reference.side.pyramid, moving.pyramid, reference.masks, reference.mask_voxels, strict=True)
    for (f, m, mask, voxels), samples in zip(levels, config.metric_samples, strict=True):
        reg = _method(config, mask, voxels, samples, config.rigid_iterations, learning_rate=2.0)
        reg.SetInitialTransform(rigid, inPlace=True)
        with _single_threaded():
            reg.Execute(f, m)
        iterations.append(int(reg.GetOptimizerIteration()))

    def as_affine(t: sitk.Euler3DTransform) -> sitk.AffineTransform:
        a = sitk.AffineTransform(3)
        a.SetCenter(t.GetCenter())
        a.SetMatrix(t.GetMatrix())
        a.SetTranslation(t.GetTranslation())
        return a

    affine = as_affine(rigid)
    samples, voxels = config.metric_samples[-1], reference.mask_voxels[-1]
    reg = _method(config, reference.masks[-1], voxels, samples, config.affine_iterations, learning_rate=1.0)
    reg.SetInitialTransform(affine, inPlace=True)
    with _single_threaded():
        reg.Execute(reference.side.pyramid[-1], moving.pyramid[-1])
    iterations.append(int(reg.GetOptimizerIteration()))

    def metric(transform: sitk.Transform) -> float:
        reg = _method(config, reference.masks[-1], voxels, samples, 0, learning_rate=1.0)
        reg.SetInitialTransform(transform)
        with _single_threaded():
            return float(reg.MetricEvaluate(reference.side.pyramid[-1], moving.pyramid[-1]))

    rigid_metric, affine_metric = metric(rigid), metric(affine)
    if affine_metric > rigid_metric:  # the metric is minimised: the affine stage made it worse
        log.info(
            "affine stage did not improve on the rigid result (%.5f vs %.5f): rigid kept", affine_metric, rigid_metric
        )
        return as_affine(rigid), initial, rigid_metric, rigid_metric, iterations, False
    return affine, initial, rigid_metric, affine_metric, iterations, True


def _reference(
    fixed: sitk.Image | RegistrationReference, config: RegistrationConfig, roi: sitk.Image | None
) -> RegistrationReference:
    """The prepared baseline: ``fixed`` itself if already prepared (then without ``roi``), else prepared now."""
    if isinstance(fixed, RegistrationReference):
        if roi is not None:
            raise ValueError("the region of interest belongs to prepare_reference")
        return fixed
    return prepare_reference(fixed, config, roi)


def _plausible_motion(affine: sitk.AffineTransform, config: RegistrationConfig) -> tuple[float, tuple[float, ...]]:
    """The affine's rotation angle (deg, of its closest rotation) and translation (mm).

    Raises
    ------
    RegistrationError
        If the rotation or translation exceeds the configured limits or a scale is outside 0.8..1.25.
    """
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
    return angle, translation


def register_followup(
    fixed: sitk.Image | RegistrationReference,
    moving_ct: sitk.Image,
    config: RegistrationConfig | None = None,
    roi: sitk.Image | None = None,
) -> RegistrationResult:
    """Register a follow-up CT (moving) to the baseline (fixed); see the module docstring.

    ``fixed`` is the baseline CT or its :func:`prepare_reference` (prepared
    once per study; then ``roi`` is not given). ``roi`` (1 inside, on the
    fixed grid) enables the deformable stage when ``config.deformable``.
    """
    config = config or RegistrationConfig()
    t0 = time.perf_counter()
    reference = _reference(fixed, config, roi)
    moving = _side(moving_ct, config)
    affine, initial, rigid_metric, affine_metric, iterations, affine_kept = _global(reference, moving, config)
    angle, translation = _plausible_motion(affine, config)
    transform: sitk.Transform = affine
    max_deformation, ncc_affine, ncc_final = 0.0, None, None
    deformable = bool(config.deformable and reference.region is not None)
    if deformable:
        assert reference.region is not None
        field, max_deformation, ncc_affine, ncc_final, demons_iterations = _demons(
            reference.region, _deformable_image(moving_ct, config), affine, config
        )
        iterations += demons_iterations
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
        iterations=tuple(iterations),
        affine_kept=affine_kept,
    )
