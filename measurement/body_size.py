"""Body-size normalisers of SUV: body weight, lean body mass, ideal body weight, body surface area.

``SUV_X = C * N_X / D`` with C the activity concentration (Bq/ml), D the
decay-corrected injected activity (Bq) and N_X the normaliser: grams for BW,
LBM and IBW (SUV in g/ml), cm^2 for BSA (SUV in cm^2/ml). W is the weight in
kg, H the height (cm unless stated), BMI = W / H_m^2. Formulas as in the IBSI
SUV reference implementation:

* LBM Janmahasatian (``LBMJANMA``; Janmahasatian et al., Clin Pharmacokinet
  2005;44:1051-65): male 9270 W / (6680 + 216 BMI), female 9270 W / (8780 + 244 BMI).
* LBM James (``LBMJAMES128``; James, Research on obesity, HMSO 1976): male
  1.10 W - 128 (W/H)^2, female 1.07 W - 148 (W/H)^2.
* ``LBM`` (DICOM term that does not name its formula): the James form with 120
  for males as printed by Morgan et al. (J Nucl Med 1994), as the IBSI
  reference implementation reads it.
* IBW: male 48.0 + 1.06 (H - 152), female 45.5 + 0.91 (H - 152).
* BSA Du Bois (Kim et al., J Nucl Med 1994;35:164-7): 0.007184 W^0.425 H^0.725 m^2.

Sex-specific formulas use PatientSex M or F; for ``O`` (other) the mean of the
male and female values is used (as the IBSI reference implementation does) and
the caller is told so; a missing sex gives no value. This is the one
implementation of these formulas: SUV factors (:mod:`pipeline.pet.suv`) and SUL
(:mod:`measurement.pet`) both use it. What cannot be computed raises
``ValueError`` saying why.
"""

from __future__ import annotations

from collections.abc import Callable

MALE, FEMALE, OTHER = "M", "F", "O"


def _bmi(weight_kg: float, height_m: float) -> float:
    return weight_kg / height_m**2


def _janmahasatian(sex: str, w: float, h_m: float) -> float:
    bmi = _bmi(w, h_m)
    return 9270.0 * w / (6680.0 + 216.0 * bmi) if sex == MALE else 9270.0 * w / (8780.0 + 244.0 * bmi)


def _james(coefficient_male: float) -> Callable[[str, float, float], float]:
    def lbm(sex: str, w: float, h_m: float) -> float:
        h_cm = 100.0 * h_m
        if sex == MALE:
            return 1.10 * w - coefficient_male * (w / h_cm) ** 2
        return 1.07 * w - 148.0 * (w / h_cm) ** 2

    return lbm


def _ibw(sex: str, w: float, h_m: float) -> float:
    h_cm = 100.0 * h_m
    return 48.0 + 1.06 * (h_cm - 152.0) if sex == MALE else 45.5 + 0.91 * (h_cm - 152.0)


_SEX_SPECIFIC: dict[str, Callable[[str, float, float], float]] = {
    "LBMJANMA": _janmahasatian,
    "LBMJAMES128": _james(128.0),
    "LBM": _james(120.0),
    "IBW": _ibw,
}


def normaliser(kind: str, weight_kg: float | None, height_m: float | None, sex: str | None) -> tuple[float, list[str]]:
    """``N_X`` in grams (BW, LBM*, IBW) or cm^2 (BSA), and notes on assumptions made.

    Raises ``ValueError`` when a needed value is missing or the result is not
    positive.
    """
    notes: list[str] = []
    if weight_kg is None or weight_kg <= 0:
        raise ValueError("no patient weight")
    if kind == "BW":
        return weight_kg * 1000.0, notes
    if height_m is None or height_m <= 0:
        raise ValueError(f"no patient height (needed for SUV {kind})")
    if kind == "BSA":
        return 0.007184 * weight_kg**0.425 * (100.0 * height_m) ** 0.725 * 1e4, notes
    if kind not in _SEX_SPECIFIC:
        raise ValueError(f"unknown SUV type {kind}")
    formula = _SEX_SPECIFIC[kind]
    if kind == "LBM":
        notes.append(
            "SUVType LBM does not name its formula: read as James with 120 (Morgan 1994), as the IBSI reference implementation does"
        )
    s = (sex or "").strip().upper()
    if s in (MALE, FEMALE):
        value = formula(s, weight_kg, height_m)
    elif s == OTHER:
        value = 0.5 * (formula(MALE, weight_kg, height_m) + formula(FEMALE, weight_kg, height_m))
        notes.append(f"PatientSex O: {kind} is the mean of the male and female formulas")
    else:
        raise ValueError(f"PatientSex {s or '(missing)'}: {kind} needs M, F or O")
    if value <= 0:
        raise ValueError(f"{kind} formula gives {value:.1f} kg for weight {weight_kg} kg, height {height_m} m")
    return value * 1000.0, notes
