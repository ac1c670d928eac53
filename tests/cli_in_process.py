"""The command line run in the test process: no interpreter start-up and imports per call."""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline.cli.main import main
from pipeline.progress import LIBRARY_LOGGERS, PROJECT_LOGGERS


@dataclass(frozen=True)
class CliResult:
    """What a run of the command line gave: exit status and the text on stdout and stderr."""

    returncode: int
    stdout: str
    stderr: str


@contextlib.contextmanager
def cli_logging() -> Iterator[None]:
    """Run the command line in this process and put back the logging set-up it changes (handlers, levels,
    ``warnings.showwarning``), so that later tests do not log into a closed capture stream."""
    loggers = [logging.getLogger(name) for name in (*PROJECT_LOGGERS, *LIBRARY_LOGGERS)]
    saved = [(lg, lg.handlers[:], lg.level, lg.propagate) for lg in loggers]
    show = warnings.showwarning
    try:
        yield
    finally:
        warnings.showwarning = show
        for lg, handlers, level, propagate in saved:
            lg.handlers[:] = handlers
            lg.setLevel(level)
            lg.propagate = propagate


def run_cli(arguments: Sequence[str | Path]) -> int:
    """Exit status of ``lesion-pipeline ARGUMENTS`` run by ``main`` (argparse's own exits included: usage
    errors 2, ``--version`` 0)."""
    with cli_logging():
        try:
            return main([str(a) for a in arguments])
        except SystemExit as exc:
            return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)


def cli(*arguments: str | Path) -> CliResult:
    """``lesion-pipeline ARGUMENTS`` run by ``main`` with stdout and stderr captured."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = run_cli(arguments)
    return CliResult(code, out.getvalue(), err.getvalue())
