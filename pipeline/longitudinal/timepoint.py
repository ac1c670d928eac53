"""One timepoint of a run: load, find the targets (seeds at baseline, registration at follow-ups), segment and
measure them, write the timepoint's masks, QC images and DICOM objects, and return its record.

A follow-up whose CT does not load is dropped with a warning (listed in ``run.json``); a baseline that does
not load, or where no target is found, is bad input.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, replace

import numpy as np
import SimpleITK as sitk

from pipeline import spatial
from pipeline.dicom.load import LoadedSeries, load_ct, load_first_usable, load_pet
from pipeline.dicom.selection import Timepoint
from pipeline.dicom.series_kind import derived_note
from pipeline.errors import InputError, NoLiverError, RegistrationError
from pipeline.longitudinal.autodetect import DetectedLesion, automatic_targets, new_lesions
from pipeline.longitudinal.context import Reference, RunContext, reference_of
from pipeline.longitudinal.lesions import SeedRequest, TimepointLesions, process_timepoint
from pipeline.longitudinal.liver import LiverMask, LiverMaskFiles, liver_for, liver_mask_files, mask_on_grid
from pipeline.longitudinal.pet_reference import pet_reference, slice_thickness_mm
from pipeline.longitudinal.register import (
    RegistrationReference,
    RegistrationResult,
    prepare_reference,
    register_followup,
)
from pipeline.longitudinal.seeds import check_seeds, describe, hint
from pipeline.longitudinal.timeline import dropped_at_load
from pipeline.longitudinal.tracking import FollowupPrior, residuals
from pipeline.outputs import names
from pipeline.outputs.dicom_out import write_timepoint_dicom
from pipeline.outputs.qc_lesion import lesion_qc
from pipeline.outputs.qc_liver import liver_png
from pipeline.outputs.qc_registration import registration_png
from pipeline.outputs.seg import Fractions
from pipeline.outputs.tables import write_label_map
from pipeline.records import (
    LesionRecord,
    LiverRecord,
    PetReference,
    Point,
    RegistrationRecord,
    TimepointRecord,
    TrackingRecord,
)
from pipeline.targets.json_file import Target, targets_to_json
from segmentation.lesion_region import NO_LESION
from segmentation.morphology import dilate_mm

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TimepointOutcome:
    """A processed timepoint: its record, the reference later follow-ups register to, and detected lesions."""

    record: TimepointRecord
    reference: Reference | None
    detected: tuple[DetectedLesion, ...] = ()


@dataclass(frozen=True)
class Baseline:
    """The processed baseline, the targets (given or chosen automatically) and what was found of them."""

    outcome: TimepointOutcome
    targets: tuple[Target, ...]
    found: frozenset[str]
    slice_thickness_mm: float
    timepoint: Timepoint
    liver_files: LiverMaskFiles  # the user's liver masks (--liver-mask), matched to timepoints


def load_pet_of(tp: Timepoint, ctx: RunContext, ct: LoadedSeries) -> LoadedSeries | None:
    """The timepoint's PET, if it loads and shares the CT's frame of reference (checked, not assumed)."""
    if not tp.pet_candidates:
        return None
    try:
        pet = load_first_usable(tp.pet_candidates, load_pet, ctx.root, f"{tp.label} PET")
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


def _mapped(point: Point | None, reg: RegistrationResult | None, is_baseline: bool) -> Point | None:
    if point is None or is_baseline:
        return point
    return reg.map_point(point) if reg is not None else None


LESION_CLEARANCE_MM = 10.0  # the PERCIST liver sphere keeps this far from the segmented lesions


def _liver_for_reference(
    liver: LiverMask | None, ct: LoadedSeries, pet: LoadedSeries, labels: np.ndarray
) -> np.ndarray | None:
    """The timepoint's liver on the PET grid, at least ``LESION_CLEARANCE_MM`` from the lesions; None without one."""
    if liver is None:
        return None
    spacing = spatial.spacing_zyx(pet.image)
    near_lesion = dilate_mm(mask_on_grid(labels > 0, ct.image, pet.image), LESION_CLEARANCE_MM, spacing)
    clear = mask_on_grid(liver.mask_zyx, ct.image, pet.image) & ~near_lesion
    return clear if clear.any() else None


