"""The hybrid set's truth against closed forms: shapes, partial-volume rasterisation and insertion.

A synthetic :class:`Background` (a uniform "liver" of known level, optionally with white noise) stands in for
the real scan, so every expected value here is a formula, not an output of the code under test.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from sample_data.hybrid.appearance import CLASSES, Appearance, draw_appearance
from sample_data.hybrid.backgrounds import Background
from sample_data.hybrid.insert import insert, render
from sample_data.hybrid.shape import Lobe, StarShape

IDENTITY = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))


def _background(level_hu: float = 100.0, noise_hu: float = 0.0, spacing_zyx=(2.0, 0.8, 0.8)) -> Background:
    shape = (40, 90, 90)
    rng = np.random.default_rng(0)
    image = np.full(shape, level_hu, np.float32) + rng.normal(0.0, noise_hu, shape).astype(np.float32)
    origin = tuple(-0.5 * (n - 1) * s for n, s in zip(shape[::-1], spacing_zyx[::-1]))
    return Background(
        "synthetic",
        image,
        spacing_zyx,
        origin,  # type: ignore[arg-type]
        spacing_zyx[0],
        np.ones(shape, bool),
        np.zeros(shape, bool),
        0.7,
        True,
        "test",
    )


def test_ellipsoid_volume_and_axial_diameter_are_the_closed_forms() -> None:
    a, b, c = 14.0, 9.0, 6.0
    shape = StarShape((1.0, -2.0, 3.0), (a, b, c), IDENTITY)
    assert shape.volume_ml() == pytest.approx(4.0 / 3.0 * np.pi * a * b * c / 1000.0, rel=1e-4)
    # on the plane z = 3 + dz the section is an ellipse with semi-axes scaled by sqrt(1 - (dz / c)^2)
    for dz in (0.0, 2.5, -4.0):
        longest, _ = shape.section_longest_mm(3.0 + dz, step_mm=0.05)
        assert longest == pytest.approx(2.0 * a * np.sqrt(1.0 - (dz / c) ** 2), abs=0.05)
    # RECIST over slices 2 mm apart that miss the centre plane: the best slice is the nearest to it
    ld, z, _ = shape.longest_axial_diameter(np.arange(-20.0, 20.0, 2.0) + 0.5)
    assert z == pytest.approx(2.5)
    assert ld == pytest.approx(2.0 * a * np.sqrt(1.0 - (0.5 / c) ** 2), abs=0.05)


def test_lobes_reshape_but_keep_the_shape_star_shaped_and_positive() -> None:
    lobes = (Lobe(0.4, 6.0, (1.0, 0.0, 0.0)), Lobe(-0.3, 4.0, (0.0, 0.6, 0.8)))
    shape = StarShape((0.0, 0.0, 0.0), (10.0, 10.0, 10.0), IDENTITY, lobes)
    # r(u) = 10 * exp(sum a_k (exp(kappa_k (u.d_k - 1)) - m_k)): along +x the first lobe is at its peak
    m1 = (1.0 - np.exp(-12.0)) / 12.0
    m2 = (1.0 - np.exp(-8.0)) / 8.0
    expected = 10.0 * np.exp(0.4 * (1.0 - m1) - 0.3 * (np.exp(4.0 * (0.0 - 1.0)) - m2))
    assert shape.radius(np.array([1.0, 0.0, 0.0])) == pytest.approx(expected, rel=1e-12)
    # volume by the quasi-uniform directions against a Monte Carlo count over the bounding box
    rng = np.random.default_rng(3)
    lo, hi = shape.bounds()
    pts = rng.uniform(lo, hi, size=(400_000, 3))
    mc = shape.contains(pts).mean() * np.prod(hi - lo) / 1000.0
    assert shape.volume_ml() == pytest.approx(mc, rel=0.01)


def test_partial_volume_fractions_sum_to_the_exact_volume() -> None:
    bg = _background()
    shape = StarShape((0.3, -0.2, 0.7), (11.0, 7.0, 8.0), ((0.8, -0.6, 0.0), (0.6, 0.8, 0.0), (0.0, 0.0, 1.0)))
    rendered = render(bg, shape, Appearance("hypodense", -40.0))
    voxel_ml = float(np.prod(bg.spacing_zyx)) / 1000.0
    assert float(rendered.fraction_zyx.sum()) * voxel_ml == pytest.approx(shape.volume_ml(), rel=0.005)
    assert rendered.fraction_zyx.min() >= 0.0 and rendered.fraction_zyx.max() <= 1.0
    inside = rendered.fraction_zyx >= 1.0
    assert np.allclose(rendered.attenuation_zyx[inside], -40.0)


def test_insertion_adds_the_blurred_contrast_and_keeps_the_noise() -> None:
    level, contrast = 100.0, -35.0
    bg = _background(level_hu=level, noise_hu=10.0)
    shape = StarShape((0.0, 0.0, 0.0), (12.0, 12.0, 9.0), IDENTITY)
    rendered = render(bg, shape, Appearance("hypodense", contrast))
    image = bg.image_zyx.copy()
    insert(image, bg, rendered, level)
    added = image - bg.image_zyx
    # deep inside, the image is the lesion level plus the scan's own noise above the 1.5 mm smoothing
    deep = np.zeros(bg.shape_zyx, bool)
    deep[rendered.box] = ndimage.binary_erosion(rendered.fraction_zyx >= 1.0, iterations=3)
    assert float(np.mean(image[deep])) == pytest.approx(level + contrast, abs=1.0)
    assert float(np.std(image[deep])) > 5.0  # the white noise (10 HU) is not painted over
    # the blur keeps the total added contrast: sum(f * (B + c - A)), A the smoothed scan (noise averages out)
    expected = contrast * float(rendered.fraction_zyx.sum())
    assert float(added.sum()) == pytest.approx(expected, rel=0.03)


@pytest.mark.parametrize("name", CLASSES)
def test_appearances_stay_within_their_documented_ranges(name: str) -> None:
    shape = StarShape((0.0, 0.0, 0.0), (15.0, 12.0, 10.0), IDENTITY)
    rng = np.random.default_rng(7)
    appearance = draw_appearance(name, shape, rng, liver_hu=60.0)
    pts = np.random.default_rng(1).uniform(-9.0, 9.0, size=(20_000, 3))
    pts = pts[shape.contains(pts)]
    c = appearance.contrast_hu(shape, pts)
    assert c.min() >= -60.0 - 1e-9  # never darker than water
    assert np.array_equal(c, draw_appearance(name, shape, np.random.default_rng(7), 60.0).contrast_hu(shape, pts))
    bounds = {
        "hypodense": (-80.0 - 20, -15.0 + 20),
        "iso": (-15.0 - 15, -8.0 + 15),
        "hyperdense": (25.0 - 25, 70.0 + 25),
    }
    if name in bounds:
        lo, hi = bounds[name]
        assert lo <= float(np.median(c)) <= hi
    if name == "lipiodol":
        assert float(np.quantile(c, 0.95)) >= 200.0
    if name == "calcified":
        centres = np.array([s.centre_lps_mm for s in appearance.spots])
        assert len(centres) >= 1
        assert float(appearance.contrast_hu(shape, centres).min()) >= 300.0 - 50.0
