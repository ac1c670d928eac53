"""The seeded CT segmenter on a real tumour against its manual reference mask (IRCAD patient, tumour 1: a
necrotic core inside a viable periphery still darker than the liver; the manual outline is the periphery's).

Reads the real-data folder in place (``realdata`` fixture: skipped when it is missing, failed under CI). The
full real-data accuracy figures are ``make validate``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from measurement.agreement import dice
from measurement.diameters import axial_diameters
from measurement.volume import volume_ml
from sample_data.retest import Background, contrast_scaled, deepest_point_zyx, load_background
from segmentation.ct_seeded import SeededCtSegmenter, organ_model
from segmentation.liver import segment_liver
from segmentation.result import SegmentationHints


@pytest.fixture(scope="module")
def ircad(realdata: Path) -> Background:
    return load_background("ircad_patient", realdata)


def test_a_real_tumour_with_a_necrotic_core_is_measured_to_its_manual_outline(ircad: Background) -> None:
    """Seeded at its deepest point, in the core, with the manual liver as the organ: the outline is the
    periphery's (volume within 15 %, longest diameter within 3 mm, Dice >= 0.75; the edge of the core alone lies
    about 8 mm inside it)."""
    background = ircad
    image = sitk.GetArrayFromImage(background.image).astype(np.float32)
    spacing = tuple(float(s) for s in background.image.GetSpacing()[::-1])
    assert background.liver_zyx is not None
    reference = background.lesions_zyx[0]
    seed = tuple(float(v) for v in deepest_point_zyx(reference, spacing))  # type: ignore[arg-type]
    hints = SegmentationHints(organ=organ_model(image, spacing, background.liver_zyx))
    seg = SeededCtSegmenter().segment(image, spacing, seed, hints)  # type: ignore[arg-type]
    assert seg.found, seg.reason
    fractions = seg.full_fractions(image.shape)  # type: ignore[arg-type]
    assert dice(fractions >= 0.5, reference) >= 0.75
    assert abs(volume_ml(fractions, spacing) / volume_ml(reference, spacing) - 1.0) <= 0.15  # type: ignore[arg-type]
    found_mm = axial_diameters(fractions, spacing).longest_mm  # type: ignore[arg-type]
    assert abs(found_mm - axial_diameters(reference, spacing).longest_mm) <= 3.0  # type: ignore[arg-type]


def test_a_real_tumour_at_lower_contrast_seeded_off_its_core_is_measured_whole_or_refused(ircad: Background) -> None:
    """The same tumour with its contrast to the liver at 60 % (another contrast phase), seeded 7 mm above its
    deepest point (where a registration put the seed at a follow-up): the first edge found encloses only the
    darker part (37 % less volume), and a second edge further out passes the checks too. Which is the
    boundary is not clear: the tumour is measured within 15 % of its manual volume, or refused with the
    reason; never the darker part alone."""
    background = ircad
    assert background.liver_zyx is not None
    image = contrast_scaled(sitk.GetArrayFromImage(background.image), background.liver_zyx, 0.6)[0]
    image = image.astype(np.float32)
    spacing = tuple(float(s) for s in background.image.GetSpacing()[::-1])
    reference = background.lesions_zyx[0]
    deepest = deepest_point_zyx(reference, spacing)  # type: ignore[arg-type]
    seed = tuple(float(v) + d / s for v, d, s in zip(deepest, (6.3, -2.9, 1.2), spacing, strict=True))
    assert reference[tuple(int(round(v)) for v in seed)], "the seed lies in the tumour"
    liver = segment_liver(image, spacing).mask_zyx  # type: ignore[arg-type]  # the liver the pipeline finds
    assert liver is not None
    hints = SegmentationHints(organ=organ_model(image, spacing, liver))
    seg = SeededCtSegmenter().segment(image, spacing, seed, hints)  # type: ignore[arg-type]
    if seg.found:
        fractions = seg.full_fractions(image.shape)  # type: ignore[arg-type]
        assert abs(volume_ml(fractions, spacing) / volume_ml(reference, spacing) - 1.0) <= 0.15  # type: ignore[arg-type]
    else:
        assert "edge" in seg.reason or "confidence" in seg.reason, seg.reason
