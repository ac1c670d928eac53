"""Test-retest on real CT: the same scan again as a follow-up must give the same measurements.

For every real background of :data:`sample_data.retest.BACKGROUNDS` a study of three timepoints made of the
same pixels is written (:mod:`sample_data.retest`: baseline; the identical scan 60 days later with new UIDs;
the same pixels 120 days later in a frame of reference shifted by 25 mm) and run through the pipeline with
the targets at the deepest point of each lesion: the IRCAD manual tumour masks (labels 2 and 3), elsewhere
lesions inserted into the real liver. Nothing changed, so every difference from the baseline is an error.

Per target and follow-up: status, longest-diameter and volume differences from baseline, RECIST category.
Targets: every target measured at every timepoint; |d longest diameter| <= 0.5 mm and |d volume| <= 1 % for
every target measured at baseline; RECIST SD at every follow-up.

A follow-up scanned over a shorter range (:func:`sample_data.retest.write_cut_study`: the same pixels from the
slice of the lowest lesion's deepest point up): every target whose mask reaches below that slice is not wholly
in the follow-up and must not be measured nor counted as gone (``not_found``, RECIST NE); every other target
measured at baseline must be measured as at baseline (the same limits).

Follow-ups changed as real ones are (:data:`CHANGES`: the same pixels with the lesions' contrast to the liver
times 0.6 and times 1.5, as at another contrast phase or tube voltage; with 15 HU of noise added, as at a lower
dose; in slices twice as thick): nothing moved or grew, so every target measured at baseline must be measured
within twice the accuracy bounds of the lesion section (3 mm, 20 %), or not evaluated (``not_found``, RECIST
NE): a changed image may leave a lesion's edge unclear, but never a response that did not happen.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from sample_data.retest import (  # noqa: E402
    BACKGROUNDS,
    insert_lesions,
    load_background,
    write_contrast_study,
    write_cut_study,
    write_noisy_study,
    write_retest_study,
    write_thick_study,
)

TITLE = "Test-retest: the same scan again (identical +60 d; shifted 25 mm, new frame of reference +120 d)"
MAX_DIAMETER_MM = 0.5
MAX_VOLUME_PCT = 1.0
FOLLOWUPS = {"1": "identical", "2": "shifted"}
#: follow-ups changed as real ones are (nothing moved or grown): another contrast (the lesions' contrast to the
#: liver times 0.6 or 1.5), a lower dose (noise of 15 HU added), slices twice as thick
CHANGES = {
    "contrast x0.6": lambda out, background: write_contrast_study(out, background, 0.6),
    "contrast x1.5": lambda out, background: write_contrast_study(out, background, 1.5),
    "noise +15 HU": lambda out, background: write_noisy_study(out, background, 15.0),
    "slices x2": lambda out, background: write_thick_study(out, background, 2),
}
#: there the image changed, so the limits are twice the accuracy bounds of the lesion section
CHANGED_DIAMETER_MM = 3.0
CHANGED_VOLUME_PCT = 20.0


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def retest_case(name: str, realdata: Path, work: Path) -> tuple[list[list[str]], dict[str, float | int | bool]]:
    """Write and run one background's retest study: table rows and the figures of the targets."""
    from pipeline.errors import InputError
    from pipeline.longitudinal.run import run_study

    out = work / "retest" / name
    background = _with_lesions(name, realdata)
    study = write_retest_study(out, background)
    try:
        run_study(study, out / "results", progress=lambda *args, **kwargs: None)
    except InputError as exc:  # no target measurable at baseline: every target missing at every timepoint
        n = len(background.lesions_zyx)
        reason = str(exc)[:100]
        return [[name, "all", "baseline", "refused", "", "", "", "", reason]], {
            "targets": n,
            "missing": 3 * n,
            "d_ld": 0.0,
            "d_vol": 0.0,
            "sd": False,
        }
    measured = _rows(out / "results" / "measurements.csv")
    response = {r["timepoint"]: r for r in _rows(out / "results" / "response.csv")}
    base = {r["lesion_id"]: r for r in measured if r["timepoint"] == "0"}
    rows: list[list[str]] = []
    figures: dict[str, float | int | bool] = {"targets": len(base), "missing": 0, "d_ld": 0.0, "d_vol": 0.0}
    figures["sd"] = all(response[k]["recist"] == "SD" for k in FOLLOWUPS)
    for r in sorted(measured, key=lambda r: (r["lesion_id"], r["timepoint"])):
        b = base[r["lesion_id"]]
        if r["status"] != "measured":
            figures["missing"] = int(figures["missing"]) + 1
        if r["timepoint"] == "0":
            rows.append(
                [name, r["lesion_id"], "baseline", r["status"], r["longest_diameter_mm"], r["volume_ml"], "", "", ""]
            )
            continue
        d_ld = d_vol = ""
        if r["status"] == "measured" and b["status"] == "measured":
            ld = abs(float(r["longest_diameter_mm"]) - float(b["longest_diameter_mm"]))
            vol = 100.0 * abs(float(r["volume_ml"]) - float(b["volume_ml"])) / float(b["volume_ml"])
            figures["d_ld"], figures["d_vol"] = max(float(figures["d_ld"]), ld), max(float(figures["d_vol"]), vol)
            d_ld, d_vol = f"{ld:.2f}", f"{vol:.2f}"
        elif b["status"] == "measured":  # lost at a follow-up: as bad as it gets
            figures["d_ld"] = figures["d_vol"] = float("inf")
        category = response[r["timepoint"]]["recist"]
        cells = [r["status"], r["longest_diameter_mm"], r["volume_ml"], d_ld, d_vol, category]
        rows.append([name, r["lesion_id"], FOLLOWUPS[r["timepoint"]], *cells])
    return rows, figures


