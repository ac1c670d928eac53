"""Progress lines of long work and the two formats of the log on stderr.

Progress is logged at INFO on the ``pipeline.progress`` logger with the
structured fields ``stage`` (discover, load, register, measure, qc, dicom,
write, ...), and optionally ``step`` and ``total`` (``step`` of ``total``
items of that stage, e.g. timepoint 2 of 3). ``--quiet`` shows warnings and
errors only.

* Human format (default): ``lesion-pipeline: [register 2/3] message`` for
  progress, ``lesion-pipeline: WARNING: message`` for everything else.
* ``--log-json``: one JSON object per line with ``time`` (UTC, ISO 8601),
  ``level``, ``logger``, ``event`` (``progress`` or ``log``), ``message`` and,
  for progress, ``stage``/``step``/``total``.

Messages never contain patient names or other identifying header values:
series are named by UID, files by their path relative to the study folder.
Warnings of the libraries (Python ``warnings``, ITK's messages and the
``pydicom`` and ``highdicom`` loggers, which may quote header values such as
PatientName) go through the same handler as WARNING lines of the ``pipeline.libraries``
logger, with every quoted value replaced by ``<value>`` (:func:`scrub`);
nothing of theirs reaches stderr directly.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import warnings
from pathlib import Path
from typing import TextIO

PROGRESS_LOGGER = "pipeline.progress"
LIBRARY_LOGGER = "pipeline.libraries"
PROJECT_LOGGERS = ("pipeline", "segmentation", "measurement", "sample_data")
LIBRARY_LOGGERS = ("pydicom", "highdicom")
_FIELDS = ("stage", "step", "total")
_QUOTED = re.compile(r"""b?"[^"]*"|b?'[^']*'""")


def scrub(message: str) -> str:
    """``message`` with every quoted substring (where libraries put header values) replaced by ``<value>``."""
    return _QUOTED.sub("<value>", message)


class ScrubLibraryMessages(logging.Filter):
    """Rewrites the records of non-project loggers to their scrubbed message (see :func:`scrub`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.split(".")[0] not in PROJECT_LOGGERS:
            record.msg, record.args = scrub(record.getMessage()), None
            record.exc_info = record.exc_text = None
        return True


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """``warnings.showwarning`` replacement: a scrubbed WARNING line naming the warning's package."""
    parts = Path(filename).parts
    package = parts[parts.index("site-packages") + 1] if "site-packages" in parts[:-1] else Path(filename).stem
    logging.getLogger(LIBRARY_LOGGER).warning("%s from %s: %s", category.__name__, package, scrub(str(message)))


_itk_logger: object | None = None  # kept alive while it is ITK's global logger


def _route_itk_messages() -> None:
    """ITK's messages (printed by C++ to stderr by default) as scrubbed log lines of :data:`LIBRARY_LOGGER`."""
    global _itk_logger
    import SimpleITK as sitk

    log = logging.getLogger(LIBRARY_LOGGER)

    class ItkMessages(sitk.LoggerBase):
        def DisplayText(self, text: str) -> None:
            log.info("ITK: %s", scrub(" ".join(text.split())))

        DisplayGenericOutputText = DisplayText

        def DisplayDebugText(self, text: str) -> None:
            log.debug("ITK: %s", scrub(" ".join(text.split())))

        def DisplayWarningText(self, text: str) -> None:
            log.warning("ITK: %s", scrub(" ".join(text.split())))

        def DisplayErrorText(self, text: str) -> None:
            log.error("ITK: %s", scrub(" ".join(text.split())))

    _itk_logger = ItkMessages()
    _itk_logger.SetAsGlobalITKLogger()


def configure_logging(handler: logging.Handler, level: int) -> None:
    """Send the project's loggers and the libraries' warnings (scrubbed) to ``handler`` only."""
    handler.addFilter(ScrubLibraryMessages())
    for name in PROJECT_LOGGERS:
        lg = logging.getLogger(name)
        lg.handlers[:] = [handler]
        lg.setLevel(level)
        lg.propagate = False
    for name in LIBRARY_LOGGERS:
        lg = logging.getLogger(name)
        lg.handlers[:] = [handler]
        lg.setLevel(max(level, logging.WARNING))
        lg.propagate = False
    warnings.showwarning = _show_warning
    _route_itk_messages()


class Progress:
    """Callable that logs one progress line: ``progress(message, stage=..., step=..., total=...)``."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._log = logger or logging.getLogger(PROGRESS_LOGGER)

    def __call__(self, message: str, stage: str = "run", step: int | None = None, total: int | None = None) -> None:
        self._log.info(message, extra={"stage": stage, "step": step, "total": total})


def _progress_fields(record: logging.LogRecord) -> dict[str, object] | None:
    if not hasattr(record, "stage"):
        return None
    return {k: getattr(record, k) for k in _FIELDS if getattr(record, k, None) is not None}


class HumanFormatter(logging.Formatter):
    """``PROG: [stage k/n] message`` for progress lines, ``PROG: LEVEL: message`` otherwise."""

    def __init__(self, prog: str) -> None:
        super().__init__()
        self.prog = prog

    def format(self, record: logging.LogRecord) -> str:
        fields = _progress_fields(record)
        if fields is None:
            return f"{self.prog}: {record.levelname}: {record.getMessage()}"
        count = f" {fields['step']}/{fields['total']}" if "step" in fields and "total" in fields else ""
        return f"{self.prog}: [{fields['stage']}{count}] {record.getMessage()}"


class JsonFormatter(logging.Formatter):
    """One JSON object per record (see module docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        fields = _progress_fields(record)
        data: dict[str, object] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": "log" if fields is None else "progress",
            "message": record.getMessage(),
            **(fields or {}),
        }
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)
