"""Which targets a run uses, and which files of the study folder look like input but are not read.

Targets come from ``--targets FILE``, else from ``STUDY_DIR/targets.json``;
without either a run needs ``--auto`` (automatic mode), so that a wrong folder
(e.g. the parent of the study folder, whose ``targets.json`` lies one level
down) is an error instead of a silent switch to automatic mode. Files that
look like input (JSON, TOML, NIfTI and other image files) but are not read are
listed with the reason, so the user sees what was used and what was ignored.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import TargetsError
from pipeline.targets.json_file import TARGETS_FILENAME

IMAGE_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".mha", ".mhd")
INPUT_LIKE_SUFFIXES = (".json", ".toml", *IMAGE_SUFFIXES)
MAX_LISTED = 5  # input-like files named one by one in the log (all of them in run.json)


@dataclass(frozen=True)
class TargetsChoice:
    """The targets file to read (``None``: automatic mode) and the input-like files not read, with the reason."""

    path: Path | None
    ignored: tuple[tuple[str, str], ...] = ()  # (path relative to the study folder, why it is not read)


def input_like_files(study_dir: Path) -> list[Path]:
    """Files under ``study_dir`` whose name ends in one of :data:`INPUT_LIKE_SUFFIXES` (sorted)."""
    found = []
    for folder, _, files in os.walk(study_dir):
        found += [Path(folder) / f for f in files if f.lower().endswith(INPUT_LIKE_SUFFIXES)]
    return sorted(found)


def _why_not_read(path: Path, study_dir: Path) -> str:
    name = path.name.lower()
    if name == TARGETS_FILENAME and path.parent == study_dir:
        return "not read: --targets names another file"
    if name.endswith(".json") and "target" in name:
        return f"not read: targets are read only from STUDY_DIR/{TARGETS_FILENAME} or --targets FILE"
    if name.endswith(".toml"):
        return "not read: a configuration file is used only with --config FILE"
    if name.endswith(IMAGE_SUFFIXES):
        return "not read: images in the study folder are read only as DICOM"
    return "not read: not DICOM"


def choose_targets(study_dir: Path, targets_file: Path | str | None, automatic: bool) -> TargetsChoice:
    """The targets of a run (see module docstring); raises :class:`TargetsError` when there are none and
    ``automatic`` is false, naming both ways and any ``targets.json`` found deeper in the folder."""
    default = study_dir / TARGETS_FILENAME
    path = Path(targets_file) if targets_file is not None else (default if default.is_file() else None)
    used = path.resolve() if path is not None else None
    others = [p for p in input_like_files(study_dir) if p.resolve() != used]
    if path is None and not automatic:
        nested = [p for p in others if p.name.lower() == TARGETS_FILENAME]
        hint = (
            f"; {nested[0].relative_to(study_dir)} lies in a sub-folder: is the study folder {nested[0].parent}?"
            if nested
            else ""
        )
        raise TargetsError(
            f"{study_dir}: no targets: give --targets FILE or put {TARGETS_FILENAME} in the study folder, "
            f"or use --auto to detect the lesions and choose the targets automatically{hint}"
        )
    ignored = tuple((str(p.relative_to(study_dir)), _why_not_read(p, study_dir)) for p in others)
    return TargetsChoice(path, ignored)
