"""Batch: every immediate sub-folder of STUDIES_ROOT is one study, run into OUT_ROOT/<name>/.

A study that fails is recorded in ``batch_summary.csv`` (study, status,
error) and the batch goes on. Cohort tables concatenate the per-study CSVs of
the studies that succeeded, with the study name as first column.
"""

from __future__ import annotations

import csv
import io
import logging
import traceback
from dataclasses import dataclass
from pathlib import Path

from pipeline.config import RunConfig
from pipeline.errors import InputError
from pipeline.outputs import atomic_write_text
from pipeline.report import write_cohort_report
from pipeline.run import run_study

log = logging.getLogger(__name__)

SUMMARY_COLUMNS = ("study", "status", "error")


@dataclass(frozen=True)
class StudyOutcome:
    study: str
    status: str  # "ok", "failed" (bad input) or "error" (unexpected)
    error: str = ""


def _cohort_csv(out_root: Path, outcomes: list[StudyOutcome], name: str) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    header_written = False
    for outcome in outcomes:
        if outcome.status != "ok":
            continue
        with (out_root / outcome.study / name).open(newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
        if not header_written:
            writer.writerow(["study", *rows[0]])
            header_written = True
        writer.writerows([outcome.study, *row] for row in rows[1:])
    return buf.getvalue()


def run_batch(studies_root: Path | str, out_root: Path | str, config: RunConfig | None = None) -> list[StudyOutcome]:
    """Run every sub-folder of ``studies_root``; never stops on a failing study."""
    studies_root, out_root = Path(studies_root), Path(out_root)
    if not studies_root.is_dir():
        raise InputError(f"{studies_root}: not a directory")
    studies = sorted(p for p in studies_root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not studies:
        raise InputError(f"{studies_root}: no study sub-folders")
    out_root.mkdir(parents=True, exist_ok=True)
    outcomes = []
    for k, study in enumerate(studies, start=1):
        log.info("[%d/%d] %s", k, len(studies), study.name)
        try:
            run_study(study, out_root / study.name, config=config)
            outcomes.append(StudyOutcome(study.name, "ok"))
        except InputError as exc:
            log.error("%s: %s", study.name, exc)
            outcomes.append(StudyOutcome(study.name, "failed", str(exc)))
        except Exception as exc:  # noqa: BLE001 - one study's crash must not stop the batch
            log.error("%s: internal error: %s\n%s", study.name, exc, traceback.format_exc())
            outcomes.append(StudyOutcome(study.name, "error", f"{type(exc).__name__}: {exc}"))
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(SUMMARY_COLUMNS)
    writer.writerows([o.study, o.status, o.error] for o in outcomes)
    atomic_write_text(out_root / "batch_summary.csv", buf.getvalue())
    for name in ("measurements.csv", "response.csv"):
        atomic_write_text(out_root / name, _cohort_csv(out_root, outcomes, name))
    write_cohort_report(out_root, [o.study for o in outcomes if o.status == "ok"])
    return outcomes
