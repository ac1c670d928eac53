"""The order of the timepoints and the studies left out: never silent, never reordered by a bad date.

* With more than one timepoint, every timepoint's StudyDate must be a valid
  date (YYYYMMDD, year 1900 or later): a missing or invalid one is bad input
  naming the series and a file, since the order (and so the baseline) cannot
  be established.
* A study that holds a CT series of at least :data:`MIN_IMAGES` images (not
  a localizer, dose report or secondary capture) but gives no usable CT is
  *dropped*: a WARNING naming its series,
  a file and the reason, listed in ``run.json`` and the report. A dropped study
  dated before the first usable one (or without a valid date) would have been
  the baseline: that is bad input. Studies left out by the user's selection
  options (``--ct-series``, ``--ct-description``) are not dropped, only
  skipped.
* A timepoint whose PET series were all refused gets a WARNING naming them.

Follow-ups dropped later (a CT that does not load) join the same list
(:func:`dropped_at_load`); every response after a dropped study carries a note
(:meth:`pipeline.records.DroppedTimepoint.note`).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence

from pipeline.config import SelectionOptions
from pipeline.dicom import values as dv
from pipeline.dicom.discover import DicomIndex, InstanceHeader
from pipeline.dicom.selection import Selection, Timepoint
from pipeline.errors import SeriesSelectionError
from pipeline.records import DroppedTimepoint

log = logging.getLogger(__name__)

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"  # and its enhanced / legacy converted sub-classes
MIN_YEAR = 1900
MIN_IMAGES = 3  # a CT series of fewer images is not taken for a lost timepoint
NOT_MEASURABLE = frozenset({"LOCALIZER", "SCOUT", "SECONDARY", "DOSE_INFO", "SCREEN SAVE"})  # ImageType values


def _is_ct(inst: InstanceHeader) -> bool:
    uid = inst.sop_class_uid
    return inst.modality == "CT" or uid == CT_IMAGE_STORAGE or uid.startswith(CT_IMAGE_STORAGE + ".")


def study_date(value: str) -> dt.date | None:
    """A StudyDate usable for ordering: a valid DA of year 1900 or later, else ``None``."""
    date = dv.parse_date(value)
    return date if date is not None and date.year >= MIN_YEAR else None


def _series_file(index: DicomIndex, members: Sequence[InstanceHeader]) -> str:
    return f"series {members[0].series_uid} (file {index.relative(members[0].path)})"


def check_dates(timepoints: Sequence[Timepoint], index: DicomIndex) -> None:
    """Refuse timepoints that cannot be ordered (see module docstring)."""
    if len(timepoints) < 2:
        return
    for tp in timepoints:
        first = tp.ct_candidates[0][0]
        if study_date(first.study_date) is None:
            raise SeriesSelectionError(
                f"CT {_series_file(index, tp.ct_candidates[0])}: StudyDate {first.study_date or '(missing)'!r} is not "
                "a valid date (YYYYMMDD); the order of the timepoints and the baseline cannot be established"
            )


def _measurable_ct(members: Sequence[InstanceHeader]) -> bool:
    """A CT series that should have given a timepoint: a few images at least, not a localizer, dose report or
    secondary capture."""
    first = members[0]
    kinds = set(first.image_type)
    if kinds & NOT_MEASURABLE or "DOSE" in first.series_description.upper():
        return False
    return _is_ct(first) and len(members) >= MIN_IMAGES


def dropped_at_selection(
    selection: Selection, index: DicomIndex, options: SelectionOptions
) -> tuple[DroppedTimepoint, ...]:
    """The studies dropped by series selection (see module docstring); refuses one that would be the baseline."""
    if options.ct_series_uid is not None or options.ct_description is not None:
        return ()
    series = index.by_series()
    timepoints = selection.timepoints
    first = (timepoints[0].study_date, timepoints[0].study_time or dt.time.min) if timepoints else None
    dropped = []
    for study_uid, skipped in selection.dropped_studies:
        reasons = dict(skipped)
        cts = [series[uid] for uid in reasons if uid in series and _measurable_ct(series[uid])]
        if not cts:
            continue
        head = cts[0][0]
        date = study_date(head.study_date)
        why = "; ".join(f"CT {_series_file(index, s)}: {reasons[s[0].series_uid]}" for s in cts)
        if (
            first is None
            or first[0] is None
            or date is None
            or (date, dv.parse_time(head.study_time) or dt.time.min) < first
        ):
            raise SeriesSelectionError(
                f"study {study_uid} ({date or 'no valid date'}) would be the baseline but has no usable CT: {why}"
            )
        entry = DroppedTimepoint(study_uid, date, f"no usable CT: {why}")
        log.warning("study %s (%s) dropped: %s", study_uid, date, entry.reason)
        dropped.append(entry)
    return tuple(dropped)


def warn_unused_pet(timepoints: Sequence[Timepoint]) -> None:
    """A WARNING for every timepoint whose PET series were all refused (naming them and why)."""
    for tp in timepoints:
        refused = [f"{uid}: {why}" for uid, why in tp.skipped if why.startswith("PT:")]
        if refused and not tp.pet_candidates:
            log.warning("%s: no usable PET series (%s)", tp.label, "; ".join(refused))


def dropped_at_load(tp: Timepoint, reason: str) -> DroppedTimepoint:
    """A follow-up whose CT did not load (the caller has logged why)."""
    return DroppedTimepoint(tp.study_uid, tp.study_date, f"no loadable CT: {reason}")
