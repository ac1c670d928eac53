"""Automatic mode: detect liver lesions, choose RECIST targets, find new lesions at follow-ups.

Used when no targets are given. At baseline every candidate (CT and/or PET) is
listed in ``detected_lesions.csv`` and the measurable ones are ranked to choose
the targets (written to ``targets.json`` for the user to edit and feed back).
At each follow-up, candidates that match neither a tracked target nor a
baseline candidate (mapped through the registration) are *new-lesion
candidates*: listed with their timepoint and reported as warnings. A new
lesion seen on both CT and PET is unequivocal (RECIST 1.1, section 4.3.2 for
FDG-PET) and makes the timepoint PD; a CT-only or PET-only one is equivocal
and only reported.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from measurement.diameters import axial_diameters
from measurement.morphology import axis_lengths_mm
from measurement.volume import centroid_zyx, volume_ml
from pipeline import spatial
from pipeline.config import RunConfig
from pipeline.dicom.load import LoadedSeries
from pipeline.errors import InputError
from pipeline.longitudinal.liver import mask_on_grid
from pipeline.longitudinal.register import RegistrationResult
from pipeline.records import LesionRecord, Point
from pipeline.targets.json_file import Target
from segmentation.ct_lesion import CtLesionSegmenter
from segmentation.ct_seeded import SeededCtConfig, SeededCtSegmenter, organ_model
from segmentation.detect import CtCandidate, DetectionConfig, choose_targets, ct_candidates, pet_hotspots
from segmentation.result import LesionSegmentation, LesionSegmenter, SegmentationHints, not_found

log = logging.getLogger(__name__)

DETECTED_COLUMNS = (
    "timepoint",
    "lesion_id",
    "centroid_x_mm",
    "centroid_y_mm",
    "centroid_z_mm",
    "longest_diameter_mm",
    "volume_ml",
    "source",
    "chosen_as_target",
    "not_measured_reason",
)
MEASURABLE_MM = 10.0
#: how far from a dark candidate's seed (half the crop's side, mm) the segmenter of any appearance looks when the
#: hypodense segmenter refused the candidate (a lesion up to about 128 mm across)
RESCUE_MAX_HALF_MM = 64.0


@dataclass(frozen=True)
class DetectedLesion:
    timepoint: int
    lesion_id: str
    centroid_lps_mm: Point
    seed_lps_mm: Point
    longest_diameter_mm: float | None
    volume_ml: float | None
    source: str  # "ct", "pet" or "ct+pet"
    measurable: bool
    chosen_as_target: bool = False
    #: why a CT lesion was detected but not measured (no diameter or volume); "" when it was measured
    not_measured_reason: str = ""

    @property
    def unequivocal(self) -> bool:
        return self.source == "ct+pet"


def _lps(image: sitk.Image, index_zyx: np.ndarray) -> Point:
    return tuple(float(v) for v in spatial.index_zyx_to_lps(image, np.asarray(index_zyx, dtype=float)))  # type: ignore[return-value]


#: a CT candidate: centroid, seed (LPS mm), longest diameter (mm), volume (ml) (None: not measured), its voxels
#: (LPS mm, n x 3)
_Found = tuple[Point, Point, float | None, float | None, np.ndarray]


def _segmented(
    candidate: CtCandidate,
    image: np.ndarray,
    spacing: tuple[float, float, float],
    segmenter: LesionSegmenter,
    seeded: SeededCtSegmenter,
    rescue: SeededCtSegmenter,
    hints: SegmentationHints,
    config: DetectionConfig,
) -> LesionSegmentation:
    """The lesion a candidate leads to, or why there is none: a dark candidate segmented by ``segmenter`` (by
    ``rescue``, :func:`_rescuer` of ``seeded``, when that refuses it), a bright one by ``seeded``, kept with a confidence of at least ``min_confidence``; from a bright candidate,
    a lesion that differs from the liver by at least ``min_contrast_hu``."""
    if candidate.polarity < 0:
        seg = segmenter.segment(image, spacing, candidate.seed_zyx)
        if not seg.found or seg.mask_zyx is None or seg.confidence < config.min_confidence:
            # a rim, mottled tissue or a deposit around the dark core: the segmenter of any appearance
            other = rescue.segment(image, spacing, candidate.seed_zyx, hints)
            if other.confidence >= config.min_confidence and _rescued(other, candidate, image.shape, spacing, config):
                seg = other
    else:
        seg = seeded.segment(image, spacing, candidate.seed_zyx, hints)
    if not seg.found or seg.mask_zyx is None:
        return seg
    if seg.confidence < config.min_confidence:
        return not_found(f"confidence {seg.confidence:.2f} below {config.min_confidence}", candidate.seed_zyx)
    border = seg.border_reached(image.shape)
    if border:
        return not_found(f"the lesion reaches {border}: not wholly in the scan", candidate.seed_zyx)
    contrast = _contrast(seg)
    if candidate.polarity > 0 and contrast is not None and abs(contrast) < config.min_contrast_hu:
        return not_found("a bright spot in tissue that hardly differs from the liver", candidate.seed_zyx)
    return seg


def _rescuer(seeded: SeededCtSegmenter) -> SeededCtSegmenter:
    """``seeded``, looking no farther than :data:`RESCUE_MAX_HALF_MM` from the seed: beyond, a region is no
    compact lesion to keep from a dark candidate, and a deep dark core is reported anyway."""
    config = getattr(seeded, "config", None)
    if not isinstance(config, SeededCtConfig) or config.max_half_mm <= RESCUE_MAX_HALF_MM:
        return seeded
    return SeededCtSegmenter(dataclasses.replace(config, max_half_mm=RESCUE_MAX_HALF_MM))


def _rescued(
    seg: LesionSegmentation,
    candidate: CtCandidate,
    shape_zyx: tuple[int, int, int],
    spacing: tuple[float, float, float],
    config: DetectionConfig,
) -> bool:
    """Whether a lesion that the segmenter of any appearance found from a dark candidate (the hypodense
    segmenter refused it) is kept: it holds at least half of the candidate's region (not another structure
    nearby, nor a piece cut out of a longer dark one, a vessel or a duct), differs from the liver by at
    least ``min_contrast_hu``, is measurable (longest axial diameter at least ``bright_min_longest_mm``) and
    compact (volume at least ``bright_min_compactness`` times that of the sphere of that diameter)."""
    contrast = _contrast(seg)
    voxels = candidate.region_voxels()
    if not seg.found or seg.mask_zyx is None or contrast is None or abs(contrast) < config.min_contrast_hu:
        return False
    if not len(voxels) or (seg.full_fractions(shape_zyx)[tuple(voxels.T)] > 0).mean() < 0.5:
        return False
    longest = axial_diameters(seg.mask_zyx, spacing).longest_mm
    return _measurable_and_compact(longest, volume_ml(seg.mask_zyx, spacing), config)


def _measurable_and_compact(longest_mm: float, volume: float, config: DetectionConfig) -> bool:
    """A longest axial diameter of at least ``bright_min_longest_mm`` and a volume (ml) of at least
    ``bright_min_compactness`` times that of the sphere of that diameter."""
    return bool(
        longest_mm >= config.bright_min_longest_mm
        and volume >= config.bright_min_compactness * np.pi / 6.0 * longest_mm**3 / 1000.0
    )


def _contrast(seg: LesionSegmentation) -> float | None:
    """The lesion's attenuation minus its surroundings' (HU), when the segmenter reports both."""
    if seg.lesion_hu is None or seg.background_hu is None:
        return None
    return seg.lesion_hu - seg.background_hu


def _bright_non_lesion(
    seg: LesionSegmentation,
    longest_mm: float,
    volume: float,
    spacing: tuple[float, float, float],
    config: DetectionConfig,
) -> bool:
    """A lesion brighter than the liver that is not a measurable, compact blob of enhancing tissue (a vessel,
    contrast in an organ, a deposit alone; see :mod:`segmentation.detect`)."""
    contrast = _contrast(seg)
    if contrast is None or contrast <= 0 or seg.mask_zyx is None:
        return False
    major, _, least = axis_lengths_mm(seg.mask_zyx, spacing)
    return (
        not _measurable_and_compact(longest_mm, volume, config)
        or contrast > config.bright_max_contrast_hu
        or major > config.bright_max_elongation * least
    )


def _ct_found(
    ct: LoadedSeries,
    liver_zyx: np.ndarray,
    segmenter: LesionSegmenter,
    config: DetectionConfig,
    seeded: SeededCtSegmenter | None = None,
) -> tuple[list[_Found], list[str]]:
    """The CT candidates segmented with enough confidence, each not mostly inside an earlier one, and the deep
    dark candidates that no segmenter delineates (without diameter and volume); with, for each, why it was not
    measured ("" when it was). A candidate whose seed lies in a lesion already found, or in a bright structure
    already found not to be a lesion (a vessel, a deposit alone), is not segmented again."""
    image = spatial.array_zyx(ct.image)
    spacing = spatial.spacing_zyx(ct.image)
    seeded = seeded or SeededCtSegmenter()
    rescue = _rescuer(seeded)
    try:
        hints = SegmentationHints(organ=organ_model(image, spacing, liver_zyx))
    except ValueError:
        hints = SegmentationHints()
    found: list[_Found] = []
    reasons: list[str] = []
    taken = np.zeros(image.shape, bool)  # the lesions found
    judged = np.zeros(image.shape, bool)  # the bright structures found not to be lesions
    for candidate in ct_candidates(image, spacing, liver_zyx, config):
        seed = tuple(int(round(v)) for v in candidate.seed_zyx)
        if taken[seed] or judged[seed]:
            continue
        seg = _segmented(candidate, image, spacing, segmenter, seeded, rescue, hints, config)
        seed_lps = _lps(ct.image, np.asarray(candidate.seed_zyx))
        if not seg.found or seg.mask_zyx is None:
            if candidate.polarity < 0 and candidate.depth_mm >= config.unmeasured_min_depth_mm:
                found.append((seed_lps, seed_lps, None, None, np.asarray([seed_lps])))
                reasons.append(seg.reason)
            continue
        d = axial_diameters(seg.mask_zyx, spacing).longest_mm
        v = volume_ml(seg.mask_zyx, spacing)
        full = seg.full_mask(image.shape)
        if _bright_non_lesion(seg, d, v, spacing, config):
            judged |= full  # a vessel or a deposit: a later candidate inside it is the same structure
            continue
        if (full & taken).sum() > 0.5 * full.sum():
            continue
        taken |= full
        offset = np.asarray(seg.offset_zyx, dtype=float)
        centroid = _lps(ct.image, np.asarray(centroid_zyx(seg.mask_zyx)) + offset)
        voxels = spatial.index_zyx_to_lps(ct.image, np.argwhere(full).astype(float))
        found.append((centroid, seed_lps, d, v, voxels))
        reasons.append("")
    return found, reasons


def _pet_matches(
    found: Sequence[_Found], ct: LoadedSeries, pet: LoadedSeries, liver_zyx: np.ndarray, config: DetectionConfig
) -> tuple[list[str], list[tuple[Point, float, float]]]:
    """Each CT candidate's source ("ct", or "ct+pet" when a PET hot spot matches it) and the PET-only hot spots
    (centroid LPS mm, longest diameter mm, volume ml)."""
    sources = ["ct"] * len(found)
    pet_only: list[tuple[Point, float, float]] = []
    suv = spatial.array_zyx(pet.image)
    pet_spacing = spatial.spacing_zyx(pet.image)
    for hot in pet_hotspots(suv, pet_spacing, mask_on_grid(liver_zyx, ct.image, pet.image), config):
        peak = np.asarray(_lps(pet.image, np.asarray(hot.peak_zyx)))
        match = next(
            (
                k
                for k, (centroid, _, _, _, voxels) in enumerate(found)
                if np.linalg.norm(np.subtract(centroid, peak)) <= config.match_distance_mm
                or np.min(np.linalg.norm(voxels - peak, axis=1)) <= 5.0
            ),
            None,
        )
        if match is not None:
            sources[match] = "ct+pet"
            continue
        d = axial_diameters(hot.mask_zyx, pet_spacing).longest_mm
        centroid = _lps(pet.image, np.asarray(centroid_zyx(hot.mask_zyx)))
        pet_only.append((centroid, d, volume_ml(hot.mask_zyx, pet_spacing)))
    return sources, pet_only


def detect(
    timepoint: int,
    ct: LoadedSeries,
    pet: LoadedSeries | None,
    liver_zyx: np.ndarray,
    segmenter: LesionSegmenter,
    config: DetectionConfig,
    name: Callable[[int], str],
    seeded: SeededCtSegmenter | None = None,
) -> list[DetectedLesion]:
    """Candidates of one timepoint, largest first, named ``name(k)`` (``segmenter`` for dark candidates,
    ``seeded`` for bright ones); a deep dark region that neither delineates is listed last, not measured, with
    the reason logged."""
    found, reasons = _ct_found(ct, liver_zyx, segmenter, config, seeded)
    sources = ["ct"] * len(found)
    pet_only: list[tuple[Point, float, float]] = []
    if pet is not None and pet.suv is not None:
        sources, pet_only = _pet_matches(found, ct, pet, liver_zyx, config)
    slice_mm = spatial.spacing_zyx(ct.image)[0]
    rows: list[tuple[Point, Point, float | None, float | None, str, bool, str]] = [
        (centroid, seed, d, v, source, d is not None and d >= MEASURABLE_MM and d >= 2 * slice_mm, reason)
        for (centroid, seed, d, v, _), source, reason in zip(found, sources, reasons, strict=True)
    ]
    rows += [(c, c, d, v, "pet", False, "") for c, d, v in pet_only]
    rows.sort(key=lambda r: -(r[2] if r[2] is not None else -1.0))
    out = [
        DetectedLesion(timepoint, name(k + 1), c, s, d, v, src, m, not_measured_reason=why)
        for k, (c, s, d, v, src, m, why) in enumerate(rows)
    ]
    for d in out:
        if d.not_measured_reason:
            log.warning(
                "timepoint %d: %s, a hypodense mass at %s mm, detected but not measured: %s",
                timepoint,
                d.lesion_id,
                [round(v, 1) for v in d.centroid_lps_mm],
                d.not_measured_reason,
            )
    return out


def targets_from(
    detected: list[DetectedLesion], max_per_organ: int = 2, max_total: int = 5
) -> tuple[list[DetectedLesion], tuple[Target, ...]]:
    """Mark the RECIST targets among the baseline candidates (limits as in :func:`choose_targets`); return them as targets too."""
    lengths = [d.longest_diameter_mm or 0.0 for d in detected]
    chosen = set(
        choose_targets(lengths, [d.measurable for d in detected], ["liver"] * len(detected), max_per_organ, max_total)
    )
    marked = [DetectedLesion(**{**d.__dict__, "chosen_as_target": k in chosen}) for k, d in enumerate(detected)]
    targets = tuple(Target(d.lesion_id, d.seed_lps_mm) for d in marked if d.chosen_as_target)
    return marked, targets


def new_lesion_candidates(
    detected: list[DetectedLesion], known_lps: list[Point], match_distance_mm: float
) -> list[DetectedLesion]:
    """Follow-up candidates farther than ``match_distance_mm`` from every known lesion position."""
    return [
        d
        for d in detected
        if all(np.linalg.norm(np.subtract(d.centroid_lps_mm, k)) > match_distance_mm for k in known_lps)
    ]


def automatic_targets(
    ct: LoadedSeries, pet: LoadedSeries | None, liver_zyx: np.ndarray, config: RunConfig
) -> tuple[list[DetectedLesion], tuple[Target, ...]]:
    """Baseline candidates inside the liver (targets marked) and the chosen targets; bad input when none is found."""
    segmenter = CtLesionSegmenter(config.ct_lesion)
    seeded = SeededCtSegmenter(config.lesion)
    detected = detect(0, ct, pet, liver_zyx, segmenter, config.detection, lambda k: f"L{k}", seeded)
    marked, targets = targets_from(detected, config.recist.max_targets_per_organ, config.recist.max_targets_total)
    if not targets:
        unmeasured = sum(bool(d.not_measured_reason) for d in detected)
        also = f" ({unmeasured} detected but not measured: see the warnings)" if unmeasured else ""
        raise InputError(
            f"automatic mode: no measurable liver lesion (>= 10 mm) detected at baseline{also}; "
            "give targets with --targets"
        )
    return marked, targets


def new_lesions(
    index: int,
    ct: LoadedSeries,
    pet: LoadedSeries | None,
    lesions: Sequence[LesionRecord],
    baseline_detected: Sequence[DetectedLesion],
    reg: RegistrationResult | None,
    liver_zyx: np.ndarray,
    config: RunConfig,
) -> list[DetectedLesion]:
    """Follow-up candidates inside its liver that match no tracked target and no mapped baseline candidate
    (logged as warnings)."""
    found = [r.centroid_lps_mm for r in lesions if r.measured and r.centroid_lps_mm]
    segmenter = CtLesionSegmenter(config.ct_lesion)
    seeded = SeededCtSegmenter(config.lesion)
    detected = detect(index, ct, pet, liver_zyx, segmenter, config.detection, lambda k: f"T{index}-N{k}", seeded)
    known: list[Point] = [c for c in found if c is not None]
    if reg is not None:
        known += [reg.map_point(d.centroid_lps_mm) for d in baseline_detected]
    new = new_lesion_candidates(detected, known, config.detection.match_distance_mm)
    for d in new:
        log.warning(
            "timepoint %d: new-lesion candidate %s at %s mm (%s, %s); %s",
            index,
            d.lesion_id,
            [round(v, 1) for v in d.centroid_lps_mm],
            d.source,
            f"{d.longest_diameter_mm:.1f} mm" if d.longest_diameter_mm else "size n/a",
            "unequivocal on CT and PET: RECIST PD" if d.unequivocal else "equivocal (one modality): reported only",
        )
    return new


def detected_csv(rows: list[DetectedLesion]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(DETECTED_COLUMNS)
    for d in rows:
        writer.writerow(
            [
                d.timepoint,
                d.lesion_id,
                *(f"{v:.2f}" for v in d.centroid_lps_mm),
                "" if d.longest_diameter_mm is None else f"{d.longest_diameter_mm:.2f}",
                "" if d.volume_ml is None else f"{d.volume_ml:.3f}",
                d.source,
                "true" if d.chosen_as_target else "false",
                d.not_measured_reason,
            ]
        )
    return buf.getvalue()
