"""The end of the patient report: warnings and provenance (inputs, registration, timings, software, parameters)."""

from __future__ import annotations

import json

from pipeline.outputs.report import html


def warnings_section(manifest: dict) -> str:
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


def provenance_section(manifest: dict) -> str:
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
                html.ident(tp["study_instance_uid"]),
                html.ident(f"{tp['ct_series_instance_uid']} ({tp['ct_slices']} slices)"),
                html.ident(
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
