"""Registration on real anatomy: each real background moved by known motions, lesion centres mapped.

For every real background of :data:`sample_data.retest.BACKGROUNDS` (targets: the IRCAD tumour masks, else
lesions inserted into the real liver), three follow-ups are made by :mod:`sample_data.real_motion` (rigid
motions of up to 4 degrees and 18 mm plus local deformations of up to 7 mm, new noise, the scanned range
clipped where the anatomy left it), registered to the baseline as the pipeline does (liver region from the
background's liver mask), and each lesion centroid mapped; the error is the distance to where the known
motion put it. Targets: mean error <= 1.35 mm (the figure on the synthetic sample study) and every error
<= 3 mm.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from sample_data.real_motion import Motion, moved_followup, where_moved  # noqa: E402
from sample_data.retest import BACKGROUNDS, insert_lesions, load_background  # noqa: E402

TITLE = "Registration on real anatomy moved by a known motion (lesion-centre error)"
MAX_MEAN_MM = 1.35
MAX_ANY_MM = 3.0


def motions(lesions_lps: list[np.ndarray], liver_lps: np.ndarray) -> list[tuple[str, Motion]]:
    first = tuple(float(v) for v in lesions_lps[0])
    return [
        ("rot 3 deg, 16 mm, bump 5 mm", Motion((0.0, 0.0, 3.0), (8.0, -12.0, 6.0), ((first, (3.0, -2.0, 4.0)),))),
        (
            "rot 4.6 deg, 18 mm, bump 7 mm",
            Motion((2.0, -1.0, -4.0), (-10.0, 12.0, -8.0), ((tuple(float(v) for v in liver_lps), (-4.0, 3.0, 5.0)),)),
        ),
        (
            "bumps 7 mm at each lesion",
            Motion(
                (0.0, 0.0, 0.0),
                (0.0, 0.0, 0.0),
                tuple((tuple(float(v) for v in c), (0.0, 5.0, -5.0)) for c in lesions_lps),
            ),
        ),
    ]


def registration_case(name: str, realdata: Path) -> list[tuple[str, str, float, float, float]]:
    """(motion, lesion, displacement mm, error mm, seconds) for one background."""
    import SimpleITK as sitk

    from measurement.volume import centroid_zyx
    from pipeline.config import RegistrationConfig
    from pipeline.longitudinal.register import prepare_reference, register_followup

    background = load_background(name, realdata)
    if not background.lesions_zyx:
        background = insert_lesions(background)
    image = background.image
    assert background.liver_zyx is not None

    def lps(mask: np.ndarray) -> np.ndarray:
        return np.asarray(image.TransformContinuousIndexToPhysicalPoint([float(v) for v in centroid_zyx(mask)[::-1]]))

    lesions = [lps(m) for m in background.lesions_zyx]
    liver = lps(background.liver_zyx)
    roi = sitk.GetImageFromArray(background.liver_zyx.astype(np.uint8))
    roi.CopyInformation(image)
    config = RegistrationConfig()
    reference = prepare_reference(image, config, roi)
    out = []
    for k, (label, motion) in enumerate(motions(lesions, liver)):
        followup, to_baseline = moved_followup(image, liver, motion, seed=k)
        result = register_followup(reference, followup, config)
        for n, centre in enumerate(lesions, start=1):
            truth = where_moved(to_baseline, centre)
            error = float(np.linalg.norm(np.subtract(result.map_point(tuple(centre)), truth)))
            out.append((label, f"T{n}", float(np.linalg.norm(truth - centre)), error, result.elapsed_s))
    return out


def run(context):  # type: ignore[no-untyped-def]
    from validate import (  # type: ignore[import-not-found]  # tests/validation, run as a script
        Section,
        Target,
        format_columns,
    )

    header = ["background", "motion", "lesion", "moved mm", "error mm", "registration s"]
    rows: list[list[str]] = []
    errors: list[float] = []
    notes: list[str] = []
    for name in BACKGROUNDS:
        if not (context.realdata / name).is_dir():
            notes.append(f"{name}: not in {context.realdata}; skipped")
            continue
        for label, lesion, moved, error, seconds in registration_case(name, context.realdata):
            rows.append([name, label, lesion, f"{moved:.1f}", f"{error:.2f}", f"{seconds:.1f}"])
            errors.append(error)
    table = format_columns(header, rows)
    mean = float(np.mean(errors)) if errors else float("inf")
    worst = float(np.max(errors)) if errors else float("inf")
    targets = (
        Target("mean lesion-centre error", f"<= {MAX_MEAN_MM} mm", f"{mean:.2f} mm", mean <= MAX_MEAN_MM),
        Target("largest lesion-centre error", f"<= {MAX_ANY_MM:g} mm", f"{worst:.2f} mm", worst <= MAX_ANY_MM),
    )
    return Section(TITLE, table, targets, tuple(notes))
