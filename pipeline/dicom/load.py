"""Loading: pixel data of a sorted slice stack into a SimpleITK image in physical units.

Each slice's own RescaleSlope/RescaleIntercept is applied (PET scanners store
a different slope per slice; enhanced multi-frame images one per frame). CT is
returned in HU as int16 when every slice's rescale is integral and the values
fit (the usual case, half the memory of float32), else as float32. PET is
returned as float32 SUV (body weight by default, see :mod:`pipeline.pet.suv`) when
the factor can be computed, else in its stored units with the reason recorded.
A PET exported already in SUV (Units GML or CM2ML) is used as stored (converted
to the SUV type asked for), with a warning that SUV was taken from the export.

Uncompressed files are read at the pixel-data offset recorded by the header
pass; compressed ones are decoded by pydicom's plugins. A file that cannot be
read raises :class:`DicomReadError` naming the series and the file.
"""

from __future__ import annotations

import logging
import struct
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from pipeline.dicom.discover import InstanceHeader
from pipeline.dicom.pixels import PixelFormat, read_frames, read_native_into, stored_range
from pipeline.dicom.slices import SliceStack, series_label, sort_slices
from pipeline.errors import DicomReadError, GeometryError, InputError, SuvUnavailable
from pipeline.pet.suv import SUV_UNITS, SuvFactor, SuvType, suv_factor

log = logging.getLogger(__name__)

# what reading or decoding a file's pixel data raises for a file that is not what its header says (truncated,
# corrupt compressed stream, unsupported encoding); anything else is a programming error and propagates
PIXEL_READ_ERRORS = (OSError, EOFError, ValueError, RuntimeError, NotImplementedError, struct.error)


@dataclass(frozen=True)
class LoadedSeries:
    """A loaded series: the image, where it came from, and its units."""

    image: sitk.Image
    series_uid: str
    modality: str
    units: str  # "HU", "SUVbw", "SUVlbm", ..., or the stored PET Units ("BQML", ...)
    n_slices: int
    frame_of_reference_uid: str | None
    suv: SuvFactor | None = None
    suv_unavailable_reason: str | None = None
    instances: tuple[InstanceHeader, ...] = ()  # the slices, sorted along the slice normal


def _name(inst: InstanceHeader, root: Path | None) -> str:
    if root is not None:
        try:
            return str(inst.path.relative_to(root))
        except ValueError:
            pass
    return str(inst.path)


def _require_pixels(instances: Sequence[InstanceHeader], root: Path | None) -> None:
    """Refuse a series with a file whose pixel data the header pass found unusable (named)."""
    for inst in instances:
        if inst.pixels is None:
            raise DicomReadError(
                f"{series_label(instances)}: file {_name(inst, root)}: {inst.pixel_problem or 'no pixel data'}"
            )


def _frames_by_file(stack: SliceStack) -> dict[Path, list[tuple[int, InstanceHeader]]]:
    """Slice positions in the stack grouped by file, so each file is opened (and decoded) once."""
    groups: dict[Path, list[tuple[int, InstanceHeader]]] = defaultdict(list)
    for k, inst in enumerate(stack.instances):
        groups[inst.path].append((k, inst))
    return groups


def read_stack(
    stack: SliceStack, root: Path | None = None, integral_dtype: type = np.int16, factors: Sequence[float] | None = None
) -> np.ndarray:
    """Voxel values ``[z, y, x]`` after each slice's rescale (times ``factors[z]`` if given).

    The result is ``integral_dtype`` when every slope and intercept is integral,
    no factors are given and the values fit, else float32.
    """
    label = series_label(stack.instances)
    integral = factors is None and all(
        float(i.rescale_slope).is_integer() and float(i.rescale_intercept).is_integer() for i in stack.instances
    )
    dtype = np.dtype(integral_dtype if integral else np.float32)
    out = np.empty(stack.shape_zyx, dtype=dtype)
    info = np.iinfo(integral_dtype) if integral else None
    for path, members in _frames_by_file(stack).items():
        first = members[0][1]
        if first.pixels is None:
            raise DicomReadError(f"{label}: file {_name(first, root)}: {first.pixel_problem or 'no pixel data'}")
        if info is not None and _fits_in_place(first.pixels, members, dtype):
            try:
                read_native_into(
                    path, first.pixels, [inst.frame_index or 0 for _, inst in members], [out[k] for k, _ in members]
                )
            except PIXEL_READ_ERRORS as exc:
                raise DicomReadError(f"{label}: file {_name(first, root)}: cannot read pixel data ({exc})") from exc
            for k, inst in members:
                if inst.rescale_slope != 1:
                    out[k] *= int(inst.rescale_slope)
                if inst.rescale_intercept != 0:
                    out[k] += int(inst.rescale_intercept)
            continue
        try:
            frames = read_frames(path, first.pixels, [inst.frame_index or 0 for _, inst in members])
        except PIXEL_READ_ERRORS as exc:
            raise DicomReadError(f"{label}: file {_name(first, root)}: cannot read pixel data ({exc})") from exc
        for (k, inst), pixels in zip(members, frames, strict=True):
            if pixels.shape != stack.shape_zyx[1:]:
                raise DicomReadError(
                    f"{label}: file {_name(inst, root)}: pixel array {pixels.shape} does not match {stack.shape_zyx[1:]}"
                )
            if info is not None:
                values = pixels.astype(np.int32)
                if inst.rescale_slope != 1:
                    values *= int(inst.rescale_slope)
                values += int(inst.rescale_intercept)
                if values.min() < info.min or values.max() > info.max:
                    raise DicomReadError(f"{label}: file {_name(inst, root)}: values exceed the {dtype.name} range")
                out[k] = values
            else:
                scale = np.float64(inst.rescale_slope) * (factors[k] if factors is not None else 1.0)
                offset = np.float64(inst.rescale_intercept) * (factors[k] if factors is not None else 1.0)
                out[k] = pixels * scale + offset
    return out


