"""A readable per-timepoint summary of a study's results (``summary.txt``, printed by ``run``)."""

from __future__ import annotations

from pipeline.records import StudyResult, evaluable_totals


def _num(value: float | None, digits: int = 1, suffix: str = "") -> str:
    return "-" if value is None else f"{value:.{digits}f}{suffix}"


def summary_text(result: StudyResult) -> str:
    lesion_ids = [lesion.lesion_id for lesion in result.timepoints[0].lesions] if result.timepoints else []
    header = (
        ["tp", "date", "days"]
        + [f"{lid} mm" for lid in lesion_ids]
        + ["sum mm", "vs base", "vs nadir", "RECIST", "volume ml"]
    )
    rows = []
    for k, (tp, a, vol) in enumerate(zip(result.timepoints, result.recist, result.total_volume_ml, strict=True)):
        diameters = [_num(lesion.longest_diameter_mm) if lesion.measured else "n/f" for lesion in tp.lesions]
        sums_ok, volume_ok = evaluable_totals(result, k)
        rows.append(
            [str(tp.index), tp.study_date.isoformat() if tp.study_date else "-", str(tp.days_from_baseline or 0)]
            + diameters
            + [
                _num(a.sum_diameters_mm) if sums_ok else "NE",
                _num(a.change_from_baseline_pct, 1, "%") if sums_ok else "NE",
                _num(a.change_from_nadir_pct, 1, "%") if sums_ok else "NE",
                a.category.value,
                _num(vol, 2) if volume_ok else "NE",
            ]
        )
    widths = [max(len(r[k]) for r in [header, *rows]) for k in range(len(header))]
    targets = result.recist_targets()
    roles = (
        f" (RECIST targets: {', '.join(i for i in lesion_ids if i in targets) or 'none'}; "
        f"non-targets: {', '.join(i for i in lesion_ids if i not in targets) or 'none'})"
        if targets is not None
        else ""
    )
    lines = [f"Patient {result.patient_id}: {len(result.timepoints)} timepoint(s), {len(lesion_ids)} lesion(s){roles}"]
    lines.append("  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True)))
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines.append(
        "n/f = not found (RECIST: 0 mm if nothing is left at its place, else not evaluated; see docs/criteria.md). "
        "Sum and volume over the RECIST targets (at most 2 per organ); NE: a target was not evaluated, so there is "
        "no sum (the category is PD when the evaluated targets alone show progression). Volumetric, Choi and PERCIST "
        "in response.csv, best response and time to progression in best_response.csv."
    )
    for d in result.dropped:
        lines.append(f"DROPPED: the study of {d.study_date or 'unknown date'} ({d.study_uid}): {d.reason}")
    if result.dropped:
        lines.append(
            "Responses after a dropped study are conditional on its absence (see the note column of response.csv)."
        )
    return "\n".join(lines) + "\n"
