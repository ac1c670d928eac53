"""The synthetic abdomen: organs as analytic shapes with HU and SUV values.

Structures are painted in list order (a later structure replaces an earlier
one where they overlap). Values are typical of portal-venous contrast CT and
FDG-PET at 60 min: liver ~105 HU / SUV 2.3, spleen ~115 HU / SUV 1.9.
"""

from __future__ import annotations

import numpy as np

from sample_data.shapes import Cylinder, Ellipsoid, Structure, as_matrix3, rotation_matrix

LIVER_HU = 105.0
LIVER_SUV = 2.3
LUNG_SEMI_AXES_MM = (45.0, 64.0, 95.0)


def liver_shapes() -> list[Ellipsoid]:
    """The liver as the union of a large right lobe and a smaller left lobe."""
    return [
        Ellipsoid((-62.0, -5.0, 0.0), (72.0, 82.0, 78.0), as_matrix3(rotation_matrix((0.0, 0.0, -12.0)))),
        Ellipsoid((12.0, -48.0, 22.0), (58.0, 38.0, 45.0), as_matrix3(rotation_matrix((0.0, 0.0, 18.0)))),
    ]


def organs() -> list[Structure]:
    """Background anatomy (no lesions), in painting order."""
    body = [
        Structure("body_fat", Cylinder((0.0, 0.0), (160.0, 115.0)), hu=-100.0, suv=0.35),
        Structure("abdomen", Cylinder((0.0, 2.0), (146.0, 101.0)), hu=30.0, suv=0.9),
        # inside the chest wall: at least 8 mm of soft tissue (30 HU) and 20 mm in all between the lungs and the skin;
        # their bases reach down to z 55 mm, below the liver dome (z 78 mm): the liver and spleen, painted after
        # them, replace the lowest parts, as the diaphragm domes do
        Structure("lung_right", Ellipsoid((-78.0, 10.0, 150.0), LUNG_SEMI_AXES_MM), hu=-850.0, suv=0.4),
        Structure("lung_left", Ellipsoid((78.0, 10.0, 150.0), LUNG_SEMI_AXES_MM), hu=-850.0, suv=0.4),
    ]
    liver = [Structure("liver", s, hu=LIVER_HU, suv=LIVER_SUV, tags=frozenset({"liver"})) for s in liver_shapes()]
    others = [
        Structure(
            "spleen",
            Ellipsoid((98.0, 42.0, 25.0), (36.0, 42.0, 55.0), as_matrix3(rotation_matrix((0.0, 0.0, 25.0)))),
            hu=115.0,
            suv=1.9,
        ),
        Structure("kidney_right", Ellipsoid((-72.0, 60.0, -110.0), (30.0, 26.0, 55.0)), hu=165.0, suv=3.0),
        Structure("kidney_left", Ellipsoid((72.0, 60.0, -85.0), (30.0, 26.0, 55.0)), hu=165.0, suv=3.0),
        Structure("vertebra_cortex", Cylinder((0.0, 78.0), (21.0, 19.0)), hu=650.0, suv=1.2),
        Structure("vertebra", Cylinder((0.0, 78.0), (17.0, 15.0)), hu=260.0, suv=1.6),
        Structure("aorta", Cylinder((20.0, 50.0), (12.0, 12.0)), hu=165.0, suv=1.7),
        Structure("ivc", Cylinder((-28.0, 48.0), (13.0, 11.0)), hu=125.0, suv=1.7),
    ]
    return body + liver + others


def is_liver_parenchyma(points_body: np.ndarray, margin_mm: float = 0.0) -> np.ndarray:
    """True where points are liver in the painted phantom, at least ``margin_mm`` inside.

    A point is liver when it lies inside a liver lobe and inside no structure
    painted after the liver. The margin is tested by moving the point
    ``margin_mm`` along the six axis directions as well.
    """
    pts = np.atleast_2d(np.asarray(points_body, dtype=float))
    structures = organs()
    first_after = max(i for i, s in enumerate(structures) if "liver" in s.tags) + 1
    later = [s.shape for s in structures[first_after:]]
    offsets = [np.zeros(3)]
    if margin_mm > 0:
        offsets += [sign * margin_mm * e for e in np.eye(3) for sign in (1.0, -1.0)]
    ok = np.ones(len(pts), dtype=bool)
    for off in offsets:
        p = pts + off
        inside = np.zeros(len(p), dtype=bool)
        for shape in liver_shapes():
            inside |= shape.contains(p)
        for other in later:
            inside &= ~other.contains(p)
        ok &= inside
    return ok
