"""Writers of the run's tables and files: measurements.csv, response.csv, best_response.csv, summary.json, label maps.

Every column is defined in docs/outputs.md (name, unit, definition).
"""

from __future__ import annotations

import csv
import io
import json
import math
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
    "role",
    "organ",
    "status",
    "not_found_reason",
    "longest_diameter_mm",
    "short_axis_mm",
    "max_3d_diameter_mm",
    "volume_ml",
    "mean_hu",
    "suv_max",
    "suv_peak",
    "suv_mean",
    "sul_peak",
    "mtv_ml",
    "tlg",
    "centroid_x_mm",
    "centroid_y_mm",
    "centroid_z_mm",
)
RESPONSE_COLUMNS = (
    "patient_id",
    "timepoint",
    "study_date",
    "days_from_baseline",
    "new_lesions",
    "sum_diameters_mm",
    "change_from_baseline_pct",
    "change_from_nadir_pct",
    "recist",
    "total_volume_ml",
    "volume_change_pct",
    "volumetric",
    "mean_hu_change_pct",
    "choi",
    "sul_peak",
    "sul_peak_change_pct",
    "liver_reference_sul",
    "percist",
    "note",
)
BEST_RESPONSE_COLUMNS = (
    "patient_id",
    "criterion",
    "best_overall_response",
    "best_response_timepoint",
    "best_response_days",
    "progressed",
    "ttp_timepoint",
    "ttp_days",
    "ttp_months",
    "targets",
)
TARGET, NON_TARGET = "target", "non_target"
NEW_LESIONS_NOT_ASSESSED = "not_assessed"


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


def role(lesion_id: str, recist_targets: frozenset[str] | None) -> str:
    """``target``: a RECIST 1.1 target lesion (in the sum of diameters); ``non_target``: any other lesion followed."""
    if recist_targets is None:
        return ""
    return TARGET if lesion_id in recist_targets else NON_TARGET


def measurements_csv(result: StudyResult) -> str:
    organs = {t.lesion_id: t.organ for t in result.targets}
    recist_targets = result.recist_targets()
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
                    role(lesion.lesion_id, recist_targets),
                    organs.get(lesion.lesion_id, ""),
                    lesion.status,
                    "" if lesion.measured else lesion.reason,
                    fmt(lesion.longest_diameter_mm),
                    fmt(lesion.short_axis_mm),
                    fmt(lesion.max_3d_diameter_mm),
                    fmt(lesion.volume_ml, 3),
                    fmt(lesion.mean_hu, 1),
                    fmt(lesion.suv_max, 3),
                    fmt(lesion.suv_peak, 3),
                    fmt(lesion.suv_mean, 3),
                    fmt(lesion.sul_peak, 3),
                    fmt(lesion.mtv_ml, 3),
                    fmt(lesion.tlg_suv_ml, 3),
                    fmt(c[0]),
                    fmt(c[1]),
                    fmt(c[2]),
                ]
            )
    return _csv_text(MEASUREMENT_COLUMNS, rows)


def new_lesions_cell(a: StudyAssessment | None, k: int) -> str:
    """``yes`` / ``no`` / ``not_assessed`` at a follow-up; empty at the baseline."""
    if a is None or k == 0:
        return ""
    if a.new_lesion[k]:
        return "yes"
    assessed = a.new_lesion_assessed[k] if k < len(a.new_lesion_assessed) else False
    return "no" if assessed else NEW_LESIONS_NOT_ASSESSED


def _choi_cells(a: StudyAssessment | None, k: int) -> list[str]:
    """mean_hu_change_pct, choi of timepoint ``k``."""
    choi = a.choi[k] if a is not None and a.choi else None
    return [fmt(choi.density_change_pct if choi else None, 1), choi.category.value if choi else ""]


def _percist_cells(a: StudyAssessment | None, k: int) -> list[str]:
    """sul_peak, sul_peak_change_pct, liver_reference_sul, percist of timepoint ``k``."""
    percist = a.percist[k] if a is not None and a.percist else None
    if percist is None:
        return ["", "", "", ""]
    reference = percist.reference
    return [
        fmt(percist.sul_peak, 3),
        fmt(percist.change_pct, 1),
        fmt(reference.mean_sul if reference is not None and reference.kind == "liver" else None, 3),
        percist.category.value,
    ]


def response_csv(result: StudyResult) -> str:
    a = result.assessment
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
                new_lesions_cell(a, k),
                fmt(assessment.sum_diameters_mm if sums_ok else None),
                fmt(assessment.change_from_baseline_pct if sums_ok else None, 1),
                fmt(assessment.change_from_nadir_pct if sums_ok else None, 1),
                assessment.category.value,
                fmt(volume if volume_ok else None, 3),
                fmt(volume_change if volume_ok else None, 1),
                a.volumetric[k].category.value if a is not None and a.volumetric else "",
                *_choi_cells(a, k),
                *_percist_cells(a, k),
                " ".join(result.notes(k)),
            ]
        )
    return _csv_text(RESPONSE_COLUMNS, rows)


def best_response_csv(result: StudyResult) -> str:
    """One row per criterion: best overall response and time to progression (empty when not assessable)."""
    a = result.assessment
    days = a.days_from_baseline if a is not None else ()
    rows = []
    for outcome in a.outcomes if a is not None else ():
        best, ttp = outcome.best, outcome.progression
        best_days = days[best.timepoint] if best is not None and best.timepoint is not None else None
        rows.append(
            [
                result.patient_id,
                outcome.criterion,
                best.category if best else "",
                fmt(best.timepoint if best else None),
                fmt(best_days),
                ("yes" if ttp.progressed else "no") if ttp is not None and ttp.timepoint is not None else "",
                fmt(ttp.timepoint if ttp else None),
                fmt(ttp.days if ttp else None),
                fmt(ttp.months if ttp else None, 2),
                ";".join(outcome.targets),
            ]
        )
    return _csv_text(BEST_RESPONSE_COLUMNS, rows)


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
        "new_lesions": new_lesions_cell(a, k) or None,
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
        "notes": list(result.notes(k)),
    }


def summary_json(result: StudyResult) -> dict[str, object]:
    """Per-patient summary: best overall response and time to progression per criterion, per-timepoint categories."""
    baseline = result.timepoints[0] if result.timepoints else None
    out: dict[str, object] = {
        "patient_id": result.patient_id,
        "baseline_study_date": baseline.study_date.isoformat() if baseline and baseline.study_date else None,
    }
    out["dropped_timepoints"] = [d.as_record() for d in result.dropped]
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


def strict_json_value(data: object) -> object:
    """``data`` with every NaN or infinite number replaced by ``None`` (JSON ``null``) and numpy scalars,
    tuples and sets made plain JSON values, so that the text is strict JSON."""
    if isinstance(data, np.generic):
        data = data.item()
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {k: strict_json_value(v) for k, v in data.items()}
    if isinstance(data, (list, tuple, set, frozenset)):
        return [strict_json_value(v) for v in data]
    return data


def json_text(data: object) -> str:
    """Strict JSON (no NaN or Infinity: see :func:`strict_json_value`), indented; other objects as ``str``."""
    return json.dumps(strict_json_value(data), indent=2, default=str, allow_nan=False) + "\n"


def write_json(path: Path, data: object) -> None:
    path.write_text(json_text(data), encoding="utf-8")
