"""Analytic ground truth of the synthetic lesions.

An ellipsoid ``{p : (p - c)^T M (p - c) <= 1}`` cut by the axial plane at
height ``dz`` from its centre is an ellipse with the in-plane matrix
``M2 = M[:2, :2]`` scaled by ``1 - dz^2 / (M^-1)_zz``. Its semi-axes are
``sqrt(level / eig(M2))``, so the longest axial diameter of that slice is
``2 sqrt(level / min eig)`` and the longest diameter perpendicular to it (the
short axis) is ``2 sqrt(level / max eig)``. "On slices" values use the acquired
slice nearest to the centre, i.e. what can be measured on the images.

The expected RECIST 1.1 category is computed here from these truths with the
published thresholds, independently of the pipeline's own implementation; so
are the expected volumetric, Choi and PERCIST categories (below).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy import ndimage

from sample_data.shapes import partial_volume

if TYPE_CHECKING:
    from sample_data.grid import Grid
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


# --- The other response criteria, from the generator's exact values (independent of measurement/) ---

PEAK_SPHERE_RADIUS_MM = (3000.0 / (4.0 * np.pi)) ** (1.0 / 3.0)  # 1 cm^3


def recist_target_ids(baseline: list[LesionTruth], max_per_organ: int = 2, max_total: int = 5) -> list[str]:
    """RECIST 1.1 targets of the (all hepatic) lesions: the largest on-slice diameters, at most 2 per organ.

    Every generated lesion is measurable (>= 11 mm, checked by :func:`has_clear_recist`).
    """
    ranked = sorted(range(len(baseline)), key=lambda i: (-baseline[i].longest_axial_diameter_on_slices_mm, i))
    keep = sorted(ranked[: min(max_per_organ, max_total)])
    return [baseline[i].lesion_id for i in keep]


def _changes(values: list[float], k: int) -> tuple[float | None, float | None, float]:
    base, nadir = values[0], min(values[:k])
    from_base = 100.0 * (values[k] - base) / base if base else None
    from_nadir = 100.0 * (values[k] - nadir) / nadir if nadir else None
    return from_base, from_nadir, nadir


def volumetric_categories(volumes_ml: list[float]) -> list[str]:
    """Volumetric: PR <= -65 % from baseline, PD >= +73 % from the nadir, CR all gone."""
    out = ["baseline"]
    for k in range(1, len(volumes_ml)):
        from_base, from_nadir, nadir = _changes(volumes_ml, k)
        if volumes_ml[k] > nadir and (from_nadir is None or from_nadir >= 73.0):
            out.append("PD")
        elif volumes_ml[k] == 0:
            out.append("CR")
        elif from_base is not None and from_base <= -65.0:
            out.append("PR")
        else:
            out.append("SD")
    return out


def choi_categories(sums_mm: list[float], density_hu: list[float]) -> list[str]:
    """Choi: PR size <= -10 % or density <= -15 % from baseline; PD size >= +10 % from the nadir without density PR."""
    out = ["baseline"]
    for k in range(1, len(sums_mm)):
        from_base, from_nadir, nadir = _changes(sums_mm, k)
        density_pr = 100.0 * (density_hu[k] - density_hu[0]) / density_hu[0] <= -15.0
        if sums_mm[k] > nadir and (from_nadir is None or from_nadir >= 10.0) and not density_pr:
            out.append("PD")
        elif sums_mm[k] == 0:
            out.append("CR")
        elif (from_base is not None and from_base <= -10.0) or density_pr:
            out.append("PR")
        else:
            out.append("SD")
    return out


def sul_per_suv_james(weight_kg: float, height_m: float, sex: str) -> float:
    """Lean body mass (James 1976) / body weight: the factor from SUVbw to SUL."""
    ratio = weight_kg / (100.0 * height_m)
    lbm = 1.10 * weight_kg - 128.0 * ratio**2 if sex == "M" else 1.07 * weight_kg - 148.0 * ratio**2
    return lbm / weight_kg


def percist_categories(hottest_sul: list[float], liver_sul: float) -> list[str]:
    """PERCIST 1.0 on the hottest lesion's SULpeak: PMR >= 30 % and >= 0.8 down, PMD > 30 % and > 0.8 up."""
    out = ["baseline"]
    base = hottest_sul[0]
    for k in range(1, len(hottest_sul)):
        change = hottest_sul[k] - base
        if change > 0.3 * base and change > 0.8:
            out.append("PMD")
        elif hottest_sul[k] < liver_sul:
            out.append("CMR")
        elif change <= -0.3 * base and change <= -0.8:
            out.append("PMR")
        else:
            out.append("SMD")
    return out


