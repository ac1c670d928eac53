"""Tolerant readers of DICOM attribute values (DA, TM, DT, DS, IS, CS).

Real exports contain empty, padded or malformed values; these helpers return
``None`` for anything absent or unparsable instead of raising.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydicom.dataset import Dataset


def text(ds: Dataset, keyword: str) -> str | None:
    value = ds.get(keyword)
    if value is None:
        return None
    value = str(value).strip()
    return value or None


def number(ds: Dataset, keyword: str) -> float | None:
    value = ds.get(keyword)
    return to_float(value)


def to_float(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def numbers(ds: Dataset, keyword: str, count: int) -> tuple[float, ...] | None:
    """A multi-valued numeric attribute with exactly ``count`` values, else ``None``."""
    value = ds.get(keyword)
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        value = [value]
    try:
        values = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        return None
    return values if len(values) == count else None


def strings(ds: Dataset, keyword: str) -> tuple[str, ...]:
    """A multi-valued string attribute as upper-case strings (empty tuple if absent)."""
    value = ds.get(keyword)
    if value is None:
        return ()
    if isinstance(value, str):
        parts = value.split("\\")
    else:
        parts = [str(v) for v in value]
    return tuple(p.strip().upper() for p in parts if p.strip())


def parse_date(value: str | None) -> dt.date | None:
    """DICOM DA ``YYYYMMDD`` (also tolerates ``YYYY.MM.DD`` and ``YYYY-MM-DD``)."""
    if not value:
        return None
    digits = value.strip().replace(".", "").replace("-", "")
    try:
        return dt.datetime.strptime(digits[:8], "%Y%m%d").date()
    except ValueError:
        return None


def parse_time(value: str | None) -> dt.time | None:
    """DICOM TM ``HH[MM[SS[.FFFFFF]]]`` (also tolerates ``HH:MM:SS``)."""
    if not value:
        return None
    v = value.strip().replace(":", "")
    main, _, frac = v.partition(".")
    if not main.isdigit() or len(main) not in (2, 4, 6):
        return None
    try:
        hh = int(main[0:2])
        mm = int(main[2:4]) if len(main) >= 4 else 0
        ss = int(main[4:6]) if len(main) >= 6 else 0
        micro = int((frac + "000000")[:6]) if frac.isdigit() else 0
        return dt.time(hh, mm, min(ss, 59), micro)
    except ValueError:
        return None


def parse_datetime(value: str | None) -> dt.datetime | None:
    """DICOM DT ``YYYYMMDDHHMMSS.FFFFFF[&ZZXX]``; the UTC offset is ignored (local time)."""
    if not value:
        return None
    v = value.strip()
    for sign in ("+", "-"):
        if sign in v[8:]:
            v = v[: 8 + v[8:].index(sign)]
    date = parse_date(v[:8])
    if date is None:
        return None
    time = parse_time(v[8:]) if len(v) > 8 else dt.time(0, 0)
    if time is None:
        return None
    return dt.datetime.combine(date, time)


def combine(date: dt.date | None, time: dt.time | None) -> dt.datetime | None:
    if date is None or time is None:
        return None
    return dt.datetime.combine(date, time)
