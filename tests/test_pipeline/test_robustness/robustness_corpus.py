"""Helpers of the robustness corpus: damage generated DICOM files; run the command line in this process."""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pydicom

from pipeline.progress import LIBRARY_LOGGERS, PROJECT_LOGGERS


def edit(paths: Iterable[Path], change: Callable[[pydicom.Dataset], None]) -> None:
    """Rewrite each file with ``change`` applied to its dataset (a new file: hard links stay intact)."""
    for path in paths:
        ds = pydicom.dcmread(path)
        change(ds)
        path.unlink()
        ds.save_as(path)


def setting(**values: object) -> Callable[[pydicom.Dataset], None]:
    def change(ds: pydicom.Dataset) -> None:
        for keyword, value in values.items():
            if value is None:
                delattr(ds, keyword)
            else:
                setattr(ds, keyword, value)

    return change


@contextlib.contextmanager
def cli_logging() -> Iterator[None]:
    """Run the command line in this process and put back the logging set-up it changes (handlers, levels,
    ``warnings.showwarning``), so that later tests do not log into a closed capture stream."""
    loggers = [logging.getLogger(name) for name in (*PROJECT_LOGGERS, *LIBRARY_LOGGERS)]
    saved = [(lg, lg.handlers[:], lg.level, lg.propagate) for lg in loggers]
    show = warnings.showwarning
    try:
        yield
    finally:
        warnings.showwarning = show
        for lg, handlers, level, propagate in saved:
            lg.handlers[:] = handlers
            lg.setLevel(level)
            lg.propagate = propagate
