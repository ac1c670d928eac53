"""The tables of the patient report: best overall response and time to progression, the lesions (targets apart
from non-targets), and the response per timepoint; values rounded to each measurement's precision.

Built from ``best_response.csv``, ``measurements.csv``, ``response.csv``,
``summary.json`` and ``run.json`` of the output folder.
"""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.outputs import names
from pipeline.outputs.columns import heading, shown
from pipeline.outputs.report import html
from pipeline.outputs.report.tables import Table, criterion_columns, number
from pipeline.outputs.tables import NEW_LESIONS_NOT_ASSESSED, NON_TARGET, TARGET

CRITERIA = {"recist": "RECIST 1.1", "volumetric": "Volumetric", "choi": "Choi", "percist": "PERCIST 1.0"}
MAX_TIMEPOINT_COLUMNS = 5  # a lesion table longer than this continues in another table
RESPONSE_GROUPS = (
    (
        "RECIST 1.1 and volumetric",
        (
            "new_lesions",
            "sum_diameters_mm",
            "change_from_baseline_pct",
            "change_from_nadir_pct",
            "recist",
            "total_volume_ml",
            "volume_change_pct",
            "volumetric",
        ),
    ),
    (
        "Choi and PERCIST 1.0",
        ("mean_hu_change_pct", "choi", "sul_peak", "sul_peak_change_pct", "liver_reference_sul", "percist"),
    ),
)
ROW_KEYS = ("timepoint", "study_date", "days_from_baseline")


def _days(value: str) -> str:
    return f"day {value}" if value else "no date"


# --- best overall response and time to progression ------------------------------------------------


def _best_cell(row: dict[str, str]) -> str:
    category = row.get("best_overall_response", "")
    if not category:
        return '<span class="muted">not assessable</span>'
    at = row.get("best_response_timepoint", "")
    where = f" at timepoint {html.text(at)} ({_days(row.get('best_response_days', ''))})" if at else ""
    return html.badge(category) + html.text(where)


def _ttp_cell(row: dict[str, str]) -> str:
    progressed, tp = row.get("progressed", ""), row.get("ttp_timepoint", "")
    if not progressed:
        return '<span class="muted">not assessable (no evaluable follow-up)</span>'
    days, months = row.get("ttp_days", ""), shown(row.get("ttp_months", ""), "ttp_months")
    length = f"{days} days ({months} months)" if days else "no study dates"
    if progressed == "yes":
        return f"<b>progression</b> at timepoint {html.text(tp)}: {html.text(length)}"
    return f"no progression: censored at timepoint {html.text(tp)}, {html.text(length)}"


def best_response_table(best: Table) -> str:
    """One row per criterion: best overall response, time to progression and the lesions it used."""
    rows = [
        [
            html.text(CRITERIA.get(r["criterion"], r["criterion"])),
            _best_cell(r),
            _ttp_cell(r),
            html.text(", ".join(t for t in r.get("targets", "").split(";") if t)),
        ]
        for r in best.rows
    ]
    headers = ["Criterion", "Best overall response", "Time to progression (from baseline)", "Lesions used"]
    return html.table(headers, rows, table_id="best-response")


def new_lesions_notice(response: Table, automatic: bool) -> str:
    """An explicit line on new lesions: not assessed (and why), found, or none found."""
    cells = [(r["timepoint"], r.get("new_lesions", "")) for r in response.rows[1:]]
    missing = [k for k, c in cells if c == NEW_LESIONS_NOT_ASSESSED]
    found = [k for k, c in cells if c == "yes"]
    parts = []
    if missing:
        parts.append(
            f"<b>New lesions were not assessed</b> at timepoint(s) {html.text(', '.join(missing))}: the target lesions "
            "were given, and the software looks for new lesions only in automatic mode (<code>--auto</code>); "
            'the targets file has no reader\'s <code>"new_lesions"</code> list. A new lesion makes every criterion '
            "progression (PD, PMD): the categories below hold only if there is none."
        )
    if found:
        who = "found by the automatic detection or recorded by the reader"
        parts.append(
            f"<b>New lesion(s)</b> at timepoint(s) {html.text(', '.join(found))} ({who}): progression for every "
            "criterion from there on."
        )
    if cells and not missing and not found:
        how = "the automatic detection" if automatic else 'the reader (targets file, "new_lesions")'
        parts.append(f"No new lesion at any follow-up (looked for by {how}).")
    return "".join(f'<p class="notice" id="new-lesions">{p}</p>' for p in parts)


# --- lesions -------------------------------------------------------------------------------------


def _lesion_cell(m: dict[str, str] | None, lesion_id: str, k: str) -> str:
    if m is None:
        return '<span class="muted">-</span>'
    if m["status"] != "measured":
        reason = m.get("not_found_reason", "")
        return f'<span class="warn">not found</span><br><span class="small">{html.text(reason)}</span>'

    def v(name: str) -> str:
        return html.text(shown(m.get(name, ""), name))

    parts = [
        f"LD {v('longest_diameter_mm')} mm, SA {v('short_axis_mm')} mm",
        f"{v('volume_ml')} ml, {v('mean_hu')} HU",
    ]
    if m.get("suv_max"):
        parts.append(f"SUVmax {v('suv_max')}, SUVpeak {v('suv_peak')}")
    parts.append(f'<a href="#qc-{html.text(lesion_id)}-{html.text(k)}">key image</a>')
    return "<br>".join(parts)


