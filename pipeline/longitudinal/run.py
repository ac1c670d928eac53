"""The ``run`` stage chain for one patient: read -> baseline -> each follow-up -> assess -> write.

Only the baseline CT and one follow-up are in memory at a time. ``OUT_DIR`` is
checked and locked before anything else, and nothing reaches it before the
whole run succeeded (see :mod:`pipeline.outputs.staging`).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import SimpleITK as sitk

from pipeline.config import RunConfig
from pipeline.dicom.discover import discover
from pipeline.dicom.selection import select_patient
from pipeline.errors import InputError, PdfError
from pipeline.longitudinal.assess import assess_study
from pipeline.longitudinal.autodetect import detected_csv
from pipeline.longitudinal.context import RunContext, StudyInputs
from pipeline.longitudinal.timeline import check_dates, dropped_at_selection, warn_unused_pet
from pipeline.longitudinal.timepoint import Baseline, TimepointOutcome, process_baseline, process_followups
from pipeline.outputs import names
from pipeline.outputs.drawing import Drawing
from pipeline.outputs.manifest import build_manifest, inputs_entry
from pipeline.outputs.report import write_patient_report
from pipeline.outputs.report.pdf import write_pdf
from pipeline.outputs.staging import staged_output
from pipeline.outputs.summary import summary_text
from pipeline.outputs.tables import best_response_csv, measurements_csv, response_csv, summary_json, write_json
from pipeline.progress import Progress
from pipeline.provenance import Provenance
from pipeline.records import StudyResult
from pipeline.targets.annotations import Annotations
from pipeline.targets.json_file import TARGETS_FILENAME
from pipeline.targets.sources import combine, read_dicom_targets, read_json_targets, target_source
from pipeline.targets.study_files import MAX_LISTED, TargetsChoice, choose_targets

log = logging.getLogger(__name__)


def resolve_targets_path(study_dir: Path, targets: Path | str | None) -> Path | None:
    """The targets file to use; ``None`` when none is given and the study has none (automatic mode)."""
    if targets is not None:
        return Path(targets)
    default = study_dir / TARGETS_FILENAME
    return default if default.exists() else None


def _say_targets(choice: TargetsChoice, automatic: bool, say: Callable[..., None]) -> None:
    """What the run uses and which input-like files it does not read (a warning: ``--quiet`` keeps it)."""
    if choice.path is None:
        say("no targets given and --auto: automatic mode (targets chosen among the lesions detected at baseline)")
    elif automatic:
        log.warning("targets read from %s: --auto applies only when no targets are given", choice.path)
    else:
        say(f"targets read from {choice.path}")
    listed = [f"{name} ({why})" for name, why in choice.ignored[:MAX_LISTED]]
    more = len(choice.ignored) - len(listed)
    if listed:
        log.warning(
            "files that look like input were ignored: %s%s", "; ".join(listed), f"; and {more} more" if more > 0 else ""
        )


def read_study(
    study_dir: Path,
    targets_file: Path | str | None,
    config: RunConfig,
    prov: Provenance,
    say: Callable[..., None],
    automatic: bool = False,
) -> StudyInputs:
    """The targets (given, or ``None`` in automatic mode) and the DICOM index of the study folder, sorted into
    timepoints; without targets and without ``automatic`` bad input (see :mod:`pipeline.targets.study_files`)."""
    if not study_dir.is_dir():
        raise InputError(f"{study_dir}: study folder not found")
    choice = choose_targets(study_dir, targets_file, automatic)
    targets_path = choice.path
    source = target_source(targets_path) if targets_path else None
    json_targets, annotations = read_json_targets(source) if source else ((), Annotations())
    _say_targets(choice, automatic, say)
    not_read = {study_dir / name for name, _ in choice.ignored}
    with prov.stage("discover"):
        say("discovering DICOM files in the study folder", stage="discover")
        index = discover(study_dir, ignore=not_read | (source.files if source else set()))
    with prov.stage("select"):
        selection = select_patient(index, config.selection)
        timepoints = selection.timepoints
        check_dates(timepoints, index)
        dropped = dropped_at_selection(selection, index, config.selection)
        warn_unused_pet(timepoints)
    say(f"found {len(index.instances)} DICOM instances, {len(timepoints)} candidate timepoint(s)", stage="discover")
    targets = None
    if source is not None:
        viewer = read_dicom_targets(source, index, timepoints[0].study_uid) if source.dicom_files else ()
        targets = combine([json_targets, viewer], source)
    return StudyInputs(study_dir, index, tuple(timepoints), targets_path, targets, annotations, dropped, choice.ignored)


def assess(ctx: RunContext, baseline: Baseline, followups: Sequence[TimepointOutcome]) -> StudyResult:
    records = [baseline.outcome.record, *(f.record for f in followups)]
    with ctx.prov.stage("assess"):
        assessment = assess_study(
            records,
            baseline.targets,
            set(baseline.found),
            ctx.inputs.annotations,
            baseline.slice_thickness_mm,
            ctx.config,
        )
    patient_id = ctx.inputs.index.instances[0].patient_id
    dropped = sorted([*ctx.inputs.dropped, *ctx.dropped], key=lambda d: (d.study_date or dt.date.min, d.study_uid))
    return StudyResult(
        patient_id,
        tuple(records),
        assessment.recist,
        assessment.total_volume_ml,
        assessment=assessment,
        dropped=tuple(dropped),
        targets=baseline.targets,
    )


def write_outputs(
    ctx: RunContext, baseline: Baseline, followups: Sequence[TimepointOutcome], result: StudyResult
) -> None:
    """Tables, summary, detected lesions (automatic mode), ``run.json`` and the report, into the staging folder."""
    staging = ctx.staging
    with ctx.prov.stage("write"):
        (staging / names.MEASUREMENTS_CSV).write_text(measurements_csv(result), encoding="utf-8")
        (staging / names.RESPONSE_CSV).write_text(response_csv(result), encoding="utf-8")
        (staging / names.BEST_RESPONSE_CSV).write_text(best_response_csv(result), encoding="utf-8")
        (staging / names.SUMMARY_TXT).write_text(summary_text(result), encoding="utf-8")
        write_json(staging / names.SUMMARY_JSON, summary_json(result))
        if ctx.inputs.targets_path is None:
            detected = [*baseline.outcome.detected, *(d for f in followups for d in f.detected)]
            (staging / names.DETECTED_CSV).write_text(detected_csv(detected), encoding="utf-8")
    inputs = inputs_entry(
        ctx.inputs.index, result.timepoints, result.dropped, baseline.slice_thickness_mm, ctx.inputs.not_read
    )

    def manifest(pdf_written: bool) -> dict[str, object]:
        return build_manifest(
            study_dir=ctx.inputs.study_dir,
            targets_path=ctx.inputs.targets_path,
            targets=baseline.targets,
            inputs=inputs,
            config=ctx.config,
            prov=ctx.prov,
            dicom_written=ctx.dicom_written,
            pdf_written=pdf_written,
        )

    with ctx.prov.stage("qc"):
        ctx.figures.wait()  # the report shows the QC images
    write_json(staging / names.RUN_JSON, manifest(False))
    with ctx.prov.stage("report"):
        ctx.say("writing report.html", stage="report")
        write_patient_report(staging)
        if ctx.pdf_browser is not None:
            ctx.say("printing report.pdf", stage="report")
            try:
                write_pdf(staging / names.REPORT_HTML, staging / names.REPORT_PDF, ctx.pdf_browser)
            except PdfError as exc:
                log.warning("report.pdf not written: %s", exc)
    if ctx.pdf_browser is not None:  # run.json lists report.pdf, or the warning why it is missing
        write_json(staging / names.RUN_JSON, manifest((staging / names.REPORT_PDF).is_file()))


def run_study(
    study_dir: Path | str,
    out_dir: Path | str,
    targets_file: Path | str | None = None,
    config: RunConfig | None = None,
    progress: Callable[..., None] | None = None,
    dicom_out: bool = False,
    automatic: bool = False,
    pdf_browser: str | None = None,
) -> StudyResult:
    """Run the whole chain on one patient's study folder and write the outputs to ``out_dir``.

    Targets come from ``targets_file``, else ``STUDY_DIR/targets.json``; without
    either, ``automatic`` must be true (automatic mode), else the study is bad
    input. ``progress(message, stage=..., step=..., total=...)`` receives the
    progress lines (default: :class:`pipeline.progress.Progress`); ``dicom_out``
    adds the DICOM SEG and SR of every timepoint (``dicom/``); ``pdf_browser``
    (see :func:`pipeline.outputs.report.pdf.find_browser`) prints ``report.pdf``.
    """
    config = config or RunConfig()
    say = progress or Progress()
    prov = Provenance()
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(config.threads)
    figures = Drawing(workers=1 if config.threads > 1 else 0)  # QC images drawn beside the run
    with prov.capture_warnings(), staged_output(Path(out_dir), Path(study_dir)) as staging, figures:
        # the figure worker starts with the first figure: after the header scan, whose processes take both cores,
        # and not at all for a study refused before any figure (its start-up would only delay the error)
        inputs = read_study(Path(study_dir), targets_file, config, prov, say, automatic)
        dicom: list[dict[str, object]] | None = [] if dicom_out else None
        ctx = RunContext(inputs, config, prov, say, staging, dicom, pdf_browser=pdf_browser, figures=figures)
        baseline, ctx = process_baseline(ctx)
        followups = process_followups(ctx, baseline)
        result = assess(ctx, baseline, followups)
        write_outputs(ctx, baseline, followups, result)
    return replace(result, warnings=tuple(prov.warnings))