def cut_case(name: str, realdata: Path, work: Path) -> tuple[list[list[str]], int, int]:
    """Write and run one background's study with a follow-up cut through its lowest lesion: table rows, and how
    many targets were expected and found as they should be (cut ones not evaluated, the others unchanged)."""
    import numpy as np

    out = work / "retest-cut" / name
    background = _with_lesions(name, realdata)
    study, first = write_cut_study(out, background)
    cut = [bool(np.nonzero(mask)[0].min() < first) for mask in background.lesions_zyx]
    return _followup_case(name, out, study, cut, MAX_DIAMETER_MM, MAX_VOLUME_PCT, cut_label=True)


def changed_case(name: str, change: str, realdata: Path, work: Path) -> tuple[list[list[str]], int, int]:
    """Write and run one background's study with a follow-up changed as :data:`CHANGES` says: table rows, and how
    many targets were expected and found as they should be (measured within :data:`CHANGED_DIAMETER_MM` and
    :data:`CHANGED_VOLUME_PCT` of baseline, or not evaluated)."""
    out = work / "retest-changed" / f"{name}-{change.replace(' ', '-')}"
    background = _with_lesions(name, realdata)
    study = CHANGES[change](out, background)
    flags = [False] * len(background.lesions_zyx)
    rows, expected, good = _followup_case(
        name, out, study, flags, CHANGED_DIAMETER_MM, CHANGED_VOLUME_PCT, may_refuse=True
    )
    return [[row[0], change, *row[1:]] for row in rows], expected, good


def _with_lesions(name: str, realdata: Path):  # type: ignore[no-untyped-def]
    background = load_background(name, realdata)
    return background if background.lesions_zyx else insert_lesions(background)


def _followup_case(
    name: str,
    out: Path,
    study: Path,
    cut: list[bool],
    max_diameter_mm: float,
    max_volume_pct: float,
    may_refuse: bool = False,
    cut_label: bool = False,
) -> tuple[list[list[str]], int, int]:
    """Run a two-timepoint study and judge each target's follow-up: a target ``cut`` by the follow-up's range
    must be not found and the timepoint not evaluable (NE, or PD from the others); any other target measured at
    baseline measured within the limits of it, or, when it ``may_refuse`` (a changed image), not found with
    RECIST NE. Returns table rows, and how many targets were expected and judged good."""
    from pipeline.longitudinal.run import run_study

    run_study(study, out / "results", progress=lambda *args, **kwargs: None)
    measured = {(r["lesion_id"], r["timepoint"]): r for r in _rows(out / "results" / "measurements.csv")}
    recist = _rows(out / "results" / "response.csv")[1]["recist"]
    rows, good = [], 0
    for n, is_cut in enumerate(cut, start=1):
        base, follow = measured[(f"T{n}", "0")], measured[(f"T{n}", "1")]
        if base["status"] != "measured":
            expected, ok = "(not measured at baseline)", True
        elif is_cut:  # never measured, never counted as gone (0 mm): the timepoint is not evaluable
            expected = "not evaluated"
            ok = follow["status"] == "not_found" and recist in ("NE", "PD")
        else:
            expected = "as at baseline" + (" or NE" if may_refuse else "")
            ok = follow["status"] == "measured" and (
                abs(float(follow["longest_diameter_mm"]) - float(base["longest_diameter_mm"])) <= max_diameter_mm
                and abs(float(follow["volume_ml"]) / float(base["volume_ml"]) - 1.0) * 100.0 <= max_volume_pct
            )
            ok = ok or (may_refuse and follow["status"] == "not_found" and recist == "NE")
        good += ok
        status = follow["status"] if follow["status"] == "measured" else follow["not_found_reason"][:70]
        cells = [name, f"T{n}"] + (["cut" if is_cut else "whole"] if cut_label else [])
        cells += [base["status"], status, follow["longest_diameter_mm"], follow["volume_ml"], expected, recist]
        rows.append([*cells, "ok" if ok else "WRONG"])
    return rows, len(cut), good


