"""The ``run`` stage chain for one patient: load -> register -> segment -> measure -> assess -> write.

Only the baseline CT and one follow-up are in memory at a time. Bad input is
detected before anything reaches ``OUT_DIR`` (see :mod:`pipeline.outputs.tables`).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from pipeline import spatial
from pipeline.config import RunConfig
from pipeline.dicom.discover import DicomIndex, discover
from pipeline.dicom.load import LoadedSeries, load_ct, load_first_usable, load_pet
from pipeline.dicom.selection import Timepoint, select_timepoints
from pipeline.errors import InputError, NoLiverError, RegistrationError, TargetsError
from pipeline.longitudinal.assess import assess_study
from pipeline.longitudinal.autodetect import DetectedLesion, detect, detected_csv, new_lesion_candidates, targets_from
from pipeline.longitudinal.lesions import SeedRequest, process_timepoint
from pipeline.longitudinal.liver import LiverMask, LiverMaskFiles, liver_for, liver_mask_files
from pipeline.longitudinal.pet_reference import PetReference, pet_reference, slice_thickness_mm
from pipeline.longitudinal.register import RegistrationResult, register_followup
from pipeline.longitudinal.tracking import residuals
from pipeline.outputs.dicom_out import write_timepoint_dicom
from pipeline.outputs.qc_lesion import lesion_qc
from pipeline.outputs.qc_liver import liver_png
from pipeline.outputs.qc_registration import registration_png
from pipeline.outputs.report import write_patient_report
from pipeline.outputs.summary import summary_text
from pipeline.outputs.tables import (
    measurements_csv,
    response_csv,
    staged_output,
    summary_json,
    write_json,
    write_label_map,
)
from pipeline.progress import Progress
from pipeline.provenance import Provenance, software_versions
from pipeline.records import LesionRecord, Point, StudyResult, TimepointRecord
from pipeline.targets.annotations import Annotations, read_annotations
from pipeline.targets.json_file import TARGETS_FILENAME, Target, read_targets, targets_to_json
from segmentation.ct_lesion import CtLesionSegmenter

log = logging.getLogger(__name__)

BODY_THRESHOLD_HU = -500.0
DETECTED_FILENAME = "detected_lesions.csv"


def resolve_targets_path(study_dir: Path, targets: Path | str | None) -> Path | None:
    """The targets file to use; ``None`` (automatic mode) when none is given and the study has none."""
    if targets is not None:
        return Path(targets)
    default = study_dir / TARGETS_FILENAME
    return default if default.exists() else None


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
            tp.label,
            pet.series_uid,
            pet.frame_of_reference_uid,
            ct.frame_of_reference_uid,
        )
        return None
    return pet


def _timepoint_record(
    index: int,
    tp: Timepoint,
    baseline_date: dt.date | None,
    ct: LoadedSeries,
    pet: LoadedSeries | None,
    registration: dict[str, object] | None,
    lesions: list[LesionRecord],
    mask_file: str,
    tracking: dict[str, object],
) -> TimepointRecord:
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
        suv_factor=asdict(pet.suv)
        if pet and pet.suv
        else ({"unavailable": pet.suv_unavailable_reason} if pet else None),
        registration=registration,
        lesions=tuple(lesions),
        skipped_series=tp.skipped,
        mask_file=mask_file,
        tracking=tracking,
    )


def _pet_reference(
    tp: Timepoint,
    ct: LoadedSeries,
    pet: LoadedSeries | None,
    labels: np.ndarray,
    annotations: Annotations,
    reg: RegistrationResult | None,
    is_baseline: bool,
    config: RunConfig,
) -> PetReference | None:
    """The timepoint's PERCIST reference; the reader's baseline points are mapped to follow-ups."""
    if pet is None or pet.suv is None:
        return None

    def mapped(point: Point | None) -> Point | None:
        if point is None or is_baseline:
            return point
        return reg.map_point(point) if reg is not None else None

    return pet_reference(
        pet,
        ct,
        labels,
        config.percist,
        mapped(annotations.liver_reference_lps_mm),
        mapped(annotations.blood_pool_lps_mm),
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
        targets = read_targets(targets_path) if targets_path else None
        annotations = (
            read_annotations(targets_path, {t.lesion_id for t in targets})
            if targets_path and targets
            else Annotations()
        )
        if targets is None:
            say("no targets given: automatic mode (targets chosen among the lesions detected at baseline)")
        with prov.stage("discover"):
            say("discovering DICOM files in the study folder", stage="discover")
            index = discover(study_dir, ignore={targets_path} if targets_path else set())
        with prov.stage("select"):
            timepoints = select_timepoints(index, config.selection.min_ct_slices, config.selection)
        say(f"found {len(index.instances)} DICOM instances, {len(timepoints)} candidate timepoint(s)", stage="discover")
        with staged_output(out_dir) as staging:
            dicom_written: list[dict[str, object]] | None = [] if dicom_out else None
            result, inputs, targets = _process(
                index, timepoints, targets, annotations, config, prov, staging, say, dicom_written
            )
            with prov.stage("write"):
                (staging / "measurements.csv").write_text(measurements_csv(result), encoding="utf-8")
                (staging / "response.csv").write_text(response_csv(result), encoding="utf-8")
                (staging / "summary.txt").write_text(summary_text(result), encoding="utf-8")
                write_json(staging / "summary.json", summary_json(result))
            manifest = {
                "tool": {"name": "lesion-pipeline", "version": software_versions()["lesion-pipeline"]},
                "started_at": prov.started.isoformat(timespec="seconds"),
                "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "study_dir": str(study_dir),
                "targets_file": str(targets_path) if targets_path else None,
                "mode": "targets given"
                if targets_path
                else "automatic (targets.json and detected_lesions.csv written)",
                "targets": [asdict(t) for t in targets],
                "inputs": inputs,
                "parameters": config.as_record(),
                "versions": software_versions(),
                "timings_s": {k: round(v, 3) for k, v in prov.timings_s.items()},
                "warnings": prov.warnings,
                "outputs": [
                    "measurements.csv",
                    "response.csv",
                    "summary.txt",
                    "summary.json",
                    "masks/",
                    "qc/",
                    "run.json",
                    "report.html",
                ]
                + (["dicom/"] if dicom_written is not None else []),
            }
            if dicom_written is not None:
                manifest["dicom"] = dicom_written
            write_json(staging / "run.json", manifest)
            with prov.stage("report"):
                say("writing report.html", stage="report")
                write_patient_report(staging)
    return replace(result, warnings=tuple(prov.warnings))


@dataclass
class _Reference:
    """What a follow-up is registered to: a CT, its liver (when found) and the lesion centroids found on it."""

    ct: LoadedSeries
    liver_zyx: np.ndarray | None
    centroids: dict[str, Point]
    label: str


def _reference(ct: LoadedSeries, lesions: list[LesionRecord], label: str, liver: LiverMask | None) -> _Reference:
    found = {r.lesion_id: r.centroid_lps_mm for r in lesions if r.measured and r.centroid_lps_mm}
    return _Reference(ct, None if liver is None else liver.mask_zyx, found, label)


def _liver(
    ct: LoadedSeries, index: int, files: LiverMaskFiles, config: RunConfig, required: bool
) -> tuple[LiverMask | None, str | None]:
    """The timepoint's liver, or ``None`` and the reason; without a liver, automatic mode stops (``required``)."""
    try:
        return liver_for(ct, index, files, config.liver), None
    except NoLiverError as exc:
        if required:
            raise NoLiverError(f"automatic mode: {exc}") from None
        log.warning("timepoint %d: no liver mask: %s", index, exc)
        return None, str(exc)


