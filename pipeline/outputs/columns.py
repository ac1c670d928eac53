"""Every column of the output tables: its readable label, unit, the precision a reader sees and its definition.

One declaration serves the report (labels with units, values rounded to the
measurement's precision) and ``docs/outputs.md`` (the column table, kept equal
to :func:`markdown_table` by a test). The CSV files keep more decimals than
the report shows (see :mod:`pipeline.outputs.tables`).
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.outputs import names
from pipeline.outputs.tables import BEST_RESPONSE_COLUMNS, MEASUREMENT_COLUMNS, RESPONSE_COLUMNS


@dataclass(frozen=True)
class Column:
    """``label`` for readers, ``unit`` ("" for none), ``digits`` shown in the report (``None``: text)."""

    label: str
    unit: str
    digits: int | None
    definition: str


_TP = Column("Timepoint", "", None, "0 = baseline, then the follow-ups in study-date order")
_DATE = Column("Date", "", None, "StudyDate of the timepoint (YYYY-MM-DD)")
_DAYS = Column("Day", "days", None, "days from the baseline study date")
_PATIENT = Column("Patient", "", None, "PatientID of the study's DICOM files")
_CATEGORY = "`baseline`, `CR`, `PR`, `SD`, `PD` or `NE`"

COLUMNS: dict[str, Column] = {
    "study": Column("Study", "", None, "batch outputs only: the study's folder name under STUDIES_ROOT"),
    "patient_id": _PATIENT,
    "timepoint": _TP,
    "study_date": _DATE,
    "days_from_baseline": _DAYS,
    # measurements.csv
    "lesion_id": Column("Lesion", "", None, "the lesion's id (targets.json)"),
    "role": Column(
        "Role",
        "",
        None,
        "`target`: a RECIST 1.1 target lesion, in the sum of diameters; `non_target`: followed and measured but "
        "not summed (more than 2 per organ or 5 in all, not measurable at baseline, or not found at baseline)",
    ),
    "organ": Column("Organ", "", None, "the lesion's organ (targets.json, default liver)"),
    "status": Column("Status", "", None, "`measured` or `not_found`"),
    "not_found_reason": Column("Why not found", "", None, "why the lesion was not found (empty when measured)"),
    "longest_diameter_mm": Column("Longest diameter", "mm", 1, "RECIST longest axial diameter"),
    "short_axis_mm": Column("Short axis", "mm", 1, "longest extent perpendicular to it on the same slice"),
    "max_3d_diameter_mm": Column("Max. 3D diameter", "mm", 1, "longest distance across the lesion surface"),
    "volume_ml": Column("Volume", "ml", 1, "lesion volume (sum of voxel fractions x voxel volume)"),
    "mean_hu": Column("Mean CT", "HU", 1, "mean CT value of the lesion"),
    "suv_max": Column("SUVmax", "SUVbw", 2, "hottest voxel of the PET region"),
    "suv_peak": Column("SUVpeak", "SUVbw", 2, "highest mean of a 1 ml sphere centred in the PET region"),
    "suv_mean": Column("SUVmean", "SUVbw", 2, "mean of the PET region"),
    "sul_peak": Column("SULpeak", "SUL", 2, "SUVpeak x lean body mass / body weight (PERCIST)"),
    "mtv_ml": Column("MTV", "ml", 1, "metabolic tumour volume: volume of the PET region"),
    "tlg": Column("TLG", "SUVbw x ml", 1, "total lesion glycolysis: SUVmean x MTV"),
    "centroid_x_mm": Column("Centroid x", "mm", 1, "lesion centroid, patient coordinates (LPS) of that timepoint's CT"),
    "centroid_y_mm": Column("Centroid y", "mm", 1, "as centroid_x_mm"),
    "centroid_z_mm": Column("Centroid z", "mm", 1, "as centroid_x_mm"),
    # response.csv
    "new_lesions": Column(
        "New lesions",
        "",
        None,
        "`yes`, `no` or `not_assessed` (targets given and no reader's `new_lesions` list: not looked for); empty "
        "at baseline",
    ),
    "sum_diameters_mm": Column("Sum of diameters", "mm", 1, "sum over the RECIST targets (short axis for nodes)"),
    "change_from_baseline_pct": Column("Change from baseline", "%", 1, "of the sum of diameters"),
    "change_from_nadir_pct": Column(
        "Change from nadir", "%", 1, "of the sum, from the smallest earlier evaluable sum (baseline included)"
    ),
    "recist": Column("RECIST 1.1", "", None, _CATEGORY),
    "total_volume_ml": Column("Target volume", "ml", 1, "sum of the RECIST targets' volumes"),
    "volume_change_pct": Column("Volume change", "%", 1, "of the target volume, from baseline"),
    "volumetric": Column("Volumetric", "", None, _CATEGORY + " (PR <= -65 %, PD >= +73 % from the nadir)"),
    "mean_hu_change_pct": Column(
        "Density change (Choi)", "%", 1, "change of the mean of the Choi targets' mean HU from baseline"
    ),
    "choi": Column("Choi", "", None, _CATEGORY),
    "sul_peak_change_pct": Column(
        "SULpeak change (PERCIST)", "%", 1, "change of the hottest target's SULpeak from baseline's"
    ),
    "liver_reference_sul": Column("Liver reference", "SUL", 2, "SULmean of the PERCIST liver reference region"),
    "percist": Column("PERCIST 1.0", "", None, "`baseline`, `CMR`, `PMR`, `SMD`, `PMD` or `NE`"),
    "note": Column(
        "Note",
        "",
        None,
        "why this timepoint's response is conditional: a study between baseline and it was dropped (empty: none)",
    ),
    # best_response.csv
    "criterion": Column("Criterion", "", None, "`recist`, `volumetric`, `choi` or `percist`"),
    "best_overall_response": Column(
        "Best overall response", "", None, "best category up to the first progression (empty: not assessable)"
    ),
    "best_response_timepoint": Column("At timepoint", "", None, "the timepoint that gave it"),
    "best_response_days": Column("At day", "days", None, "its days from baseline"),
    "progressed": Column("Progressed", "", None, "`yes` (an event) or `no` (censored)"),
    "ttp_timepoint": Column(
        "TTP timepoint", "", None, "the first progression, or the last evaluable assessment when censored"
    ),
    "ttp_days": Column("Time to progression", "days", None, "days from baseline to that timepoint"),
    "ttp_months": Column("Time to progression", "months", 1, "days / 30.4375"),
    "targets": Column("Lesions used", "", None, "the lesions the criterion used, `;`-separated"),
}
# response.csv's sul_peak is the hottest target's (the PERCIST measure); the lesion's own is in measurements.csv
RESPONSE_OVERRIDES = {"sul_peak": Column("SULpeak (hottest target)", "SUL", 2, "the PERCIST measure")}

TABLES: dict[str, tuple[str, ...]] = {
    names.MEASUREMENTS_CSV: MEASUREMENT_COLUMNS,
    names.RESPONSE_CSV: RESPONSE_COLUMNS,
    names.BEST_RESPONSE_CSV: BEST_RESPONSE_COLUMNS,
}


def column(name: str, table: str = names.MEASUREMENTS_CSV) -> Column:
    """The declaration of a column; a column not declared (e.g. one a later version adds) gets a label from its
    name: ``x_change_pct`` -> "x change (%)"."""
    if table == names.RESPONSE_CSV and name in RESPONSE_OVERRIDES:
        return RESPONSE_OVERRIDES[name]
    if name in COLUMNS:
        return COLUMNS[name]
    words, unit = name.split("_"), ""
    if words[-1] in ("pct", "mm", "ml", "hu"):
        unit = {"pct": "%", "mm": "mm", "ml": "ml", "hu": "HU"}[words.pop()]
    return Column(" ".join(words), unit, None, "")


def heading(name: str, table: str = names.MEASUREMENTS_CSV) -> str:
    """``Label (unit)``."""
    c = column(name, table)
    return f"{c.label} ({c.unit})" if c.unit else c.label


def shown(value: str, name: str, table: str = names.MEASUREMENTS_CSV) -> str:
    """A CSV cell rounded to its column's precision (text cells as they are)."""
    digits = column(name, table).digits
    if digits is None or value == "":
        return value
    try:
        return f"{float(value):.{digits}f}"
    except ValueError:
        return value


def markdown_table() -> str:
    """The column table of docs/outputs.md: file, column, unit, definition."""
    lines = ["| file | column | unit | definition |", "|---|---|---|---|"]
    for table, columns in TABLES.items():
        for name in columns:
            c = column(name, table)
            lines.append(f"| `{table}` | `{name}` | {c.unit or '-'} | {c.label}: {c.definition} |")
    return "\n".join(lines) + "\n"
