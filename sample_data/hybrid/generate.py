"""Write the hybrid validation set: ``python -m sample_data.hybrid.generate OUT [--realdata DIR] [--seed N]``.

``OUT/<background>-<k>/`` for every background of :data:`sample_data.hybrid.backgrounds.BACKGROUNDS` and
``k < cases``, laid out as :mod:`sample_data.hybrid.cases` describes. A case is written to a temporary
folder and renamed into place, so it is either complete or absent; complete cases of the same generator
version and seed are kept (a second call only adds what is missing).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

from sample_data.hybrid.backgrounds import BACKGROUNDS, load_background
from sample_data.hybrid.cases import GENERATOR_VERSION, plan_case_retrying, write_case
from sample_data.hybrid.sites import site_maps

DEFAULT_SEED = 1
DEFAULT_CASES = 4


def _complete(case: Path, seed: int) -> bool:
    try:
        truth = json.loads((case / "truth.json").read_text())
    except (OSError, ValueError):
        return False
    return truth.get("generator_version") == GENERATOR_VERSION and truth.get("seed") == seed


def generate_set(
    out: Path,
    realdata: Path,
    seed: int = DEFAULT_SEED,
    cases: int = DEFAULT_CASES,
    backgrounds: tuple[str, ...] = BACKGROUNDS,
) -> list[Path]:
    """Write (or keep) every case of the set; returns the case folders in order."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    folders = []
    for name in backgrounds:
        wanted = [out / f"{name}-{k}" for k in range(cases)]
        folders += wanted
        missing = [k for k, case in enumerate(wanted) if not _complete(case, seed)]
        if not missing:
            continue
        bg = load_background(name, realdata)
        level = bg.liver_level_hu()
        maps = site_maps(bg, level)
        for k in missing:
            lesions = plan_case_retrying(bg, maps, level, seed, k)
            tmp = out / f".{name}-{k}.tmp-{os.getpid()}"
            shutil.rmtree(tmp, ignore_errors=True)
            written = write_case(tmp, f"{name}-{k}", bg, level, lesions, seed)
            shutil.rmtree(wanted[k], ignore_errors=True)
            written.rename(wanted[k])
    return folders


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument(
        "--realdata", type=Path, default=Path(__file__).resolve().parents[2].parent / "shared" / "realdata"
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--cases", type=int, default=DEFAULT_CASES, help="cases per background")
    args = parser.parse_args(argv)
    for case in generate_set(args.out, args.realdata, args.seed, args.cases):
        print(case)
    return 0


if __name__ == "__main__":
    sys.exit(main())
