"""How an inserted lesion looks: its attenuation relative to the liver around it, point by point.

Appearance classes (contrast = lesion HU minus the local liver level, HU), drawn by :func:`draw_appearance`:

``hypodense``       uniform -15 to -80, faint texture (sd 4 HU, 4 mm);
``iso``             iso to slightly hypodense: uniform -8 to -15, faint texture (sd 3 HU);
``hyperdense``      enhancing: uniform +25 to +70, texture (sd 5 HU);
``rim``             rim-enhancing with a necrotic centre: a rim of +25 to +60, 2 to 5 mm thick (at most
                    35 % of the radius), around a centre of -40 to -90; 1 mm logistic transition;
``heterogeneous``   mottled: mean -20 to -50 plus a smooth random field (sd 12 to 20 HU, correlation
                    length 3 to 6 mm), so parts are close to the liver and parts much darker;
``lipiodol``        a hypodense tumour (-20 to -40) whose larger part (40 to 95 % of the volume, a
                    random-field region) holds dense deposits of +250 to +600 (texture sd 40 HU);
``calcified``       a hypodense tumour (-15 to -50) with 1 to 4 calcifications (radius 1 to 3 mm,
                    +300 to +700 HU, Gaussian-edged).

No part of a lesion is darker than water (0 HU; the lowest contrast is minus the liver level).
Random textures are sums of random plane waves (random Fourier features with a Gaussian spectrum):
smooth, defined everywhere, reproducible from their parameters.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from sample_data.hybrid.shape import StarShape

CLASSES = ("hypodense", "iso", "hyperdense", "rim", "heterogeneous", "lipiodol", "calcified")


@dataclass(frozen=True)
class Texture:
    """A smooth random field of unit variance: ``sqrt(2 / n) * sum cos(k_j . p + phase_j)``."""

    wave_vectors: tuple[tuple[float, float, float], ...]  # rad / mm
    phases: tuple[float, ...]

    @classmethod
    def draw(cls, rng: np.random.Generator, correlation_mm: float, n: int = 32) -> Texture:
        k = rng.normal(0.0, 1.0 / correlation_mm, size=(n, 3))
        phases = rng.uniform(0.0, 2.0 * np.pi, size=n)
        return cls(tuple(tuple(float(v) for v in row) for row in k), tuple(float(p) for p in phases))  # type: ignore[misc]

    def __call__(self, points_lps: np.ndarray) -> np.ndarray:
        k = np.asarray(self.wave_vectors)
        arg = np.asarray(points_lps, dtype=float) @ k.T + np.asarray(self.phases)
        return np.sqrt(2.0 / len(self.phases)) * np.cos(arg).sum(axis=-1)


@dataclass(frozen=True)
class Spot:
    centre_lps_mm: tuple[float, float, float]
    radius_mm: float
    contrast_hu: float


@dataclass(frozen=True)
class Appearance:
    """One lesion's attenuation pattern (see module docstring); every ``*_hu`` is relative to the liver."""

    name: str
    base_hu: float
    texture_sd_hu: float = 0.0
    texture: Texture | None = None
    rim_hu: float = 0.0
    rim_mm: float = 0.0
    deposit_hu: float = 0.0
    deposit_threshold: float = 0.0  # deposit where the texture field exceeds this
    deposit_texture: Texture | None = None
    spots: tuple[Spot, ...] = ()
    floor_hu: float = -1000.0  # lowest contrast allowed: water (0 HU) relative to the liver

    def contrast_hu(self, shape: StarShape, points_lps: np.ndarray) -> np.ndarray:
        """Contrast (HU relative to the liver) at points inside ``shape``."""
        pts = np.asarray(points_lps, dtype=float)
        out = np.full(pts.shape[:-1], self.base_hu, dtype=float)
        if self.texture is not None and self.texture_sd_hu:
            out += self.texture_sd_hu * self.texture(pts)
        if self.rim_mm > 0:
            inner = shape.radial_distance(pts)  # mm from the surface, along the ray
            w = 1.0 / (1.0 + np.exp(-(self.rim_mm - inner) / 0.3))  # 1 in the rim, 0 in the centre (~1 mm ramp)
            out = w * self.rim_hu + (1.0 - w) * out
        if self.deposit_texture is not None:
            g = self.deposit_texture(pts)
            w = 1.0 / (1.0 + np.exp(-(g - self.deposit_threshold) / 0.15))
            out = (1.0 - w) * out + w * (self.deposit_hu + 40.0 * (self.texture(pts) if self.texture else 0.0))
        for spot in self.spots:
            d2 = ((pts - np.asarray(spot.centre_lps_mm)) ** 2).sum(-1)
            out += spot.contrast_hu * np.exp(-0.5 * d2 / (0.6 * spot.radius_mm) ** 2)
        return np.maximum(out, self.floor_hu)


