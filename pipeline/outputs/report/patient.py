"""``OUT_DIR/report.html``: one patient's results on one self-contained page (and ``report.pdf``, its print).

Sections: the best overall response and time to progression per criterion,
with an explicit line on new lesions; the lesions, targets apart from
non-targets; the response per timepoint, grouped by criterion, with readable
headings and units; plots with the levels that decide each category (sum of
diameters, target volumes, spider plot, waterfall of each target's change);
how the categories are decided; dropped timepoints (before the response); key images per lesion and timepoint; the
liver (volume per timepoint and QC images) and the registration of each follow-up;
warnings; provenance. Built only from the files in ``OUT_DIR``
(``best_response.csv``, ``measurements.csv``, ``response.csv``,
``summary.json``, ``run.json``, ``qc/``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from pipeline.outputs import names
from pipeline.outputs.report import html, plots
from pipeline.outputs.report.explain import criteria_section
from pipeline.outputs.report.provenance import provenance_section, warnings_section
from pipeline.outputs.report.sections import (
    best_response_table,
    lesion_roles,
    lesions_section,
    new_lesions_notice,
    response_section,
)
from pipeline.outputs.report.tables import Table, number, read_table

REPORT_NAME = names.REPORT_HTML


def _x_axis(response: Table) -> tuple[list[float], str]:
    days = response.values("days_from_baseline")
    if days and all(d is not None for d in days):
        return [float(d) for d in days], "days from baseline"  # type: ignore[arg-type]
    return [float(r["timepoint"]) for r in response.rows], "timepoint"


def _lesion_ids(measurements: Table, manifest: dict) -> list[str]:
    ids = [t["lesion_id"] for t in manifest.get("targets", [])]
    for r in measurements.rows:
        if r["lesion_id"] not in ids:
            ids.append(r["lesion_id"])
    return ids


def _levels(manifest: dict) -> plots.Levels:
    recist = manifest.get("parameters", {}).get("recist", {})
    return plots.Levels(
        float(recist.get("pr_change_pct", plots.PR_CHANGE_PCT)),
        float(recist.get("pd_change_pct", plots.PD_CHANGE_PCT)),
        float(recist.get("pd_absolute_mm", 5.0)),
    )


def _change(values: Sequence[float | None]) -> list[float | None]:
    base = values[0] if values else None
    return [100.0 * (v - base) / base if base and v is not None else None for v in values]


def _plots_section(measurements: Table, response: Table, targets: list[str], manifest: dict) -> str:
    x, xlabel = _x_axis(response)
    timepoints = [r["timepoint"] for r in response.rows]
    cells = {(r["lesion_id"], r["timepoint"]): r for r in measurements.rows}
    nodes = {t["lesion_id"] for t in manifest.get("targets", []) if t.get("lymph_node")}
    levels = _levels(manifest)

    def series(lesion_id: str, column: str) -> list[float | None]:
        out = []
        for k in timepoints:
            m = cells.get((lesion_id, k))
            out.append(number(m[column]) if m is not None and m["status"] == "measured" else None)
        return out

    change = {i: _change(series(i, "short_axis_mm" if i in nodes else "longest_diameter_mm")) for i in targets}
    sums = response.values("sum_diameters_mm")
    categories = [r.get("recist", "") for r in response.rows]
    pd_levels = plots.progression_levels(sums, [c not in ("NE", "") for c in categories], levels)
    base = sums[0] if sums else None
    sum_pd = [100.0 * (v - base) / base if base and v is not None else None for v in pd_levels]
    last = {i: values[-1] if len(values) > 1 else None for i, values in change.items()}
    images = [
        (plots.sum_of_diameters_png(x, xlabel, sums, categories, levels), "sum of diameters over time", "plot-sum"),
        (
            plots.volume_png(
                x, xlabel, response.values("total_volume_ml"), {i: series(i, "volume_ml") for i in targets}
            ),
            "target lesion volumes over time",
            "plot-volume",
        ),
        (plots.spider_png(x, xlabel, change, _change(sums), sum_pd, levels), "spider plot", "plot-spider"),
    ]
    if len(timepoints) > 1 and targets:
        title = f"Waterfall: each target at timepoint {timepoints[-1]} (last)"
        images.append((plots.lesion_waterfall_png(list(last), list(last.values()), title), title, "plot-waterfall"))
    body = "".join(html.png_img(png, alt, img_id=i) for png, alt, i in images)
    return (
        '<h2>Plots</h2><p class="small muted">Target lesions only. Each point of the sum is coloured by its RECIST '
        "category; dashed green: the partial-response level; dotted red: the progression level of each follow-up "
        f'(from the nadir before it).</p><div class="plots">{body}</div>'
    )


def _figure(out_dir: Path, relative: str, anchor: str, caption: str, width: int | None = None) -> str:
    path = out_dir / relative
    if not path.is_file():
        return ""
    return (
        f'<figure id="{html.text(anchor)}">{html.png_img(path.read_bytes(), caption, width=width)}'
        f"<figcaption>{html.text(caption)}</figcaption></figure>"
    )


def _key_images_section(out_dir: Path, groups: Sequence[tuple[str, list[str]]], response: Table) -> str:
    parts = [
        "<h2>Key images</h2>",
        '<p class="small muted">Axial CT slice of the longest diameter: outline (yellow), long axis (magenta), '
        "short axis (cyan), slice number, orientation letters, scale bar and window; beside it the PET fused over "
        "the CT with its colour bar, the PET region measured (green) and the 1 ml SUVpeak sphere (blue).</p>",
    ]
    dates = {r["timepoint"]: r.get("study_date", "") for r in response.rows}
    for title, ids in groups:
        lesions = []
        for lesion_id in ids:
            figures = "".join(
                _figure(
                    out_dir,
                    names.lesion_qc(lesion_id, int(k)),
                    f"qc-{lesion_id}-{k}",
                    f"{lesion_id}, timepoint {k} ({dates[k] or 'no date'})",
                )
                for k in dates
            )
            if figures:
                lesions.append(f'<h4>{html.text(lesion_id)}</h4><div class="qc">{figures}</div>')
        if lesions:
            parts.append(f"<h3>{html.text(title)}</h3>" + "".join(lesions))
    return "".join(parts)


def _liver_section(out_dir: Path, manifest: dict) -> str:
    """Liver volume per timepoint and the QC image of each liver mask."""
    rows, figures = [], []
    for tp in manifest.get("inputs", {}).get("timepoints", []):
        k = tp["timepoint"]
        figures.append(_figure(out_dir, names.liver_qc(int(k)), f"qc-liver-{k}", f"liver, timepoint {k}", 960))
        liver = tp.get("liver")
        if not liver:
            continue
        if liver.get("volume_ml") is not None:
            extent = "partial (cut by the field of view)" if liver.get("partial") else "whole"
            rows.append(
                [
                    html.text(k),
                    html.text(f"{liver['volume_ml']:.0f}"),
                    html.text(liver.get("source", "")),
                    html.text(extent),
                ]
            )
        else:
            rows.append([html.text(k), "", '<span class="warn">none</span>', html.text(liver.get("failed") or "")])
    if not rows and not any(figures):
        return ""
    table = html.table(["timepoint", "volume (ml)", "source", "extent / reason"], rows, [False, True, False, False])
    return (
        "<h2>Liver</h2>"
        '<p class="small muted">Liver mask per timepoint (masks/liver_timepoint_K.nii.gz): built-in segmentation or '
        "the given mask file; outline in yellow on axial slices and a coronal slice.</p>"
        + (table if rows else "")
        + f'<div class="qc">{"".join(figures)}</div>'
    )


def _dropped_section(manifest: dict) -> str:
    """The studies left out of the assessment, shown before the response (empty when none was)."""
    dropped = manifest.get("inputs", {}).get("dropped_timepoints", [])
    if not dropped:
        return ""
    lines = [
        html.text(
            f"the study of {d.get('study_date') or 'unknown date'} ({d.get('study_instance_uid')}): {d.get('reason')}"
        )
        for d in dropped
    ]
    return (
        "<h2>Dropped timepoints</h2>"
        '<p class="warn">These studies could not be used; every response after one of them is conditional on its '
        "absence (note column).</p>" + html.items(lines, "warn")
    )


def _registration_section(out_dir: Path, timepoints: Sequence[str]) -> str:
    figures = "".join(
        _figure(out_dir, names.registration_qc(int(k)), f"registration-{k}", f"timepoint {k} registered", 720)
        for k in timepoints[1:]
    )
    return f'<h2>Registration of the follow-ups</h2><div class="qc">{figures}</div>' if figures else ""


def _not_target_reasons(out_dir: Path, measurements: Table) -> dict[str, str]:
    """Why each non-target lesion is not a RECIST target (summary.json; not found at baseline from the table)."""
    path = out_dir / names.SUMMARY_JSON
    summary = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    reasons = {
        e["lesion_id"]: e["reason"] for e in summary.get("criteria", {}).get("recist", {}).get("not_targets", [])
    }
    for r in measurements.rows:
        if r["timepoint"] == "0" and r["status"] != "measured":
            reasons.setdefault(r["lesion_id"], f"not found at baseline ({r.get('not_found_reason', '')})")
    return reasons


def write_patient_report(out_dir: Path | str) -> Path:
    """Write ``out_dir/report.html`` from the outputs already in ``out_dir``; returns its path."""
    out_dir = Path(out_dir)
    measurements = read_table(out_dir / names.MEASUREMENTS_CSV)
    response = read_table(out_dir / names.RESPONSE_CSV)
    best_path = out_dir / names.BEST_RESPONSE_CSV
    best = read_table(best_path) if best_path.is_file() else Table((), ())
    manifest = json.loads((out_dir / names.RUN_JSON).read_text(encoding="utf-8"))
    lesion_ids = _lesion_ids(measurements, manifest)
    targets, others = lesion_roles(measurements, lesion_ids)
    patient = response.rows[0]["patient_id"] if response.rows else "?"
    timepoints = [r["timepoint"] for r in response.rows]
    tool = manifest.get("tool", {})
    automatic = str(manifest.get("mode", "")).startswith("automatic")
    body = (
        f"<h1>Target lesion report: patient {html.text(patient)}</h1>"
        f'<p class="muted">{len(timepoints)} timepoint(s); {len(targets)} target and {len(others)} non-target '
        f"lesion(s); targets {'chosen automatically' if automatic else 'given'}. Generated from the files of this "
        f"folder by {html.text(tool.get('name', 'lesion-pipeline'))} {html.text(tool.get('version', ''))}. "
        "Research software, not for clinical use: every number must be reviewed by a qualified reader.</p>"
        '<div class="summary"><h2>Best overall response and time to progression</h2>'
        + best_response_table(best)
        + new_lesions_notice(response, automatic)
        + "</div>"
        + _dropped_section(manifest)
        + lesions_section(measurements, response, lesion_ids, _not_target_reasons(out_dir, measurements))
        + response_section(response)
        + _plots_section(measurements, response, targets, manifest)
        + criteria_section(manifest.get("parameters", {}))
        + _key_images_section(out_dir, [("Target lesions", targets), ("Non-target lesions", others)], response)
        + _liver_section(out_dir, manifest)
        + _registration_section(out_dir, timepoints)
        + warnings_section(manifest)
        + provenance_section(manifest)
    )
    path = out_dir / REPORT_NAME
    path.write_text(html.page(f"lesion-pipeline report {patient}", body), encoding="utf-8")
    return path
