"""Analytic ground truth of the synthetic lesions.

An ellipsoid ``{p : (p - c)^T M (p - c) <= 1}`` cut by the axial plane at
height ``dz`` from its centre is an ellipse with the in-plane matrix
``M2 = M[:2, :2]`` scaled by ``1 - dz^2 / (M^-1)_zz``. Its semi-axes are
``sqrt(level / eig(M2))``, so the longest axial diameter of that slice is
``2 sqrt(level / min eig)`` and the longest diameter perpendicular to it (the
short axis) is ``2 sqrt(level / max eig)``. "On slices" values use the acquired
slice nearest to the centre, i.e. what can be measured on the images.

The expected RECIST 1.1 category is computed here from these truths with the
published thresholds, independently of the pipeline's own implementation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from sample_data.scenario import Scenario
    from sample_data.shapes import Ellipsoid, Pose


@dataclass(frozen=True)
class LesionTruth:
    lesion_id: str
    timepoint: int
    centre_lps_mm: tuple[float, float, float]
    longest_axial_diameter_mm: float
    short_axis_mm: float
    longest_axial_diameter_on_slices_mm: float
    short_axis_on_slices_mm: float
    max_3d_diameter_mm: float
    volume_ml: float


def _shape_matrix_lps(ellipsoid: Ellipsoid, pose: Pose) -> np.ndarray:
    q = pose.matrix @ np.asarray(ellipsoid.rotation)
    return q @ np.diag(1.0 / np.asarray(ellipsoid.semi_axes_mm) ** 2) @ q.T


def axial_diameters(ellipsoid: Ellipsoid, pose: Pose, dz_mm: float = 0.0) -> tuple[float, float]:
    """Longest and perpendicular (short) diameters of the axial section at ``dz_mm`` from the centre."""
    m = _shape_matrix_lps(ellipsoid, pose)
    level = 1.0 - dz_mm**2 / np.linalg.inv(m)[2, 2]
    if level <= 0:
        return 0.0, 0.0
    eig = np.linalg.eigvalsh(m[:2, :2])
    return float(2 * np.sqrt(level / eig[0])), float(2 * np.sqrt(level / eig[1]))


def lesion_truth(scenario: Scenario, new_lesions: bool = False) -> list[list[LesionTruth]]:
    """Truth per timepoint, per lesion (in lesion order): the targets, or the new lesions present."""
    out = []
    for tp in scenario.timepoints:
        z_slices = tp.ct_grid.slice_z_mm()
        rows = []
        for lesion in scenario.new_lesions if new_lesions else scenario.lesions:
            if not lesion.present(tp.index):
                continue
            e = tp.lesion_shape(lesion)
            centre = tp.pose.body_to_lps(np.asarray(e.centre_mm))
            long_c, short_c = axial_diameters(e, tp.pose)
            dz = float(np.min(np.abs(z_slices - centre[2])))
            long_s, short_s = axial_diameters(e, tp.pose, dz)
            rows.append(
                LesionTruth(
                    lesion_id=lesion.lesion_id,
                    timepoint=tp.index,
                    centre_lps_mm=tuple(float(v) for v in centre),  # type: ignore[arg-type]
                    longest_axial_diameter_mm=long_c,
                    short_axis_mm=short_c,
                    longest_axial_diameter_on_slices_mm=long_s,
                    short_axis_on_slices_mm=short_s,
                    max_3d_diameter_mm=2.0 * max(e.semi_axes_mm),
                    volume_ml=e.volume_ml,
                )
            )
        out.append(rows)
    return out


def recist_categories(sums_mm: list[float]) -> list[tuple[str, float | None, float | None]]:
    """RECIST 1.1 target-lesion category per timepoint from sums of longest diameters.

    Returns (category, % change from baseline, % change from nadir); nadir is the
    smallest sum of the earlier timepoints, baseline included.
    """
    result: list[tuple[str, float | None, float | None]] = [("baseline", None, None)]
    base = sums_mm[0]
    for k in range(1, len(sums_mm)):
        nadir = min(sums_mm[:k])
        s = sums_mm[k]
        from_base = 100.0 * (s - base) / base
        from_nadir = 100.0 * (s - nadir) / nadir if nadir > 0 else float("inf")
        if s - nadir >= 5.0 and from_nadir >= 20.0:
            cat = "PD"
        elif s == 0:
            cat = "CR"
        elif from_base <= -30.0:
            cat = "PR"
        else:
            cat = "SD"
        result.append((cat, from_base, from_nadir))
    return result


def has_clear_recist(truths: list[list[LesionTruth]], margin_pct: float = 8.0) -> bool:
    """True when the scenario is baseline, PR, PD with every threshold missed by a clear margin.

    Also requires every baseline lesion to be measurable (>= 11 mm on the slices)
    and every follow-up lesion to stay visible (>= 7 mm).
    """
    sums = [sum(t.longest_axial_diameter_on_slices_mm for t in tp) for tp in truths]
    cats = recist_categories(sums)
    if [c for c, _, _ in cats] != ["baseline", "PR", "PD"]:
        return False
    _, base1, _ = cats[1]
    _, _, nadir2 = cats[2]
    assert base1 is not None and nadir2 is not None
    if base1 > -30.0 - margin_pct or nadir2 < 20.0 + margin_pct or sums[2] - min(sums[:2]) < 5.0 + 3.0:
        return False
    if min(t.longest_axial_diameter_on_slices_mm for t in truths[0]) < 11.0:
        return False
    return min(t.longest_axial_diameter_on_slices_mm for tp in truths for t in tp) >= 7.0