def _pet_reference(
    ctx: RunContext,
    ct: LoadedSeries,
    pet: LoadedSeries | None,
    reg: RegistrationResult | None,
    is_baseline: bool,
    liver: LiverMask | None,
    labels: np.ndarray,
) -> PetReference | None:
    """The timepoint's PERCIST reference: at the reader's liver point (mapped to follow-ups) when given, else in
    the timepoint's liver mask away from the lesions, else placed automatically (see
    :mod:`pipeline.longitudinal.pet_reference`)."""
    if pet is None or pet.suv is None:
        return None
    notes = ctx.inputs.annotations
    liver_point = _mapped(notes.liver_reference_lps_mm, reg, is_baseline)
    return pet_reference(
        pet,
        ct,
        labels,
        ctx.config.percist,
        liver_point,
        _mapped(notes.blood_pool_lps_mm, reg, is_baseline),
        liver_zyx=None if notes.liver_reference_lps_mm is not None else _liver_for_reference(liver, ct, pet, labels),
    )


def _measure(
    ctx: RunContext,
    requests: list[SeedRequest],
    ct: LoadedSeries,
    pet: LoadedSeries | None,
    reg: RegistrationResult | None,
    is_baseline: bool,
    liver: LiverMask | None,
    liver_failed: str | None = None,
) -> TimepointLesions:
    """Segment and measure the requested targets; SULpeak from the timepoint's lean-body-mass factor.

    ``liver_failed``: why the timepoint has no liver (its liver is not looked for again)."""
    with ctx.prov.stage("segment+measure"):
        result = process_timepoint(
            requests,
            ct,
            pet,
            ctx.config,
            pet_reference=functools.partial(_pet_reference, ctx, ct, pet, reg, is_baseline, liver),
            liver_zyx=None if liver is None else liver.mask_zyx,
            liver_failed=liver_failed,
        )
    reference = result.pet_reference
    if reference is None or reference.sul_per_suvbw is None:
        return result
    f = reference.sul_per_suvbw
    records = [replace(r, sul_peak=r.suv_peak * f) if r.suv_peak is not None else r for r in result.records]
    return replace(result, records=records)


def _liver(
    ctx: RunContext, index: int, tp: Timepoint, ct: LoadedSeries, files: LiverMaskFiles, required: bool
) -> tuple[LiverMask | None, LiverRecord]:
    """The timepoint's liver (the user's mask, or segmented), written with its QC image; without one, the
    reason, and automatic mode stops at baseline (``required``)."""
    try:
        with ctx.prov.stage("liver"):
            liver = liver_for(ct, index, files, ctx.config.liver)
    except NoLiverError as exc:
        if required:
            raise NoLiverError(f"automatic mode: {exc}") from None
        log.warning("timepoint %d: no liver mask: %s", index, exc)
        return None, LiverRecord(failed=str(exc))
    ctx.say(f"timepoint {index}: liver {liver.volume_ml:.0f} ml ({liver.source})", stage="liver")
    mask_file = names.liver_mask(index)
    with ctx.prov.stage("write"):
        write_label_map(ctx.staging / mask_file, liver.mask_zyx.astype(np.uint8), ct.image)
    with ctx.prov.stage("qc"):
        title = f"timepoint {index} ({tp.study_date}): liver {liver.volume_ml:.0f} ml ({liver.source})"
        liver_png(ctx.staging / names.liver_qc(index), ct.image, liver.mask_zyx, title, ctx.figures.submit)
    return liver, LiverRecord(mask_file, liver.source, liver.volume_ml, liver.level_hu, liver.partial)


def _write_timepoint(
    ctx: RunContext, index: int, tp: Timepoint, ct: LoadedSeries, pet: LoadedSeries | None, result: TimepointLesions
) -> str:
    """The timepoint's label map, lesion QC images and (with ``--dicom-out``) SEG and SR; returns the mask file."""
    mask_file = names.lesion_mask(index)
    with ctx.prov.stage("write"):
        write_label_map(names.inside(ctx.staging, mask_file), result.labels_zyx, ct.image)
    for k, r in enumerate(result.records, start=1):
        outcome = f"{r.longest_diameter_mm:.1f} mm, {r.volume_ml:.2f} ml" if r.measured else "not found"
        ctx.say(f"timepoint {index}: {r.lesion_id}: {outcome}", stage="measure", step=k, total=len(result.records))
    with ctx.prov.stage("qc"):
        lesion_qc(
            ctx.staging,
            index,
            ct,
            pet,
            result.labels_zyx,
            result.records,
            f"timepoint {index} ({tp.study_date})",
            result.pet_labels_zyx,
            ctx.figures.submit,
        )
    if ctx.dicom_written is not None:
        with ctx.prov.stage("dicom"):
            ctx.say(f"timepoint {index}: writing DICOM SEG and SR", stage="dicom")
            written = write_timepoint_dicom(
                ctx.staging,
                index,
                ct.instances,
                result.labels_zyx,
                result.records,
                _targets_of(ctx),
                ctx.inputs.timepoints[0].study_uid,
                pet is not None and pet.suv is not None,
                _fractions(ctx, result),
            )
            if written is not None:
                ctx.dicom_written.append(written)
    return mask_file


