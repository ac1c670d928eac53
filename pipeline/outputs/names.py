"""The names of everything a run writes into ``OUT_DIR`` (one place, so writers, readers and resume agree).

Names are built only from fixed words, counters (timepoint indices) and
validated lesion ids (:data:`pipeline.targets.json_file.LESION_ID_PATTERN`);
:func:`inside` joins one to a folder and checks that the result stays inside it.
"""

from __future__ import annotations

from pathlib import Path

MEASUREMENTS_CSV = "measurements.csv"
RESPONSE_CSV = "response.csv"
BEST_RESPONSE_CSV = "best_response.csv"
SUMMARY_TXT = "summary.txt"
SUMMARY_JSON = "summary.json"
RUN_JSON = "run.json"  # written last: its presence marks a complete result
REPORT_HTML = "report.html"
REPORT_PDF = "report.pdf"
TARGETS_JSON = "targets.json"  # the targets used (written in automatic mode, for the user to edit and feed back)
DETECTED_CSV = "detected_lesions.csv"
MASKS_DIR = "masks"
QC_DIR = "qc"
DICOM_DIR = "dicom"

# every entry a run may own in OUT_DIR (a new run replaces these and leaves anything else alone)
OUTPUT_ENTRIES = (
    MEASUREMENTS_CSV,
    RESPONSE_CSV,
    BEST_RESPONSE_CSV,
    SUMMARY_TXT,
    SUMMARY_JSON,
    MASKS_DIR,
    QC_DIR,
    TARGETS_JSON,
    DETECTED_CSV,
    RUN_JSON,
    REPORT_HTML,
    REPORT_PDF,
    DICOM_DIR,
)


def lesion_mask(timepoint: int) -> str:
    """The lesion label map of a timepoint, relative to ``OUT_DIR``."""
    return f"{MASKS_DIR}/timepoint_{int(timepoint)}.nii.gz"


def liver_mask(timepoint: int) -> str:
    """The liver mask of a timepoint (1 = liver, CT grid), relative to ``OUT_DIR``."""
    return f"{MASKS_DIR}/liver_timepoint_{timepoint}.nii.gz"


def registration_qc(timepoint: int) -> str:
    return f"{QC_DIR}/registration_timepoint_{int(timepoint)}.png"


def lesion_qc(lesion_id: str, timepoint: int) -> str:
    # imported here: the names, and the staging that uses them, are read without the targets schema and its imports
    from pipeline.targets.json_file import is_lesion_id

    if not is_lesion_id(lesion_id):
        raise ValueError(f"{lesion_id!r} is not a valid lesion id")
    return f"{QC_DIR}/lesion_{lesion_id}_timepoint_{int(timepoint)}.png"


def liver_qc(timepoint: int) -> str:
    """The liver QC image of a timepoint (shown in the report's liver section when present)."""
    return f"{QC_DIR}/liver_timepoint_{timepoint}.png"


def lesion_qc_index(timepoint: int) -> str:
    """The JSON list of a timepoint's lesion QC images and what each shows."""
    return f"{QC_DIR}/lesions_timepoint_{int(timepoint)}.json"


def dicom_seg(timepoint: int) -> str:
    return f"{DICOM_DIR}/seg_timepoint_{int(timepoint)}.dcm"


def dicom_sr(timepoint: int) -> str:
    return f"{DICOM_DIR}/sr_timepoint_{int(timepoint)}.dcm"


def inside(folder: Path, name: str) -> Path:
    """``folder / name``, refused (``ValueError``) unless it resolves to a path inside ``folder``.

    ``name`` is one of the names above; the check guards against a name or an
    existing symbolic link that would lead a writer out of the output folder.
    """
    path = Path(folder) / name
    base = Path(folder).resolve()
    if path.resolve() == base or not path.resolve().is_relative_to(base):
        raise ValueError(f"{name!r} would be written outside {folder}")
    return path
