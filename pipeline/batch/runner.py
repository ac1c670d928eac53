"""Batch: every immediate sub-folder of STUDIES_ROOT is one study, run into OUT_ROOT/<name>/.

* Parallel: ``workers`` studies at once on this machine, each in its own
  process with ``threads`` ITK/BLAS threads (default: cores // workers), or on
  a Dask cluster (``scheduler``); see :mod:`pipeline.batch.tasks`.
* Isolated: a study that fails (bad input, exception, time limit, worker
  killed) is recorded in ``batch_summary.csv`` and the others go on.
* Resumable: a study whose outputs are complete and whose inputs, targets,
  parameters and software are unchanged is skipped (:mod:`pipeline.batch.resume`);
  ``resume=False`` runs every study again.
* Cohort outputs are rebuilt from the per-study outputs at the end
  (:mod:`pipeline.batch.cohort`).

``batch_summary.csv`` (``study,status,error,seconds,peak_rss_mb``, one row per
study in name order) is rewritten each time a study finishes, so an
interrupted batch leaves a summary with the unfinished studies ``pending``.
Only one batch at a time may write into an OUT_ROOT (a lock file).
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import io
import logging
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from pipeline.batch.cohort import write_cohort_outputs
from pipeline.batch.resume import study_fingerprint, up_to_date
from pipeline.batch.tasks import StudyOutcome, StudyStatus, StudyTask, run_isolated
from pipeline.config import RunConfig, available_cores
from pipeline.errors import InputError
from pipeline.outputs.staging import atomic_write_text
from pipeline.targets.json_file import TARGETS_FILENAME

log = logging.getLogger(__name__)

SUMMARY_COLUMNS = ("study", "status", "error", "seconds", "peak_rss_mb")
LOCK_FILE = ".batch.lock"
LOG_DIR = "batch_logs"

__all__ = ["SUMMARY_COLUMNS", "StudyOutcome", "StudyStatus", "available_cores", "run_batch"]


def list_studies(studies_root: Path, out_root: Path) -> list[Path]:
    """The study folders: non-hidden sub-folders of ``studies_root`` other than ``out_root``, by name."""
    if not studies_root.is_dir():
        raise InputError(f"{studies_root}: not a directory")
    studies = sorted(
        p for p in studies_root.iterdir() if p.is_dir() and not p.name.startswith(".") and p.resolve() != out_root
    )
    if not studies:
        raise InputError(f"{studies_root}: no study sub-folders")
    if any(p.name == LOG_DIR for p in studies):
        raise InputError(f"{studies_root / LOG_DIR}: a study may not be named {LOG_DIR} (the batch's log folder)")
    return studies


@contextlib.contextmanager
def _exclusive(out_root: Path) -> Iterator[None]:
    """Hold an exclusive lock on OUT_ROOT for the whole batch (released by the OS if the batch dies)."""
    with (out_root / LOCK_FILE).open("a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputError(f"{out_root}: another batch is writing into this folder") from None
        yield


def _summary_csv(outcomes: dict[str, StudyOutcome]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(SUMMARY_COLUMNS)
    for name in sorted(outcomes):
        o = outcomes[name]
        writer.writerow(
            [
                o.study,
                o.status.value,
                o.error,
                "" if o.seconds is None else f"{o.seconds:.2f}",
                "" if o.peak_rss_mb is None else f"{o.peak_rss_mb:.1f}",
            ]
        )
    return buf.getvalue()


def _run_locally(tasks: Sequence[StudyTask], workers: int) -> Iterator[StudyOutcome]:
    """Each of ``workers`` threads starts one study's process at a time and waits for it."""
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="study")
    try:
        futures = [pool.submit(run_isolated, task) for task in tasks]
        for future in as_completed(futures):
            yield future.result()
    finally:  # interrupted: start no further study
        pool.shutdown(wait=True, cancel_futures=True)


