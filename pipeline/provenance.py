"""Provenance of a run: software versions, stage timings and the warnings raised."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import importlib
import logging
import platform
import resource
import threading
import time
from collections.abc import Iterable, Iterator
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

LOGGERS = ("pipeline", "segmentation", "measurement")
_PACKAGES = ("lesion-pipeline", "numpy", "scipy", "SimpleITK", "pydicom", "scikit-image", "nibabel", "highdicom")


def tree_digest(package_dirs: Iterable[Path]) -> str:
    """SHA-256 (hex) of every ``*.py`` file below the given package folders: relative path and content, sorted."""
    h = hashlib.sha256()
    for root in package_dirs:
        for path in sorted(Path(root).rglob("*.py")):
            h.update(path.relative_to(Path(root).parent).as_posix().encode() + b"\0")
            h.update(path.read_bytes())
    return h.hexdigest()


@functools.lru_cache(maxsize=1)
def source_digest() -> str:
    """:func:`tree_digest` of this project's packages as imported: any code change changes it, version bump or not."""
    return tree_digest(Path(importlib.import_module(name).__file__).parent for name in LOGGERS)  # type: ignore[arg-type]


def software_versions() -> dict[str, str]:
    """Versions of Python, this project and its libraries, and the SHA-256 of this project's source code."""
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    out["lesion-pipeline-source-sha256"] = source_digest()
    return out


class _Collector(logging.Handler):
    def __init__(self, thread_id: int) -> None:
        super().__init__(level=logging.WARNING)
        self.thread_id = thread_id
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread_id:
            self.messages.append(record.getMessage())


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class Provenance:
    """Collects stage timings, memory and warnings during one study's run.

    ``timings_s``: wall seconds per stage, summed over its occurrences; ``peak_rss_mb``: the process's peak
    resident memory (MB) at the end of each stage (the peak of the whole process so far, so a stage that
    raises it is one that needed more memory than every stage before it).
    """

    def __init__(self) -> None:
        self.started = dt.datetime.now(dt.UTC)
        self.timings_s: dict[str, float] = {}
        self.peak_rss_mb: dict[str, float] = {}
        self._collector = _Collector(threading.get_ident())

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.timings_s[name] = self.timings_s.get(name, 0.0) + time.perf_counter() - t0
            self.peak_rss_mb[name] = max(self.peak_rss_mb.get(name, 0.0), peak_rss_mb())

    @contextlib.contextmanager
    def capture_warnings(self) -> Iterator[None]:
        loggers = [logging.getLogger(name) for name in LOGGERS]
        for lg in loggers:
            lg.addHandler(self._collector)
        try:
            yield
        finally:
            for lg in loggers:
                lg.removeHandler(self._collector)

    @property
    def warnings(self) -> list[str]:
        return list(self._collector.messages)
