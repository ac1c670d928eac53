"""A random but reproducible follow-up scenario: patient, lesions, timepoints.

Everything random is drawn here from one ``numpy.random.Generator`` seeded by
the user's ``--seed``, so that the same seed gives the same study.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

import numpy as np

from sample_data import truth
from sample_data.anatomy import LIVER_HU, LIVER_SUV, is_liver_parenchyma, liver_shapes
from sample_data.deformation import IDENTITY, Deformation
from sample_data.grid import Grid
from sample_data.render import PET_PSF_FWHM_MM
from sample_data.shapes import Ellipsoid, Pose, as_matrix3, rotation_matrix

SIZES = ("tiny", "small", "full")
F18_HALF_LIFE_S = 6586.2


@dataclass(frozen=True)
class Patient:
    patient_id: str
    name: str
    sex: str
    birth_date: str
    weight_kg: float
    height_m: float


@dataclass(frozen=True)
class Lesion:
    """A liver lesion: its baseline ellipsoid (body frame), its size and its FDG uptake per timepoint."""

    lesion_id: str
    baseline: Ellipsoid
    hu: float
    suv: float  # at baseline
    scale_per_timepoint: tuple[float, ...]
    uptake_per_timepoint: tuple[float, ...] = (1.0, 1.0, 1.0)  # SUV relative to baseline

    def at(self, timepoint: int) -> Ellipsoid:
        return self.baseline.scaled(self.scale_per_timepoint[timepoint])

    def present(self, timepoint: int) -> bool:
        """False where the lesion does not exist (scale 0: not yet appeared, or gone)."""
        return self.scale_per_timepoint[timepoint] > 0

    def suv_at(self, timepoint: int) -> float:
        return self.suv * self.uptake_per_timepoint[timepoint]


@dataclass(frozen=True)
class PetAcquisition:
    injected_dose_bq: float
    injection_time: dt.datetime
    series_time: dt.datetime
    half_life_s: float = F18_HALF_LIFE_S

    @property
    def decay_factor_to_series(self) -> float:
        """Fraction of the injected activity left at the series start time."""
        elapsed = (self.series_time - self.injection_time).total_seconds()
        return float(2.0 ** (-elapsed / self.half_life_s))


@dataclass(frozen=True)
class Timepoint:
    index: int
    study_datetime: dt.datetime
    pose: Pose
    ct_grid: Grid
    pet_grid: Grid
    ct_noise_hu: float
    ct_signed_pixels: bool
    pet: PetAcquisition
    deformation: Deformation = IDENTITY

    def lesion_shape(self, lesion: Lesion) -> Ellipsoid:
        """The lesion at this timepoint, in this timepoint's (deformed) body frame."""
        return self.deformation.carry(lesion.at(self.index))


@dataclass(frozen=True)
class Scenario:
    seed: int
    size: str
    patient: Patient
    lesions: tuple[Lesion, ...]  # the targets, present at every timepoint
    timepoints: tuple[Timepoint, ...]
    new_lesions: tuple[Lesion, ...] = ()  # absent at baseline, appearing at a follow-up


def _grids(size: str, timepoint: int, rng: np.random.Generator) -> tuple[Grid, Grid]:
    """CT and PET grids; the last follow-up uses a different CT protocol."""
    z_centre = float(rng.uniform(-5.0, 5.0))
    changed = timepoint == 2
    if size == "tiny":
        ct = ((52, 164, 164), (2.2, 2.2, 3.5)) if changed else ((60, 180, 180), (2.0, 2.0, 3.0))
        pet = ((40, 80, 80), (4.8, 4.8, 4.8))
    elif size == "small":
        ct = ((60, 240, 240), (1.5, 1.5, 3.0)) if changed else ((72, 256, 256), (1.4, 1.4, 2.5))
        pet = ((48, 96, 96), (4.0, 4.0, 4.0))
    else:
        ct = ((150, 512, 512), (0.703125, 0.703125, 2.5)) if changed else ((200, 512, 512), (0.78125, 0.78125, 2.0))
        pet = ((120, 192, 192), (3.6458, 3.6458, 3.27))
    ct_grid = Grid.centred(ct[0], ct[1], (0.0, 0.0, z_centre))
    pet_grid = Grid.centred(pet[0], pet[1], (0.0, 0.0, z_centre + float(rng.uniform(-4.0, 4.0))))
    return ct_grid, pet_grid


