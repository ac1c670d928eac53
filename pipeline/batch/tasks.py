"""One batch task = one study, run in its own fresh Python process.

:func:`run_isolated` is what a batch worker (a local thread or a Dask worker)
executes: it starts ``python -m pipeline.batch.tasks``, sends it the pickled
:class:`StudyTask` on stdin and reads a one-line JSON :class:`StudyOutcome`
from its stdout. The study's log (stderr of the child) goes to
``OUT_ROOT/batch_logs/<study>.log``. Running each study in a child process isolates
everything that can go wrong with it: an exception, a timeout (the child is
killed), running out of memory or any other death by a signal. The child is
a fresh interpreter (like the ``spawn`` start method), its ITK and BLAS thread
pools are bounded by ``StudyTask.threads``, and it dies with the process that
started it (Linux parent-death signal), so a killed batch leaves no orphan
still writing outputs.

In the child, :func:`execute` removes the study's completion marker, runs
:func:`pipeline.longitudinal.run.run_study` (which stages its outputs and moves them into
place) and writes the marker (:mod:`pipeline.batch.resume`) only when the study's
inputs did not change while it ran.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import pickle
import resource
import shutil
import signal
import subprocess
import sys
import time
import traceback
from dataclasses import asdict, dataclass, replace
from enum import Enum
from pathlib import Path

from pipeline.batch.resume import clear_marker, study_fingerprint, write_marker
from pipeline.config import RunConfig
from pipeline.errors import InputError

log = logging.getLogger(__name__)

PARENT_PID_ENV = "LESION_PIPELINE_BATCH_PARENT"
THREAD_ENV_VARS = (
    "ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS",
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)
_PR_SET_PDEATHSIG = 1


class StudyStatus(str, Enum):
    """State of one study in ``batch_summary.csv``."""

    OK = "ok"  # run now, outputs complete
    SKIPPED = "skipped"  # outputs complete and up to date: not run again
    FAILED = "failed"  # bad input (the message names the file, series or lesion)
    ERROR = "error"  # unexpected exception (traceback in the study's log)
    TIMEOUT = "timeout"  # stopped after the per-study time limit
    KILLED = "killed"  # worker process died (signal, e.g. SIGKILL by the out-of-memory killer)
    PENDING = "pending"  # not finished yet (only in the summary of an interrupted batch)

    @property
    def complete(self) -> bool:
        return self in (StudyStatus.OK, StudyStatus.SKIPPED)


@dataclass(frozen=True)
class StudyTask:
    """Everything a worker needs to run one study; paths must be valid on the worker."""

    study: str
    study_dir: str
    out_dir: str
    log_file: str
    config: RunConfig
    threads: int
    timeout_s: float | None = None
    memory_limit_mb: float | None = None  # data memory of the study's process (RLIMIT_DATA, Linux)
    dicom_out: bool = False  # also write the DICOM SEG and SR


@dataclass(frozen=True)
class StudyOutcome:
    """Result of one study: status, one-line error, wall time and the worker's peak resident memory."""

    study: str
    status: StudyStatus
    error: str = ""
    seconds: float | None = None
    peak_rss_mb: float | None = None


def remove_stale_staging(out_dir: Path) -> None:
    """Remove what a killed run of this study left: staging folders of :func:`pipeline.outputs.staging.staged_output`."""
    for stale in [*out_dir.parent.glob(f".{out_dir.name}.partial-*"), *out_dir.glob(".*.old-*")]:
        shutil.rmtree(stale, ignore_errors=True)


