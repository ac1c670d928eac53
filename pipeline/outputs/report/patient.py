"""``OUT_DIR/report.html``: one patient's results on one self-contained page.

Sections: response per timepoint and criterion (every criterion column of
``response.csv``), timeline of the lesions x timepoints, plots (sum of
diameters, volumes, spider plot), QC images (per lesion and timepoint, and
the registration of each follow-up), warnings, provenance. Built only from the
files in ``OUT_DIR`` (``measurements.csv``, ``response.csv``, ``run.json``,
``qc/``).
"""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.outputs import names
from pipeline.outputs.report import html, plots
from pipeline.outputs.report.tables import Table, criterion_columns, number, read_table

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


def _cells(measurements: Table) -> dict[tuple[str, str], dict[str, str]]:
    return {(r["lesion_id"], r["timepoint"]): r for r in measurements.rows}


# sums over the targets: empty at a follow-up when a target was not evaluated (there is no sum)
TOTALS = (
    "sum_diameters_mm",
    "change_from_baseline_pct",
    "change_from_nadir_pct",
    "total_volume_ml",
    "volume_change_pct",
)


def _cell(r: dict[str, str], column: str) -> str:
    value = r.get(column, "")
    if not value and column in TOTALS and r.get("timepoint", "0") != "0":
        return '<span class="warn">NE</span>'
    return html.text(value)


def _response_section(response: Table) -> str:
    criteria = set(criterion_columns(response))
    columns = [c for c in response.columns if c != "patient_id"]
    rows = []
    for r in response.rows:
        rows.append([html.badge(r.get(c, "")) if c in criteria else _cell(r, c) for c in columns])
    numeric = [c not in criteria and c != "study_date" for c in columns]
    names = ", ".join(sorted(criteria)) or "none"
    return (
        "<h2>Response</h2>"
        f'<p class="small muted">Criteria in response.csv: {html.text(names)}. Changes in %; sums in mm; volumes in ml; '
        "NE: a target was not evaluated at that timepoint, so there is no sum.</p>" + html.table(columns, rows, numeric)
    )


def _timeline_section(measurements: Table, response: Table, lesion_ids: list[str], manifest: dict) -> str:
    timepoints = [r["timepoint"] for r in response.rows]
    cells = _cells(measurements)
    reasons = {
        (lesion["lesion_id"], str(tp["timepoint"])): lesion.get("reason", "")
        for tp in manifest.get("inputs", {}).get("timepoints", [])
        for lesion in tp.get("lesions", [])
    }
    headers = ["lesion"] + [
        f"timepoint {r['timepoint']} ({r['study_date'] or 'no date'}, day {r['days_from_baseline'] or '?'})"
        for r in response.rows
    ]
    rows = []
    for lesion_id in lesion_ids:
        row = [f"<b>{html.text(lesion_id)}</b>"]
        for k in timepoints:
            m = cells.get((lesion_id, k))
            if m is None:
                row.append('<span class="muted">-</span>')
            elif m["status"] != "measured":
                row.append(
                    f'<span class="warn">{html.text(m["status"])}</span><br><span class="small">{html.text(reasons.get((lesion_id, k), ""))}</span>'
                )
            else:
                parts = [
                    f"LD {html.text(m['longest_diameter_mm'])} mm / SA {html.text(m['short_axis_mm'])} mm",
                    f"{html.text(m['volume_ml'])} ml, {html.text(m['mean_hu'])} HU",
                ]
                if m.get("suv_max"):
                    parts.append(f"SUVmax {html.text(m['suv_max'])}, SUVpeak {html.text(m['suv_peak'])}")
                parts.append(f'<a href="#qc-{html.text(lesion_id)}-{html.text(k)}">QC image</a>')
                row.append("<br>".join(parts))
        rows.append(row)
    return (
        "<h2>Timeline</h2>"
        '<p class="small muted">LD: RECIST longest axial diameter; SA: short axis; volume; mean CT value; SUVbw (PET).</p>'
        + html.table(headers, rows)
    )


