"""Command line: ``lesion-pipeline run | batch | sample-data``.

Exit status: 0 success; 2 bad input (one-line message on stderr, no
traceback); 1 unexpected internal error, or a batch in which a study failed.
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from pipeline import __version__
from pipeline.errors import InputError

PROG = "lesion-pipeline"
EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2

log = logging.getLogger("pipeline")


def _setup_logging(quiet: bool, verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"{PROG}: %(levelname)s: %(message)s"))
    level = logging.WARNING if quiet else (logging.DEBUG if verbose else logging.INFO)
    for name in ("pipeline", "segmentation", "measurement", "sample_data"):
        lg = logging.getLogger(name)
        lg.handlers[:] = [handler]
        lg.setLevel(level)
        lg.propagate = False


def _cmd_run(args: argparse.Namespace) -> int:
    from pipeline.config import RunConfig
    from pipeline.run import run_study
    from pipeline.summary import summary_text

    result = run_study(args.study_dir, args.output, args.targets, RunConfig(threads=args.threads))
    if not args.quiet:
        print(summary_text(result), end="")
        print(f"Results: {Path(args.output).resolve()} (measurements.csv, response.csv, summary.txt, run.json, masks/)")
    return EXIT_OK


def _cmd_batch(args: argparse.Namespace) -> int:
    from pipeline.batch import StudyStatus, run_batch
    from pipeline.config import RunConfig

    if args.scheduler and args.workers is not None:
        raise InputError("--workers is for local runs; with --scheduler the Dask workers set the parallelism")
    outcomes = run_batch(
        args.studies_root, args.output, RunConfig(),
        workers=args.workers or 1, threads=args.threads, scheduler=args.scheduler,
        resume=not args.force, timeout_s=args.timeout,
    )  # fmt: skip
    failed = [o for o in outcomes if not o.status.complete]
    if not args.quiet:
        skipped = sum(o.status is StudyStatus.SKIPPED for o in outcomes)
        print(
            f"{len(outcomes) - len(failed)}/{len(outcomes)} studies complete ({skipped} skipped as up to date); "
            f"summary: {Path(args.output).resolve() / 'batch_summary.csv'}"
        )
        for o in failed:
            print(f"  {o.study}: {o.status.value}: {o.error}")
    return EXIT_FAILURE if failed else EXIT_OK


def _cmd_sample_data(args: argparse.Namespace) -> int:
    from sample_data.generate import generate_study

    out = Path(args.output)
    if out.exists() and not args.force:
        raise InputError(f"{out} exists; use --force to replace it")
    generate_study(out, seed=args.seed, size=args.size, force=args.force)
    if not args.quiet:
        print(f"Sample study: {out / 'study'} (targets.json inside); ground truth: {out / 'ground_truth.json'}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Longitudinal liver lesion measurement from CT and PET/CT DICOM.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    common.add_argument("-v", "--verbose", action="store_true", help="debug messages")
    common.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", parents=[common], help="measure the target lesions of one patient's study folder")
    run.add_argument("study_dir", type=Path, help="folder with all DICOM files of one patient (any nesting)")
    run.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    run.add_argument("--targets", type=Path, help="targets JSON (default: STUDY_DIR/targets.json)")
    run.add_argument("--threads", type=int, default=2, help="threads for ITK filters and registration (default 2)")
    run.set_defaults(func=_cmd_run)

    batch = sub.add_parser("batch", parents=[common], help="run every sub-folder of STUDIES_ROOT as one study")
    batch.add_argument("studies_root", type=Path)
    batch.add_argument("-o", "--output", type=Path, required=True, help="output root; one sub-folder per study")
    batch.add_argument("--workers", type=int, help="studies run at once on this machine, each in its own process (default 1)")
    batch.add_argument("--threads", type=int, help="ITK and BLAS threads per study (default: cores // workers; 1 on Dask)")
    batch.add_argument("--scheduler", metavar="ADDRESS", help="run on a Dask cluster: tcp://host:port or a scheduler file")
    batch.add_argument("--timeout", type=float, metavar="SECONDS", help="stop a study after this wall time (default: none)")
    redo = batch.add_mutually_exclusive_group()
    redo.add_argument("--resume", dest="force", action="store_false", default=False, help="skip studies whose outputs are up to date (default)")
    redo.add_argument("--force", action="store_true", help="run every study again")
    batch.set_defaults(func=_cmd_batch)

    sample = sub.add_parser("sample-data", parents=[common], help="generate a synthetic longitudinal PET/CT study")
    sample.add_argument("output", type=Path, help="folder to create (study/ and ground_truth.json inside)")
    sample.add_argument("--seed", type=int, default=1)
    sample.add_argument("--size", choices=("small", "full"), default="small")
    sample.add_argument("--force", action="store_true", help="replace an existing folder")
    sample.set_defaults(func=_cmd_sample_data)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.quiet, args.verbose)
    try:
        return int(args.func(args))
    except InputError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - last-resort report
        if args.debug:
            traceback.print_exc()
        print(f"{PROG}: internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)", file=sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
