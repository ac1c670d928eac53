"""Automatic detection: an enhancing sphere is found, a vessel is not; a dark lesion the hypodense segmenter
refuses is delineated by the segmenter of any appearance, a dark vessel is not; a large dark mass nobody can
delineate is listed unmeasured."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from pipeline.dicom.load import LoadedSeries
from pipeline.longitudinal.autodetect import detect
from segmentation.ct_lesion import CtLesionSegmenter
from segmentation.detect import DetectionConfig

SPACING_MM = 1.5


def _liver_ct(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A 96 x 120 x 120 mm liver block (100 HU, noise sd 8 HU) in 40 HU tissue; coordinates in mm."""
    shape = (64, 80, 80)
    z, y, x = np.meshgrid(*(np.arange(n) * SPACING_MM for n in shape), indexing="ij")
    liver = (z > 6) & (z < 90) & (y > 6) & (y < 114) & (x > 6) & (x < 114)
    image = np.where(liver, 100.0, 40.0) + rng.normal(0.0, 8.0, shape)
    return image, liver, np.stack([z, y, x])


def _series(image: np.ndarray) -> LoadedSeries:
    itk = sitk.GetImageFromArray(image.astype(np.int16))
    itk.SetSpacing((SPACING_MM,) * 3)
    return LoadedSeries(itk, "1.2.826.0.1.7", "CT", "HU", image.shape[0], None)


def test_an_enhancing_sphere_is_detected_and_a_vessel_through_the_liver_is_not():
    rng = np.random.default_rng(11)
    image, liver, (z, y, x) = _liver_ct(rng)
    sphere = (z - 48) ** 2 + (y - 40) ** 2 + (x - 40) ** 2 <= 11.0**2  # 22 mm, +45 HU
    vessel = (y - 85) ** 2 + (x - 80) ** 2 <= 6.0**2  # 12 mm wide through the whole block, +45 HU
    image = image + 45.0 * (sphere | vessel)
    found = detect(0, _series(image), None, liver, CtLesionSegmenter(), DetectionConfig(), lambda k: f"L{k}")
    assert len(found) == 1
    lesion = found[0]
    centre_lps = np.array([40.0, 40.0, 48.0])  # x, y, z (mm) with origin 0 and identity direction
    assert np.linalg.norm(np.subtract(lesion.centroid_lps_mm, centre_lps)) < 2.0
    assert lesion.longest_diameter_mm is not None and abs(lesion.longest_diameter_mm - 22.0) < 2.5
    assert lesion.measurable


class _Refusing:
    """A segmenter that delineates nothing (as on a real tumour whose edge it cannot find); as the hypodense
    segmenter it stands for one that cannot model the lesion."""

    name = "refusing"

    def segment(self, image_zyx, spacing_zyx, seed_zyx, hints=None):
        from segmentation.result import not_found

        return not_found("no closed lesion boundary (test)", seed_zyx)


def test_a_large_dark_mass_nobody_can_delineate_is_listed_unmeasured_with_the_reason(caplog):
    rng = np.random.default_rng(12)
    image, liver, (z, y, x) = _liver_ct(rng)
    mass = (z - 48) ** 2 + (y - 50) ** 2 + (x - 50) ** 2 <= 15.0**2  # 30 mm across, -40 HU
    small = (z - 48) ** 2 + (y - 95) ** 2 + (x - 95) ** 2 <= 5.0**2  # 10 mm across: core too thin
    image = image - 40.0 * (mass | small)
    with caplog.at_level("WARNING"):
        found = detect(
            0, _series(image), None, liver, _Refusing(), DetectionConfig(), lambda k: f"L{k}", seeded=_Refusing()
        )
    assert len(found) == 1
    lesion = found[0]
    assert lesion.longest_diameter_mm is None and lesion.volume_ml is None and not lesion.measurable
    assert lesion.not_measured_reason == "no closed lesion boundary (test)"
    assert np.linalg.norm(np.subtract(lesion.centroid_lps_mm, [50.0, 50.0, 48.0])) < 5.0
    assert "detected but not measured: no closed lesion boundary (test)" in caplog.text


