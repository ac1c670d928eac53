"""Benchmark: every measure of one lesion at full resolution (target: < 50 ms per lesion).

Lesions are rendered by the sample-data generator (partial-volume fractions,
rotated ellipsoids of 20-41 mm) on the full-size sample CT grids
(0.78 x 0.78 x 2.0 mm and 0.70 x 0.70 x 2.5 mm) and, for PET, on the full-size
PET grid (3.65 x 3.65 x 3.27 mm). Timed:

* ``measure_lesion`` on the lesion's box (as the pipeline calls it): axial
  diameters and short axis, mesh, Feret diameter, volumes, surface area,
  sphericity, axes, centroid, CT statistics; plus ``pet_measures`` (SUVmax,
  mean, both peaks, MTV, TLG) of the lesion on the PET grid;
* the same on whole-image arrays (512 x 512 x 200, as ``lesion-pipeline
  measure`` calls it), which adds finding the lesion's box;
* reference, on the same lesion box: SimpleITK's LabelShapeStatisticsImageFilter
  (with Feret diameter and perimeter) + LabelIntensityStatisticsImageFilter.

Run: ``make bench`` or ``.venv/bin/python tests/benchmarks/bench_measure.py``.
Single-threaded numpy/SciPy; SimpleITK limited to 1 thread for a fair ratio.
"""

from __future__ import annotations

import functools
import time

import common  # noqa: F401  (first: one BLAS thread, set before numpy is imported)
import numpy as np
import SimpleITK as sitk

from measurement.lesion import measure_lesion
from measurement.pet import pet_measures
from sample_data.grid import Grid
from sample_data.shapes import Ellipsoid, Pose, as_matrix3, partial_volume, rotation_matrix

CT_GRIDS_XYZ = [((512, 512, 200), (0.78125, 0.78125, 2.0)), ((512, 512, 150), (0.703125, 0.703125, 2.5))]
PET_SPACING_XYZ = (3.6458, 3.6458, 3.27)
LESIONS = [  # semi-axes (mm), rotation (deg)
    ((20.4, 16.0, 15.0), (20.0, -15.0, 60.0)),  # 41 mm: the largest sample lesion after regrowth
    ((15.0, 12.0, 11.0), (5.0, 25.0, -30.0)),
    ((10.0, 8.0, 7.5), (0.0, 0.0, 45.0)),
]
REPEATS = 7


def _block(e: Ellipsoid, spacing_xyz: tuple[float, float, float]) -> tuple[np.ndarray, Grid]:
    lo, hi = e.bounds()
    half = float(np.max(hi - lo)) / 2.0 + 8.0
    n = [int(np.ceil(2.0 * half / s)) + 1 for s in spacing_xyz]
    grid = Grid.centred((n[2], n[1], n[0]), spacing_xyz, (0.31, 0.17, 0.23))
    frac = partial_volume(e, grid.points_lps((slice(None),) * 3), Pose(), spacing_xyz).astype(np.float32)
    return frac, grid


def _best_ms(fn, repeats: int = REPEATS) -> float:  # type: ignore[no-untyped-def]
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000.0 * float(np.median(times))


def _sitk_reference(mask: np.ndarray, ct: np.ndarray, spacing_zyx: tuple[float, float, float]) -> None:
    labels = sitk.GetImageFromArray((mask >= 0.5).astype(np.uint8))
    labels.SetSpacing(spacing_zyx[::-1])
    image = sitk.GetImageFromArray(ct)
    image.CopyInformation(labels)
    shape = sitk.LabelShapeStatisticsImageFilter()
    shape.SetComputeFeretDiameter(True)
    shape.SetComputePerimeter(True)
    shape.SetNumberOfThreads(1)
    shape.Execute(labels)
    stats = sitk.LabelIntensityStatisticsImageFilter()
    stats.SetNumberOfThreads(1)
    stats.Execute(labels, image)


def main() -> None:
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    rng = np.random.default_rng(0)
    print(
        f"{'CT grid (mm)':>22} {'lesion':>8} {'box voxels':>11} {'box ms':>7} {'whole ms':>9} {'PET ms':>7} {'SimpleITK ms':>13} {'ratio':>6}"
    )
    worst = 0.0
    for shape_xyz, spacing_xyz in CT_GRIDS_XYZ:
        spacing = (spacing_xyz[2], spacing_xyz[1], spacing_xyz[0])
        for semi, angles in LESIONS:
            e = Ellipsoid((0.0, 0.0, 0.0), semi, as_matrix3(rotation_matrix(angles)))
            frac, _ = _block(e, spacing_xyz)
            ct = (100.0 + (45.0 - 100.0) * frac + rng.normal(0.0, 12.0, frac.shape)).astype(np.float32)
            pet_frac, _ = _block(e, PET_SPACING_XYZ)
            suv = (2.3 + 6.0 * pet_frac + rng.normal(0.0, 0.2, pet_frac.shape)).astype(np.float32)
            pet_spacing = (PET_SPACING_XYZ[2], PET_SPACING_XYZ[1], PET_SPACING_XYZ[0])
            box_ms = _best_ms(functools.partial(measure_lesion, frac, spacing, ct_zyx=ct))
            pet_ms = _best_ms(functools.partial(pet_measures, suv, pet_frac >= 0.5, pet_spacing))
            # the same lesion pasted into whole-image arrays
            whole_mask = np.zeros(shape_xyz[::-1], np.float32)
            whole_ct = np.full(shape_xyz[::-1], 100.0, np.float32)
            at = tuple(slice(o, o + n) for o, n in zip((60, 200, 180), frac.shape, strict=True))
            whole_mask[at], whole_ct[at] = frac, ct
            whole_ms = _best_ms(functools.partial(measure_lesion, whole_mask, spacing, ct_zyx=whole_ct), repeats=3)
            ref_ms = _best_ms(functools.partial(_sitk_reference, frac, ct, spacing))
            worst = max(worst, box_ms + pet_ms)
            grid = "x".join(f"{s:g}" for s in spacing_xyz)
            print(
                f"{grid:>22} {2 * max(semi):6.0f}mm {frac.size:11d} {box_ms:7.1f} {whole_ms:9.1f} {pet_ms:7.1f} {ref_ms:13.1f} {box_ms / ref_ms:6.2f}"
            )
    verdict = "meets" if worst < 50.0 else "MISSES"
    print(
        f"worst lesion (CT box + PET): {worst:.1f} ms -> {verdict} the < 50 ms target. "
        "ratio = our CT measures / SimpleITK label shape + intensity statistics on the same box (1 thread each)."
    )


if __name__ == "__main__":
    main()
