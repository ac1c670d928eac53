"""Benchmark: registration of a full-size follow-up CT to the baseline, against itk-elastix.

Prints wall time and peak memory of this pipeline's registration (rigid ->
affine -> liver displacement field; 2 ITK threads) and of itk-elastix with its
default affine + B-spline parameter maps, on the same pair, with the error of
each at the lesion centres (mapped baseline centre vs the generator's
follow-up centre). Targets (issue 4): <= 10 s and < 2 GB for this pipeline.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import full_size_study, in_fresh_process


def _load(root: Path, k: int):
    from pipeline.dicom.discover import discover
    from pipeline.dicom.load import load_ct
    from pipeline.dicom.selection import select_timepoints

    timepoints = select_timepoints(discover(root / "study", ignore={root / "study" / "targets.json"}))
    return load_ct(timepoints[0].ct_candidates[0]).image, load_ct(timepoints[k].ct_candidates[0]).image


def ours(root: Path, k: int) -> list[list[float]]:
    """Load the pair, segment the baseline liver, register; return the mapped baseline lesion centres."""
    import SimpleITK as sitk

    from pipeline import spatial
    from pipeline.longitudinal.register import register_followup
    from segmentation.liver import segment_liver

    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(2)
    truth = json.loads((root / "ground_truth.json").read_text())
    fixed, moving = _load(root, k)
    centres = [l["centre_lps_mm"] for l in truth["timepoints"][0]["lesions"]]
    roi = sitk.GetImageFromArray(  # the generated CT is in LPS orientation already
        segment_liver(spatial.array_zyx(fixed), spatial.spacing_zyx(fixed)).mask_zyx.astype(np.uint8)
    )
    roi.CopyInformation(fixed)
    result = register_followup(fixed, moving, roi=roi)
    return [list(result.map_point(c)) for c in centres]


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
    root = full_size_study()
    k = 1
    print(f"registration benchmark: full-size follow-up {k} to baseline ({root})")
    rows = []
    for name, fn in (("lesion-pipeline", ours), ("itk-elastix affine+bspline", elastix)):
        try:
            mapped, wall, peak = in_fresh_process(fn, root, k)
        except ImportError as exc:
            print(f"  {name}: not available ({exc}); install with: pip install itk-elastix")
            continue
        err = errors(mapped, root, k)
        rows.append((name, wall, peak, err))
        print(
            f"  {name:28s} wall {wall:7.1f} s  peak RSS {peak:7.0f} MB  lesion-centre error mean {err.mean():.2f} max {err.max():.2f} mm"
        )
    if len(rows) == 2:
        print(f"  time ratio lesion-pipeline / itk-elastix: {rows[0][1] / rows[1][1]:.3f}")
    ours_row = rows[0]
    print(
        f"  target <= 10 s: {'met' if ours_row[1] <= 10 else 'MISSED'}; target < 2048 MB: {'met' if ours_row[2] < 2048 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