def _plots_section(measurements: Table, response: Table, lesion_ids: list[str]) -> str:
    x, xlabel = _x_axis(response)
    timepoints = [r["timepoint"] for r in response.rows]
    cells = _cells(measurements)
    criteria = criterion_columns(response)
    labels = [" / ".join(r.get(c, "") for c in criteria if r.get(c, "")) for r in response.rows]

    def series(lesion_id: str, column: str) -> list[float | None]:
        out = []
        for k in timepoints:
            m = cells.get((lesion_id, k))
            out.append(number(m[column]) if m is not None and m["status"] == "measured" else None)
        return out

    change: dict[str, list[float | None]] = {}
    for lesion_id in lesion_ids:
        d = series(lesion_id, "longest_diameter_mm")
        base = d[0] if d else None
        change[lesion_id] = [100.0 * (v - base) / base if base and v is not None else None for v in d]
    change["sum"] = [0.0, *response.values("change_from_baseline_pct")[1:]] if response.rows else []
    images = [
        plots.sum_of_diameters_png(x, xlabel, response.values("sum_diameters_mm"), labels),
        plots.volume_png(
            x, xlabel, response.values("total_volume_ml"), {i: series(i, "volume_ml") for i in lesion_ids}
        ),
        plots.spider_png(x, xlabel, change),
    ]
    alts = ["sum of diameters over time", "lesion volumes over time", "spider plot"]
    ids = ["plot-sum", "plot-volume", "plot-spider"]
    body = "".join(html.png_img(png, alt, img_id=i) for png, alt, i in zip(images, alts, ids, strict=True))
    return f'<h2>Plots</h2><div class="plots">{body}</div>'


def _qc_section(out_dir: Path, lesion_ids: list[str], timepoints: list[str]) -> str:
    qc = out_dir / names.QC_DIR
    parts = [
        "<h2>QC images</h2>",
        '<p class="small muted">Axial CT slice of the longest diameter: outline (yellow), long axis (magenta), '
        "short axis (cyan); PET fused over CT when available.</p>",
    ]
    for lesion_id in lesion_ids:
        figures = []
        for k in timepoints:
            path = out_dir / names.lesion_qc(lesion_id, int(k))
            if path.is_file():
                anchor = f"qc-{lesion_id}-{k}"
                figures.append(
                    f'<figure id="{html.text(anchor)}">{html.png_img(path.read_bytes(), f"{lesion_id} timepoint {k}")}'
                    f"<figcaption>{html.text(lesion_id)}, timepoint {html.text(k)}</figcaption></figure>"
                )
        if figures:
            parts.append(f'<h3>{html.text(lesion_id)}</h3><div class="qc">{"".join(figures)}</div>')
    registration = sorted(qc.glob("registration_timepoint_*.png"), key=lambda p: int(p.stem.rsplit("_", 1)[1]))
    if registration:
        parts.append("<h3>Registration of the follow-ups</h3>")
        parts.append(
            '<div class="qc">'
            + "".join(
                f"<figure>{html.png_img(p.read_bytes(), p.stem, width=720)}<figcaption>{html.text(p.name)}</figcaption></figure>"
                for p in registration
            )
            + "</div>"
        )
    return "".join(parts)


def _warnings_section(manifest: dict) -> str:
    lines = [html.text(w) for w in manifest.get("warnings", [])]
    for tp in manifest.get("inputs", {}).get("timepoints", []):
        flags = (tp.get("tracking") or {}).get("flags") or {}
        lines += [
            f"timepoint {tp['timepoint']}: lesion {html.text(k)}: {html.text(', '.join(v))}" for k, v in flags.items()
        ]
        res = (tp.get("tracking") or {}).get("registration_residuals") or {}
        if res and not res.get("plausible", True):
            lines.append(
                f"timepoint {tp['timepoint']}: registration residual median {res.get('median_mm')} mm (implausible)"
            )
    body = html.items(lines, "warn") or '<p class="muted">No warnings.</p>'
    return f"<h2>Warnings</h2>{body}"


