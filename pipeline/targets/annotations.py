"""Reader's annotations in the targets file, beside ``"lesions"`` (all optional).

::

    {"lesions": [...],
     "new_lesions": [{"study_date": "2026-05-04", "note": "segment VI"}],
     "lesion_status": [{"lesion_id": "L2", "timepoint": 2, "status": "too_small"}],
     "liver_reference_lps_mm": [-80.0, -10.0, 5.0],
     "blood_pool_lps_mm": [20.0, 50.0, 120.0]}

* ``new_lesions``: a new lesion seen at a follow-up (PD / PMD for every
  criterion), identified by ``timepoint`` (index in the output) or
  ``study_date`` (YYYY-MM-DD). The list's presence (even empty) says that the
  reader looked for new lesions at every follow-up (``new_lesions`` of
  ``response.csv`` is then ``yes`` or ``no`` instead of ``not_assessed``).
* ``lesion_status``: the reader's verdict on a target at a timepoint, which
  replaces the software's: ``too_small`` (present, too small to measure:
  RECIST 5 mm), ``disappeared`` (0 mm) or ``not_evaluated``.
* ``liver_reference_lps_mm`` / ``blood_pool_lps_mm``: centres (baseline CT
  patient coordinates, LPS mm) of the PERCIST liver sphere / blood-pool
  cylinder; follow-ups get them through the registration to baseline.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from measurement.criteria.observations import LesionStatus
from pipeline.errors import TargetsError

Point = tuple[float, float, float]


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
    new_lesions_given: bool = False  # the file has a "new_lesions" list (possibly empty): the reader looked

    def new_lesion_at(self, index: int, study_date: dt.date | None) -> bool:
        return any(ref.matches(index, study_date) for ref in self.new_lesions)

    def status_of(self, lesion_id: str, index: int, study_date: dt.date | None) -> LesionStatus | None:
        for o in self.lesion_status:
            if o.lesion_id == lesion_id and o.when.matches(index, study_date):
                return o.status
        return None


def _when(entry: dict, where: str) -> TimepointRef:
    if "timepoint" in entry:
        return TimepointRef(timepoint=entry["timepoint"])
    try:
        return TimepointRef(study_date=dt.date.fromisoformat(entry["study_date"]))
    except ValueError:
        raise TargetsError(
            f"{where}.study_date: must be a valid date YYYY-MM-DD, got {entry['study_date']!r}"
        ) from None


def _point(value: list[float] | None) -> Point | None:
    return None if value is None else (float(value[0]), float(value[1]), float(value[2]))


def parse_annotations(data: dict[str, Any], source: str, lesion_ids: set[str]) -> Annotations:
    """The optional annotation keys of a targets file already validated by
    :func:`pipeline.targets.json_file.parse_targets` (its schema declares them)."""
    new = [_when(entry, f"{source}: new_lesions[{k}]") for k, entry in enumerate(data.get("new_lesions", []))]
    overrides = []
    for k, entry in enumerate(data.get("lesion_status", [])):
        where = f"{source}: lesion_status[{k}]"
        if entry["lesion_id"] not in lesion_ids:
            raise TargetsError(
                f'{where}.lesion_id: must name a target of "lesions" ({", ".join(sorted(lesion_ids))}), '
                f"got {entry['lesion_id']!r}"
            )
        overrides.append(StatusOverride(entry["lesion_id"], _when(entry, where), LesionStatus(entry["status"])))
    return Annotations(
        tuple(new),
        tuple(overrides),
        _point(data.get("liver_reference_lps_mm")),
        _point(data.get("blood_pool_lps_mm")),
        new_lesions_given=isinstance(data.get("new_lesions"), list),
    )
