"""Writers of the run's tables and files: measurements.csv, response.csv, summary.json, label maps, JSON."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from pipeline.records import CriterionOutcome, StudyAssessment, StudyResult, evaluable_totals

MEASUREMENT_COLUMNS = (
    "patient_id",
    "timepoint",
    "study_date",
    "days_from_baseline",
    "lesion_id",
    "status",
    "longest_diameter_mm",
    "short_axis_mm",
    "max_3d_diameter_mm",
    "volume_ml",
    "mean_hu",
    "suv_max",
    "suv_peak",
    "suv_mean",
    "centroid_x_mm",
    "centroid_y_mm",
    "centroid_z_mm",
)
RESPONSE_COLUMNS = (
    "patient_id",
    "timepoint",
    "study_date",
    "days_from_baseline",
    "sum_diameters_mm",
    "change_from_baseline_pct",
    "change_from_nadir_pct",
    "recist",
    "total_volume_ml",
    "volume_change_pct",
    "volumetric",
    "choi",
    "percist",
    "sul_peak",
    "liver_reference_sul",
)


def fmt(value: object, digits: int = 2) -> str:
    """CSV cell: empty for ``None``, fixed decimals for floats."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _csv_text(columns: tuple[str, ...], rows: list[list[str]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return buf.getvalue()


def measurements_csv(result: StudyResult) -> str:
    rows = []
    for tp in result.timepoints:
        for lesion in tp.lesions:
            c = lesion.centroid_lps_mm or (None, None, None)
            rows.append(
                [
                    result.patient_id,
                    str(tp.index),
                    tp.study_date.isoformat() if tp.study_date else "",
                    fmt(tp.days_from_baseline),
                    lesion.lesion_id,
                    lesion.status,
                    fmt(lesion.longest_diameter_mm),
                    fmt(lesion.short_axis_mm),
                    fmt(lesion.max_3d_diameter_mm),
                    fmt(lesion.volume_ml, 3),
                    fmt(lesion.mean_hu, 1),
                    fmt(lesion.suv_max, 3),
                    fmt(lesion.suv_peak, 3),
                    fmt(lesion.suv_mean, 3),
                    fmt(c[0]),
                    fmt(c[1]),
                    fmt(c[2]),
                ]
            )
    return _csv_text(MEASUREMENT_COLUMNS, rows)


def _other_criteria(result: StudyResult, k: int) -> list[str]:
    """volumetric, choi, percist, sul_peak, liver_reference_sul of timepoint ``k`` (see pipeline.longitudinal.assess)."""
    a = result.assessment
    if a is None:
        return [""] * 5
    percist = a.percist[k] if a.percist else None
    reference = percist.reference if percist else None
    return [
        a.volumetric[k].category.value if a.volumetric else "",
        a.choi[k].category.value if a.choi else "",
        percist.category.value if percist else "",
        fmt(percist.sul_peak if percist else None, 3),
        fmt(reference.mean_sul if reference is not None and reference.kind == "liver" else None, 3),
    ]


def response_csv(result: StudyResult) -> str:
    rows = []
    base_volume = result.total_volume_ml[0] if result.total_volume_ml else None
    for k, (tp, assessment, volume) in enumerate(
        zip(result.timepoints, result.recist, result.total_volume_ml, strict=True)
    ):
        volume_change = 100.0 * (volume - base_volume) / base_volume if base_volume and tp.index > 0 else None
        sums_ok, volume_ok = evaluable_totals(result, k)  # a target not evaluated: no sum, no total (empty cells)
        rows.append(
            [
                result.patient_id,
                str(tp.index),
                tp.study_date.isoformat() if tp.study_date else "",
                fmt(tp.days_from_baseline),
                fmt(assessment.sum_diameters_mm if sums_ok else None),
                fmt(assessment.change_from_baseline_pct if sums_ok else None, 1),
                fmt(assessment.change_from_nadir_pct if sums_ok else None, 1),
                assessment.category.value,
                fmt(volume if volume_ok else None, 3),
                fmt(volume_change if volume_ok else None, 1),
                *_other_criteria(result, k),
            ]
        )
    return _csv_text(RESPONSE_COLUMNS, rows)


def _outcome_entry(outcome: CriterionOutcome) -> dict[str, object]:
    out: dict[str, object] = {"targets": list(outcome.targets)}
    if outcome.not_targets is not None:
        out["not_targets"] = [{"lesion_id": i, "reason": why} for i, why in outcome.not_targets]
    if outcome.best is not None and outcome.progression is not None:
        ttp = outcome.progression
        out["best_overall_response"] = {"category": outcome.best.category, "timepoint": outcome.best.timepoint}
        out["time_to_progression"] = {
            "progressed": ttp.progressed,
            "censored": ttp.censored,
            "timepoint": ttp.timepoint,
            "days": ttp.days,
            "months": None if ttp.months is None else round(ttp.months, 2),
        }
    return out


def _timepoint_entry(result: StudyResult, a: StudyAssessment, k: int) -> dict[str, object]:
    tp = result.timepoints[k]
    p = a.percist[k] if a.percist else None
    sums_ok, volume_ok = evaluable_totals(result, k)
    return {
        "timepoint": tp.index,
        "study_date": tp.study_date.isoformat() if tp.study_date else None,
        "days_from_baseline": a.days_from_baseline[k],
        "new_lesion": a.new_lesion[k],
        "recist": a.recist[k].category.value,
        "sum_diameters_mm": round(a.recist[k].sum_diameters_mm, 2) if sums_ok else None,
        "total_volume_ml": round(result.total_volume_ml[k], 3) if volume_ok else None,
        "targets_not_evaluated": list(a.recist[k].not_evaluated),
        "volumetric": a.volumetric[k].category.value if a.volumetric else None,
        "choi": a.choi[k].category.value if a.choi else None,
        "percist": p.category.value if p else None,
        "percist_hottest_lesion": p.hottest_lesion if p else None,
        "sul_peak": p.sul_peak if p else None,
        "percist_reference": asdict(p.reference) if p and p.reference else None,
        "percist_notes": list(p.notes) if p else [],
    }


def summary_json(result: StudyResult) -> dict[str, object]:
    """Per-patient summary: best overall response and time to progression per criterion, per-timepoint categories."""
    baseline = result.timepoints[0] if result.timepoints else None
    out: dict[str, object] = {
        "patient_id": result.patient_id,
        "baseline_study_date": baseline.study_date.isoformat() if baseline and baseline.study_date else None,
    }
    a = result.assessment
    if a is not None:
        out["criteria"] = {o.criterion: _outcome_entry(o) for o in a.outcomes}
        out["timepoints"] = [_timepoint_entry(result, a, k) for k in range(len(result.timepoints))]
    return out


def write_label_map(path: Path, labels_zyx: np.ndarray, reference: sitk.Image) -> None:
    """NIfTI label map in ``reference``'s space (SimpleITK writes the LPS->RAS affine)."""
    image = sitk.GetImageFromArray(labels_zyx)
    image.CopyInformation(reference)
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(image, str(path), useCompression=True)


def write_json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