def _fits_in_place(fmt: PixelFormat, members: list[tuple[int, InstanceHeader]], dtype: np.dtype) -> bool:
    """Native frames of ``dtype``'s width whose rescaled values cannot leave ``dtype``: read in place."""
    if (
        not fmt.native
        or fmt.bits_allocated != dtype.itemsize * 8
        or fmt.dtype.byteorder == ">"
        or fmt.rows * fmt.columns == 0
    ):
        return False
    info = np.iinfo(dtype)
    lo, hi = stored_range(fmt)
    if lo < info.min or hi > info.max:
        return False
    for _, inst in members:
        ends = (lo * inst.rescale_slope + inst.rescale_intercept, hi * inst.rescale_slope + inst.rescale_intercept)
        if min(ends) < info.min or max(ends) > info.max:
            return False
    return True


def to_image(array_zyx: np.ndarray, stack: SliceStack) -> sitk.Image:
    """A SimpleITK image of ``array_zyx`` with the stack's geometry."""
    image = sitk.GetImageFromArray(array_zyx)
    image.SetOrigin(stack.origin_lps_mm)
    image.SetSpacing(stack.spacing_xyz_mm)
    image.SetDirection(stack.direction)
    return image


def load_ct(instances: Sequence[InstanceHeader], root: Path | None = None) -> LoadedSeries:
    """Load a CT series in HU."""
    _require_pixels(instances, root)
    stack = sort_slices(instances, root)
    array = read_stack(stack, root)
    first = stack.instances[0]
    image = to_image(array, stack)
    del array
    return LoadedSeries(
        image,
        first.series_uid,
        "CT",
        "HU",
        stack.shape_zyx[0],
        first.frame_of_reference_uid,
        instances=tuple(stack.instances),
    )


def load_pet(
    instances: Sequence[InstanceHeader], root: Path | None = None, suv_type: SuvType | str | None = SuvType.BW
) -> LoadedSeries:
    """Load a PET series in SUV of ``suv_type`` (float32); ``None`` or an unavailable SUV: stored units.

    A reason is recorded (and logged as a warning naming the series) when SUV
    cannot be computed; warnings of the SUV computation (unit repairs,
    assumptions) are logged too.
    """
    _require_pixels(instances, root)
    stack = sort_slices(instances, root)
    first = stack.instances[0]
    units = (first.pet.units if first.pet else None) or "unknown"
    label = series_label(stack.instances)
    factor: SuvFactor | None = None
    reason = None
    if suv_type is not None:
        try:
            if any(i.pet is None for i in stack.instances):
                raise SuvUnavailable("PET header values missing")
            factor = suv_factor([i.pet for i in stack.instances], suv_type)  # type: ignore[misc]
        except SuvUnavailable as exc:
            reason = str(exc)
            log.warning("%s: SUV not available: %s", label, reason)
    if factor is not None:
        for message in factor.warnings:
            log.warning("%s: %s", label, message)
        if factor.units in SUV_UNITS:
            log.warning(
                "%s: SUV taken from the export (%s); not recomputed from the injected dose and decay",
                label,
                factor.method,
            )
    array = read_stack(stack, root, factors=factor.per_slice(len(stack.instances)) if factor else None)
    array = array.astype(np.float32, copy=False)
    image = to_image(array, stack)
    del array
    return LoadedSeries(
        image,
        first.series_uid,
        "PT",
        factor.suv_type.label if factor else units,
        stack.shape_zyx[0],
        first.frame_of_reference_uid,
        suv=factor,
        suv_unavailable_reason=reason,
        instances=tuple(stack.instances),
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
