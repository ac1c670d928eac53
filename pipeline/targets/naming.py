"""Lesion ids for targets taken from a viewer's file: the reader's label made safe, else a generated one."""

from __future__ import annotations

import re

from pipeline.targets.json_file import is_lesion_id


def lesion_id(label: str | None, fallback: str, taken: set[str]) -> str:
    """``label`` with every run of other characters replaced by ``_`` (``fallback`` when nothing is left),
    made unique ignoring case against ``taken`` (``-2``, ``-3``, ... appended); the result is added to ``taken``.

    The result is a valid lesion id (:data:`pipeline.targets.json_file.LESION_ID_PATTERN`).
    """
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", (label or "").strip()).strip("_.-")[:60]
    if not is_lesion_id(base):
        base = fallback
    folded = {t.casefold() for t in taken}
    out, k = base, 1
    while out.casefold() in folded:
        k += 1
        out = f"{base}-{k}"
    taken.add(out)
    return out
