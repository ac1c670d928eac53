"""The ``run`` stage chain for one patient: load -> register -> segment -> measure -> assess -> write.

Only the baseline CT and one follow-up are in memory at a time. Bad input is
detected before anything reaches ``OUT_DIR`` (see :mod:`pipeline.outputs`).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from pipeline import spatial
from pipeline.annotations import Annotations, read_annotations
from pipeline.assess import assess_study
from pipeline.config import RunConfig
from pipeline.discover import DicomIndex, discover
from pipeline.errors import InputError, RegistrationError, TargetsError
from pipeline.lesions import SeedRequest, process_timepoint
from pipeline.load import LoadedSeries, load_ct, load_first_usable, load_pet
from pipeline.outputs import measurements_csv, response_csv, staged_output, summary_json, write_json, write_label_map
from pipeline.pet_reference import PetReference, pet_reference, series_instances, slice_thickness_mm
from pipeline.provenance import Provenance, software_versions
from pipeline.records import LesionRecord, StudyResult, TimepointRecord
from pipeline.register import register_followup
from pipeline.series_selection import Timepoint, select_timepoints
from pipeline.summary import summary_text
from pipeline.targets import TARGETS_FILENAME, Target, read_targets

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


def _load_pet(tp: Timepoint, root: Path) -> LoadedSeries | None:
    if not tp.pet_candidates:
        return None
    try:
        return load_first_usable(tp.pet_candidates, load_pet, root, f"{tp.label} PET")
    except InputError as exc:
        log.warning("%s: PET not used: %s", tp.label, exc)
        return None


def _timepoint_record(
    index: int, tp: Timepoint, baseline_date: dt.date | None, ct: LoadedSeries, pet: LoadedSeries | None,
    registration: dict[str, object] | None, lesions: list[LesionRecord], mask_file: str,
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
    )


def _pet_reference(
    tp: Timepoint, ct: LoadedSeries, pet: LoadedSeries | None, labels: np.ndarray, annotations: Annotations,
    reg: object, is_baseline: bool, config: RunConfig,
) -> PetReference | None:  # fmt: skip
    """The timepoint's PERCIST reference; the reader's baseline points are mapped to follow-ups."""
    if pet is None or pet.suv is None:
        return None

    def mapped(point: tuple[float, float, float] | None) -> tuple[float, float, float] | None:
        if point is None or is_baseline:
            return point
        return reg.map_point(point) if reg is not None else None  # type: ignore[attr-defined]

    instances = series_instances(tp.pet_candidates, pet.series_uid)
    return pet_reference(
        pet, instances, ct, labels, config.percist, mapped(annotations.liver_reference_lps_mm), mapped(annotations.blood_pool_lps_mm)
    )


def run_study(
    study_dir: Path | str,
    out_dir: Path | str,
    targets_file: Path | str | None = None,
    config: RunConfig | None = None,
    progress: Callable[[str], None] | None = None,
) -> StudyResult:
    """Run the whole chain on one patient's study folder and write the outputs to ``out_dir``."""
    config = config or RunConfig()
    study_dir, out_dir = Path(study_dir), Path(out_dir)
    say = progress or (lambda message: log.info(message))
    prov = Provenance()
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(config.threads)
    with prov.capture_warnings():
        if not study_dir.is_dir():
            raise InputError(f"{study_dir}: study folder not found")
        targets_path = resolve_targets_path(study_dir, targets_file)
        targets = read_targets(targets_path)
        annotations = read_annotations(targets_path, {t.lesion_id for t in targets})
        with prov.stage("discover"):
            say(f"discovering DICOM files in {study_dir}")
            index = discover(study_dir, ignore={targets_path})
        with prov.stage("select"):
            timepoints = select_timepoints(index, config.min_ct_slices)
        say(f"found {len(index.instances)} DICOM instances, {len(timepoints)} candidate timepoint(s)")
        with staged_output(out_dir) as staging:
            result, inputs = _process(index, timepoints, targets, annotations, config, prov, staging, say)
            with prov.stage("write"):
                (staging / "measurements.csv").write_text(measurements_csv(result), encoding="utf-8")
                (staging / "response.csv").write_text(response_csv(result), encoding="utf-8")
                (staging / "summary.txt").write_text(summary_text(result), encoding="utf-8")
                write_json(staging / "summary.json", summary_json(result))
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
                "outputs": ["measurements.csv", "response.csv", "summary.txt", "summary.json", "masks/", "run.json"],
            }
            write_json(staging / "run.json", manifest)
    return replace(result, warnings=tuple(prov.warnings))


