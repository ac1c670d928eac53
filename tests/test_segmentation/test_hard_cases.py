"""CT lesion and liver segmentation on the hard variant of the phantom (sample_data.hard_cases).

Noise 15 HU, contrast down to 25 HU, irregular shapes, a necrotic centre, a
lesion touching the liver edge and one beside a vessel. The issue's targets
(Dice >= 0.85, volume error <= 10 %, longest-diameter error <= 1.5 mm for
every lesion >= 10 mm) are asserted on the noise-free images, where they
measure the method; with noise, no method can meet them for every lesion (the
benchmark ``bench_segment.py`` reports how many do), so the noisy images test
what a user relies on: lesions found, errors within the uncertainty the
segmenter reports, a reason for every refusal, and no leak.
"""

from __future__ import annotations

import numpy as np
import pytest

from measurement.agreement import agreement
from sample_data.hard_cases import HardCase
from segmentation.ct_lesion import CtLesionSegmenter
from segmentation.liver import segment_liver

SEEDS = (101, 103)
MEASURABLE_MM = 10.0


@pytest.fixture(scope="module")
def cases(hard_case) -> list[HardCase]:
    return [hard_case(seed, k) for seed in SEEDS for k in range(3)]


def _segment_all(cases: list[HardCase], noisy: bool):
    segmenter = CtLesionSegmenter()
    for case in cases:
        image = case.ct_hu_zyx if noisy else case.noise_free_hu_zyx
        for truth in case.lesions:
            seg = segmenter.segment(image, case.spacing_zyx, truth.centroid_index_zyx)
            result = None
            if seg.found:
                result = agreement(
                    seg.full_fractions(image.shape),
                    truth.fraction_zyx,
                    case.spacing_zyx,
                    truth.volume_ml,
                    truth.longest_axial_diameter_on_slices_mm,
                )
            yield truth, seg, result


def test_noise_free_lesions_meet_the_accuracy_targets(cases):
    checked = 0
    for truth, seg, result in _segment_all(cases, noisy=False):
        if truth.longest_axial_diameter_on_slices_mm < MEASURABLE_MM:
            continue
        name = f"{truth.lesion_id} ({truth.role}) tp{truth.timepoint}"
        assert seg.found, f"{name}: {seg.reason}"
        assert result.dice >= 0.85, name
        assert abs(result.volume_error_pct) <= 10.0, name
        assert abs(result.longest_diameter_error_mm) <= 1.5, name
        checked += 1
    assert checked >= 22  # most of the 30 lesions are >= 10 mm


def test_noisy_lesions_are_found_within_their_reported_uncertainty(cases):
    found = 0
    for truth, seg, result in _segment_all(cases, noisy=True):
        name = f"{truth.lesion_id} ({truth.role}) tp{truth.timepoint}"
        if truth.timepoint == 0:  # every baseline lesion is >= 14 mm and must be measured
            assert seg.found, f"{name}: {seg.reason}"
        if not seg.found:
            assert len(seg.reason) > 10, name
            continue
        found += 1
        assert seg.volume_sd_pct is not None and seg.volume_sd_pct > 0
        # the error is noise, of the size the segmenter predicts, never a leak into liver, fat or vessel
        assert abs(result.volume_error_pct) <= 3.0 * seg.volume_sd_pct + 2.0, name
        assert abs(result.volume_error_pct) <= 35.0, name
        assert abs(result.longest_diameter_error_mm) <= 3.0, name
        assert result.dice >= 0.65, name
    assert found >= 20


def test_liver_dice_on_the_hard_variant(cases):
    for case in cases:
        liver = segment_liver(case.ct_hu_zyx, case.spacing_zyx).mask_zyx
        dice = (
            2 * np.count_nonzero(liver & case.liver_zyx) / (np.count_nonzero(liver) + np.count_nonzero(case.liver_zyx))
        )
        assert dice >= 0.93


def test_automatic_detection_on_the_hard_variant(hard_case):
    """Baselines of the two hard studies of ``SEEDS`` (10 lesions of 14-32 mm, five at 26-28 HU, rendered once for
    the tests above): at least 9 found, no false positive."""
    import SimpleITK as sitk

    from pipeline.dicom.load import LoadedSeries
    from pipeline.longitudinal.autodetect import detect
    from segmentation.detect import DetectionConfig

    found = false_positives = 0
    for seed in SEEDS:
        case = hard_case(seed, 0)
        image = sitk.GetImageFromArray(case.ct_hu_zyx)
        image.SetSpacing(case.spacing_zyx[::-1])  # origin 0, identity direction: LPS mm = index x spacing
        ct = LoadedSeries(image, "1.2.3", "CT", "HU", image.GetDepth(), None)
        liver = segment_liver(case.ct_hu_zyx, case.spacing_zyx).mask_zyx
        detected = detect(0, ct, None, liver, CtLesionSegmenter(), DetectionConfig(), lambda k: f"D{k}")
        truths = {
            t.lesion_id: np.asarray(t.centroid_index_zyx)[::-1] * np.asarray(case.spacing_zyx[::-1])
            for t in case.lesions
        }
        matched = set()
        for lesion in detected:
            near = [lid for lid, c in truths.items() if np.linalg.norm(np.asarray(lesion.centroid_lps_mm) - c) <= 5.0]
            matched.update(near)
            false_positives += not near
        found += len(matched)
    assert found >= 9 and false_positives == 0
