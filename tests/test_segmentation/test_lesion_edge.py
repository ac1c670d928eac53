"""Ray-wise edge helpers of the seeded CT segmenter on analytic images (truth from their construction)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from segmentation.lesion_edge import enclosing_shell
from segmentation.rays import DirectionSet

LIVER_HU = 100.0
SPACING = np.array([0.5, 0.5, 0.5])
SHAPE = (81, 81, 81)
CENTRE_MM = (np.asarray(SHAPE) - 1) / 2.0 * SPACING
CORE_MM, RIM_MM = 8.0, 11.0


def _rim_lesion(lung_side: float) -> np.ndarray:
    """A necrotic core (-50 HU) inside an enhancing rim (+40 HU, out to 11 mm) in liver; lung (-800 HU) from
    12 mm on (1 mm of liver between) in every direction whose x component exceeds ``lung_side`` (the dome)."""
    p = np.indices(SHAPE).reshape(3, -1).T * SPACING - CENTRE_MM
    r = np.linalg.norm(p, axis=1)
    ux = p[:, 2] / np.maximum(r, 1e-9)
    value = np.where(r < CORE_MM, LIVER_HU - 50.0, np.where(r < RIM_MM, LIVER_HU + 40.0, LIVER_HU))
    value = np.where((r >= RIM_MM + 1.0) & (ux > lung_side), -800.0, value)
    return ndimage.gaussian_filter(value.reshape(SHAPE), 1.0 / 0.5).astype(np.float32)


def test_an_enhancing_rim_is_followed_where_the_liver_resumes_and_where_lung_lies_beyond_it() -> None:
    dirs = DirectionSet.make(400, k=12)
    r_edge = np.full(len(dirs), CORE_MM)  # the edge found: the core's
    image = _rim_lesion(lung_side=-0.3)  # lung beyond the rim in about 65 % of the directions
    lung = dirs.u[:, 2] > -0.3
    outer, shows = enclosing_shell(image, SPACING, CENTRE_MM, dirs, r_edge, LIVER_HU, 15.0)
    assert shows.mean() >= 0.9
    assert shows[lung].mean() >= 0.9 and shows[~lung].mean() >= 0.9
    # the rim's outer edge: where liver follows it, the half-way level between the rim and the liver
    assert abs(float(np.median(outer[~lung])) - RIM_MM) <= 0.5
    # against the lung the same level is crossed earlier, in the lung's blurred edge (the half-way level is
    # taken to the liver, not to the lung): about 1.2 mm inside at this blur
    assert CORE_MM + 1.0 <= float(np.median(outer[lung])) <= RIM_MM
