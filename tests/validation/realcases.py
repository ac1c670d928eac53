"""The real scans of the real-data folder as the validation sections read them (in place, never copied).

Series are read with SimpleITK (GDCM) so that a series the project's DICOM
loader refuses can still be measured; each becomes a
:class:`pipeline.dicom.load.LoadedSeries` and goes through the same liver
stage as a run (:func:`pipeline.longitudinal.liver.segment_ct_liver`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from pipeline.dicom.load import LoadedSeries


@dataclass(frozen=True, eq=False)
class RealCase:
    name: str
    ct: LoadedSeries
    liver_zyx: np.ndarray | None = None  # reference liver on the CT grid
    reference: str = ""  # what the reference is
    labels_zyx: np.ndarray | None = None  # reference label map (tumours), when there is one


def read_series(folder: Path) -> sitk.Image:
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    return sitk.Cast(reader.Execute(), sitk.sitkInt16)


def as_series(image: sitk.Image, name: str) -> LoadedSeries:
    return LoadedSeries(image, f"({name})", "CT", "HU", image.GetDepth(), None)


def ircad(root: Path) -> RealCase:
    ct = read_series(root / "ircad_patient" / "ct")
    masks = sitk.ReadImage(str(root / "ircad_patient" / "masks.nii.gz"))
    masks.CopyInformation(ct)  # the label map is on the CT grid
    labels = sitk.GetArrayFromImage(masks)
    return RealCase("IRCAD (portal venous)", as_series(ct, "ircad"), labels > 0, "manual, labels 1-3", labels)


def totalsegmentator(root: Path) -> RealCase:
    folder = root / "totalsegmentator_example"
    ct = sitk.Cast(sitk.ReadImage(str(folder / "example_ct.nii.gz")), sitk.sitkInt16)
    model = sitk.ReadImage(str(folder / "example_ct_liver_model.nii.gz"))
    truth = sitk.GetArrayFromImage(model) > 0.5
    return RealCase(
        "TotalSegmentator example (unenhanced)", as_series(ct, "example_ct"), truth, "TotalSegmentator model"
    )


def totalsegmentator_small(root: Path) -> RealCase:
    """example_ct_sm: the top 30 slices of example_ct, whose header repeats example_ct's origin; its reference is
    the model mask's top 30 slices, taken voxel by voxel."""
    folder = root / "totalsegmentator_example"
    small = sitk.Cast(sitk.ReadImage(str(folder / "example_ct_sm.nii.gz")), sitk.sitkInt16)
    model = sitk.GetArrayFromImage(sitk.ReadImage(str(folder / "example_ct_liver_model.nii.gz"))) > 0.5
    n = small.GetDepth()
    full = sitk.GetArrayFromImage(sitk.ReadImage(str(folder / "example_ct.nii.gz")))
    image = sitk.GetArrayFromImage(small)
    top = slice(-n, None) if np.array_equal(full[-n:], image) else slice(0, n)
    return RealCase(
        "TotalSegmentator example_ct_sm (30 slices)",
        as_series(small, "example_ct_sm"),
        model[top],
        "model, same slices",
    )


def hcc048(root: Path) -> RealCase:
    return RealCase("HCC_048 (portal venous)", as_series(read_series(root / "hcc048_portal_venous"), "hcc048"))


def thighs(root: Path) -> list[RealCase]:
    return [
        RealCase(
            f"IBSI {case} (thigh)", as_series(read_series(root / "ibsi_sts" / "dicom" / case / "CT" / "image"), case)
        )
        for case in ("STS_004", "STS_005")
    ]


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2 * np.count_nonzero(a & b) / max(np.count_nonzero(a) + np.count_nonzero(b), 1)


def voxel_ml(image: sitk.Image) -> float:
    return float(np.prod(image.GetSpacing())) / 1000.0
