"""Report figures (matplotlib, PNG bytes): sum of diameters, volumes, spider plot, waterfall plots.

Definitions:

* sum of diameters: ``sum_diameters_mm`` of ``response.csv`` per timepoint,
  each point coloured and labelled by its RECIST category, with the levels
  that decide it: partial response at baseline - 30 % and, at each follow-up,
  progression at the nadir (smallest earlier evaluable sum) + 20 % and at
  least + 5 mm (the configured thresholds);
* spider plot: per target lesion, the change of its RECIST diameter from its
  baseline value in % (a lesion not found is left out at that timepoint), the
  sum of diameters (black), and the sum's own levels as changes from baseline
  (-30 %; the progression level moves with the nadir);
* lesion waterfall (per patient): one bar per target lesion, the change of its
  RECIST diameter from baseline at the last follow-up, sorted from largest
  increase to largest decrease; a lesion not found there has no bar (labelled);
* cohort waterfall: one bar per study, its best (most negative) change of the
  sum of diameters from baseline over the follow-ups, sorted from largest
  increase to largest decrease; reference lines at +20 % and -30 %.

The x axis is days from baseline when every timepoint has a study date, else
the timepoint number.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

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


@dataclass(frozen=True)
class Levels:
    """RECIST thresholds: partial response at ``pr_pct`` from baseline; progression at ``pd_pct`` from the nadir
    and at least ``pd_mm`` above it."""

    pr_pct: float = PR_CHANGE_PCT
    pd_pct: float = PD_CHANGE_PCT
    pd_mm: float = 5.0

    def progression_mm(self, nadir_mm: float) -> float:
        return max(nadir_mm * (1 + self.pd_pct / 100.0), nadir_mm + self.pd_mm)


def progression_levels(
    sums_mm: Sequence[float | None], evaluable: Sequence[bool], levels: Levels
) -> list[float | None]:
    """Per timepoint, the sum at which it is progression: from the nadir of the earlier evaluable sums (``None`` at
    baseline or without an earlier evaluable sum)."""
    out: list[float | None] = [None]
    for k in range(1, len(sums_mm)):
        earlier = [s for s, ok in zip(sums_mm[:k], evaluable[:k], strict=True) if ok and s is not None]
        out.append(levels.progression_mm(min(earlier)) if earlier else None)
    return out


def _level_steps(ax, x: Sequence[float], levels_y: Sequence[float | None], label: str) -> None:
    """Each follow-up's level as a horizontal segment over the interval that ends at it (the level in force there)."""
    first = True
    for k in range(1, len(x)):
        if levels_y[k] is None:
            continue
        ax.plot(
            [x[k - 1], x[k]],
            [levels_y[k]] * 2,
            ls=":",
            color=CATEGORY_COLOURS["pd"],
            lw=1.5,
            label=label if first else None,
        )
        ax.plot([x[k]], [levels_y[k]], marker="|", ms=8, color=CATEGORY_COLOURS["pd"])
        first = False


def _colour(category: str) -> str:
    return CATEGORY_COLOURS.get(category.lower(), DEFAULT_COLOUR)


def sum_of_diameters_png(
    x: Sequence[float], xlabel: str, sums_mm: Sequence[float | None], categories: Sequence[str], levels: Levels
) -> bytes:
    """Sum of diameters over time: points coloured and labelled by category, with the PR and PD levels."""
    fig, ax = _axes(xlabel, "sum of diameters (mm)", "Sum of diameters of the target lesions (RECIST 1.1)")
    points = [(xi, s, c) for xi, s, c in zip(x, sums_mm, categories, strict=True) if s is not None]
    ax.plot([p[0] for p in points], [p[1] for p in points], "-", color="black", lw=1.5, zorder=2)
    for xi, s, c in points:
        ax.scatter([xi], [s], s=60, color=_colour(c), edgecolor="black", zorder=3)
        ax.annotate(c, (xi, s), textcoords="offset points", xytext=(0, 9), ha="center", fontsize=9, weight="bold")
    if points and points[0][1]:
        base = points[0][1]
        label = f"PR level: baseline {levels.pr_pct:+g} %"
        ax.axhline(base * (1 + levels.pr_pct / 100), ls="--", color=CATEGORY_COLOURS["pr"], lw=1.2, label=label)
        evaluable = [c not in ("NE", "") for c in categories]
        pd = progression_levels(sums_mm, evaluable, levels)
        _level_steps(ax, x, pd, f"PD level: nadir {levels.pd_pct:+g} % and {levels.pd_mm:+g} mm")
        ax.legend(fontsize=8, loc="best")
    ax.set_ylim(bottom=0)
    ax.margins(x=0.08, y=0.15)
    return _png(fig)


