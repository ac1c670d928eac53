"""Loading: pixel data of a sorted slice stack into a SimpleITK image in physical units.

Each slice's own RescaleSlope/RescaleIntercept is applied (PET scanners store
a different slope per slice). CT is returned in HU as int16 when every slice's
rescale is integral (the usual case, half the memory of float32), else as
float32. PET is returned as float32 SUVbw when the SUV factor can be computed,
else in its stored units with the reason recorded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
import SimpleITK as sitk

from pipeline.discover import InstanceHeader
from pipeline.errors import DicomReadError, GeometryError, InputError
from pipeline.slices import SliceStack, sort_slices
from pipeline.suv import SuvFactor, SuvUnavailable, suv_bw_factor

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedSeries:
    """A loaded series: the image, where it came from, and its units."""

    image: sitk.Image
    series_uid: str
    modality: str
    units: str  # "HU", "SUVbw", "BQML", ...
    n_slices: int
    frame_of_reference_uid: str | None
    suv: SuvFactor | None = None
    suv_unavailable_reason: str | None = None


def _read_slice(inst: InstanceHeader, label: str, root: Path | None) -> np.ndarray:
    name = str(inst.path.relative_to(root)) if root else str(inst.path)
    try:
        ds = pydicom.dcmread(inst.path)
        pixels = ds.pixel_array
    except Exception as exc:  # noqa: BLE001 - any decoder failure is bad input for this file
        raise DicomReadError(f"{label}: file {name}: cannot read pixel data ({exc})") from exc
    if pixels.shape != (inst.rows, inst.columns):
        raise DicomReadError(f"{label}: file {name}: pixel array {pixels.shape} does not match Rows x Columns {inst.rows}x{inst.columns}")
    return pixels


def read_stack(stack: SliceStack, root: Path | None = None, integral_dtype: type = np.int16) -> np.ndarray:
    """Voxel values ``[z, y, x]`` after each slice's rescale.

    The result is ``integral_dtype`` when every slope and intercept is integral
    and the values fit, else float32.
    """
    first = stack.instances[0]
    label = f"{first.modality} series {first.series_uid}"
    integral = all(float(i.rescale_slope).is_integer() and float(i.rescale_intercept).is_integer() for i in stack.instances)
    dtype = integral_dtype if integral else np.float32
    out = np.empty(stack.shape_zyx, dtype=dtype)
    info = np.iinfo(dtype) if integral else None
    for k, inst in enumerate(stack.instances):
        pixels = _read_slice(inst, label, root)
        if integral:
            values = pixels.astype(np.int32) * int(inst.rescale_slope) + int(inst.rescale_intercept)
        else:
            values = pixels.astype(np.float32) * np.float32(inst.rescale_slope) + np.float32(inst.rescale_intercept)
        if info is not None and (values.min() < info.min or values.max() > info.max):
            raise DicomReadError(f"{label}: slice {k} values exceed the {np.dtype(dtype).name} range")
        out[k] = values
    return out


def to_image(array_zyx: np.ndarray, stack: SliceStack) -> sitk.Image:
    """A SimpleITK image of ``array_zyx`` with the stack's geometry."""
    image = sitk.GetImageFromArray(array_zyx)
    image.SetOrigin(stack.origin_lps_mm)
    image.SetSpacing(stack.spacing_xyz_mm)
    image.SetDirection(stack.direction)
    return image


def load_ct(instances: Sequence[InstanceHeader], root: Path | None = None) -> LoadedSeries:
    """Load a CT series in HU."""
    stack = sort_slices(instances)
    array = read_stack(stack, root)
    first = stack.instances[0]
    return LoadedSeries(to_image(array, stack), first.series_uid, "CT", "HU", stack.shape_zyx[0], first.frame_of_reference_uid)


def load_pet(instances: Sequence[InstanceHeader], root: Path | None = None) -> LoadedSeries:
    """Load a PET series in SUVbw (float32); stored units with a reason when SUV is unavailable."""
    stack = sort_slices(instances)
    array = read_stack(stack, root, integral_dtype=np.int32).astype(np.float32, copy=False)
    first = stack.instances[0]
    units = (first.pet.units if first.pet else None) or "unknown"
    try:
        factor = suv_bw_factor([i.pet for i in stack.instances if i.pet is not None])
    except SuvUnavailable as exc:
        log.warning("PET series %s: SUV not available: %s", first.series_uid, exc)
        return LoadedSeries(
            to_image(array, stack), first.series_uid, "PT", units, stack.shape_zyx[0], first.frame_of_reference_uid,
            suv_unavailable_reason=str(exc),
        )
    array *= np.float32(factor.factor)
    return LoadedSeries(
        to_image(array, stack), first.series_uid, "PT", "SUVbw", stack.shape_zyx[0], first.frame_of_reference_uid, suv=factor
    )


def load_first_usable(
    candidates: Sequence[Sequence[InstanceHeader]],
    loader: Callable[[Sequence[InstanceHeader], Path | None], LoadedSeries],
    root: Path | None,
    what: str,
) -> LoadedSeries:
    """Load the first candidate series that loads; log why the others were refused.

    Raises the last error (an :class:`InputError`) when none loads.
    """
    errors: list[InputError] = []
    for instances in candidates:
        try:
            return loader(instances, root)
        except (GeometryError, DicomReadError) as exc:
            log.warning("%s: %s", what, exc)
            errors.append(exc)
    if errors:
        raise errors[-1]
    raise InputError(f"{what}: no candidate series")
