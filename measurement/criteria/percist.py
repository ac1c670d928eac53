"""PERCIST 1.0 (Wahl et al., J Nucl Med 2009;50 Suppl 1:122S-150S).

* Measure: SULpeak (SUL = SUV normalised by lean body mass; peak = highest
  mean of a 1 cm^3 sphere in the lesion) of the single hottest target lesion
  at each timepoint — at follow-up not necessarily the baseline's hottest.
* Reference: SULmean and SD of a 3 cm sphere in normal right liver lobe; when
  the liver is abnormal, of a 1 cm x 2 cm cylinder in the descending thoracic
  aorta (blood pool).
* Measurable at baseline: hottest SULpeak >= 1.5 x liver SULmean + 2 SD
  (blood pool: >= 2.0 x blood-pool SULmean + 2 SD); otherwise the follow-ups
  are NE (a new lesion is still PMD).
* Reference stability: the follow-up reference must be of the same kind and
  its SULmean within 20 % of baseline and less than 0.3 SUL from it ("within
  20 % (< 0.3 SUL mean units)"); otherwise the follow-up is not assessable
  (``unstable_reference = "not_evaluable"``, PERCIST 1.0) or only warned about
  (``"warn"``).
* CMR: every target resolved: disappeared, or SULpeak below the reference
  SULmean ("less than mean liver activity"; with a blood-pool reference, below
  the blood-pool SULmean). No new lesion.
* PMR: SULpeak decreased by >= 30 % *and* by >= 0.8 SUL from baseline.
* PMD: SULpeak increased by > 30 % *and* by > 0.8 SUL from baseline (strict:
  PERCIST 1.0's table says ">30 %" and ">0.8 SUL units" for PMD but "minimum
  of 30 %" and "at least 0.8" for PMR), or a new FDG-avid lesion.
* SMD: none of the above; NE: a target without SULpeak (not assessed, no PET)
  unless the assessed ones already show PMD, or no usable reference. Targets
  without a SULpeak at baseline (e.g. outside the PET field of view) are not
  used.

Not modelled: "visible increase in the extent of FDG uptake" (e.g. +75 % TLG),
the exploratory sum of up to 5 lesions, non-target and unequivocal
progression, glucose; the uptake time (injection to scan) only gives a
warning when a follow-up's differs from baseline's by more than 15 minutes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum

from measurement.criteria.observations import LesionStatus, Observations, TargetLesion
from measurement.criteria.thresholds import above, at_least, change_above, change_at_most, percent_change
from measurement.pet import LBM_FORMULAS


class Percist(str, Enum):
    BASELINE = "baseline"
    CMR = "CMR"
    PMR = "PMR"
    SMD = "SMD"
    PMD = "PMD"
    NE = "NE"

    def __str__(self) -> str:
        return self.value


LIVER, BLOOD_POOL = "liver", "blood_pool"


@dataclass(frozen=True)
class ReferenceValue:
    """Reference region in SUL: ``kind`` is ``"liver"`` or ``"blood_pool"``."""

    kind: str
    mean_sul: float
    sd_sul: float


@dataclass(frozen=True)
class PercistConfig:
    """PERCIST options (bounds of each in its ``metadata``, see :class:`RecistConfig`)."""

    pmr_change_pct: float = field(default=-30.0, metadata={"ge": -100.0, "lt": 0.0})
    pmr_absolute_sul: float = field(default=0.8, metadata={"ge": 0.0, "le": 100.0})
    pmd_change_pct: float = field(default=30.0, metadata={"gt": 0.0, "le": 1000.0})
    pmd_absolute_sul: float = field(default=0.8, metadata={"ge": 0.0, "le": 100.0})
    liver_measurable_factor: float = field(default=1.5, metadata={"ge": 0.0, "le": 100.0})
    blood_pool_measurable_factor: float = field(default=2.0, metadata={"ge": 0.0, "le": 100.0})
    measurable_sd_factor: float = field(default=2.0, metadata={"ge": 0.0, "le": 100.0})
    reference_max_change_pct: float = field(default=20.0, metadata={"ge": 0.0, "le": 1000.0})
    reference_max_change_sul: float = field(default=0.3, metadata={"ge": 0.0, "le": 100.0})
    unstable_reference: str = field(default="not_evaluable", metadata={"choices": ("not_evaluable", "warn")})
    lbm_formula: str = field(default="james", metadata={"choices": LBM_FORMULAS})
    # "auto" (liver, else blood pool), "liver" or "blood_pool"
    reference: str = field(default="auto", metadata={"choices": ("auto", "liver", "blood_pool")})
    # follow-up uptake time vs baseline (a warning)
    max_uptake_difference_min: float = field(default=15.0, metadata={"ge": 0.0, "le": 1440.0})


@dataclass(frozen=True)
class PercistAssessment:
    timepoint: int
    hottest_lesion: str | None
    sul_peak: float | None
    change_pct: float | None
    change_sul: float | None
    reference: ReferenceValue | None
    category: Percist
    notes: tuple[str, ...] = ()


def measurability_threshold(reference: ReferenceValue, config: PercistConfig) -> float:
    """Minimum baseline SULpeak of a measurable lesion for this reference."""
    factor = config.liver_measurable_factor if reference.kind == LIVER else config.blood_pool_measurable_factor
    return factor * reference.mean_sul + config.measurable_sd_factor * reference.sd_sul


def reference_change_note(baseline: ReferenceValue, followup: ReferenceValue, config: PercistConfig) -> str | None:
    """Why the follow-up reference is not comparable with baseline, or ``None`` when it is."""
    if followup.kind != baseline.kind:
        return f"reference region changed from {baseline.kind} to {followup.kind}"
    delta = followup.mean_sul - baseline.mean_sul
    pct = percent_change(followup.mean_sul, baseline.mean_sul)
    if (pct is not None and abs(pct) > config.reference_max_change_pct) or at_least(
        abs(delta), config.reference_max_change_sul
    ):
        return (
            f"{baseline.kind} reference SULmean changed from {baseline.mean_sul:.2f} to {followup.mean_sul:.2f} "
            f"({pct:+.1f} %, {delta:+.2f} SUL; must stay within {config.reference_max_change_pct:g} % and under "
            f"{config.reference_max_change_sul:g} SUL)"
        )
    return None


def _hottest(
    targets: Sequence[TargetLesion], obs: Observations
) -> tuple[str | None, float | None, list[str], list[str]]:
    """Hottest target with a SULpeak, the targets without one, and those that disappeared."""
    best_id, best = None, None
    missing, gone = [], []
    for t in targets:
        o = obs.get(t.lesion_id)
        if o is not None and o.status is LesionStatus.DISAPPEARED:
            gone.append(t.lesion_id)
        elif o is None or o.status is LesionStatus.NOT_EVALUATED or o.sul_peak is None:
            missing.append(t.lesion_id)
        elif best is None or o.sul_peak > best:
            best_id, best = t.lesion_id, o.sul_peak
    return best_id, best, missing, gone


def assess_percist(
    targets: Sequence[TargetLesion],
    timepoints: Sequence[Observations],
    references: Sequence[ReferenceValue | None],
    new_lesions: Sequence[bool] | None = None,
    config: PercistConfig | None = None,
) -> list[PercistAssessment]:
    """PERCIST 1.0 category per timepoint (timepoint 0 = baseline); see the module docstring."""
    config = config or PercistConfig()
    if config.unstable_reference not in ("not_evaluable", "warn"):
        raise ValueError(f"unstable_reference must be 'not_evaluable' or 'warn', got {config.unstable_reference!r}")
    n = len(timepoints)
    new_lesions = list(new_lesions) if new_lesions is not None else [False] * n
    base_id, base_sul, base_missing, _ = _hottest(targets, timepoints[0])
    targets = [t for t in targets if t.lesion_id not in base_missing]  # only lesions with a baseline SULpeak
    base_ref = references[0]
    base_notes: list[str] = []
    if base_sul is None:
        base_notes.append("no target lesion with a SULpeak at baseline")
    if base_ref is None:
        base_notes.append("no reference region at baseline")
    elif base_sul is not None and base_sul < measurability_threshold(base_ref, config):
        base_notes.append(
            f"hottest lesion {base_id} SULpeak {base_sul:.2f} below the measurability threshold "
            f"{measurability_threshold(base_ref, config):.2f} ({base_ref.kind})"
        )
    assessable = not base_notes
    if base_missing and base_sul is not None:
        base_notes.append(f"not used (no SULpeak at baseline): {', '.join(base_missing)}")
    out = [PercistAssessment(0, base_id, base_sul, None, None, base_ref, Percist.BASELINE, tuple(base_notes))]
    for k in range(1, n):
        hot_id, sul, missing, gone = _hottest(targets, timepoints[k])
        ref = references[k]
        notes: list[str] = []
        change_pct = change_sul = None
        if assessable and sul is not None:
            assert base_sul is not None
            change_pct, change_sul = percent_change(sul, base_sul), sul - base_sul
        if base_ref is not None and ref is not None:
            note = reference_change_note(base_ref, ref, config)
            if note:
                notes.append(note)
        unstable = bool(notes) and config.unstable_reference == "not_evaluable"
        progressed = (
            assessable
            and sul is not None
            and change_above(sul, base_sul, config.pmd_change_pct)  # type: ignore[arg-type]
            and above(sul - base_sul, config.pmd_absolute_sul)  # type: ignore[operator]
        )
        if new_lesions[k]:
            category = Percist.PMD
            notes.append("new lesion")
        elif not assessable:
            category = Percist.NE
            notes.append("not assessable at baseline: " + "; ".join(base_notes))
        elif ref is None:
            category = Percist.NE
            notes.append("no reference region")
        elif unstable:
            category = Percist.NE
        elif progressed:
            category = Percist.PMD
        elif missing:
            category = Percist.NE
            notes.append(f"no SULpeak for {', '.join(missing)}")
        elif sul is None or sul < ref.mean_sul:
            category = Percist.CMR  # every target gone or below the reference mean
        elif change_at_most(sul, base_sul, config.pmr_change_pct) and at_least(base_sul - sul, config.pmr_absolute_sul):  # type: ignore[arg-type, operator]
            category = Percist.PMR
        else:
            category = Percist.SMD
        out.append(PercistAssessment(k, hot_id, sul, change_pct, change_sul, ref, category, tuple(notes)))
    return out
