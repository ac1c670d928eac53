"""``OUT_ROOT/cohort_report.html``: every study of a batch on one page, with a waterfall plot of best change.

Per study (a sub-folder of ``OUT_ROOT`` with a ``response.csv``): patient id,
number of timepoints, baseline sum of diameters, the best change = the
smallest (most negative) ``change_from_baseline_pct`` over its follow-ups and
the timepoint where it occurred, the last change, and the category of every
response criterion (generic: each criterion column of ``response.csv``) at
the best and at the last timepoint. Studies without a follow-up are listed
but have no bar. Studies that failed are listed from ``batch_summary.csv``
when it is there. The waterfall bars are coloured by the first criterion's
category at the best timepoint. This is the best *measured change*, not the
RECIST best overall response (which needs confirmation rules).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline.outputs import names
from pipeline.outputs.report import html, plots
from pipeline.outputs.report.patient import REPORT_NAME
from pipeline.outputs.report.sections import CRITERIA
from pipeline.outputs.report.tables import Table, criterion_columns, read_table

COHORT_REPORT_NAME = "cohort_report.html"


@dataclass(frozen=True)
class StudyBest:
    """One study's best and last change of the sum of diameters from baseline (% ; ``None`` without follow-up)."""

    study: str
    patient_id: str
    timepoints: int
    baseline_sum_mm: str
    best_change_pct: float | None
    best_timepoint: str
    last_change_pct: float | None
    best_categories: dict[str, str]
    last_categories: dict[str, str]


def best_change(study: str, response: Table) -> StudyBest:
    """Best (most negative) and last change from baseline of one study's ``response.csv``."""
    criteria = criterion_columns(response)
    changes = response.values("change_from_baseline_pct")
    followups = [(c, k) for k, c in enumerate(changes) if k > 0 and c is not None]
    best = min(followups, default=None)  # ties: the earlier timepoint
    best_row = response.rows[best[1]] if best else None
    last_row = response.rows[-1] if response.rows else {}
    return StudyBest(
        study=study,
        patient_id=response.rows[0]["patient_id"] if response.rows else "",
        timepoints=len(response.rows),
        baseline_sum_mm=response.rows[0].get("sum_diameters_mm", "") if response.rows else "",
        best_change_pct=best[0] if best else None,
        best_timepoint=best_row["timepoint"] if best_row else "",
        last_change_pct=changes[-1] if len(changes) > 1 else None,
        best_categories={c: best_row.get(c, "") for c in criteria} if best_row else {},
        last_categories={c: last_row.get(c, "") for c in criteria},
    )


def _failures(out_root: Path) -> list[tuple[str, str, str]]:
    path = out_root / "batch_summary.csv"
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as f:
        return [
            (r.get("study", ""), r.get("status", ""), r.get("error", ""))
            for r in csv.DictReader(f)
            if r.get("status") != "ok"
        ]


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value:+.1f}"


def _ttp(row: dict[str, str]) -> str:
    if not row.get("progressed"):
        return ""
    days = row.get("ttp_days") or "?"
    return f"{days} d" + ("" if row["progressed"] == "yes" else " (censored)")


def _best_response_table(out_root: Path, studies: Sequence[str]) -> str:
    """Per study and criterion the best overall response and time to progression (``best_response.csv``)."""
    per_study = {
        name: {r["criterion"]: r for r in read_table(out_root / name / names.BEST_RESPONSE_CSV).rows}
        for name in studies
        if (out_root / name / names.BEST_RESPONSE_CSV).is_file()
    }
    criteria = list(dict.fromkeys(c for rows in per_study.values() for c in rows))
    if not criteria:
        return ""
    headers = ["study"] + [f"{CRITERIA.get(c, c)} {what}" for c in criteria for what in ("BOR", "TTP")]
    rows = [
        [html.ident(name)]
        + [
            cell
            for c in criteria
            for cell in (html.badge(rows.get(c, {}).get("best_overall_response", "")), html.text(_ttp(rows.get(c, {}))))
        ]
        for name, rows in per_study.items()
    ]
    return (
        "<h2>Best overall response and time to progression</h2>"
        '<p class="small muted">BOR: best overall response; TTP: days from baseline to the first progression, or '
        "to the last evaluable assessment (censored). Per study in best_response.csv.</p>" + html.table(headers, rows)
    )