def _fractions(ctx: RunContext, result: TimepointLesions) -> dict[str, Fractions] | None:
    """The measured lesions' partial-volume fractions for a FRACTIONAL SEG (``None``: a BINARY SEG)."""
    if ctx.config.seg_type != "fractional":
        return None
    return {i: (s.mask_zyx, s.offset_zyx) for i, s in result.segmentations.items() if s.mask_zyx is not None}


def _targets_of(ctx: RunContext) -> tuple[Target, ...]:
    targets = ctx.inputs.targets
    assert targets is not None, "targets are chosen before any timepoint is written"
    return targets


def _record(
    ctx: RunContext,
    index: int,
    tp: Timepoint,
    ct: LoadedSeries,
    pet: LoadedSeries | None,
    result: TimepointLesions,
    registration: RegistrationRecord | None,
    tracking: TrackingRecord,
    new: tuple[DetectedLesion, ...],
    liver: LiverRecord,
) -> TimepointRecord:
    baseline_date = ctx.inputs.timepoints[0].study_date
    mask_file = _write_timepoint(ctx, index, tp, ct, pet, result)
    ct_choice = derived_note(ct.instances, "CT")
    pet_choice = derived_note(pet.instances, "PET") if pet else None
    for note in (ct_choice, pet_choice):
        if note:
            log.warning("%s: %s", tp.label, note)
    return TimepointRecord(
        index=index,
        study_uid=tp.study_uid,
        study_date=tp.study_date,
        days_from_baseline=(tp.study_date - baseline_date).days if tp.study_date and baseline_date else None,
        ct_series_uid=ct.series_uid,
        ct_slices=ct.n_slices,
        pet_series_uid=pet.series_uid if pet else None,
        pet_units=pet.units if pet else None,
        suv_factor=pet.suv if pet else None,
        suv_unavailable=pet.suv_unavailable_reason if pet and pet.suv is None else None,
        registration=registration,
        lesions=tuple(result.records),
        skipped_series=tp.skipped,
        mask_file=mask_file,
        tracking=tracking,
        pet_reference=result.pet_reference,
        new_lesions=tuple(d.lesion_id for d in new if d.unequivocal),
        liver=liver,
        new_lesions_looked_for=index > 0 and ctx.inputs.targets_path is None,
        ct_choice=ct_choice,
        pet_choice=pet_choice,
        series_notes=tp.notes,
    )


def _say_loaded(ctx: RunContext, index: int, tp: Timepoint, ct: LoadedSeries, pet: LoadedSeries | None) -> None:
    ctx.say(
        f"timepoint {index} ({tp.study_date}): CT {ct.image.GetSize()} {'+ PET' if pet else '(no PET)'}",
        stage="load",
        step=tp.index + 1,
        total=len(ctx.inputs.timepoints),
    )


def _explained(r: LesionRecord, ct: LoadedSeries) -> LesionRecord:
    """A baseline target not found, with what is at its seed and, when no lesion was found there, the likely
    mistake (a lesion found but not measurable is no sign of a misplaced point)."""
    if r.measured or r.seed_lps_mm is None and r.mapped_seed_lps_mm is None:
        return r
    point = r.mapped_seed_lps_mm or r.seed_lps_mm
    assert point is not None
    mistake = hint(ct, point) if r.reason.startswith(NO_LESION) else ""
    return replace(r, reason=f"{r.reason} (at the seed: {describe(ct, point)}{mistake})")