def draw_appearance(name: str, shape: StarShape, rng: np.random.Generator, liver_hu: float) -> Appearance:
    """A random appearance of class ``name`` for ``shape`` (ranges in the module docstring).

    No part of a lesion is darker than water (0 HU): contrasts are limited to ``-liver_hu``.
    """
    return dataclasses.replace(_draw(name, shape, rng), floor_hu=-float(liver_hu))


def _draw(name: str, shape: StarShape, rng: np.random.Generator) -> Appearance:
    r_min = float(shape.radius(_directions()).min())
    if name == "hypodense":
        return Appearance(name, -rng.uniform(15, 80), 4.0, Texture.draw(rng, 4.0))
    if name == "iso":
        return Appearance(name, -rng.uniform(8, 15), 3.0, Texture.draw(rng, 4.0))
    if name == "hyperdense":
        return Appearance(name, rng.uniform(25, 70), 5.0, Texture.draw(rng, 4.0))
    if name == "rim":
        rim = float(min(rng.uniform(2.0, 5.0), 0.35 * r_min))
        return Appearance(
            name, -rng.uniform(40, 90), 4.0, Texture.draw(rng, 4.0), rim_hu=rng.uniform(25, 60), rim_mm=rim
        )
    if name == "heterogeneous":
        return Appearance(name, -rng.uniform(20, 50), rng.uniform(12, 20), Texture.draw(rng, rng.uniform(3, 6)))
    if name == "lipiodol":
        filled = rng.uniform(0.40, 0.95)
        deposit = Texture.draw(rng, max(3.0, 0.3 * r_min))
        # threshold at the (1 - filled) quantile of the field inside the lesion
        inside = _inside_points(shape, rng)
        threshold = float(np.quantile(deposit(inside), 1.0 - filled))
        return Appearance(
            name,
            -rng.uniform(20, 40),
            4.0,
            Texture.draw(rng, 3.0),
            deposit_hu=rng.uniform(250, 600),
            deposit_threshold=threshold,
            deposit_texture=deposit,
        )
    if name == "calcified":
        spots = []
        for _ in range(int(rng.integers(1, 5))):
            radius = float(rng.uniform(1.0, 3.0))
            u = rng.normal(size=3)
            u /= np.linalg.norm(u)
            room = float(shape.radius(u[None])[0]) - radius - 1.0
            if room <= 0:
                continue
            centre = np.asarray(shape.centre_lps_mm) + u * rng.uniform(0.0, room)
            spots.append(Spot(tuple(float(v) for v in centre), radius, float(rng.uniform(300, 700))))  # type: ignore[arg-type]
        return Appearance(name, -rng.uniform(15, 50), 4.0, Texture.draw(rng, 4.0), spots=tuple(spots))
    raise ValueError(f"unknown appearance class {name!r}; expected one of {', '.join(CLASSES)}")


def _directions() -> np.ndarray:
    from sample_data.hybrid.shape import fibonacci_directions

    return fibonacci_directions(2000)


def _inside_points(shape: StarShape, rng: np.random.Generator, n: int = 20_000) -> np.ndarray:
    """Points uniformly distributed inside ``shape`` (rejection sampling in its bounding box)."""
    lo, hi = shape.bounds()
    out: list[np.ndarray] = []
    while sum(len(o) for o in out) < n:
        p = rng.uniform(lo, hi, size=(n, 3))
        out.append(p[shape.contains(p)])
    return np.concatenate(out)[:n]
