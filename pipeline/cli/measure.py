"""``lesion-pipeline measure IMAGE MASK``: measure a lesion mask made by another tool on an image.

* IMAGE: a DICOM folder (one CT or PET series, or choose one with
  ``--series UID``; loaded like the pipeline does: CT in HU, PET in SUVbw)
  or an image file SimpleITK reads (NIfTI, NRRD, MHA; values as stored).
* MASK: an image file (NIfTI, ...), a DICOM SEG file (or a folder holding
  one), read with highdicom, or a DICOM RTSTRUCT file (or a folder holding
  one), whose ROI is rasterised onto the image grid
  (:mod:`pipeline.dicom.rtstruct`). A label map needs ``--label N`` unless
  it holds a single label; a DICOM SEG segment is chosen the same way, an
  RTSTRUCT ROI with ``--roi NAME|NUMBER``. A float mask with values in [0, 1]
  is taken as partial-volume fractions.
* A mask on another grid than the image is resampled onto it (nearest
  neighbour for labels, linear for fractions) with a warning.

Definitions of the measures: docs/definitions.md.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from measurement.lesion import LesionMeasures, measure_lesion
from measurement.masks import inside
from measurement.pet import sul_per_suvbw
from pipeline import spatial
from pipeline.dicom.discover import DicomIndex, InstanceHeader, discover
from pipeline.dicom.load import load_ct, load_pet
from pipeline.dicom.rtstruct import choose_roi, rasterise, read_rtstruct
from pipeline.dicom.seg import read_seg, segment_image
from pipeline.errors import InputError

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class MeasureImage:
    image: sitk.Image
    units: str
    modality: str  # "CT", "PT" or "" (not DICOM)
    sul_per_suvbw: float | None = None
    series_uid: str | None = None
    frame_of_reference_uid: str | None = None


def _dicom_series(index: DicomIndex, series_uid: str | None, path: Path) -> list[InstanceHeader]:
    groups = {uid: insts for uid, insts in index.by_series().items() if insts[0].modality in ("CT", "PT")}
    if series_uid is not None:
        if series_uid not in groups:
            raise InputError(f"{path}: no CT or PET series {series_uid}")
        return groups[series_uid]
    if len(groups) != 1:
        listed = ", ".join(f"{uid} ({g[0].modality}, {len(g)} files)" for uid, g in sorted(groups.items()))
        raise InputError(f"{path}: {len(groups)} CT/PET series ({listed or 'none'}); choose one with --series UID")
    return next(iter(groups.values()))


def load_image(path: Path, series_uid: str | None = None, lbm_formula: str = "james") -> MeasureImage:
    """The image to measure on (see module docstring)."""
    if path.is_dir():
        index = discover(path)
        instances = _dicom_series(index, series_uid, path)
        if instances[0].modality == "CT":
            ct = load_ct(instances, index.root)
            return MeasureImage(ct.image, ct.units, "CT", None, ct.series_uid, ct.frame_of_reference_uid)
        pet = load_pet(instances, index.root)
        header = instances[0].pet
        factor = None
        if pet.suv is not None and header and header.weight_kg and header.height_m and header.sex:
            try:
                factor = sul_per_suvbw(header.weight_kg, header.height_m, header.sex.upper(), lbm_formula)
            except ValueError as exc:
                log.warning("%s: no SUL: %s", path, exc)
        return MeasureImage(pet.image, pet.units, "PT", factor, pet.series_uid, pet.frame_of_reference_uid)
    if not path.is_file():
        raise InputError(f"{path}: image not found")
    try:
        return MeasureImage(sitk.ReadImage(str(path)), "as stored", "")
    except RuntimeError:
        raise InputError(
            f"{path}: not an image file SimpleITK can read (NIfTI, NRRD, MHA) nor a DICOM folder"
        ) from None


def _dicom_object(path: Path, modality: str) -> Path | None:
    """The DICOM file of ``modality`` (SEG, RTSTRUCT) at ``path`` (a file, or a folder holding exactly one), else ``None``."""
    import pydicom

    candidates = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    found = []
    for p in candidates:
        try:
            if pydicom.dcmread(p, stop_before_pixels=True, specific_tags=["Modality"]).get("Modality") == modality:
                found.append(p)
        except Exception:
            continue
    if path.is_dir() and len(found) > 1:
        raise InputError(f"{path}: {len(found)} DICOM {modality} files; give one file")
    return found[0] if found else None


def _pick(labels: list[int], label: int | None, what: str, path: Path) -> int:
    if label is not None:
        if label not in labels:
            raise InputError(f"{path}: no {what} {label} (has {', '.join(map(str, labels)) or 'none'})")
        return label
    if len(labels) != 1:
        raise InputError(f"{path}: {len(labels)} {what}s ({', '.join(map(str, labels))}); choose one with --label N")
    return labels[0]


def load_mask(path: Path, label: int | None = None) -> tuple[sitk.Image, int | None]:
    """The lesion mask (uint8 0/1 or float32 fractions) and the label or segment number used."""
    seg_path = _dicom_object(path, "SEG") if path.exists() else None
    if seg_path is not None:
        seg = read_seg(seg_path)
        number = _pick(list(seg.segment_numbers), label, "segment", seg_path)
        return segment_image(seg, number, seg_path), number
    if not path.is_file():
        raise InputError(f"{path}: mask not found")
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError:
        raise InputError(f"{path}: not a mask image SimpleITK can read nor a DICOM SEG") from None
    values = sitk.GetArrayViewFromImage(image)
    integral = np.issubdtype(values.dtype, np.integer) or bool(np.all(np.mod(values, 1) == 0))
    if integral:
        labels = [int(v) for v in np.unique(values) if v != 0]
        chosen = _pick(labels, label, "label", path)
        return sitk.Cast(image == chosen, sitk.sitkUInt8), chosen
    if label is not None or values.min() < 0 or values.max() > 1:
        raise InputError(f"{path}: a float mask must hold fractions in [0, 1] (no --label)")
    return sitk.Cast(image, sitk.sitkFloat32), None


def _same_grid(a: sitk.Image, b: sitk.Image) -> bool:
    return (
        a.GetSize() == b.GetSize()
        and np.allclose(a.GetSpacing(), b.GetSpacing(), atol=1e-4)
        and np.allclose(a.GetOrigin(), b.GetOrigin(), atol=1e-3)
        and np.allclose(a.GetDirection(), b.GetDirection(), atol=1e-5)
    )


def mask_on_image_grid(mask: sitk.Image, image: sitk.Image, source: Path) -> np.ndarray:
    """The mask's values on the image grid, (z, y, x)."""
    if not _same_grid(mask, image):
        log.warning("%s: mask grid differs from the image grid; resampled onto the image", source)
        fractional = mask.GetPixelID() == sitk.sitkFloat32
        mask = sitk.Resample(
            mask, image, sitk.Transform(), sitk.sitkLinear if fractional else sitk.sitkNearestNeighbor, 0.0
        )
    array = sitk.GetArrayFromImage(mask)
    if not inside(array).any():
        raise InputError(f"{source}: the mask has no lesion voxel on the image grid")
    return array.astype(bool) if array.dtype == np.uint8 else array


