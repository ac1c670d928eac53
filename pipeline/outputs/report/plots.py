"""Report figures (matplotlib, PNG bytes): sum of diameters, volumes, spider plot, waterfall plot.

Definitions:

* sum of diameters: ``sum_diameters_mm`` of ``response.csv`` per timepoint,
  with the RECIST partial-response level (baseline - 30 %) for reference;
* spider plot: per lesion, the change of its longest diameter from its
  baseline value in % (a lesion not found at a timepoint is left out at that
  timepoint), and the sum of diameters (black);
* waterfall plot: one bar per study, its best (most negative) change of the
  sum of diameters from baseline over the follow-ups, sorted from largest
  increase to largest decrease; reference lines at +20 % and -30 %.

The x axis is days from baseline when every timepoint has a study date, else
the timepoint number.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
from matplotlib.figure import Figure
from matplotlib.patches import Patch

PR_CHANGE_PCT = -30.0
PD_CHANGE_PCT = 20.0
CATEGORY_COLOURS = {
    "cr": "#1a7f37",
    "cmr": "#1a7f37",
    "pr": "#4caf50",
    "pmr": "#4caf50",
    "sd": "#9e9e9e",
    "smd": "#9e9e9e",
    "pd": "#d32f2f",
    "pmd": "#d32f2f",
}
DEFAULT_COLOUR = "#607d8b"


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    return buf.getvalue()


def _axes(xlabel: str, ylabel: str, title: str, size: tuple[float, float] = (6.4, 3.6)):
    fig = Figure(figsize=size, layout="constrained")
    ax = fig.add_subplot()
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=11)
    ax.grid(alpha=0.3)
    return fig, ax


def sum_of_diameters_png(
    x: Sequence[float], xlabel: str, sums_mm: Sequence[float | None], labels: Sequence[str]
) -> bytes:
    """Sum of diameters over time, each point annotated with ``labels`` (e.g. the response categories)."""
    fig, ax = _axes(xlabel, "sum of diameters (mm)", "Sum of longest diameters")
    points = [(xi, s, lab) for xi, s, lab in zip(x, sums_mm, labels, strict=True) if s is not None]
    ax.plot([p[0] for p in points], [p[1] for p in points], "o-", color="black")
    for xi, s, lab in points:
        ax.annotate(lab, (xi, s), textcoords="offset points", xytext=(0, 8), ha="center", fontsize=8)
    if points and points[0][1]:
        level = points[0][1] * (1 + PR_CHANGE_PCT / 100)
        ax.axhline(level, ls="--", color=CATEGORY_COLOURS["pr"], lw=1, label="baseline -30 % (RECIST PR)")
        ax.legend(fontsize=8, loc="best")
    ax.set_ylim(bottom=0)
    return _png(fig)


def volume_png(
    x: Sequence[float],
    xlabel: str,
    total_ml: Sequence[float | None],
    per_lesion_ml: Mapping[str, Sequence[float | None]],
) -> bytes:
    """Total target volume and each lesion's volume over time."""
    fig, ax = _axes(xlabel, "volume (ml)", "Lesion volumes")
    for lesion_id, values in per_lesion_ml.items():
        pts = [(xi, v) for xi, v in zip(x, values, strict=True) if v is not None]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", lw=1, ms=4, label=lesion_id)
    pts = [(xi, v) for xi, v in zip(x, total_ml, strict=True) if v is not None]
    ax.plot([p[0] for p in pts], [p[1] for p in pts], "s-", color="black", lw=2, label="total")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8, loc="best", ncols=2)
    return _png(fig)


def spider_png(x: Sequence[float], xlabel: str, change_pct: Mapping[str, Sequence[float | None]]) -> bytes:
    """Per-lesion (and sum) change from baseline in %, over time."""
    fig, ax = _axes(xlabel, "change from baseline (%)", "Spider plot: change of longest diameter")
    for name, values in change_pct.items():
        pts = [(xi, v) for xi, v in zip(x, values, strict=True) if v is not None]
        style = dict(color="black", lw=2.5) if name == "sum" else dict(lw=1.2)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", ms=4, label=name, **style)
    ax.axhline(0, color="grey", lw=0.8)
    ax.axhline(PD_CHANGE_PCT, ls=":", color=CATEGORY_COLOURS["pd"], lw=1)
    ax.axhline(PR_CHANGE_PCT, ls=":", color=CATEGORY_COLOURS["pr"], lw=1)
    ax.legend(fontsize=8, loc="best", ncols=2)
    return _png(fig)


def waterfall_png(names: Sequence[str], best_change_pct: Sequence[float], categories: Sequence[str]) -> bytes:
    """Waterfall of best change per study (bars coloured by ``categories``, e.g. RECIST at the best timepoint)."""
    order = sorted(range(len(names)), key=lambda i: (-best_change_pct[i], names[i]))
    fig, ax = _axes(
        "study",
        "best change of sum of diameters (%)",
        "Waterfall: best change from baseline",
        size=(max(6.4, 0.45 * len(names) + 2), 4.0),
    )
    colours = [CATEGORY_COLOURS.get(categories[i].lower(), DEFAULT_COLOUR) for i in order]
    ax.bar(range(len(order)), [best_change_pct[i] for i in order], color=colours)
    ax.set_xticks(range(len(order)), [names[i] for i in order], rotation=60, ha="right", fontsize=8)
    ax.axhline(0, color="black", lw=0.8)
    ax.axhline(PD_CHANGE_PCT, ls="--", color=CATEGORY_COLOURS["pd"], lw=1, label="+20 %")
    ax.axhline(PR_CHANGE_PCT, ls="--", color=CATEGORY_COLOURS["pr"], lw=1, label="-30 %")
    handles, labels = ax.get_legend_handles_labels()
    for category in dict.fromkeys(categories[i] for i in order):
        handles.append(Patch(color=CATEGORY_COLOURS.get(category.lower(), DEFAULT_COLOUR)))
        labels.append(category or "n/a")
    ax.legend(handles, labels, fontsize=8, loc="best")
    return _png(fig)