def _track(
    ref: _Reference, ct: LoadedSeries, targets: tuple[Target, ...], found_at_baseline: set[str], config: RunConfig
) -> tuple[list[SeedRequest], RegistrationResult | None, dict[str, object]]:
    """Register ``ct`` to the reference and say where to look for every target."""
    roi = None if ref.liver_zyx is None else spatial.image_like(ref.liver_zyx.astype(np.uint8), ref.ct.image)
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


def _automatic_targets(
    ct: LoadedSeries, pet: LoadedSeries | None, liver: LiverMask, config: RunConfig
) -> tuple[list[DetectedLesion], tuple[Target, ...]]:
    detected = detect(
        0, ct, pet, liver.mask_zyx, CtLesionSegmenter(config.ct_lesion), config.detection, lambda k: f"L{k}"
    )
    marked, targets = targets_from(detected, config.recist.max_targets_per_organ, config.recist.max_targets_total)
    if not targets:
        raise InputError(
            "automatic mode: no measurable liver lesion (>= 10 mm) detected at baseline; give targets with --targets"
        )
    return marked, targets


def _new_lesions(
    out_index: int,
    ct: LoadedSeries,
    pet: LoadedSeries | None,
    lesions: list[LesionRecord],
    baseline_detected: list[DetectedLesion],
    reg: RegistrationResult | None,
    liver: LiverMask,
    config: RunConfig,
) -> list[DetectedLesion]:
    """Follow-up candidates (inside its liver) that match no tracked target and no mapped baseline candidate."""
    found = [r.centroid_lps_mm for r in lesions if r.measured and r.centroid_lps_mm]
    detected = detect(
        out_index,
        ct,
        pet,
        liver.mask_zyx,
        CtLesionSegmenter(config.ct_lesion),
        config.detection,
        lambda k: f"T{out_index}-N{k}",
    )
    known = list(found)
    if reg is not None:
        known += [reg.map_point(d.centroid_lps_mm) for d in baseline_detected]
    new = new_lesion_candidates(detected, known, config.detection.match_distance_mm)  # type: ignore[arg-type]
    for d in new:
        log.warning(
            "timepoint %d: new-lesion candidate %s at %s mm (%s, %s); %s",
            out_index,
            d.lesion_id,
            [round(v, 1) for v in d.centroid_lps_mm],
            d.source,
            f"{d.longest_diameter_mm:.1f} mm" if d.longest_diameter_mm else "size n/a",
            "unequivocal on CT and PET: RECIST PD" if d.unequivocal else "equivocal (one modality): reported only",
        )
    return new


