"""What the stages of one run share: the study's inputs, the run's settings and sinks, the registration reference."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipeline import spatial
from pipeline.config import RunConfig
from pipeline.dicom.discover import DicomIndex
from pipeline.dicom.load import LoadedSeries
from pipeline.dicom.selection import Timepoint
from pipeline.longitudinal.tracking import TrackedLesion, tracked_lesions
from pipeline.provenance import Provenance
from pipeline.records import LesionRecord, Point
from pipeline.targets.annotations import Annotations
from pipeline.targets.json_file import Target
from segmentation.liver import segment_liver


@dataclass(frozen=True)
class StudyInputs:
    """One patient's study folder as read: the DICOM index, its timepoints and the targets (``None``: automatic)."""

    study_dir: Path
    index: DicomIndex
    timepoints: tuple[Timepoint, ...]
    targets_path: Path | None
    targets: tuple[Target, ...] | None
    annotations: Annotations


@dataclass(frozen=True)
class RunContext:
    """The run's settings and sinks: where outputs are staged, progress lines, provenance."""

    inputs: StudyInputs
    config: RunConfig
    prov: Provenance
    say: Callable[..., None]
    staging: Path
    dicom_written: list[dict[str, object]] | None  # None: no DICOM SEG/SR (--dicom-out not given)
    dropped: list[dict[str, str]] = field(default_factory=list)  # follow-ups left out, with the reason

    @property
    def root(self) -> Path:
        return self.inputs.index.root


@dataclass(frozen=True, eq=False)
class Reference:
    """What a follow-up is registered to: a CT, its liver region and the lesions found on it."""

    ct: LoadedSeries
    liver_zyx: np.ndarray
    lesions: dict[str, TrackedLesion]
    label: str


def reference_of(ct: LoadedSeries, lesions: list[LesionRecord], label: str) -> Reference:
    """The registration reference of a timepoint: its liver (seeded at the lesions found) and those lesions."""
    found: list[Point] = [r.centroid_lps_mm for r in lesions if r.measured and r.centroid_lps_mm]
    seeds = [tuple(float(v) for v in spatial.lps_to_index_zyx(ct.image, np.asarray(c))) for c in found]
    liver = segment_liver(spatial.array_zyx(ct.image), spatial.spacing_zyx(ct.image), seeds).mask_zyx
    return Reference(ct, liver, tracked_lesions(ct.image, lesions), label)