def _process(
    index: DicomIndex,
    timepoints: list[Timepoint],
    targets: tuple[Target, ...],
    annotations: Annotations,
    config: RunConfig,
    prov: Provenance,
    staging: Path,
    say: Callable[[str], None],
) -> tuple[StudyResult, dict[str, object]]:
    root = index.root
    baseline_tp = timepoints[0]
    with prov.stage("load"):
        baseline_ct = load_first_usable(baseline_tp.ct_candidates, load_ct, root, f"{baseline_tp.label} CT")
    check_seeds(targets, baseline_ct)
    baseline_thickness = slice_thickness_mm(baseline_tp.ct_candidates, baseline_ct)
    records: list[TimepointRecord] = []
    dropped: list[dict[str, str]] = []
    found_at_baseline: set[str] = set()
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
            pet = _load_pet(tp, root)
        out_index = len(records)
        say(f"timepoint {out_index} ({tp.study_date}): CT {ct.image.GetSize()} {'+ PET' if pet else '(no PET)'}")
        registration = None
        reg = None
        requests: list[SeedRequest]
        if is_baseline:
            requests = [SeedRequest(t.lesion_id, t.seed_lps_mm, recentre=False) for t in targets]
        else:
            with prov.stage("register"):
                try:
                    reg = register_followup(baseline_ct.image, ct.image, config.registration)
                    registration = reg.as_record()
                    say(f"  registered to baseline in {reg.elapsed_s:.1f} s (rotation {reg.rotation_deg:.1f} deg)")
                except RegistrationError as exc:
                    log.warning("%s: registration to baseline failed: %s", tp.label, exc)
                    reg = None
                    registration = {"failed": str(exc)}
            requests = []
            for t in targets:
                if t.lesion_id not in found_at_baseline:
                    requests.append(SeedRequest(t.lesion_id, None, False, "not found at baseline"))
                elif reg is None:
                    requests.append(SeedRequest(t.lesion_id, None, False, "registration to baseline failed"))
                else:
                    requests.append(SeedRequest(t.lesion_id, reg.map_point(t.seed_lps_mm), recentre=True))
        with prov.stage("segment+measure"):
            lesions, labels = process_timepoint(requests, ct, pet, config)
        with prov.stage("pet reference"):
            reference = _pet_reference(tp, ct, pet, labels, annotations, reg, is_baseline, config)
        if reference is not None and reference.sul_per_suvbw is not None:
            f = reference.sul_per_suvbw
            lesions = [replace(r, sul_peak=r.suv_peak * f) if r.suv_peak is not None else r for r in lesions]
        if is_baseline:
            found_at_baseline = {r.lesion_id for r in lesions if r.measured}
            if not found_at_baseline:
                raise InputError(
                    "no target lesion found at baseline: "
                    + "; ".join(f"{r.lesion_id}: {r.reason}" for r in lesions)
                )
        mask_file = f"masks/timepoint_{out_index}.nii.gz"
        with prov.stage("write"):
            write_label_map(staging / mask_file, labels, ct.image)
        record = _timepoint_record(out_index, tp, baseline_tp.study_date, ct, pet, registration, lesions, mask_file)
        records.append(replace(record, pet_reference=reference.as_record() if reference else None))
        for r in lesions:
            if r.measured:
                say(f"  {r.lesion_id}: {r.longest_diameter_mm:.1f} mm, {r.volume_ml:.2f} ml")
        del ct, pet, labels
    with prov.stage("assess"):
        assessment = assess_study(records, targets, found_at_baseline, annotations, baseline_thickness, config)
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
                "registration_to_baseline": r.registration,
                "skipped_series": [{"series_instance_uid": u, "reason": why} for u, why in r.skipped_series],
                "mask": r.mask_file,
                "pet_reference": r.pet_reference,
                "lesions": [asdict(lesion) for lesion in r.lesions],
            }
            for r in records
        ],
    }
    inputs["baseline_ct_slice_thickness_mm"] = baseline_thickness
    result = StudyResult(patient_id, tuple(records), assessment.recist, assessment.total_volume_ml, assessment=assessment)
    return result, inputs