def _process(
    index: DicomIndex,
    timepoints: list[Timepoint],
    targets: tuple[Target, ...] | None,
    annotations: Annotations,
    config: RunConfig,
    prov: Provenance,
    staging: Path,
    say: Callable[..., None],
    dicom_written: list[dict[str, object]] | None = None,
) -> tuple[StudyResult, dict[str, object], tuple[Target, ...]]:
    root = index.root
    baseline_tp = timepoints[0]
    automatic = targets is None
    detected_rows: list[DetectedLesion] = []
    with prov.stage("load"):
        baseline_ct = load_first_usable(baseline_tp.ct_candidates, load_ct, root, f"{baseline_tp.label} CT")
    liver_files = liver_mask_files(
        config.liver_mask, [h[0].series_uid for tp in timepoints for h in tp.ct_candidates if h]
    )
    with prov.stage("liver"):
        say(
            "liver: "
            + (
                "segmenting"
                if liver_files.for_timepoint(0, baseline_ct.series_uid) is None
                else "reading the given mask"
            ),
            stage="liver",
        )
        baseline_liver, baseline_liver_failure = _liver(baseline_ct, 0, liver_files, config, required=automatic)
    if targets is None:
        assert baseline_liver is not None
        with prov.stage("detect"):
            detected_rows, targets = _automatic_targets(
                baseline_ct, _load_pet(baseline_tp, root, baseline_ct), baseline_liver, config
            )
        say(f"  detected {len(detected_rows)} candidate(s); targets: {', '.join(t.lesion_id for t in targets)}")
        (staging / TARGETS_FILENAME).write_text(targets_to_json(targets), encoding="utf-8")
    check_seeds(targets, baseline_ct)
    baseline_thickness = slice_thickness_mm(baseline_ct)
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
        if is_baseline:
            liver, liver_failure = baseline_liver, baseline_liver_failure
        else:
            with prov.stage("liver"):
                liver, liver_failure = _liver(ct, out_index, liver_files, config, required=False)
        say(
            f"timepoint {out_index} ({tp.study_date}): CT {ct.image.GetSize()} {'+ PET' if pet else '(no PET)'}",
            stage="load",
            step=tp.index + 1,
            total=len(timepoints),
        )
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
                    stage="register",
                    step=tp.index,
                    total=len(timepoints) - 1,
                )
        with prov.stage("segment+measure"):
            result = process_timepoint(
                requests,
                ct,
                pet,
                config,
                pet_reference=functools.partial(
                    _pet_reference,
                    tp,
                    ct,
                    pet,
                    annotations=annotations,
                    reg=reg,
                    is_baseline=is_baseline,
                    config=config,
                ),
            )
        reference = result.pet_reference
        lesions = result.records
        if reference is not None and reference.sul_per_suvbw is not None:
            f = reference.sul_per_suvbw
            lesions = [replace(r, sul_peak=r.suv_peak * f) if r.suv_peak is not None else r for r in lesions]
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
                    tp.label,
                    res.median_mm,
                )
            with prov.stage("qc"):
                registration_png(
                    staging / f"qc/registration_timepoint_{out_index}.png",
                    ref.ct.image,
                    ct.image,
                    reg.transform,
                    ref.liver_zyx
                    if ref.liver_zyx is not None
                    else np.ones(spatial.array_zyx(ref.ct.image).shape, bool),
                    f"timepoint {out_index} ({tp.study_date}) registered to the {ref.label}",
                )
        new_here: list[DetectedLesion] = []
        if automatic and not is_baseline and liver is None:
            log.warning("timepoint %d: no new-lesion search without a liver mask", out_index)
        elif automatic and not is_baseline:
            assert liver is not None
            with prov.stage("detect"):
                new_here = _new_lesions(
                    out_index, ct, pet, lesions, [d for d in detected_rows if d.timepoint == 0], reg, liver, config
                )
            detected_rows += new_here
        tracking["new_lesion_candidates"] = [d.lesion_id for d in new_here]
        mask_file = f"masks/timepoint_{out_index}.nii.gz"
        with prov.stage("write"):
            write_label_map(staging / mask_file, result.labels_zyx, ct.image)
        liver_record: dict[str, object] = {"failed": liver_failure}
        if liver is not None:
            liver_record = {**liver.as_record(), "mask": f"masks/liver_timepoint_{out_index}.nii.gz"}
            with prov.stage("write"):
                write_label_map(staging / str(liver_record["mask"]), liver.mask_zyx.astype(np.uint8), ct.image)
            with prov.stage("qc"):
                liver_png(
                    staging / f"qc/liver_timepoint_{out_index}.png",
                    ct.image,
                    liver.mask_zyx,
                    f"timepoint {out_index} ({tp.study_date}): liver {liver.volume_ml:.0f} ml ({liver.source})",
                )
        record = _timepoint_record(
            out_index, tp, baseline_tp.study_date, ct, pet, registration, lesions, mask_file, tracking
        )
        records.append(
            replace(
                record,
                pet_reference=reference.as_record() if reference else None,
                new_lesions=tuple(d.lesion_id for d in new_here if d.unequivocal),
                liver=liver_record,
            )
        )
        for k, r in enumerate(lesions, start=1):
            outcome = f"{r.longest_diameter_mm:.1f} mm, {r.volume_ml:.2f} ml" if r.measured else "not found"
            say(f"timepoint {out_index}: {r.lesion_id}: {outcome}", stage="measure", step=k, total=len(lesions))
        with prov.stage("qc"):
            lesion_qc(
                staging / "qc",
                out_index,
                ct,
                pet,
                result.labels_zyx,
                lesions,
                f"timepoint {out_index} ({tp.study_date})",
            )
        if dicom_written is not None:
            with prov.stage("dicom"):
                say(f"timepoint {out_index}: writing DICOM SEG and SR", stage="dicom")
                written = write_timepoint_dicom(
                    staging / "dicom",
                    out_index,
                    ct.instances,
                    result.labels_zyx,
                    lesions,
                    targets,
                    baseline_tp.study_uid,
                    pet is not None and pet.suv is not None,
                )
                if written is not None:
                    dicom_written.append(written)
        with prov.stage("segment+measure"):
            label = "baseline" if is_baseline else f"timepoint {out_index}"
            current = _reference(ct, lesions, label, liver) if (is_baseline or config.chain_registration) else None
        if is_baseline:
            baseline_ref = current
        previous_ref = current
        del ct, pet, result
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
                "registration": r.registration,
                "tracking": r.tracking,
                "pet_reference": r.pet_reference,
                "skipped_series": [{"series_instance_uid": u, "reason": why} for u, why in r.skipped_series],
                "mask": r.mask_file,
                "liver": r.liver,
                "lesions": [asdict(lesion) for lesion in r.lesions],
            }
            for r in records
        ],
    }
    inputs["baseline_ct_slice_thickness_mm"] = baseline_thickness
    if automatic:
        (staging / DETECTED_FILENAME).write_text(detected_csv(detected_rows), encoding="utf-8")
    result = StudyResult(
        patient_id, tuple(records), assessment.recist, assessment.total_volume_ml, assessment=assessment
    )
    return result, inputs, targets