def _lps(image: sitk.Image, index_zyx: tuple[float, float, float]) -> list[float]:
    return [round(float(v), 3) for v in spatial.index_zyx_to_lps(image, np.asarray(index_zyx))]


def measures_record(m: LesionMeasures, image: MeasureImage) -> dict[str, object]:
    """The measures as a JSON-ready dict; points in patient coordinates (LPS mm)."""
    img = image.image
    pet = m.pet
    assert pet is not None and m.ct is not None
    out: dict[str, object] = {
        "longest_diameter_mm": m.axial.longest_mm,
        "short_axis_mm": m.axial.short_axis_mm,
        "long_axis_lps_mm": [_lps(img, p) for p in m.axial.long_axis_zyx],
        "short_axis_lps_mm": [_lps(img, p) for p in m.axial.short_axis_zyx],
        "axial_slice_index": m.axial.slice_index,
        **asdict(m.shape),
        "centroid_lps_mm": _lps(img, m.centroid_zyx),
        "intensity_units": image.units,
        "mean": m.ct.mean_hu,
        "sd": m.ct.sd_hu,
        "min": pet.suv_min,
        "max": pet.suv_max,
        "peak_local": pet.suv_peak_local,
        "peak_global": pet.suv_peak,
        "voxels": pet.n_voxels,
    }
    if image.modality == "PT":
        out.update(mtv_ml=pet.mtv_ml, tlg_suv_ml=pet.tlg_suv_ml)
        out["sul_peak"] = pet.suv_peak * image.sul_per_suvbw if image.sul_per_suvbw is not None else None
    return out


