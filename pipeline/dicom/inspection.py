"""``inspect``: what a folder holds, from the headers only (no pixel data are read).

Patients (shown by a short hash of PatientID, never the ID or name),
timepoints, every series (modality, number, description, slices, size,
spacing, kernel; chosen, candidate or skipped and why), skipped files, and for
each PET series the quantification inputs and the SUVbw factor (or why there
is none).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipeline.config import SelectionOptions
from pipeline.dicom.discover import DicomIndex, InstanceHeader
from pipeline.dicom.pixels import transfer_syntax_name
from pipeline.dicom.selection import Selection, patients, select
from pipeline.dicom.series_kind import derived_note
from pipeline.dicom.slices import check_geometry
from pipeline.errors import SuvUnavailable
from pipeline.pet.suv import SuvType, suv_factor


def patient_key(patient_id: str) -> str:
    """A short, stable, non-identifying label of a PatientID."""
    return hashlib.sha256(patient_id.encode("utf-8")).hexdigest()[:8]


def _series_record(instances: Sequence[InstanceHeader], root: Path) -> dict[str, object]:
    first = instances[0]
    record: dict[str, object] = {
        "series_instance_uid": first.series_uid,
        "modality": first.modality,
        "series_number": first.series_number,
        "description": first.series_description,
        "slices": len(instances),
        "files": len({i.path for i in instances}),
        "size": [first.columns, first.rows],
        "kernel": first.convolution_kernel or None,
        "transfer_syntax": transfer_syntax_name(first.pixels.transfer_syntax_uid) if first.pixels else None,
    }
    if first.position is not None and first.orientation is not None and first.rows:
        stack, issues = check_geometry(instances, root)
        record["spacing_xyz_mm"] = [round(v, 4) for v in stack.spacing_xyz_mm] if stack else None
        record["geometry_issues"] = [i.message for i in issues]
    if first.modality == "PT" and first.pet is not None:
        record["pet"] = _pet_record(instances)
    return record


def _pet_record(instances: Sequence[InstanceHeader]) -> dict[str, object]:
    pet = instances[0].pet
    assert pet is not None
    out: dict[str, object] = {
        "units": pet.units,
        "suv_type_stored": pet.suv_type,
        "decay_correction": pet.decay_correction,
        "corrected_image": list(pet.corrected_image),
        "radiopharmaceutical": pet.nuclide_text,
        "dose_as_stored": pet.total_dose_bq,
        "half_life_s": pet.half_life_s,
        "injection": (pet.injection_datetime or pet.injection_time),
        "series_datetime": pet.series_datetime,
        "weight_kg_as_stored": pet.weight_kg,
        "height_m_as_stored": pet.height_m,
        "sex": pet.sex,
    }
    try:
        factor = suv_factor([i.pet for i in instances if i.pet is not None], SuvType.BW)
    except SuvUnavailable as exc:
        out["suvbw"] = {"unavailable": str(exc)}
        return out
    out["suvbw"] = {
        "factor": factor.factor,
        "per_slice": factor.slice_factors is not None,
        "method": factor.method,
        "scan_reference": factor.scan_datetime,
        "injection": factor.injection_datetime,
        "decayed_dose_bq": factor.decayed_dose_bq,
        "warnings": list(factor.warnings),
    }
    return out


def _timepoint_records(
    selection: Selection, series: dict[str, list[InstanceHeader]], root: Path
) -> list[dict[str, object]]:
    out = []
    for tp in selection.timepoints:
        reasons = dict(tp.skipped)
        chosen = {
            cands[0][0].series_uid
            for cands in (tp.ct_candidates, tp.pet_candidates)
            if cands and cands[0][0].series_uid not in reasons
        }
        in_study = [uid for uid, members in series.items() if members[0].study_uid == tp.study_uid]
        in_study += [c[0].series_uid for c in tp.pet_candidates if c[0].series_uid not in in_study]
        rows = []
        in_study.sort(key=lambda uid: (series[uid][0].modality != "CT", series[uid][0].series_number or 0, uid))
        for uid in in_study:
            record = _series_record(series[uid], root)
            record["status"] = "chosen" if uid in chosen else "skipped"
            record["reason"] = reasons.get(uid)
            if uid in chosen:
                what = "CT" if series[uid][0].modality == "CT" else "PET"
                record["note"] = derived_note(series[uid], what)
            rows.append(record)
        out.append(
            {
                "timepoint": tp.index,
                "study_instance_uid": tp.study_uid,
                "study_date": tp.study_date.isoformat() if tp.study_date else None,
                "series": rows,
                "notes": list(tp.notes),
            }
        )
    return out


def inspect_index(index: DicomIndex, options: SelectionOptions | None = None) -> dict[str, object]:
    """The inspection report of an index as a JSON-serialisable dictionary."""
    series = index.by_series()
    report: dict[str, Any] = {
        "folder": str(index.root),
        "files_scanned": index.files_scanned,
        "dicom_slices": len(index.instances),
        "skipped_files": [{"file": f, "reason": r} for f, r in index.skipped],
        "header_notes": list(index.notes),
        "patients": [],
    }
    for patient_id, members in patients(index).items():
        selection = select(index, options, members)
        dropped = []
        for study_uid, skipped in selection.dropped_studies:
            dropped.append(
                {
                    "study_instance_uid": study_uid,
                    "series": [
                        _series_record(series[uid], index.root) | {"status": "skipped", "reason": why}
                        for uid, why in skipped
                    ],
                }
            )
        report["patients"].append(
            {
                "patient": patient_key(patient_id),
                "timepoints": _timepoint_records(selection, series, index.root),
                "studies_without_usable_ct": dropped,
            }
        )
    return report


def _series_line(s: dict[str, Any]) -> str:
    spacing = s.get("spacing_xyz_mm")
    geometry = "x".join(f"{v:g}" for v in spacing) + " mm" if spacing else "no regular volume"
    size = "x".join(str(v) for v in s["size"])
    head = f'{s["modality"]:<3} #{s["series_number"]} "{s["description"]}" {s["slices"]} slices {size} {geometry}'
    if s.get("kernel"):
        head += f" kernel {s['kernel']}"
    status = "CHOSEN" if s["status"] == "chosen" else f"skipped: {s['reason']}"
    lines = [f"    {head}", f"      {s['series_instance_uid']}  {status}"]
    if s.get("note"):
        lines.append(f"      note: {s['note']}")
    lines += [
        f"      geometry: {issue}" for issue in s.get("geometry_issues") or [] if issue not in str(s.get("reason"))
    ]
    pet = s.get("pet")
    if isinstance(pet, dict):
        shown = {k: ("missing" if pet[k] is None else pet[k]) for k in pet}
        lines.append(
            f"      PET: Units {shown['units']}, DecayCorrection {shown['decay_correction']}, dose {shown['dose_as_stored']},"
            f" half-life {shown['half_life_s']} s, injection {shown['injection']}, weight {shown['weight_kg_as_stored']} kg,"
            f" height {shown['height_m_as_stored']} m, sex {shown['sex']}"
        )
        suv = pet["suvbw"]
        if "unavailable" in suv:
            lines.append(f"      SUVbw: not available ({suv['unavailable']})")
        else:
            lines.append(f"      SUVbw factor {suv['factor']:.6g} g/ml per stored unit ({suv['method']})")
            lines += [f"      warning: {w}" for w in suv["warnings"]]
    return "\n".join(lines)


def format_report(report: dict[str, object]) -> str:
    """The report as text for a terminal."""
    lines = [f"{report['folder']}: {report['files_scanned']} files, {report['dicom_slices']} DICOM slices"]
    for f in report["skipped_files"]:  # type: ignore[attr-defined]
        lines.append(f"  file {f['file']}: {f['reason']}")
    lines += [f"  note: {n}" for n in report["header_notes"]]  # type: ignore[attr-defined]
    for p in report["patients"]:  # type: ignore[attr-defined]
        lines.append(f"patient {p['patient']}: {len(p['timepoints'])} timepoint(s)")
        for tp in p["timepoints"]:
            lines.append(f"  timepoint {tp['timepoint']} ({tp['study_date']}) study {tp['study_instance_uid']}")
            lines += [_series_line(s) for s in tp["series"]]
            lines += [f"    note: {n}" for n in tp["notes"]]
        for study in p["studies_without_usable_ct"]:
            lines.append(f"  study {study['study_instance_uid']}: no usable CT (not a timepoint)")
            lines += [_series_line(s) for s in study["series"]]
    return "\n".join(lines) + "\n"
