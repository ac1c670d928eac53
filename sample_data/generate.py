"""Generate a synthetic longitudinal PET/CT study with its ground truth.

Layout written to ``OUT``::

    OUT/study/DICOM/0000/IM00017 ...   every CT and PET slice of every timepoint,
                                       shuffled names and folders, some ``.dcm``
    OUT/study/targets.json             baseline seeds, the pipeline's input
    OUT/ground_truth.json              truth per lesion and timepoint (beside the
                                       study, never read by the pipeline)

Generation is written to a temporary folder and renamed into place, so ``OUT``
is either complete or absent.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np

from sample_data import truth
from sample_data.anatomy import LIVER_SUV, organs
from sample_data.dicom_write import SeriesInfo, StudyInfo, ct_datasets, pet_datasets, save_all, uid
from sample_data.render import render_ct, render_pet_suv
from sample_data.scenario import Scenario, Timepoint, lesion_truth, make_scenario
from sample_data.shapes import Structure

GENERATOR_VERSION = "3"


def timepoint_structures(scenario: Scenario, tp: Timepoint) -> list[Structure]:
    """What the timepoint's CT and PET are rendered from: the organs, then the lesions present at ``tp``."""
    lesions = [
        Structure(
            lesion.lesion_id,
            tp.lesion_shape(lesion),
            hu=lesion.hu,
            suv=lesion.suv_at(tp.index),
            tags=frozenset({"lesion"}),
        )
        for lesion in (*scenario.lesions, *scenario.new_lesions)
        if lesion.present(tp.index)
    ]
    return organs() + lesions


class _FileNamer:
    """Shuffled, export-like file names: DICOM/<folder>/IM<number>, some with .dcm."""

    def __init__(self, root: Path, total: int, rng: np.random.Generator) -> None:
        self.root = root
        self.order = rng.permutation(total)
        self.next = 0

    def take(self, n: int) -> list[Path]:
        out = []
        for number in self.order[self.next : self.next + n]:
            suffix = ".dcm" if number % 3 == 0 else ""
            out.append(self.root / "DICOM" / f"{number // 100:04d}" / f"IM{number:05d}{suffix}")
        self.next += n
        return out


def _suv_max_noise_free(clean_suv: np.ndarray, scenario: Scenario, tp: Timepoint) -> dict[str, float]:
    """Noise-free SUVmax near each lesion (within its largest semi-axis + 4 mm)."""
    grid = tp.pet_grid
    out = {}
    for lesion in (*scenario.lesions, *scenario.new_lesions):
        if not lesion.present(tp.index):
            continue
        e = tp.lesion_shape(lesion)
        centre = tp.pose.body_to_lps(np.asarray(e.centre_mm))
        r = max(e.semi_axes_mm) + 4.0
        block = grid.index_range(centre - r, centre + r, margin=0)
        pts = grid.points_lps(block)
        inside = np.linalg.norm(pts - centre, axis=-1) <= r
        out[lesion.lesion_id] = float(clean_suv[block][inside].max())
    return out


def _suv_peak_noise_free(clean_suv: np.ndarray, scenario: Scenario, tp: Timepoint) -> dict[str, float]:
    """Noise-free SUVpeak of each lesion: sphere centres on the PET voxels inside the lesion."""
    grid = tp.pet_grid
    spacing_zyx = tuple(float(s) for s in grid.spacing_xyz_mm[::-1])
    out = {}
    for lesion in scenario.lesions:
        e = tp.lesion_shape(lesion)
        centre = tp.pose.body_to_lps(np.asarray(e.centre_mm))
        r = max(e.semi_axes_mm)
        block = grid.index_range(centre - r, centre + r, margin=1)
        inside = e.contains(tp.pose.lps_to_body(grid.points_lps(block)))
        if not inside.any():  # smaller than a PET voxel: the voxel nearest the centre
            inside = (
                np.linalg.norm(grid.points_lps(block) - centre, axis=-1)
                == np.linalg.norm(grid.points_lps(block) - centre, axis=-1).min()
            )
        centres = np.argwhere(inside) + np.array([s.start for s in block])
        out[lesion.lesion_id] = truth.suv_peak_noise_free(clean_suv, spacing_zyx, centres)  # type: ignore[arg-type]
    return out