def process_baseline(ctx: RunContext) -> tuple[Baseline, RunContext]:
    """Load the baseline, choose the targets (automatic mode) and measure them.

    Returns the baseline and the context with the targets now fixed.
    """
    tp = ctx.inputs.timepoints[0]
    with ctx.prov.stage("load"):
        ct = load_first_usable(tp.ct_candidates, load_ct, ctx.root, f"{tp.label} CT")
        thickness_mm = slice_thickness_mm(ct, ctx.root)
    series = [stack[0].series_uid for t in ctx.inputs.timepoints for stack in t.ct_candidates if stack]
    files = liver_mask_files(ctx.config.liver_mask, series)
    automatic = ctx.inputs.targets is None
    liver, liver_record = _liver(ctx, 0, tp, ct, files, required=automatic)
    detected: tuple[DetectedLesion, ...] = ()
    if automatic:
        assert liver is not None
        with ctx.prov.stage("detect"):
            found_rows, targets = automatic_targets(ct, load_pet_of(tp, ctx, ct), liver.mask_zyx, ctx.config)
        detected = tuple(found_rows)
        ctx.say(f"  detected {len(detected)} candidate(s); targets: {', '.join(t.lesion_id for t in targets)}")
        ctx = replace(ctx, inputs=replace(ctx.inputs, targets=targets))
    targets = _targets_of(ctx)
    names.inside(ctx.staging, names.TARGETS_JSON).write_text(targets_to_json(targets), encoding="utf-8")
    check_seeds(targets, ct)
    with ctx.prov.stage("load"):
        pet = load_pet_of(tp, ctx, ct)
    _say_loaded(ctx, 0, tp, ct, pet)
    requests = [
        SeedRequest(
            t.lesion_id,
            t.seed_lps_mm,
            long_axis_lps_mm=t.long_axis_lps_mm,
            organ=t.organ,
            reader_mask=None if ctx.config.resegment else t.reader_mask,
        )
        for t in targets
    ]
    result = _measure(ctx, requests, ct, pet, None, is_baseline=True, liver=liver, liver_failed=liver_record.failed)
    result = replace(result, records=[_explained(r, ct) for r in result.records])
    found = frozenset(r.lesion_id for r in result.records if r.measured)
    if not found:
        reasons = "; ".join(f"{r.lesion_id}: {r.reason}" for r in result.records)
        raise InputError("no target lesion found at baseline: " + reasons)
    record = _record(ctx, 0, tp, ct, pet, result, None, TrackingRecord(result.flags), (), liver_record)
    reference = reference_of(ct, result.records, "baseline", liver)
    outcome = TimepointOutcome(record, reference, detected)
    return Baseline(outcome, targets, found, thickness_mm, tp, files), ctx


def _registration_reference(ref: Reference, ctx: RunContext) -> RegistrationReference:
    """The reference CT's share of every registration to it (working images, body, liver region), once."""
    roi = None if ref.liver_zyx is None else spatial.image_like(ref.liver_zyx.astype(np.uint8), ref.ct.image)
    return prepare_reference(ref.ct.image, ctx.config.registration, roi)


def _track(
    ref: Reference, prepared: RegistrationReference, ct: LoadedSeries, baseline: Baseline, ctx: RunContext
) -> tuple[list[SeedRequest], RegistrationResult | None, RegistrationRecord]:
    """Register ``ct`` to the reference and say where to look for every target."""
    reg: RegistrationResult | None
    try:
        reg = register_followup(prepared, ct.image, ctx.config.registration)
        record = RegistrationRecord(ref.label, summary=reg.summary())
    except RegistrationError as exc:
        log.warning("registration to the %s failed: %s", ref.label, exc)
        reg, record = None, RegistrationRecord(ref.label, failed=str(exc))
    requests = []
    for t in baseline.targets:
        if t.lesion_id not in baseline.found:
            requests.append(SeedRequest(t.lesion_id, None, reason_if_absent="not found at baseline"))
        elif reg is None:
            requests.append(SeedRequest(t.lesion_id, None, reason_if_absent=f"registration to the {ref.label} failed"))
        elif t.lesion_id not in ref.lesions:
            requests.append(SeedRequest(t.lesion_id, None, reason_if_absent=f"not found at the {ref.label}"))
        else:
            lesion = ref.lesions[t.lesion_id]
            prior = FollowupPrior(reg.map_point(lesion.seed_lps_mm), lesion.radius_mm, lesion.appearance)
            requests.append(SeedRequest(t.lesion_id, reg.map_point(lesion.centroid_lps_mm), prior=prior, organ=t.organ))
    return requests, reg, record