def _plan(
    studies: list[Path], out_root: Path, config: RunConfig, resume: bool, options: Mapping[str, object]
) -> tuple[dict[str, StudyOutcome], list[StudyTask]]:
    """Skip the up-to-date studies (when resuming); one task for each of the others (``options``:
    the :class:`StudyTask` fields common to all: threads, time and memory limits, dicom_out)."""
    outcomes: dict[str, StudyOutcome] = {}
    tasks: list[StudyTask] = []
    for study in studies:
        out_dir = out_root / study.name
        fingerprint = study_fingerprint(study, study / TARGETS_FILENAME, config, bool(options.get("dicom_out")))
        done, why = up_to_date(out_dir, fingerprint)
        if resume and done:
            outcomes[study.name] = StudyOutcome(study.name, StudyStatus.SKIPPED)
            continue
        log.debug("%s: to run (%s)", study.name, why if resume else "--force")
        outcomes[study.name] = StudyOutcome(study.name, StudyStatus.PENDING)
        log_file = out_root / LOG_DIR / f"{study.name}.log"
        tasks.append(StudyTask(study.name, str(study), str(out_dir), str(log_file), config, **options))  # type: ignore[arg-type]
    return outcomes, tasks


def run_batch(
    studies_root: Path | str,
    out_root: Path | str,
    config: RunConfig | None = None,
    *,
    workers: int = 1,
    threads: int | None = None,
    scheduler: str | None = None,
    resume: bool = True,
    timeout_s: float | None = None,
    memory_limit_mb: float | None = None,
    dicom_out: bool = False,
) -> list[StudyOutcome]:
    """Run every sub-folder of ``studies_root`` into ``out_root``; never stops on a failing study.

    ``threads`` (ITK and BLAS threads per study) defaults to
    ``max(1, cores // workers)`` locally and to 1 on a Dask cluster.
    ``timeout_s`` limits each study's wall time, ``memory_limit_mb`` its
    process's data memory (a study that needs more fails as out of memory);
    ``dicom_out`` also writes each study's DICOM SEG and SR. Returns one
    outcome per study, in name order.
    """
    config = config or RunConfig()
    studies_root, out_root = Path(studies_root).resolve(), Path(out_root).resolve()
    if workers < 1 or (threads is not None and threads < 1) or (timeout_s is not None and timeout_s <= 0):
        raise InputError("workers and threads must be at least 1 and the timeout positive")
    if memory_limit_mb is not None and memory_limit_mb <= 0:
        raise InputError("the memory limit must be positive")
    studies = list_studies(studies_root, out_root)
    if threads is None:
        threads = 1 if scheduler else max(1, available_cores() // workers)
    with contextlib.ExitStack() as stack:
        if scheduler:
            from pipeline.batch.dask_cluster import connect, run_on_dask

            client = stack.enter_context(connect(scheduler))
        out_root.mkdir(parents=True, exist_ok=True)
        stack.enter_context(_exclusive(out_root))
        options = dict(threads=threads, timeout_s=timeout_s, memory_limit_mb=memory_limit_mb, dicom_out=dicom_out)
        outcomes, tasks = _plan(studies, out_root, config, resume, options)
        log.info(
            "%d studies: %d up to date, %d to run (%s, %d thread(s) per study)",
            len(studies),
            len(studies) - len(tasks),
            len(tasks),
            f"Dask scheduler {scheduler}" if scheduler else f"{workers} local worker(s)",
            threads,
        )
        atomic_write_text(out_root / "batch_summary.csv", _summary_csv(outcomes))
        if tasks:
            finished = run_on_dask(tasks, client) if scheduler else _run_locally(tasks, workers)
            for k, outcome in enumerate(finished, start=1):
                outcomes[outcome.study] = outcome
                atomic_write_text(out_root / "batch_summary.csv", _summary_csv(outcomes))
                detail = f": {outcome.error}" if outcome.error else ""
                level = logging.INFO if outcome.status.complete else logging.ERROR
                log.log(level, "[%d/%d] %s: %s%s", k, len(tasks), outcome.study, outcome.status.value, detail)
        in_order = [outcomes[name] for name in sorted(outcomes)]
        write_cohort_outputs(out_root, in_order)
    return in_order
