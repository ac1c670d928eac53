"""Automatic mode on real anatomy: lesions searched only inside the liver, and scans without a liver refused.

* IRCAD: both tumours (labels 2 and 3 of the manual masks) found, at most one
  false positive. Also shown: which tumours the candidate stage (dark or bright regions
  inside the liver mask) proposes, before the seeded CT segmenter accepts or
  refuses each candidate.
* HCC_048: no candidate and no lesion outside the liver.
* A thigh CT (IBSI STS_004) run in automatic mode: exit 2 with "no liver in
  this scan".
* The hybrid set (lesions inserted into real livers, ``sample_data/hybrid*.py``),
  its first ``DETECTION_CASES`` cases per real background (the lesion section
  scores all of them, seeded): the whole automatic chain (liver, candidates,
  segmenter) on each case's CT; a detection counts for the inserted lesion
  whose truth mask (fraction >= 0.5) holds its centroid or its seed, else it
  is a false positive, unless it lies in one of the IRCAD background's own
  tumours (its manual masks, on the same grid), which is reported apart.
  Targets: >= 90 % of the lesions >= 10 mm found, at most one false positive
  in any study; the share found is printed per class.
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import numpy as np
from realcases import RealCase, as_series, hcc048, ircad, read_series
from validate import Context, Section, Target

from pipeline import spatial
from pipeline.cli.main import main as cli_main
from pipeline.longitudinal.autodetect import DetectedLesion, detect
from pipeline.longitudinal.liver import segment_ct_liver
from segmentation.ct_lesion import CtLesionSegmenter
from segmentation.detect import DetectionConfig, ct_candidates
from segmentation.liver import LiverConfig

TITLE = "Automatic mode on real anatomy"


def _index(case: RealCase, point: tuple[float, float, float]) -> tuple[int, ...] | None:
    idx = np.round(spatial.lps_to_index_zyx(case.ct.image, np.asarray(point))).astype(int)
    shape = spatial.array_zyx(case.ct.image).shape
    return tuple(int(i) for i in idx) if all(0 <= i < n for i, n in zip(idx, shape, strict=True)) else None


def _detect(case: RealCase) -> tuple[np.ndarray, list[DetectedLesion], list[tuple[int, ...]], float]:
    """The liver, the lesions detected in it, the candidates' seeds, and the seconds taken."""
    start = time.perf_counter()
    liver = segment_ct_liver(case.ct, LiverConfig()).mask_zyx
    image, spacing = spatial.array_zyx(case.ct.image), spatial.spacing_zyx(case.ct.image)
    config = DetectionConfig()
    seeds = [tuple(int(round(v)) for v in c.seed_zyx) for c in ct_candidates(image, spacing, liver, config)]
    found = detect(0, case.ct, None, liver, CtLesionSegmenter(), config, lambda k: f"L{k}")
    return liver, found, seeds, time.perf_counter() - start


def _hybrid_available() -> bool:
    return importlib.util.find_spec("sample_data.hybrid") is not None


DETECTION_CASES = 2


def _hybrid_detection(context: Context, ircad_labels: np.ndarray) -> tuple[list[str], list[Target]]:
    """Detection on the first hybrid cases of every background: rows per class and per study, and targets."""
    import SimpleITK as sitk
    from section_lesions import MEASURABLE_MM, hybrid_cases

    chosen = [c for c in hybrid_cases(context) if int(c.name.rsplit("-", 1)[1]) < DETECTION_CASES]
    # ircad_labels: the IRCAD background's own tumours (labels 2 and 3 of its manual masks, on the same grid):
    # a detection there is a real lesion, neither an inserted one found nor a false positive
    per_class: dict[str, list[int]] = {}
    rows: list[str] = []
    worst_fp = 0
    for case in chosen:
        ct = as_series(read_series(case.study / "CT"), case.name)
        shape = spatial.array_zyx(ct.image).shape
        truth = list(case.references.items())
        masks = [sitk.GetArrayFromImage(sitk.ReadImage(str(ref.path))) >= 0.5 for _, ref in truth]
        assert all(m.shape == shape for m in masks), f"{case.name}: truth masks off the CT grid"
        start = time.perf_counter()
        liver = segment_ct_liver(ct, LiverConfig()).mask_zyx
        found = detect(0, ct, None, liver, CtLesionSegmenter(), DetectionConfig(), lambda k: f"L{k}")
        seconds = time.perf_counter() - start
        real = ircad_labels if case.name.startswith("ircad-") else None
        assert real is None or real.shape == shape, f"{case.name}: IRCAD labels off the CT grid"
        hit: set[int] = set()
        false_positives = real_tumours = 0
        for d in found:
            points = [spatial.lps_to_index_zyx(ct.image, np.asarray(p)) for p in (d.centroid_lps_mm, d.seed_lps_mm)]
            idx = [tuple(int(v) for v in np.round(p)) for p in points]
            inside = [i for i in idx if all(0 <= v < n for v, n in zip(i, shape, strict=True))]
            owners = {k for k, m in enumerate(masks) for i in inside if m[i]}
            hit |= owners
            in_real = not owners and real is not None and any(real[i] in (2, 3) for i in inside)
            real_tumours += in_real
            false_positives += not owners and not in_real
        worst_fp = max(worst_fp, false_positives)
        measurable = [k for k, (_, ref) in enumerate(truth) if (ref.longest_mm or 0.0) >= MEASURABLE_MM]
        for k in measurable:
            per_class.setdefault(truth[k][1].cls, []).append(int(k in hit))
        missed = ", ".join(f"{truth[k][0]} ({truth[k][1].cls})" for k in measurable if k not in hit) or "none"
        rows.append(
            f"  {case.name:<14} {sum(k in hit for k in measurable)} of {len(measurable)} lesions >= 10 mm found, "
            f"{false_positives} false positive(s)"
            + (f", {real_tumours} real tumour(s) of the background" if real is not None else "")
            + f" ({seconds:.0f} s); missed: {missed}"
        )
    total = [v for values in per_class.values() for v in values]
    share = 100.0 * sum(total) / max(len(total), 1)
    rows.append("  found per class: " + ", ".join(f"{c} {sum(v)}/{len(v)}" for c, v in sorted(per_class.items())))
    targets = [
        Target("hybrid lesions >= 10 mm found", ">= 90 %", f"{share:.0f} % of {len(total)}", share >= 90.0),
        Target("hybrid false positives per study", "<= 1", f"max {worst_fp}", worst_fp <= 1),
    ]
    return rows, targets


