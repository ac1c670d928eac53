"""Helpers of the robustness corpus: damage generated DICOM files."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import pydicom


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
