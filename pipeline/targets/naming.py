"""Lesion ids for targets taken from a viewer's file: the reader's label made safe, else a generated one."""

from __future__ import annotations

import re

#: what a lesion id may hold (it names output files): 1-64 letters, digits, dots, underscores and hyphens
ID_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")


def lesion_id(label: str | None, fallback: str, taken: set[str]) -> str:
    """``label`` with every run of other characters replaced by ``_`` (``fallback`` when nothing is left),
    made unique against ``taken`` (``-2``, ``-3``, ... appended); the result is added to ``taken``."""
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", (label or "").strip()).strip("_.")[:60] or fallback
    out, k = base, 1
    while out in taken:
        k += 1
        out = f"{base}-{k}"
    taken.add(out)
    return out
