"""Choi criteria (Choi et al., J Clin Oncol 2007; CT of GIST under imatinib).

* size: the sum of the longest diameters of the target lesions "as defined in
  RECIST" — RECIST 1.0 at the time (Therasse et al. 2000): up to 10 targets,
  5 per organ, all measured by their longest diameter (nodes too);
* density: mean attenuation (HU) of the target lesions — here the mean of
  the targets' mean HU (each lesion weighs the same), over the targets present;
* CR: disappearance of all (target) lesions and no new lesion;
* PR: size decreased by >= 10 % *or* density decreased by >= 15 %, from baseline;
* PD: size increased by >= 10 % *and* not PR by density; or a new lesion;
* SD: none of the above; NE: a target not assessed (unless PD already).

Choi compared one follow-up (2 months) with baseline; for a series of
follow-ups the size increase is measured, as in RECIST, from the nadir
(``pd_reference = "nadir"``, the smallest earlier evaluable sum), or from
baseline with ``pd_reference = "baseline"``. Not modelled: new intratumoral
nodules, non-measurable disease, symptomatic deterioration. The density
criterion is not applied when the baseline density is <= 0 HU (a percentage
of it is meaningless) or a present target has no mean HU.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from measurement.criteria.observations import LesionStatus, Observation, Observations, TargetLesion, value_of
from measurement.criteria.recist import Recist
from measurement.criteria.thresholds import change_at_least, change_at_most, percent_change


@dataclass(frozen=True)
class ChoiConfig:
    """Choi options (bounds of each in its ``metadata``, see :class:`RecistConfig`)."""

    size_pr_change_pct: float = field(default=-10.0, metadata={"ge": -100.0, "lt": 0.0})
    size_pd_change_pct: float = field(default=10.0, metadata={"gt": 0.0, "le": 1000.0})
    density_pr_change_pct: float = field(default=-15.0, metadata={"ge": -100.0, "lt": 0.0})
    max_targets_total: int = field(default=10, metadata={"ge": 1, "le": 100})
    max_targets_per_organ: int = field(default=5, metadata={"ge": 1, "le": 100})
    too_small_mm: float = field(default=5.0, metadata={"ge": 0.0, "le": 100.0})
    pd_reference: str = field(default="nadir", metadata={"choices": ("nadir", "baseline")})


@dataclass(frozen=True)
class ChoiAssessment:
    timepoint: int
    sum_diameters_mm: float
    size_change_pct: float | None
    size_change_from_reference_pct: float | None
    mean_hu: float | None
    density_change_pct: float | None
    category: Recist
    evaluable: bool = True  # every target assessed (else the sum is over the assessed ones only)


def _density_hu(observations: list[Observation | None]) -> float | None:
    present = [o for o in observations if o is not None and o.status in (LesionStatus.MEASURED, LesionStatus.TOO_SMALL)]
    if not present or any(o.mean_hu is None for o in present):
        return None
    return float(sum(o.mean_hu for o in present if o.mean_hu is not None) / len(present))


def assess_choi(
    targets: Sequence[TargetLesion],
    timepoints: Sequence[Observations],
    new_lesions: Sequence[bool] | None = None,
    config: ChoiConfig | None = None,
) -> list[ChoiAssessment]:
    """Choi category per timepoint (timepoint 0 = baseline) of the given targets."""
    config = config or ChoiConfig()
    if config.pd_reference not in ("nadir", "baseline"):
        raise ValueError(f"Choi pd_reference must be 'nadir' or 'baseline', got {config.pd_reference!r}")
    new_lesions = list(new_lesions) if new_lesions is not None else [False] * len(timepoints)
    sums: list[float] = []
    evaluable: list[bool] = []
    out: list[ChoiAssessment] = []
    base_density: float | None = None
    for k, obs in enumerate(timepoints):
        per_target = [obs.get(t.lesion_id) for t in targets]
        sizes = [value_of(o, o.longest_mm if o else None, config.too_small_mm) for o in per_target]
        total = float(sum(s for s in sizes if s is not None))
        sums.append(total)
        evaluable.append(all(s is not None for s in sizes))
        density = _density_hu(per_target)
        if k == 0:
            if not evaluable[0] or total <= 0:
                raise ValueError("every Choi target needs a longest diameter at baseline")
            base_density = density if density is not None and density > 0 else None
            out.append(ChoiAssessment(0, total, None, None, density, None, Recist.BASELINE))
            continue
        reference = min(sums[j] for j in range(k) if evaluable[j]) if config.pd_reference == "nadir" else sums[0]
        density_change = percent_change(density, base_density) if density is not None and base_density else None
        density_pr = density_change is not None and change_at_most(density, base_density, config.density_pr_change_pct)  # type: ignore[arg-type]
        grew = total > reference and change_at_least(total, reference, config.size_pd_change_pct)
        if new_lesions[k] or (grew and not density_pr):
            category = Recist.PD
        elif not evaluable[k]:
            category = Recist.NE
        elif total == 0.0:
            category = Recist.CR
        elif change_at_most(total, sums[0], config.size_pr_change_pct) or density_pr:
            category = Recist.PR
        else:
            category = Recist.SD
        out.append(
            ChoiAssessment(
                k,
                total,
                percent_change(total, sums[0]),
                percent_change(total, reference),
                density,
                density_change,
                category,
                evaluable[k],
            )
        )
    return out
