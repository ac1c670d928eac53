"""Benchmark (``make bench``, not a test): loading a 512x512x300 CT against dcm2niix, and the header scan.

Prints, measured in this run on this machine:

* wall time of discover + select + load of the CT (in-process, after imports)
  and of ``lesion-pipeline convert`` end to end, each over ``dcm2niix -z n`` on
  the same folder (target: load <= 1.3x);
* peak memory of the load above the process's memory after imports, over the
  int16 volume (target <= 2.5x), and dcm2niix's peak resident memory;
* files per second of the header scan of a 10,000-file tree, with the default
  process pool and in one process.

Inputs are generated once into ``sample_data/generated/bench/`` (reused).
Timings are the median and the minimum of 9 interleaved runs of each tool,
after one warm-up run (page cache warm for both tools); the ratio is given for
both (the minimum is the run least disturbed by the rest of the machine, as
``timeit`` recommends). The machine is shared: the load average is printed,
and the ratios are only meaningful when it is low.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dcm2niix

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))

from inputs import big_tree, ct_series_300

from sample_data.generate import generate_study, is_current

BENCH = ROOT / "sample_data" / "generated" / "bench"
VOLUME_BYTES = 300 * 512 * 512 * 2
RUNS = 9

LOAD_SCRIPT = """
import json, sys, time
from pipeline.dicom.discover import discover
from pipeline.dicom.load import load_ct
from pipeline.dicom.selection import select_timepoints

def kb(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1])

base = kb("VmRSS:")
t0 = time.perf_counter()
index = discover(sys.argv[1])
ct = load_ct(select_timepoints(index)[0].ct_candidates[0], index.root)
elapsed = time.perf_counter() - t0
print(json.dumps({"seconds": elapsed, "peak_above_base_bytes": (kb("VmHWM:") - base) * 1024, "size": ct.image.GetSize()}))
"""


TIMER = """
import json, resource, subprocess, sys, time
t0 = time.perf_counter()
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(json.dumps([time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024]))
"""


def _timed(cmd: list[str]) -> tuple[float, int]:
    """Wall seconds and peak resident memory (bytes) of ``cmd``, run from a small timer process
    (so that the peak is the command's, not that of a fork of this process)."""
    result = subprocess.run([sys.executable, "-c", TIMER, *cmd], capture_output=True, text=True, check=True)
    seconds, peak = json.loads(result.stdout)
    return float(seconds), int(peak)


def _dcm2niix(series: Path, out: Path) -> tuple[float, int]:
    for f in out.glob("*"):
        f.unlink()
    return _timed([str(dcm2niix.bin), "-z", "n", "-b", "n", "-f", "ct", "-o", str(out), str(series)])


def _ours(series: Path) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", LOAD_SCRIPT, str(series)], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def bench_ct_load() -> None:
    series = ct_series_300(BENCH / "ct300")
    lesion_pipeline = str(Path(sys.executable).with_name("lesion-pipeline"))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        _dcm2niix(series, out), _ours(series)  # warm-up: page cache, imports
        ref, ours, conv = [], [], []
        for _ in range(RUNS):  # interleaved, so that other load on the machine hits both tools alike
            ref.append(_dcm2niix(series, out))
            ours.append(_ours(series))
            conv.append(_timed([lesion_pipeline, "convert", str(series), "-o", str(out / "ours.nii"), "-q"]))
    ref_s = statistics.median(r[0] for r in ref)
    ref_min = min(r[0] for r in ref)
    ref_mem = max(r[1] for r in ref)
    load_s = statistics.median(o["seconds"] for o in ours)
    load_min = min(o["seconds"] for o in ours)
    load_mem = max(o["peak_above_base_bytes"] for o in ours)
    conv_s = statistics.median(c[0] for c in conv)
    print(
        f"CT 512x512x300 ({ours[0]['size']}), median (minimum) of {RUNS}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs:"
    )
    print(f"  dcm2niix -z n             {ref_s:6.2f} s ({ref_min:.2f})   peak RSS {ref_mem / 2**20:6.0f} MB")
    print(
        f"  discover+select+load      {load_s:6.2f} s ({load_min:.2f})   ratio {load_s / ref_s:4.2f}x ({load_min / ref_min:.2f}x)  (target <= 1.3x)"
    )
    print(
        f"  convert CLI end to end    {conv_s:6.2f} s          ratio {conv_s / ref_s:4.2f}x  (interpreter start, imports and NIfTI write included)"
    )
    print(
        f"  load peak memory above the process after imports: {load_mem / 2**20:.0f} MB = "
        f"{load_mem / VOLUME_BYTES:.2f}x the int16 volume ({VOLUME_BYTES / 2**20:.0f} MB; target <= 2.5x)"
    )


def bench_header_scan() -> None:
    from pipeline.dicom.discover import default_workers, discover

    sample = BENCH / "sample"
    if not is_current(sample, 1, "small"):
        generate_study(sample, seed=1, size="small", force=True)
    tree = big_tree(sample / "study", BENCH / "tree10k")
    discover(tree, workers=1)  # warm the page cache
    for workers in (default_workers(), 1):
        cpu0 = _cpu_seconds()
        t0 = time.perf_counter()
        index = discover(tree, workers=workers)
        elapsed = time.perf_counter() - t0
        cpu = _cpu_seconds() - cpu0
        print(
            f"header scan of {index.files_scanned} files, {workers} process(es): {elapsed:.2f} s = "
            f"{index.files_scanned / elapsed:.0f} files/s ({cpu:.1f} CPU s in all processes)"
        )
    print(
        f"  calibration: pure-Python work in 2 processes runs {_two_process_speedup():.2f}x as fast as in 1 "
        f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs); the pool can gain at most that"
    )


def _spin(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i
    return total


def _two_process_speedup(n: int = 10_000_000) -> float:
    from concurrent.futures import ProcessPoolExecutor

    t0 = time.perf_counter()
    _spin(n), _spin(n)
    serial = time.perf_counter() - t0
    t0 = time.perf_counter()
    with ProcessPoolExecutor(2) as pool:
        list(pool.map(_spin, [n, n]))
    return serial / (time.perf_counter() - t0)


def _cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


if __name__ == "__main__":
    import logging

    logging.getLogger("pipeline").setLevel(logging.ERROR)
    bench_ct_load()
    bench_header_scan()