def run(context: Context) -> Section:
    root = context.realdata
    rows: list[str] = []
    targets: list[Target] = []
    notes: list[str] = []

    case = ircad(root)
    assert case.labels_zyx is not None
    ircad_labels = case.labels_zyx
    liver, found, seeds, seconds = _detect(case)
    tumours = {2: "tumour 1", 3: "tumour 2"}
    proposed = {tumours[case.labels_zyx[s]] for s in seeds if case.labels_zyx[s] in tumours}
    hits, false_positives = set(), 0
    for d in found:
        idx = _index(case, d.centroid_lps_mm)
        label = case.labels_zyx[idx] if idx is not None else 0
        if label in tumours:
            hits.add(tumours[label])
        else:
            false_positives += 1
    rows.append(
        f"  IRCAD: {len(seeds)} candidate(s), proposing {', '.join(sorted(proposed)) or 'no tumour'}; "
        f"{len(found)} lesion(s) detected ({sum(d.longest_diameter_mm is None for d in found)} not measured): "
        f"{', '.join(sorted(hits)) or 'no tumour'}, "
        f"{false_positives} false positive(s) ({seconds:.0f} s)"
    )
    targets += [
        Target("IRCAD tumours found", "2 of 2", f"{len(hits)} of 2", len(hits) == 2),
        Target("IRCAD false positives", "<= 1", str(false_positives), false_positives <= 1),
    ]

    case = hcc048(root)
    liver, found, seeds, seconds = _detect(case)
    outside_candidates = sum(not liver[s] for s in seeds)
    outside = 0
    for d in found:
        idx = _index(case, d.centroid_lps_mm)
        outside += idx is None or not liver[idx]
    rows.append(
        f"  HCC_048: {len(seeds)} candidate(s), {outside_candidates} outside the liver; {len(found)} lesion(s) "
        f"detected, {outside} outside the liver ({seconds:.0f} s)"
    )
    targets += [
        Target("HCC_048 candidates outside liver", "0", str(outside_candidates), outside_candidates == 0),
        Target("HCC_048 lesions outside liver", "0", str(outside), outside == 0),
    ]

    study = root / "ibsi_sts" / "dicom" / "STS_004"
    out = Path(context.work) / "automatic_thigh"
    start = time.perf_counter()
    import contextlib
    import io

    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        code = cli_main(["run", str(study), "-o", str(out), "--auto", "--quiet"])
    message = stderr.getvalue().strip().splitlines()[-1] if stderr.getvalue().strip() else ""
    rows.append(f"  thigh (STS_004), automatic mode: exit {code}: {message} ({time.perf_counter() - start:.0f} s)")
    ok = code == 2 and "no liver in this scan" in message
    targets.append(Target("thigh in automatic mode", 'exit 2, "no liver"', f"exit {code}", ok))

    if _hybrid_available():
        hybrid_rows, hybrid_targets = _hybrid_detection(context, ircad_labels)
        rows += ["", "  hybrid set (first cases of each background), automatic mode:"] + hybrid_rows
        targets += hybrid_targets
    else:
        notes.append("hybrid set (sample_data/hybrid*.py) not available: its >= 90 % detection target is not measured")
    return Section(TITLE, "\n".join(rows), tuple(targets), tuple(notes))