def _expected_criteria(
    scenario: Scenario, truths: list[list[truth.LesionTruth]], suv_peaks: list[dict[str, float]]
) -> list[dict[str, object]]:
    """Expected volumetric, Choi and PERCIST category per timepoint, from the exact values (see sample_data.truth)."""
    targets = truth.recist_target_ids(truths[0])
    volumes = [sum(t.volume_ml for t in tp if t.lesion_id in targets) for tp in truths]
    all_sums = [
        sum(t.longest_axial_diameter_on_slices_mm for t in tp) for tp in truths
    ]  # Choi: RECIST 1.0, up to 5 per organ
    density = [float(np.mean([lesion.hu for lesion in scenario.lesions]))] * len(
        truths
    )  # lesion attenuation never changes
    patient = scenario.patient
    factor = truth.sul_per_suv_james(patient.weight_kg, patient.height_m, patient.sex)
    hottest = [max(peaks.values()) * factor for peaks in suv_peaks]
    liver = LIVER_SUV * factor
    columns = {
        "volumetric": truth.volumetric_categories(volumes),
        "choi": truth.choi_categories(all_sums, density),
        "percist": truth.percist_categories(hottest, liver),
    }
    return [
        {
            "total_target_volume_ml": volumes[k],
            "sum_all_diameters_mm": all_sums[k],
            "hottest_sul_peak_noise_free": hottest[k],
            "liver_reference_sul": liver,
            "sul_per_suvbw": factor,
            **{name: values[k] for name, values in columns.items()},
        }
        for k in range(len(truths))
    ]


def _timepoint_series(scenario: Scenario, tp: Timepoint) -> tuple[StudyInfo, SeriesInfo, SeriesInfo]:
    seed = scenario.seed
    study = StudyInfo(
        study_uid=uid(seed, tp.index, "study"),
        frame_of_reference_uid=uid(seed, tp.index, "for"),
        study_datetime=tp.study_datetime,
        study_id=f"{tp.index + 1}",
        accession=f"SYN{seed:04d}{tp.index:02d}",
    )
    ct_time = tp.pet.series_time - (tp.pet.series_time - tp.pet.injection_time) / 20
    ct = SeriesInfo(uid(seed, tp.index, "ct"), 2, "CT ABDOMEN PV 2.0 B30f", ct_time)
    pet = SeriesInfo(uid(seed, tp.index, "pet"), 3, "PET WB AC", tp.pet.series_time)
    return study, ct, pet


def _no_progress(message: str, stage: str = "", step: int | None = None, total: int | None = None) -> None:
    pass


