"""Provenance of a run: software versions, stage timings and the warnings raised."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import platform
import threading
import time
from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError, version

LOGGERS = ("pipeline", "segmentation", "measurement")
_PACKAGES = ("lesion-pipeline", "numpy", "scipy", "SimpleITK", "pydicom", "scikit-image", "nibabel", "highdicom")


def software_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


class _Collector(logging.Handler):
    def __init__(self, thread_id: int) -> None:
        super().__init__(level=logging.WARNING)
        self.thread_id = thread_id
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread_id:
            self.messages.append(record.getMessage())


class Provenance:
    """Collects stage timings and warnings during one study's run."""

    def __init__(self) -> None:
        self.started = dt.datetime.now(dt.timezone.utc)
        self.timings_s: dict[str, float] = {}
        self._collector = _Collector(threading.get_ident())

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.timings_s[name] = self.timings_s.get(name, 0.0) + time.perf_counter() - t0

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
