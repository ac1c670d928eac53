"""``make validate``: accuracy on real scans, printed as tables, each target marked met or MISSED.

The run exits 1 when a section fails to run, and, with ``--strict`` (``make validate STRICT=1``), when a
target is missed; otherwise it ends with the list of missed targets and exits 0, so that the figures are
measured and published on every change while targets are still being worked towards.

Every ``tests/validation/section_*.py`` module is one section. A section exposes

* ``TITLE`` (str), and
* ``run(context: Context) -> Section``: it measures, prints nothing, and returns its table and its targets.

A section may also expose ``prepare(context: Context) -> None``, which writes what several sections read
(the hybrid set); every ``prepare`` runs first, in file-name order, then the sections run in ``--jobs``
processes (default: 2, or 1 on a one-core machine; each section in one process, its results the same
as alone) and are printed in file-name order. ``--only NAME`` runs the sections whose file name contains
NAME. Real data are read in place from ``--realdata`` (default ``../shared/realdata`` beside the project);
``--data DIR`` adds a user's own cases laid out like the real-data folder (see docs/validation.md). Without
the real-data folder the run says so and exits 0, except under CI (``CI=true``), where that is a failure
(exit 1).
"""

from __future__ import annotations

import argparse
import importlib.util
import multiprocessing
import os
import sys
import time
import types
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


@dataclass(frozen=True)
class Target:
    """One accuracy target: what is required, what was measured, whether it holds."""

    name: str
    required: str
    measured: str
    met: bool


@dataclass(frozen=True)
class Section:
    title: str
    table: str  # the per-case table, already formatted
    targets: tuple[Target, ...] = ()
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Context:
    realdata: Path
    data: Path | None  # the user's extra cases (``DATA=``), or None
    work: Path  # a scratch folder for this run (generated studies, outputs)
    extra: dict[str, str] = field(default_factory=dict)


def default_realdata() -> Path:
    env = os.environ.get("LESION_REALDATA")
    return Path(env) if env else ROOT.parent / "shared" / "realdata"


def _sections(only: str | None) -> list[Path]:
    files = sorted(HERE.glob("section_*.py"))
    return [f for f in files if only is None or only in f.stem]


def _load(path: Path) -> types.ModuleType:
    name = f"validation_{path.stem}"
    if name in sys.modules:  # loaded already (for its ``prepare``): not run again
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _run_section(path: Path, context: Context) -> tuple[Section, float]:
    """One section's result and the seconds it took (in a worker process, or in this one)."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    started = time.perf_counter()
    section: Section = _load(path).run(context)
    return section, time.perf_counter() - started


def _default_jobs() -> int:
    return max(1, min(2, os.cpu_count() or 1))


def format_columns(header: list[str], rows: list[list[str]]) -> str:
    """A table: each column as wide as its widest cell, two spaces apart, indented by two."""
    widths = [max(len(str(r[k])) for r in [header, *rows]) for k in range(len(header))]
    return "\n".join("  " + "  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) for r in [header, *rows])


def format_targets(targets: tuple[Target, ...]) -> str:
    width = max((len(t.name) for t in targets), default=10)
    lines = [f"  {'target'.ljust(width)}  required        measured        result"]
    for t in targets:
        lines.append(f"  {t.name.ljust(width)}  {t.required:<14}  {t.measured:<14}  {'met' if t.met else 'MISSED'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--realdata", type=Path, default=default_realdata(), help="the real-data folder")
    parser.add_argument("--data", type=Path, default=None, help="extra cases laid out like the real-data folder")
    parser.add_argument("--only", default=None, help="run only the sections whose file name contains this")
    parser.add_argument("--work", type=Path, default=ROOT / "sample_data" / "generated" / "validation")
    parser.add_argument(
        "--jobs",
        type=int,
        default=_default_jobs(),
        help="sections run at once, each in its own process (default %(default)s)",
    )
    parser.add_argument(
        "--strict", action="store_true", help="exit 1 when a target is missed (default: list the missed targets)"
    )
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    if not args.realdata.is_dir():
        message = f"validate: real-data folder {args.realdata} not found"
        if os.environ.get("CI") == "true":
            print(message + " (required under CI)", file=sys.stderr)
            return 1
        print(message + "; nothing validated", file=sys.stderr)
        return 0
    args.work.mkdir(parents=True, exist_ok=True)
    context = Context(args.realdata.resolve(), args.data.resolve() if args.data else None, args.work.resolve())
    missed: list[str] = []
    started = time.perf_counter()
    paths = _sections(args.only)
    for path in paths:  # what several sections read, written once before they run side by side
        prepare = getattr(_load(path), "prepare", None)
        if prepare is not None:
            prepare(context)
    pool = (
        ProcessPoolExecutor(max_workers=args.jobs, mp_context=multiprocessing.get_context("spawn"))
        if args.jobs > 1 and len(paths) > 1
        else None
    )
    try:
        runs: list[Future | None] = [pool.submit(_run_section, p, context) if pool else None for p in paths]
        for path, run in zip(paths, runs, strict=True):
            section, seconds = run.result() if run is not None else _run_section(path, context)
            print(f"\n== {section.title}  ({seconds:.0f} s)\n")
            print(section.table)
            for note in section.notes:
                print(f"  note: {note}")
            if section.targets:
                print()
                print(format_targets(section.targets))
            sys.stdout.flush()
            missed += [f"{section.title}: {t.name}" for t in section.targets if not t.met]
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    print(f"\nvalidate: {len(missed)} target(s) missed in {time.perf_counter() - started:.0f} s")
    for m in missed:
        print(f"  MISSED {m}")
    return 1 if missed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
