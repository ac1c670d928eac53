"""Folders made once per test run and shared by every pytest-xdist worker (and by a run without xdist)."""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest


def shared_folder(tmp_path_factory: pytest.TempPathFactory, name: str, make: Callable[[Path], None]) -> Path:
    """``BASE/shared/name``, made by ``make(folder)`` in the first worker that asks for it.

    ``BASE`` is the run's temporary folder, which the xdist workers of one run have in common; a file lock makes
    the other workers wait for the first one, and a marker file records that the folder is complete (a worker
    whose ``make`` failed leaves no marker, so the next one tries again). Callers only read the folder.
    """
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the run's folder above each worker's own
    root = base / "shared"
    root.mkdir(exist_ok=True)
    folder, done = root / name, root / f"{name}.done"
    with (root / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            make(folder)
            done.touch()
    return folder
