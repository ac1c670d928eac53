"""QC figures drawn in a second process while the run goes on.

Drawing a figure (matplotlib layout, text, PNG encoding) takes about as long as
segmenting a lesion and needs nothing but the small arrays of the figure: the
run prepares them (crops, resampled planes) and hands the drawing to one worker
process, so that on a machine with two cores the figures cost little of the run's
wall time. Every figure is drawn by the same function, from the same arrays, in
the worker or in the run's own process: the images are the same.

The worker is started with ``spawn`` (no copy of the run's threads); where no
child process can be started (a daemonic process, e.g. a batch worker, or a system
without process support), or where the run has a memory limit (a batch study's),
the figures are drawn in the run's process, as they are with ``workers=0``.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1  # prctl option: the signal this process gets when its parent dies

Submit = Callable[..., None]  # submit(draw, *args): draw(*args), here or in a worker


def draw_here(draw: Callable[..., None], *args: Any) -> None:
    """Draw now, in this process (the default of the figure writers)."""
    draw(*args)


def _start(parent: int) -> None:
    """Import the figure writers (and matplotlib) when the worker starts, before the first figure arrives; on
    Linux the worker is killed with the run's process ``parent`` (no orphan holding the run's output pipes when
    a batch kills a study), and it exits at once if that process is already gone."""
    import importlib

    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL))
    if os.getppid() != parent:
        os._exit(3)

    for module in ("qc_lesion", "qc_liver", "qc_registration"):
        importlib.import_module(f"pipeline.outputs.{module}")


def _memory_limited() -> bool:
    """Whether this process runs under a memory limit (address space or data, e.g. a batch study's): its figures are
    then drawn in it, within the limit, not by a worker outside it."""
    try:
        import resource
    except ImportError:  # not on this system
        return False
    limits = (resource.getrlimit(r)[0] for r in (resource.RLIMIT_AS, resource.RLIMIT_DATA))
    return any(limit != resource.RLIM_INFINITY for limit in limits)


def _ready() -> None:
    """Nothing: submitted first, it starts the worker."""


class Drawing:
    """Where a run's figures are drawn: :meth:`submit` a drawing function and its arguments, :meth:`wait` for them.

    ``workers``: 1 (a worker process) or 0 (in this process). A drawing that fails raises its error at
    :meth:`wait`.
    """

    def __init__(self, workers: int = 1) -> None:
        self._pool: ProcessPoolExecutor | None = None
        self._pending: list[Future[Any]] = []
        self._workers = 0 if multiprocessing.current_process().daemon or _memory_limited() else workers

    def start(self) -> None:
        """Start the worker now (it imports the figure writers while the run goes on); else at the first figure."""
        if self._pool is not None or self._workers <= 0:
            return
        self._workers = 0  # one attempt
        try:
            self._pool = ProcessPoolExecutor(
                1, mp_context=multiprocessing.get_context("spawn"), initializer=_start, initargs=(os.getpid(),)
            )
            self._pending.append(self._pool.submit(_ready))
        except (OSError, NotImplementedError, AssertionError) as exc:  # no child process here
            log.debug("figures drawn in this process (no worker process: %s)", exc)
            self._pool = None

    def submit(self, draw: Callable[..., None], *args: Any) -> None:
        """Draw ``draw(*args)`` in the worker (in this process when there is none)."""
        self.start()
        if self._pool is not None:
            try:
                self._pending.append(self._pool.submit(draw, *args))
                return
            except RuntimeError as exc:  # the pool broke or was shut down
                log.debug("figures drawn in this process (worker unavailable: %s)", exc)
                self._pool = None
        draw(*args)

    def wait(self) -> None:
        """Block until every submitted figure is written; raise the first drawing error."""
        pending, self._pending = self._pending, []
        for future in pending:
            future.result()

    def close(self) -> None:
        """Wait for the figures and stop the worker."""
        try:
            self.wait()
        finally:
            if self._pool is not None:
                self._pool.shutdown()
                self._pool = None

    def __enter__(self) -> Drawing:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is not None and self._pool is not None:  # the run failed: do not wait for its figures
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
            return
        self.close()
