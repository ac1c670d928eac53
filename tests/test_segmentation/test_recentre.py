"""Finding a target again at a follow-up: where the registration puts it, a little off, or not at all."""

from __future__ import annotations

import numpy as np
import pytest

from segmentation.recentre import locate_lesion, probe

SPACING = (2.5, 1.0, 1.0)
SHAPE = (40, 100, 100)


def _ball(centre_zyx, radius_mm: float) -> np.ndarray:
    grid = np.indices(SHAPE, dtype=float)
    return sum(((grid[k] - centre_zyx[k]) * SPACING[k]) ** 2 for k in range(3)) <= radius_mm**2


def _liver(noise: float = 10.0, seed: int = 0) -> np.ndarray:
    return (105.0 + np.random.default_rng(seed).normal(0, noise, SHAPE)).astype(np.float32)


def _baseline(image, centre=(20.0, 50.0, 50.0), seed=(20.0, 52.0, 49.0), radius=8.0):
    appearance = probe(image, SPACING, centre, seed, radius)
    assert appearance is not None
    return appearance


def test_the_same_scan_keeps_the_baseline_seed():
    image = _liver()
    image[_ball((20, 50, 50), 8.0)] -= 45.0
    baseline = _baseline(image)
    assert baseline.contrast_hu == pytest.approx(-45.0, abs=4.0)
    found = locate_lesion(image, SPACING, (20.0, 50.0, 50.0), (20.0, 52.0, 49.0), baseline, 8.0)
    assert found.seed_zyx == (20.0, 52.0, 49.0) and found.how == "baseline seed mapped"


def test_a_lesion_a_little_off_the_mapped_point_is_found_within_the_search_radius():
    image = _liver(seed=1)
    image[_ball((20, 58, 50), 6.0)] -= 45.0  # 8 mm from the mapped centroid; smaller than at baseline
    reference = _liver(seed=2)
    reference[_ball((20, 50, 50), 8.0)] -= 45.0
    found = locate_lesion(image, SPACING, (20.0, 50.0, 50.0), (20.0, 50.0, 50.0), _baseline(reference), 8.0)
    assert found.seed_zyx is not None, found.reason
    assert _ball((20, 58, 50), 6.0)[tuple(int(round(v)) for v in found.seed_zyx)]
    assert "deepest point" in found.how


def test_a_lesion_that_is_gone_is_absent_with_the_reason():
    reference = _liver(seed=2)
    reference[_ball((20, 50, 50), 8.0)] -= 45.0
    found = locate_lesion(_liver(seed=3), SPACING, (20.0, 50.0, 50.0), (20.0, 50.0, 50.0), _baseline(reference), 8.0)
    assert found.seed_zyx is None and found.absent
    assert found.reason.startswith("no hypodense region") and "within 12 mm" in found.reason


def test_the_seed_never_follows_a_larger_darker_structure_beyond_the_search_radius():
    """The lesion is gone; a large darker structure reaches into the search radius: the seed stays within it."""
    reference = _liver(seed=2)
    reference[_ball((20, 50, 50), 8.0)] -= 45.0
    image = _liver(seed=4)
    image[_ball((20, 50, 85), 28.0)] -= 90.0  # its border 7 mm from the mapped centroid, its centre 35 mm away
    found = locate_lesion(image, SPACING, (20.0, 50.0, 50.0), (20.0, 50.0, 50.0), _baseline(reference), 8.0)
    assert found.seed_zyx is not None  # a region reaches in: the caller checks the segmentation's centroid
    moved = np.linalg.norm((np.asarray(found.seed_zyx) - (20.0, 50.0, 50.0)) * SPACING)
    assert moved <= 12.0 + 1e-9


def test_a_hyperdense_lesion_is_looked_for_as_hyperdense():
    reference = _liver(seed=2)
    reference[_ball((20, 50, 50), 8.0)] += 60.0
    image = _liver(seed=5)
    image[_ball((20, 50, 55), 8.0)] += 60.0
    dark = _liver(seed=6)
    dark[_ball((20, 50, 50), 8.0)] -= 60.0
    baseline = _baseline(reference)
    assert baseline.contrast_hu > 40
    found = locate_lesion(image, SPACING, (20.0, 50.0, 50.0), (20.0, 50.0, 50.0), baseline, 8.0)
    assert found.seed_zyx is not None and _ball((20, 50, 55), 8.0)[tuple(int(round(v)) for v in found.seed_zyx)]
    gone = locate_lesion(dark, SPACING, (20.0, 50.0, 50.0), (20.0, 50.0, 50.0), baseline, 8.0)
    assert gone.seed_zyx is None and gone.reason.startswith("no hyperdense region")


def test_a_lesion_without_contrast_at_baseline_keeps_its_mapped_seed_unchecked():
    image = _liver()
    baseline = _baseline(image)
    found = locate_lesion(image, SPACING, (20.0, 50.0, 50.0), (21.0, 50.0, 50.0), baseline, 8.0, min_contrast_hu=5.0)
    assert found.seed_zyx == (21.0, 50.0, 50.0) and "presence not checked" in found.how
