"""Run batch tasks on an existing Dask distributed cluster (``--scheduler``).

Each study is one Dask task executing :func:`pipeline.batch.tasks.run_isolated`
on a worker, which runs the study in a child process there: the failure
isolation, time limit and thread bounds are those of a local batch. A Dask
worker with ``nthreads=k`` runs k studies at once. Workers must have this
package installed and see the study and output folders at the same paths as
the machine that submits the batch (a shared file system).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

from pipeline.batch.tasks import StudyOutcome, StudyStatus, StudyTask, run_isolated
from pipeline.errors import InputError

CONNECT_TIMEOUT = "20s"


def connect(scheduler: str):
    """A client of the cluster behind ``scheduler`` (``tcp://host:port`` or a scheduler file); bad input if unreachable."""
    try:
        from distributed import Client
    except ImportError as exc:
        raise InputError("--scheduler needs dask.distributed: pip install 'dask[distributed]'") from exc
    if "://" not in scheduler and not Path(scheduler).is_file():
        raise InputError(f"{scheduler}: no such Dask scheduler file (or give an address tcp://host:port)")
    try:
        if Path(scheduler).is_file():
            return Client(scheduler_file=scheduler, timeout=CONNECT_TIMEOUT)
        return Client(scheduler, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError, ValueError) as exc:
        raise InputError(f"cannot connect to the Dask scheduler {scheduler}: {exc}") from exc


def run_on_dask(tasks: Sequence[StudyTask], client) -> Iterator[StudyOutcome]:
    """Submit every task through ``client``; yield the outcomes as they finish."""
    from distributed import as_completed
    from distributed.scheduler import KilledWorker

    batch_id = uuid.uuid4().hex[:8]
    futures = {
        client.submit(run_isolated, task, key=f"lesion-pipeline-{batch_id}-{task.study}", pure=False): task
        for task in tasks
    }
    try:
        for future in as_completed(futures):
            task = futures[future]
            try:
                yield future.result()
            except KilledWorker as exc:
                yield StudyOutcome(task.study, StudyStatus.KILLED, f"Dask workers died running it: {exc}")
            except Exception as exc:
                yield StudyOutcome(task.study, StudyStatus.ERROR, f"Dask: {type(exc).__name__}: {exc}")
    finally:  # interrupted: start no further study
        client.cancel(list(futures))