def _pose(timepoint: int, rng: np.random.Generator) -> Pose:
    """Baseline near the scanner's reference; follow-ups shifted up to 20 mm, rotated up to 5 degrees."""
    if timepoint == 0:
        rot = rng.uniform(-1.0, 1.0, 3) * np.array([0.5, 0.5, 1.0])
        shift = rng.uniform(-4.0, 4.0, 3)
    else:
        rot = np.array([rng.uniform(-2.0, 2.0), rng.uniform(-2.0, 2.0), rng.choice([-1, 1]) * rng.uniform(2.5, 5.0)])
        direction = rng.normal(size=3)
        shift = direction / np.linalg.norm(direction) * rng.uniform(8.0, 20.0)
    return Pose(tuple(float(v) for v in rot), tuple(float(v) for v in shift))  # type: ignore[arg-type]


def _deformation(timepoint: int, rng: np.random.Generator) -> Deformation:
    """No deformation at baseline; at follow-ups three smooth bumps of 3-6 mm centred in the liver."""
    if timepoint == 0:
        return IDENTITY
    lo = np.min([s.bounds()[0] for s in liver_shapes()], axis=0)
    hi = np.max([s.bounds()[1] for s in liver_shapes()], axis=0)
    centres: list[tuple[float, float, float]] = []
    while len(centres) < 3:
        c = rng.uniform(lo, hi)
        if is_liver_parenchyma(c[None])[0]:
            centres.append(tuple(float(v) for v in c))  # type: ignore[arg-type]
    amplitudes = []
    for _ in centres:
        direction = rng.normal(size=3)
        amplitudes.append(tuple(float(v) for v in direction / np.linalg.norm(direction) * rng.uniform(3.0, 6.0)))
    return Deformation(tuple(centres), tuple(amplitudes), width_mm=45.0)  # type: ignore[arg-type]


_BASELINE_DIAMETER_RANGES_MM = ((26.0, 34.0), (19.0, 25.0), (15.0, 19.0), (13.0, 16.0))


def _lesion_ellipsoids(
    rng: np.random.Generator,
    max_scale: float,
    ranges_mm: tuple[tuple[float, float], ...] = _BASELINE_DIAMETER_RANGES_MM,
    existing: tuple[Ellipsoid, ...] = (),
) -> list[Ellipsoid]:
    """Ellipsoids well inside the liver at every size they will take, apart from each other and ``existing``."""
    lo = np.min([s.bounds()[0] for s in liver_shapes()], axis=0)
    hi = np.max([s.bounds()[1] for s in liver_shapes()], axis=0)
    placed: list[Ellipsoid] = []
    for d_lo, d_hi in ranges_mm:
        for _ in range(10000):
            a = rng.uniform(d_lo, d_hi) / 2.0
            semi = (a, a * rng.uniform(0.78, 0.95), a * rng.uniform(0.75, 0.95))
            rot = as_matrix3(rotation_matrix((rng.uniform(-25, 25), rng.uniform(-25, 25), rng.uniform(-90, 90))))
            centre = rng.uniform(lo, hi)
            centre[2] = rng.uniform(-35.0, 35.0)
            candidate = Ellipsoid(tuple(float(v) for v in centre), semi, rot)  # type: ignore[arg-type]
            biggest = candidate.scaled(max_scale)
            if not is_liver_parenchyma(biggest.surface_points(300), margin_mm=5.0).all():
                continue
            r = max(biggest.semi_axes_mm)
            if all(
                np.linalg.norm(centre - np.asarray(o.centre_mm)) > r + max(o.semi_axes_mm) * max_scale + 10.0
                for o in [*existing, *placed]
            ):
                placed.append(candidate)
                break
        else:  # pragma: no cover - the liver is large enough for four lesions
            raise RuntimeError("could not place the lesions inside the liver")
    return placed


