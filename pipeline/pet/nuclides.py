"""Half-lives of PET radionuclides, and recognising the nuclide from a header's text or code.

Half-lives (seconds) from the NNDC NuDat 3 evaluated nuclear structure data;
F-18 is the value written by the scanners and used by QIBA (6586.2 s =
109.77 min). They are used only when RadionuclideHalfLife (0018,1075) is absent,
and to warn when a header's half-life disagrees with its nuclide.
"""

from __future__ import annotations

import re

HALF_LIFE_S: dict[str, float] = {
    "F-18": 6586.2,  # 109.77 min
    "C-11": 1221.84,  # 20.364 min
    "N-13": 597.9,  # 9.965 min
    "O-15": 122.24,
    "Ga-68": 4062.6,  # 67.71 min
    "Rb-82": 75.45,  # 1.2575 min
    "Cu-64": 45721.1,  # 12.7004 h
    "Zr-89": 282276.0,  # 78.41 h
    "I-124": 360806.4,  # 4.176 d
}
_NAMES = {
    "fluorine": "F",
    "carbon": "C",
    "nitrogen": "N",
    "oxygen": "O",
    "gallium": "Ga",
    "rubidium": "Rb",
    "copper": "Cu",
    "zirconium": "Zr",
    "iodine": "I",
}
_SYMBOLS = {symbol.lower(): symbol for symbol in _NAMES.values()}
_TOKEN = re.compile(r"([A-Za-z]+)\s*-?\s*(\d{1,3})|(\d{1,3})\s*-?\s*([A-Za-z]+)")


def _symbol(word: str) -> str | None:
    w = word.lower()
    if w in _NAMES:
        return _NAMES[w]
    if w in _SYMBOLS:
        return _SYMBOLS[w]
    return None


def identify_nuclide(*texts: str | None) -> str | None:
    """The nuclide (``"F-18"``) named in any of ``texts`` (CodeMeaning ``^18^Fluorine``,
    ``Fluorodeoxyglucose F^18^``, ``Ga-68 DOTATATE``, ``68Ga``, ...), or ``None``."""
    for text in texts:
        if not text:
            continue
        cleaned = text.replace("^", " ").replace("[", " ").replace("]", " ")
        for m in _TOKEN.finditer(cleaned):
            word, number = (m.group(1), m.group(2)) if m.group(1) else (m.group(4), m.group(3))
            symbol = _symbol(word)
            if symbol and f"{symbol}-{int(number)}" in HALF_LIFE_S:
                return f"{symbol}-{int(number)}"
    return None
