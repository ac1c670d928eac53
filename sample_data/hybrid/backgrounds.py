"""The real CT scans that host the inserted lesions, read in place from the real-data folder.

Each :class:`Background` is an axial CT with an identity direction (rows along +y, columns along +x; a scan
stored the other way round is flipped, which keeps every voxel's LPS position), in HU, with

* ``liver_zyx``: where lesions may be inserted: IRCAD's manual liver mask (labels 1-3); TotalSegmentator's
  model mask for ``example_ct``; for ``hcc048`` (no mask) the parenchyma grown from documented points
  (:data:`HCC048_LIVER_POINTS_LPS`) at the liver level +-25 HU on a 2 mm-smoothed image, opened by 4 mm, within
  :data:`HCC048_LIVER_BOX_LPS`;
* ``avoid_zyx``: where no lesion may go: the patient's own tumours (IRCAD labels 2 and 3, grown by 10 mm);
  for ``hcc048`` the parenchyma more than 12 HU darker than the liver level on a 5 mm-smoothed image (the
  posterior right lobe is darker and mottled: possibly the patient's own, ill-defined, tumour), grown by
  5 mm;
* ``psf_sigma_mm``: the in-plane Gaussian blur of the scanner, measured on the scan itself: the median
  width of error-function fits across the skin-air edge of the anterior body wall (IRCAD 0.72 mm, HCC_048
  0.49 mm; TotalSegmentator's 3 mm resampled example is sharper than its pixels, so 0.5 mm), less the
  pixel's own box width in quadrature.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

BACKGROUNDS = ("ircad", "hcc048", "tsexample")
# points deep in normal parenchyma of HCC_048 (LPS mm), chosen on the images: right lobe anterior, segment IV,
# left lobe
HCC048_LIVER_POINTS_LPS = ((-88.6, -53.4, -266.0), (-39.4, -74.5, -281.0), (9.8, -95.6, -281.0))
# the liver of HCC_048 is kept within these LPS bounds (the kidneys lie below z = -325 mm, stomach and spleen
# beyond x = 40 mm)
HCC048_LIVER_BOX_LPS = ((-200.0, -200.0, -325.0), (40.0, 200.0, 0.0))


@dataclass(frozen=True, eq=False)
class Background:
    name: str
    image_zyx: np.ndarray  # float32 HU
    spacing_zyx: tuple[float, float, float]
    origin_lps_mm: tuple[float, float, float]  # centre of voxel (0, 0, 0)
    slice_thickness_mm: float
    liver_zyx: np.ndarray
    avoid_zyx: np.ndarray
    psf_sigma_mm: float
    vessels_enhanced: bool  # contrast-filled (bright) liver vessels: portal-venous phase
    source: str

    @property
    def shape_zyx(self) -> tuple[int, int, int]:
        nz, ny, nx = self.image_zyx.shape
        return (int(nz), int(ny), int(nx))

    def index_to_lps(self, index_zyx: np.ndarray) -> np.ndarray:
        idx = np.asarray(index_zyx, dtype=float)
        return np.asarray(self.origin_lps_mm) + idx[..., ::-1] * np.asarray(self.spacing_zyx)[::-1]

    def lps_to_index(self, points_lps: np.ndarray) -> np.ndarray:
        p = np.asarray(points_lps, dtype=float)
        return ((p - np.asarray(self.origin_lps_mm)) / np.asarray(self.spacing_zyx)[::-1])[..., ::-1]

    def liver_level_hu(self) -> float:
        """Median of the 2 mm-smoothed CT over the liver mask away from its border."""
        zs = np.flatnonzero(self.liver_zyx.any(axis=(1, 2)))
        box = slice(int(zs[0]), int(zs[-1]) + 1)
        sm = ndimage.gaussian_filter(self.image_zyx[box], [2.0 / s for s in self.spacing_zyx])
        core = ndimage.binary_erosion(self.liver_zyx[box], iterations=2)
        return float(np.median(sm[core]))


def read_series(folder: Path) -> sitk.Image:
    """The one DICOM series in ``folder``, as stored (SimpleITK's GDCM reader)."""
    reader = sitk.ImageSeriesReader()
    files = reader.GetGDCMSeriesFileNames(str(folder))
    if not files:
        raise FileNotFoundError(f"{folder}: no DICOM series")
    reader.SetFileNames(files)
    return reader.Execute()


def _axial_identity(image: sitk.Image) -> sitk.Image:
    """The same image with an identity direction (flipping axes stored in the negative sense)."""
    direction = np.asarray(image.GetDirection()).reshape(3, 3)
    if not np.allclose(np.abs(direction), np.eye(3), atol=1e-4):
        raise ValueError("only axial scans are supported as backgrounds")
    flips = [bool(direction[k, k] < 0) for k in range(3)]
    return sitk.Flip(image, flips) if any(flips) else image


def _on_grid(mask: sitk.Image, reference: sitk.Image) -> np.ndarray:
    resampled = sitk.Resample(mask, reference, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
    return sitk.GetArrayFromImage(resampled)


def _background(
    name: str,
    image: sitk.Image,
    liver: np.ndarray,
    avoid: np.ndarray,
    psf: float,
    enhanced: bool,
    source: str,
    thickness: float,
) -> Background:
    ox, oy, oz = (float(v) for v in image.GetOrigin())
    sx, sy, sz = (float(v) for v in image.GetSpacing())
    origin, spacing = (ox, oy, oz), (sz, sy, sx)
    array = sitk.GetArrayFromImage(image).astype(np.float32)
    return Background(
        name, array, spacing, origin, thickness, liver.astype(bool), avoid.astype(bool), psf, enhanced, source
    )


def _grow(mask: np.ndarray, mm: float, spacing: tuple[float, float, float]) -> np.ndarray:
    """``mask`` dilated by a ball of ``mm`` (distance transform over the mask's bounding box only)."""
    if not mask.any():
        return mask
    pad = [int(np.ceil(mm / s)) + 1 for s in spacing]
    nz = [np.flatnonzero(mask.any(axis=a)) for a in ((1, 2), (0, 2), (0, 1))]
    box = tuple(slice(max(int(v[0]) - p, 0), min(int(v[-1]) + p + 1, n)) for v, p, n in zip(nz, pad, mask.shape))
    out = np.zeros(mask.shape, bool)
    out[box] = ndimage.distance_transform_edt(~mask[box], sampling=spacing) <= mm
    return out


def _psf(edge_sigma_mm: float, pixel_mm: float) -> float:
    return float(np.sqrt(max(edge_sigma_mm**2 - pixel_mm**2 / 12.0, 0.25)))


def load_ircad(realdata: Path) -> Background:
    folder = realdata / "ircad_patient"
    image = _axial_identity(read_series(folder / "ct"))
    labels = _on_grid(_axial_identity(sitk.ReadImage(str(folder / "masks.nii.gz"))), image)
    spacing = tuple(float(v) for v in image.GetSpacing()[::-1])
    avoid = _grow((labels == 2) | (labels == 3), 10.0, spacing)  # type: ignore[arg-type]
    return _background(
        "ircad",
        image,
        labels > 0,
        avoid,
        _psf(0.72, spacing[1]),
        True,
        "3D-IRCADb-01 patient, IRCAD France (non-commercial research and education, with attribution)",
        1.6,
    )


def load_hcc048(realdata: Path) -> Background:
    image = _axial_identity(read_series(realdata / "hcc048_portal_venous"))
    array = sitk.GetArrayFromImage(image).astype(np.float32)
    spacing = tuple(float(v) for v in image.GetSpacing()[::-1])
    lo, hi = (np.asarray(b) for b in HCC048_LIVER_BOX_LPS)
    origin = np.asarray(image.GetOrigin())
    box = []
    for k in range(3):  # z, y, x
        axis = 2 - k
        centres = origin[axis] + np.arange(array.shape[k]) * spacing[k]
        inside = np.flatnonzero((centres >= lo[axis]) & (centres <= hi[axis]))
        box.append(slice(int(inside[0]), int(inside[-1]) + 1))
    crop = array[tuple(box)]
    sm = ndimage.gaussian_filter(crop, [2.0 / s for s in spacing])
    near = np.zeros(crop.shape, bool)
    for p in HCC048_LIVER_POINTS_LPS:
        index = np.round(image.TransformPhysicalPointToContinuousIndex(p)[::-1]).astype(int) - [b.start for b in box]
        near[tuple(index)] = True
    near = _grow(near, 15.0, spacing)  # type: ignore[arg-type]
    level = float(np.median(sm[near]))
    opened = ndimage.binary_opening(np.abs(sm - level) <= 25.0, structure=_ball(4.0, spacing))  # type: ignore[arg-type]
    lab, _ = ndimage.label(opened)
    keep = np.unique(lab[near & opened])
    liver_crop = ndimage.binary_fill_holes(np.isin(lab, keep[keep > 0]))
    sm5 = ndimage.gaussian_filter(crop, [5.0 / s for s in spacing])
    dark = ndimage.binary_opening(liver_crop & (sm5 < level - 12.0), structure=_ball(3.0, spacing))  # type: ignore[arg-type]
    liver = np.zeros(array.shape, bool)
    liver[tuple(box)] = liver_crop
    avoid = np.zeros(array.shape, bool)
    avoid[tuple(box)] = dark
    avoid = _grow(avoid, 5.0, spacing)  # type: ignore[arg-type]
    return _background(
        "hcc048", image, liver, avoid, _psf(0.49, spacing[1]), True, "TCIA HCC-TACE-Seg, case HCC_048, CC BY 4.0", 2.5
    )


def load_tsexample(realdata: Path) -> Background:
    folder = realdata / "totalsegmentator_example"
    image = _axial_identity(sitk.ReadImage(str(folder / "example_ct.nii.gz")))
    liver = _on_grid(_axial_identity(sitk.ReadImage(str(folder / "example_ct_liver_model.nii.gz"))), image) > 0
    return _background(
        "tsexample",
        image,
        liver,
        np.zeros(liver.shape, bool),
        0.5,
        False,
        "TotalSegmentator test data example_ct (Apache-2.0); liver mask: the TotalSegmentator model's output",
        3.0,
    )


def load_background(name: str, realdata: Path) -> Background:
    loaders = {"ircad": load_ircad, "hcc048": load_hcc048, "tsexample": load_tsexample}
    if name not in loaders:
        raise ValueError(f"unknown background {name!r}; expected one of {', '.join(BACKGROUNDS)}")
    return loaders[name](Path(realdata))


def _ball(radius_mm: float, spacing: tuple[float, float, float]) -> np.ndarray:
    r = [max(1, int(np.floor(radius_mm / s))) for s in spacing]
    zz, yy, xx = np.ogrid[-r[0] : r[0] + 1, -r[1] : r[1] + 1, -r[2] : r[2] + 1]
    return (zz * spacing[0]) ** 2 + (yy * spacing[1]) ** 2 + (xx * spacing[2]) ** 2 <= radius_mm**2 + 1e-9