def is_current(out_dir: Path | str, seed: int, size: str) -> bool:
    """True when ``out_dir`` holds a complete study of this generator version for ``seed`` and ``size``."""
    try:
        generator = json.loads((Path(out_dir) / "ground_truth.json").read_text())["generator"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return (generator.get("version"), generator.get("seed"), generator.get("size")) == (GENERATOR_VERSION, seed, size)


def generate_study(
    out_dir: Path | str,
    seed: int = 1,
    size: str = "small",
    force: bool = False,
    progress: Callable[..., None] = _no_progress,
) -> Path:
    """Write the study for ``seed`` and ``size`` into ``out_dir``; return ``out_dir``.

    ``progress(message, stage=..., step=..., total=...)`` is told when each timepoint's CT and PET are written.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not force:
        raise FileExistsError(f"{out_dir} exists; pass force=True (--force) to replace it")
    scenario = make_scenario(seed, size)
    truths = lesion_truth(scenario)
    new_truths = lesion_truth(scenario, new_lesions=True)
    tmp = out_dir.with_name(f".{out_dir.name}.tmp-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    study_dir = tmp / "study"
    total = sum(tp.ct_grid.shape_zyx[0] + tp.pet_grid.shape_zyx[0] for tp in scenario.timepoints)
    namer = _FileNamer(study_dir, total, np.random.default_rng([seed, 99]))
    patient = scenario.patient
    timepoint_truth = []
    suv_peaks: list[dict[str, float]] = []
    recist_targets = truth.recist_target_ids(truths[0])
    sums = [
        sum(t.longest_axial_diameter_on_slices_mm for t in tp_truth if t.lesion_id in recist_targets)
        for tp_truth in truths
    ]
    categories = truth.recist_categories(sums)
    n = len(scenario.timepoints)
    for tp in scenario.timepoints:
        progress(f"timepoint {tp.index}: rendering the CT", stage="sample-data", step=tp.index + 1, total=n)
        structures = timepoint_structures(scenario, tp)
        study, ct_series, pet_series = _timepoint_series(scenario, tp)
        ct = render_ct(
            structures, tp.pose, tp.ct_grid, tp.ct_noise_hu, np.random.default_rng([seed, tp.index, 1]), tp.deformation
        )
        datasets = ct_datasets(
            ct, tp.ct_grid, patient, study, ct_series, signed=tp.ct_signed_pixels, descending=tp.index == 0
        )
        del ct
        save_all(datasets, namer.take(len(datasets)))
        progress(f"timepoint {tp.index}: rendering the PET", stage="sample-data", step=tp.index + 1, total=n)
        suv, clean_suv = render_pet_suv(
            structures, tp.pose, tp.pet_grid, np.random.default_rng([seed, tp.index, 2]), tp.deformation
        )
        bq_per_ml_per_suv = tp.pet.injected_dose_bq * tp.pet.decay_factor_to_series / (patient.weight_kg * 1000.0)
        datasets = pet_datasets(suv * bq_per_ml_per_suv, tp.pet_grid, patient, study, pet_series, tp.pet)
        save_all(datasets, namer.take(len(datasets)))
        suv_max = _suv_max_noise_free(clean_suv, scenario, tp)
        suv_peaks.append(_suv_peak_noise_free(clean_suv, scenario, tp))
        cat, from_base, from_nadir = categories[tp.index]
        timepoint_truth.append(
            {
                "timepoint": tp.index,
                "study_date": tp.study_datetime.date().isoformat(),
                "days_from_baseline": (tp.study_datetime.date() - scenario.timepoints[0].study_datetime.date()).days,
                "study_instance_uid": study.study_uid,
                "frame_of_reference_uid": study.frame_of_reference_uid,
                "ct_series_instance_uid": ct_series.series_uid,
                "pet_series_instance_uid": pet_series.series_uid,
                "pose": asdict(tp.pose),
                "deformation": asdict(tp.deformation),
                "ct_grid": asdict(tp.ct_grid),
                "pet_grid": asdict(tp.pet_grid),
                "ct_noise_sd_hu": tp.ct_noise_hu,
                "pet": {
                    "injected_dose_bq": tp.pet.injected_dose_bq,
                    "injection_datetime": tp.pet.injection_time.isoformat(),
                    "series_datetime": tp.pet.series_time.isoformat(),
                    "half_life_s": tp.pet.half_life_s,
                    "suvbw_factor_ml_per_bq": patient.weight_kg
                    * 1000.0
                    / (tp.pet.injected_dose_bq * tp.pet.decay_factor_to_series),
                },
                "recist_targets": recist_targets,
                "sum_longest_diameters_mm": sums[tp.index],
                "change_from_baseline_pct": from_base,
                "change_from_nadir_pct": from_nadir,
                "recist": cat,
                "lesions": [
                    {
                        **asdict(t),
                        "suv_max_noise_free": suv_max[t.lesion_id],
                        "suv_peak_noise_free": suv_peaks[-1][t.lesion_id],
                        "nonrigid_shift_mm": float(
                            np.linalg.norm(np.subtract(tp.lesion_shape(lesion).centre_mm, lesion.baseline.centre_mm))
                        ),
                    }
                    for t, lesion in zip(truths[tp.index], scenario.lesions, strict=True)
                ],
                "new_lesions": [
                    {**asdict(t), "suv_max_noise_free": suv_max[t.lesion_id]} for t in new_truths[tp.index]
                ],
            }
        )
    for tp_truth, criteria in zip(timepoint_truth, _expected_criteria(scenario, truths, suv_peaks), strict=True):
        tp_truth.update(criteria)
    rng = np.random.default_rng([seed, 7])
    targets: dict[str, list[dict[str, object]]] = {"lesions": []}
    for lesion, t in zip(scenario.lesions, truths[0], strict=True):
        offset = rng.normal(size=3)
        offset *= 0.25 * min(lesion.baseline.semi_axes_mm) * rng.uniform() / np.linalg.norm(offset)
        seed_lps = np.asarray(t.centre_lps_mm) + offset
        targets["lesions"].append(
            {"id": lesion.lesion_id, "seed_lps_mm": [round(float(v), 2) for v in seed_lps], "organ": "liver"}
        )
    (study_dir / "targets.json").write_text(json.dumps(targets, indent=2) + "\n")
    ground_truth = {
        "generator": {"name": "lesion-pipeline sample-data", "version": GENERATOR_VERSION, "seed": seed, "size": size},
        "patient_id": patient.patient_id,
        "patient_weight_kg": patient.weight_kg,
        "lesion_definitions": [
            {
                "id": l.lesion_id,
                "hu": l.hu,
                "suv": l.suv,
                "scale_per_timepoint": list(l.scale_per_timepoint),
                "uptake_per_timepoint": list(l.uptake_per_timepoint),
                "baseline_ellipsoid_body_frame": asdict(l.baseline),
                "target": l in scenario.lesions,
            }
            for l in (*scenario.lesions, *scenario.new_lesions)
        ],
        "timepoints": timepoint_truth,
    }
    (tmp / "ground_truth.json").write_text(json.dumps(ground_truth, indent=2) + "\n")
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp.rename(out_dir)
    return out_dir
