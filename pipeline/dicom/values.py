"""Tolerant readers of DICOM attribute values (DA, TM, DT, DS, IS, CS, UI, ...).

Real exports contain empty, padded or malformed values; these helpers return
``None`` for anything absent or unparsable instead of raising. Values of the
ASCII-only VRs (numbers, codes, UIDs, dates and times) are decoded straight
from the raw bytes pydicom read, which makes the header pass several times
faster than pydicom's value conversion; so are texts (LO, SH, LT, ST, UT) in
ASCII, ISO_IR 100 or UTF-8. Everything else goes through
pydicom so that the character set is honoured.

Numbers are read exactly as leniently as pydicom reads them by default (the
header comparison test checks this file by file): each value of a
multi-valued DS or IS is stripped of spaces and NULs and read as a Python
float, whatever its length (decimal strings longer than the 16 characters DS
allows, e.g. GDCM's ``0.742999970912933``, are read in full), and a value
Python does not read as a number (``0,75`` with a comma decimal mark) is not a
number, as in pydicom. Departures from the standard that were read anyway are
noted: inside :func:`collect_repairs` each such value adds one line (the
attribute and what was wrong) to the collected list, which the header pass
turns into one warning per kind of repair.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from contextvars import ContextVar
from functools import cache
from typing import Any

from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset

ASCII_VRS = frozenset({"AE", "AS", "CS", "DA", "DS", "DT", "IS", "TM", "UI"})
TEXT_VRS = frozenset({"LO", "SH", "LT", "ST", "UT"})
NUMBER_VRS = frozenset({"DS", "IS"})
MAX_LENGTH = {"DS": 16, "IS": 12}  # characters per value (PS3.5 6.2)
SIMPLE_CHARSETS = {"": "latin-1", "ISO_IR 6": "latin-1", "ISO_IR 100": "latin-1", "ISO_IR 192": "utf-8"}
PYTHON_CODECS = {"iso8859": "latin-1", "latin_1": "latin-1", "UTF8": "utf-8"}  # pydicom's names
PADDING = " \x00"

_repairs: ContextVar[list[str] | None] = ContextVar("dicom_value_repairs", default=None)


@contextlib.contextmanager
def collect_repairs() -> Iterator[list[str]]:
    """Collect, while the block runs, one line per kind of non-conformant value read anyway (see module docstring)."""
    notes: list[str] = []
    token = _repairs.set(notes)
    try:
        yield notes
    finally:
        _repairs.reset(token)


def note(message: str) -> None:
    """Record, inside :func:`collect_repairs`, that a value was read in a non-standard way (once per message)."""
    notes = _repairs.get()
    if notes is not None and message not in notes:
        notes.append(message)


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
        if raw is None:
            return None
        value = raw.decode("latin-1")
        if vr in NUMBER_VRS:
            _check_number_string(keyword, vr, value)
        return value
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


def _check_number_string(keyword: str, vr: str, value: str) -> None:
    """Note the departures from the standard of a raw DS or IS value (read anyway, as pydicom reads them)."""
    if "\x00" in value:
        note(f"{keyword}: value padded with NUL instead of space")
    for part in value.split("\\"):
        part = part.strip(PADDING)
        if len(part) > MAX_LENGTH[vr]:
            note(f"{keyword}: {vr} value longer than {MAX_LENGTH[vr]} characters (read in full)")
        if "," in part and to_float(part) is None:
            note(f"{keyword}: comma decimal mark ({part!r}): not a number (pydicom does not read it either)")
        elif vr == "IS" and part and not part.lstrip("+-").isdigit() and to_float(part) is not None:
            note(f"{keyword}: IS value {part!r} is not an integer (read as a number)")


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
    """A string attribute (values joined by backslashes), stripped of spaces and NULs; ``None`` if absent or empty."""
    value = _string(ds, keyword)
    if isinstance(value, list):
        value = "\\".join(value)
    if value is None:
        return None
    value = value.strip(PADDING)
    return value or None


def number(ds: Dataset | None, keyword: str) -> float | None:
    """The (first) value of a numeric attribute; ``None`` if absent or not a number."""
    value = _string(ds, keyword)
    if isinstance(value, list):
        value = value[0] if value else None
    return to_float(value.split("\\")[0] if isinstance(value, str) else value)


def to_float(value: Any) -> float | None:
    """``float(value)`` of a number or a string stripped of spaces and NULs; ``None`` when that fails."""
    if isinstance(value, str):
        value = value.strip(PADDING)
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
    parts = value.strip(PADDING).split("\\") if isinstance(value, str) else value
    values = tuple(to_float(v) for v in parts)
    if len(values) != count or any(v is None for v in values):
        return None
    return values  # type: ignore[return-value]


def strings(ds: Dataset | None, keyword: str) -> tuple[str, ...]:
    """A multi-valued string attribute as upper-case strings (empty tuple if absent)."""
    value = _string(ds, keyword)
    if value is None:
        return ()
    parts = value.split("\\") if isinstance(value, str) else value
    return tuple(p.strip(PADDING).upper() for p in parts if p.strip(PADDING))


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
