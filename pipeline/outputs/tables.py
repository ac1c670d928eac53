"""Writers of the run's outputs, and the staging folder that makes them atomic.

Everything is written into a hidden staging folder beside ``OUT_DIR`` and
moved into place only when the run succeeded (``run.json`` last), so a failed
or killed run never leaves a half-written CSV in ``OUT_DIR``.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from pipeline.records import StudyResult

MEASUREMENT_COLUMNS = (
    "patient_id",
    "timepoint",
    "study_date",
    "days_from_baseline",
    "lesion_id",
    "status",
    "longest_diameter_mm",
    "short_axis_mm",
    "max_3d_diameter_mm",
    "volume_ml",
    "mean_hu",
    "suv_max",
    "suv_peak",
    "suv_mean",
    "centroid_x_mm",
    "centroid_y_mm",
    "centroid_z_mm",
)
RESPONSE_COLUMNS = (
    "patient_id",
    "timepoint",
    "study_date",
    "days_from_baseline",
    "sum_diameters_mm",
    "change_from_baseline_pct",
    "change_from_nadir_pct",
    "recist",
    "total_volume_ml",
    "volume_change_pct",
    "volumetric",
    "choi",
    "percist",
    "sul_peak",
    "liver_reference_sul",
)
OUTPUT_ENTRIES = (
    "measurements.csv",
    "response.csv",
    "summary.txt",
    "summary.json",
    "masks",
    "qc",
    "targets.json",
    "detected_lesions.csv",
    "run.json",
    "report.html",
    "dicom",
)


def fmt(value: object, digits: int = 2) -> str:
    """CSV cell: empty for ``None``, fixed decimals for floats."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _csv_text(columns: tuple[str, ...], rows: list[list[str]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return buf.getvalue()


def measurements_csv(result: StudyResult) -> str:
    rows = []
    for tp in result.timepoints:
        for lesion in tp.lesions:
            c = lesion.centroid_lps_mm or (None, None, None)
            rows.append(
                [
                    result.patient_id,
                    str(tp.index),
                    tp.study_date.isoformat() if tp.study_date else "",
                    fmt(tp.days_from_baseline),
                    lesion.lesion_id,
                    lesion.status,
                    fmt(lesion.longest_diameter_mm),
                    fmt(lesion.short_axis_mm),
                    fmt(lesion.max_3d_diameter_mm),
                    fmt(lesion.volume_ml, 3),
                    fmt(lesion.mean_hu, 1),
                    fmt(lesion.suv_max, 3),
                    fmt(lesion.suv_peak, 3),
                    fmt(lesion.suv_mean, 3),
                    fmt(c[0]),
                    fmt(c[1]),
                    fmt(c[2]),
                ]
            )
    return _csv_text(MEASUREMENT_COLUMNS, rows)


def _other_criteria(result: StudyResult, k: int) -> list[str]:
    """volumetric, choi, percist, sul_peak, liver_reference_sul of timepoint ``k`` (see pipeline.longitudinal.assess)."""
    a = result.assessment
    if a is None:
        return [""] * 5
    percist = a.percist[k] if a.percist else None
    reference = percist.reference if percist else None
    return [
        a.volumetric[k].category.value if a.volumetric else "",
        a.choi[k].category.value if a.choi else "",
        percist.category.value if percist else "",
        fmt(percist.sul_peak if percist else None, 3),
        fmt(reference.mean_sul if reference is not None and reference.kind == "liver" else None, 3),
    ]


def response_csv(result: StudyResult) -> str:
    rows = []
    base_volume = result.total_volume_ml[0] if result.total_volume_ml else None
    for k, (tp, assessment, volume) in enumerate(
        zip(result.timepoints, result.recist, result.total_volume_ml, strict=True)
    ):
        volume_change = 100.0 * (volume - base_volume) / base_volume if base_volume and tp.index > 0 else None
        rows.append(
            [
                result.patient_id,
                str(tp.index),
                tp.study_date.isoformat() if tp.study_date else "",
                fmt(tp.days_from_baseline),
                fmt(assessment.sum_diameters_mm),
                fmt(assessment.change_from_baseline_pct, 1),
                fmt(assessment.change_from_nadir_pct, 1),
                assessment.category.value,
                fmt(volume, 3),
                fmt(volume_change, 1),
                *_other_criteria(result, k),
            ]
        )
    return _csv_text(RESPONSE_COLUMNS, rows)


def summary_json(result: StudyResult) -> dict[str, object]:
    """Per-patient summary: best overall response and time to progression per criterion, per-timepoint categories."""
    baseline = result.timepoints[0] if result.timepoints else None
    out: dict[str, object] = {
        "patient_id": result.patient_id,
        "baseline_study_date": baseline.study_date.isoformat() if baseline and baseline.study_date else None,
    }
    if result.assessment is not None:
        out.update(result.assessment.summary)
    return out


def write_label_map(path: Path, labels_zyx: np.ndarray, reference: sitk.Image) -> None:
    """NIfTI label map in ``reference``'s space (SimpleITK writes the LPS->RAS affine)."""
    image = sitk.GetImageFromArray(labels_zyx)
    image.CopyInformation(reference)
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(image, str(path), useCompression=True)


def write_json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path`` and rename it into place."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


@contextlib.contextmanager
def staged_output(out_dir: Path) -> Iterator[Path]:
    """Yield a staging folder; on success move its entries into ``out_dir`` (run.json last).

    On any exception the staging folder is removed and ``out_dir`` is left as
    it was. Only the pipeline's own entries (:data:`OUTPUT_ENTRIES`) are
    replaced in an existing ``out_dir``; an own entry that this run did not
    write (e.g. ``dicom/`` of an earlier run with ``--dicom-out``) is removed,
    so the folder never mixes two runs.
    """
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = out_dir.parent / f".{out_dir.name}.partial-{os.getpid()}"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    out_dir.mkdir(parents=True, exist_ok=True)
    # an interrupted earlier commit is never mistaken for a complete one: run.json goes first out, last in
    with contextlib.suppress(FileNotFoundError):
        (out_dir / "run.json").unlink()
    entries = sorted(p.name for p in staging.iterdir())
    for name in sorted(set(OUTPUT_ENTRIES) - set(entries)):
        stale = out_dir / name
        if stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale, ignore_errors=True)
        elif stale.exists() or stale.is_symlink():
            stale.unlink()
    for name in sorted(entries, key=lambda n: n == "run.json"):
        target = out_dir / name
        source = staging / name
        if source.is_dir():
            old = out_dir / f".{name}.old-{os.getpid()}"
            if target.exists():
                target.rename(old)
            source.rename(target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(source, target)
    shutil.rmtree(staging, ignore_errors=True)
