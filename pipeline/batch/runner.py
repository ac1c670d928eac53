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
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from pipeline.batch.cohort import COHORT_TABLES, write_cohort_outputs
from pipeline.batch.resume import study_fingerprint, up_to_date
from pipeline.batch.tasks import StudyOutcome, StudyStatus, StudyTask, run_isolated
from pipeline.config import RunConfig, available_cores
from pipeline.errors import InputError
from pipeline.outputs.report.cohort import COHORT_REPORT_NAME
from pipeline.outputs.staging import atomic_write_text
from pipeline.targets.json_file import TARGETS_FILENAME

log = logging.getLogger(__name__)

SUMMARY_COLUMNS = ("study", "status", "error", "seconds", "peak_rss_mb")
LOCK_FILE = ".batch.lock"
LOG_DIR = "batch_logs"
SUMMARY_CSV = "batch_summary.csv"
# what the batch itself writes into OUT_ROOT: a study folder of one of these names cannot have its outputs there
RESERVED_NAMES = frozenset({LOG_DIR, SUMMARY_CSV, *COHORT_TABLES, COHORT_REPORT_NAME})

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
    return studies


def check_out_root(studies_root: Path, out_root: Path) -> None:
    """Refuse an OUT_ROOT that is a file, is not writable, or is STUDIES_ROOT itself (before any work)."""
    if out_root == studies_root:
        raise InputError(f"{out_root}: the output root must differ from the folder of the studies")
    if out_root.exists() and not out_root.is_dir():
        raise InputError(f"{out_root}: exists and is not a folder")
    existing = out_root
    while not existing.exists():
        existing = existing.parent
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f"{out_root}: not writable")


def _refused(study: Path) -> str | None:
    """Why a study cannot be run into OUT_ROOT whatever its content (its name), or ``None``."""
    if study.name in RESERVED_NAMES:
        return f"the study folder name {study.name!r} is the name of a batch output in the output root; rename it"
    return None


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
    the :class:`StudyTask` fields common to all: threads, time and memory limits, dicom_out, automatic, pdf)."""
    outcomes: dict[str, StudyOutcome] = {}
    tasks: list[StudyTask] = []
    for study in studies:
        out_dir = out_root / study.name
        try:
            if (why_not := _refused(study)) is not None:
                raise InputError(why_not)
            fingerprint = study_fingerprint(
                study, study / TARGETS_FILENAME, config, bool(options.get("dicom_out")), bool(options.get("pdf"))
            )
        except InputError as exc:
            log.error("%s: %s", study.name, exc)
            outcomes[study.name] = StudyOutcome(study.name, StudyStatus.FAILED, str(exc))
            continue
        done, why = up_to_date(out_dir, fingerprint)
        if resume and done:
            outcomes[study.name] = StudyOutcome(study.name, StudyStatus.SKIPPED)
            continue
        log.debug("%s: to run (%s)", study.name, why if resume else "--force")
        outcomes[study.name] = StudyOutcome(study.name, StudyStatus.PENDING)
        log_file = out_root / LOG_DIR / f"{study.name}.log"
        tasks.append(StudyTask(study.name, str(study), str(out_dir), str(log_file), config, **options))  # type: ignore[arg-type]
    return outcomes, tasks


def _check_limits(workers: int, threads: int | None, timeout_s: float | None, memory_limit_mb: float | None) -> None:
    """Raise :class:`InputError` unless workers and threads are at least 1 and the limits positive."""
    if workers < 1 or (threads is not None and threads < 1) or (timeout_s is not None and timeout_s <= 0):
        raise InputError("workers and threads must be at least 1 and the timeout positive")
    if memory_limit_mb is not None and memory_limit_mb <= 0:
        raise InputError("the memory limit must be positive")


def _log_plan(
    n_studies: int,
    outcomes: Mapping[str, StudyOutcome],
    n_tasks: int,
    scheduler: str | None,
    workers: int,
    threads: int,
) -> None:
    """One log line: studies up to date, studies to run, where and with how many threads."""
    log.info(
        "%d studies: %d up to date, %d to run (%s, %d thread(s) per study)",
        n_studies,
        sum(o.status is StudyStatus.SKIPPED for o in outcomes.values()),
        n_tasks,
        f"Dask scheduler {scheduler}" if scheduler else f"{workers} local worker(s)",
        threads,
    )


def _record_finished(
    outcomes: dict[str, StudyOutcome], finished: Iterable[StudyOutcome], n_tasks: int, out_root: Path
) -> None:
    """Record each study's outcome as it finishes: ``summary.csv`` rewritten and one log line."""
    for k, outcome in enumerate(finished, start=1):
        outcomes[outcome.study] = outcome
        atomic_write_text(out_root / SUMMARY_CSV, _summary_csv(outcomes))
        detail = f": {outcome.error}" if outcome.error else ""
        level = logging.INFO if outcome.status.complete else logging.ERROR
        log.log(level, "[%d/%d] %s: %s%s", k, n_tasks, outcome.study, outcome.status.value, detail)


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
    automatic: bool = False,
    pdf: bool = False,
) -> list[StudyOutcome]:
    """Run every sub-folder of ``studies_root`` into ``out_root``; never stops on a failing study.

    ``threads`` (ITK and BLAS threads per study) defaults to
    ``max(1, cores // workers)`` locally and to 1 on a Dask cluster.
    ``timeout_s`` limits each study's wall time, ``memory_limit_mb`` its
    process's data memory (a study that needs more fails as out of memory);
    ``dicom_out`` also writes each study's DICOM SEG and SR; ``automatic``
    runs the studies without a ``targets.json`` in automatic mode (without it
    they fail as bad input); ``pdf`` prints each study's ``report.pdf``.
    Returns one outcome per study, in name order.
    """
    config = config or RunConfig()
    studies_root, out_root = Path(studies_root).resolve(), Path(out_root).resolve()
    _check_limits(workers, threads, timeout_s, memory_limit_mb)
    check_out_root(studies_root, out_root)
    studies = list_studies(studies_root, out_root)
    if threads is None:
        threads = 1 if scheduler else max(1, available_cores() // workers)
    with contextlib.ExitStack() as stack:
        if scheduler:
            from pipeline.batch.dask_cluster import connect, run_on_dask

            client = stack.enter_context(connect(scheduler))
        out_root.mkdir(parents=True, exist_ok=True)
        stack.enter_context(_exclusive(out_root))
        options = dict(
            threads=threads,
            timeout_s=timeout_s,
            memory_limit_mb=memory_limit_mb,
            dicom_out=dicom_out,
            automatic=automatic,
            pdf=pdf,
        )
        outcomes, tasks = _plan(studies, out_root, config, resume, options)
        _log_plan(len(studies), outcomes, len(tasks), scheduler, workers, threads)
        atomic_write_text(out_root / SUMMARY_CSV, _summary_csv(outcomes))
        if tasks:
            finished = run_on_dask(tasks, client) if scheduler else _run_locally(tasks, workers)
            _record_finished(outcomes, finished, len(tasks), out_root)
        in_order = [outcomes[name] for name in sorted(outcomes)]
        write_cohort_outputs(out_root, in_order)
    return in_order
