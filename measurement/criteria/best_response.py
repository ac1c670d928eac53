"""Best overall response and time to progression, for any criterion.

Best overall response (RECIST 1.1, section 4.4): the best timepoint category
from the first follow-up up to and including the first progression (later
assessments do not count), in the order of the criterion's categories
(``CR > PR > SD > PD`` or ``CMR > PMR > SMD > PMD``), where

* stable disease counts only at least ``min_stable_days`` after baseline
  (RECIST leaves the minimum to the protocol, "in general not less than 6-8
  weeks"); an earlier SD followed by PD gives PD, otherwise NE;
* with ``confirm``, a response (CR, PR) counts only when a later assessment at
  least ``confirmation_days`` after it, before progression, shows the same or
  a better response (CR for CR; CR or PR for PR); an unconfirmed response
  counts as stable disease (RECIST 1.1 table 3). RECIST requires confirmation
  in non-randomised trials with response as the primary endpoint only.

Time to progression: days from baseline to the first progression (an event),
else to the last evaluable assessment (censored); months = days / 30.4375
(365.25 / 12).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

DAYS_PER_MONTH = 365.25 / 12.0


@dataclass(frozen=True)
class CategoryOrder:
    """A criterion's categories, best first: complete, partial, stable, progression; and not evaluable."""

    complete: str
    partial: str
    stable: str
    progression: str
    not_evaluable: str = "NE"


ANATOMIC = CategoryOrder("CR", "PR", "SD", "PD")
METABOLIC = CategoryOrder("CMR", "PMR", "SMD", "PMD")


@dataclass(frozen=True)
class BestResponse:
    category: str
    timepoint: int | None  # the timepoint that gave it (None for NE)


@dataclass(frozen=True)
class TimeToProgression:
    progressed: bool
    timepoint: int | None
    days: int | None
    months: float | None

    @property
    def censored(self) -> bool:
        return not self.progressed


def _until_progression(categories: Sequence[str], order: CategoryOrder) -> list[int]:
    out = []
    for k in range(1, len(categories)):
        out.append(k)
        if categories[k] == order.progression:
            break
    return out


def _at_least(days: int | None, minimum: int) -> bool:
    return days is not None and days >= minimum


def best_overall_response(
    categories: Sequence[str],
    days: Sequence[int | None],
    order: CategoryOrder = ANATOMIC,
    min_stable_days: int = 0,
    confirm: bool = False,
    confirmation_days: int = 28,
) -> BestResponse:
    """Best overall response over timepoints 1..n (index 0 is the baseline); see the module docstring."""
    considered = _until_progression(categories, order)

    def confirmed(k: int) -> bool:
        accept = {order.complete} if categories[k] == order.complete else {order.complete, order.partial}
        return any(
            categories[j] in accept
            and days[j] is not None
            and days[k] is not None
            and days[j] - days[k] >= confirmation_days  # type: ignore[operator]
            for j in considered
            if j > k
        )

    effective: dict[int, str] = {}
    for k in considered:
        c = categories[k]
        if c in (order.complete, order.partial) and confirm and not confirmed(k):
            c = order.stable
        effective[k] = c
    for wanted in (order.complete, order.partial):
        hits = [k for k in considered if effective[k] == wanted]
        if hits:
            return BestResponse(wanted, hits[0])
    stable = [k for k in considered if effective[k] == order.stable and _at_least(days[k], min_stable_days)]
    if stable:
        return BestResponse(order.stable, stable[0])
    progressed = [k for k in considered if effective[k] == order.progression]
    if progressed:
        return BestResponse(order.progression, progressed[0])
    return BestResponse(order.not_evaluable, None)


def time_to_progression(
    categories: Sequence[str], days: Sequence[int | None], order: CategoryOrder = ANATOMIC
) -> TimeToProgression:
    """Days (and months) from baseline to the first progression, or censored at the last evaluable assessment."""
    for k in range(1, len(categories)):
        if categories[k] == order.progression:
            d = days[k]
            return TimeToProgression(True, k, d, None if d is None else d / DAYS_PER_MONTH)
    evaluable = [k for k in range(1, len(categories)) if categories[k] != order.not_evaluable]
    if not evaluable:
        return TimeToProgression(False, None, None, None)
    k = evaluable[-1]
    d = days[k]
    return TimeToProgression(False, k, d, None if d is None else d / DAYS_PER_MONTH)
