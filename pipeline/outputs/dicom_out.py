"""``--dicom-out``: write one timepoint's DICOM SEG and TID 1500 SR into ``OUT_DIR/dicom/``.

Files: ``dicom/seg_timepoint_K.dcm`` and ``dicom/sr_timepoint_K.dcm``. The
source CT headers are read again from the input files (no pixel data) so the
SEG references exactly the instances that were measured. A timepoint where
no target was measured gets neither file (there is nothing to encode).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pydicom

from pipeline.dicom.discover import InstanceHeader
from pipeline.dicom.slices import sort_slices
from pipeline.outputs import dicom_ids, names
from pipeline.outputs.seg import Fractions, build_seg
from pipeline.outputs.sr import build_sr
from pipeline.records import LesionRecord
from pipeline.targets.json_file import Target

log = logging.getLogger(__name__)


def write_timepoint_dicom(
    out_dir: Path,
    timepoint: int,
    ct_instances: Sequence[InstanceHeader],
    labels_zyx: np.ndarray,
    records: Sequence[LesionRecord],
    targets: Sequence[Target],
    baseline_study_uid: str,
    with_pet: bool,
    fractions: Mapping[str, Fractions] | None = None,
) -> dict[str, object] | None:
    """Write the SEG and SR of one timepoint; returns what was written (UIDs, segment numbers) or ``None``.

    ``labels_zyx`` is the timepoint's label map (label ``k + 1`` = ``targets[k]``)
    on the grid of ``ct_instances`` sorted along the slice normal; ``fractions``
    (each measured lesion's partial-volume fractions) make the SEG FRACTIONAL,
    else it is BINARY.
    """
    lesion_ids = [t.lesion_id for t in targets]
    if not any(r.measured for r in records) or not labels_zyx.any():
        log.warning("timepoint %d: no target measured; no DICOM SEG/SR written", timepoint)
        return None
    ordered = sort_slices(ct_instances).instances
    sources = [pydicom.dcmread(inst.path, stop_before_pixels=True) for inst in ordered]
    organs = {t.lesion_id: t.organ for t in targets}
    tracking = {lesion_id: dicom_ids.tracking_uid(baseline_study_uid, lesion_id) for lesion_id in lesion_ids}
    seg, numbers = build_seg(sources, labels_zyx, lesion_ids, organs, tracking, fractions)
    sr = build_sr(seg, sources, records, numbers, organs, tracking, timepoint, with_pet)
    (out_dir / names.DICOM_DIR).mkdir(parents=True, exist_ok=True)
    seg_name, sr_name = names.dicom_seg(timepoint), names.dicom_sr(timepoint)
    seg.save_as(out_dir / seg_name)
    sr.save_as(out_dir / sr_name)
    return {
        "timepoint": timepoint,
        "seg": {
            "file": seg_name,
            "sop_instance_uid": str(seg.SOPInstanceUID),
            "segmentation_type": str(seg.SegmentationType),
            "segments": numbers,
        },
        "sr": {"file": sr_name, "sop_instance_uid": str(sr.SOPInstanceUID)},
        "tracking_uids": {k: v for k, v in tracking.items() if k in numbers},
    }
