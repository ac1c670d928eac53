"""Test-retest studies on real CT backgrounds: the same scan again as a follow-up.

A study of three timepoints made of the *same pixels*:

* timepoint 0 (baseline): the real CT, with its targets;
* timepoint 1 (+60 days): identical pixels and geometry, new Study, Series and
  SOP Instance UIDs;
* timepoint 2 (+120 days): identical pixels in another frame of reference:
  ImagePositionPatient shifted by ``shift_mm`` and a new FrameOfReferenceUID.

Nothing changed, so every measurement at timepoints 1 and 2 should equal the
baseline's, and RECIST should be SD. Targets: a seed at the deepest point
(largest distance to the border) of each lesion mask: manual tumour masks
where the data set has them (IRCAD), else lesions inserted into the real
liver by :func:`insert_lesions` (a Gaussian-blurred ellipsoid of given
contrast *added* to the real image, so the real noise texture stays).

Backgrounds (:func:`load_background`), read in place from the real-data folder
(see its README for licences): ``ircad_patient`` (DICOM read with GDCM, whose
over-long PixelSpacing the project's loader refuses; tumour masks labels 2
and 3), ``hcc048_portal_venous`` (DICOM; liver from
:func:`segmentation.liver.segment_liver`), ``totalsegmentator_example``
(``example_ct.nii.gz`` and its liver model mask, reoriented to LPS axial).
Written as signed 16-bit single-frame CT, one file per slice, HU unchanged.

:func:`write_cut_study` writes a two-timepoint study whose follow-up is the
same pixels scanned over a shorter range, its first slice through a lesion;
:func:`write_contrast_study`, :func:`write_noisy_study` and
:func:`write_thick_study` ones whose follow-up is the same pixels with the
lesions' contrast to the liver scaled (another contrast phase or tube
voltage), with noise added (a lower dose), or reconstructed in thicker slices.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from sample_data.dicom_write import SeriesInfo, StudyInfo, ct_datasets, save_all, uid
from sample_data.grid import Grid
from sample_data.hybrid.backgrounds import read_series
from sample_data.scenario import Patient

BACKGROUNDS = ("ircad_patient", "hcc048_portal_venous", "totalsegmentator_example")
FOLLOWUP_DAYS = (0, 60, 120)
SHIFT_MM = (25.0, 0.0, 0.0)
#: the attenuations :func:`write_contrast_study` treats as soft tissue (HU)
SOFT_TISSUE_HU = (-100.0, 300.0)


@dataclass(frozen=True, eq=False)
class Background:
    """A real CT (HU, LPS axial, identity direction), its liver mask and its lesion masks (z, y, x)."""

    name: str
    image: sitk.Image
    liver_zyx: np.ndarray | None
    lesions_zyx: tuple[np.ndarray, ...]


def _axial_lps(image: sitk.Image) -> sitk.Image:
    return sitk.DICOMOrient(image, "LPS")


def _read_dicom(folder: Path) -> sitk.Image:
    return _axial_lps(sitk.Cast(read_series(folder), sitk.sitkInt16))


def _liver_of(image: sitk.Image) -> np.ndarray:
    from segmentation.liver import segment_liver

    array = sitk.GetArrayFromImage(image).astype(np.float32)
    liver = segment_liver(array, image.GetSpacing()[::-1])
    if liver.mask_zyx is None:
        raise ValueError(f"no liver in the background CT: {liver.reason}")
    return liver.mask_zyx


def load_background(name: str, realdata: Path) -> Background:
    """One real background of :data:`BACKGROUNDS` from the real-data folder (see the module docstring)."""
    if name == "ircad_patient":
        image = _read_dicom(realdata / name / "ct")
        masks = sitk.GetArrayFromImage(sitk.ReadImage(str(realdata / name / "masks.nii.gz")))
        if masks.shape != sitk.GetArrayViewFromImage(image).shape:
            raise ValueError(f"{name}: masks.nii.gz is not on the CT grid")
        return Background(name, image, masks > 0, (masks == 2, masks == 3))
    if name == "hcc048_portal_venous":
        image = _read_dicom(realdata / name)
        return Background(name, image, _liver_of(image), ())
    if name == "totalsegmentator_example":
        folder = realdata / name
        image = _axial_lps(sitk.Cast(sitk.ReadImage(str(folder / "example_ct.nii.gz")), sitk.sitkInt16))
        liver = _axial_lps(sitk.ReadImage(str(folder / "example_ct_liver_model.nii.gz")))
        return Background(name, image, sitk.GetArrayFromImage(liver) > 0, ())
    raise ValueError(f"unknown background {name!r} (known: {', '.join(BACKGROUNDS)})")


@dataclass(frozen=True)
class InsertedLesion:
    """An ellipsoid (semi-axes in mm along x, y, z) of ``contrast_hu`` relative to the image, blurred by ``blur_mm``."""

    semi_axes_mm: tuple[float, float, float]
    contrast_hu: float
    blur_mm: float = 1.0


DEFAULT_INSERTED = (InsertedLesion((16.0, 14.0, 13.0), -55.0), InsertedLesion((11.0, 10.0, 9.0), -45.0))
PARENCHYMA_HALF_WIDTH_HU = 25.0


def insert_lesions(
    background: Background, lesions: tuple[InsertedLesion, ...] = DEFAULT_INSERTED, clearance_mm: float = 10.0
) -> Background:
    """``background`` with ``lesions`` added inside its liver parenchyma, deepest free place first.

    Parenchyma: liver voxels whose 2 mm-smoothed value is within 25 HU of the
    liver median (not vessels). Each centre is the parenchyma voxel farthest
    from any other tissue and at least ``clearance_mm`` from the lesions
    already placed; that depth must reach the lesion's largest semi-axis (else
    ``ValueError``). The lesion masks are the ellipsoids (before blurring).
    """
    if background.liver_zyx is None:
        raise ValueError(f"{background.name}: no liver mask to insert lesions into")
    image = sitk.GetArrayFromImage(background.image).astype(np.float64)
    spacing = np.asarray(background.image.GetSpacing()[::-1], dtype=float)
    liver = background.liver_zyx
    where = np.nonzero(liver)
    box = tuple(slice(int(w.min()), int(w.max()) + 1) for w in where)  # the liver's bounding box
    smoothed = ndimage.gaussian_filter(image[box], 2.0 / spacing)
    free = liver[box] & (np.abs(smoothed - np.median(image[liver])) <= PARENCHYMA_HALF_WIDTH_HU)
    step = np.maximum(1, np.round(1.5 / spacing)).astype(int)  # depth on a ~1.5 mm grid: fast, close enough
    coarse = tuple(slice(None, None, int(k)) for k in step)
    masks = list(background.lesions_zyx)
    for lesion in lesions:
        depth = ndimage.distance_transform_edt(np.pad(free[coarse], 1), sampling=spacing * step)[1:-1, 1:-1, 1:-1]
        best = np.unravel_index(int(np.argmax(depth)), depth.shape)
        if depth[best] < max(lesion.semi_axes_mm):
            raise ValueError(f"{background.name}: no room in the liver for a lesion of {lesion.semi_axes_mm} mm")
        centre = np.array(best) * step + [s.start for s in box]
        reach = (max(lesion.semi_axes_mm) + 4.0 * lesion.blur_mm + clearance_mm) / spacing
        local = tuple(
            slice(max(int(c - r), 0), min(int(c + r) + 2, n))
            for c, r, n in zip(centre, reach, image.shape, strict=True)
        )
        grid = np.indices(tuple(s.stop - s.start for s in local), dtype=np.float64)
        offset = [c - s.start for c, s in zip(centre, local, strict=True)]
        a, b, c = lesion.semi_axes_mm
        r = sum(((grid[k] - offset[k]) * spacing[k] / h) ** 2 for k, h in zip(range(3), (c, b, a), strict=True))
        inside = np.zeros(image.shape, bool)
        inside[local] = r <= 1.0
        image[local] += lesion.contrast_hu * ndimage.gaussian_filter(
            inside[local].astype(np.float64), lesion.blur_mm / spacing
        )
        masks.append(inside)
        near = np.zeros(image.shape, bool)
        near[local] = ndimage.distance_transform_edt(~inside[local], sampling=spacing) <= clearance_mm
        free &= ~near[box]
    out = sitk.GetImageFromArray(_as_int16(image))
    out.CopyInformation(background.image)
    return Background(background.name, out, background.liver_zyx, tuple(masks))


def deepest_point_zyx(mask_zyx: np.ndarray, spacing_zyx: tuple[float, float, float]) -> tuple[int, int, int]:
    """The voxel of ``mask_zyx`` farthest from its border (first in scan order on ties)."""
    where = np.nonzero(mask_zyx)
    lo = [max(int(w.min()) - 1, 0) for w in where]
    box = tuple(slice(a, int(w.max()) + 2) for a, w in zip(lo, where, strict=True))
    depth = ndimage.distance_transform_edt(np.pad(mask_zyx[box], 1), sampling=spacing_zyx)[1:-1, 1:-1, 1:-1]
    local = np.unravel_index(int(np.argmax(depth)), depth.shape)
    return tuple(int(v) + a for v, a in zip(local, lo, strict=True))  # type: ignore[return-value]


def _write_series(
    folder: Path,
    hu_zyx: np.ndarray,
    grid: Grid,
    patient: Patient,
    timepoint: int,
    when: dt.datetime,
    frame_of_reference: str,
) -> None:
    study = StudyInfo(uid(patient.patient_id, "study", timepoint), frame_of_reference, when, str(timepoint + 1), "")
    series = SeriesInfo(uid(patient.patient_id, "ct", timepoint), 2, f"CT retest timepoint {timepoint}", when)
    datasets = ct_datasets(hu_zyx, grid, patient, study, series, signed=True, descending=False)
    for ds in datasets:
        ds.StudyDescription = "TEST-RETEST ON A REAL CT"
    folder.mkdir(parents=True, exist_ok=True)
    save_all(datasets, [folder / f"IM{k:04d}.dcm" for k in range(len(datasets))])


def write_retest_study(out: Path, background: Background, shift_mm: tuple[float, float, float] = SHIFT_MM) -> Path:
    """Write ``out/study`` (3 timepoints, see the module docstring, and ``targets.json``) and ``out/truth.json``.

    Returns ``out/study``. The targets are the background's lesion masks, in
    order (ids ``T1``, ``T2``, ...); ``truth.json`` holds each mask's voxel
    count and volume and the seeds.
    """
    _check(background)
    image = background.image
    hu = sitk.GetArrayFromImage(image)
    sx, sy, sz = image.GetSpacing()
    origin = tuple(float(v) for v in image.GetOrigin())
    grid = Grid(hu.shape, (sx, sy, sz), origin, sz)  # type: ignore[arg-type]
    shifted = Grid(hu.shape, (sx, sy, sz), tuple(o + s for o, s in zip(origin, shift_mm, strict=True)), sz)  # type: ignore[arg-type]
    patient = Patient(f"RETEST-{background.name.upper()}", "RETEST^PATIENT", "O", "19700101", 70.0, 1.70)
    start = dt.datetime(2024, 1, 8, 9, 0, 0)
    study_dir = out / "study"
    frame = uid(patient.patient_id, "frame")
    for k, (days, g) in enumerate(zip(FOLLOWUP_DAYS, (grid, grid, shifted), strict=True)):
        frame_k = frame if k < 2 else uid(patient.patient_id, "frame", "shifted")
        _write_series(study_dir / f"timepoint{k}", hu, g, patient, k, start + dt.timedelta(days=days), frame_k)
    _write_targets(out, background, {"background": background.name, "shift_mm": list(shift_mm)})
    return study_dir


def write_cut_study(out: Path, background: Background) -> tuple[Path, int]:
    """Write ``out/study``: the baseline and, 60 days later, the same pixels scanned only from the slice of the
    lowest lesion's deepest point up (the slices below left out, the same frame of reference), so that the
    follow-up's first slice cuts that lesion; and ``out/truth.json`` as :func:`write_retest_study` does.

    Returns ``out/study`` and the index of the follow-up's first slice on the baseline grid (z): a lesion mask
    with voxels below it is not wholly in the follow-up.
    """
    _check(background)
    hu = sitk.GetArrayFromImage(background.image)
    sz = background.image.GetSpacing()[2]
    lowest = min(background.lesions_zyx, key=lambda mask: float(np.nonzero(mask)[0].mean()))
    first = deepest_point_zyx(lowest, tuple(background.image.GetSpacing()[::-1]))[0]
    about = {"background": background.name, "followup_first_slice": int(first)}
    return _write_followup_study(out, background, "CUT", hu[first:], first * sz, about), int(first)


def write_contrast_study(out: Path, background: Background, factor: float) -> Path:
    """Write ``out/study``: the baseline and, 60 days later, the same pixels with every soft-tissue attenuation
    (:data:`SOFT_TISSUE_HU`) moved to ``level + factor * (hu - level)``, ``level`` the median over the liver
    mask: a lesion's contrast to the liver times ``factor``, as at another contrast phase or tube voltage, with
    nothing moved or grown; and ``out/truth.json`` as :func:`write_retest_study` does. Returns ``out/study``."""
    _check(background)
    if background.liver_zyx is None:
        raise ValueError(f"{background.name}: no liver mask to take the liver level from")
    hu = sitk.GetArrayFromImage(background.image)
    follow, level = contrast_scaled(hu, background.liver_zyx, factor)
    about = {"background": background.name, "contrast_factor": factor, "liver_level_hu": level}
    return _write_followup_study(out, background, "CONTRAST", follow, 0.0, about)


def write_noisy_study(out: Path, background: Background, sd_hu: float, seed: int = 1) -> Path:
    """Write ``out/study``: the baseline and, 60 days later, the same pixels with noise of ``sd_hu`` added (white
    noise smoothed in-plane by 0.8 voxel, so grained like a CT's, then scaled to that SD; from ``seed``), as on
    a lower-dose scan, with nothing moved or grown; and ``out/truth.json`` as :func:`write_retest_study` does.
    Returns ``out/study``."""
    _check(background)
    hu = sitk.GetArrayFromImage(background.image).astype(np.float64)
    noise = ndimage.gaussian_filter(np.random.default_rng(seed).normal(0.0, 1.0, hu.shape), (0.0, 0.8, 0.8))
    follow = _as_int16(hu + sd_hu * noise / noise.std())
    about = {"background": background.name, "noise_sd_hu": sd_hu, "noise_seed": seed}
    return _write_followup_study(out, background, "NOISE", follow, 0.0, about)


def write_thick_study(out: Path, background: Background, factor: int) -> Path:
    """Write ``out/study``: the baseline and, 60 days later, the same pixels reconstructed ``factor`` times
    thicker (each ``factor`` consecutive slices averaged into one, centred between them; slices left over at the
    end dropped), with nothing moved or grown; and ``out/truth.json`` as :func:`write_retest_study` does. Returns
    ``out/study``."""
    _check(background)
    hu = sitk.GetArrayFromImage(background.image).astype(np.float64)
    n = hu.shape[0] // factor
    thick = hu[: n * factor].reshape(n, factor, *hu.shape[1:]).mean(axis=1)
    sz = background.image.GetSpacing()[2]
    follow = _as_int16(thick)
    about = {"background": background.name, "slice_factor": factor}
    return _write_followup_study(out, background, "THICK", follow, (factor - 1) * sz / 2.0, about, factor * sz)


def contrast_scaled(hu_zyx: np.ndarray, liver_zyx: np.ndarray, factor: float) -> tuple[np.ndarray, float]:
    """``hu_zyx`` (int16) with every soft-tissue attenuation (:data:`SOFT_TISSUE_HU`) moved to
    ``level + factor * (hu - level)``, and ``level``: the median over ``liver_zyx`` (HU)."""
    hu = np.asarray(hu_zyx, dtype=np.float64)
    level = float(np.median(hu[liver_zyx]))
    soft = (hu >= SOFT_TISSUE_HU[0]) & (hu <= SOFT_TISSUE_HU[1])
    scaled = np.where(soft, level + factor * (hu - level), hu)
    return _as_int16(scaled), level


def _write_followup_study(
    out: Path,
    background: Background,
    kind: str,
    follow_hu: np.ndarray,
    z_offset_mm: float,
    about: dict,
    z_spacing_mm: float | None = None,
) -> Path:
    """Write ``out/study`` (the baseline, and ``follow_hu`` 60 days later in the same frame of reference, its
    first slice ``z_offset_mm`` above the baseline's, its slices ``z_spacing_mm`` apart: by default the
    baseline's spacing) and the targets; return ``out/study``."""
    image = background.image
    hu = sitk.GetArrayFromImage(image)
    sx, sy, sz = image.GetSpacing()
    fz = z_spacing_mm or sz
    origin = tuple(float(v) for v in image.GetOrigin())
    full = Grid(hu.shape, (sx, sy, sz), origin, sz)  # type: ignore[arg-type]
    follow = Grid(follow_hu.shape, (sx, sy, fz), (origin[0], origin[1], origin[2] + z_offset_mm), fz)
    patient = Patient(f"{kind}-{background.name.upper()}", f"{kind}^PATIENT", "O", "19700101", 70.0, 1.70)
    start = dt.datetime(2024, 1, 8, 9, 0, 0)
    study_dir = out / "study"
    frame = uid(patient.patient_id, "frame")
    _write_series(study_dir / "timepoint0", hu, full, patient, 0, start, frame)
    _write_series(study_dir / "timepoint1", follow_hu, follow, patient, 1, start + dt.timedelta(days=60), frame)
    _write_targets(out, background, about)
    return study_dir


def _as_int16(values: np.ndarray) -> np.ndarray:
    """HU values rounded to the nearest integer and clipped to signed 16 bits (as the series are written)."""
    return np.clip(np.rint(values), -32768, 32767).astype(np.int16)


def _check(background: Background) -> None:
    """:class:`ValueError` unless ``background`` has lesions and an axial LPS image (identity direction)."""
    if not background.lesions_zyx:
        raise ValueError(f"{background.name}: no lesion to track (insert some with insert_lesions)")
    if np.allclose(np.asarray(background.image.GetDirection()), np.eye(3).ravel()) is False:
        raise ValueError(f"{background.name}: the image must be axial LPS (identity direction)")


def _write_targets(out: Path, background: Background, about: dict) -> None:
    """``out/study/targets.json`` (a seed at the deepest point of each lesion mask, ids ``T1``, ``T2``, ...) and
    ``out/truth.json`` (``about`` and each mask's voxel count, volume and seed)."""
    image = background.image
    sx, sy, sz = image.GetSpacing()
    spacing = (sz, sy, sx)
    targets, truth = [], []
    for n, mask in enumerate(background.lesions_zyx, start=1):
        seed_zyx = deepest_point_zyx(mask, spacing)
        seed = image.TransformIndexToPhysicalPoint([int(v) for v in seed_zyx[::-1]])
        targets.append({"id": f"T{n}", "seed_lps_mm": [round(float(v), 3) for v in seed], "organ": "liver"})
        truth.append(
            {
                "lesion_id": f"T{n}",
                "voxels": int(mask.sum()),
                "volume_ml": float(mask.sum() * sx * sy * sz / 1000.0),
                "seed_lps_mm": [float(v) for v in seed],
            }
        )
    (out / "study" / "targets.json").write_text(json.dumps({"lesions": targets}, indent=2) + "\n", encoding="utf-8")
    (out / "truth.json").write_text(json.dumps({**about, "lesions": truth}, indent=2) + "\n", encoding="utf-8")


def crop(background: Background, lesions: tuple[int, ...] | None = None, margin_mm: float = 30.0) -> Background:
    """``background`` cropped to its liver (or, without one, its lesions) plus ``margin_mm``, keeping the lesion
    masks numbered ``lesions`` (default all): a smaller study for quick checks."""
    kept = tuple(
        background.lesions_zyx[k] for k in (lesions if lesions is not None else range(len(background.lesions_zyx)))
    )
    region = background.liver_zyx if background.liver_zyx is not None else np.logical_or.reduce(kept)
    spacing = np.asarray(background.image.GetSpacing()[::-1], dtype=float)
    where = np.nonzero(region)
    margin = np.ceil(margin_mm / spacing).astype(int)
    lo = np.maximum([int(w.min()) - m for w, m in zip(where, margin, strict=True)], 0)
    hi = np.minimum([int(w.max()) + 1 + m for w, m in zip(where, margin, strict=True)], region.shape)
    box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    image = sitk.RegionOfInterest(background.image, [int(v) for v in (hi - lo)[::-1]], [int(v) for v in lo[::-1]])
    liver = background.liver_zyx[box] if background.liver_zyx is not None else None
    return Background(background.name, image, liver, tuple(m[box] for m in kept))
