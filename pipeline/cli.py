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
from pipeline.config import RunConfig
from pipeline.errors import InputError

PROG = "lesion-pipeline"
EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2

log = logging.getLogger("pipeline")


def _setup_logging(quiet: bool, verbose: bool, log_json: bool = False) -> None:
    from pipeline.progress import HumanFormatter, JsonFormatter

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_json else HumanFormatter(PROG))
    level = logging.WARNING if quiet else (logging.DEBUG if verbose else logging.INFO)
    for name in ("pipeline", "segmentation", "measurement", "sample_data"):
        lg = logging.getLogger(name)
        lg.handlers[:] = [handler]
        lg.setLevel(level)
        lg.propagate = False


def _run_config(args: argparse.Namespace) -> RunConfig:
    from pipeline.register import RegistrationConfig

    registration = RegistrationConfig(deformable=args.registration == "deformable")
    return RunConfig(threads=args.threads, chain_registration=args.chain_registration, registration=registration)


def _cmd_run(args: argparse.Namespace) -> int:
    from pipeline.run import run_study
    from pipeline.summary import summary_text

    result = run_study(args.study_dir, args.output, args.targets, _run_config(args), dicom_out=args.dicom_out)
    if not args.quiet:
        print(summary_text(result), end="")
        extra = ", dicom/" if args.dicom_out else ""
        print(f"Results: {Path(args.output).resolve()} (report.html, measurements.csv, response.csv, summary.txt, run.json, masks/, qc/{extra})")
    return EXIT_OK


def _cmd_batch(args: argparse.Namespace) -> int:
    from pipeline.batch import run_batch

    outcomes = run_batch(args.studies_root, args.output, _run_config(args))
    failed = [o for o in outcomes if o.status != "ok"]
    if not args.quiet:
        print(f"{len(outcomes) - len(failed)}/{len(outcomes)} studies succeeded; summary: {Path(args.output).resolve() / 'batch_summary.csv'}")
        for o in failed:
            print(f"  {o.study}: {o.status}: {o.error}")
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
    common.add_argument("--log-json", action="store_true", help="log lines on stderr as JSON objects (one per line)")
    sub = parser.add_subparsers(dest="command", required=True)

    processing = argparse.ArgumentParser(add_help=False)
    processing.add_argument("--threads", type=int, default=2, help="threads for ITK filters (default 2)")
    processing.add_argument(
        "--registration", choices=("deformable", "affine"), default="deformable",
        help="follow-up to baseline: rigid+affine then a liver displacement field (default), or rigid+affine only",
    )  # fmt: skip
    processing.add_argument(
        "--chain-registration", action="store_true",
        help="register each follow-up to the previous timepoint (default: to the baseline)",
    )  # fmt: skip

    run = sub.add_parser("run", parents=[common, processing], help="measure the target lesions of one patient's study folder")
    run.add_argument("study_dir", type=Path, help="folder with all DICOM files of one patient (any nesting)")
    run.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    run.add_argument("--targets", type=Path, help="targets JSON (default: STUDY_DIR/targets.json)")
    run.add_argument("--dicom-out", action="store_true", help="also write a DICOM SEG and a DICOM SR (TID 1500) per timepoint into OUT_DIR/dicom/")
    run.set_defaults(func=_cmd_run)

    batch = sub.add_parser("batch", parents=[common, processing], help="run every sub-folder of STUDIES_ROOT as one study")
    batch.add_argument("studies_root", type=Path)
    batch.add_argument("-o", "--output", type=Path, required=True, help="output root; one sub-folder per study")
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
    _setup_logging(args.quiet, args.verbose, args.log_json)
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
