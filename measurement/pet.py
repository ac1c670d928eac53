"""PET measures of a lesion (SUV and SUL), and PERCIST reference regions.

Definitions:

* **SUL**: SUV normalised by lean body mass instead of body weight,
  ``SUL = SUVbw x LBM / weight``, with LBM by James 1976 (used by Sugawara et
  al. 1999, on which PERCIST's SUL rests; the default) or Janmahasatian 2005:
  the formulas are in :mod:`measurement.body_size`.
* **MTV** (metabolic tumour volume, ml): number of voxels of the PET lesion
  mask x voxel volume. **TLG** (total lesion glycolysis): SUVmean x MTV
  (SUV.ml); both depend on how the PET lesion was delineated.
* **Reference regions** (PERCIST 1.0, Wahl et al., J Nucl Med 2009): mean and
  SD (N - 1) of the voxels whose centres lie in a 3 cm diameter sphere in
  normal right liver lobe, or, when the liver is abnormal, in a 1 cm
  diameter cylinder 2 cm long along the body axis in the descending thoracic
  aorta (blood pool).

SUVmax, SUVmean, SUVpeak: see :mod:`measurement.intensity`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from measurement.body_size import normaliser
from measurement.intensity import pet_intensity
from measurement.masks import crop_box, inside

# the lean body mass formulas of SUL, by their name in the configuration -> their SUV Type in measurement.body_size
LBM_FORMULAS = {"james": "LBMJAMES128", "janmahasatian": "LBMJANMA"}
LIVER_SPHERE_DIAMETER_MM = 30.0
BLOOD_POOL_DIAMETER_MM = 10.0
BLOOD_POOL_LENGTH_MM = 20.0


def lean_body_mass_kg(weight_kg: float, height_m: float, sex: str, formula: str = "james") -> float:
    """Lean body mass (kg) by ``formula`` (``"james"`` or ``"janmahasatian"``; :mod:`measurement.body_size`).

    Sex ``"M"`` or ``"F"``; ``"O"`` gives the mean of the two formulas; anything else is a ``ValueError``.
    """
    if formula not in LBM_FORMULAS:
        raise ValueError(f"unknown LBM formula {formula!r} (one of {', '.join(LBM_FORMULAS)})")
    grams, _ = normaliser(LBM_FORMULAS[formula], weight_kg, height_m, sex)
    return grams / 1000.0


def sul_per_suvbw(weight_kg: float, height_m: float, sex: str, formula: str = "james") -> float:
    """Factor that turns SUVbw into SUL: LBM / body weight."""
    return lean_body_mass_kg(weight_kg, height_m, sex, formula) / weight_kg


@dataclass(frozen=True)
class PetMeasures:
    suv_max: float
    suv_mean: float
    suv_min: float
    suv_peak: float
    suv_peak_local: float
    mtv_ml: float
    tlg_suv_ml: float
    n_voxels: int
    suv_peak_index_zyx: tuple[int, int, int] = (0, 0, 0)  # centre of the SUVpeak sphere


def pet_measures(suv_zyx: np.ndarray, mask_zyx: np.ndarray, spacing_zyx: tuple[float, float, float]) -> PetMeasures:
    """SUV statistics, MTV and TLG of a PET lesion mask on the PET grid."""
    stats = pet_intensity(suv_zyx, mask_zyx, spacing_zyx)
    mtv_ml = stats.n_voxels * float(np.prod(spacing_zyx)) / 1000.0
    return PetMeasures(
        suv_max=stats.suv_max,
        suv_mean=stats.suv_mean,
        suv_min=stats.suv_min,
        suv_peak=stats.suv_peak,
        suv_peak_local=stats.suv_peak_local,
        mtv_ml=mtv_ml,
        tlg_suv_ml=stats.suv_mean * mtv_ml,
        n_voxels=stats.n_voxels,
        suv_peak_index_zyx=stats.peak_index_zyx,
    )


@dataclass(frozen=True)
class ReferenceRegion:
    """Mean and SD (N - 1) of an image in a reference region; ``centre_zyx`` is a continuous index."""

    kind: str  # "liver_sphere" or "blood_pool_cylinder"
    mean: float
    sd: float
    n_voxels: int
    centre_zyx: tuple[float, float, float]


def _offsets_mm(
    shape: tuple[int, ...], spacing_zyx: tuple[float, float, float], centre_zyx: np.ndarray
) -> list[np.ndarray]:
    return [(np.arange(n) - c) * s for n, c, s in zip(shape, centre_zyx, spacing_zyx, strict=True)]


def _region_stats(
    image_zyx: np.ndarray, region: np.ndarray, kind: str, centre: np.ndarray, what: str
) -> ReferenceRegion:
    values = np.asarray(image_zyx)[region].astype(np.float64)
    if values.size < 2:
        raise ValueError(f"{what} holds fewer than 2 voxels of the image")
    z, y, x = (float(v) for v in centre)
    return ReferenceRegion(kind, float(values.mean()), float(values.std(ddof=1)), int(values.size), (z, y, x))


def sphere_region(
    shape: tuple[int, ...], spacing_zyx: tuple[float, float, float], centre_zyx: np.ndarray, diameter_mm: float
) -> np.ndarray:
    """Voxels whose centres lie within ``diameter_mm / 2`` of ``centre_zyx``."""
    dz, dy, dx = _offsets_mm(shape, spacing_zyx, np.asarray(centre_zyx, dtype=float))
    return dz[:, None, None] ** 2 + dy[None, :, None] ** 2 + dx[None, None, :] ** 2 <= (diameter_mm / 2.0) ** 2 + 1e-9


def sphere_reference(
    image_zyx: np.ndarray,
    spacing_zyx: tuple[float, float, float],
    centre_zyx: np.ndarray,
    diameter_mm: float = LIVER_SPHERE_DIAMETER_MM,
) -> ReferenceRegion:
    """PERCIST liver reference: mean and SD in a sphere of ``diameter_mm`` around ``centre_zyx``."""
    region = sphere_region(image_zyx.shape, spacing_zyx, centre_zyx, diameter_mm)
    return _region_stats(
        image_zyx, region, "liver_sphere", np.asarray(centre_zyx, dtype=float), f"{diameter_mm:g} mm sphere"
    )


def cylinder_reference(
    image_zyx: np.ndarray,
    spacing_zyx: tuple[float, float, float],
    centre_zyx: np.ndarray,
    diameter_mm: float = BLOOD_POOL_DIAMETER_MM,
    length_mm: float = BLOOD_POOL_LENGTH_MM,
) -> ReferenceRegion:
    """PERCIST blood pool: mean and SD in a cylinder along z (axis 0) of ``diameter_mm`` x ``length_mm``."""
    centre = np.asarray(centre_zyx, dtype=float)
    dz, dy, dx = _offsets_mm(np.shape(image_zyx), spacing_zyx, centre)
    region = (np.abs(dz)[:, None, None] <= length_mm / 2.0 + 1e-9) & (
        dy[None, :, None] ** 2 + dx[None, None, :] ** 2 <= (diameter_mm / 2.0) ** 2 + 1e-9
    )
    return _region_stats(
        image_zyx, region, "blood_pool_cylinder", centre, f"{diameter_mm:g} x {length_mm:g} mm cylinder"
    )


def fit_sphere_centre(
    region_zyx: np.ndarray,
    spacing_zyx: tuple[float, float, float],
    diameter_mm: float = LIVER_SPHERE_DIAMETER_MM,
    toward_zyx: np.ndarray | None = None,
) -> tuple[int, int, int] | None:
    """A voxel where a sphere of ``diameter_mm`` lies entirely inside ``region_zyx``; ``None`` if none.

    Every voxel centre within the sphere is in the region when the centre's
    distance to the nearest voxel outside the region exceeds the radius.
    Among such centres, those in the half of the region farthest along
    ``toward_zyx`` (a direction in mm, e.g. the patient's right) are preferred
    when there are any; the deepest one (largest distance to the region's
    border) is returned, the first in index order on ties.
    """
    region = np.asarray(region_zyx, dtype=bool)
    if not region.any():
        return None
    box = crop_box(region, margin=0)
    start = np.array([s.start for s in box])
    # the depth on the region's box with one voxel of outside around it (as the array's faces are): the nearest
    # outside voxel of every region voxel lies there, so the depth is that of the whole array
    depth = ndimage.distance_transform_edt(np.pad(region[box], 1), sampling=spacing_zyx)[1:-1, 1:-1, 1:-1]
    fits = depth > diameter_mm / 2.0
    if not fits.any():
        return None
    if toward_zyx is not None:
        direction = np.asarray(toward_zyx, dtype=float) * np.asarray(spacing_zyx, dtype=float)
        cut = float(np.median((np.argwhere(region[box]) + start) @ direction))
        candidates = np.argwhere(fits) + start
        preferred = candidates[candidates @ direction >= cut]
        if len(preferred):
            fits = np.zeros_like(fits)
            fits[tuple((preferred - start).T)] = True
    score = np.where(fits, depth, -1.0)
    deepest = np.unravel_index(int(np.argmax(score)), score.shape)  # the first in index order on ties
    return tuple(int(v) + int(s) for v, s in zip(deepest, start, strict=True))  # type: ignore[return-value]


def liver_like_region(
    ct_zyx: np.ndarray,
    spacing_zyx: tuple[float, float, float],
    lesions_zyx: np.ndarray,
    tolerance_hu: float = 20.0,
    shell_mm: tuple[float, float] = (5.0, 15.0),
    lesion_margin_mm: float = 10.0,
) -> np.ndarray:
    """Tissue like that around the target lesions, connected to it, away from the lesions.

    A stand-in for a liver segmentation when none is available: the
    parenchyma HU is the median CT value in a shell ``shell_mm`` around the
    (liver) target lesions; the region is the set of voxels of the
    mean-filtered (3x3x3) CT within ``tolerance_hu`` of it, connected to the
    shell, minus the lesions grown by ``lesion_margin_mm``. It cannot tell a
    diffusely diseased liver from a normal one.
    """
    lesions = np.asarray(lesions_zyx, dtype=bool)
    if not lesions.any():
        raise ValueError("no lesion voxels to find the parenchyma around")
    outside = ndimage.distance_transform_edt(~lesions, sampling=spacing_zyx)
    smooth = ndimage.uniform_filter(np.asarray(ct_zyx, dtype=np.float32), size=3, mode="nearest")
    shell = (outside >= shell_mm[0]) & (outside <= shell_mm[1])
    parenchyma_hu = float(np.median(smooth[shell]))
    similar = np.abs(smooth - parenchyma_hu) <= tolerance_hu
    labels, _ = ndimage.label(similar & (outside > lesion_margin_mm))
    touching = np.unique(labels[shell & similar & (outside > lesion_margin_mm)])
    return np.isin(labels, touching[touching > 0])


def reference_in_mask(
    suv_zyx: np.ndarray,
    spacing_zyx: tuple[float, float, float],
    liver_zyx: np.ndarray,
    toward_zyx: np.ndarray | None = None,
    diameter_mm: float = LIVER_SPHERE_DIAMETER_MM,
) -> ReferenceRegion | None:
    """Liver reference sphere placed inside a liver mask (see :func:`fit_sphere_centre`); ``None`` if none fits."""
    centre = fit_sphere_centre(inside(liver_zyx), spacing_zyx, diameter_mm, toward_zyx)
    if centre is None:
        return None
    return sphere_reference(suv_zyx, spacing_zyx, np.asarray(centre, dtype=float), diameter_mm)
