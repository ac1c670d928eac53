"""Tolerant readers of DICOM attribute values (DA, TM, DT, DS, IS, CS, UI, ...).

Real exports contain empty, padded or malformed values; these helpers return
``None`` for anything absent or unparsable instead of raising. Values of the
ASCII-only VRs (numbers, codes, UIDs, dates and times) are decoded straight
from the raw bytes pydicom read, which makes the header pass several times
faster than pydicom's value conversion; so are texts (LO, SH, LT, ST, UT) in
ASCII, ISO_IR 100 or UTF-8. Everything else goes through
pydicom so that the character set is honoured.
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from typing import Any

from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset

ASCII_VRS = frozenset({"AE", "AS", "CS", "DA", "DS", "DT", "IS", "TM", "UI"})
TEXT_VRS = frozenset({"LO", "SH", "LT", "ST", "UT"})
SIMPLE_CHARSETS = {"": "latin-1", "ISO_IR 6": "latin-1", "ISO_IR 100": "latin-1", "ISO_IR 192": "utf-8"}
PYTHON_CODECS = {"iso8859": "latin-1", "latin_1": "latin-1", "UTF8": "utf-8"}  # pydicom's names


@cache
def _tag_and_vr(keyword: str) -> tuple[int, str]:
    tag = tag_for_keyword(keyword)
    if tag is None:
        raise KeyError(f"unknown DICOM keyword {keyword}")
    return tag, dictionary_VR(tag)


def _string(ds: Dataset | None, keyword: str) -> str | list[str] | None:
    """The value as one string (backslash-separated values) or a list of strings; ``None`` if absent."""
    if ds is None:
        return None
    tag, vr = _tag_and_vr(keyword)
    try:
        elem = ds.get_item(tag)
    except KeyError:
        return None
    if elem is None:
        return None
    if isinstance(elem, RawDataElement) and vr in ASCII_VRS:
        raw = elem.value
        return None if raw is None else raw.decode("latin-1")
    if isinstance(elem, RawDataElement) and vr in TEXT_VRS and elem.value is not None and (codec := _codec(ds)):
        return elem.value.decode(codec, errors="replace")
    if isinstance(elem, RawDataElement) and vr == "US" and elem.value is not None and len(elem.value) == 2:
        return str(int.from_bytes(elem.value, "little" if elem.is_little_endian else "big"))
    value = ds.get(keyword)
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        return str(value)
    return [str(v) for v in value]


def _codec(ds: Dataset) -> str | None:
    """Python codec of a dataset's single-byte or UTF-8 character set; ``None``: let pydicom decode.

    A sequence item without its own Specific Character Set uses its parent's,
    which pydicom keeps with the item; when that is not known, pydicom decodes.
    """
    elem = ds.get_item(0x00080005)
    if elem is None:
        inherited = getattr(ds, "_parent_encoding", None)
        if isinstance(inherited, list) and len(inherited) == 1:
            inherited = inherited[0]
        return PYTHON_CODECS.get(inherited) if isinstance(inherited, str) else None
    value = elem.value
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if not isinstance(value, str) or "\\" in value:
        return None  # several character sets (code extensions): pydicom handles them
    return SIMPLE_CHARSETS.get(value.strip())


def text(ds: Dataset | None, keyword: str) -> str | None:
    value = _string(ds, keyword)
    if isinstance(value, list):
        value = "\\".join(value)
    if value is None:
        return None
    value = value.strip(" \x00")
    return value or None


def number(ds: Dataset | None, keyword: str) -> float | None:
    value = _string(ds, keyword)
    if isinstance(value, list):
        value = value[0] if value else None
    return to_float(value.split("\\")[0].strip(" \x00") if isinstance(value, str) else value)


def to_float(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def numbers(ds: Dataset | None, keyword: str, count: int) -> tuple[float, ...] | None:
    """A multi-valued numeric attribute with exactly ``count`` values, else ``None``."""
    value = _string(ds, keyword)
    if value is None:
        return None
    parts = value.split("\\") if isinstance(value, str) else value
    try:
        values = tuple(float(v) for v in parts)
    except (TypeError, ValueError):
        return None
    return values if len(values) == count else None


def strings(ds: Dataset | None, keyword: str) -> tuple[str, ...]:
    """A multi-valued string attribute as upper-case strings (empty tuple if absent)."""
    value = _string(ds, keyword)
    if value is None:
        return ()
    parts = value.split("\\") if isinstance(value, str) else value
    return tuple(p.strip(" \x00").upper() for p in parts if p.strip(" \x00"))


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
