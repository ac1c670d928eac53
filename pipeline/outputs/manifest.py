"""``run.json``: the run's manifest (inputs, parameters, versions, timings, warnings, outputs), built in one place.

The typed records of :mod:`pipeline.records` become JSON here: points and
vectors as lists, dates in ISO 8601, enums as their values.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import asdict, fields
from pathlib import Path

from pipeline.config import RunConfig
from pipeline.dicom.discover import DicomIndex
from pipeline.outputs import names
from pipeline.provenance import Provenance, software_versions
from pipeline.records import RegistrationRecord, TimepointRecord, TrackingRecord
from pipeline.targets.json_file import Target


def target_entry(t: Target) -> dict[str, object]:
    """A target as run.json records it (the reader's mask as a flag, not its voxels)."""
    out = {f.name: getattr(t, f.name) for f in fields(t) if f.name != "reader_mask"}
    out["reader_mask"] = t.reader_mask is not None
    return out


def registration_entry(record: RegistrationRecord | None) -> dict[str, object] | None:
    if record is None:
        return None
    if record.summary is None:
        return {"reference": record.reference, "failed": record.failed}
    return {"reference": record.reference, **asdict(record.summary)}


def tracking_entry(record: TrackingRecord) -> dict[str, object]:
    out: dict[str, object] = {"flags": record.flags}
    if record.registration_residuals is not None:
        out["registration_residuals"] = record.registration_residuals.as_record()
    out["new_lesion_candidates"] = list(record.new_lesion_candidates)
    return out


def timepoint_entry(r: TimepointRecord) -> dict[str, object]:
    if r.suv_factor is not None:
        suv: dict[str, object] | None = asdict(r.suv_factor)
    else:
        suv = {"unavailable": r.suv_unavailable} if r.pet_series_uid else None
    return {
        "timepoint": r.index,
        "study_instance_uid": r.study_uid,
        "study_date": r.study_date.isoformat() if r.study_date else None,
        "ct_series_instance_uid": r.ct_series_uid,
        "ct_slices": r.ct_slices,
        "pet_series_instance_uid": r.pet_series_uid,
        "pet_units": r.pet_units,
        "suv_factor": suv,
        "registration": registration_entry(r.registration),
        "tracking": tracking_entry(r.tracking),
        "pet_reference": r.pet_reference.as_record() if r.pet_reference else None,
        "skipped_series": [{"series_instance_uid": u, "reason": why} for u, why in r.skipped_series],
        "ct_choice": r.ct_choice,
        "pet_choice": r.pet_choice,
        "series_notes": list(r.series_notes),
        "mask": r.mask_file,
        "lesions": [asdict(lesion) for lesion in r.lesions],
    }


def inputs_entry(
    index: DicomIndex,
    records: Sequence[TimepointRecord],
    dropped: Sequence[dict[str, str]],
    baseline_thickness_mm: float,
) -> dict[str, object]:
    return {
        "files_scanned": index.files_scanned,
        "dicom_instances": len(index.instances),
        "skipped_files": [{"file": f, "reason": r} for f, r in index.skipped],
        "header_notes": list(index.notes),
        "dropped_timepoints": list(dropped),
        "timepoints": [timepoint_entry(r) for r in records],
        "baseline_ct_slice_thickness_mm": baseline_thickness_mm,
    }


def build_manifest(
    *,
    study_dir: Path,
    targets_path: Path | None,
    targets: Sequence[Target],
    inputs: dict[str, object],
    config: RunConfig,
    prov: Provenance,
    dicom_written: list[dict[str, object]] | None,
) -> dict[str, object]:
    """The whole manifest; ``dicom_written`` is ``None`` without ``--dicom-out``."""
    versions = software_versions()
    outputs = [names.MEASUREMENTS_CSV, names.RESPONSE_CSV, names.SUMMARY_TXT, names.SUMMARY_JSON]
    outputs += [f"{names.MASKS_DIR}/", f"{names.QC_DIR}/", names.RUN_JSON, names.REPORT_HTML]
    manifest: dict[str, object] = {
        "tool": {"name": "lesion-pipeline", "version": versions["lesion-pipeline"]},
        "started_at": prov.started.isoformat(timespec="seconds"),
        "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "study_dir": str(study_dir),
        "targets_file": str(targets_path) if targets_path else None,
        "mode": "targets given" if targets_path else "automatic (targets.json and detected_lesions.csv written)",
        "targets": [target_entry(t) for t in targets],
        "inputs": inputs,
        "parameters": config.as_record(),
        "versions": versions,
        "timings_s": {k: round(v, 3) for k, v in prov.timings_s.items()},
        "peak_memory_mb": {k: round(v, 1) for k, v in prov.peak_rss_mb.items()},
        "warnings": prov.warnings,
        "outputs": outputs + ([f"{names.DICOM_DIR}/"] if dicom_written is not None else []),
    }
    if dicom_written is not None:
        manifest["dicom"] = dicom_written
    return manifest
