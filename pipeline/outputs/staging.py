"""The staging folder that makes a run's outputs atomic.

Everything is written into a hidden staging folder beside ``OUT_DIR`` and
moved into place only when the run succeeded (``run.json`` last), so a failed
or killed run never leaves a half-written CSV in ``OUT_DIR``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from pipeline.outputs import names


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path`` and rename it into place."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


@contextlib.contextmanager
def staged_output(out_dir: Path) -> Iterator[Path]:
    """Yield a staging folder; on success move its entries into ``out_dir`` (run.json last).

    On any exception the staging folder is removed and ``out_dir`` is left as
    it was. Only the pipeline's own entries (:data:`pipeline.outputs.names.OUTPUT_ENTRIES`) are
    replaced in an existing ``out_dir``; an own entry that this run did not
    write (e.g. ``dicom/`` of an earlier run with ``--dicom-out``) is removed,
    so the folder never mixes two runs.
    """
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = out_dir.parent / f".{out_dir.name}.partial-{os.getpid()}"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    out_dir.mkdir(parents=True, exist_ok=True)
    # an interrupted earlier commit is never mistaken for a complete one: run.json goes first out, last in
    with contextlib.suppress(FileNotFoundError):
        (out_dir / names.RUN_JSON).unlink()
    entries = sorted(p.name for p in staging.iterdir())
    for name in sorted(set(names.OUTPUT_ENTRIES) - set(entries)):
        stale = out_dir / name
        if stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale, ignore_errors=True)
        elif stale.exists() or stale.is_symlink():
            stale.unlink()
    for name in sorted(entries, key=lambda n: n == names.RUN_JSON):
        target = out_dir / name
        source = staging / name
        if source.is_dir():
            old = out_dir / f".{name}.old-{os.getpid()}"
            if target.exists():
                target.rename(old)
            source.rename(target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(source, target)
    shutil.rmtree(staging, ignore_errors=True)
