"""Liver segmentation on real CT: Dice and volume against manual or model masks, refusals, speed.

Cases (read in place from the real-data folder, see ``realcases.py``):

* IRCAD: portal-venous CT with two tumours, manual liver (labels 1-3). Targets:
  Dice >= 0.93 and volume within 5 %.
* TotalSegmentator example CT: unenhanced, the liver cut by the top of the
  scan; the model's mask. Target: Dice >= 0.90.
* example_ct_sm (its top 30 slices): a partial liver with Dice >= 0.85, or a
  refusal; never bone (at most 1 % of the mask above 300 HU).
* HCC_048: no mask; liver volume between 1000 and 2500 ml, and the QC image
  (axial and coronal outline) written for a visual check.
* Two thigh CTs (IBSI STS_004, STS_005): "no liver in this scan".
* Fields of view: the IRCAD and TotalSegmentator CTs cut 20, 35, 50, 65 and
  80 % of the way up the reference liver, keeping either the part below the
  cut (the pelvis, the abdomen and the liver's lowest part) or the part above
  it (the liver's upper part and the chest). Target: each cut refused, or at
  least 80 % of the liver found lies in the reference (never mostly another
  organ); the Dice against the reference's same slices is shown.
* Speed: the IRCAD CT interpolated to 512 x 512 x 300 (nearest slice) in
  under 15 s of processor time (the segmentation runs on one core; the wall
  time, also shown, is longer when other work shares the machine).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from realcases import (
    RealCase,
    as_series,
    dice,
    hcc048,
    ircad,
    thighs,
    totalsegmentator,
    totalsegmentator_small,
    voxel_ml,
)
from validate import Context, Section, Target, format_columns

from pipeline.errors import NoLiverError
from pipeline.longitudinal.liver import LiverMask, segment_ct_liver
from pipeline.outputs.qc_liver import liver_png
from segmentation.liver import LiverConfig

TITLE = "Liver segmentation on real CT"


def _segment(case: RealCase) -> tuple[LiverMask | None, str, float]:
    start = time.perf_counter()
    try:
        liver = segment_ct_liver(case.ct, LiverConfig())
        return liver, "", time.perf_counter() - start
    except NoLiverError as exc:
        return None, str(exc), time.perf_counter() - start


def _row(case: RealCase, liver: LiverMask | None, why: str, seconds: float) -> list[str]:
    size = "x".join(str(n) for n in case.ct.image.GetSize())
    if liver is None:
        return [case.name, size, "-", "-", "-", why[:70], f"{seconds:.1f}"]
    row = [case.name, size, f"{liver.volume_ml:.0f}"]
    if case.liver_zyx is not None:
        truth_ml = case.liver_zyx.sum() * float(np.prod(case.ct.image.GetSpacing())) / 1000.0
        row += [f"{truth_ml:.0f}", f"{dice(liver.mask_zyx, case.liver_zyx):.3f}"]
    else:
        row += ["-", "-"]
    extent = "partial" if liver.partial else "whole"
    return [*row, f"{extent}, level {liver.level_hu:.0f} HU", f"{seconds:.1f}"]


def _table(rows: list[list[str]]) -> str:
    return format_columns(["case", "voxels", "volume ml", "reference ml", "Dice", "result", "s"], rows)


def _speed(case: RealCase) -> tuple[float, float]:
    """Wall and processor seconds for the IRCAD CT interpolated to 300 slices (nearest slice), the size the target
    is set for."""
    array = sitk.GetArrayFromImage(case.ct.image)
    picks = np.linspace(0, array.shape[0] - 1, 300).round().astype(int)
    image = sitk.GetImageFromArray(array[picks])
    sx, sy, sz = case.ct.image.GetSpacing()
    image.SetSpacing((sx, sy, sz * array.shape[0] / 300))
    image.SetOrigin(case.ct.image.GetOrigin())
    image.SetDirection(case.ct.image.GetDirection())
    cpu = time.process_time()
    wall = _segment(RealCase("IRCAD x 300 slices", as_series(image, "ircad-300")))[2]
    return wall, time.process_time() - cpu


CUTS = (0.2, 0.35, 0.5, 0.65, 0.8)
MIN_IN_REFERENCE = 0.8


def _cut(case: RealCase, fraction: float, below: bool) -> RealCase:
    """``case`` with only the slices below (or from) ``fraction`` of the way up its reference liver."""
    assert case.liver_zyx is not None
    image = case.ct.image
    up = image.GetDirection()[8] > 0  # the slice index runs toward the head
    slices = np.flatnonzero(case.liver_zyx.any(axis=(1, 2)))
    low, high = (slices[0], slices[-1]) if up else (slices[-1], slices[0])
    at = int(round(low + fraction * (high - low)))
    keep = slice(0, at) if below == up else slice(at, image.GetDepth())
    part = image[:, :, keep]
    where = "below" if below else "above"
    name = f"{case.name.split()[0]} {where} {100 * fraction:.0f} %"
    return RealCase(name, as_series(part, name), case.liver_zyx[keep], case.reference)


def _fields_of_view(cases: list[RealCase]) -> tuple[str, Target]:
    """The table of the cut scans and the target: none mostly another organ."""
    rows = []
    good = 0
    for case in cases:
        for below in (True, False):
            for fraction in CUTS:
                cut = _cut(case, fraction, below)
                assert cut.liver_zyx is not None
                liver, why, _ = _segment(cut)
                truth_ml = cut.liver_zyx.sum() * voxel_ml(cut.ct.image)
                if liver is None:
                    good += 1
                    rows.append([cut.name, f"{cut.ct.image.GetDepth()}", f"{truth_ml:.0f}", "-", "-", "-", why[:80]])
                    continue
                inside = (liver.mask_zyx & cut.liver_zyx).sum() / max(int(liver.mask_zyx.sum()), 1)
                good += inside >= MIN_IN_REFERENCE
                rows.append(
                    [
                        cut.name,
                        f"{cut.ct.image.GetDepth()}",
                        f"{truth_ml:.0f}",
                        f"{liver.volume_ml:.0f}",
                        f"{dice(liver.mask_zyx, cut.liver_zyx):.3f}",
                        f"{100 * inside:.0f} %",
                        f"level {liver.level_hu:.0f} HU",
                    ]
                )
    headers = ["scan cut (reference liver)", "slices", "reference ml", "volume ml", "Dice", "in reference", "result"]
    table = format_columns(headers, rows)
    target = Target(
        "cut fields of view: never another organ",
        f"refused or >= {100 * MIN_IN_REFERENCE:.0f} % liver",
        f"{good} of {len(rows)}",
        good == len(rows),
    )
    return table, target


def run(context: Context) -> Section:
    root = context.realdata
    rows: list[list[str]] = []
    targets: list[Target] = []
    notes: list[str] = []

    case = ircad(root)
    liver, why, seconds = _segment(case)
    rows.append(_row(case, liver, why, seconds))
    assert case.liver_zyx is not None and case.labels_zyx is not None
    d = dice(liver.mask_zyx, case.liver_zyx) if liver else 0.0
    truth_ml = case.liver_zyx.sum() * float(np.prod(case.ct.image.GetSpacing())) / 1000.0
    err = 100.0 * (liver.volume_ml - truth_ml) / truth_ml if liver else float("nan")
    targets += [
        Target("IRCAD liver Dice", ">= 0.93", f"{d:.3f}", d >= 0.93),
        Target("IRCAD liver volume", "within 5 %", f"{err:+.1f} %", bool(abs(err) <= 5.0)),
    ]
    if liver is not None:
        inside = [
            (liver.mask_zyx & (case.labels_zyx == k)).sum() / max((case.labels_zyx == k).sum(), 1) for k in (2, 3)
        ]
        notes.append(f"IRCAD tumours inside the liver mask: {100 * inside[0]:.0f} % and {100 * inside[1]:.0f} %")
    ircad_case = case

    case = totalsegmentator(root)
    ts_case = case
    liver, why, seconds = _segment(case)
    rows.append(_row(case, liver, why, seconds))
    assert case.liver_zyx is not None
    d = dice(liver.mask_zyx, case.liver_zyx) if liver else 0.0
    targets.append(Target("TotalSegmentator example Dice", ">= 0.90", f"{d:.3f}", d >= 0.90))

    case = totalsegmentator_small(root)
    liver, why, seconds = _segment(case)
    rows.append(_row(case, liver, why, seconds))
    assert case.liver_zyx is not None
    if liver is None:
        targets.append(Target("example_ct_sm", "Dice >= 0.85 or refusal", "refused", True))
    else:
        d = dice(liver.mask_zyx, case.liver_zyx)
        bone = float((sitk.GetArrayViewFromImage(case.ct.image)[liver.mask_zyx] > 300).mean())
        ok = d >= 0.85 and bone <= 0.01
        targets.append(Target("example_ct_sm", "Dice >= 0.85, no bone", f"{d:.3f}, {100 * bone:.1f} %", ok))

    case = hcc048(root)
    liver, why, seconds = _segment(case)
    rows.append(_row(case, liver, why, seconds))
    volume = liver.volume_ml if liver else 0.0
    targets.append(Target("HCC_048 liver volume", "1000-2500 ml", f"{volume:.0f} ml", 1000.0 <= volume <= 2500.0))
    if liver is not None:
        qc = Path(context.work) / "liver_hcc048.png"
        liver_png(qc, case.ct.image, liver.mask_zyx, f"HCC_048: liver {liver.volume_ml:.0f} ml")
        notes.append(f"HCC_048 QC image (axial and coronal outline): {qc}")

    for case in thighs(root):
        liver, why, seconds = _segment(case)
        rows.append(_row(case, liver, why, seconds))
        ok = liver is None and "no liver in this scan" in why
        targets.append(Target(f"{case.name.split()[1]} no liver", '"no liver in this scan"', "yes" if ok else "no", ok))

    cuts, target = _fields_of_view([ircad_case, ts_case])
    targets.append(target)

    wall, cpu = _speed(ircad_case)
    targets.append(Target("512x512x300 CT, processor", "< 15 s", f"{cpu:.1f} s", cpu < 15.0))
    notes.append(f"512x512x300 CT: {cpu:.1f} s of processor time, {wall:.1f} s wall time")
    return Section(TITLE, _table(rows) + "\n\n" + cuts, tuple(targets), tuple(notes))
