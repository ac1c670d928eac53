"""The hybrid validation set: lesions with known truth inserted into real liver CT, written as DICOM studies.

Every case is one real background (:mod:`sample_data.hybrid.backgrounds`) with one lesion of each appearance
class (:mod:`sample_data.hybrid.appearance`), at least 10 mm apart. A lesion's size (its longest axial diameter) is drawn log-uniformly from 10-20, 20-40, 40-70 or 70-120 mm
(probabilities 0.3, 0.3, 0.25, 0.15; at most one lesion above 40 mm per case); its shape is an ellipsoid
with axes 1 : 0.6-1.0 : 0.55-1.0 in a random orientation with 0-4 lobes (amplitude -0.25..0.35,
concentration 2-6), scaled to that size. Its site kind is drawn among those the scan offers (interior 0.4,
vessel 0.2, capsule 0.25, diaphragm 0.15); a lesion with no site left is shrunk by 15 % at a time (not below
11 mm) before the next kind is tried.

The seed of each target is a random point inside the lesion (``0 <= |p - c| / r(u) <= 0.6``: anywhere in
its inner part, not only its centre). Every second lesion also carries a reader's RECIST line: the true
longest axial diameter's end points, each moved by a 1 mm (sd) in-plane error.

Written per case (``write_case``)::

    CASE/study/CT/IM0001.dcm ...   the baseline CT with the lesions (int16 HU, the background's geometry)
    CASE/targets.json               seeds (and reader lines) for ``lesion-pipeline run --targets``
    CASE/masks/L1.nii.gz ...        each lesion's partial-volume fraction map on the CT grid (float32)
    CASE/truth.json                 class, site, exact volume, longest axial diameter and its end points

Everything is deterministic from ``(seed, background, case index)``.
"""

from __future__ import annotations

import datetime as dt
import json
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from sample_data.dicom_write import SeriesInfo, StudyInfo, ct_datasets, save_all, uid
from sample_data.grid import Grid
from sample_data.hybrid.appearance import CLASSES, Appearance, draw_appearance
from sample_data.hybrid.backgrounds import BACKGROUNDS, Background
from sample_data.hybrid.insert import Rendered, anatomy, insert, render
from sample_data.hybrid.shape import Lobe, StarShape
from sample_data.hybrid.sites import SiteMaps, candidates
from sample_data.scenario import Patient
from sample_data.shapes import rotation_matrix

GENERATOR_VERSION = "1"
SIZE_BINS_MM = ((10.0, 20.0), (20.0, 40.0), (40.0, 70.0), (70.0, 120.0))
SIZE_P = (0.3, 0.3, 0.25, 0.15)
KIND_P = {"interior": 0.4, "vessel": 0.2, "capsule": 0.25, "diaphragm": 0.15}
READER_ERROR_MM = 1.0
MIN_SIZE_MM = 11.0  # no lesion is shrunk (for room) below this longest axial diameter


class NoRoom(RuntimeError):
    """The liver has no site left for a lesion."""


@dataclass(frozen=True, eq=False)
class HybridLesion:
    lesion_id: str
    appearance_class: str
    site: str
    shape: StarShape
    appearance: Appearance
    seed_lps_mm: tuple[float, float, float]
    reader_line_lps_mm: tuple[tuple[float, float, float], tuple[float, float, float]] | None
    volume_ml: float
    longest_diameter_mm: float
    longest_diameter_lps_mm: tuple[tuple[float, float, float], tuple[float, float, float]]


def _axial_extent_mm(shape: StarShape) -> float:
    """Approximate longest axial diameter of ``shape`` (sections every 1.5 mm, traced on a 0.5 mm grid)."""
    lo, hi = shape.bounds()
    return max(shape.section_longest_mm(float(z), step_mm=0.5)[0] for z in np.arange(lo[2] + 0.5, hi[2], 1.5))


def _draw_shape(rng: np.random.Generator, large_allowed: bool) -> StarShape:
    """A random lobulated ellipsoid at the origin, scaled so that its longest axial diameter is the drawn size."""
    p = np.asarray(SIZE_P if large_allowed else SIZE_P[:2], dtype=float)
    lo, hi = SIZE_BINS_MM[int(rng.choice(len(p), p=p / p.sum()))]
    size = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    axes = (1.0, float(rng.uniform(0.6, 1.0)), float(rng.uniform(0.55, 1.0)))
    a1, a2, a3 = (float(v) for v in rng.uniform(-180.0, 180.0, size=3))
    rot = rotation_matrix((a1, a2, a3))
    lobes = []
    for _ in range(int(rng.integers(0, 5))):
        d = rng.normal(size=3)
        ux, uy, uz = (float(v) for v in d / np.linalg.norm(d))
        lobes.append(Lobe(float(rng.uniform(-0.25, 0.35)), float(rng.uniform(2.0, 6.0)), (ux, uy, uz)))
    unit = StarShape(
        (0.0, 0.0, 0.0),
        (10.0, 10.0 * axes[1], 10.0 * axes[2]),
        _rows(rot),
        tuple(lobes),
    )
    return _scaled(unit, size / _axial_extent_mm(unit))


