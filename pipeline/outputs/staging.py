"""``OUT_DIR`` as a transaction: a reader finds the complete previous result, the complete new one, or no
``run.json`` (a state the next run repairs before anything else).

* **Checks first.** :func:`check_output_folder` refuses, before any work, an
  ``OUT_DIR`` that is a file, is not writable, is the study folder, contains it
  or lies inside it, or is a non-empty folder that holds no result of this
  software (so a mistyped ``-o $HOME`` never has entries replaced).
* **One run at a time.** The run holds an exclusive lock on
  ``OUT_DIR/.lesion-pipeline/lock`` from start to end; a second run into the
  same folder is refused (exit 2) rather than interleaved.
* **Staged inside OUT_DIR.** Everything is written into
  ``OUT_DIR/.lesion-pipeline/new/`` (so a writable ``OUT_DIR`` under a
  read-only parent works, and every rename stays on one file system).
* **Journalled commit.** When the run succeeded, a journal listing the entries
  to install and to remove is written (atomically), then ``run.json`` is moved
  out first, each old entry is moved to ``.lesion-pipeline/old/`` and each new
  one into place, ``run.json`` last; the journal is deleted and ``old/``
  emptied. ``run.json`` is therefore present only for a complete result.
* **Repair.** Every run starts (under the lock) with :func:`recover`: a journal
  left by a killed commit is replayed to its end (the new result), a staging
  folder without a journal (a run killed before its commit) is removed. An
  error during the commit itself (e.g. an entry that cannot be moved) undoes
  the moves made so far, so the previous result stays.

Only this software's own entries (:data:`pipeline.outputs.names.OUTPUT_ENTRIES`)
are replaced or removed; anything else in ``OUT_DIR`` is left alone. The
guarantee covers the death of the process (kill, out of memory, crash) at any
instant; after a power failure it rests on the file system's ordering of
renames.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

from pipeline.errors import InputError
from pipeline.outputs import names

log = logging.getLogger(__name__)

WORK_DIR = ".lesion-pipeline"  # inside OUT_DIR: lock, journal, new/ (staging) and old/ (replaced entries)
LOCK_FILE = "lock"
JOURNAL = "journal.json"
NEW, OLD = "new", "old"
TOOL_NAME = "lesion-pipeline"

commit_hook: Callable[[str], None] | None = None
"""Called with a description before every step of a commit (tests stop the process there)."""


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path`` and rename it into place."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _step(description: str) -> None:
    if commit_hook is not None:
        commit_hook(description)


def _exists(path: Path) -> bool:
    return path.exists() or path.is_symlink()


def _remove(path: Path) -> None:
    """Delete a file, a symbolic link (never its target) or a folder tree; errors are logged, not raised."""
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif _exists(path):
            path.unlink()
    except OSError as exc:
        log.warning("could not remove %s (%s); remove it by hand", path, exc.strerror or exc)


def _holds_result(out_dir: Path) -> bool:
    """Whether ``out_dir`` holds (a trace of) a result of this software."""
    if (out_dir / WORK_DIR).is_dir():
        return True
    try:
        manifest = json.loads((out_dir / names.RUN_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and (manifest.get("tool") or {}).get("name") == TOOL_NAME


def _related(a: Path, b: Path) -> bool:
    return a == b or a.is_relative_to(b) or b.is_relative_to(a)


def check_output_folder(out_dir: Path, study_dir: Path | None = None) -> None:
    """Refuse (:class:`InputError`) an output folder that cannot or must not receive a result; writes nothing."""
    out_dir = Path(out_dir)
    resolved = out_dir.resolve()
    if study_dir is not None and _related(resolved, Path(study_dir).resolve()):
        raise InputError(
            f"{out_dir}: the output folder must be outside the study folder {study_dir} and must not contain it"
        )
    if _exists(out_dir) and not out_dir.is_dir():
        raise InputError(f"{out_dir}: exists and is not a folder")
    if out_dir.is_dir():
        if not os.access(out_dir, os.W_OK | os.X_OK):
            raise InputError(f"{out_dir}: output folder is not writable")
        visible = [p for p in out_dir.iterdir() if not p.name.startswith(".")]
        if visible and not _holds_result(out_dir):
            raise InputError(
                f"{out_dir}: folder is not empty and holds no lesion-pipeline result; give a new or empty folder"
            )
        for name in names.OUTPUT_ENTRIES:
            entry = out_dir / name
            if entry.is_dir() and not entry.is_symlink() and not os.access(entry, os.W_OK | os.X_OK):
                raise InputError(f"{entry}: not writable, so the previous result cannot be replaced")
        return
    ancestor = resolved.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir() or not os.access(ancestor, os.W_OK | os.X_OK):
        raise InputError(f"{out_dir}: cannot be created ({ancestor} is not a writable folder)")


def _lock(work: Path) -> int:
    """An exclusive lock on ``work/lock`` (refused at once when another process holds it); returns the fd."""
    path = work / LOCK_FILE
    while True:
        work.mkdir(exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip()
            os.close(fd)
            who = f" (process {holder})" if holder.isdigit() else ""
            raise InputError(f"{work.parent}: another run is writing into this folder{who}") from None
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:  # else the file was replaced between open and lock: lock the current one
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            return fd
        os.close(fd)


def _write_journal(work: Path, install: list[str], remove: list[str]) -> None:
    tmp = work / f"{JOURNAL}.tmp"
    with tmp.open("w", encoding="utf-8") as f:
        json.dump({"install": install, "remove": remove}, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, work / JOURNAL)
    fd = os.open(work, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_journal(work: Path) -> tuple[list[str], list[str]] | None:
    try:
        data = json.loads((work / JOURNAL).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    own = set(names.OUTPUT_ENTRIES)
    install, remove = data.get("install", []), data.get("remove", [])
    if not set(install) | set(remove) <= own:
        raise ValueError(f"{work / JOURNAL} names entries that are not outputs")
    return list(install), list(remove)


def _move(source: Path, target: Path) -> None:
    _step(f"move {source.parent.name}/{source.name} to {target.parent.name}/{target.name}")
    if _exists(target):
        _remove(target)
    os.rename(source, target)


def _roll_forward(out_dir: Path, install: list[str], remove: list[str]) -> None:
    """Bring a journalled commit to its end; every step checks what is done, so a replay continues where it stopped."""
    work = out_dir / WORK_DIR
    new, old = work / NEW, work / OLD
    old.mkdir(exist_ok=True)
    run_json = names.RUN_JSON
    if _exists(new / run_json) and _exists(out_dir / run_json):  # first out: the old result is no longer complete
        _move(out_dir / run_json, old / run_json)
    for name in remove:
        if _exists(out_dir / name):
            _move(out_dir / name, old / name)
    for name in sorted(install, key=lambda n: n == run_json):  # run.json last in
        if not _exists(new / name):
            continue  # installed already
        if _exists(out_dir / name):
            _move(out_dir / name, old / name)
        _move(new / name, out_dir / name)
    _step("delete the journal")
    (work / JOURNAL).unlink()
    _step("remove the previous result")
    _remove(old)
    _remove(new)


def _roll_back(out_dir: Path, install: list[str]) -> None:
    """Undo the moves of an interrupted commit: new entries back to staging, old ones back into place."""
    work = out_dir / WORK_DIR
    new, old = work / NEW, work / OLD
    for name in install:
        if not _exists(new / name) and _exists(out_dir / name):
            os.rename(out_dir / name, new / name)
    if old.is_dir():
        for name in sorted((p.name for p in old.iterdir()), key=lambda n: n == names.RUN_JSON):
            os.rename(old / name, out_dir / name)
    (work / JOURNAL).unlink()


def _remove_legacy_staging(out_dir: Path) -> None:
    """Staging folders of earlier versions (``.OUT.partial-PID`` beside OUT_DIR, ``.NAME.old-PID`` inside it)
    whose process is gone."""
    candidates = [*out_dir.parent.glob(f".{out_dir.name}.partial-*"), *out_dir.glob(".*.old-*")]
    for path in candidates:
        pid = path.name.rsplit("-", 1)[-1]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            _remove(path)
        except PermissionError:
            pass  # alive, another user's


def recover(out_dir: Path) -> None:
    """Repair ``out_dir`` after a killed run; the caller holds the lock (see module docstring)."""
    work = out_dir / WORK_DIR
    journal = _read_journal(work)
    if journal is not None:
        log.warning("%s: completing the commit of a run that was stopped while moving its outputs", out_dir)
        _roll_forward(out_dir, *journal)
    for stale in (work / NEW, work / OLD):
        if _exists(stale):
            _remove(stale)
    _remove_legacy_staging(out_dir)


def repair(out_dir: Path | str) -> None:
    """:func:`recover` under the lock (nothing to do for a folder that holds no result of this software)."""
    out_dir = Path(out_dir)
    if not (out_dir / WORK_DIR).is_dir():
        return
    fd = _lock(out_dir / WORK_DIR)
    try:
        recover(out_dir)
    finally:
        os.close(fd)


def commit(out_dir: Path) -> None:
    """Move the staged entries into ``out_dir`` (see module docstring); on an error, undo and raise."""
    work = out_dir / WORK_DIR
    new = work / NEW
    install = sorted(p.name for p in new.iterdir())
    unknown = set(install) - set(names.OUTPUT_ENTRIES)
    if unknown:
        raise ValueError(f"staged entries that are not outputs: {sorted(unknown)}")
    remove = [n for n in names.OUTPUT_ENTRIES if n not in install and _exists(out_dir / n)]
    try:
        _step("write the journal")
        _write_journal(work, install, remove)
    except OSError as exc:
        _remove(work / JOURNAL)
        _remove(new)
        raise InputError(
            f"{out_dir}: cannot write the commit journal ({exc.strerror or exc}); the previous result is kept"
        ) from exc
    try:
        _roll_forward(out_dir, install, remove)
    except OSError as exc:
        try:
            _roll_back(out_dir, install)
        except OSError:
            raise InputError(
                f"{out_dir}: the outputs could not be moved into place ({exc.strerror or exc}); "
                "the next run into this folder completes the move"
            ) from exc
        _remove(new)
        _remove(work / OLD)
        raise InputError(
            f"{out_dir}: the outputs could not be moved into place ({exc.strerror or exc}); the previous result is kept"
        ) from exc


def _make_folders(out_dir: Path) -> list[Path]:
    """Create ``out_dir`` and its missing parents; returns the folders created, outermost first."""
    missing = []
    path = out_dir
    while not path.exists():
        missing.append(path)
        path = path.parent
    missing.reverse()
    for folder in missing:
        try:
            folder.mkdir()
        except FileExistsError:
            pass
        except OSError as exc:
            raise InputError(f"{out_dir}: cannot create the output folder ({exc.strerror or exc})") from None
    return missing


@contextlib.contextmanager
def staged_output(out_dir: Path | str, study_dir: Path | str | None = None) -> Iterator[Path]:
    """Check and lock ``out_dir``, repair it, and yield the staging folder; commit it when the block succeeds.

    On any exception the staging folder is removed and ``out_dir`` is left as it
    was (a folder this call created is removed again).
    """
    out_dir = Path(out_dir)
    check_output_folder(out_dir, Path(study_dir) if study_dir is not None else None)
    created = _make_folders(out_dir)
    work = out_dir / WORK_DIR
    created_work = not work.exists()
    try:
        fd = _lock(work)
    except BaseException:
        _undo_creation(out_dir, work if created_work else None, created)
        raise
    try:
        try:
            recover(out_dir)
        except (OSError, ValueError) as exc:
            raise InputError(f"{out_dir}: cannot repair the result of an interrupted run ({exc})") from exc
        staging = work / NEW
        staging.mkdir()
        try:
            yield staging
        except BaseException:
            _remove(staging)
            raise
        commit(out_dir)
    except BaseException:
        _undo_creation(out_dir, work if created_work else None, created)
        raise
    finally:
        os.close(fd)


def _undo_creation(out_dir: Path, work: Path | None, created: list[Path]) -> None:
    """Remove the work folder and the output folders a failed run created (only when they are empty)."""
    if work is not None and not _exists(work / JOURNAL):
        with contextlib.suppress(OSError):
            (work / LOCK_FILE).unlink()
        with contextlib.suppress(OSError):
            work.rmdir()
    for folder in reversed(created):
        try:
            folder.rmdir()
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOENT):
                log.debug("could not remove %s: %s", folder, exc)
            break
