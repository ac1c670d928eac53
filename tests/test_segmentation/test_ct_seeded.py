"""The seeded CT segmenter on lesions of known truth inserted (as the hybrid set does) into a noisy liver.

Truth comes from the generator: the exact volume of the inserted shape and its partial-volume fraction map.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from measurement.agreement import dice
from measurement.diameters import axial_diameters
from sample_data.hybrid.appearance import Appearance, Spot, Texture
from sample_data.hybrid.backgrounds import Background
from sample_data.hybrid.insert import insert, render
from sample_data.hybrid.shape import StarShape
from segmentation.ct_seeded import SeededCtConfig, SeededCtSegmenter, organ_model
from segmentation.result import LesionPrior, SegmentationHints

LIVER_HU = 100.0
SPACING = (2.0, 0.8, 0.8)
SHAPE_ZYX = (50, 140, 140)
ROT = ((0.8, -0.6, 0.0), (0.6, 0.8, 0.0), (0.0, 0.0, 1.0))


def _liver(noise_hu: float = 10.0) -> Background:
    """A liver-filled box with white noise smoothed to a CT-like texture (sd about ``noise_hu``)."""
    from scipy import ndimage

    rng = np.random.default_rng(11)
    noise = ndimage.gaussian_filter(rng.normal(0.0, 1.0, SHAPE_ZYX), [0.3, 0.8, 0.8])
    image = (LIVER_HU + noise_hu * noise / noise.std()).astype(np.float32)
    origin = tuple(-0.5 * (n - 1) * s for n, s in zip(SHAPE_ZYX[::-1], SPACING[::-1]))
    return Background(
        "box", image, SPACING, origin, SPACING[0], np.ones(SHAPE_ZYX, bool), np.zeros(SHAPE_ZYX, bool), 0.6, True, "t"
    )  # type: ignore[arg-type]


def _case(appearance: Appearance, semi_axes=(14.0, 10.0, 9.0)):
    bg = _liver()
    shape = StarShape((1.0, -2.0, 0.5), semi_axes, ROT)
    rendered = render(bg, shape, appearance)
    image = bg.image_zyx.copy()
    insert(image, bg, rendered, LIVER_HU)
    truth = np.zeros(SHAPE_ZYX, np.float32)
    truth[rendered.box] = rendered.fraction_zyx
    return bg, image, shape, truth


def _seed(bg: Background, shape: StarShape, offset_mm=(0.0, 0.0, 0.0)) -> tuple[float, float, float]:
    p = np.asarray(shape.centre_lps_mm) + np.asarray(offset_mm)
    return tuple(float(v) for v in bg.lps_to_index(p))  # type: ignore[return-value]


def _hints(image: np.ndarray) -> SegmentationHints:
    return SegmentationHints(organ=organ_model(image, SPACING, np.ones(SHAPE_ZYX, bool)))


@pytest.mark.parametrize(
    "appearance",
    [Appearance("hypodense", -40.0), Appearance("hyperdense", 45.0), Appearance("iso", -20.0)],
    ids=lambda a: a.name,
)
def test_uniform_lesions_meet_the_targets_from_an_off_centre_seed(appearance: Appearance) -> None:
    bg, image, shape, truth = _case(appearance)
    seed = _seed(bg, shape, (6.0, 2.0, 0.0))  # 6 mm off the centre along the longest axis's direction
    seg = SeededCtSegmenter().segment(image, SPACING, seed, _hints(image))
    assert seg.found, seg.reason
    fractions = seg.full_fractions(SHAPE_ZYX)
    volume_ml = float(fractions.sum()) * float(np.prod(SPACING)) / 1000.0
    assert dice(fractions >= 0.5, truth >= 0.5) >= 0.85
    assert volume_ml == pytest.approx(shape.volume_ml(), rel=0.10)
    assert 0.3 <= seg.confidence <= 1.0


def test_a_lesion_with_a_calcification_is_segmented_whole() -> None:
    spot = Spot((3.0, -2.0, 0.5), 2.0, 500.0)
    bg, image, shape, truth = _case(Appearance("calcified", -40.0, spots=(spot,)))
    seg = SeededCtSegmenter().segment(image, SPACING, _seed(bg, shape, (-5.0, 0.0, 0.0)), _hints(image))
    assert seg.found, seg.reason
    fractions = seg.full_fractions(SHAPE_ZYX)
    assert dice(fractions >= 0.5, truth >= 0.5) >= 0.85


@pytest.mark.parametrize("stretch", [1.0, 0.6, 1.5])
def test_a_readers_line_far_from_the_outline_found_is_a_refusal(stretch: float) -> None:
    bg, image, shape, truth = _case(Appearance("hypodense", -40.0))
    true_line = axial_diameters(truth >= 0.5, SPACING)
    a, b = (np.asarray(p, dtype=float) for p in true_line.long_axis_zyx)
    middle = 0.5 * (a + b)
    line = (tuple(middle + stretch * (a - middle)), tuple(middle + stretch * (b - middle)))
    hints = SegmentationHints(long_axis_zyx=line, organ=organ_model(image, SPACING, np.ones(SHAPE_ZYX, bool)))
    seg = SeededCtSegmenter().segment(image, SPACING, _seed(bg, shape), hints)
    if stretch == 1.0:  # the reader measured this lesion
        assert seg.found, seg.reason
        assert dice(seg.full_fractions(SHAPE_ZYX) >= 0.5, truth >= 0.5) >= 0.85
    else:  # the reader's line is 40 % shorter or 50 % longer than the lesion (about 11 or 14 mm off)
        assert not seg.found
        assert "reader's line is" in seg.reason
        line_mm = float(np.linalg.norm(np.subtract(line[1], line[0]) * np.asarray(SPACING)))
        assert f"reader's line is {line_mm:.1f} mm" in seg.reason
        # without an organ (not a liver target) the line may be a lymph node's short axis: no such refusal
        seg = SeededCtSegmenter().segment(image, SPACING, _seed(bg, shape), SegmentationHints(long_axis_zyx=line))
        assert "reader's line is" not in seg.reason


def test_a_seed_in_normal_liver_is_refused_with_a_reason() -> None:
    bg, image, shape, _ = _case(Appearance("hypodense", -40.0))
    far = _seed(bg, shape, (-30.0, 25.0, 0.0))
    seg = SeededCtSegmenter().segment(image, SPACING, far, _hints(image))
    assert not seg.found
    assert seg.reason.startswith("no lesion at the seed")


def test_segmentation_is_deterministic_and_a_prior_on_identical_images_gives_the_same_lesion() -> None:
    bg, image, shape, truth = _case(Appearance("hypodense", -35.0))
    seed = _seed(bg, shape)
    first = SeededCtSegmenter().segment(image, SPACING, seed, _hints(image))
    again = SeededCtSegmenter().segment(image, SPACING, seed, _hints(image))
    assert first.found and again.found
    assert np.array_equal(first.full_fractions(SHAPE_ZYX), again.full_fractions(SHAPE_ZYX))
    # a follow-up identical to the baseline, the baseline mask as the prior and the seed mapped 4 mm off
    prior = LesionPrior(first.full_mask(SHAPE_ZYX), first.lesion_hu or 0.0, first.background_hu or LIVER_HU)
    hints = SegmentationHints(organ=_hints(image).organ, search_mm=10.0, prior=prior)
    follow = SeededCtSegmenter().segment(image, SPACING, _seed(bg, shape, (4.0, 0.0, 0.0)), hints)
    assert follow.found, follow.reason
    a, b = first.full_fractions(SHAPE_ZYX), follow.full_fractions(SHAPE_ZYX)
    assert float(b.sum()) == pytest.approx(float(a.sum()), rel=0.02)
    assert dice(a >= 0.5, b >= 0.5) >= 0.97


def _volume_ml(fractions: np.ndarray) -> float:
    return float(fractions.sum()) * float(np.prod(SPACING)) / 1000.0


def test_a_lesion_the_organ_mask_cut_off_is_segmented_whole() -> None:
    """An organ mask that stops at the lesion (a notch 50 mm wide, too wide for its closing, takes the
    lesion's outer half): the lesion is still segmented whole, not clipped by the mask."""
    bg, image, shape, truth = _case(Appearance("hypodense", -40.0))
    cz, cy, cx = _seed(bg, shape)
    z, y, x = np.indices(SHAPE_ZYX)
    liver = ~((x > cx) & (np.abs(y - cy) * SPACING[1] < 25.0))
    hints = SegmentationHints(organ=organ_model(image, SPACING, liver))
    seg = SeededCtSegmenter().segment(image, SPACING, (cz, cy, cx), hints)
    assert seg.found, seg.reason
    fractions = seg.full_fractions(SHAPE_ZYX)
    assert dice(fractions >= 0.5, truth >= 0.5) >= 0.85
    assert _volume_ml(fractions) == pytest.approx(shape.volume_ml(), rel=0.10)
    # the same without falling back to the organ's hull: the mask clips the lesion
    clipped = SeededCtSegmenter(SeededCtConfig(max_cut_by_organ=1.0)).segment(image, SPACING, (cz, cy, cx), hints)
    assert not clipped.found or _volume_ml(clipped.full_fractions(SHAPE_ZYX)) < 0.8 * shape.volume_ml()


def test_a_dark_core_inside_a_fainter_halo_is_not_measured_as_the_core() -> None:
    """A necrotic core (-60 HU, radius 8 mm) inside a faint hypodense halo (-9 HU, out to 14 mm): either the
    outer boundary is measured or the lesion is refused with the reason; never the core alone."""
    from scipy import ndimage

    bg = _liver()
    centre = np.asarray(SHAPE_ZYX, float) / 2.0
    r_mm = np.sqrt(sum(((np.indices(SHAPE_ZYX)[k] - centre[k]) * SPACING[k]) ** 2 for k in range(3)))
    lesion = np.where(r_mm < 8.0, -60.0, np.where(r_mm < 14.0, -9.0, 0.0))
    image = bg.image_zyx + ndimage.gaussian_filter(lesion, [0.6 / s for s in SPACING]).astype(np.float32)
    outer_ml = 4.0 / 3.0 * np.pi * 14.0**3 / 1000.0
    seg = SeededCtSegmenter().segment(image, SPACING, tuple(centre), _hints(image))
    if seg.found:
        assert _volume_ml(seg.full_fractions(SHAPE_ZYX)) == pytest.approx(outer_ml, rel=0.15)
    else:  # the halo's outer edge found but too faint to measure, or not found
        assert "unreliable" in seg.reason or "fainter layer" in seg.reason


def _core_in_layer(core_hu: float, layer_hu: float) -> tuple[np.ndarray, np.ndarray, tuple[float, float, float]]:
    """A core (radius 8 mm) inside a layer (out to 14 mm) of the given contrasts; the image, the lesion's exact
    fractions (sub-sampled 4 x 4 x 4 per voxel) and its centre (voxel index)."""
    from scipy import ndimage

    bg = _liver()
    centre = np.asarray(SHAPE_ZYX, float) / 2.0 + 0.3
    grid = np.indices(SHAPE_ZYX).astype(float)
    r_mm = np.sqrt(sum(((grid[k] - centre[k]) * SPACING[k]) ** 2 for k in range(3)))
    lesion = np.where(r_mm < 8.0, core_hu, np.where(r_mm < 14.0, layer_hu, 0.0))
    image = bg.image_zyx + ndimage.gaussian_filter(lesion, [0.6 / s for s in SPACING]).astype(np.float32)
    sub = (np.arange(4) + 0.5) / 4.0 - 0.5
    fractions = np.zeros(SHAPE_ZYX)
    for dz in sub:
        for dy in sub:
            for dx in sub:
                d = (grid - centre[:, None, None, None] + np.array([dz, dy, dx])[:, None, None, None]).T * SPACING
                fractions += (np.sqrt((d**2).sum(axis=-1)).T < 14.0) / 64.0
    return image, fractions, (float(centre[0]), float(centre[1]), float(centre[2]))


def test_a_necrotic_core_inside_a_clear_darker_layer_is_measured_to_the_layers_outer_edge() -> None:
    """A necrotic core (-70 HU) inside a viable periphery still clearly darker than the liver (-30 HU, 6 mm
    thick), as real tumours often are: the lesion is the core and the periphery, out to the periphery's edge."""
    image, truth, centre = _core_in_layer(-70.0, -30.0)
    seg = SeededCtSegmenter().segment(image, SPACING, centre, _hints(image))
    assert seg.found, seg.reason
    fractions = seg.full_fractions(SHAPE_ZYX)
    assert dice(fractions >= 0.5, truth >= 0.5) >= 0.9
    assert _volume_ml(fractions) == pytest.approx(_volume_ml(truth), rel=0.10)


def test_a_rim_enhancing_lesion_against_the_lung_is_measured_to_the_rims_outer_edge() -> None:
    """A rim-enhancing lesion in a corner of the liver, lung above it and beside it (the dome): the rim belongs
    to the lesion where the liver resumes beyond it and where the lung does."""
    bg, image, shape, truth = _case(Appearance("rim", -60.0, rim_hu=40.0, rim_mm=3.0), semi_axes=(14.0, 12.0, 12.0))
    inside = np.argwhere(truth > 0)
    top, side = int(inside[:, 0].max()) + 2, int(inside[:, 2].max()) + 3  # a voxel or two beyond the lesion
    lung = np.zeros(SHAPE_ZYX, bool)
    lung[top:] = True
    lung[:, :, side:] = True
    image = np.where(lung, np.float32(-800.0), image)
    hints = SegmentationHints(organ=organ_model(image, SPACING, ~lung))
    seg = SeededCtSegmenter().segment(image, SPACING, _seed(bg, shape), hints)
    assert seg.found, seg.reason
    fractions = seg.full_fractions(SHAPE_ZYX)
    assert dice(fractions >= 0.5, truth >= 0.5) >= 0.85
    assert _volume_ml(fractions) == pytest.approx(shape.volume_ml(), rel=0.10)


def test_a_tumour_mostly_filled_with_iodised_oil_is_segmented_as_tumour_and_deposit_together() -> None:
    # a hypodense tumour (-30 HU) holding a deposit of +550 HU (a slab through its middle, about 95 % of it)
    deposit = Texture(((0.12, 0.0, 0.0),), (0.0,))
    texture = Texture(((0.3, 0.1, 0.0), (0.0, 0.3, 0.1)), (0.3, 1.0))
    appearance = Appearance(
        "lipiodol", -30.0, 4.0, texture, deposit_hu=550.0, deposit_threshold=0.4, deposit_texture=deposit
    )
    bg, image, shape, truth = _case(appearance)
    assert np.mean(image[truth >= 0.5] > LIVER_HU + 150.0) > 0.9  # the lesion is mostly deposit
    for offset in ((0.0, 0.0, 0.0), (-8.0, 0.0, 0.0)):
        seg = SeededCtSegmenter().segment(image, SPACING, _seed(bg, shape, offset), _hints(image))
        assert seg.found, seg.reason
        fractions = seg.full_fractions(SHAPE_ZYX)
        assert dice(fractions >= 0.5, truth >= 0.5) >= 0.9
        assert _volume_ml(fractions) == pytest.approx(shape.volume_ml(), rel=0.10)
    # without folding the deposit, its edge against the tumour is taken for the lesion's: refused
    unfolded = SeededCtSegmenter(SeededCtConfig(dense_hu=1e4)).segment(image, SPACING, _seed(bg, shape), _hints(image))
    assert not unfolded.found


def test_folding_keeps_the_half_level_crossing_of_a_deposit_against_the_liver() -> None:
    # a blurred 400 HU slab in a uniform liver: the folded profile crosses half-way between the liver and the
    # folded deposit where the image crosses half-way between the liver and the deposit
    from scipy import ndimage

    from segmentation.ct_seeded import fold_dense

    image = np.full((9, 9, 80), LIVER_HU, np.float32)
    image[:, :, 30:50] += 400.0
    image = ndimage.gaussian_filter1d(image, 1.5, axis=2)
    folded = fold_dense(image, np.array([1.0, 1.0, 1.0]), LIVER_HU, 150.0, 40.0)
    row, out = image[4, 4], folded[4, 4]
    x = np.arange(80.0)
    left = x < 40
    image_edge = np.interp(LIVER_HU + 200.0, row[left], x[left])  # rising: the half-way level of the deposit
    folded_edge = np.interp(-(LIVER_HU - 20.0), -out[left], x[left])  # falling: half-way to the folded level
    assert folded_edge == pytest.approx(image_edge, abs=0.3)
    assert out[40] == pytest.approx(LIVER_HU - 40.0, abs=1.0)
    assert np.array_equal(out[:15], row[:15])  # far from the deposit: unchanged


def test_the_organs_level_is_the_same_from_a_boolean_an_integer_or_a_float_mask() -> None:
    """The organ's level from its 3 mm block means: a CT of integers (80 HU in the organ, 30 HU around, noise)
    gives the same level whatever type the organ's mask comes in, near 80 HU."""
    rng = np.random.default_rng(4)
    shape = (20, 48, 48)
    zz, yy, xx = np.indices(shape)
    organ = (zz - 10) ** 2 / 64.0 + ((yy - 24) ** 2 + (xx - 24) ** 2) / 400.0 <= 1.0
    image = np.round(np.where(organ, 80.0, 30.0) + rng.normal(0.0, 8.0, shape)).astype(np.int16)
    spacing = (1.5, 0.75, 0.75)
    levels = {
        str(mask.dtype): organ_model(image, spacing, mask).level_hu
        for mask in (organ, organ.astype(np.uint8), organ.astype(np.float32), organ.astype(np.float64))
    }
    assert len(set(levels.values())) == 1, levels
    assert levels["bool"] == pytest.approx(80.0, abs=2.0)


def test_a_readers_line_running_through_a_part_of_the_lesion_left_out_is_a_refusal() -> None:
    """A round lesion (radius 11 mm) whose one half is clearly darker than the liver (-45 HU) and whose other
    half hardly differs from it (-4 HU, as parts of a mottled lesion do), measured by a reader across both
    halves: the dark half's own longest diameter is as long as the reader's line, but the line's middle runs
    through the faint half, outside that outline. The lesion is refused, or measured whole; never as its dark
    half."""
    from scipy import ndimage

    bg = _liver()
    centre = np.asarray(SHAPE_ZYX, float) / 2.0 + 0.3
    grid = np.indices(SHAPE_ZYX).astype(float)
    d_mm = [(grid[k] - centre[k]) * SPACING[k] for k in range(3)]
    lesion = np.sqrt(d_mm[0] ** 2 + d_mm[1] ** 2 + d_mm[2] ** 2) < 11.0
    contrast = np.where(lesion, np.where(d_mm[1] < 0.0, -45.0, -4.0), 0.0)
    image = bg.image_zyx + ndimage.gaussian_filter(contrast, [0.6 / s for s in SPACING]).astype(np.float32)
    true_ml = 4.0 / 3.0 * np.pi * 11.0**3 / 1000.0
    # the reader's line across both halves (along y, through the centre), 22 mm long
    half_vox = 11.0 / SPACING[1]
    line = (
        (float(centre[0]), float(centre[1] - half_vox), float(centre[2])),
        (float(centre[0]), float(centre[1] + half_vox), float(centre[2])),
    )
    seed = (float(centre[0]), float(centre[1] - 5.0 / SPACING[1]), float(centre[2]))
    hints = SegmentationHints(long_axis_zyx=line, organ=_hints(image).organ)
    seg = SeededCtSegmenter().segment(image, SPACING, seed, hints)
    if seg.found:
        assert _volume_ml(seg.full_fractions(SHAPE_ZYX)) == pytest.approx(true_ml, rel=0.2)
    else:
        assert "outside the outline found" in seg.reason
    # the dark half alone is what the outline takes without the check: about half the lesion, with a
    # longest diameter that agrees with the line
    lenient = SeededCtSegmenter(SeededCtConfig(line_outside_mm=1e3)).segment(image, SPACING, seed, hints)
    assert lenient.found, lenient.reason
    assert _volume_ml(lenient.full_fractions(SHAPE_ZYX)) < 0.7 * true_ml


def test_line_outside_is_the_distance_of_the_lines_middle_beyond_the_outline() -> None:
    """A box-shaped outline 10 voxels (8 mm) wide in x: a line along x through it lies inside; the same line
    moved 5 voxels (4 mm) beyond the outline's side in y lies 4 mm outside it."""
    from segmentation.ct_seeded import line_outside_mm

    mask = np.zeros((5, 20, 20), np.float32)
    mask[:, 5:15, 5:15] = 1.0
    offset = (10.0, 30.0, 40.0)
    inside = ((12.0, 40.0, 44.0), (12.0, 40.0, 55.0))  # its middle 80 %: x 45.1-53.9, within 45-54
    assert line_outside_mm(mask, offset, SPACING, np.asarray(inside), 0.8) == pytest.approx(0.0, abs=1e-6)
    beyond = ((12.0, 49.0, 44.0), (12.0, 49.0, 55.0))  # y index 49 = 5 voxels past the last inside row (44)
    assert line_outside_mm(mask, offset, SPACING, np.asarray(beyond), 0.8) == pytest.approx(5 * SPACING[1], abs=0.05)


def test_fat_outside_the_organ_counts_and_fat_inside_it_does_not() -> None:
    """A cube of 1000 voxels, its upper 300 in fat (-100 HU) outside the organ, 200 more in fat inside the
    organ (a fat-containing lesion), the rest soft tissue: 30 % of it is fat outside the organ."""
    from segmentation.ct_seeded import fat_outside_organ

    image = np.full((10, 10, 10), 60.0, np.float32)
    organ = np.ones((10, 10, 10), np.float32)
    image[:3] = -100.0
    organ[:3] = 0.0
    image[3:5] = -100.0
    inside = np.ones((10, 10, 10), bool)
    assert fat_outside_organ(image, inside, organ, -50.0) == pytest.approx(0.3)
    assert fat_outside_organ(image, np.zeros_like(inside), organ, -50.0) == 0.0


def test_a_folded_outline_crossing_the_capsule_into_fat_is_refused() -> None:
    """A tumour mostly filled with iodised oil (as in the test above), the liver cut off by fat (-100 HU, outside
    the organ's mask) a voxel above it. An outline pushed far beyond the edge (a blur correction far too large,
    standing for a leak of the folded model) takes in fat beyond the capsule: refused, where without the check
    the folded outline is measured far too large."""
    deposit = Texture(((0.12, 0.0, 0.0),), (0.0,))
    texture = Texture(((0.3, 0.1, 0.0), (0.0, 0.3, 0.1)), (0.3, 1.0))
    appearance = Appearance(
        "lipiodol", -30.0, 4.0, texture, deposit_hu=550.0, deposit_threshold=0.4, deposit_texture=deposit
    )
    bg, image, shape, truth = _case(appearance)
    top = int(np.argwhere(truth > 0)[:, 0].max()) + 1
    fat = np.zeros(SHAPE_ZYX, bool)
    fat[top:] = True
    image = np.where(fat, np.float32(-100.0), image)
    hints = SegmentationHints(organ=organ_model(image, SPACING, ~fat))
    leak = SeededCtConfig(blur_correction=10.0)
    leaky = SeededCtSegmenter(leak).segment(image, SPACING, _seed(bg, shape), hints)
    assert not leaky.found
    assert "fat outside the organ" in leaky.reason
    unchecked = dataclasses.replace(leak, max_fat_outside=1.0)
    measured = SeededCtSegmenter(unchecked).segment(image, SPACING, _seed(bg, shape), hints)
    assert measured.found, measured.reason
    assert _volume_ml(measured.full_fractions(SHAPE_ZYX)) > 1.3 * shape.volume_ml()


def test_a_folded_outline_holding_liver_beside_its_deposit_is_measured_as_liver_like() -> None:
    """A deposit (500 HU, radius 3 mm) at the centre of a sphere of radius 9 mm: with liver around the deposit
    the sphere's tissue beyond the deposit's ring is liver-like; with a tumour (-40 HU) around it, it is not.
    The share of the sphere beyond the ring is close to 1 - (ring radius / 9 mm)^3 (ring: 4 voxels of 0.8 mm
    in-plane, 2 mm across slices, beyond the deposit's 3 mm)."""
    from segmentation.ct_seeded import liver_like_beside_dense

    bg = _liver(noise_hu=8.0)
    centre = np.asarray(SHAPE_ZYX, float) / 2.0
    grid = np.indices(SHAPE_ZYX).astype(float)
    r_mm = np.sqrt(sum(((grid[k] - centre[k]) * SPACING[k]) ** 2 for k in range(3)))
    sphere = r_mm < 9.0
    cfg = SeededCtConfig()
    sp = np.asarray(SPACING)
    liver = bg.image_zyx + np.where(r_mm < 3.0, 500.0, 0.0).astype(np.float32)
    tumour = bg.image_zyx + np.where(r_mm < 3.0, 500.0, np.where(sphere, -40.0, 0.0)).astype(np.float32)
    soft_l, like_l = liver_like_beside_dense(liver, sphere, sp, LIVER_HU, LIVER_HU, 15.0, cfg)
    soft_t, like_t = liver_like_beside_dense(tumour, sphere, sp, LIVER_HU, LIVER_HU, 15.0, cfg)
    assert like_l > 0.9
    assert like_t < 0.1
    assert soft_l == pytest.approx(soft_t)
    assert 0.1 < soft_l < 1.0 - (3.0 / 9.0) ** 3  # beyond the deposit and its ring, not all of the sphere
