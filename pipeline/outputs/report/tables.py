"""Reading the pipeline's CSV outputs for the reports, with generic detection of response criteria."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

NOT_CRITERIA = frozenset({"patient_id", "study_date", "timepoint", "study", "new_lesions", "note"})


@dataclass(frozen=True)
class Table:
    """A CSV file: its header and its rows (cells as written)."""

    columns: tuple[str, ...]
    rows: tuple[dict[str, str], ...]

    def values(self, column: str) -> list[float | None]:
        return [number(r.get(column, "")) for r in self.rows]


def read_table(path: Path) -> Table:
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        rows = tuple(reader)
        return Table(tuple(reader.fieldnames or ()), rows)


def number(cell: str | None) -> float | None:
    """The cell as a finite float, or ``None`` (empty or not a number)."""
    try:
        value = float(cell) if cell not in (None, "") else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) else None


def criterion_columns(table: Table) -> list[str]:
    """Response-criterion columns: every column (but ids and dates) whose non-empty cells are all categories (text).

    RECIST's ``recist`` today; any criterion column added later (volumetric,
    Choi, PERCIST, ...) is picked up the same way.
    """
    out = []
    for column in table.columns:
        if column in NOT_CRITERIA:
            continue
        cells = [r.get(column, "") for r in table.rows if r.get(column, "")]
        if cells and all(number(c) is None for c in cells):
            out.append(column)
    return out