def _lesion_table(ids: Sequence[str], cells: dict[tuple[str, str], dict[str, str]], response: Table, css: str) -> str:
    out = []
    timepoints = list(response.rows)
    for start in range(0, len(timepoints), MAX_TIMEPOINT_COLUMNS):
        chunk = timepoints[start : start + MAX_TIMEPOINT_COLUMNS]
        headers = ["Lesion"] + [
            f"Timepoint {r['timepoint']} ({r.get('study_date') or 'no date'}, {_days(r.get('days_from_baseline', ''))})"
            for r in chunk
        ]
        rows = [
            [f"<b>{html.text(i)}</b>"]
            + [_lesion_cell(cells.get((i, r["timepoint"])), i, r["timepoint"]) for r in chunk]
            for i in ids
        ]
        out.append(html.table(headers, rows, row_classes=[css] * len(rows)))
    return "".join(out)


def lesion_roles(measurements: Table, lesion_ids: Sequence[str]) -> tuple[list[str], list[str]]:
    """Target and non-target lesion ids (targets order); every lesion a target when the table has no roles."""
    role = {r["lesion_id"]: r.get("role", "") for r in measurements.rows}
    if not any(role.values()):
        return list(lesion_ids), []
    return [i for i in lesion_ids if role.get(i) == TARGET], [i for i in lesion_ids if role.get(i) == NON_TARGET]


def lesions_section(
    measurements: Table, response: Table, lesion_ids: Sequence[str], why_not_target: dict[str, str]
) -> str:
    targets, others = lesion_roles(measurements, lesion_ids)
    cells = {(r["lesion_id"], r["timepoint"]): r for r in measurements.rows}
    body = (
        "<h2>Lesions</h2>"
        '<p class="small muted">LD: longest axial diameter (RECIST); SA: short axis; volume; mean CT value; SUVbw '
        "of the PET region. Values rounded to 0.1 mm, 0.1 ml, 0.1 HU and 0.01 SUV (measurements.csv has more "
        "decimals).</p>"
        f"<h3>Target lesions ({len(targets)}): summed for RECIST 1.1 and the volumetric criteria</h3>"
        + _lesion_table(targets, cells, response, "target")
    )
    if others:
        reasons = [f"{html.text(i)}: {html.text(why_not_target.get(i, 'not a RECIST target'))}" for i in others]
        body += (
            f"<h3>Non-target lesions ({len(others)}): followed and measured, not summed, not in the plots</h3>"
            + html.items(reasons, "small")
            + _lesion_table(others, cells, response, "non-target")
        )
    return body


# --- response per timepoint ----------------------------------------------------------------------


# sums over the targets: empty at a follow-up when a target was not evaluated (there is no sum)
TOTALS = (
    "sum_diameters_mm",
    "change_from_baseline_pct",
    "change_from_nadir_pct",
    "total_volume_ml",
    "volume_change_pct",
)


def _cell(row: dict[str, str], column: str, criteria: set[str]) -> str:
    value = row.get(column, "")
    if column in criteria:
        return html.badge(value)
    if not value and column in TOTALS and row.get("timepoint", "0") != "0":
        return '<span class="warn">NE</span>'
    if column == "new_lesions" and value == NEW_LESIONS_NOT_ASSESSED:
        return '<span class="warn">not assessed</span>'
    if column == "study_date":
        return f'<span class="nowrap">{html.text(value)}</span>'
    return html.text(shown(value, column, names.RESPONSE_CSV))


def _response_table(response: Table, columns: Sequence[str], criteria: set[str]) -> str:
    present = [c for c in ROW_KEYS if c in response.columns] + list(columns)
    headers = [heading(c, names.RESPONSE_CSV) for c in present]
    numeric = [
        c not in criteria and c not in ("study_date", "new_lesions") and c in _numeric(response) for c in present
    ]
    rows = [[_cell(r, c, criteria) for c in present] for r in response.rows]
    return html.table(headers, rows, numeric)


def _numeric(response: Table) -> set[str]:
    return {c for c in response.columns if all(number(r.get(c, "")) is not None for r in response.rows if r.get(c, ""))}


def response_section(response: Table) -> str:
    """The response per timepoint, grouped by criterion; any further column of response.csv in a last table."""
    criteria = set(criterion_columns(response))
    parts = ["<h2>Response per timepoint</h2>"]
    grouped: set[str] = set(ROW_KEYS) | {"patient_id"}
    for title, columns in RESPONSE_GROUPS:
        present = [c for c in columns if c in response.columns]
        grouped |= set(present)
        if present:
            parts.append(f"<h3>{html.text(title)}</h3>" + _response_table(response, present, criteria))
    others = [c for c in response.columns if c not in grouped]
    if others:
        parts.append("<h3>Other columns of response.csv</h3>" + _response_table(response, others, criteria))
    names_ = ", ".join(sorted(criteria)) or "none"
    parts.append(
        f'<p class="small muted">Criteria in response.csv: {html.text(names_)}. NE in a sum or volume column: a '
        "target was not evaluated at that timepoint, so there is no sum.</p>"
    )
    return "".join(parts)
