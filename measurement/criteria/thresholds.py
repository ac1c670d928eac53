"""Relative-change thresholds compared exactly.

A change of exactly -30 % must meet a "-30 % or less" rule although
``(35 - 50) / 50`` is not exactly -0.3 in binary floating point. Changes are
therefore compared in the form ``100 * (value - reference) <= pct * reference``
with a tolerance of 1e-9 units (mm, ml, HU, SUL) scaled by the reference.
"""

from __future__ import annotations

TOLERANCE = 1e-9


def percent_change(value: float, reference: float) -> float | None:
    """100 * (value - reference) / reference; ``None`` when the reference is 0."""
    if reference == 0:
        return None
    return 100.0 * (value - reference) / reference


def _tol(reference: float) -> float:
    return 100.0 * TOLERANCE * max(1.0, abs(reference))


def change_at_most(value: float, reference: float, pct: float) -> bool:
    """The change from ``reference`` is ``pct`` % or less (``reference`` > 0)."""
    return 100.0 * (value - reference) <= pct * reference + _tol(reference)


def change_at_least(value: float, reference: float, pct: float) -> bool:
    """The change from ``reference`` is ``pct`` % or more (``reference`` >= 0)."""
    return 100.0 * (value - reference) >= pct * reference - _tol(reference)


def change_above(value: float, reference: float, pct: float) -> bool:
    """The change from ``reference`` is strictly more than ``pct`` % (``reference`` >= 0)."""
    return 100.0 * (value - reference) > pct * reference + _tol(reference)


def at_least(value: float, threshold: float) -> bool:
    return value >= threshold - TOLERANCE * max(1.0, abs(threshold))


def above(value: float, threshold: float) -> bool:
    return value > threshold + TOLERANCE * max(1.0, abs(threshold))
