"""The ``run`` stage chain for one patient: load -> register -> segment -> measure -> assess -> write.

Only the baseline CT and one follow-up are in memory at a time. Bad input is
detected before anything reaches ``OUT_DIR`` (see :mod:`pipeline.outputs`).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from measurement.response import assess_recist
from pipeline import spatial
from pipeline.config import RunConfig
from pipeline.dicom_out import series_instances, write_timepoint_dicom
from pipeline.discover import DicomIndex, discover
from pipeline.errors import InputError, RegistrationError, TargetsError
from pipeline.lesions import SeedRequest, process_timepoint
from pipeline.load import LoadedSeries, load_ct, load_first_usable, load_pet
from pipeline.outputs import measurements_csv, response_csv, staged_output, write_json, write_label_map
from pipeline.progress import Progress
from pipeline.provenance import Provenance, software_versions
from pipeline.qc import registration_png
from pipeline.qc_lesion import lesion_qc
from pipeline.records import NOT_FOUND, LesionRecord, Point, StudyResult, TimepointRecord
from pipeline.report import write_patient_report
from pipeline.register import RegistrationResult, register_followup
from pipeline.series_selection import Timepoint, select_timepoints
from pipeline.summary import summary_text
from pipeline.targets import TARGETS_FILENAME, Target, read_targets
from pipeline.tracking import residuals
from segmentation.liver import segment_liver

log = logging.getLogger(__name__)

BODY_THRESHOLD_HU = -500.0


def resolve_targets_path(study_dir: Path, targets: Path | str | None) -> Path:
    if targets is not None:
        return Path(targets)
    default = study_dir / TARGETS_FILENAME
    if not default.exists():
        raise TargetsError(
            f"{study_dir}: no targets given (use --targets FILE or put {TARGETS_FILENAME} in the study folder)"
        )
    return default


def check_seeds(targets: tuple[Target, ...], ct: LoadedSeries) -> None:
    """Every baseline seed must lie inside the baseline CT and inside the body."""
    array = sitk.GetArrayViewFromImage(ct.image)
    for t in targets:
        idx = spatial.lps_to_index_zyx(ct.image, np.asarray(t.seed_lps_mm))
        where = f"seed of lesion {t.lesion_id} at {list(t.seed_lps_mm)} mm"
        if not spatial.inside(ct.image, idx):
            raise TargetsError(f"{where} lies outside the baseline CT (series {ct.series_uid})")
        hu = float(array[tuple(int(round(v)) for v in idx)])
        if hu < BODY_THRESHOLD_HU:
            raise TargetsError(f"{where} is outside the body ({hu:.0f} HU in the baseline CT)")


def _load_pet(tp: Timepoint, root: Path, ct: LoadedSeries) -> LoadedSeries | None:
    """The timepoint's PET, if it loads and shares the CT's frame of reference (checked, not assumed)."""
    if not tp.pet_candidates:
        return None
    try:
        pet = load_first_usable(tp.pet_candidates, load_pet, root, f"{tp.label} PET")
    except InputError as exc:
        log.warning("%s: PET not used: %s", tp.label, exc)
        return None
    if pet.frame_of_reference_uid != ct.frame_of_reference_uid:
        log.warning(
            "%s: PET series %s is in another frame of reference than the CT (%s vs %s); PET not used",
            tp.label, pet.series_uid, pet.frame_of_reference_uid, ct.frame_of_reference_uid,
        )  # fmt: skip
        return None
    return pet


def _timepoint_record(
    index: int, tp: Timepoint, baseline_date: dt.date | None, ct: LoadedSeries, pet: LoadedSeries | None,
    registration: dict[str, object] | None, lesions: list[LesionRecord], mask_file: str, tracking: dict[str, object],
) -> TimepointRecord:  # fmt: skip
    days = (tp.study_date - baseline_date).days if tp.study_date and baseline_date else None
    return TimepointRecord(
        index=index,
        study_uid=tp.study_uid,
        study_date=tp.study_date,
        days_from_baseline=days,
        ct_series_uid=ct.series_uid,
        ct_slices=ct.n_slices,
        pet_series_uid=pet.series_uid if pet else None,
        pet_units=pet.units if pet else None,
        suv_factor=asdict(pet.suv) if pet and pet.suv else ({"unavailable": pet.suv_unavailable_reason} if pet else None),
        registration=registration,
        lesions=tuple(lesions),
        skipped_series=tp.skipped,
        mask_file=mask_file,
        tracking=tracking,
    )


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
    study_dir, out_dir = Path(study_dir), Path(out_dir)
    say = progress or Progress()
    prov = Provenance()
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(config.threads)
    with prov.capture_warnings():
        if not study_dir.is_dir():
            raise InputError(f"{study_dir}: study folder not found")
        targets_path = resolve_targets_path(study_dir, targets_file)
        targets = read_targets(targets_path)
        with prov.stage("discover"):
            say("discovering DICOM files in the study folder", stage="discover")
            index = discover(study_dir, ignore={targets_path})
        with prov.stage("select"):
            timepoints = select_timepoints(index, config.min_ct_slices)
        say(f"found {len(index.instances)} DICOM instances, {len(timepoints)} candidate timepoint(s)", stage="discover")
        with staged_output(out_dir) as staging:
            dicom_written: list[dict[str, object]] | None = [] if dicom_out else None
            result, inputs = _process(index, timepoints, targets, config, prov, staging, say, dicom_written)
            with prov.stage("write"):
                (staging / "measurements.csv").write_text(measurements_csv(result), encoding="utf-8")
                (staging / "response.csv").write_text(response_csv(result), encoding="utf-8")
                (staging / "summary.txt").write_text(summary_text(result), encoding="utf-8")
            manifest = {
                "tool": {"name": "lesion-pipeline", "version": software_versions()["lesion-pipeline"]},
                "started_at": prov.started.isoformat(timespec="seconds"),
                "finished_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                "study_dir": str(study_dir),
                "targets_file": str(targets_path),
                "targets": [asdict(t) for t in targets],
                "inputs": inputs,
                "parameters": config.as_record(),
                "versions": software_versions(),
                "timings_s": {k: round(v, 3) for k, v in prov.timings_s.items()},
                "warnings": prov.warnings,
                "outputs": ["measurements.csv", "response.csv", "summary.txt", "masks/", "qc/", "run.json", "report.html"]
                + (["dicom/"] if dicom_written is not None else []),
            }
            if dicom_written is not None:
                manifest["dicom"] = dicom_written
            write_json(staging / "run.json", manifest)
            with prov.stage("report"):
                say("writing report.html", stage="report")
                write_patient_report(staging)
    return StudyResult(result.patient_id, result.timepoints, result.recist, result.total_volume_ml, tuple(prov.warnings))


@dataclass
class _Reference:
    """What a follow-up is registered to: a CT, its liver region and the lesion centroids found on it."""

    ct: LoadedSeries
    liver_zyx: np.ndarray
    centroids: dict[str, Point]
    label: str


def _reference(ct: LoadedSeries, lesions: list[LesionRecord], label: str) -> _Reference:
    found = {r.lesion_id: r.centroid_lps_mm for r in lesions if r.measured and r.centroid_lps_mm}
    seeds = [spatial.lps_to_index_zyx(ct.image, np.asarray(c)) for c in found.values()]
    liver = segment_liver(spatial.array_zyx(ct.image), spatial.spacing_zyx(ct.image), seeds).mask_zyx
    return _Reference(ct, liver, found, label)  # type: ignore[arg-type]


def _track(
    ref: _Reference, ct: LoadedSeries, targets: tuple[Target, ...], found_at_baseline: set[str], config: RunConfig
) -> tuple[list[SeedRequest], RegistrationResult | None, dict[str, object]]:
    """Register ``ct`` to the reference and say where to look for every target."""
    roi = sitk.GetImageFromArray(ref.liver_zyx.astype(np.uint8))
    roi.CopyInformation(ref.ct.image)
    try:
        reg = register_followup(ref.ct.image, ct.image, config.registration, roi)
        record: dict[str, object] = {"reference": ref.label, **reg.as_record()}
    except RegistrationError as exc:
        log.warning("registration to the %s failed: %s", ref.label, exc)
        reg, record = None, {"reference": ref.label, "failed": str(exc)}
    requests = []
    for t in targets:
        if t.lesion_id not in found_at_baseline:
            requests.append(SeedRequest(t.lesion_id, None, False, "not found at baseline"))
        elif reg is None:
            requests.append(SeedRequest(t.lesion_id, None, False, f"registration to the {ref.label} failed"))
        elif t.lesion_id not in ref.centroids:
            requests.append(SeedRequest(t.lesion_id, None, False, f"not found at the {ref.label}"))
        else:
            requests.append(SeedRequest(t.lesion_id, reg.map_point(ref.centroids[t.lesion_id]), recentre=True))
    return requests, reg, record


def _process(
    index: DicomIndex,
    timepoints: list[Timepoint],
    targets: tuple[Target, ...],
    config: RunConfig,
    prov: Provenance,
    staging: Path,
    say: Callable[..., None],
    dicom_written: list[dict[str, object]] | None = None,
) -> tuple[StudyResult, dict[str, object]]:
    root = index.root
    baseline_tp = timepoints[0]
    with prov.stage("load"):
        baseline_ct = load_first_usable(baseline_tp.ct_candidates, load_ct, root, f"{baseline_tp.label} CT")
    check_seeds(targets, baseline_ct)
    records: list[TimepointRecord] = []
    dropped: list[dict[str, str]] = []
    found_at_baseline: set[str] = set()
    baseline_ref: _Reference | None = None
    previous_ref: _Reference | None = None
    for tp in timepoints:
        is_baseline = tp is baseline_tp
        with prov.stage("load"):
            if is_baseline:
                ct = baseline_ct
            else:
                try:
                    ct = load_first_usable(tp.ct_candidates, load_ct, root, f"{tp.label} CT")
                except InputError as exc:
                    log.warning("%s dropped: no loadable CT (%s)", tp.label, exc)
                    dropped.append({"study_instance_uid": tp.study_uid, "reason": str(exc)})
                    continue
            pet = _load_pet(tp, root, ct)
        out_index = len(records)
        say(
            f"timepoint {out_index} ({tp.study_date}): CT {ct.image.GetSize()} {'+ PET' if pet else '(no PET)'}",
            stage="load", step=tp.index + 1, total=len(timepoints),
        )  # fmt: skip
        registration: dict[str, object] | None = None
        reg: RegistrationResult | None = None
        ref: _Reference | None = None
        if is_baseline:
            requests = [SeedRequest(t.lesion_id, t.seed_lps_mm, recentre=False) for t in targets]
        else:
            assert baseline_ref is not None
            ref = previous_ref if config.chain_registration and previous_ref is not None else baseline_ref
            with prov.stage("register"):
                requests, reg, registration = _track(ref, ct, targets, found_at_baseline, config)
            if reg is not None:
                say(
                    f"timepoint {out_index} registered to the {ref.label} in {reg.elapsed_s:.1f} s (rotation {reg.rotation_deg:.1f} deg)",
                    stage="register", step=tp.index, total=len(timepoints) - 1,
                )  # fmt: skip
        with prov.stage("segment+measure"):
            result = process_timepoint(requests, ct, pet, config)
        lesions = result.records
        if is_baseline:
            found_at_baseline = {r.lesion_id for r in lesions if r.measured}
            if not found_at_baseline:
                raise InputError(
                    "no target lesion found at baseline: " + "; ".join(f"{r.lesion_id}: {r.reason}" for r in lesions)
                )
        tracking: dict[str, object] = {"flags": result.flags}
        if reg is not None and ref is not None:
            mapped = {q.lesion_id: q.seed_lps_mm for q in requests if q.seed_lps_mm is not None}
            found = {r.lesion_id: r.centroid_lps_mm for r in lesions if r.measured and r.centroid_lps_mm}
            res = residuals(mapped, found, config.max_registration_residual_mm)  # type: ignore[arg-type]
            tracking["registration_residuals"] = res.as_record()
            if not res.plausible:
                log.warning(
                    "%s: registration looks wrong: mapped lesions lie %.1f mm (median) from where they were found",
                    tp.label, res.median_mm,
                )  # fmt: skip
            with prov.stage("qc"):
                registration_png(
                    staging / f"qc/registration_timepoint_{out_index}.png", ref.ct.image, ct.image, reg.transform,
                    ref.liver_zyx, f"timepoint {out_index} ({tp.study_date}) registered to the {ref.label}",
                )  # fmt: skip
        mask_file = f"masks/timepoint_{out_index}.nii.gz"
        with prov.stage("write"):
            write_label_map(staging / mask_file, result.labels_zyx, ct.image)
        records.append(
            _timepoint_record(out_index, tp, baseline_tp.study_date, ct, pet, registration, lesions, mask_file, tracking)
        )
        for k, r in enumerate(lesions, start=1):
            outcome = f"{r.longest_diameter_mm:.1f} mm, {r.volume_ml:.2f} ml" if r.measured else "not found"
            say(f"timepoint {out_index}: {r.lesion_id}: {outcome}", stage="measure", step=k, total=len(lesions))
        with prov.stage("qc"):
            lesion_qc(staging / "qc", out_index, ct, pet, result.labels_zyx, lesions, f"timepoint {out_index} ({tp.study_date})")
        if dicom_written is not None:
            with prov.stage("dicom"):
                say(f"timepoint {out_index}: writing DICOM SEG and SR", stage="dicom")
                ct_instances = series_instances(tp.ct_candidates, ct.series_uid)
                written = write_timepoint_dicom(
                    staging / "dicom", out_index, ct_instances, result.labels_zyx, lesions, targets,
                    baseline_tp.study_uid, pet is not None and pet.suv is not None,
                )  # fmt: skip
                if written is not None:
                    dicom_written.append(written)
        with prov.stage("segment+measure"):
            label = "baseline" if is_baseline else f"timepoint {out_index}"
            current = _reference(ct, lesions, label) if (is_baseline or config.chain_registration) else None
        if is_baseline:
            baseline_ref = current
        previous_ref = current
        del ct, pet, result
    with prov.stage("assess"):
        sums = []
        for tp_record in records:
            total = 0.0
            for r in tp_record.lesions:
                if r.lesion_id not in found_at_baseline:
                    continue
                if r.status == NOT_FOUND and tp_record.index > 0:
                    log.warning("timepoint %d: lesion %s not found, counted as 0 mm (disappeared)", tp_record.index, r.lesion_id)
                total += r.longest_diameter_mm or 0.0
            sums.append(total)
        recist = assess_recist(sums, config=config.recist)
        volumes = [sum(r.volume_ml or 0.0 for r in tp_record.lesions if r.lesion_id in found_at_baseline) for tp_record in records]
    patient_id = index.instances[0].patient_id
    inputs = {
        "files_scanned": index.files_scanned,
        "dicom_instances": len(index.instances),
        "skipped_files": [{"file": f, "reason": r} for f, r in index.skipped],
        "dropped_timepoints": dropped,
        "timepoints": [
            {
                "timepoint": r.index,
                "study_instance_uid": r.study_uid,
                "study_date": r.study_date.isoformat() if r.study_date else None,
                "ct_series_instance_uid": r.ct_series_uid,
                "ct_slices": r.ct_slices,
                "pet_series_instance_uid": r.pet_series_uid,
                "pet_units": r.pet_units,
                "suv_factor": r.suv_factor,
                "registration": r.registration,
                "tracking": r.tracking,
                "skipped_series": [{"series_instance_uid": u, "reason": why} for u, why in r.skipped_series],
                "mask": r.mask_file,
                "lesions": [asdict(lesion) for lesion in r.lesions],
            }
            for r in records
        ],
    }
    return StudyResult(patient_id, tuple(records), tuple(recist), tuple(volumes)), inputs
