"""Reader's annotations in the targets file, beside ``"lesions"`` (all optional).

::

    {"lesions": [...],
     "new_lesions": [{"study_date": "2026-05-04", "note": "segment VI"}],
     "lesion_status": [{"lesion_id": "L2", "timepoint": 2, "status": "too_small"}],
     "liver_reference_lps_mm": [-80.0, -10.0, 5.0],
     "blood_pool_lps_mm": [20.0, 50.0, 120.0]}

* ``new_lesions``: a new lesion seen at a follow-up (PD / PMD for every
  criterion), identified by ``timepoint`` (index in the output) or
  ``study_date`` (YYYY-MM-DD).
* ``lesion_status``: the reader's verdict on a target at a timepoint, which
  replaces the software's: ``too_small`` (present, too small to measure:
  RECIST 5 mm), ``disappeared`` (0 mm) or ``not_evaluated``.
* ``liver_reference_lps_mm`` / ``blood_pool_lps_mm``: centres (baseline CT
  patient coordinates, LPS mm) of the PERCIST liver sphere / blood-pool
  cylinder; follow-ups get them through the registration to baseline.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass
from pathlib import Path

from measurement.criteria.observations import LesionStatus
from pipeline.errors import TargetsError

Point = tuple[float, float, float]
OVERRIDABLE = (LesionStatus.TOO_SMALL, LesionStatus.DISAPPEARED, LesionStatus.NOT_EVALUATED)


@dataclass(frozen=True)
class TimepointRef:
    """A timepoint named by its output index or its study date."""

    timepoint: int | None = None
    study_date: dt.date | None = None

    def matches(self, index: int, study_date: dt.date | None) -> bool:
        return self.timepoint == index if self.timepoint is not None else self.study_date == study_date


@dataclass(frozen=True)
class StatusOverride:
    lesion_id: str
    when: TimepointRef
    status: LesionStatus


@dataclass(frozen=True)
class Annotations:
    new_lesions: tuple[TimepointRef, ...] = ()
    lesion_status: tuple[StatusOverride, ...] = ()
    liver_reference_lps_mm: Point | None = None
    blood_pool_lps_mm: Point | None = None

    def new_lesion_at(self, index: int, study_date: dt.date | None) -> bool:
        return any(ref.matches(index, study_date) for ref in self.new_lesions)

    def status_of(self, lesion_id: str, index: int, study_date: dt.date | None) -> LesionStatus | None:
        for o in self.lesion_status:
            if o.lesion_id == lesion_id and o.when.matches(index, study_date):
                return o.status
        return None


def _when(entry: dict, where: str) -> TimepointRef:
    if "timepoint" in entry:
        k = entry["timepoint"]
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise TargetsError(f'{where}: "timepoint" must be a follow-up index >= 1')
        return TimepointRef(timepoint=k)
    if "study_date" in entry:
        try:
            return TimepointRef(study_date=dt.date.fromisoformat(str(entry["study_date"])))
        except ValueError:
            raise TargetsError(f'{where}: "study_date" must be YYYY-MM-DD') from None
    raise TargetsError(f'{where}: give "timepoint" or "study_date"')


def _point(value: object, where: str) -> Point | None:
    if value is None:
        return None
    if (
        not isinstance(value, list)
        or len(value) != 3
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value)
    ):
        raise TargetsError(f"{where}: must be three finite numbers [x, y, z]")
    return (float(value[0]), float(value[1]), float(value[2]))


def parse_annotations(data: object, source: str, lesion_ids: set[str]) -> Annotations:
    """Validate the optional annotation keys of a decoded targets file."""
    if not isinstance(data, dict):
        return Annotations()
    new = []
    for k, entry in enumerate(data.get("new_lesions") or []):
        where = f"{source}: new_lesions #{k + 1}"
        if not isinstance(entry, dict):
            raise TargetsError(f"{where}: expected an object")
        new.append(_when(entry, where))
    overrides = []
    allowed = ", ".join(s.value for s in OVERRIDABLE)
    for k, entry in enumerate(data.get("lesion_status") or []):
        where = f"{source}: lesion_status #{k + 1}"
        if not isinstance(entry, dict):
            raise TargetsError(f"{where}: expected an object")
        if entry.get("lesion_id") not in lesion_ids:
            raise TargetsError(f'{where}: "lesion_id" must name a target of "lesions"')
        try:
            status = LesionStatus(entry.get("status"))
        except ValueError:
            status = None
        if status not in OVERRIDABLE:
            raise TargetsError(f'{where}: "status" must be one of {allowed}')
        overrides.append(StatusOverride(str(entry["lesion_id"]), _when(entry, where), status))
    return Annotations(
        tuple(new),
        tuple(overrides),
        _point(data.get("liver_reference_lps_mm"), f"{source}: liver_reference_lps_mm"),
        _point(data.get("blood_pool_lps_mm"), f"{source}: blood_pool_lps_mm"),
    )


def read_annotations(path: Path | str, lesion_ids: set[str]) -> Annotations:
    """The annotations of a targets file that :func:`pipeline.targets.json_file.read_targets` has accepted."""
    path = Path(path)
    return parse_annotations(json.loads(path.read_text(encoding="utf-8")), str(path), lesion_ids)
