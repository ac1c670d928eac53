"""Command line: ``lesion-pipeline run | batch | sort | measure | sample-data | inspect | convert``.

Exit status: 0 success; 2 bad input (one-line message on stderr, no
traceback); 1 unexpected internal error, or a batch in which a study failed.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback

# One BLAS/OpenMP thread unless the user says otherwise: reproducible sums, and no oversubscription
# of the cores next to ITK's own threads (set before numpy is first imported).
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from pipeline import __version__
from pipeline.cli.parsing import SuggestingParser, positive_float, positive_int
from pipeline.config import RunConfig
from pipeline.errors import InputError

PROG = "lesion-pipeline"
EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2

log = logging.getLogger("pipeline")


def _setup_logging(quiet: bool, verbose: bool, log_json: bool = False) -> None:
    from pipeline.progress import HumanFormatter, JsonFormatter, configure_logging

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_json else HumanFormatter(PROG))
    configure_logging(handler, logging.WARNING if quiet else (logging.DEBUG if verbose else logging.INFO))


def _run_config(args: argparse.Namespace) -> RunConfig:
    """The run's configuration: command-line options, then the criteria options of ``--config FILE``."""
    from pipeline.config import RegistrationConfig
    from pipeline.config_file import load_config

    registration = RegistrationConfig(deformable=args.registration == "deformable")
    config = RunConfig(
        threads=args.threads or 2,
        chain_registration=args.chain_registration,
        registration=registration,
        selection=selection_options(args),
        seg_type=args.seg_type,
        resegment=args.resegment,
        liver_mask=str(args.liver_mask) if getattr(args, "liver_mask", None) else None,
    )
    return load_config(args.config, config) if args.config else config


def _pdf_browser(args: argparse.Namespace) -> str | None:
    """The browser that prints report.pdf: ``--pdf`` needs one, the default uses one when there is one."""
    from pipeline.outputs.report.pdf import BROWSER_ENV, find_browser

    if args.pdf is False:
        return None
    browser = find_browser()
    if args.pdf and browser is None:
        raise InputError(
            f"--pdf needs a headless Chromium (Debian: apt-get install chromium; or set {BROWSER_ENV}); none found"
        )
    return browser


def _cmd_run(args: argparse.Namespace) -> int:
    from pipeline.longitudinal.run import run_study
    from pipeline.outputs.summary import summary_text

    browser = _pdf_browser(args)
    result = run_study(
        args.study_dir,
        args.output,
        args.targets,
        _run_config(args),
        dicom_out=args.dicom_out,
        automatic=args.auto,
        pdf_browser=browser,
    )
    if not args.quiet:
        print(summary_text(result), end="")
        extra = (", report.pdf" if (Path(args.output) / "report.pdf").is_file() else "") + (
            ", dicom/" if args.dicom_out else ""
        )
        print(
            f"Results: {Path(args.output).resolve()} (report.html{extra}, measurements.csv, response.csv, "
            "best_response.csv, summary.txt, summary.json, run.json, masks/, qc/)"
        )
    return EXIT_OK


def _cmd_batch(args: argparse.Namespace) -> int:
    from pipeline.batch.runner import StudyStatus, run_batch

    if args.scheduler and args.workers is not None:
        raise InputError("--workers is for local runs; with --scheduler the Dask workers set the parallelism")
    outcomes = run_batch(
        args.studies_root,
        args.output,
        _run_config(args),
        workers=args.workers or 1,
        threads=args.threads,
        scheduler=args.scheduler,
        resume=not args.force,
        timeout_s=args.timeout,
        memory_limit_mb=args.memory_limit,
        dicom_out=args.dicom_out,
        automatic=args.auto,
        pdf=_pdf_browser(args) is not None,
    )
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


def _cmd_measure(args: argparse.Namespace) -> int:
    from pipeline.cli.measure import measure_files, measures_text
    from pipeline.outputs.tables import json_text

    result = measure_files(args.image, args.mask, args.label, args.series, args.roi)
    print(json_text(result) if args.json else measures_text(result), end="")
    return EXIT_OK


def _cmd_sort(args: argparse.Namespace) -> int:
    from pipeline.batch.sort_export import SortMode, sort_export

    summary = sort_export(args.export_dir, args.output, SortMode.LINK if args.link else SortMode.COPY)
    if not args.quiet:
        print(summary.text(), end="")
    return EXIT_OK