def run(context):  # type: ignore[no-untyped-def]
    from validate import (  # type: ignore[import-not-found]  # tests/validation, run as a script
        Section,
        Target,
        format_columns,
    )

    rows: list[list[str]] = []
    notes: list[str] = []
    totals: dict[str, float | int | bool] = {"targets": 0, "missing": 0, "d_ld": 0.0, "d_vol": 0.0, "sd": True}
    for name in BACKGROUNDS:
        if not (context.realdata / name).is_dir():
            notes.append(f"{name}: not in {context.realdata}; skipped")
            continue
        case_rows, figures = retest_case(name, context.realdata, context.work)
        rows += case_rows
        totals["targets"] = int(totals["targets"]) + int(figures["targets"])
        totals["missing"] = int(totals["missing"]) + int(figures["missing"])
        totals["d_ld"] = max(float(totals["d_ld"]), float(figures["d_ld"]))
        totals["d_vol"] = max(float(totals["d_vol"]), float(figures["d_vol"]))
        totals["sd"] = bool(totals["sd"]) and bool(figures["sd"])
    cut_rows: list[list[str]] = []
    cut_expected = cut_good = 0
    for name in BACKGROUNDS:
        if (context.realdata / name).is_dir():
            case_rows, expected, good = cut_case(name, context.realdata, context.work)
            cut_rows += case_rows
            cut_expected, cut_good = cut_expected + expected, cut_good + good
    changed_rows: list[list[str]] = []
    changed_expected = changed_good = 0
    for change in CHANGES:
        for name in BACKGROUNDS:
            if (context.realdata / name).is_dir():
                case_rows, expected, good = changed_case(name, change, context.realdata, context.work)
                changed_rows += case_rows
                changed_expected, changed_good = changed_expected + expected, changed_good + good
    header = ["background", "target", "in follow-up", "baseline", "follow-up", "LD mm", "volume ml", "expected"]
    cut_table = format_columns([*header, "RECIST", ""], cut_rows)
    changed_header = ["background", "follow-up", "target", "baseline", "follow-up", "LD mm", "volume ml", "expected"]
    changed_table = format_columns([*changed_header, "RECIST", ""], changed_rows)
    checks = 3 * int(totals["targets"])
    d_ld, d_vol = float(totals["d_ld"]), float(totals["d_vol"])
    targets = (
        Target(
            "every target measured at every timepoint",
            "all",
            f"{checks - int(totals['missing'])}/{checks}",
            checks > 0 and totals["missing"] == 0,
        ),
        Target(
            "|d longest diameter|, targets measured at baseline",
            f"<= {MAX_DIAMETER_MM} mm",
            f"{d_ld:.2f} mm",
            d_ld <= MAX_DIAMETER_MM,
        ),
        Target(
            "|d volume|, targets measured at baseline",
            f"<= {MAX_VOLUME_PCT:g} %",
            f"{d_vol:.2f} %",
            d_vol <= MAX_VOLUME_PCT,
        ),
        Target(
            "RECIST at every follow-up", "SD", "SD" if totals["sd"] else "not SD", bool(totals["sd"]) and checks > 0
        ),
        Target(
            "follow-up cut through a lesion: cut ones NE, others same",
            "all",
            f"{cut_good}/{cut_expected}",
            cut_expected > 0 and cut_good == cut_expected,
        ),
        Target(
            "follow-up at another contrast, dose, thickness: as before or NE",
            "all",
            f"{changed_good}/{changed_expected}",
            changed_expected > 0 and changed_good == changed_expected,
        ),
    )
    table = (
        format_columns(
            ["background", "target", "timepoint", "status", "LD mm", "volume ml", "|dLD| mm", "|dV| %", "RECIST"], rows
        )
        + "\n\n  follow-up scanned over a shorter range (first slice through the lowest lesion):\n"
        + cut_table
        + "\n\n  follow-up changed as real ones are, nothing moved or grown (contrast: soft tissue stretched about the "
        + "liver level; noise: added, grained like a CT's; slices: each two averaged into one):\n"
        + changed_table
    )
    return Section(TITLE, table, targets, tuple(notes))
