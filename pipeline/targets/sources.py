"""Where the targets come from: ``targets.json``, 3D Slicer markups, or a viewer's DICOM SR, SEG or RTSTRUCT.

``--targets`` names a file or a folder; a folder's files are all read (in name
order) and their targets put together (a lesion id may appear only once). The
kind of each file is told by its content, not its name:

* JSON: ``targets.json`` (:mod:`pipeline.targets.json_file`, with the reader's
  annotations) or a 3D Slicer markups file (:mod:`pipeline.targets.markups`);
* DICOM: a measurement report (SR, :mod:`pipeline.targets.sr`), a segmentation
  (SEG, :mod:`pipeline.targets.seg`) or a structure set (RTSTRUCT,
  :mod:`pipeline.targets.rtstruct`).

JSON files are read before the study's images; the DICOM ones need the
study's index (their coordinates refer to its images), so they are read after
discovery, against the baseline.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import pydicom
from pydicom.errors import InvalidDicomError

from pipeline.dicom.discover import DicomIndex
from pipeline.errors import TargetsError
from pipeline.targets.annotations import Annotations, read_annotations
from pipeline.targets.geometry import ImageLookup
from pipeline.targets.json_file import Target, parse_targets
from pipeline.targets.markups import is_markups, targets_from_markups
from pipeline.targets.rtstruct import read_rtstruct_targets
from pipeline.targets.seg import read_seg_targets
from pipeline.targets.sr import read_sr_targets

MAX_JSON_BYTES = 10_000_000
DICOM_KINDS = {"SR": "measurement report", "SEG": "segmentation", "RTSTRUCT": "structure set"}
READERS = {"SR": read_sr_targets, "SEG": read_seg_targets, "RTSTRUCT": read_rtstruct_targets}


@dataclass(frozen=True)
class TargetSource:
    """The files ``--targets`` named, sorted into JSON ones (read at once) and DICOM ones (read with the study)."""

    path: Path
    json_files: tuple[Path, ...]
    dicom_files: tuple[tuple[Path, str], ...]  # (file, Modality)

    @property
    def files(self) -> set[Path]:
        """Every file of the source (the study's discovery skips them)."""
        return {*self.json_files, *(p for p, _ in self.dicom_files)}


def _kind(path: Path) -> str | None:
    """``"json"``, a DICOM Modality, or ``None`` for a file that is neither."""
    with path.open("rb") as f:
        head = f.read(132)
    if head.lstrip()[:1] in (b"{", b"["):
        return "json"
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["Modality"])
    except (InvalidDicomError, OSError, ValueError, EOFError):
        return None
    return str(ds.get("Modality", "")) or None


def target_source(path: Path) -> TargetSource:
    """Sort the file(s) ``path`` names; refuse what is not a targets file of a known kind."""
    if not path.exists():
        raise TargetsError(f"{path}: targets file not found")
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    json_files, dicom_files = [], []
    for f in files:
        kind = _kind(f)
        if kind == "json":
            json_files.append(f)
        elif kind in DICOM_KINDS:
            dicom_files.append((f, kind))
        elif not path.is_dir():
            what = f"a DICOM {kind} object" if kind else "neither JSON nor DICOM"
            raise TargetsError(
                f"{f}: not a targets file ({what}; expected targets.json, .mrk.json, SR, SEG or RTSTRUCT)"
            )
    if not json_files and not dicom_files:
        raise TargetsError(f"{path}: no targets file in the folder (targets.json, .mrk.json, SR, SEG or RTSTRUCT)")
    return TargetSource(path, tuple(json_files), tuple(dicom_files))


def _read_json(path: Path) -> object:
    if path.stat().st_size > MAX_JSON_BYTES:
        raise TargetsError(f"{path}: larger than {MAX_JSON_BYTES // 1_000_000} MB")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise TargetsError(f"{path}: cannot read targets file ({exc})") from None
    except json.JSONDecodeError as exc:
        raise TargetsError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    except RecursionError:
        raise TargetsError(f"{path}: JSON nested too deeply") from None


def read_json_targets(source: TargetSource) -> tuple[tuple[Target, ...], Annotations]:
    """The targets of the source's JSON files, with the annotations of its targets.json (if any)."""
    targets: list[Target] = []
    annotations = Annotations()
    for path in source.json_files:
        data = _read_json(path)
        if is_markups(data):
            targets += targets_from_markups(data, path.name)  # type: ignore[arg-type]
            continue
        found = parse_targets(data, str(path))
        targets += [t if t.origin else replace(t, origin=path.name) for t in found]
        annotations = read_annotations(path, {t.lesion_id for t in found})
    return tuple(targets), annotations


def read_dicom_targets(source: TargetSource, index: DicomIndex, baseline_study_uid: str) -> tuple[Target, ...]:
    """The targets of the source's DICOM files, placed through the study's images."""
    targets: list[Target] = []
    for path, modality in source.dicom_files:
        images = ImageLookup(index, baseline_study_uid, str(path))
        targets += READERS[modality](path, images)
    return tuple(targets)


def combine(parts: list[tuple[Target, ...]], source: TargetSource) -> tuple[Target, ...]:
    """All targets, each lesion id once."""
    out: list[Target] = []
    seen: dict[str, str] = {}
    for t in (t for part in parts for t in part):
        if t.lesion_id in seen:
            raise TargetsError(
                f"{source.path}: lesion id {t.lesion_id!r} given twice ({seen[t.lesion_id]}; {t.origin})"
            )
        seen[t.lesion_id] = t.origin
        out.append(t)
    return tuple(out)