def _cmd_sample_data(args: argparse.Namespace) -> int:
    from pipeline.progress import Progress
    from sample_data.generate import generate_study

    out = Path(args.output)
    if out.exists() and not args.force:
        raise InputError(f"{out} exists; use --force to replace it")
    if out.exists() and (not out.is_dir() or not {p.name for p in out.iterdir()} <= {"study", "ground_truth.json"}):
        raise InputError(
            f"{out}: --force replaces only a sample-data folder (study/, ground_truth.json); this is not one"
        )
    generate_study(out, seed=args.seed, size=args.size, force=args.force, progress=Progress())
    if not args.quiet:
        print(f"Sample study: {out / 'study'} (targets.json inside); ground truth: {out / 'ground_truth.json'}")
    return EXIT_OK


def add_selection_arguments(parser: argparse.ArgumentParser) -> None:
    """Options choosing the CT and PET series of each study (see SelectionOptions)."""
    parser.add_argument("--ct-series", metavar="UID", help="measure this CT series (SeriesInstanceUID)")
    parser.add_argument(
        "--ct-description", metavar="REGEX", help="only CT series whose description matches (case-insensitive)"
    )
    parser.add_argument("--pet-series", metavar="UID", help="use this PET series")
    parser.add_argument("--pet-description", metavar="REGEX", help="only PET series whose description matches")


def add_pdf_argument(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--pdf",
        action=argparse.BooleanOptionalAction,
        default=None,
        help=f"print the report to {what} with a headless Chromium (default: when one is installed)",
    )


def selection_options(args: argparse.Namespace):
    import re

    from pipeline.config import SelectionOptions

    for pattern in (args.ct_description, args.pet_description):
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise InputError(f"invalid regular expression {pattern!r}: {exc}") from exc
    return SelectionOptions(
        ct_series_uid=args.ct_series,
        ct_description=args.ct_description,
        pet_series_uid=args.pet_series,
        pet_description=args.pet_description,
    )


def _cmd_inspect(args: argparse.Namespace) -> int:
    from pipeline.dicom.discover import discover
    from pipeline.dicom.inspection import format_report, inspect_index
    from pipeline.outputs.tables import json_text

    report = inspect_index(discover(args.folder), selection_options(args))
    print(json_text(report) if args.json else format_report(report), end="")
    return EXIT_OK


def _cmd_convert(args: argparse.Namespace) -> int:
    from pipeline.dicom.convert import convert

    loaded = convert(args.folder, args.output, args.series, args.suv)
    if not args.quiet:
        print(
            f"{loaded.modality} series {loaded.series_uid} ({loaded.n_slices} slices, {loaded.units}) -> {args.output}"
        )
    return EXIT_OK


AUTO_HELP = (
    "automatic mode when no targets are given: detect the liver lesions at baseline, choose the RECIST targets "
    "(written to OUT_DIR/targets.json) and look for new lesions at the follow-ups"
)


def _processing_parser() -> argparse.ArgumentParser:
    """Options shared by ``run`` and ``batch``: registration, series selection, SEG type, configuration file."""
    processing = _Parser(add_help=False)
    processing.add_argument(
        "--registration",
        choices=("deformable", "affine"),
        default="deformable",
        help="follow-up to baseline: rigid+affine then a liver displacement field (default), or rigid+affine only",
    )
    processing.add_argument(
        "--chain-registration",
        action="store_true",
        help="register each follow-up to the previous timepoint (default: to the baseline)",
    )
    add_selection_arguments(processing)
    processing.add_argument(
        "--resegment",
        action="store_true",
        help="with targets from a DICOM SEG or RTSTRUCT: segment each lesion again from the reader's mask's "
        "deepest point (default: measure the reader's mask as it is)",
    )
    processing.add_argument(
        "--seg-type",
        choices=("fractional", "binary"),
        default="fractional",
        help="DICOM SEG written with --dicom-out: each lesion's partial-volume fractions (default; measuring it "
        "again gives the measured values) or the binary label map",
    )
    processing.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="TOML file of criteria and segmentation options, see docs/configuration.md (default: the published values)",
    )
    return processing