def _rows(matrix: np.ndarray) -> tuple[tuple[float, float, float], ...]:
    return tuple((float(r[0]), float(r[1]), float(r[2])) for r in np.asarray(matrix))


def _scaled(shape: StarShape, factor: float) -> StarShape:
    return StarShape(shape.centre_lps_mm, tuple(v * factor for v in shape.semi_axes_mm), shape.rotation, shape.lobes)  # type: ignore[arg-type]


def _moved(shape: StarShape, centre: np.ndarray) -> StarShape:
    return StarShape(tuple(float(v) for v in centre), shape.semi_axes_mm, shape.rotation, shape.lobes)  # type: ignore[arg-type]


def _local_liver_level(bg: Background, shape: StarShape, fallback: float) -> float:
    """Median of the 1.5 mm-smoothed scan over liver voxels 3-12 mm (radially) outside the lesion and within
    40 HU of ``fallback`` (the whole liver's level): the parenchyma the lesion's contrast is relative to."""
    lo, hi = shape.bounds(12.0)
    ilo = np.maximum(np.floor(bg.lps_to_index(lo)).astype(int), 0)
    ihi = np.minimum(np.ceil(bg.lps_to_index(hi)).astype(int) + 1, bg.shape_zyx)
    box = tuple(slice(int(i), int(j)) for i, j in zip(ilo, ihi))
    grids = np.meshgrid(*[np.arange(sl.start, sl.stop) for sl in box], indexing="ij")
    centres = bg.index_to_lps(np.stack(grids, axis=-1).astype(float))
    s = shape.radial_distance(centres)
    a = anatomy(bg, box)  # type: ignore[arg-type]
    shell = (s <= -3.0) & (s >= -12.0) & bg.liver_zyx[box] & (np.abs(a - fallback) < 40.0)
    return float(np.median(a[shell])) if shell.sum() >= 50 else fallback


def plan_case(
    bg: Background,
    maps: SiteMaps,
    level_hu: float,
    rng: np.random.Generator,
    classes: tuple[str, ...] = CLASSES,
) -> list[HybridLesion]:
    """Shapes, sites, appearances and truth of one case's lesions (see module docstring).

    The shapes are drawn first and placed largest first; lesion ids follow the class order drawn.
    """
    kinds = [k for k in KIND_P if k != "vessel" or maps.vessel is not None]
    placed: list[tuple[np.ndarray, float]] = []
    names = [str(c) for c in rng.permutation(list(classes))]
    shapes: list[StarShape] = []
    sizes: list[float] = []
    for _ in names:
        shape = _draw_shape(rng, all(size <= 40.0 for size in sizes))
        shapes.append(shape)
        sizes.append(_axial_extent_mm(shape))
    slice_z = bg.origin_lps_mm[2] + np.arange(bg.shape_zyx[0]) * bg.spacing_zyx[0]
    lesions: dict[int, HybridLesion] = {}
    for n in sorted(range(len(names)), key=lambda k: -sizes[k]):
        p = np.asarray([KIND_P[k] for k in kinds])
        order = list(rng.choice(kinds, size=len(kinds), replace=False, p=p / p.sum()))
        site = None
        for kind in order:
            trial, size = shapes[n], sizes[n]
            for _ in range(9):
                radii = trial.radius(_dirs())
                cands = candidates(maps, kind, float(radii.min()), float(radii.max()), placed)
                if len(cands):
                    site = (kind, trial, cands[int(rng.integers(len(cands)))])
                    break
                if size * 0.85 < MIN_SIZE_MM:
                    break
                trial, size = _scaled(trial, 0.85), size * 0.85
            if site is not None:
                break
        if site is None:
            raise NoRoom(f"{bg.name}: no room left in the liver for lesion {n + 1} ({names[n]})")
        kind, shape, centre_idx = site
        centre = bg.index_to_lps(centre_idx + rng.uniform(-0.5, 0.5, size=3))
        shape = _moved(shape, centre)
        placed.append((np.asarray(centre_idx, dtype=float), shape.max_radius_mm()))
        appearance = draw_appearance(names[n], shape, rng, level_hu)
        u = rng.normal(size=3)
        u /= np.linalg.norm(u)
        seed = centre + u * float(shape.radius(u[None])[0]) * rng.uniform(0.0, 0.6)
        ld, _, ends = shape.longest_axial_diameter(slice_z)
        assert ends is not None
        line = None
        if n % 2 == 0:
            jitter = rng.normal(0.0, READER_ERROR_MM, size=(2, 3))
            jitter[:, 2] = 0.0
            line = tuple(tuple(float(v) for v in row) for row in ends + jitter)
        lesions[n] = HybridLesion(
            f"L{n + 1}",
            names[n],
            kind,
            shape,
            appearance,
            tuple(float(v) for v in seed),  # type: ignore[arg-type]
            line,  # type: ignore[arg-type]
            shape.volume_ml(),
            ld,
            tuple(tuple(float(v) for v in row) for row in ends),  # type: ignore[arg-type]
        )
    return [lesions[n] for n in range(len(names))]


