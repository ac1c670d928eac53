"""``convert``: one DICOM series to NIfTI, CT in HU and PET in SUV, with the RAS affine.

NIfTI world coordinates are RAS (x_RAS = -x_LPS, y_RAS = -y_LPS, z_RAS =
z_LPS), as dcm2niix and nibabel use them. The affine maps voxel (i, j, k) (column, row,
slice) to RAS mm: ``diag(-1, -1, 1) @ [D * spacing | origin]`` where D, spacing
and origin are the volume's LPS direction cosines, spacing and first-voxel
centre (:class:`pipeline.dicom.slices.SliceStack`). sform and qform codes are 1
(scanner). The file is written beside its destination and renamed into place,
so a failed conversion leaves nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

import nibabel as nib
import numpy as np
import SimpleITK as sitk

from pipeline.dicom.discover import DicomIndex, InstanceHeader, discover
from pipeline.dicom.load import LoadedSeries, load_ct, load_pet
from pipeline.dicom.series_kind import CT_SOP_CLASSES, PET_SOP_CLASSES
from pipeline.errors import InputError
from pipeline.pet.suv import SuvType

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])


def ras_affine(image: sitk.Image) -> np.ndarray:
    """4x4 voxel (i, j, k) -> RAS mm affine of a SimpleITK image (LPS physical space)."""
    direction = np.asarray(image.GetDirection(), dtype=float).reshape(3, 3)
    affine = np.eye(4)
    affine[:3, :3] = LPS_TO_RAS @ direction @ np.diag(image.GetSpacing())
    affine[:3, 3] = LPS_TO_RAS @ np.asarray(image.GetOrigin(), dtype=float)
    return affine


def to_nifti(image: sitk.Image, description: str = "") -> nib.Nifti1Image:
    """A NIfTI-1 image of ``image`` (array in i, j, k order) with the RAS affine in sform and qform."""
    array_xyz = sitk.GetArrayViewFromImage(image).transpose(2, 1, 0)
    nifti = nib.Nifti1Image(np.asanyarray(array_xyz), ras_affine(image))
    nifti.header.set_xyzt_units("mm", "sec")
    nifti.set_sform(nifti.affine, code=1)
    nifti.set_qform(nifti.affine, code=1)
    nifti.header["descrip"] = description[:79].encode("ascii", "replace")
    return nifti


def _image_series(index: DicomIndex) -> dict[str, list[InstanceHeader]]:
    return {
        uid: members
        for uid, members in index.by_series().items()
        if members[0].sop_class_uid in CT_SOP_CLASSES | PET_SOP_CLASSES
    }


def choose_series(index: DicomIndex, series_uid: str | None) -> list[InstanceHeader]:
    """The series named by ``series_uid``, or the only CT/PET series of the folder."""
    series = _image_series(index)
    if series_uid is not None:
        if series_uid not in series:
            raise InputError(f"{index.root}: no CT or PET series {series_uid} (see `lesion-pipeline inspect`)")
        return series[series_uid]
    if len(series) == 1:
        return next(iter(series.values()))
    if not series:
        raise InputError(f"{index.root}: no CT or PET image series found")
    listed = "; ".join(f"{uid} ({m[0].modality}, {len(m)} slices)" for uid, m in sorted(series.items())[:6])
    raise InputError(f"{index.root}: {len(series)} CT/PET series; choose one with --series UID: {listed}")


def load_series(instances: list[InstanceHeader], root: Path, suv: str) -> LoadedSeries:
    """Load CT in HU, PET in SUV of type ``suv`` (``"none"``: stored units); refuse a PET without SUV."""
    if instances[0].modality == "CT" or instances[0].sop_class_uid in CT_SOP_CLASSES:
        return load_ct(instances, root)
    loaded = load_pet(instances, root, None if suv == "none" else SuvType(suv))
    if suv != "none" and loaded.suv is None:
        raise InputError(
            f"PT series {loaded.series_uid}: SUV not available ({loaded.suv_unavailable_reason}); use --suv none for stored units"
        )
    return loaded


def convert(source: Path | str, out: Path | str, series_uid: str | None = None, suv: str = "bw") -> LoadedSeries:
    """Convert one series under ``source`` to ``out`` (.nii or .nii.gz); return what was loaded."""
    source, out = Path(source), Path(out)
    if not out.name.endswith((".nii", ".nii.gz")):
        raise InputError(f"{out}: the output must end in .nii or .nii.gz")
    index = discover(source, ignore={out})
    loaded = load_series(choose_series(index, series_uid), index.root, suv)
    nifti = to_nifti(loaded.image, f"{loaded.modality} {loaded.units} {loaded.series_uid}")
    out.parent.mkdir(parents=True, exist_ok=True)
    suffix = ".nii.gz" if out.name.endswith(".nii.gz") else ".nii"
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}{suffix}")
    try:
        nib.save(nifti, tmp)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return loaded
