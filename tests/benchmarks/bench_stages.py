"""Where a run's time and memory go: per stage, on the full-size sample study and on a real case.

Each study is run 3 times, each run in a fresh process with 2 ITK threads (the
CI machine's cores) and one BLAS thread (as the command line sets); the table gives, per stage, the median wall time, its
share of the run, and the process's peak resident memory at the end of the
stage (from ``run.json``: ``timings_s`` and ``peak_memory_mb``), then the
median wall time of the whole run, its median CPU time (user + system) and its
peak memory, with the machine's load (a busy machine stretches wall times). The real case is the
IRCAD patient from ``../shared/realdata`` given as a baseline and an identical
follow-up 60 days later (new UIDs), with a seed at the deepest point of each
manually delineated tumour and the reader's line across the tumour's largest
axial section; it is skipped with a message when the folder is missing. The
seeded segmenter refuses these tumours, so the real case runs with its
self-checks off (as the real-data test-retest test does): the benchmark times
the whole chain, it does not judge the masks. A run that fails is reported
with its error, and that study's table is not printed.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import common  # noqa: F401  (first: one BLAS thread, set before numpy is imported)
import numpy as np
from common import REPO, full_size_study, in_fresh_process_cpu, load_average

RUNS = 3
REALDATA = REPO.parent / "shared" / "realdata"


def _run(study: str, out: str, targets: str | None, checks: bool) -> dict:
    from pipeline.config import RunConfig
    from pipeline.longitudinal.run import run_study
    from segmentation.ct_seeded import SeededCtConfig

    lesion = SeededCtConfig()
    if not checks:  # every target measured, whatever its confidence
        lesion = SeededCtConfig(
            min_confidence=0.0,
            max_unlike_outside=1.01,
            min_edge_fraction=0.0,
            max_halo=1e6,
            min_folded_confidence=0.0,
            ambiguous_volume_ratio=1e9,
        )
    run_study(study, out, targets, RunConfig(threads=2, lesion=lesion), progress=lambda *a, **k: None)
    return json.loads((Path(out) / "run.json").read_text())


def profile(name: str, study: Path, targets: Path | None, checks: bool = True) -> None:
    timings: list[dict[str, float]] = []
    memory: list[dict[str, float]] = []
    walls, cpus, peaks = [], [], []
    for k in range(RUNS):
        with tempfile.TemporaryDirectory() as tmp:
            try:
                manifest, wall, peak, cpu = in_fresh_process_cpu(
                    _run, str(study), f"{tmp}/out", str(targets) if targets else None, checks
                )
            except Exception as exc:  # the pipeline's error on this study: no timings to show
                print(f"  run {k + 1} failed: {type(exc).__name__}: {exc}", flush=True)
                return
        timings.append(manifest["timings_s"])
        memory.append(manifest.get("peak_memory_mb", {}))
        walls.append(wall)
        cpus.append(cpu)
        peaks.append(peak)
        print(f"  run {k + 1}: {wall:.1f} s wall, {cpu:.1f} s CPU, peak {peak:.0f} MB ({load_average()})", flush=True)
    wall = statistics.median(walls)
    stages = sorted({s for t in timings for s in t}, key=lambda s: -statistics.median(t.get(s, 0.0) for t in timings))
    print(f"\n{name}: median of {RUNS} runs, 2 threads")
    print(f"  {'stage':<18}{'time s':>9}{'share':>8}{'peak MB':>10}")
    for s in stages:
        seconds = statistics.median(t.get(s, 0.0) for t in timings)
        mb = max(m.get(s, 0.0) for m in memory)
        print(f"  {s:<18}{seconds:>9.2f}{100 * seconds / wall:>7.0f}%{mb:>10.0f}")
    print(f"  {'whole run':<18}{wall:>9.2f}{100:>7.0f}%{max(peaks):>10.0f}")
    print(f"  CPU time of the whole run (median, user + system): {statistics.median(cpus):.2f} s\n", flush=True)


def _longest_chord(section: np.ndarray, spacing: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """The two boundary pixels of a 2D mask farthest apart (mm): a reader's longest diameter."""
    from scipy import ndimage
    from scipy.spatial.distance import pdist, squareform

    boundary = np.argwhere(section & ~ndimage.binary_erosion(section))
    distances = squareform(pdist(boundary * np.asarray(spacing, dtype=float)))
    i, j = np.unravel_index(int(np.argmax(distances)), distances.shape)
    return boundary[i], boundary[j]


def _ircad_study(root: Path) -> tuple[Path, Path] | None:
    """The IRCAD CT as a baseline and an identical follow-up, and targets at the tumours' deepest points with
    the reader's line across each tumour's largest axial section."""
    ircad = REALDATA / "ircad_patient"
    if not (ircad / "ct").is_dir():
        return None
    import nibabel as nib
    import pydicom
    from pydicom.uid import generate_uid
    from scipy import ndimage

    study = root / "study"
    for tp, suffix in enumerate(("base", "follow")):
        folder = study / suffix
        folder.mkdir(parents=True)
        series, study_uid, frame = generate_uid(), generate_uid(), generate_uid()
        for path in sorted((ircad / "ct").iterdir()):
            ds = pydicom.dcmread(path)
            ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study_uid, series, frame
            ds.SOPInstanceUID = generate_uid()
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
            ds.PatientID = "IRCAD-BENCH"
            ds.StudyDate = "20260101" if tp == 0 else "20260302"
            ds.save_as(folder / path.name)
    labels = nib.load(ircad / "masks.nii.gz")
    data = np.asarray(labels.dataobj)
    zooms = labels.header.get_zooms()[:3]

    def lps(ijk: Sequence[float]) -> list[float]:
        ras = labels.affine @ np.array([*ijk, 1.0])
        return [-float(ras[0]), -float(ras[1]), float(ras[2])]

    lesions = []
    for label, lesion_id in ((2, "T1"), (3, "T2")):
        tumour = data == label
        depth = ndimage.distance_transform_edt(tumour, sampling=zooms)
        ijk = np.unravel_index(int(np.argmax(depth)), depth.shape)
        k = int(np.argmax(tumour.sum(axis=(0, 1))))  # the largest axial section (the NIfTI's third axis)
        a, b = _longest_chord(tumour[:, :, k], zooms[:2])
        line = [lps([*a, k]), lps([*b, k])]
        lesions.append({"id": lesion_id, "seed_lps_mm": lps(ijk), "long_axis_lps_mm": line})
    targets = root / "targets.json"
    targets.write_text(json.dumps({"lesions": lesions}))
    return study, targets


def main() -> None:
    root = full_size_study()
    print(f"bench_stages: full-size sample study {root / 'study'} ({load_average()})", flush=True)
    profile("full-size sample study (3 timepoints, 512x512 CT + PET)", root / "study", None)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        case, _, _, _ = in_fresh_process_cpu(_ircad_study, Path(tmp))  # this process stays small: its peak
        # memory would be the runs' (a child started from it reports the larger of the two)
        if case is None:
            print(f"bench_stages: {REALDATA}/ircad_patient not found; the real case is skipped")
            return
        print(f"bench_stages: IRCAD real case written in {time.perf_counter() - start:.1f} s", flush=True)
        name = "real case: IRCAD patient, baseline + identical follow-up (512x512x119 CT), self-checks off"
        profile(name, *case, checks=False)


if __name__ == "__main__":
    main()