def _best_change_table(out_root: Path, results: Sequence[StudyBest], criteria: Sequence[str]) -> str:
    """HTML table of each study's best and last change and categories (the study linked to its report if any)."""
    rows = []
    for r in results:
        link = out_root / r.study / REPORT_NAME
        name = (
            f'<a href="{html.text(r.study)}/{REPORT_NAME}">{html.ident(r.study)}</a>'
            if link.is_file()
            else html.ident(r.study)
        )
        rows.append(
            [
                name,
                html.ident(r.patient_id),
                str(r.timepoints),
                html.text(r.baseline_sum_mm),
                _pct(r.best_change_pct),
                html.text(r.best_timepoint),
                _pct(r.last_change_pct),
            ]
            + [html.badge(r.best_categories.get(c, "")) for c in criteria]
            + [html.badge(r.last_categories.get(c, "")) for c in criteria]
        )
    headers = [
        "study",
        "patient",
        "timepoints",
        "baseline sum (mm)",
        "best change (%)",
        "at timepoint",
        "last change (%)",
    ]
    headers += [f"{c} at best" for c in criteria] + [f"{c} at last" for c in criteria]
    numeric = [False, False, True, True, True, True, True] + [False] * (2 * len(criteria))
    return html.table(headers, rows, numeric)


def _waterfall(with_bar: Sequence[StudyBest], criteria: Sequence[str]) -> str:
    """The waterfall plot of best change (bars coloured by the first criterion's category) and its caption."""
    first = criteria[0] if criteria else ""
    png = plots.waterfall_png(
        [r.study for r in with_bar],
        [r.best_change_pct for r in with_bar],  # type: ignore[misc]
        [r.best_categories.get(first, "") for r in with_bar],
    )
    return (
        "<h2>Waterfall</h2>"
        + html.png_img(png, "waterfall plot of best change", img_id="plot-waterfall")
        + '<p class="small muted">Best change = smallest change of the sum of longest diameters from baseline over '
        f"the follow-ups; bars coloured by {html.text(first or 'category')} at that timepoint.</p>"
    )


def write_cohort_report(out_root: Path | str, studies: Sequence[str] | None = None) -> Path:
    """Write ``out_root/cohort_report.html`` from the per-study outputs; returns its path.

    ``studies``: sub-folder names to include (default: every sub-folder with a ``response.csv``).
    """
    out_root = Path(out_root)
    if studies is None:
        studies = sorted(p.name for p in out_root.iterdir() if (p / "response.csv").is_file())
    results = [best_change(name, read_table(out_root / name / "response.csv")) for name in studies]
    criteria = list(dict.fromkeys(c for r in results for c in r.best_categories | r.last_categories))
    with_bar = [r for r in results if r.best_change_pct is not None]
    body = f'<h1>Cohort report</h1><p class="muted">{len(results)} stud{"y" if len(results) == 1 else "ies"} with results.</p>'
    if with_bar:
        body += _waterfall(with_bar, criteria)
    body += _best_response_table(out_root, [r.study for r in results])
    body += "<h2>Best measured change per study</h2>" + _best_change_table(out_root, results, criteria)
    failures = _failures(out_root)
    if failures:
        body += "<h2>Failed studies</h2>" + html.table(
            ["study", "status", "error"], [[html.text(v) for v in f] for f in failures]
        )
    path = out_root / COHORT_REPORT_NAME
    path.write_text(html.page("lesion-pipeline cohort report", body), encoding="utf-8")
    return path
