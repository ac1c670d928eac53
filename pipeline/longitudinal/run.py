"""The ``run`` stage chain for one patient: read -> baseline -> each follow-up -> assess -> write.

Only the baseline CT and one follow-up are in memory at a time. Bad input is
detected before anything reaches ``OUT_DIR`` (see :mod:`pipeline.outputs.staging`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import SimpleITK as sitk

from pipeline.config import RunConfig
from pipeline.dicom.discover import discover
from pipeline.dicom.selection import select_timepoints
from pipeline.errors import InputError
from pipeline.longitudinal.assess import assess_study
from pipeline.longitudinal.autodetect import detected_csv
from pipeline.longitudinal.context import RunContext, StudyInputs
from pipeline.longitudinal.timepoint import Baseline, TimepointOutcome, process_baseline, process_followups
from pipeline.outputs import names
from pipeline.outputs.manifest import build_manifest, inputs_entry
from pipeline.outputs.report import write_patient_report
from pipeline.outputs.staging import staged_output
from pipeline.outputs.summary import summary_text
from pipeline.outputs.tables import measurements_csv, response_csv, summary_json, write_json
from pipeline.progress import Progress
from pipeline.provenance import Provenance
from pipeline.records import StudyResult
from pipeline.targets.annotations import Annotations
from pipeline.targets.json_file import TARGETS_FILENAME
from pipeline.targets.sources import combine, read_dicom_targets, read_json_targets, target_source


def resolve_targets_path(study_dir: Path, targets: Path | str | None) -> Path | None:
    """The targets file to use; ``None`` (automatic mode) when none is given and the study has none."""
    if targets is not None:
        return Path(targets)
    default = study_dir / TARGETS_FILENAME
    return default if default.exists() else None


def read_study(
    study_dir: Path, targets_file: Path | str | None, config: RunConfig, prov: Provenance, say: Callable[..., None]
) -> StudyInputs:
    """The targets (if any) and the DICOM index of the study folder, sorted into timepoints."""
    if not study_dir.is_dir():
        raise InputError(f"{study_dir}: study folder not found")
    targets_path = resolve_targets_path(study_dir, targets_file)
    source = target_source(targets_path) if targets_path else None
    json_targets, annotations = read_json_targets(source) if source else ((), Annotations())
    if source is None:
        say("no targets given: automatic mode (targets chosen among the lesions detected at baseline)")
    with prov.stage("discover"):
        say("discovering DICOM files in the study folder", stage="discover")
        index = discover(study_dir, ignore=source.files if source else set())
    with prov.stage("select"):
        timepoints = select_timepoints(index, config.selection.min_ct_slices, config.selection)
    say(f"found {len(index.instances)} DICOM instances, {len(timepoints)} candidate timepoint(s)", stage="discover")
    targets = None
    if source is not None:
        viewer = read_dicom_targets(source, index, timepoints[0].study_uid) if source.dicom_files else ()
        targets = combine([json_targets, viewer], source)
    return StudyInputs(study_dir, index, tuple(timepoints), targets_path, targets, annotations)


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
    return StudyResult(patient_id, tuple(records), assessment.recist, assessment.total_volume_ml, assessment=assessment)


def write_outputs(
    ctx: RunContext, baseline: Baseline, followups: Sequence[TimepointOutcome], result: StudyResult
) -> None:
    """Tables, summary, detected lesions (automatic mode), ``run.json`` and the report, into the staging folder."""
    staging = ctx.staging
    with ctx.prov.stage("write"):
        (staging / names.MEASUREMENTS_CSV).write_text(measurements_csv(result), encoding="utf-8")
        (staging / names.RESPONSE_CSV).write_text(response_csv(result), encoding="utf-8")
        (staging / names.SUMMARY_TXT).write_text(summary_text(result), encoding="utf-8")
        write_json(staging / names.SUMMARY_JSON, summary_json(result))
        if ctx.inputs.targets_path is None:
            detected = [*baseline.outcome.detected, *(d for f in followups for d in f.detected)]
            (staging / names.DETECTED_CSV).write_text(detected_csv(detected), encoding="utf-8")
    inputs = inputs_entry(ctx.inputs.index, result.timepoints, ctx.dropped, baseline.slice_thickness_mm)
    manifest = build_manifest(
        study_dir=ctx.inputs.study_dir,
        targets_path=ctx.inputs.targets_path,
        targets=baseline.targets,
        inputs=inputs,
        config=ctx.config,
        prov=ctx.prov,
        dicom_written=ctx.dicom_written,
    )
    write_json(staging / names.RUN_JSON, manifest)
    with ctx.prov.stage("report"):
        ctx.say("writing report.html", stage="report")
        write_patient_report(staging)


def run_study(
    study_dir: Path | str,
    out_dir: Path | str,
    targets_file: Path | str | None = None,
    config: RunConfig | None = None,
    progress: Callable[..., None] | None = None,
    dicom_out: bool = False,
) -> StudyResult:
    """Run the whole chain on one patient's study folder and write the outputs to ``out_dir``.

    ``progress(message, stage=..., step=..., total=...)`` receives the progress
    lines (default: :class:`pipeline.progress.Progress`); ``dicom_out`` adds
    the DICOM SEG and SR of every timepoint (``dicom/``).
    """
    config = config or RunConfig()
    say = progress or Progress()
    prov = Provenance()
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(config.threads)
    with prov.capture_warnings():
        inputs = read_study(Path(study_dir), targets_file, config, prov, say)
        with staged_output(Path(out_dir)) as staging:
            ctx = RunContext(inputs, config, prov, say, staging, [] if dicom_out else None)
            baseline, ctx = process_baseline(ctx)
            followups = process_followups(ctx, baseline)
            result = assess(ctx, baseline, followups)
            write_outputs(ctx, baseline, followups, result)
    return replace(result, warnings=tuple(prov.warnings))