def _scales(rng: np.random.Generator, n: int) -> list[tuple[float, float, float]]:
    """Per-lesion size factors for baseline, a partial response, then progression of one lesion."""
    response = rng.uniform(0.55, 0.66, n)
    grower = int(rng.integers(n - 1))  # any lesion but the smallest regrows
    later = response * rng.uniform(0.95, 1.03, n)
    later[grower] = rng.uniform(1.0, 1.15)
    return [(1.0, float(response[i]), float(later[i])) for i in range(n)]


def _uptakes(rng: np.random.Generator, scales: list[tuple[float, ...]]) -> list[tuple[float, float, float]]:
    """Per-lesion uptake factors: a metabolic response of every lesion, then more uptake in the one that regrows."""
    grower = int(np.argmax([s[2] / s[1] for s in scales]))
    response = rng.uniform(0.4, 0.6, len(scales))
    later = response * rng.uniform(0.95, 1.05, len(scales))
    later[grower] = rng.uniform(1.3, 1.8)
    return [(1.0, float(response[i]), float(later[i])) for i in range(len(scales))]


def _with_clear_uptake(scenario: Scenario, seed: int) -> Scenario | None:
    """The scenario with uptake factors (drawn from their own stream, so that the geometry of a seed
    does not depend on them) whose expected PERCIST categories are clear; ``None`` if none is found."""
    truths = lesion_truth(scenario)
    recovery = [
        [
            truth.peak_recovery(tp.lesion_shape(lesion), tp.pose, tp.pet_grid, PET_PSF_FWHM_MM)
            for lesion in scenario.lesions
        ]
        for tp in scenario.timepoints
    ]
    patient = scenario.patient
    sul_per_suv = truth.sul_per_suv_james(patient.weight_kg, patient.height_m, patient.sex)
    rng = np.random.default_rng([seed, 11])
    for _attempt in range(200):
        uptakes = _uptakes(rng, [lesion.scale_per_timepoint for lesion in scenario.lesions])
        hottest = [
            max(
                LIVER_SUV + (lesion.suv * u[k] - LIVER_SUV) * recovery[k][i]
                for i, (lesion, u) in enumerate(zip(scenario.lesions, uptakes, strict=True))
            )
            for k in range(len(scenario.timepoints))
        ]
        if truth.has_clear_criteria(truths, hottest, LIVER_SUV, sul_per_suv):
            lesions = tuple(
                replace(lesion, uptake_per_timepoint=u) for lesion, u in zip(scenario.lesions, uptakes, strict=True)
            )
            return replace(scenario, lesions=lesions)
    return None


