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

from pipeline.errors import RegistrationError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RegistrationConfig:
    working_spacing_mm: float = 4.0
    window_hu: tuple[float, float] = (-300.0, 300.0)
    histogram_bins: int = 48
    sampling_fraction: float = 0.25
    random_seed: int = 20260101
    rigid_iterations: int = 200
    affine_iterations: int = 100
    z_search_mm: float = 80.0
    max_translation_mm: float = 150.0
    max_rotation_deg: float = 30.0


@dataclass(frozen=True)
class RegistrationResult:
    """Fixed (baseline) to moving (follow-up) point transform and its quality figures."""

    transform: sitk.AffineTransform
    initial_translation_mm: tuple[float, float, float]
    rigid_metric: float
    final_metric: float
    rotation_deg: float
    translation_mm: tuple[float, float, float]
    elapsed_s: float

    def map_point(self, point_lps: tuple[float, float, float]) -> tuple[float, float, float]:
        return tuple(float(v) for v in self.transform.TransformPoint(tuple(float(c) for c in point_lps)))  # type: ignore[return-value]

    def as_record(self) -> dict[str, object]:
        return {
            "type": "affine (rigid initialised)",
            "matrix": [round(v, 8) for v in self.transform.GetMatrix()],
            "translation_mm": [round(v, 4) for v in self.transform.GetTranslation()],
            "center_mm": [round(v, 4) for v in self.transform.GetCenter()],
            "initial_translation_mm": [round(v, 3) for v in self.initial_translation_mm],
            "rigid_metric": round(self.rigid_metric, 6),
            "final_metric": round(self.final_metric, 6),
            "rotation_deg": round(self.rotation_deg, 3),
            "elapsed_s": round(self.elapsed_s, 3),
        }


def working_image(ct: sitk.Image, config: RegistrationConfig) -> sitk.Image:
    """Block-averaged (~``working_spacing_mm``) float image clamped to the soft-tissue window."""
    factors = [max(1, int(round(config.working_spacing_mm / s))) for s in ct.GetSpacing()]
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
    return (np.asarray(index_zyx, dtype=float)[..., ::-1] * np.asarray(image.GetSpacing())) @ direction.T + np.asarray(image.GetOrigin())


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


def _method(config: RegistrationConfig, fixed_mask: sitk.Image, iterations: int, shrink: list[int]) -> sitk.ImageRegistrationMethod:
    reg = sitk.ImageRegistrationMethod()
    reg.SetMetricAsMattesMutualInformation(numberOfHistogramBins=config.histogram_bins)
    reg.SetMetricSamplingStrategy(reg.RANDOM)
    reg.SetMetricSamplingPercentage(config.sampling_fraction, config.random_seed)
    reg.SetMetricFixedMask(fixed_mask)
    reg.SetInterpolator(sitk.sitkLinear)
    reg.SetOptimizerAsRegularStepGradientDescent(
        learningRate=2.0, minStep=0.01, numberOfIterations=iterations, relaxationFactor=0.6, gradientMagnitudeTolerance=1e-6
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


def register_followup(fixed_ct: sitk.Image, moving_ct: sitk.Image, config: RegistrationConfig | None = None) -> RegistrationResult:
    """Register a follow-up CT (moving) to the baseline CT (fixed); see the module docstring."""
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
    final_metric = reg.GetMetricValue()

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
    return RegistrationResult(
        transform=affine,
        initial_translation_mm=initial,
        rigid_metric=float(rigid_metric),
        final_metric=float(final_metric),
        rotation_deg=angle,
        translation_mm=translation,  # type: ignore[arg-type]
        elapsed_s=time.perf_counter() - t0,
    )