def plan_case_retrying(
    bg: Background, maps: SiteMaps, level_hu: float, seed: int, case_index: int, attempts: int = 8
) -> list[HybridLesion]:
    """:func:`plan_case` with the generator ``(seed, background, case, attempt)``; the first attempt that
    finds room for every lesion is kept."""
    for attempt in range(attempts):
        rng = np.random.default_rng([seed, BACKGROUNDS.index(bg.name), case_index, attempt])
        try:
            return plan_case(bg, maps, level_hu, rng)
        except NoRoom:
            continue
    raise NoRoom(f"{bg.name}: no room for every lesion of case {case_index} in {attempts} attempts")


def _dirs() -> np.ndarray:
    from sample_data.hybrid.shape import fibonacci_directions

    return fibonacci_directions(4000)


def render_case(
    bg: Background, lesions: list[HybridLesion], level_hu: float
) -> tuple[np.ndarray, list[Rendered], list[float]]:
    """The background with every lesion inserted (float32 HU), each lesion's rendering and local liver level."""
    image = bg.image_zyx.copy()
    out, levels = [], []
    for lesion in lesions:
        rendered = render(bg, lesion.shape, lesion.appearance)
        level = _local_liver_level(bg, lesion.shape, level_hu)
        insert(image, bg, rendered, level)
        out.append(rendered)
        levels.append(level)
    return image, out, levels


def _nifti(values: np.ndarray, bg: Background) -> sitk.Image:
    img = sitk.GetImageFromArray(values)
    img.SetSpacing(tuple(float(v) for v in bg.spacing_zyx[::-1]))
    img.SetOrigin(bg.origin_lps_mm)
    return img


def write_case(case: Path, name: str, bg: Background, level_hu: float, lesions: list[HybridLesion], seed: int) -> Path:
    """Write case ``name`` into the folder ``case`` (layout in the module docstring); returns it."""
    case = Path(case)
    image, rendered, levels = render_case(bg, lesions, level_hu)
    nz, ny, nx = bg.shape_zyx
    grid = Grid(
        (nz, ny, nx), (bg.spacing_zyx[2], bg.spacing_zyx[1], bg.spacing_zyx[0]), bg.origin_lps_mm, bg.slice_thickness_mm
    )
    when = dt.datetime(2024, 1, 1, 9, 0, 0)
    key = ("hybrid", GENERATOR_VERSION, seed, name)
    study = StudyInfo(uid(*key, "study"), uid(*key, "for"), when, "1", f"H{zlib.crc32(name.encode()) % 10**8:08d}")
    series = SeriesInfo(uid(*key, "ct"), 2, f"hybrid {bg.name}", when)
    patient = Patient(f"HYBRID-{name}", f"HYBRID^{name.upper()}", "O", "19600101", 70.0, 1.70)
    datasets = ct_datasets(image, grid, patient, study, series, signed=True, descending=False)
    save_all(datasets, [case / "study" / "CT" / f"IM{k + 1:04d}.dcm" for k in range(nz)])
    (case / "masks").mkdir(parents=True, exist_ok=True)
    for lesion, r in zip(lesions, rendered):
        full = np.zeros(bg.shape_zyx, np.float32)
        full[r.box] = r.fraction_zyx
        sitk.WriteImage(_nifti(full, bg), str(case / "masks" / f"{lesion.lesion_id}.nii.gz"), useCompression=True)
    targets = []
    for lesion in lesions:
        entry: dict[str, object] = {"id": lesion.lesion_id, "seed_lps_mm": [round(v, 2) for v in lesion.seed_lps_mm]}
        if lesion.reader_line_lps_mm is not None:
            entry["long_axis_lps_mm"] = [[round(v, 2) for v in p] for p in lesion.reader_line_lps_mm]
        targets.append(entry)
    (case / "targets.json").write_text(json.dumps({"lesions": targets}, indent=2) + "\n")
    truth = {
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "background": bg.name,
        "background_source": bg.source,
        "lesions": [
            {
                "id": lesion.lesion_id,
                "class": lesion.appearance_class,
                "site": lesion.site,
                "volume_ml": lesion.volume_ml,
                "longest_diameter_mm": lesion.longest_diameter_mm,
                "longest_diameter_lps_mm": [list(p) for p in lesion.longest_diameter_lps_mm],
                "reader_line": lesion.reader_line_lps_mm is not None,
                "liver_level_hu": level,
                "contrast_hu": lesion.appearance.base_hu,
                "centre_lps_mm": list(lesion.shape.centre_lps_mm),
            }
            for lesion, level in zip(lesions, levels)
        ],
    }
    (case / "truth.json").write_text(json.dumps(truth, indent=2) + "\n")
    return case