def suv_peak_noise_free(
    clean_suv: np.ndarray, spacing_zyx: tuple[float, float, float], centres_zyx: np.ndarray
) -> float:
    """Highest mean of ``clean_suv`` over the voxels within 6.2 mm (1 cm^3) of one of ``centres_zyx``."""
    reach = [int(PEAK_SPHERE_RADIUS_MM // s) for s in spacing_zyx]
    offsets = np.array(
        [
            (dz, dy, dx)
            for dz in range(-reach[0], reach[0] + 1)
            for dy in range(-reach[1], reach[1] + 1)
            for dx in range(-reach[2], reach[2] + 1)
            if (dz * spacing_zyx[0]) ** 2 + (dy * spacing_zyx[1]) ** 2 + (dx * spacing_zyx[2]) ** 2
            <= PEAK_SPHERE_RADIUS_MM**2
        ]
    )
    best = -np.inf
    shape = np.asarray(clean_suv.shape)
    for centre in np.asarray(centres_zyx, dtype=int):
        idx = centre + offsets
        idx = idx[np.all((idx >= 0) & (idx < shape), axis=1)]
        best = max(best, float(clean_suv[tuple(idx.T)].mean()))
    return best


def peak_recovery(ellipsoid: Ellipsoid, pose: Pose, grid: Grid, psf_fwhm_mm: float) -> float:
    """Noise-free SUVpeak of the lesion with unit contrast over a zero background on a PET grid.

    The rendered PET is ``background + (lesion SUV - background) x blurred
    lesion fraction`` around a lesion inside uniform liver, so a lesion's
    noise-free SUVpeak is ``liver + (SUV - liver) x recovery``.
    """
    sigma = psf_fwhm_mm / (2.0 * np.sqrt(2.0 * np.log(2.0)))
    centre = pose.body_to_lps(np.asarray(ellipsoid.centre_mm))
    reach = max(ellipsoid.semi_axes_mm) + 4.0 * sigma + PEAK_SPHERE_RADIUS_MM
    block = grid.index_range(centre - reach, centre + reach, margin=1)
    body = pose.lps_to_body(grid.points_lps(block))
    fraction = partial_volume(ellipsoid, body, pose, grid.spacing_xyz_mm)
    sx, sy, sz = grid.spacing_xyz_mm
    blurred = ndimage.gaussian_filter(fraction, sigma=(sigma / sz, sigma / sy, sigma / sx), mode="constant")
    inside = ellipsoid.contains(body)
    centres = np.argwhere(inside) if inside.any() else np.argwhere(fraction == fraction.max())
    return suv_peak_noise_free(blurred, (sz, sy, sx), centres)


def _margin_ok(change_pct: float | None, threshold_pct: float, margin_pct: float, below: bool) -> bool:
    if change_pct is None:
        return False
    return change_pct <= threshold_pct - margin_pct if below else change_pct >= threshold_pct + margin_pct


def has_clear_criteria(
    truths: list[list[LesionTruth]],
    hottest_suv: list[float],
    liver_suv: float,
    sul_per_suv: float,
    margin_pct: float = 8.0,
    margin_sul: float = 0.3,
) -> bool:
    """True when RECIST (default targets), volumetric and Choi are baseline, PR, PD and PERCIST is baseline,
    PMR, PMD, every threshold missed by a clear margin (``hottest_suv``: noise-free SUVpeak of the hottest lesion)."""
    targets = recist_target_ids(truths[0])
    sums = [sum(t.longest_axial_diameter_on_slices_mm for t in tp if t.lesion_id in targets) for tp in truths]
    volumes = [sum(t.volume_ml for t in tp if t.lesion_id in targets) for tp in truths]
    all_sums = [sum(t.longest_axial_diameter_on_slices_mm for t in tp) for tp in truths]
    for values, pr, pd in ((sums, -30.0, 20.0), (volumes, -65.0, 73.0), (all_sums, -10.0, 10.0)):
        from_base, _, _ = _changes(values, 1)
        _, from_nadir, nadir = _changes(values, 2)
        if not (
            _margin_ok(from_base, pr, margin_pct, below=True) and _margin_ok(from_nadir, pd, margin_pct, below=False)
        ):
            return False
    if sums[2] - min(sums[:2]) < 5.0 + 3.0:
        return False
    sul = [v * sul_per_suv for v in hottest_suv]
    liver = liver_suv * sul_per_suv
    if sul[0] < 1.2 * (1.5 * liver + 2.0 * 0.1 * liver) or sul[1] < 1.2 * liver:  # measurable; not CMR
        return False
    down, up = 100.0 * (sul[1] - sul[0]) / sul[0], 100.0 * (sul[2] - sul[0]) / sul[0]
    return (
        _margin_ok(down, -30.0, margin_pct, below=True)
        and sul[0] - sul[1] >= 0.8 + margin_sul
        and _margin_ok(up, 30.0, margin_pct, below=False)
        and sul[2] - sul[0] >= 0.8 + margin_sul
    )