def volume_png(
    x: Sequence[float],
    xlabel: str,
    total_ml: Sequence[float | None],
    per_lesion_ml: Mapping[str, Sequence[float | None]],
) -> bytes:
    """Total target volume and each lesion's volume over time."""
    fig, ax = _axes(xlabel, "volume (ml)", "Target lesion volumes")
    for lesion_id, values in per_lesion_ml.items():
        pts = [(xi, v) for xi, v in zip(x, values, strict=True) if v is not None]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", lw=1, ms=4, label=lesion_id)
    pts = [(xi, v) for xi, v in zip(x, total_ml, strict=True) if v is not None]
    ax.plot([p[0] for p in pts], [p[1] for p in pts], "s-", color="black", lw=2, label="total of the targets")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8, loc="best", ncols=2)
    return _png(fig)


def spider_png(
    x: Sequence[float],
    xlabel: str,
    change_pct: Mapping[str, Sequence[float | None]],
    sum_change_pct: Sequence[float | None],
    sum_pd_change_pct: Sequence[float | None],
    levels: Levels,
) -> bytes:
    """Per-target change from baseline in %, the sum's change (black) and the sum's PR and PD levels."""
    fig, ax = _axes(xlabel, "change from baseline (%)", "Spider plot: change of each target's diameter")
    for name, values in change_pct.items():
        pts = [(xi, v) for xi, v in zip(x, values, strict=True) if v is not None]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", ms=4, lw=1.2, label=name)
    pts = [(xi, v) for xi, v in zip(x, sum_change_pct, strict=True) if v is not None]
    ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", ms=5, color="black", lw=2.5, label="sum")
    ax.axhline(0, color="grey", lw=0.8)
    ax.axhline(
        levels.pr_pct, ls="--", color=CATEGORY_COLOURS["pr"], lw=1.2, label=f"sum PR level ({levels.pr_pct:+g} %)"
    )
    _level_steps(ax, x, sum_pd_change_pct, "sum PD level (from the nadir)")
    ax.legend(fontsize=8, loc="best", ncols=2)
    return _png(fig)


def lesion_waterfall_png(names: Sequence[str], change_pct: Sequence[float | None], title: str) -> bytes:
    """One bar per lesion (its change from baseline, %), sorted; a lesion without a value is labelled "not found"."""
    order = sorted(range(len(names)), key=lambda i: (change_pct[i] is None, -(change_pct[i] or 0.0), names[i]))
    fig, ax = _axes(
        "target lesion", "change of diameter from baseline (%)", title, size=(max(5.0, 0.6 * len(names) + 3), 3.6)
    )
    for position, i in enumerate(order):
        value = change_pct[i]
        if value is None:
            ax.annotate("not found", (position, 0), ha="center", va="bottom", fontsize=8)
            continue
        colour = CATEGORY_COLOURS["pd"] if value > 0 else CATEGORY_COLOURS["pr"]
        ax.bar(position, value, color=colour, width=0.7)
        ax.annotate(
            f"{value:+.1f} %",
            (position, value),
            textcoords="offset points",
            xytext=(0, 3 if value >= 0 else -11),
            ha="center",
            fontsize=8,
        )
    ax.set_xticks(range(len(order)), [names[i] for i in order], fontsize=9)
    ax.axhline(0, color="black", lw=0.8)
    ax.margins(y=0.2)
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