def _tracking(
    ctx: RunContext,
    index: int,
    tp: Timepoint,
    ref: Reference,
    ct: LoadedSeries,
    requests: list[SeedRequest],
    result: TimepointLesions,
    reg: RegistrationResult | None,
) -> TrackingRecord:
    """Registration residuals at the lesions (and the registration QC image) when the follow-up was registered."""
    if reg is None:
        return TrackingRecord(result.flags)
    mapped = {q.lesion_id: q.seed_lps_mm for q in requests if q.seed_lps_mm is not None}
    found = {r.lesion_id: r.centroid_lps_mm for r in result.records if r.measured and r.centroid_lps_mm}
    res = residuals(mapped, found, ctx.config.max_registration_residual_mm)
    if not res.plausible:
        log.warning(
            "%s: registration looks wrong: mapped lesions lie %.1f mm (median) from where they were found",
            tp.label,
            res.median_mm,
        )
    with ctx.prov.stage("qc"):
        registration_png(
            names.inside(ctx.staging, names.registration_qc(index)),
            ref.ct.image,
            ct.image,
            reg.transform,
            ref.liver_zyx
            if ref.liver_zyx is not None
            else np.ones(sitk.GetArrayViewFromImage(ref.ct.image).shape, bool),
            f"timepoint {index} ({tp.study_date}) registered to the {ref.label}",
            ctx.figures.submit,
        )
    return TrackingRecord(result.flags, res)


def process_followup(
    ctx: RunContext,
    index: int,
    tp: Timepoint,
    ct: LoadedSeries,
    ref: Reference,
    baseline: Baseline,
    prepared: RegistrationReference | None = None,
) -> TimepointOutcome:
    """Register a loaded follow-up to ``ref``, look for every target and measure it, detect new lesions.

    ``prepared``: the registration reference of ``ref`` when already computed (:func:`prepare_reference`).
    """
    with ctx.prov.stage("load"):
        pet = load_pet_of(tp, ctx, ct)
    _say_loaded(ctx, index, tp, ct, pet)
    liver, liver_record = _liver(ctx, index, tp, ct, baseline.liver_files, required=False)
    with ctx.prov.stage("register"):
        prepared = prepared or _registration_reference(ref, ctx)
        requests, reg, registration = _track(ref, prepared, ct, baseline, ctx)
    if reg is not None:
        ctx.say(
            f"timepoint {index} registered to the {ref.label} in {reg.elapsed_s:.1f} s (rotation {reg.rotation_deg:.1f} deg)",
            stage="register",
            step=tp.index,
            total=len(ctx.inputs.timepoints) - 1,
        )
    result = _measure(ctx, requests, ct, pet, reg, is_baseline=False, liver=liver, liver_failed=liver_record.failed)
    tracking = _tracking(ctx, index, tp, ref, ct, requests, result, reg)
    new: tuple[DetectedLesion, ...] = ()
    if ctx.inputs.targets_path is None and liver is None:
        log.warning("timepoint %d: no search for new lesions without a liver mask", index)
    elif ctx.inputs.targets_path is None:  # automatic mode
        assert liver is not None
        with ctx.prov.stage("detect"):
            at_baseline = [d for d in baseline.outcome.detected if d.timepoint == 0]
            new = tuple(new_lesions(index, ct, pet, result.records, at_baseline, reg, liver.mask_zyx, ctx.config))
    tracking = replace(tracking, new_lesion_candidates=tuple(d.lesion_id for d in new))
    record = _record(ctx, index, tp, ct, pet, result, registration, tracking, new, liver_record)
    reference = None
    if ctx.config.chain_registration:
        reference = reference_of(ct, result.records, f"timepoint {index}", liver)
    return TimepointOutcome(record, reference, new)


def process_followups(ctx: RunContext, baseline: Baseline) -> list[TimepointOutcome]:
    """Every follow-up in date order; one whose CT does not load is dropped (warning, listed in ``run.json``)."""
    outcomes: list[TimepointOutcome] = []
    assert baseline.outcome.reference is not None
    previous = baseline.outcome.reference
    prepared: tuple[Reference, RegistrationReference] | None = None  # computed once per reference CT
    for tp in ctx.inputs.timepoints[1:]:
        with ctx.prov.stage("load"):
            try:
                ct = load_first_usable(tp.ct_candidates, load_ct, ctx.root, f"{tp.label} CT")
            except InputError as exc:
                log.warning("%s dropped: no loadable CT (%s)", tp.label, exc)
                ctx.dropped.append(dropped_at_load(tp, str(exc)))
                continue
        ref = previous if ctx.config.chain_registration else baseline.outcome.reference
        if prepared is None or prepared[0] is not ref:
            with ctx.prov.stage("register"):
                prepared = (ref, _registration_reference(ref, ctx))
        outcome = process_followup(ctx, len(outcomes) + 1, tp, ct, ref, baseline, prepared[1])
        if outcome.reference is not None:
            previous = outcome.reference
        outcomes.append(outcome)
        del ct
    return outcomes
