"""Seeded CT segmentation on synthetic liver patches with known lesions."""

from __future__ import annotations

import numpy as np
import pytest

from segmentation.ct_lesion import CtLesionSegmenter

SPACING = (2.5, 1.0, 1.0)


def liver_patch(
    radius_mm: float = 8.0, contrast: float = 50.0, noise: float = 10.0, seed: int = 0, centre=(20, 40, 40)
):
    """Liver (105 HU) with a spherical hypodense lesion, partial volume by supersampling, Gaussian noise."""
    rng = np.random.default_rng(seed)
    shape = (40, 80, 80)
    sub = (np.arange(3) + 0.5) / 3 - 0.5
    frac = np.zeros(shape)
    for d in [(a, b, c) for a in sub for b in sub for c in sub]:
        z, y, x = [(np.arange(n) + o - c) * s for n, o, c, s in zip(shape, d, centre, SPACING)]
        zz, yy, xx = np.meshgrid(z, y, x, indexing="ij")
        frac += zz**2 + yy**2 + xx**2 <= radius_mm**2
    frac /= 27
    image = 105.0 - contrast * frac + rng.normal(0, noise, shape)
    return image.astype(np.float32), frac


def test_sphere_is_found_with_its_volume():
    image, frac = liver_patch()
    seg = CtLesionSegmenter().segment(image, SPACING, (20.0, 40.0, 40.0))
    assert seg.found, seg.reason
    mask = seg.full_mask(image.shape)
    truth = frac >= 0.5
    dice = 2 * (mask & truth).sum() / (mask.sum() + truth.sum())
    assert dice > 0.85
    assert seg.lesion_hu == pytest.approx(55.0, abs=8)
    assert seg.background_hu == pytest.approx(105.0, abs=5)


def test_seed_in_normal_liver_is_not_found():
    image, _ = liver_patch(contrast=0.0)
    seg = CtLesionSegmenter().segment(image, SPACING, (20.0, 40.0, 40.0))
    assert not seg.found
    assert seg.reason


def test_seeds_outside_any_lesion_in_the_sample_study_are_not_found(sample_root, ground_truth):
    """Normal liver, vessels, spleen, kidney, bone and fat of the generated baseline: never a 'lesion'."""
    from pipeline import spatial
    from pipeline.dicom.discover import discover
    from pipeline.dicom.load import load_ct
    from pipeline.dicom.selection import select_timepoints
    from sample_data.anatomy import is_liver_parenchyma
    from sample_data.scenario import make_scenario

    scenario = make_scenario(ground_truth["generator"]["seed"], ground_truth["generator"]["size"])
    pose = scenario.timepoints[0].pose  # the baseline is not deformed
    lesions = [np.array(l["centre_lps_mm"]) for l in ground_truth["timepoints"][0]["lesions"]]
    rng = np.random.default_rng(0)
    normal_liver = []
    while len(normal_liver) < 3:  # liver parenchyma at least 25 mm from every lesion centre
        body = rng.uniform((-130, -80, -40), (0, 70, 40))
        lps = pose.body_to_lps(body)
        if is_liver_parenchyma(body[None], margin_mm=8.0)[0] and min(np.linalg.norm(lps - c) for c in lesions) > 25:
            normal_liver.append(("normal liver", body))
    places = normal_liver + [
        ("aorta", np.array([20.0, 50.0, 0.0])),
        ("inferior vena cava", np.array([-28.0, 48.0, -10.0])),
        ("spleen", np.array([98.0, 42.0, 25.0])),
        ("vertebra", np.array([0.0, 78.0, 0.0])),
        ("subcutaneous fat", np.array([-152.0, 0.0, 0.0])),
    ]
    timepoint = select_timepoints(discover(sample_root / "study", ignore={sample_root / "study" / "targets.json"}))[0]
    ct = load_ct(timepoint.ct_candidates[0]).image
    image, spacing = spatial.array_zyx(ct), spatial.spacing_zyx(ct)
    segmenter = CtLesionSegmenter()
    for name, body in places:
        seed = spatial.lps_to_index_zyx(ct, pose.body_to_lps(body))
        result = segmenter.segment(image, spacing, tuple(seed))
        assert not result.found, name
        assert result.reason, name
