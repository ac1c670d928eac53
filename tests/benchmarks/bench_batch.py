"""Benchmark of batch processing on generated full-size studies (run by ``make bench``, not a test).

Measures, on N full-size 3-timepoint studies (``sample-data --size full``,
seeds 1..N, generated once into ``sample_data/generated/bench/``):

* one study end to end (``lesion-pipeline run``, 2 threads): wall time, peak
  resident memory, per-stage timings from ``run.json`` (target <= 60 s, < 3 GB);
* the batch with 1 worker (the reference: studies one after the other, 2
  ITK/BLAS threads each) and with 2 workers (1 thread each): wall time,
  studies per hour, mean per-stage timings, peak memory per worker, CPU time;
* the speed-up of 2 workers over 1 (target >= 1.7 on 2 cores), and whether
  both batches gave byte-identical cohort CSVs. The reference is the best a
  single worker does (2 threads: ITK's multi-threaded filters already use
  part of the second core). For the scaling of workers alone, a third batch
  runs 1 worker x 1 thread, and its ratio is printed too.

The machine may be shared: the load average and the CPU share the benchmark
obtained are printed next to the figures; ``BENCH_REPEATS=R`` runs each batch
R times, alternating, and keeps the fastest. Environment: ``BENCH_BATCH_STUDIES``
(N, default 4), ``BENCH_REPEATS`` (default 1).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from pipeline.batch.runner import available_cores
from sample_data.generate import generate_study, is_current

ROOT = Path(__file__).resolve().parents[2] / "sample_data" / "generated" / "bench"
TARGET_STUDY_S, TARGET_RSS_GB, TARGET_SPEEDUP = 60.0, 3.0, 1.7
CLI = [sys.executable, "-m", "pipeline.cli.main"]


def _generate(seed: int) -> Path:
    out = ROOT / "gen" / f"seed_{seed}"
    if not is_current(out, seed, "full"):
        generate_study(out, seed=seed, size="full", force=True)
    return out / "study"


def studies_root(n: int) -> Path:
    """``ROOT/studies_N/patient_K`` -> generated full-size study K (generated in parallel when missing)."""
    root = ROOT / f"studies_{n}"
    missing = [seed for seed in range(1, n + 1) if not is_current(ROOT / "gen" / f"seed_{seed}", seed, "full")]
    if missing:
        print(f"generating {len(missing)} full-size studies (once) into {ROOT / 'gen'} ...", flush=True)
        with ProcessPoolExecutor(max_workers=min(2, len(missing))) as pool:
            list(pool.map(_generate, missing))
    root.mkdir(parents=True, exist_ok=True)
    for seed in range(1, n + 1):
        link = root / f"patient_{seed:03d}"
        if not link.exists():
            link.symlink_to(_generate(seed), target_is_directory=True)
    return root


def _schedstat(pid: int) -> dict[str, tuple[int, int]]:
    """Per thread of ``pid``: (ns on a CPU, ns ready to run but waiting for a CPU) from /proc (Linux)."""
    out = {}
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            on_cpu, waiting, _ = (int(x) for x in (task / "schedstat").read_text().split())
            out[task.name] = (on_cpu, waiting)
        except (OSError, ValueError):
            pass
    return out


def timed(cmd: list[str]) -> dict[str, float]:
    """Run ``cmd``: wall s, CPU s (with all its descendants), peak RSS MB, and the main thread's CPU and run-queue wait s."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    threads: dict[str, tuple[int, int]] = {}
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        threads.update(_schedstat(proc.pid))
        time.sleep(0.1)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)} exited with {os.waitstatus_to_exitcode(status)}")
    main_cpu, main_wait = threads.get(str(proc.pid), (0, 0))
    return {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "rss_mb": usage.ru_maxrss / 1024.0,
        "main_cpu": main_cpu / 1e9,
        "main_wait": main_wait / 1e9,
    }


def stage_means(run_jsons: list[Path]) -> dict[str, float]:
    totals: dict[str, float] = {}
    for path in run_jsons:
        for stage, seconds in json.loads(path.read_text())["timings_s"].items():
            totals[stage] = totals.get(stage, 0.0) + seconds
    return {stage: total / len(run_jsons) for stage, total in sorted(totals.items(), key=lambda kv: -kv[1])}


def fmt_stages(stages: dict[str, float]) -> str:
    return ", ".join(f"{stage} {seconds:.1f}" for stage, seconds in stages.items() if seconds >= 0.05)


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min) / {five:.1f} (5 min) on {os.cpu_count()} cores"