def make_scenario(seed: int, size: str = "small") -> Scenario:
    """Draw a scenario; redraw until its response categories (RECIST, volumetric, Choi, PERCIST) are far from every threshold."""
    if size not in SIZES:
        raise ValueError(f"size must be one of {SIZES}, got {size!r}")
    rng = np.random.default_rng(seed)
    sex = str(rng.choice(["F", "M"]))
    patient = Patient(
        patient_id=f"LP-SYN-{seed:04d}",
        name=f"SYNTHETIC^PATIENT{seed:04d}",
        sex=sex,
        birth_date=f"{int(rng.integers(1945, 1975))}0{int(rng.integers(1, 9))}15",
        weight_kg=round(float(rng.uniform(58.0, 95.0)), 1),
        height_m=round(float(rng.uniform(1.55, 1.92)), 2),
    )
    baseline_day = dt.datetime(2026, 1, 5, 8, 0) + dt.timedelta(days=int(rng.integers(0, 120)))
    for _attempt in range(100):
        ellipsoids = _lesion_ellipsoids(rng, max_scale=1.2)
        scales = _scales(rng, len(ellipsoids))
        lesions = tuple(
            Lesion(
                lesion_id=f"L{i + 1}",
                baseline=e,
                hu=LIVER_HU - float(rng.uniform(35.0, 60.0)),
                suv=float(rng.uniform(4.5, 9.0)) + LIVER_SUV,
                scale_per_timepoint=scales[i],
            )
            for i, e in enumerate(ellipsoids)
        )
        timepoints = []
        for k, days in enumerate((0, 42 + int(rng.integers(-3, 4)), 84 + int(rng.integers(-3, 4)))):
            ct_grid, pet_grid = _grids(size, k, rng)
            day = baseline_day + dt.timedelta(days=days, minutes=int(rng.integers(0, 120)))
            injection = day + dt.timedelta(minutes=10)
            pet = PetAcquisition(
                injected_dose_bq=round(float(rng.uniform(180e6, 350e6)), -4),
                injection_time=injection,
                series_time=injection + dt.timedelta(minutes=int(rng.integers(55, 75)), seconds=int(rng.integers(60))),
            )
            timepoints.append(
                Timepoint(
                    index=k,
                    study_datetime=day,
                    pose=_pose(k, rng),
                    ct_grid=ct_grid,
                    pet_grid=pet_grid,
                    ct_noise_hu=float(rng.uniform(11.0, 13.0)),
                    ct_signed_pixels=k == 1,
                    pet=pet,
                    deformation=_deformation(k, rng),
                )
            )
        (new,) = _lesion_ellipsoids(rng, 1.0, ((13.0, 16.0),), tuple(e.scaled(1.2) for e in ellipsoids))
        new_lesion = Lesion(
            lesion_id="N1",
            baseline=new,
            hu=LIVER_HU - float(rng.uniform(40.0, 55.0)),
            suv=float(rng.uniform(5.0, 8.0)) + LIVER_SUV,
            scale_per_timepoint=(0.0, 0.0, 1.0),
        )
        scenario = Scenario(seed, size, patient, lesions, tuple(timepoints), (new_lesion,))
        if truth.has_clear_recist(lesion_truth(scenario)):
            clear = _with_clear_uptake(scenario, seed)
            if clear is not None:
                return clear
    raise RuntimeError("no scenario with clear response categories")  # pragma: no cover


def lesion_truth(scenario: Scenario, new_lesions: bool = False) -> list[list[truth.LesionTruth]]:
    """Truth per timepoint, per lesion (in lesion order): the targets, or the new lesions present."""
    out = []
    for tp in scenario.timepoints:
        z_slices = tp.ct_grid.slice_z_mm()
        rows = []
        for lesion in scenario.new_lesions if new_lesions else scenario.lesions:
            if not lesion.present(tp.index):
                continue
            e = tp.lesion_shape(lesion)
            centre = tp.pose.body_to_lps(np.asarray(e.centre_mm))
            long_c, short_c = truth.axial_diameters(e, tp.pose)
            dz = float(np.min(np.abs(z_slices - centre[2])))
            long_s, short_s = truth.axial_diameters(e, tp.pose, dz)
            rows.append(
                truth.LesionTruth(
                    lesion_id=lesion.lesion_id,
                    timepoint=tp.index,
                    centre_lps_mm=tuple(float(v) for v in centre),  # type: ignore[arg-type]
                    longest_axial_diameter_mm=long_c,
                    short_axis_mm=short_c,
                    longest_axial_diameter_on_slices_mm=long_s,
                    short_axis_on_slices_mm=short_s,
                    max_3d_diameter_mm=2.0 * max(e.semi_axes_mm),
                    volume_ml=e.volume_ml,
                )
            )
        out.append(rows)
    return out