def _add_run_parser(
    sub: argparse._SubParsersAction, common: argparse.ArgumentParser, processing: argparse.ArgumentParser
) -> None:
    """The ``run`` command: one patient's study folder."""
    run = sub.add_parser(
        "run", parents=[common, processing], help="measure the target lesions of one patient's study folder"
    )
    run.add_argument(
        "study_dir", type=Path, metavar="STUDY_DIR", help="folder with all DICOM files of one patient (any nesting)"
    )
    run.add_argument("-o", "--output", type=Path, required=True, metavar="OUT_DIR", help="output folder")
    mode = run.add_mutually_exclusive_group()
    mode.add_argument(
        "--targets",
        type=Path,
        metavar="FILE_OR_FOLDER",
        help="the target lesions: targets.json (seed points in the baseline CT's DICOM patient coordinates, LPS mm), "
        "a 3D Slicer .mrk.json (RAS or LPS), or a viewer's DICOM SR (RECIST lines or points), SEG or RTSTRUCT (one "
        "target per segment or ROI, measured as drawn); a folder of such files (default: STUDY_DIR/targets.json). "
        "Without targets, --auto is needed",
    )
    mode.add_argument("--auto", action="store_true", help=AUTO_HELP)
    run.add_argument(
        "--threads", type=positive_int, default=2, metavar="N", help="threads for ITK filters, >= 1 (default 2)"
    )
    run.add_argument(
        "--liver-mask",
        type=Path,
        metavar="PATH",
        help="liver mask from another tool instead of the built-in segmentation: a NIfTI label image or DICOM SEG "
        "for the baseline, or a folder of them matched to the timepoints by CT SeriesInstanceUID or by name order",
    )
    run.add_argument(
        "--dicom-out",
        action="store_true",
        help="also write a DICOM SEG and a DICOM SR (TID 1500) per timepoint into OUT_DIR/dicom/",
    )
    add_pdf_argument(run, "OUT_DIR/report.pdf")
    run.set_defaults(func=_cmd_run)


def _add_batch_parser(
    sub: argparse._SubParsersAction, common: argparse.ArgumentParser, processing: argparse.ArgumentParser
) -> None:
    """The ``batch`` command: every sub-folder of a studies root."""
    batch = sub.add_parser(
        "batch", parents=[common, processing], help="run every sub-folder of STUDIES_ROOT as one study"
    )
    batch.add_argument(
        "studies_root", type=Path, metavar="STUDIES_ROOT", help="folder with one sub-folder per patient's study"
    )
    batch.add_argument(
        "-o", "--output", type=Path, required=True, metavar="OUT_ROOT", help="output root; one sub-folder per study"
    )
    batch.add_argument(
        "--workers",
        type=positive_int,
        metavar="N",
        help="studies run at once on this machine, each in its own process (default 1)",
    )
    batch.add_argument(
        "--threads",
        type=positive_int,
        metavar="N",
        help="ITK and BLAS threads per study, >= 1 (default: cores // workers; 1 on Dask)",
    )
    batch.add_argument(
        "--auto",
        action="store_true",
        help="studies without a targets.json run in automatic mode (without it they fail as bad input)",
    )
    batch.add_argument(
        "--scheduler", metavar="ADDRESS", help="run on a Dask cluster: tcp://host:port or a scheduler file"
    )
    batch.add_argument(
        "--timeout", type=positive_float, metavar="SECONDS", help="stop a study after this wall time (default: none)"
    )
    batch.add_argument(
        "--memory-limit",
        type=positive_float,
        metavar="MB",
        help="data memory per study process (Linux); a study that needs more fails as out of memory (default: none)",
    )
    batch.add_argument(
        "--dicom-out", action="store_true", help="also write each study's DICOM SEG and SR into OUT_ROOT/<study>/dicom/"
    )
    redo = batch.add_mutually_exclusive_group()
    redo.add_argument(
        "--resume",
        dest="force",
        action="store_false",
        default=False,
        help="skip studies whose outputs are up to date (default)",
    )
    redo.add_argument("--force", action="store_true", help="run every study again")
    add_pdf_argument(batch, "each study's report.pdf")
    batch.set_defaults(func=_cmd_batch)


def _add_measure_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """The ``measure`` command: one mask on one image."""
    measure = sub.add_parser(
        "measure",
        parents=[common],
        help="measure a lesion mask (NIfTI, DICOM SEG, DICOM RTSTRUCT) on an image (NIfTI, DICOM series)",
    )
    measure.add_argument("image", type=Path, help="image file (NIfTI, NRRD, MHA) or folder of one DICOM CT/PET series")
    measure.add_argument("mask", type=Path, help="mask file (NIfTI, ...), DICOM SEG or DICOM RTSTRUCT file")
    measure.add_argument("--label", type=int, help="label value (label map) or segment number (DICOM SEG) to measure")
    measure.add_argument(
        "--roi",
        metavar="NAME|NUMBER",
        help="RTSTRUCT ROI to measure, by name or number (needed when there are several)",
    )
    measure.add_argument("--series", help="SeriesInstanceUID when the IMAGE folder holds several series")
    measure.add_argument("--json", action="store_true", help="print the measures as JSON")
    measure.set_defaults(func=_cmd_measure)


