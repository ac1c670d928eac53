"""Candidate detection inside the liver: CT dark regions and PET hot spots (no candidate outside the liver)."""

from __future__ import annotations

import numpy as np

from segmentation.detect import DetectionConfig, ct_candidates, pet_hotspots


def _liver_block() -> tuple[np.ndarray, np.ndarray, tuple[float, float, float]]:
    spacing = (4.0, 4.0, 4.0)
    liver = np.zeros((30, 40, 40), bool)
    liver[5:25, 5:35, 5:25] = True
    suv = np.where(liver, 2.0, 1.0).astype(np.float32)
    return liver, suv, spacing


def _spot(suv: np.ndarray, centre: tuple[int, int, int], value: float) -> None:
    z, y, x = centre
    suv[z - 1 : z + 2, y - 1 : y + 2, x - 1 : x + 2] = value / 2
    suv[z, y, x] = value


def test_pet_hot_spot_peaking_outside_the_liver_is_not_a_candidate():
    liver, suv, spacing = _liver_block()
    _spot(suv, (15, 20, 15), 8.0)  # inside the liver
    _spot(suv, (15, 20, 27), 9.0)  # 8 mm beyond the liver's edge (x = 25): within the 10 mm search, peak outside
    spots = pet_hotspots(suv, spacing, liver, DetectionConfig())
    assert [s.peak_zyx for s in spots] == [(15, 20, 15)]
    assert spots[0].suv_max == 8.0


def test_ct_candidates_lie_inside_the_liver():
    rng = np.random.default_rng(3)
    liver, _, spacing = _liver_block()
    image = np.where(liver, 100.0, 40.0) + rng.normal(0.0, 3.0, liver.shape)
    image[12:18, 15:21, 10:16] -= 50.0  # a 24 mm hypodense lesion inside
    image[12:18, 15:21, 26:32] -= 50.0  # the same outside the liver
    found = ct_candidates(image.astype(np.float32), spacing, liver, DetectionConfig())
    assert len(found) == 1
    assert all(liver[tuple(int(round(v)) for v in c.seed_zyx)] for c in found)
    assert 12 <= found[0].seed_zyx[2] <= 13  # the deepest point of the inside lesion (x 10-15)


def test_ct_candidates_of_both_polarities_with_their_deepest_points():
    rng = np.random.default_rng(4)
    liver, _, spacing = _liver_block()
    image = np.where(liver, 100.0, 40.0) + rng.normal(0.0, 3.0, liver.shape)
    image[12:18, 15:21, 8:14] -= 50.0  # hypodense, 24 mm
    image[12:18, 15:21, 16:22] += 50.0  # hyperdense, 24 mm
    found = ct_candidates(image.astype(np.float32), spacing, liver, DetectionConfig())
    by_polarity = {c.polarity: c for c in found}
    assert sorted(by_polarity) == [-1, 1] and len(found) == 2
    assert 10 <= by_polarity[-1].seed_zyx[2] <= 11 and 18 <= by_polarity[1].seed_zyx[2] <= 19
    assert 35.0 < by_polarity[1].contrast_hu <= 50.0 and 35.0 < by_polarity[-1].contrast_hu <= 50.0
    only_dark = ct_candidates(image.astype(np.float32), spacing, liver, DetectionConfig(), polarities=(-1,))
    assert [c.polarity for c in only_dark] == [-1]


def test_a_lesion_darker_than_the_liver_around_it_but_not_than_the_liver_overall_is_a_candidate():
    """The liver's level drifts by 50 HU from one side to the other (uneven enhancement: its robust SD, and so
    the global margin, about 50 HU); a 24 mm lesion 25 HU below the liver around it on the bright side (about
    90 HU where the liver is about 117, its median 98) is found against the local level (a region holding at
    least half of it, seeded inside it), and the bright side itself is not a candidate."""
    rng = np.random.default_rng(5)
    spacing = (4.0, 4.0, 4.0)
    liver = np.zeros((30, 40, 60), bool)
    liver[5:25, 5:35, 5:55] = True
    x = np.arange(60, dtype=float)[None, None, :]
    drift = 75.0 + 50.0 * np.clip((x - 5.0) / 50.0, 0.0, 1.0)  # 75 HU at x = 5 to 125 HU at x = 55
    image = np.where(liver, drift, 40.0) + rng.normal(0.0, 3.0, liver.shape)
    lesion = np.zeros(liver.shape, bool)
    lesion[12:18, 15:21, 44:50] = True
    image[lesion] -= 25.0
    found = ct_candidates(image.astype(np.float32), spacing, liver, DetectionConfig())
    assert [c.polarity for c in found] == [-1]
    assert lesion[tuple(int(round(v)) for v in found[0].seed_zyx)]
    lesion_ml = float(lesion.sum()) * 64.0 / 1000.0
    assert 0.5 * lesion_ml <= found[0].volume_ml <= 1.1 * lesion_ml
    without_local = ct_candidates(image.astype(np.float32), spacing, liver, DetectionConfig(local_background_mm=0.0))
    assert not any(lesion[tuple(int(round(v)) for v in c.seed_zyx)] for c in without_local)
