"""Cohort outputs of a batch, rebuilt from the per-study outputs after every batch run.

``OUT_ROOT/measurements.csv`` and ``OUT_ROOT/response.csv`` concatenate the
per-study CSVs of every study whose outputs are complete and up to date (run
now or skipped), in study-name order, with the study folder name as first
column ``study``. Studies that failed are left out.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from pathlib import Path

from pipeline.batch.tasks import StudyOutcome
from pipeline.outputs import names
from pipeline.outputs.staging import atomic_write_text
from pipeline.outputs.tables import MEASUREMENT_COLUMNS, RESPONSE_COLUMNS

COHORT_TABLES = {names.MEASUREMENTS_CSV: MEASUREMENT_COLUMNS, names.RESPONSE_CSV: RESPONSE_COLUMNS}

CohortWriter = Callable[[Path, Sequence[StudyOutcome]], None]
"""Writes one cohort output into ``OUT_ROOT`` given every study's outcome (name order); the
outputs of a study whose ``status.complete`` is true are in ``OUT_ROOT/<study>/``."""


def concatenate_csv(out_root: Path, studies: Sequence[str], name: str) -> str:
    """The per-study ``name`` CSVs of ``studies`` under one header, prefixed with a ``study`` column.

    Raises ``ValueError`` when a study's columns differ from the first one's
    (outputs of another software version: run the batch with ``--force``).
    """
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    header: list[str] | None = None
    for study in sorted(studies):
        path = out_root / study / name
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
        if header is None:
            header = rows[0]
            writer.writerow(["study", *header])
        elif rows[0] != header:
            raise ValueError(f"{path}: columns differ from those of the other studies; rerun the batch with --force")
        writer.writerows([study, *row] for row in rows[1:])
    if header is None:
        writer.writerow(["study", *COHORT_TABLES[name]])
    return buf.getvalue()


def write_cohort_tables(out_root: Path, outcomes: Sequence[StudyOutcome]) -> None:
    complete = [o.study for o in outcomes if o.status.complete]
    for name in COHORT_TABLES:
        atomic_write_text(out_root / name, concatenate_csv(out_root, complete, name))


def write_cohort_html(out_root: Path, outcomes: Sequence[StudyOutcome]) -> None:
    """The cohort report (waterfall of best change) over the complete studies."""
    from pipeline.outputs.report import write_cohort_report

    write_cohort_report(out_root, [o.study for o in outcomes if o.status.complete])


COHORT_WRITERS: tuple[CohortWriter, ...] = (write_cohort_tables, write_cohort_html)


def write_cohort_outputs(out_root: Path, outcomes: Sequence[StudyOutcome]) -> None:
    """Rebuild every cohort output of ``out_root`` from the per-study outputs."""
    for writer in COHORT_WRITERS:
        writer(out_root, outcomes)
