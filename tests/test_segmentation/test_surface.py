"""Spherical-harmonic surfaces: the basis is orthonormal, the series equals the basis times its coefficients,
and a rasterised sphere has the volume of a sphere."""

from __future__ import annotations

import math

import numpy as np
import pytest

from segmentation.rays import rasterise_star
from segmentation.surface import fibonacci_sphere, real_sh, sh_series


def test_real_harmonics_are_orthonormal_on_the_sphere():
    u = fibonacci_sphere(20000)
    basis = real_sh(u, 6)
    gram = 4.0 * math.pi * basis.T @ basis / len(u)  # quasi-uniform points: a quadrature of the sphere
    assert np.allclose(gram, np.eye(basis.shape[1]), atol=2e-3)


@pytest.mark.parametrize("l_max", [0, 1, 2, 5, 8, 12])
def test_series_equals_the_basis_times_its_coefficients(l_max):
    rng = np.random.default_rng(l_max)
    u = rng.normal(size=(5000, 3))
    u /= np.linalg.norm(u, axis=1)[:, None]
    coef = rng.normal(size=(l_max + 1) ** 2)
    assert np.allclose(sh_series(u, coef), real_sh(u, l_max) @ coef, rtol=0.0, atol=1e-12)


def test_a_rasterised_sphere_has_the_volume_of_a_sphere():
    radius_mm = 12.0
    coef = np.zeros(9)
    coef[0] = radius_mm * 2.0 * math.sqrt(math.pi)  # r(u) = coef_00 * Y_00, Y_00 = 1 / (2 sqrt(pi))
    spacing = np.array([2.5, 0.8, 0.8])
    fractions, _ = rasterise_star(np.array([40.0, 40.0, 40.0]), coef, spacing, (40, 100, 100), 0.4)
    volume_mm3 = float(fractions.sum()) * float(np.prod(spacing))
    assert volume_mm3 == pytest.approx(4.0 / 3.0 * math.pi * radius_mm**3, rel=0.005)
