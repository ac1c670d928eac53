"""``sort``: split a mixed PACS export into one study folder per patient, ready for ``batch``.

Every DICOM object of the export (images, RTSTRUCT, SEG, SR, ...) goes to
``STUDIES_ROOT/<patient>/<its path relative to the export>``, where
``<patient>`` is the short hash of its PatientID that ``inspect`` shows
(never the ID itself; files without a PatientID all go to one folder, with a
warning). Files are copied (default; modification times kept)
or symbolically linked (``link``); nothing in the export is moved, changed or
deleted. Files that are not DICOM, unreadable, DICOMDIRs or second copies of
an instance are not sorted and are listed with the reason.

Before anything is written, every destination is checked: a file already in
place with the same content (a repeated sort) is left as it is; a different
file there stops the sort with a message naming it, so a sort never
overwrites. ``STUDIES_ROOT/sort_summary.csv`` lists every file of the export
with where it went (or why it was not sorted).
"""

from __future__ import annotations

import csv
import filecmp
import io
import logging
import os
import shutil
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from pipeline.dicom.discover import discover
from pipeline.dicom.inspection import patient_key
from pipeline.errors import InputError

log = logging.getLogger(__name__)

SUMMARY_FILENAME = "sort_summary.csv"


class SortMode(StrEnum):
    COPY = "copy"
    LINK = "link"


@dataclass(frozen=True)
class PatientFolder:
    """What went into one patient's study folder."""

    folder: str
    files: int
    studies: int
    series_by_modality: dict[str, int] = field(default_factory=dict)
    without_patient_id: bool = False  # the files have no PatientID: several patients may share the folder


@dataclass(frozen=True)
class SortSummary:
    export_dir: Path
    studies_root: Path
    mode: SortMode
    patients: tuple[PatientFolder, ...]
    written: int  # files copied or linked now
    present: int  # files already in place with the same content
    not_sorted: tuple[tuple[str, str], ...]  # (path relative to the export, reason)

    def text(self) -> str:
        """The summary for the terminal."""
        verb = "copied" if self.mode is SortMode.COPY else "linked"
        lines = [
            f"{self.export_dir} -> {self.studies_root}: {sum(p.files for p in self.patients)} DICOM files of "
            f"{len(self.patients)} patient(s) ({self.written} {verb}, {self.present} already in place)"
        ]
        for p in self.patients:
            series = ", ".join(f"{m} x{n}" for m, n in sorted(p.series_by_modality.items()))
            lines.append(
                f"  {p.folder}/  {p.files} files, {p.studies} stud{'y' if p.studies == 1 else 'ies'}, {series}"
            )
            if p.without_patient_id:
                lines.append("    (no PatientID: the files of every patient without one are in this folder)")
        if self.not_sorted:
            reasons = Counter(_kind(r) for _, r in self.not_sorted)
            lines.append(
                f"  not sorted: {len(self.not_sorted)} file(s) ("
                + ", ".join(f"{k} {n}" for k, n in sorted(reasons.items()))
                + ")"
            )
            lines += [f"    {f}: {r}" for f, r in self.not_sorted[:10]]
            if len(self.not_sorted) > 10:
                lines.append(f"    ... and {len(self.not_sorted) - 10} more (see {SUMMARY_FILENAME})")
        lines.append(f"  every file and where it went: {self.studies_root / SUMMARY_FILENAME}")
        return "\n".join(lines) + "\n"


def _kind(reason: str) -> str:
    for kind in ("not a DICOM file", "empty file", "DICOMDIR", "duplicate"):
        if kind in reason:
            return kind
    return "unreadable"


def _check_folders(export_dir: Path, studies_root: Path) -> None:
    if not export_dir.is_dir():
        raise InputError(f"{export_dir}: export folder not found")
    src, dst = export_dir.resolve(), studies_root.resolve()
    if dst == src or dst.is_relative_to(src) or src.is_relative_to(dst):
        raise InputError(f"{studies_root}: the studies root must not be the export folder, inside it or around it")


def _same(src: Path, dst: Path, mode: SortMode) -> bool:
    if mode is SortMode.LINK and dst.is_symlink():
        return Path(os.readlink(dst)) == src.resolve()
    return dst.is_file() and not dst.is_symlink() and filecmp.cmp(src, dst, shallow=False)


def sort_export(
    export_dir: Path | str, studies_root: Path | str, mode: SortMode | str = SortMode.COPY, workers: int | None = None
) -> SortSummary:
    """Sort the export into one folder per patient (see module docstring); the summary of what went where."""
    export_dir, studies_root, mode = Path(export_dir), Path(studies_root), SortMode(mode)
    _check_folders(export_dir, studies_root)
    index = discover(export_dir, workers=workers)
    by_file: dict[Path, str] = {}
    studies: dict[str, set[str]] = defaultdict(set)
    series: dict[str, dict[str, str]] = defaultdict(dict)
    anonymous = patient_key("")
    for inst in index.instances:
        key = patient_key(inst.patient_id)
        by_file.setdefault(inst.path, key)
        studies[key].add(inst.study_uid)
        series[key][inst.series_uid] = inst.modality or "(no modality)"
    indexed = {index.relative(p) for p in by_file}
    not_sorted = tuple((f, r) for f, r in index.skipped if f not in indexed)
    plan = [(src, studies_root / key / src.relative_to(export_dir)) for src, key in by_file.items()]
    present = {dst for src, dst in plan if (dst.exists() or dst.is_symlink()) and _same(src, dst, mode)}
    for _, dst in plan:
        if dst not in present and (dst.exists() or dst.is_symlink()):
            raise InputError(f"{dst}: a different file is already there; nothing was sorted")
    for src, dst in plan:
        if dst in present:
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        if mode is SortMode.LINK:
            dst.symlink_to(src.resolve())
        else:
            shutil.copy2(src, dst)
    verb = "copied" if mode is SortMode.COPY else "linked"
    rows = [
        (index.relative(src), str(dst.relative_to(studies_root)), "already in place" if dst in present else verb)
        for src, dst in plan
    ] + [(f, "", f"not sorted: {r}") for f, r in not_sorted]
    _write_summary(studies_root / SUMMARY_FILENAME, sorted(rows))
    files_per_patient = Counter(by_file.values())
    patients = tuple(
        PatientFolder(
            key, files_per_patient[key], len(studies[key]), dict(Counter(series[key].values())), key == anonymous
        )
        for key in sorted(files_per_patient)
    )
    summary = SortSummary(export_dir, studies_root, mode, patients, len(plan) - len(present), len(present), not_sorted)
    log.info("sorted %d files into %d patient folder(s)", len(plan), len(patients))
    if anonymous in files_per_patient:
        log.warning("%d file(s) without PatientID sorted together into %s/", files_per_patient[anonymous], anonymous)
    return summary


def _write_summary(path: Path, rows: list[tuple[str, str, str]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["source", "destination", "status"])
    writer.writerows(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(buffer.getvalue(), encoding="utf-8")
    tmp.replace(path)
