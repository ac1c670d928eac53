"""Per-timepoint lesion work: seeds -> segmentation -> measurements, for every target.

Thin orchestration over the pure functions of ``segmentation`` and
``measurement``; geometry conversions (voxel index <-> LPS) happen here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from measurement.diameters import axial_diameters
from measurement.intensity import ct_intensity
from measurement.masks import fractions, inside
from measurement.morphology import morphology
from measurement.pet import pet_measures
from measurement.volume import centroid_zyx, volume_ml
from pipeline import spatial
from pipeline.config import RunConfig
from pipeline.dicom.load import LoadedSeries
from pipeline.errors import NoLiverError
from pipeline.longitudinal.liver import segment_ct_liver
from pipeline.longitudinal.tracking import FollowupPrior, fragments, max_track_distance_mm, merged_pairs
from pipeline.records import MEASURED, NOT_FOUND, LesionRecord, PetReference, Point
from segmentation.ct_seeded import SeededCtSegmenter, organ_model
from segmentation.morphology import bounding_box
from segmentation.pet_lesion import PetSegmentationConfig, segment_pet_lesion
from segmentation.recentre import locate_lesion
from segmentation.result import LesionSegmentation, LesionSegmenter, OrganModel, SegmentationHints

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class SeedRequest:
    """Where to look for a target at this timepoint (``seed_lps_mm`` ``None``: do not look).

    At baseline ``seed_lps_mm`` is the reader's seed; at a follow-up it is the
    mapped centroid, and ``prior`` what the reference timepoint knows of the
    lesion (:mod:`pipeline.longitudinal.tracking`).
    ``long_axis_lps_mm``: the reader's RECIST line (baseline); ``organ``: the organ that holds the lesion
    (the timepoint's liver is given to the segmenter).
    """

    lesion_id: str
    seed_lps_mm: Point | None
    prior: FollowupPrior | None = None
    reason_if_absent: str = ""
    long_axis_lps_mm: tuple[Point, Point] | None = None
    organ: str = "liver"
    reader_mask: sitk.Image | None = field(default=None, compare=False, repr=False)  # measured as it is


def reader_segmentation(mask: sitk.Image, ct: sitk.Image, seed_zyx: tuple[float, float, float]) -> LesionSegmentation:
    """The reader's mask (lesion fractions in patient space) on the CT grid, as a segmentation to measure.

    Resampled linearly (on the CT's own grid, as a SEG derived from it is, the values are kept as they are).
    """
    on_ct = sitk.Resample(sitk.Cast(mask, sitk.sitkFloat32), ct, sitk.Transform(), sitk.sitkLinear, 0.0)
    fractions_zyx = np.clip(sitk.GetArrayFromImage(on_ct), 0.0, 1.0)
    lesion = fractions_zyx > 0
    if not inside(fractions_zyx).any():
        return LesionSegmentation(False, "the reader's segmentation has no lesion voxel on this CT's grid", seed_zyx)
    box = tuple(slice(int(a.min()), int(a.max()) + 1) for a in np.nonzero(lesion))
    offset = (box[0].start, box[1].start, box[2].start)
    return LesionSegmentation(
        True, "the reader's segmentation", seed_zyx, fractions_zyx[box].astype(np.float32), offset, confidence=1.0
    )


def _lps(image: sitk.Image, index_zyx: Sequence[float]) -> Point:
    return tuple(float(v) for v in spatial.index_zyx_to_lps(image, np.asarray(index_zyx, dtype=float)))  # type: ignore[return-value]


def mask_on_grid(seg: LesionSegmentation, source: sitk.Image, target: sitk.Image, margin_mm: float) -> np.ndarray:
    """The lesion mask (on ``source``'s grid) resampled onto ``target``'s grid and dilated by ``margin_mm``.

    A target voxel is in the result when the lesion fraction interpolated
    (linearly) at its centre is > 0, i.e. it lies within one source voxel of
    the lesion; then the margin is added.
    """
    assert seg.mask_zyx is not None
    crop = sitk.GetImageFromArray(np.pad(fractions(seg.mask_zyx), 1))
    crop.SetSpacing(source.GetSpacing())
    crop.SetDirection(source.GetDirection())
    crop.SetOrigin(tuple(spatial.index_zyx_to_lps(source, np.asarray(seg.offset_zyx, dtype=float) - 1.0)))
    resampled = sitk.Resample(crop, target, sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkFloat32)
    mask = sitk.GetArrayViewFromImage(resampled) > 0.0
    if margin_mm > 0 and mask.any():
        spacing = spatial.spacing_zyx(target)
        r = [max(1, int(round(margin_mm / s))) for s in spacing]
        zz, yy, xx = np.ogrid[-r[0] : r[0] + 1, -r[1] : r[1] + 1, -r[2] : r[2] + 1]
        ball = (zz * spacing[0]) ** 2 + (yy * spacing[1]) ** 2 + (xx * spacing[2]) ** 2 <= margin_mm**2 + 1e-6
        box = bounding_box(mask, margin=r)  # no voxel beyond it is within the margin
        grown = np.zeros(mask.shape, dtype=bool)
        grown[box] = ndimage.binary_dilation(mask[box], structure=ball)
        return grown
    return np.asarray(mask, dtype=bool)


def _pet_measures(
    seg: LesionSegmentation,
    lesion_id: str,
    ct: LoadedSeries,
    pet: LoadedSeries,
    pet_array: np.ndarray,
    config: RunConfig,
    reference: PetReference | None,
) -> tuple[dict[str, object], np.ndarray | None]:
    """The lesion's PET measures (record fields) and its PET region (full PET grid); none outside the PET."""
    voi = mask_on_grid(seg, ct.image, pet.image, config.pet_lesion.search_margin_mm)
    how = pet_threshold(config, reference)
    pet_seg = segment_pet_lesion(
        pet_array, voi, how.config, how.liver_mean, how.liver_sd, how.reference_factor, how.sd_factor
    )
    if pet_seg is None:
        log.warning("lesion %s: CT lesion lies outside the PET field of view; no SUV", lesion_id)
        return {}, None
    suv = pet_measures(pet_array, pet_seg.mask_zyx, spatial.spacing_zyx(pet.image))
    values: dict[str, object] = dict(
        suv_max=suv.suv_max,
        suv_peak=suv.suv_peak,
        suv_peak_local=suv.suv_peak_local,
        suv_peak_centre_lps_mm=_lps(pet.image, suv.suv_peak_index_zyx),
        pet_method=pet_seg.method,
        pet_threshold_suv=pet_seg.threshold_suv,
    )
    if pet_seg.above_threshold:
        values.update(suv_mean=suv.suv_mean, mtv_ml=suv.mtv_ml, tlg_suv_ml=suv.tlg_suv_ml)
    else:  # not above the method's threshold: no metabolic volume
        values.update(mtv_ml=0.0, tlg_suv_ml=0.0)
    return values, pet_seg.mask_zyx


def _measure(
    seg: LesionSegmentation,
    request: SeedRequest,
    ct: LoadedSeries,
    ct_array: np.ndarray,
    spacing: tuple[float, float, float],
    pet: LoadedSeries | None,
    pet_array: np.ndarray | None,
    config: RunConfig,
    reference: PetReference | None = None,
) -> tuple[LesionRecord, np.ndarray | None]:
    """The lesion's measures, and its PET region (full PET grid) when it has one."""
    assert seg.mask_zyx is not None
    mask = seg.mask_zyx
    offset = np.asarray(seg.offset_zyx, dtype=float)
    axial = axial_diameters(mask, spacing)
    shape = morphology(mask, spacing)
    hu = ct_intensity(ct_array[seg.box], mask)
    record: dict[str, object] = dict(
        lesion_id=request.lesion_id,
        status=MEASURED,
        seed_lps_mm=_lps(ct.image, seg.seed_zyx),
        mapped_seed_lps_mm=request.seed_lps_mm,
        longest_diameter_mm=axial.longest_mm,
        short_axis_mm=axial.short_axis_mm,
        max_3d_diameter_mm=shape.max_3d_diameter_mm,
        volume_ml=volume_ml(mask, spacing),
        mean_hu=hu.mean_hu,
        sd_hu=hu.sd_hu,
        centroid_lps_mm=_lps(ct.image, np.asarray(centroid_zyx(mask)) + offset),
        long_axis_lps_mm=tuple(_lps(ct.image, np.asarray(p) + offset) for p in axial.long_axis_zyx),
        short_axis_lps_mm=tuple(_lps(ct.image, np.asarray(p) + offset) for p in axial.short_axis_zyx),
        confidence=seg.confidence,
        volume_sd_pct=seg.volume_sd_pct,
        mesh_volume_ml=shape.mesh_volume_ml,
        surface_area_mm2=shape.surface_area_mm2,
        sphericity=shape.sphericity,
        major_axis_mm=shape.major_axis_mm,
        minor_axis_mm=shape.minor_axis_mm,
        least_axis_mm=shape.least_axis_mm,
    )
    pet_region = None
    if pet is not None and pet_array is not None and pet.suv is not None:
        pet_values, pet_region = _pet_measures(seg, request.lesion_id, ct, pet, pet_array, config, reference)
        record.update(pet_values)
    return LesionRecord(**record), pet_region  # type: ignore[arg-type]


@dataclass(frozen=True)
class PetThreshold:
    """How :func:`segment_pet_lesion` delineates the PET region: the configured method, with the PERCIST
    reference when the method needs it (41 % of SUVmax when there is no reference)."""

    config: PetSegmentationConfig
    liver_mean: float | None = None
    liver_sd: float | None = None
    reference_factor: float = 1.5
    sd_factor: float = 2.0


def pet_threshold(config: RunConfig, reference: PetReference | None) -> PetThreshold:
    if config.pet_lesion.method != "percist":
        return PetThreshold(config.pet_lesion)
    if reference is None or reference.mean_suv is None or reference.sd_suv is None:
        return PetThreshold(replace(config.pet_lesion, method="41pct"))
    blood_pool = reference.kind == "blood_pool"
    return PetThreshold(
        config.pet_lesion,
        liver_mean=reference.mean_suv,
        liver_sd=reference.sd_suv,
        reference_factor=config.percist.blood_pool_measurable_factor
        if blood_pool
        else config.percist.liver_measurable_factor,
        sd_factor=config.percist.measurable_sd_factor,
    )


def liver_model(
    ct: LoadedSeries,
    ct_array: np.ndarray,
    config: RunConfig,
    mask_zyx: np.ndarray | None = None,
    failed: str | None = None,
) -> OrganModel | None:
    """The liver of a CT (``mask_zyx``, else segmented) as the organ the targets lie in; ``None`` (with a
    warning) when there is none, and the targets are then segmented without it. ``failed``: why the CT's liver
    was already found missing (it is not segmented again)."""
    spacing = spatial.spacing_zyx(ct.image)
    try:
        if failed is not None:
            raise NoLiverError(failed)
        if mask_zyx is None:
            mask_zyx = segment_ct_liver(ct, config.liver).mask_zyx
        return organ_model(ct_array, spacing, mask_zyx)
    except (NoLiverError, ValueError) as exc:
        log.warning("no liver (%s): lesions segmented without the liver's extent and level", exc)
        return None


def _hints(request: SeedRequest, ct: LoadedSeries, organ: OrganModel | None) -> SegmentationHints:
    line = None
    if request.long_axis_lps_mm is not None:
        a, b = (
            tuple(float(v) for v in spatial.lps_to_index_zyx(ct.image, np.asarray(p))) for p in request.long_axis_lps_mm
        )
        line = (a, b)
    return SegmentationHints(long_axis_zyx=line, organ=organ if request.organ == "liver" else None)  # type: ignore[arg-type]


def _segment(
    request: SeedRequest,
    ct: LoadedSeries,
    ct_array: np.ndarray,
    spacing: tuple[float, float, float],
    config: RunConfig,
    segmenter: LesionSegmenter,
    organ: Callable[[], OrganModel | None],
) -> tuple[LesionSegmentation | LesionRecord, str]:
    """The lesion's segmentation, or a ``not_found`` record saying why there is none; and how a follow-up seed
    was chosen."""
    if request.seed_lps_mm is None:
        return LesionRecord(request.lesion_id, NOT_FOUND, request.reason_if_absent, assessed=False), ""
    mapped = request.seed_lps_mm
    seed = spatial.lps_to_index_zyx(ct.image, np.asarray(mapped))
    if not spatial.inside(ct.image, seed):
        outside = "seed lies outside this CT's field of view"
        return LesionRecord(request.lesion_id, NOT_FOUND, outside, mapped_seed_lps_mm=mapped, assessed=False), ""
    located = ""
    if request.prior is not None:
        prior = request.prior
        found = locate_lesion(
            ct_array,
            spacing,
            tuple(seed),
            tuple(spatial.lps_to_index_zyx(ct.image, np.asarray(prior.mapped_seed_lps_mm))),
            prior.appearance,
            prior.radius_mm,
            config.ct_lesion.recentre_radius_mm,
        )
        if found.seed_zyx is None:
            record = LesionRecord(
                request.lesion_id, NOT_FOUND, found.reason, mapped_seed_lps_mm=mapped, absent=found.absent
            )
            return record, ""
        seed, located = np.asarray(found.seed_zyx), found.how
    if request.reader_mask is not None:
        seg = reader_segmentation(request.reader_mask, ct.image, (float(seed[0]), float(seed[1]), float(seed[2])))
        if not seg.found:
            return LesionRecord(request.lesion_id, NOT_FOUND, seg.reason, mapped_seed_lps_mm=mapped), located
        return seg, located
    seed_t = (float(seed[0]), float(seed[1]), float(seed[2]))
    if getattr(segmenter, "uses_hints", False):  # with what is known of the target: its line, its organ
        seg = segmenter.segment(ct_array, spacing, seed_t, _hints(request, ct, organ()))  # type: ignore[call-arg]
    else:
        seg = segmenter.segment(ct_array, spacing, seed_t)
    if not seg.found:
        return LesionRecord(request.lesion_id, NOT_FOUND, seg.reason, _lps(ct.image, seg.seed_zyx), mapped), located
    border = seg.border_reached(ct_array.shape)
    if border:
        reason = f"the lesion reaches {border} of this CT: not wholly in the scan, so its size is not known"
        record = LesionRecord(
            request.lesion_id, NOT_FOUND, reason, _lps(ct.image, seg.seed_zyx), mapped, assessed=False
        )
        return record, located
    if request.prior is not None:
        assert seg.mask_zyx is not None
        centroid = _lps(ct.image, np.asarray(centroid_zyx(seg.mask_zyx)) + np.asarray(seg.offset_zyx, dtype=float))
        distance = float(np.linalg.norm(np.subtract(centroid, mapped)))
        limit = max_track_distance_mm(config.ct_lesion.recentre_radius_mm, request.prior.radius_mm)
        if distance > limit:
            reason = (
                f"the region delineated lies {distance:.0f} mm from where the registration puts the lesion "
                f"(more than {limit:.0f} mm): another structure, not measured as the target"
            )
            return LesionRecord(request.lesion_id, NOT_FOUND, reason, _lps(ct.image, seg.seed_zyx), mapped), located
    return seg, located


@dataclass(frozen=True, eq=False)
class TimepointLesions:
    """Records (request order), the label map (z, y, x), tracking flags and PET reference of one timepoint,
    the segmentation (partial-volume fractions) of every measured lesion and the PET regions measured
    (label ``k + 1`` on the PET grid, ``None`` without PET)."""

    records: list[LesionRecord]
    labels_zyx: np.ndarray
    flags: dict[str, list[str]]
    pet_reference: PetReference | None = None
    segmentations: dict[str, LesionSegmentation] = field(default_factory=dict)
    pet_labels_zyx: np.ndarray | None = None


def _merge_coalesced(
    requests: Sequence[SeedRequest],
    outcomes: list[LesionSegmentation | LesionRecord],
    masks: list[np.ndarray | None],
) -> dict[str, list[str]]:
    """Coalesced targets measured once, for the earlier one: the later one's outcome becomes ``not_found`` and its
    mask ``None`` (both lists changed in place); the tracking flags of both."""
    flags: dict[str, list[str]] = {}
    for i, j in merged_pairs(masks):
        a, b = requests[i].lesion_id, requests[j].lesion_id
        if isinstance(outcomes[j], LesionSegmentation):
            log.warning("lesions %s and %s have merged into one lesion; measured once, for %s", a, b, a)
            outcomes[j] = LesionRecord(
                b, NOT_FOUND, f"merged with {a} (coalesced lesion counted once, RECIST 1.1)", absent=True
            )
            masks[j] = None
        flags.setdefault(a, []).append(f"merged with {b}")
        flags.setdefault(b, []).append(f"merged with {a}")
    return flags


def _refuse_over_refused(
    requests: Sequence[SeedRequest],
    outcomes: list[LesionSegmentation | LesionRecord],
    masks: list[np.ndarray | None],
    ct: sitk.Image,
) -> None:
    """At baseline, a target whose outline takes in the seed of another target that could not be delineated
    becomes ``not_found`` too (both lists changed in place): two touching lesions were not told apart, and the
    outline may be either or both."""
    refused = [
        (r.lesion_id, spatial.lps_to_index_zyx(ct, np.asarray(r.seed_lps_mm)))
        for r, o in zip(requests, outcomes, strict=True)
        if isinstance(o, LesionRecord) and not o.absent and r.prior is None and r.seed_lps_mm is not None
    ]
    for k, (request, mask) in enumerate(zip(requests, masks, strict=True)):
        if mask is None or request.prior is not None or request.reader_mask is not None:
            continue  # (a reader's own mask is measured as it is)
        seg = outcomes[k]
        assert isinstance(seg, LesionSegmentation)
        for other, index in refused:
            i = tuple(int(round(v)) for v in index)
            if all(0 <= v < n for v, n in zip(i, mask.shape, strict=True)) and mask[i]:
                reason = (
                    f"its outline takes in the seed of {other}, which could not be delineated: the two touching "
                    "lesions were not told apart"
                )
                outcomes[k] = LesionRecord(
                    request.lesion_id, NOT_FOUND, reason, _lps(ct, seg.seed_zyx), request.seed_lps_mm
                )
                masks[k] = None
                break


def _label_map(
    requests: Sequence[SeedRequest],
    outcomes: Sequence[LesionSegmentation | LesionRecord],
    masks: Sequence[np.ndarray | None],
    shape_zyx: tuple[int, ...],
    flags: dict[str, list[str]],
) -> np.ndarray:
    """Label ``k + 1`` where the k-th request's lesion is (the earlier lesion wins an overlap); a lesion in several
    parts is flagged in ``flags``."""
    labels = np.zeros(shape_zyx, dtype=np.uint8 if len(requests) < 256 else np.uint16)
    for k, (request, outcome, mask) in enumerate(zip(requests, outcomes, masks, strict=True)):
        if isinstance(outcome, LesionRecord) or mask is None:
            continue
        parts = fragments(mask)
        if parts > 1:
            log.warning("lesion %s appears split into %d parts; measured as one lesion", request.lesion_id, parts)
            flags.setdefault(request.lesion_id, []).append(f"split into {parts} parts")
        if mask.any():
            box = bounding_box(mask)
            inside = labels[box]  # a view: labelled in place
            inside[mask[box] & (inside == 0)] = k + 1
    return labels


def _warn_without_percist_reference(config: RunConfig, reference: PetReference | None) -> None:
    """A warning when the PERCIST threshold was asked for but there is no reference region to set it."""
    if config.pet_lesion.method == "percist" and pet_threshold(config, reference).config.method != "percist":
        log.warning(
            "no PET reference region for the PERCIST threshold: lesion PET volumes use %.0f %% of SUVmax (pet_method in run.json)",
            100.0 * config.pet_lesion.fraction_of_max,
        )


def process_timepoint(
    requests: Sequence[SeedRequest],
    ct: LoadedSeries,
    pet: LoadedSeries | None,
    config: RunConfig,
    segmenter: LesionSegmenter | None = None,
    pet_reference: Callable[[np.ndarray], PetReference | None] | None = None,
    liver_zyx: np.ndarray | None = None,
    liver_failed: str | None = None,
) -> TimepointLesions:
    """Segment and measure every requested target at one timepoint.

    Label ``k + 1`` marks the k-th request's lesion. Coalesced targets
    (:func:`pipeline.longitudinal.tracking.merged_pairs`) are measured once, for the earlier
    target; fragmented ones are flagged; at baseline, a target whose outline takes in the seed of a target that
    could not be delineated is not measured either (:func:`_refuse_over_refused`). ``pet_reference`` computes the
    timepoint's PET reference from the CT lesion labels (which it must avoid),
    before the PET measures, which need it for the PERCIST threshold. ``liver_zyx``: the timepoint's
    liver mask (else the liver is segmented here, once, when a target in it needs it); ``liver_failed``: why the
    timepoint has none (it is then not segmented again).
    """
    segmenter = segmenter or SeededCtSegmenter(config.lesion)
    ct_array = spatial.array_zyx(ct.image)
    spacing = spatial.spacing_zyx(ct.image)
    liver: list[OrganModel | None] = []

    def organ() -> OrganModel | None:  # the liver, once, when a target in it needs it
        if not liver:
            liver.append(liver_model(ct, ct_array, config, liver_zyx, liver_failed))
        return liver[0]

    pet_array = spatial.array_zyx(pet.image) if pet is not None and pet.suv is not None else None
    segmented = [_segment(r, ct, ct_array, spacing, config, segmenter, organ) for r in requests]
    outcomes = [outcome for outcome, _ in segmented]
    masks = [o.full_mask(ct_array.shape) if isinstance(o, LesionSegmentation) else None for o in outcomes]
    flags = _merge_coalesced(requests, outcomes, masks)
    _refuse_over_refused(requests, outcomes, masks, ct.image)
    labels = _label_map(requests, outcomes, masks, ct_array.shape, flags)
    reference = pet_reference(labels) if pet_reference is not None else None
    if pet_array is not None:
        _warn_without_percist_reference(config, reference)
    records: list[LesionRecord] = []
    pet_labels = np.zeros(pet_array.shape, dtype=labels.dtype) if pet_array is not None else None
    for k, (request, outcome, (_, located)) in enumerate(zip(requests, outcomes, segmented, strict=True)):
        if isinstance(outcome, LesionRecord):
            records.append(replace(outcome, located=located))
            continue
        record, pet_region = _measure(outcome, request, ct, ct_array, spacing, pet, pet_array, config, reference)
        records.append(replace(record, located=located))
        if pet_labels is not None and pet_region is not None:
            pet_labels[pet_region & (pet_labels == 0)] = k + 1
    for r in records:
        if not r.measured:
            log.warning("lesion %s not found: %s", r.lesion_id, r.reason)
    measured = {
        r.lesion_id: o
        for r, o in zip(records, outcomes, strict=True)
        if isinstance(o, LesionSegmentation) and r.measured
    }
    return TimepointLesions(records, labels, flags, reference, measured, pet_labels)
