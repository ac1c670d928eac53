"""The files of a study folder: every regular file below it, in sorted order, each folder read once.

Symbolic links to folders are followed, but a folder already scanned (a link
loop, or a second link to the same folder) is skipped with a reason, so a loop
never multiplies the files. Pipes, sockets and devices are skipped with a
reason (opening one could block). A folder or file that cannot be read is bad input
(:class:`pipeline.errors.InputError` naming it): a study whose files cannot all
be read could silently lose a timepoint.
"""

from __future__ import annotations

import os
from pathlib import Path

from pipeline.errors import InputError


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix() or "."
    except ValueError:
        return str(path)


def walk_files(root: Path) -> tuple[list[Path], list[tuple[str, str]]]:
    """Every regular file below ``root`` (sorted, folder by folder) and the folders skipped as already scanned.

    Raises :class:`InputError` naming the first folder that cannot be read.
    """
    root = Path(root)
    files: list[Path] = []
    skipped: list[tuple[str, str]] = []
    seen: set[tuple[int, int]] = set()

    def unreadable(exc: OSError) -> None:
        where = _relative(Path(exc.filename), root) if exc.filename else str(root)
        raise InputError(f"{root}: folder {where} cannot be read ({exc.strerror or exc})")

    for dirpath, dirnames, filenames in os.walk(root, followlinks=True, onerror=unreadable):
        folder = Path(dirpath)
        try:
            st = folder.stat()
        except OSError as exc:
            unreadable(exc)
        key = (st.st_dev, st.st_ino)
        if key in seen:
            skipped.append((_relative(folder, root), "folder already scanned (a symbolic link loop or a second link)"))
            dirnames[:] = []
            continue
        seen.add(key)
        dirnames.sort()
        for name in sorted(filenames):
            path = folder / name
            if path.is_file() or not path.exists():  # a broken link stays, to be named as unreadable
                files.append(path)
            else:  # a pipe, socket or device: opening it could block
                skipped.append((_relative(path, root), "not a regular file"))
    return files, skipped
