"""What the stages of one run share: the study's inputs, the run's settings and sinks, the registration reference."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipeline.config import RunConfig
from pipeline.dicom.discover import DicomIndex
from pipeline.dicom.load import LoadedSeries
from pipeline.dicom.selection import Timepoint
from pipeline.longitudinal.liver import LiverMask
from pipeline.longitudinal.tracking import TrackedLesion, tracked_lesions
from pipeline.outputs.drawing import Drawing
from pipeline.provenance import Provenance
from pipeline.records import DroppedTimepoint, LesionRecord
from pipeline.targets.annotations import Annotations
from pipeline.targets.json_file import Target


@dataclass(frozen=True)
class StudyInputs:
    """One patient's study folder as read: the DICOM index, its timepoints and the targets (``None``: automatic)."""

    study_dir: Path
    index: DicomIndex
    timepoints: tuple[Timepoint, ...]
    targets_path: Path | None
    targets: tuple[Target, ...] | None
    annotations: Annotations
    dropped: tuple[DroppedTimepoint, ...] = ()  # studies series selection left out
    not_read: tuple[tuple[str, str], ...] = ()  # input-like files of the study folder not read, with the reason


@dataclass(frozen=True)
class RunContext:
    """The run's settings and sinks: where outputs are staged, progress lines, provenance."""

    inputs: StudyInputs
    config: RunConfig
    prov: Provenance
    say: Callable[..., None]
    staging: Path
    dicom_written: list[dict[str, object]] | None  # None: no DICOM SEG/SR (--dicom-out not given)
    dropped: list[DroppedTimepoint] = field(default_factory=list)  # follow-ups whose CT did not load
    pdf_browser: str | None = None  # the headless browser that prints report.pdf (None: no PDF)
    figures: Drawing = field(default_factory=lambda: Drawing(workers=0))  # where the QC images are drawn

    @property
    def root(self) -> Path:
        return self.inputs.index.root


@dataclass(frozen=True, eq=False)
class Reference:
    """What a follow-up is registered to: a CT, its liver (when there is one) and the lesions found on it."""

    ct: LoadedSeries
    liver_zyx: np.ndarray | None
    lesions: dict[str, TrackedLesion]
    label: str


def reference_of(ct: LoadedSeries, lesions: list[LesionRecord], label: str, liver: LiverMask | None) -> Reference:
    """The registration reference of a timepoint: its liver and the lesions found on it."""
    liver_zyx = None if liver is None else liver.mask_zyx
    return Reference(ct, liver_zyx, tracked_lesions(ct.image, lesions), label)
