"""Discovery: one header-only pass over a folder tree into an index of DICOM slices.

Every regular file is tried as DICOM whatever its name or extension (a
DICOMDIR is not needed and is itself skipped). Only the attributes the later
stages need are parsed (pydicom ``specific_tags``, ``stop_before_pixels``);
the pass also records where each file's pixel data start
(:class:`pipeline.dicom.pixels.PixelFormat`), so loading reads pixels without a
second header pass. Enhanced multi-frame images give one
:class:`InstanceHeader` per frame.

Skipped with a reason naming the file (relative to the scanned folder): empty
files, non-DICOM files, unreadable headers and second copies of an instance
(same SOP Instance UID). Images whose Study, Series or SOP Instance UID is
empty are kept and given deterministic UIDs derived from their content
(:mod:`pipeline.dicom.derived_uids`), with a warning naming them. Header values
that do not conform to the standard but were read anyway (over-long decimal
strings, NUL padding, ...) give one warning per kind, with the number of files
and an example (:mod:`pipeline.dicom.values`); both are kept in ``DicomIndex.notes``. Image files whose pixel data are missing, truncated,
of the wrong length or of absurd size are listed with the reason too but stay
in the index (``pixel_problem``), so that their series is refused by name
rather than silently loaded with a slice missing.

Large trees are scanned by a pool of processes (pydicom's parsing is
CPU-bound, so threads do not help); results are merged in sorted file order,
so the index is the same whatever the number of workers.
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

from pydicom.errors import InvalidDicomError

from pipeline.config import available_cores
from pipeline.dicom.derived_uids import fill_missing_uids
from pipeline.dicom.instance import SPECIFIC_TAGS, InstanceHeader, read_header
from pipeline.errors import InputError, PixelDataProblem

__all__ = ["SPECIFIC_TAGS", "DicomIndex", "InstanceHeader", "default_workers", "discover", "read_header"]

log = logging.getLogger(__name__)

PARALLEL_MIN_FILES = 400  # below this a process pool costs more than it saves
CHUNK_FILES = 64


@dataclass(frozen=True)
class DicomIndex:
    """All DICOM slices found under ``root`` plus the files that were skipped."""

    root: Path
    instances: tuple[InstanceHeader, ...]
    skipped: tuple[tuple[str, str], ...] = field(default=())  # (relative path, reason)
    files_scanned: int = 0
    notes: tuple[str, ...] = field(default=())  # values read leniently, UIDs derived (also logged as warnings)

    def by_series(self) -> dict[str, list[InstanceHeader]]:
        groups: dict[str, list[InstanceHeader]] = defaultdict(list)
        for inst in self.instances:
            groups[inst.series_uid].append(inst)
        return dict(groups)

    def relative(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)


def _files(root: Path) -> Iterator[Path]:
    """Every regular file below ``root`` in a deterministic (sorted) order."""
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames.sort()
        for name in sorted(filenames):
            yield Path(dirpath) / name


def _scan_one(path: Path) -> list[InstanceHeader] | str:
    """Headers of one file, or the reason it is skipped."""
    try:
        return read_header(path)
    except InvalidDicomError:
        return "not a DICOM file"
    except PixelDataProblem as exc:
        return str(exc)
    except (ValueError, OSError, EOFError, AttributeError, KeyError, TypeError, IndexError) as exc:
        return "empty file" if str(exc) == "empty file" else f"unreadable DICOM header ({exc})"
    except Exception as exc:
        return f"unreadable DICOM header ({type(exc).__name__}: {exc})"


def _scan_chunk(paths: Sequence[Path]) -> list[list[InstanceHeader] | str]:
    return [_scan_one(p) for p in paths]


def _scan(paths: list[Path], workers: int) -> list[list[InstanceHeader] | str]:
    if workers <= 1 or len(paths) < PARALLEL_MIN_FILES:
        return _scan_chunk(paths)
    chunks = [paths[i : i + CHUNK_FILES] for i in range(0, len(paths), CHUNK_FILES)]
    try:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            return [result for chunk in pool.map(_scan_chunk, chunks) for result in chunk]
    except (OSError, NotImplementedError, BrokenProcessPool) as exc:  # no process pool on this system
        log.debug("header scan in one process (process pool unavailable: %s)", exc)
        return _scan_chunk(paths)


def default_workers() -> int:
    """Processes for the header scan: the CPUs this process may use, at most 4."""
    return max(1, min(4, available_cores()))


def discover(root: Path | str, ignore: set[Path] | None = None, workers: int | None = None) -> DicomIndex:
    """Scan ``root`` recursively and index every readable DICOM slice.

    ``ignore`` lists files that are known not to be DICOM (e.g. the targets
    file) and are skipped silently. ``workers``: processes for the header scan
    (default :func:`default_workers`; 1 = in this process).
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: not a directory")
    ignore_resolved = {p.resolve() for p in (ignore or set())}
    paths = [p for p in _files(root) if not ignore_resolved or p.resolve() not in ignore_resolved]
    results = _scan(paths, default_workers() if workers is None else workers)
    found: list[InstanceHeader] = []
    skipped: list[tuple[str, str]] = []
    for path, result in zip(paths, results, strict=True):
        if isinstance(result, str):
            skipped.append((str(path.relative_to(root)), result))
        else:
            found.extend(result)
    filled, derived = fill_missing_uids(found, root)
    notes = _value_notes(filled, root)
    if derived:
        notes.append(
            f"{len(derived)} file(s) with empty or missing Study/Series/SOP Instance UIDs (e.g. {derived[0]}): "
            "UIDs derived from their content (deterministic)"
        )
    instances: list[InstanceHeader] = []
    seen_sop: dict[str, Path] = {}
    for inst in filled:
        rel = str(inst.path.relative_to(root))
        first_seen = seen_sop.setdefault(inst.sop_instance_uid, inst.path)
        if first_seen != inst.path:
            if inst.frame_index in (None, 0):
                skipped.append((rel, f"duplicate of {first_seen.relative_to(root)} (same SOP Instance UID)"))
            continue
        instances.append(inst)
        if inst.pixel_problem and inst.frame_index in (None, 0):
            skipped.append((rel, f"pixel data unusable: {inst.pixel_problem} (its series cannot be loaded)"))
    order = {str(p.relative_to(root)): k for k, p in enumerate(paths)}
    skipped.sort(key=lambda s: order.get(s[0], len(paths)))
    for rel, reason in skipped:
        log.warning("skipped %s: %s", rel, reason)
    for note in notes:
        log.warning("%s", note)
    return DicomIndex(root, tuple(instances), tuple(skipped), len(paths), tuple(notes))


def _value_notes(instances: Sequence[InstanceHeader], root: Path) -> list[str]:
    """One line per kind of non-conformant value read anyway: how many files, and an example."""
    files: dict[str, list[str]] = defaultdict(list)
    for inst in instances:
        if inst.frame_index not in (None, 0):
            continue
        for note in inst.value_notes:
            files[note].append(str(inst.path.relative_to(root)))
    return [f"{note} in {len(names)} file(s), e.g. {names[0]}" for note, names in files.items()]