def rtstruct_mask(path: Path, image: MeasureImage, roi: str | int | None) -> tuple[np.ndarray, int, str]:
    """The chosen ROI of the RTSTRUCT at ``path`` rasterised on the image grid: (mask, ROI number, ROI name)."""
    structures = read_rtstruct(path)
    if (
        structures.frame_of_reference_uid
        and image.frame_of_reference_uid
        and structures.frame_of_reference_uid != image.frame_of_reference_uid
    ):
        raise InputError(
            f"{path}: the structure set's frame of reference {structures.frame_of_reference_uid} is not the "
            f"image's ({image.frame_of_reference_uid})"
        )
    if structures.referenced_series_uid and image.series_uid and structures.referenced_series_uid != image.series_uid:
        log.warning(
            "%s: contours drawn on series %s, rasterised on series %s (same frame of reference)",
            path,
            structures.referenced_series_uid,
            image.series_uid,
        )
    chosen = choose_roi(structures, roi)
    mask = rasterise(chosen, image.image, path)
    if not mask.any():
        raise InputError(f"{path}: ROI {chosen.number} {chosen.name!r} covers no voxel of the image")
    return mask, chosen.number, chosen.name


def measure_files(
    image_path: Path,
    mask_path: Path,
    label: int | None = None,
    series_uid: str | None = None,
    roi: str | int | None = None,
) -> dict[str, object]:
    """Load, align and measure; the result as written by ``--json``."""
    image = load_image(Path(image_path), series_uid)
    mask_path = Path(mask_path)
    rtstruct = _dicom_object(mask_path, "RTSTRUCT") if mask_path.exists() else None
    roi_name = None
    if rtstruct is not None:
        mask, used, roi_name = rtstruct_mask(rtstruct, image, roi if roi is not None else label)
    elif roi is not None:
        raise InputError(f"{mask_path}: --roi is for a DICOM RTSTRUCT mask; use --label for label maps and SEG")
    else:
        mask_image, used = load_mask(mask_path, label)  # type: ignore[assignment]
        mask = mask_on_image_grid(mask_image, image.image, mask_path)
    values = spatial.array_zyx(image.image).astype(np.float64)
    m = measure_lesion(mask, spatial.spacing_zyx(image.image), ct_zyx=values, pet_zyx=values)
    result: dict[str, object] = {
        "image": str(image_path),
        "mask": str(mask_path),
        "label": used,
        "mask_type": "fractions" if mask.dtype != bool else "binary",
        "spacing_zyx_mm": list(spatial.spacing_zyx(image.image)),
        "lesion": measures_record(m, image),
    }
    if rtstruct is not None:
        result["roi_name"] = roi_name
    return result


def measures_text(result: dict[str, object]) -> str:
    """A readable report of :func:`measure_files`'s result."""
    m = result["lesion"]
    assert isinstance(m, dict)
    units = m["intensity_units"]

    def pt(p: list[float]) -> str:
        return "(" + ", ".join(f"{v:.1f}" for v in p) + ")"

    what = f"ROI {result['label']} {result['roi_name']!r}" if "roi_name" in result else f"label {result['label']}"
    lines = [
        f"{result['mask']} ({what}, {result['mask_type']}) on {result['image']}",
        f"  longest axial diameter  {m['longest_diameter_mm']:8.2f} mm   {pt(m['long_axis_lps_mm'][0])} -> {pt(m['long_axis_lps_mm'][1])} LPS mm",
        f"  short axis              {m['short_axis_mm']:8.2f} mm   {pt(m['short_axis_lps_mm'][0])} -> {pt(m['short_axis_lps_mm'][1])} LPS mm",
        f"  maximum 3D diameter     {m['max_3d_diameter_mm']:8.2f} mm",
        f"  volume                  {m['voxel_volume_ml']:8.3f} ml (voxels)   {m['mesh_volume_ml']:.3f} ml (mesh)",
        f"  surface area            {m['surface_area_mm2']:8.1f} mm^2   sphericity {m['sphericity']:.3f}",
        f"  axes (IBSI)             {m['major_axis_mm']:.2f} / {m['minor_axis_mm']:.2f} / {m['least_axis_mm']:.2f} mm (major / minor / least)",
        f"  centroid                {pt(m['centroid_lps_mm'])} LPS mm",
        f"  intensity ({units})  mean {m['mean']:.2f}  sd {m['sd']:.2f}  min {m['min']:.2f}  max {m['max']:.2f}"
        + ("" if units == "HU" else f"  peak {m['peak_global']:.2f} (centred on the maximum {m['peak_local']:.2f})"),
    ]
    if "mtv_ml" in m:
        sul = f"  SULpeak {m['sul_peak']:.2f}" if m.get("sul_peak") is not None else ""
        lines.append(f"  PET                     MTV {m['mtv_ml']:.3f} ml  TLG {m['tlg_suv_ml']:.2f}{sul}")
    return "\n".join(lines) + "\n"