def _provenance_section(manifest: dict) -> str:
    tool = manifest.get("tool", {})
    inputs = manifest.get("inputs", {})
    rows = []
    for tp in inputs.get("timepoints", []):
        reg = tp.get("registration") or {}
        res = (tp.get("tracking") or {}).get("registration_residuals") or {}
        reg_text = (
            "reference"
            if not reg
            else (
                f"failed: {reg['failed']}"
                if "failed" in reg
                else f"to the {reg.get('reference', '?')}: {reg.get('type', '')}; rotation {reg.get('rotation_deg', '?')} deg; "
                f"residual median {res.get('median_mm', '?')} mm"
            )
        )
        rows.append(
            [
                html.text(tp["timepoint"]),
                html.text(tp.get("study_date") or ""),
                html.text(tp["study_instance_uid"]),
                html.text(f"{tp['ct_series_instance_uid']} ({tp['ct_slices']} slices)"),
                html.text(
                    f"{tp['pet_series_instance_uid']} ({tp['pet_units']})"
                    if tp.get("pet_series_instance_uid")
                    else "none"
                ),
                html.text(reg_text),
            ]
        )
    skipped = inputs.get("skipped_files", [])
    timings = ", ".join(f"{k} {v:.1f} s" for k, v in manifest.get("timings_s", {}).items())
    versions = ", ".join(f"{k} {v}" for k, v in manifest.get("versions", {}).items())
    return (
        "<h2>Provenance</h2>"
        f"<p>{html.text(tool.get('name', 'lesion-pipeline'))} {html.text(tool.get('version', ''))}; run started "
        f"{html.text(manifest.get('started_at', '?'))}, finished {html.text(manifest.get('finished_at', '?'))}. "
        f"{html.text(inputs.get('dicom_instances', '?'))} DICOM instances in {html.text(inputs.get('files_scanned', '?'))} files; "
        f"{len(skipped)} file(s) skipped; {len(inputs.get('dropped_timepoints', []))} timepoint(s) dropped.</p>"
        + html.table(["timepoint", "date", "StudyInstanceUID", "CT series", "PET series", "registration"], rows)
        + f'<p class="small">Timings: {html.text(timings)}</p><p class="small">Software: {html.text(versions)}</p>'
        + "<details><summary>Parameters</summary><pre>"
        + html.text(json.dumps(manifest.get("parameters", {}), indent=2))
        + "</pre></details>"
        + (
            "<details><summary>Skipped files</summary>"
            + html.items(html.text(f"{s['file']}: {s['reason']}") for s in skipped)
            + "</details>"
            if skipped
            else ""
        )
    )


def write_patient_report(out_dir: Path | str) -> Path:
    """Write ``out_dir/report.html`` from the outputs already in ``out_dir``; returns its path."""
    out_dir = Path(out_dir)
    measurements = read_table(out_dir / names.MEASUREMENTS_CSV)
    response = read_table(out_dir / names.RESPONSE_CSV)
    manifest = json.loads((out_dir / names.RUN_JSON).read_text(encoding="utf-8"))
    lesion_ids = _lesion_ids(measurements, manifest)
    patient = response.rows[0]["patient_id"] if response.rows else "?"
    timepoints = [r["timepoint"] for r in response.rows]
    body = (
        f"<h1>Target lesion report: patient {html.text(patient)}</h1>"
        f'<p class="muted">{len(timepoints)} timepoint(s), {len(lesion_ids)} target lesion(s). '
        f"Generated from the files of this folder by {html.text(manifest.get('tool', {}).get('name', 'lesion-pipeline'))} "
        f"{html.text(manifest.get('tool', {}).get('version', ''))}.</p>"
        + _response_section(response)
        + _timeline_section(measurements, response, lesion_ids, manifest)
        + _plots_section(measurements, response, lesion_ids)
        + _qc_section(out_dir, lesion_ids, timepoints)
        + _warnings_section(manifest)
        + _provenance_section(manifest)
    )
    path = out_dir / REPORT_NAME
    path.write_text(html.page(f"lesion-pipeline report {patient}", body), encoding="utf-8")
    return path