def batch(root: Path, out: Path, workers: int, n: int, threads: int | None = None) -> dict[str, float]:
    shutil.rmtree(out, ignore_errors=True)
    print(f"  before: {load()}", flush=True)
    threads = threads or max(1, available_cores() // workers)
    cmd = [
        *CLI,
        "batch",
        str(root),
        "-o",
        str(out),
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--force",
        "--quiet",
    ]
    run = timed(cmd)
    wall, cpu = run["wall"], run["cpu"]
    with (out / "batch_summary.csv").open(newline="") as f:
        summary = list(csv.DictReader(f))
    assert all(row["status"] == "ok" for row in summary), summary
    peak_mb = max(float(row["peak_rss_mb"]) for row in summary)
    stages = stage_means(sorted(out.glob("patient_*/run.json")))
    print(
        f"  {workers} worker(s) x {threads} thread(s): {n} studies in {wall:.1f} s = {3600 * n / wall:.0f} studies/hour; "
        f"peak memory per worker {peak_mb:.0f} MB; CPU {cpu:.1f} s "
        f"({100 * cpu / (wall * available_cores()):.0f} % of {available_cores()} cores)\n"
        f"  mean per-study stage timings (s): {fmt_stages(stages)}",
        flush=True,
    )
    return {"wall": wall, "cpu": cpu, "peak_mb": peak_mb}


def main() -> int:
    n = int(os.environ.get("BENCH_BATCH_STUDIES", "4"))
    root = studies_root(n)
    out = ROOT / "results"
    print(f"bench_batch: {n} full-size 3-timepoint studies; {available_cores()} usable cores; {load()}", flush=True)

    print("one study end to end (lesion-pipeline run, 2 threads):", flush=True)
    single_out = out / "single"
    shutil.rmtree(single_out, ignore_errors=True)
    single = timed([*CLI, "run", str(root / "patient_001"), "-o", str(single_out), "--threads", "2", "--quiet"])
    wall, rss_mb = single["wall"], single["rss_mb"]
    print(
        f"  wall {wall:.1f} s (target <= {TARGET_STUDY_S:.0f}: {'met' if wall <= TARGET_STUDY_S else 'MISSED'}), "
        f"CPU {single['cpu']:.1f} s, peak memory {rss_mb:.0f} MB (target < {TARGET_RSS_GB * 1024:.0f}: "
        f"{'met' if rss_mb < TARGET_RSS_GB * 1024 else 'MISSED'})\n"
        f"  stage timings (s): {fmt_stages(stage_means([single_out / 'run.json']))}\n"
        f"  main thread: {single['main_cpu']:.1f} s on a CPU ({100 * single['main_cpu'] / single['cpu']:.0f} % of the CPU time), "
        f"{single['main_wait']:.1f} s ready to run but waiting for a CPU (held by other processes); "
        f"wall without that wait ~{wall - single['main_wait']:.1f} s, "
        f"i.e. {single['cpu'] / max(wall - single['main_wait'], 1e-9):.2f} cores busy on average",
        flush=True,
    )

    runs: dict[int, list[dict[str, float]]] = {1: [], 2: []}
    for _ in range(int(os.environ.get("BENCH_REPEATS", "1"))):
        print("batch, reference = 1 worker (studies one after the other):", flush=True)
        runs[1].append(batch(root, out / "workers_1", 1, n))
        print("batch, 2 workers:", flush=True)
        runs[2].append(batch(root, out / "workers_2", 2, n))
    print("batch, 1 worker x 1 thread (for the scaling of workers alone):", flush=True)
    one_thread = batch(root, out / "workers_1_thread_1", 1, n, threads=1)
    one, two = (min(runs[w], key=lambda r: r["wall"]) for w in (1, 2))
    speedup = one["wall"] / two["wall"]
    identical = all(
        (out / "workers_1" / name).read_bytes() == (out / "workers_2" / name).read_bytes()
        for name in ("measurements.csv", "response.csv")
    )
    peak = max(one["peak_mb"], two["peak_mb"])
    print(
        f"fastest of {len(runs[1])} run(s) each: {one['wall']:.1f} s (1 worker), {two['wall']:.1f} s (2 workers)\n"
        f"speed-up of 2 workers over 1: {speedup:.2f}x (target >= {TARGET_SPEEDUP}: {'met' if speedup >= TARGET_SPEEDUP else 'MISSED'}); "
        f"CPU seconds per study {one['cpu'] / n:.1f} (1 worker) vs {two['cpu'] / n:.1f} (2 workers)\n"
        f"2 workers x 1 thread over 1 worker x 1 thread: {one_thread['wall'] / two['wall']:.2f}x\n"
        f"peak memory per worker {peak:.0f} MB (target < {TARGET_RSS_GB * 1024:.0f}: {'met' if peak < TARGET_RSS_GB * 1024 else 'MISSED'}); "
        f"cohort CSVs identical between 1 and 2 workers: {identical}\n"
        f"after: {load()}",
        flush=True,
    )
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
