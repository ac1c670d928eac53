"""Benchmark inputs (not a benchmark itself): a 512x512x300 CT series and a 10,000-file tree, written once and reused.

The CT is the generator's phantom (sample_data) on a 300-slice grid; the big
tree repeats the small sample study with fresh UIDs. Neither changes the
generator's defaults.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pydicom
from pydicom.uid import generate_uid

from sample_data.dicom_write import SeriesInfo, StudyInfo, ct_datasets, save_all, uid
from sample_data.generate import timepoint_structures
from sample_data.grid import Grid
from sample_data.render import render_ct
from sample_data.scenario import make_scenario


def ct_series_300(out: Path, n_slices: int = 300) -> Path:
    """Write (once) one 512x512 x ``n_slices`` CT series, one file per slice, into ``out``."""
    done = out.with_name(out.name + ".complete")
    if done.exists():
        return out
    if out.exists():
        shutil.rmtree(out)
    scenario = make_scenario(1, "full")
    tp = scenario.timepoints[0]
    grid = Grid.centred((n_slices, 512, 512), (0.78, 0.78, 1.0), tp.ct_grid.centre_lps_mm)
    ct = render_ct(timepoint_structures(scenario, tp), tp.pose, grid, 12.0, np.random.default_rng(5))
    study = StudyInfo(uid("bench", "study"), uid("bench", "for"), tp.study_datetime, "1", "BENCH")
    series = SeriesInfo(uid("bench", "ct"), 2, "CT BENCH 300", tp.study_datetime)
    datasets = ct_datasets(ct, grid, scenario.patient, study, series, signed=False, descending=False)
    rng = np.random.default_rng(3)
    names = [out / f"IM{k:05d}" for k in rng.permutation(len(datasets))]
    save_all(datasets, names)
    done.touch()
    return out


def big_tree(sample_study: Path, out: Path, n_files: int = 10_000) -> Path:
    """Write (once) ``n_files`` DICOM files: copies of ``sample_study``'s files with new UIDs."""
    done = out.with_name(out.name + ".complete")
    if done.exists():
        return out
    if out.exists():
        shutil.rmtree(out)
    sources = sorted(p for p in sample_study.rglob("*") if p.is_file() and p.name != "targets.json")
    written, copy = 0, 0
    while written < n_files:
        new_uids: dict[str, str] = {}
        for src in sources:
            if written >= n_files:
                break
            ds = pydicom.dcmread(src)
            for key in ("StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID"):
                old = str(ds.get(key, ""))
                ds.data_element(key).value = new_uids.setdefault(old, generate_uid())
            ds.SOPInstanceUID = generate_uid()
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
            ds.PatientID = f"BENCH{copy:03d}"
            path = out / f"copy{copy:03d}" / src.relative_to(sample_study)
            path.parent.mkdir(parents=True, exist_ok=True)
            ds.save_as(path)
            written += 1
        copy += 1
    done.touch()
    return out
