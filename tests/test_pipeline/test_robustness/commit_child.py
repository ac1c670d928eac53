"""Child process of the commit tests: stage one tagged result into OUT_DIR and commit it.

``python commit_child.py OUT_DIR TAG STOP_AT [raise]``: every staged file holds
``TAG``; the process kills itself with SIGKILL (or, with ``raise``, raises an
OSError) just before commit step ``STOP_AT`` (-1: never). It prints the number
of commit steps taken.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

from pipeline.outputs import names, staging

# the entries of each generation: both write the common ones, each has some the other lacks
COMMON = (names.MEASUREMENTS_CSV, names.RESPONSE_CSV, names.SUMMARY_TXT, names.SUMMARY_JSON, names.REPORT_HTML)
ONLY = {"old": (names.TARGETS_JSON, names.DICOM_DIR), "new": (names.DETECTED_CSV,)}
FOLDERS = {names.MASKS_DIR: ("timepoint_0.nii.gz", "timepoint_1.nii.gz"), names.DICOM_DIR: ("seg_timepoint_0.dcm",)}
FOLDERS_QC = ("lesion_L1_timepoint_0.png", "lesions_timepoint_0.json")


def expected_files(tag: str) -> set[str]:
    """Every file (relative path) of a complete result of generation ``tag``."""
    files = {*COMMON, names.RUN_JSON}
    files |= {f"{names.MASKS_DIR}/{f}" for f in FOLDERS[names.MASKS_DIR]}
    files |= {f"{names.QC_DIR}/{f}" for f in FOLDERS_QC}
    for entry in ONLY[tag]:
        files |= {f"{entry}/{f}" for f in FOLDERS[entry]} if entry in FOLDERS else {entry}
    return files


def write_result(folder: Path, tag: str) -> None:
    for relative in sorted(expected_files(tag) - {names.RUN_JSON}):
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(tag)
    (folder / names.RUN_JSON).write_text(json.dumps({"tool": {"name": "lesion-pipeline"}, "tag": tag}))


def main() -> int:
    out_dir, tag, stop_at = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    fail = len(sys.argv) > 4 and sys.argv[4] == "raise"
    steps = 0

    def hook(description: str) -> None:
        nonlocal steps
        if steps == stop_at:
            if fail:
                raise PermissionError(13, "Permission denied (injected)", description)
            os.kill(os.getpid(), signal.SIGKILL)
        steps += 1

    staging.commit_hook = hook
    try:
        with staging.staged_output(out_dir) as folder:
            write_result(folder, tag)
    finally:
        print(steps, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
