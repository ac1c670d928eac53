"""``report.pdf``: the patient report printed by a headless Chromium (A4, paginated, page numbers).

The HTML report has print rules (``@page``, no break inside a figure or table
row, repeated table headings); Chromium applies them exactly as a reader's
browser would print the page, so the PDF is the report, not a second layout.
The browser is ``$LESION_PIPELINE_CHROMIUM`` when set, else the first of
``chromium``, ``chromium-browser``, ``google-chrome``, ``google-chrome-stable``
on the ``PATH`` (Debian: ``apt-get install chromium``). It runs with a
temporary profile, no network use beyond the local file and a time limit.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from pipeline.errors import PdfError

BROWSER_ENV = "LESION_PIPELINE_CHROMIUM"
BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
TIMEOUT_S = 180.0


def find_browser() -> str | None:
    """The headless browser that prints the PDF, or ``None`` when there is none."""
    configured = os.environ.get(BROWSER_ENV)
    if configured:
        return shutil.which(configured)
    return next((path for name in BROWSER_NAMES if (path := shutil.which(name))), None)


def write_pdf(html_path: Path, pdf_path: Path, browser: str, timeout_s: float = TIMEOUT_S) -> Path:
    """Print ``html_path`` to ``pdf_path`` with ``browser``; raises :class:`PdfError` when no PDF results."""
    with tempfile.TemporaryDirectory(prefix="lesion-pipeline-pdf-") as profile:
        command = [
            browser,
            "--headless",
            "--no-sandbox",  # as root (containers, CI) Chromium refuses to start with its sandbox
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--no-default-browser-check",
            f"--user-data-dir={profile}",
            "--no-pdf-header-footer",
            f"--print-to-pdf={pdf_path}",
            html_path.resolve().as_uri(),
        ]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired:
            raise PdfError(f"{browser} did not print the report within {timeout_s:g} s") from None
        except OSError as exc:
            raise PdfError(f"{browser} could not be started: {exc}") from None
    if not pdf_path.is_file() or pdf_path.read_bytes()[:5] != b"%PDF-":
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise PdfError(f"{browser} exited with status {done.returncode} without a PDF: {last}")
    return pdf_path