def _add_sort_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """The ``sort`` command: a PACS export split into one study folder per patient."""
    sorter = sub.add_parser(
        "sort",
        parents=[common],
        help="split a PACS export holding several patients into one study folder per patient (for batch)",
    )
    sorter.add_argument("export_dir", type=Path, help="folder of the export (any nesting); nothing in it is changed")
    sorter.add_argument(
        "-o", "--output", type=Path, required=True, help="studies root: one sub-folder per patient (hash of PatientID)"
    )
    how = sorter.add_mutually_exclusive_group()
    how.add_argument("--copy", action="store_true", help="copy the files (default; modification times kept)")
    how.add_argument("--link", action="store_true", help="symbolic links to the export's files instead of copies")
    sorter.set_defaults(func=_cmd_sort)


def _add_sample_data_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """The ``sample-data`` command: a synthetic longitudinal PET/CT study."""
    sample = sub.add_parser("sample-data", parents=[common], help="generate a synthetic longitudinal PET/CT study")
    sample.add_argument("output", type=Path, help="folder to create (study/ and ground_truth.json inside)")
    sample.add_argument(
        "--seed", type=int, default=1, help="random seed: lesions, noise and dates follow from it (default 1)"
    )
    sample.add_argument(
        "--size",
        choices=("tiny", "small", "full"),
        default="small",
        help="tiny: a coarse ~2 mm grid for quick checks; small: a reduced grid for tests (seconds); full: 512 x 512 "
        "CT as a scanner writes it (default small)",
    )
    sample.add_argument("--force", action="store_true", help="replace an existing folder")
    sample.set_defaults(func=_cmd_sample_data)


def _add_inspect_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """The ``inspect`` command: patients, timepoints and series from the headers."""
    inspect = sub.add_parser(
        "inspect",
        parents=[common],
        help="list patients, timepoints and series (chosen or skipped, why) from the headers",
    )
    inspect.add_argument("folder", type=Path, help="folder with DICOM files (any nesting)")
    inspect.add_argument("--json", action="store_true", help="machine-readable output")
    add_selection_arguments(inspect)
    inspect.set_defaults(func=_cmd_inspect)


def _add_convert_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """The ``convert`` command: one series as NIfTI."""
    conv = sub.add_parser(
        "convert", parents=[common], help="write one series as NIfTI (CT in HU, PET in SUV) with the RAS affine"
    )
    conv.add_argument("folder", type=Path, help="folder holding the series (or a whole study with --series)")
    conv.add_argument("-o", "--output", type=Path, required=True, help="output .nii or .nii.gz")
    conv.add_argument("--series", help="SeriesInstanceUID to convert (needed when the folder holds several)")
    conv.add_argument(
        "--suv",
        choices=("bw", "lbm", "lbm-james", "ibw", "bsa", "none"),
        default="bw",
        help="PET SUV type (lbm: Janmahasatian; none: stored units, e.g. Bq/ml); default bw",
    )
    conv.set_defaults(func=_cmd_convert)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Longitudinal liver lesion measurement from CT and PET/CT DICOM.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}", help="print the version")
    common = _Parser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    common.add_argument("-v", "--verbose", action="store_true", help="debug messages")
    common.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    common.add_argument("--log-json", action="store_true", help="log lines on stderr as JSON objects (one per line)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", help="one of:")
    processing = _processing_parser()
    _add_run_parser(sub, common, processing)
    _add_batch_parser(sub, common, processing)
    _add_measure_parser(sub, common)
    _add_sort_parser(sub, common)
    _add_sample_data_parser(sub, common)
    _add_inspect_parser(sub, common)
    _add_convert_parser(sub, common)
    return parser


def _error_line(message: str, log_json: bool) -> None:
    """The final error line on stderr: ``PROG: message``, or one JSON log object with ``--log-json``."""
    if log_json:
        from pipeline.progress import JsonFormatter

        record = logging.LogRecord("pipeline.cli", logging.ERROR, __file__, 0, message, None, None)
        print(JsonFormatter().format(record), file=sys.stderr)
    else:
        print(f"{PROG}: {message}", file=sys.stderr)


class _Parser(SuggestingParser):
    """Usage errors as one JSON line when ``--log-json`` is among the arguments."""

    log_json = False

    def error(self, message: str) -> NoReturn:
        if _Parser.log_json:
            _error_line(f"error: {self.prog}: {message}", True)
            sys.exit(EXIT_BAD_INPUT)
        super().error(message)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    _Parser.log_json = "--log-json" in arguments
    parser = build_parser()
    args = parser.parse_args(arguments)
    _setup_logging(args.quiet, args.verbose, args.log_json)
    try:
        return int(args.func(args))
    except InputError as exc:
        _error_line(f"error: {exc}", args.log_json)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        _error_line("interrupted", args.log_json)
        return 130
    except Exception as exc:
        if args.debug:
            traceback.print_exc()
        _error_line(f"internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)", args.log_json)
        return EXIT_FAILURE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