def execute(task: StudyTask) -> StudyOutcome:
    """Run one study in this process (the child) and write its completion marker."""
    from pipeline.longitudinal.run import resolve_targets_path, run_study

    t0 = time.perf_counter()
    study_dir, out_dir = Path(task.study_dir), Path(task.out_dir)
    config = replace(task.config, threads=task.threads)
    status, error = StudyStatus.OK, ""
    try:
        clear_marker(out_dir)
        remove_stale_staging(out_dir)
        targets = resolve_targets_path(study_dir, None)
        before = study_fingerprint(study_dir, targets, config, task.dicom_out)
        run_study(study_dir, out_dir, None, config, dicom_out=task.dicom_out)
        if study_fingerprint(study_dir, targets, config, task.dicom_out) != before:
            raise InputError(f"{study_dir}: files changed while the study was running; run the batch again")
        write_marker(out_dir, before)
    except InputError as exc:
        log.error("%s", exc)
        status, error = StudyStatus.FAILED, str(exc)
    except Exception as exc:
        if isinstance(exc, MemoryError) or any(
            s in str(exc) for s in ("Failed to allocate memory", "bad_alloc")
        ):  # numpy / ITK
            limit = f" (limit {task.memory_limit_mb:g} MB)" if task.memory_limit_mb else ""
            log.error("out of memory%s\n%s", limit, traceback.format_exc())
            status, error = StudyStatus.ERROR, f"out of memory{limit}"
        else:
            log.error("internal error\n%s", traceback.format_exc())
            status, error = StudyStatus.ERROR, f"{type(exc).__name__}: {exc}"
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024.0**2 if sys.platform == "darwin" else 1024.0)
    return StudyOutcome(task.study, status, error, round(time.perf_counter() - t0, 2), round(peak_mb, 1))


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies; exit now if it already has."""
    parent = int(os.environ.get(PARENT_PID_ENV, "0"))
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL))
    if parent and os.getppid() != parent:
        os._exit(3)


def limit_memory(megabytes: float) -> None:
    """Cap this process's data memory (heap and anonymous mappings: numpy and ITK buffers), Linux only."""
    if not sys.platform.startswith("linux"):
        log.warning("the memory limit is only applied on Linux; running without it")
        return
    limit = int(megabytes * 2**20)
    resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))


def _child_main() -> int:
    _die_with_parent()
    task: StudyTask = pickle.load(sys.stdin.buffer)
    if task.memory_limit_mb:
        import pipeline.longitudinal.run  # noqa: F401 - imported before the limit: the limit is for the study's data

        limit_memory(task.memory_limit_mb)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for name in ("pipeline", "segmentation", "measurement"):
        logging.getLogger(name).addHandler(handler)
        logging.getLogger(name).setLevel(logging.INFO)
    outcome = execute(task)
    sys.stdout.write(json.dumps({**asdict(outcome), "status": outcome.status.value}) + "\n")
    sys.stdout.flush()
    return 0


def _died(task: StudyTask, returncode: int, seconds: float) -> StudyOutcome:
    """Outcome of a child that ended without reporting one."""
    remove_stale_staging(Path(task.out_dir))
    if returncode < 0:
        name = signal.Signals(-returncode).name
        hint = " (out of memory? the kernel's OOM killer sends SIGKILL)" if -returncode == signal.SIGKILL else ""
        return StudyOutcome(task.study, StudyStatus.KILLED, f"worker process killed by {name}{hint}", seconds)
    tail = ""
    with contextlib.suppress(OSError):
        lines = Path(task.log_file).read_text(encoding="utf-8", errors="replace").strip().splitlines()
        tail = f": {lines[-1]}" if lines else ""
    return StudyOutcome(task.study, StudyStatus.ERROR, f"worker process exited with status {returncode}{tail}", seconds)


def run_isolated(task: StudyTask) -> StudyOutcome:
    """Run ``task`` in a child process with its time limit; never raises."""
    t0 = time.perf_counter()
    log_file = Path(task.log_file)
    env = {**os.environ, **{var: str(task.threads) for var in THREAD_ENV_VARS}, PARENT_PID_ENV: str(os.getpid())}
    try:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with log_file.open("wb") as log_fh:
            child = subprocess.Popen(
                [sys.executable, "-m", "pipeline.batch.tasks"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log_fh,
                env=env,
            )
            try:
                stdout, _ = child.communicate(pickle.dumps(task), timeout=task.timeout_s)
            except subprocess.TimeoutExpired:
                child.kill()
                child.communicate()
                remove_stale_staging(Path(task.out_dir))
                return StudyOutcome(
                    task.study,
                    StudyStatus.TIMEOUT,
                    f"stopped after the time limit of {task.timeout_s:g} s",
                    round(time.perf_counter() - t0, 2),
                )
        lines = stdout.decode("utf-8", errors="replace").strip().splitlines()
        if child.returncode != 0 or not lines:
            return _died(task, child.returncode, round(time.perf_counter() - t0, 2))
        record = json.loads(lines[-1])
        return StudyOutcome(**{**record, "status": StudyStatus(record["status"])})
    except Exception as exc:
        return StudyOutcome(
            task.study, StudyStatus.ERROR, f"could not run the study's worker process: {type(exc).__name__}: {exc}"
        )


if __name__ == "__main__":  # pragma: no cover - the child process entry point
    sys.exit(_child_main())
