"""The names of everything a run writes into ``OUT_DIR`` (one place, so writers, readers and resume agree)."""

from __future__ import annotations

MEASUREMENTS_CSV = "measurements.csv"
RESPONSE_CSV = "response.csv"
SUMMARY_TXT = "summary.txt"
SUMMARY_JSON = "summary.json"
RUN_JSON = "run.json"  # written last: its presence marks a complete result
REPORT_HTML = "report.html"
TARGETS_JSON = "targets.json"  # the targets used (written in automatic mode, for the user to edit and feed back)
DETECTED_CSV = "detected_lesions.csv"
MASKS_DIR = "masks"
QC_DIR = "qc"
DICOM_DIR = "dicom"

# every entry a run may own in OUT_DIR (a new run replaces these and leaves anything else alone)
OUTPUT_ENTRIES = (
    MEASUREMENTS_CSV,
    RESPONSE_CSV,
    SUMMARY_TXT,
    SUMMARY_JSON,
    MASKS_DIR,
    QC_DIR,
    TARGETS_JSON,
    DETECTED_CSV,
    RUN_JSON,
    REPORT_HTML,
    DICOM_DIR,
)


def lesion_mask(timepoint: int) -> str:
    """The lesion label map of a timepoint, relative to ``OUT_DIR``."""
    return f"{MASKS_DIR}/timepoint_{timepoint}.nii.gz"


def registration_qc(timepoint: int) -> str:
    return f"{QC_DIR}/registration_timepoint_{timepoint}.png"


def lesion_qc(lesion_id: str, timepoint: int) -> str:
    return f"{QC_DIR}/lesion_{lesion_id}_timepoint_{timepoint}.png"


def lesion_qc_index(timepoint: int) -> str:
    """The JSON list of a timepoint's lesion QC images and what each shows."""
    return f"{QC_DIR}/lesions_timepoint_{timepoint}.json"


def dicom_seg(timepoint: int) -> str:
    return f"{DICOM_DIR}/seg_timepoint_{timepoint}.dcm"


def dicom_sr(timepoint: int) -> str:
    return f"{DICOM_DIR}/sr_timepoint_{timepoint}.dcm"
