"""Figures drawn in the worker process: the same PNG as drawn in the run's process; a failure is raised."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.outputs.drawing import Drawing, draw_here
from pipeline.outputs.qc_registration import draw_registration


def _planes() -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(5)
    image = rng.normal(40.0, 60.0, (40, 50)).astype(np.float32)
    roi = np.zeros((40, 50), dtype=bool)
    roi[10:30, 12:35] = True
    return {"axial": (image, image + 5, image, roi), "coronal": (image.T.copy(), image.T + 5, image.T.copy(), roi.T)}


def test_worker_draws_the_same_png(tmp_path: Path) -> None:
    planes = _planes()
    draw_here(draw_registration, tmp_path / "here.png", planes, "a title")
    with Drawing(workers=1) as drawing:
        drawing.submit(draw_registration, tmp_path / "worker.png", planes, "a title")
    assert (tmp_path / "worker.png").read_bytes() == (tmp_path / "here.png").read_bytes()


def test_drawing_error_is_raised_at_wait(tmp_path: Path) -> None:
    drawing = Drawing(workers=1)
    drawing.submit(draw_registration, tmp_path / "bad.png", {"axial": ("not", "arrays")}, "t")
    with pytest.raises(ValueError):
        drawing.close()


def test_without_worker_it_draws_at_once(tmp_path: Path) -> None:
    drawing = Drawing(workers=0)
    drawing.submit(draw_registration, tmp_path / "now.png", _planes(), "t")
    assert (tmp_path / "now.png").stat().st_size > 0  # written before any wait
    drawing.close()
