"""Benchmark: registration of full-size follow-up CTs to the baseline, against itk-elastix.

For this pipeline (2 ITK threads): the baseline's share, prepared once per study
(working images, body mask, liver region; :func:`pipeline.longitudinal.register.prepare_reference`),
then each follow-up registered ``--repeats`` times (wall and CPU time of each; the median is the figure),
with the error at the lesion centres (mapped baseline centre vs the generator's follow-up centre), the
identity check (the baseline registered to itself: largest displacement over the liver) and the same
pixels in a frame of reference shifted by 25 mm. itk-elastix (default affine + B-spline parameter maps)
runs once on follow-up 1 (``--no-elastix`` skips it: it takes minutes). Target (issue 19): < 4 s per
follow-up, lesion-centre error no worse than 1.35 mm (mean, follow-up 1 of the sample study).

``--seeds 1 2 3`` adds full-size studies of other generator seeds (generated once, minutes each).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import common  # noqa: F401  (first: one BLAS thread, set before numpy is imported)
import numpy as np
from common import full_size_study, in_fresh_process

SHIFT_MM = (25.0, 0.0, 0.0)


def _load(root: Path, k: int):
    from pipeline.dicom.discover import discover
    from pipeline.dicom.load import load_ct
    from pipeline.dicom.selection import select_timepoints

    timepoints = select_timepoints(discover(root / "study", ignore={root / "study" / "targets.json"}))
    return load_ct(timepoints[0].ct_candidates[0]).image, load_ct(timepoints[k].ct_candidates[0]).image


def ours(root: Path, followups: tuple[int, ...], repeats: int) -> dict[str, object]:
    """Load, segment the baseline liver, prepare the reference once, register each follow-up ``repeats`` times."""
    import SimpleITK as sitk

    from pipeline import spatial
    from pipeline.config import RegistrationConfig
    from pipeline.longitudinal.register import prepare_reference, register_followup
    from segmentation.liver import segment_liver

    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(2)
    config = RegistrationConfig()
    truth = json.loads((root / "ground_truth.json").read_text())
    images = {k: _load(root, k) for k in followups}
    fixed = images[followups[0]][0]
    centres = [l["centre_lps_mm"] for l in truth["timepoints"][0]["lesions"]]
    liver = segment_liver(spatial.array_zyx(fixed), spatial.spacing_zyx(fixed)).mask_zyx
    roi = sitk.GetImageFromArray(liver.astype(np.uint8))  # the generated CT is in LPS orientation already
    roi.CopyInformation(fixed)
    t0 = time.perf_counter()
    reference = prepare_reference(fixed, config, roi)
    out: dict[str, object] = {"reference_s": time.perf_counter() - t0, "followups": {}}
    for k in followups:
        walls, cpus = [], []
        for _ in range(repeats):
            t, c = time.perf_counter(), time.process_time()
            result = register_followup(reference, images[k][1], config)
            walls.append(time.perf_counter() - t)
            cpus.append(time.process_time() - c)
        out["followups"][k] = {  # type: ignore[index]
            "wall_s": walls,
            "cpu_s": cpus,
            "mapped": [list(result.map_point(c)) for c in centres],
            "iterations": result.iterations,
        }
    points = [
        fixed.TransformContinuousIndexToPhysicalPoint([float(v) for v in p[::-1]]) for p in np.argwhere(liver)[::97]
    ]
    identity = register_followup(reference, fixed, config)
    out["identity_max_mm"] = max(float(np.linalg.norm(np.subtract(identity.map_point(p), p))) for p in points)
    out["identity_wall_s"] = identity.elapsed_s
    shifted = sitk.Image(fixed)
    shifted.SetOrigin(tuple(o + s for o, s in zip(fixed.GetOrigin(), SHIFT_MM, strict=True)))
    moved = register_followup(reference, shifted, config)
    out["shifted_max_mm"] = max(
        float(np.linalg.norm(np.subtract(moved.map_point(p), np.add(p, SHIFT_MM)))) for p in points
    )
    return out


def elastix(root: Path, k: int) -> list[list[float]]:
    """itk-elastix, default affine + B-spline maps, its default threads (all cores: 2 here); transformix maps the centres.

    ``number_of_threads`` is not passed: with 3D images it crashes itk-elastix
    (InsightSoftwareConsortium/ITKElastix#295).
    """
    import itk

    truth = json.loads((root / "ground_truth.json").read_text())
    fixed_s, moving_s = _load(root, k)

    def to_itk(image):
        import SimpleITK as sitk

        out = itk.image_from_array(sitk.GetArrayFromImage(image).astype(np.float32))
        out.SetOrigin(image.GetOrigin())
        out.SetSpacing(image.GetSpacing())
        out.SetDirection(itk.matrix_from_array(np.array(image.GetDirection()).reshape(3, 3)))
        return out

    fixed, moving = to_itk(fixed_s), to_itk(moving_s)
    parameters = itk.ParameterObject.New()
    parameters.AddParameterMap(parameters.GetDefaultParameterMap("affine"))
    parameters.AddParameterMap(parameters.GetDefaultParameterMap("bspline"))
    _, transform_parameters = itk.elastix_registration_method(
        fixed, moving, parameter_object=parameters, log_to_console=False
    )
    centres = [l["centre_lps_mm"] for l in truth["timepoints"][0]["lesions"]]
    with tempfile.TemporaryDirectory() as tmp:
        points = Path(tmp) / "points.txt"
        points.write_text(f"point\n{len(centres)}\n" + "".join(" ".join(f"{v:.4f}" for v in c) + "\n" for c in centres))
        itk.transformix_pointset(
            moving, transform_parameters, fixed_point_set_file_name=str(points), output_directory=tmp
        )
        lines = (Path(tmp) / "outputpoints.txt").read_text().splitlines()
    mapped = []
    for line in lines:
        part = line.split("OutputPoint = [")[1].split("]")[0]
        mapped.append([float(v) for v in part.split()])
    return mapped


def errors(mapped: list[list[float]], root: Path, k: int) -> np.ndarray:
    truth = json.loads((root / "ground_truth.json").read_text())
    return np.array(
        [
            np.linalg.norm(np.subtract(m, l["centre_lps_mm"]))
            for m, l in zip(mapped, truth["timepoints"][k]["lesions"], strict=True)
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1], help="generator seeds of the full-size studies")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-elastix", action="store_true", help="skip itk-elastix")
    args = parser.parse_args()
    all_errors, all_walls = [], []
    for seed in args.seeds:
        root = full_size_study(seed)
        print(f"registration benchmark: full-size study seed {seed} ({root}), follow-ups 1 and 2 to baseline")
        out, wall, peak = in_fresh_process(ours, root, (1, 2), args.repeats)
        print(f"  baseline reference (once per study) {out['reference_s']:.2f} s; process peak RSS {peak:.0f} MB")
        for k, f in out["followups"].items():
            err = errors(f["mapped"], root, k)
            all_errors += list(err)
            all_walls += f["wall_s"]
            print(
                f"  follow-up {k}: wall median {statistics.median(f['wall_s']):.2f} s "
                f"(runs {', '.join(f'{w:.2f}' for w in f['wall_s'])}; CPU median {statistics.median(f['cpu_s']):.2f} s)  "
                f"lesion-centre error mean {err.mean():.2f} max {err.max():.2f} mm  iterations {list(f['iterations'])}"
            )
        print(
            f"  identity (baseline to itself): largest displacement in the liver {out['identity_max_mm']:.2e} mm "
            f"({out['identity_wall_s']:.2f} s); same pixels shifted {SHIFT_MM} mm: largest error {out['shifted_max_mm']:.2e} mm"
        )
        if seed == args.seeds[0] and not args.no_elastix:
            try:
                mapped, wall, peak = in_fresh_process(elastix, root, 1)
            except ImportError as exc:
                print(f"  itk-elastix: not available ({exc}); install with: pip install itk-elastix")
            else:
                err = errors(mapped, root, 1)
                print(
                    f"  itk-elastix affine+bspline, follow-up 1: wall {wall:.1f} s  peak RSS {peak:.0f} MB  "
                    f"lesion-centre error mean {err.mean():.2f} max {err.max():.2f} mm"
                )
    errs = np.array(all_errors)
    median_wall = statistics.median(all_walls)
    print(
        f"  all: {errs.size} lesion centres, error mean {errs.mean():.2f} median {np.median(errs):.2f} max {errs.max():.2f} mm; "
        f"registration wall median {median_wall:.2f} s per follow-up; target < 4 s: {'met' if median_wall < 4 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
