"""Mask files made by other tools: a label image SimpleITK reads (NIfTI, NRRD, MHA) or a DICOM SEG (and the
DICOM object of a given modality, SEG or RTSTRUCT, in a folder).

* A label map needs a label unless it holds a single non-zero label; a DICOM SEG
  segment is chosen the same way (segment number).
* A float image with values in [0, 1] is taken as partial-volume fractions.
* The returned image carries the file's geometry in LPS patient coordinates
  (SimpleITK converts NIfTI's RAS affine; highdicom reads the SEG's planes).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk

from pipeline.dicom.seg import read_seg, segment_image
from pipeline.errors import InputError


def dicom_object(path: Path, modality: str) -> Path | None:
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
    seg_path = dicom_object(path, "SEG") if path.exists() else None
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
