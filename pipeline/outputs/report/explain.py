"""How the categories of the report are decided, in plain words, with the thresholds of this run (``run.json``).

The full definitions are in docs/criteria.md; this is the reader's summary,
written out on the page (no hover text), so that it is in the PDF too.
"""

from __future__ import annotations

from collections.abc import Mapping

from pipeline.outputs.report import html


def _p(parameters: Mapping[str, object], section: str, key: str, default: float) -> float:
    values = parameters.get(section)
    value = values.get(key, default) if isinstance(values, dict) else default
    return float(value) if isinstance(value, (int, float)) else default


def criteria_section(parameters: Mapping[str, object]) -> str:
    def g(section: str, key: str, default: float) -> str:
        return f"{_p(parameters, section, key, default):g}"

    entries = [
        (
            "Target and non-target lesions",
            "RECIST 1.1 sums the longest diameters (short axis of lymph nodes) of the target lesions: those "
            f"measurable at baseline (at least {g('recist', 'min_measurable_mm', 10)} mm), at most "
            f"{g('recist', 'max_targets_per_organ', 2)} per organ and {g('recist', 'max_targets_total', 5)} in all, "
            "the largest first. The other lesions given are non-targets: measured and shown, never summed.",
        ),
        (
            "RECIST 1.1",
            f"PR: the sum is {g('recist', 'pr_change_pct', -30)} % or less from baseline. PD: the sum is "
            f"{g('recist', 'pd_change_pct', 20)} % or more above the nadir (the smallest earlier sum, baseline "
            f"included) and at least {g('recist', 'pd_absolute_mm', 5)} mm above it, or a new lesion. CR: every "
            "target gone (lymph nodes under 10 mm). SD: none of these. NE: a target was not evaluated and the "
            "others do not show PD.",
        ),
        (
            "Volumetric",
            "The same rules on the sum of the target volumes: PR at "
            f"{g('volumetric', 'pr_change_pct', -65)} % or less from baseline, PD at "
            f"{g('volumetric', 'pd_change_pct', 73)} % or more above the nadir (the volumes of spheres whose "
            "diameters change by -30 % and +20 %).",
        ),
        (
            "Choi",
            f"Up to {g('choi', 'max_targets_per_organ', 5)} targets per organ and "
            f"{g('choi', 'max_targets_total', 10)} in all. PR: the sum of diameters "
            f"{g('choi', 'size_pr_change_pct', -10)} % or less, or the mean density "
            f"{g('choi', 'density_pr_change_pct', -15)} % or less (HU), from baseline. PD: the sum "
            f"{g('choi', 'size_pd_change_pct', 10)} % or more above the nadir without a density response, or a new "
            "lesion.",
        ),
        (
            "PERCIST 1.0",
            "SULpeak of the hottest target at each timepoint, measurable at baseline when at least 1.5 x the liver "
            "reference SULmean + 2 SD. PMR: a decrease of at least "
            f"{abs(_p(parameters, 'percist', 'pmr_change_pct', -30)):g} % and "
            f"{g('percist', 'pmr_absolute_sul', 0.8)} SUL; PMD: an increase of more than "
            f"{g('percist', 'pmd_change_pct', 30)} % and {g('percist', 'pmd_absolute_sul', 0.8)} SUL, or a new "
            "lesion; CMR: uptake at or below the reference; else SMD. NE when the reference region changed too much.",
        ),
        (
            "Best overall response and time to progression",
            "The best category from the first follow-up up to the first progression; stable disease counts only "
            f"from day {g('recist', 'min_sd_days', 42)}. Time to progression: days from the baseline scan to the first "
            "progression (months = days / 30.4375), or censored at the last evaluable follow-up.",
        ),
        (
            "Not found",
            "A target the software did not find counts as gone (0 mm) when nothing is left where the registration "
            "puts it, and as not evaluated (NE) when something is there that could not be delineated.",
        ),
    ]
    body = "".join(f"<dt>{html.text(t)}</dt><dd>{html.text(d)}</dd>" for t, d in entries)
    return f'<h2>How the categories are decided</h2><dl class="criteria">{body}</dl>'
