"""Volumetric response of the target lesions: the RECIST 1.1 rules on the sum of volumes.

The thresholds are the volume changes of a sphere whose diameter changes by
the RECIST thresholds: PR ``0.7^3 - 1 = -65.7 %`` -> a decrease of at least
65 %; PD ``1.2^3 - 1 = +72.8 %`` -> an increase of at least 73 %. As in
RECIST, PR is measured from baseline and PD from the nadir (the smallest
earlier evaluable sum, baseline included); there is no absolute minimum.

* targets: the RECIST 1.1 targets (same selection);
* a target that disappeared counts 0 ml; one too small to measure the
  volume of a 5 mm sphere (0.065 ml, the RECIST 5 mm default); one not
  assessed leaves the timepoint NE unless the others already show PD;
* CR: every target has disappeared; a new lesion is PD.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from measurement.criteria.observations import Observations, TargetLesion, value_of
from measurement.criteria.recist import Recist
from measurement.criteria.thresholds import change_at_least, change_at_most, percent_change


@dataclass(frozen=True)
class VolumetricConfig:
    """Volumetric options (bounds of each in its ``metadata``, see :class:`RecistConfig`)."""

    pr_change_pct: float = field(default=-65.0, metadata={"ge": -100.0, "lt": 0.0})
    pd_change_pct: float = field(default=73.0, metadata={"gt": 0.0, "le": 10000.0})
    too_small_ml: float = field(default=4.0 / 3.0 * math.pi * 2.5**3 / 1000.0, metadata={"ge": 0.0, "le": 1000.0})


@dataclass(frozen=True)
class VolumetricAssessment:
    timepoint: int
    total_volume_ml: float
    change_from_baseline_pct: float | None
    change_from_nadir_pct: float | None
    nadir_ml: float | None
    category: Recist
    evaluable: bool = True  # every target assessed (else the total is over the assessed ones only)


def assess_volumetric(
    targets: Sequence[TargetLesion],
    timepoints: Sequence[Observations],
    new_lesions: Sequence[bool] | None = None,
    config: VolumetricConfig | None = None,
) -> list[VolumetricAssessment]:
    """Volumetric category per timepoint (timepoint 0 = baseline) of the given targets."""
    config = config or VolumetricConfig()
    new_lesions = list(new_lesions) if new_lesions is not None else [False] * len(timepoints)
    totals: list[float] = []
    evaluable: list[bool] = []
    out: list[VolumetricAssessment] = []
    for k, obs in enumerate(timepoints):
        values = [value_of(o := obs.get(t.lesion_id), o.volume_ml if o else None, config.too_small_ml) for t in targets]
        total = float(sum(v for v in values if v is not None))
        totals.append(total)
        evaluable.append(all(v is not None for v in values))
        if k == 0:
            if not evaluable[0] or total <= 0:
                raise ValueError("every volumetric target needs a positive volume at baseline")
            out.append(VolumetricAssessment(0, total, None, None, None, Recist.BASELINE))
            continue
        nadir = min(totals[j] for j in range(k) if evaluable[j])
        if new_lesions[k] or (total > nadir and change_at_least(total, nadir, config.pd_change_pct)):
            category = Recist.PD
        elif not evaluable[k]:
            category = Recist.NE
        elif total == 0.0:
            category = Recist.CR
        elif change_at_most(total, totals[0], config.pr_change_pct):
            category = Recist.PR
        else:
            category = Recist.SD
        out.append(
            VolumetricAssessment(
                k, total, percent_change(total, totals[0]), percent_change(total, nadir), nadir, category, evaluable[k]
            )
        )
    return out