def test_a_lesion_the_hypodense_segmenter_refuses_is_delineated_and_a_dark_vessel_is_not():
    """A 14 mm lesion (-50 HU; its core too thin to be listed unmeasured) and a dark vessel 10 mm wide through
    the block (-50 HU, as on an unenhanced scan), the hypodense segmenter refusing both: only the lesion is
    found (by the segmenter of any appearance), measured, at its centre, with its diameter; a piece of the
    vessel holds too little of its dark region to be kept."""
    rng = np.random.default_rng(21)
    image, liver, (z, y, x) = _liver_ct(rng)
    lesion = (z - 48) ** 2 + (y - 45) ** 2 + (x - 45) ** 2 <= 7.0**2
    vessel = (y - 90) ** 2 + (x - 85) ** 2 <= 5.0**2
    image = image - 50.0 * (lesion | vessel)
    found = detect(0, _series(image), None, liver, _Refusing(), DetectionConfig(), lambda k: f"L{k}")
    assert len(found) == 1
    lesion_found = found[0]
    assert np.linalg.norm(np.subtract(lesion_found.centroid_lps_mm, [45.0, 45.0, 48.0])) < 2.0
    assert lesion_found.measurable and lesion_found.longest_diameter_mm is not None
    assert abs(lesion_found.longest_diameter_mm - 14.0) < 2.0


def test_a_second_candidate_in_a_vessel_already_judged_is_not_segmented_again(monkeypatch):
    """Two bright candidates along one vessel: the segmenter of any appearance looks at the first, finds a vessel
    (not a lesion), and is not run again for the second, whose seed lies in it."""
    import pipeline.longitudinal.autodetect as autodetect
    from segmentation.ct_seeded import SeededCtSegmenter
    from segmentation.detect import CtCandidate

    rng = np.random.default_rng(13)
    image, liver, (z, y, x) = _liver_ct(rng)
    vessel = (y - 85) ** 2 + (x - 80) ** 2 <= 6.0**2  # 12 mm wide through the whole block, +45 HU
    image = image + 45.0 * vessel
    seeds = [(24.0, 85.0 / SPACING_MM, 80.0 / SPACING_MM), (36.0, 85.0 / SPACING_MM, 80.0 / SPACING_MM)]
    candidates = [CtCandidate(seed, 1.0, 45.0, polarity=1, depth_mm=6.0) for seed in seeds]
    monkeypatch.setattr(autodetect, "ct_candidates", lambda *args, **kwargs: candidates)

    class Counting(SeededCtSegmenter):
        def __init__(self) -> None:
            super().__init__()
            self.seeds: list[tuple[float, float, float]] = []

        def segment(self, image_zyx, spacing_zyx, seed_zyx, hints=None):
            self.seeds.append(tuple(seed_zyx))
            return super().segment(image_zyx, spacing_zyx, seed_zyx, hints)

    seeded = Counting()
    found = detect(
        0, _series(image), None, liver, CtLesionSegmenter(), DetectionConfig(), lambda k: f"L{k}", seeded=seeded
    )
    assert found == []
    assert seeded.seeds == [seeds[0]]


def test_the_segmenter_of_any_appearance_looks_no_farther_than_the_rescue_limit_for_a_dark_candidate():
    """A dark candidate the hypodense segmenter refused is given to the seeded segmenter with its crop capped at
    RESCUE_MAX_HALF_MM (64 mm from the seed); a smaller cap of the user's, or another segmenter, is kept."""
    from pipeline.longitudinal.autodetect import RESCUE_MAX_HALF_MM, _rescuer
    from segmentation.ct_seeded import SeededCtConfig, SeededCtSegmenter

    assert RESCUE_MAX_HALF_MM == 64.0
    assert SeededCtConfig().max_half_mm > RESCUE_MAX_HALF_MM
    assert _rescuer(SeededCtSegmenter()).config.max_half_mm == RESCUE_MAX_HALF_MM
    smaller = SeededCtSegmenter(SeededCtConfig(max_half_mm=50.0))
    assert _rescuer(smaller) is smaller
    stub = _Refusing()
    assert _rescuer(stub) is stub  # type: ignore[arg-type]
