"""Shared helpers of the benchmarks (run by ``make bench``; not collected by pytest).

Importing this module sets one BLAS/OpenMP thread (OPENBLAS_NUM_THREADS, OMP_NUM_THREADS, MKL_NUM_THREADS),
as the command line does, unless the environment sets them already: a benchmark then times the pipeline as a
user runs it, without BLAS threads competing with ITK's for the cores (which made the time of the
segment+measure stage vary from run to run). Each benchmark imports it before numpy; the
processes it starts inherit the setting.
"""

from __future__ import annotations

import os

for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import resource
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "sample_data" / "generated" / "demo"


def full_size_study(seed: int = 1) -> Path:
    """The full-size sample study (the demo's when it exists), generated if needed."""
    from sample_data.generate import generate_study, is_current

    root = DEMO if seed == 1 else REPO / "sample_data" / "generated" / f"bench-seed{seed}"
    if not is_current(root, seed, "full"):
        print(f"generating the full-size sample study into {root} ...", flush=True)
        generate_study(root, seed=seed, size="full", force=True)
    return root


def _cpu_s() -> float:
    """User + system CPU seconds of this process and of its finished children (e.g. a header-scan pool)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _measured(fn: Callable[..., Any], args: tuple) -> tuple[Any, float, float, float]:
    start, cpu = time.perf_counter(), _cpu_s()
    result = fn(*args)
    wall, cpu = time.perf_counter() - start, _cpu_s() - cpu
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return result, wall, peak_mb, cpu


def in_fresh_process_cpu(fn: Callable[..., Any], *args: Any) -> tuple[Any, float, float, float]:
    """Run ``fn(*args)`` in a new process: (result, wall seconds of fn, peak RSS of that process in MB, CPU
    seconds of fn: user + system, of the process and the children it waited for)."""
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(_measured, fn, args).result()


def in_fresh_process(fn: Callable[..., Any], *args: Any) -> tuple[Any, float, float]:
    """Run ``fn(*args)`` in a new process: (result, wall seconds of fn, peak RSS of that process in MB)."""
    result, wall, peak, _ = in_fresh_process_cpu(fn, *args)
    return result, wall, peak


def load_average() -> str:
    """The machine's load (1, 5 and 15 minute averages): timings on a busy machine are longer."""
    return "load average " + ", ".join(f"{v:.2f}" for v in os.getloadavg())
