"""Per-timepoint lesion outcomes: two touching targets that were not told apart are both refused."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from pipeline.longitudinal.lesions import SeedRequest, _refuse_over_refused
from pipeline.records import NOT_FOUND, LesionRecord
from segmentation.result import LesionSegmentation

SHAPE_ZYX = (20, 30, 40)


def _ct() -> sitk.Image:
    image = sitk.Image(SHAPE_ZYX[::-1], sitk.sitkInt16)
    image.SetSpacing((0.8, 0.8, 2.0))
    image.SetOrigin((-10.0, 5.0, 100.0))
    return image


def _lps(ct: sitk.Image, index_zyx: tuple[int, int, int]) -> tuple[float, float, float]:
    return tuple(float(v) for v in ct.TransformIndexToPhysicalPoint([int(i) for i in index_zyx[::-1]]))  # type: ignore[return-value]


def _outcomes(ct: sitk.Image, absent: bool) -> tuple[list[SeedRequest], list, list]:
    """L1 refused (or gone: ``absent``) with its seed at (10, 12, 12); L2 measured as a box holding that seed;
    L3 measured elsewhere."""
    box = np.zeros(SHAPE_ZYX, bool)
    box[5:15, 5:20, 5:25] = True
    far = np.zeros(SHAPE_ZYX, bool)
    far[5:10, 22:28, 30:38] = True
    requests = [
        SeedRequest("L1", _lps(ct, (10, 12, 12))),
        SeedRequest("L2", _lps(ct, (10, 8, 20))),
        SeedRequest("L3", _lps(ct, (7, 25, 34))),
    ]
    outcomes: list = [
        LesionRecord("L1", NOT_FOUND, "no closed boundary", absent=absent),
        LesionSegmentation(True, "", (10.0, 8.0, 20.0), box, (0, 0, 0), confidence=0.9),
        LesionSegmentation(True, "", (7.0, 25.0, 34.0), far, (0, 0, 0), confidence=0.9),
    ]
    return requests, outcomes, [None, box, far]


def test_a_target_whose_outline_holds_a_refused_targets_seed_is_refused_too() -> None:
    ct = _ct()
    requests, outcomes, masks = _outcomes(ct, absent=False)
    _refuse_over_refused(requests, outcomes, masks, ct)
    assert isinstance(outcomes[1], LesionRecord) and outcomes[1].status == NOT_FOUND
    assert "takes in the seed of L1" in outcomes[1].reason
    assert masks[1] is None
    assert isinstance(outcomes[2], LesionSegmentation) and masks[2] is not None  # the other target stands


def test_a_gone_lesions_seed_inside_another_target_changes_nothing() -> None:
    ct = _ct()
    requests, outcomes, masks = _outcomes(ct, absent=True)
    _refuse_over_refused(requests, outcomes, masks, ct)
    assert all(isinstance(o, LesionSegmentation) for o in outcomes[1:])


def test_a_readers_own_mask_holding_a_refused_targets_seed_is_measured_as_it_is() -> None:
    ct = _ct()
    requests, outcomes, masks = _outcomes(ct, absent=False)
    requests[1] = SeedRequest("L2", requests[1].seed_lps_mm, reader_mask=ct)
    _refuse_over_refused(requests, outcomes, masks, ct)
    assert isinstance(outcomes[1], LesionSegmentation) and masks[1] is not None
