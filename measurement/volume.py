"""Lesion volume and centroid from a mask (see :mod:`measurement.masks` for mask values).

* ``volume_ml``: sum of the voxel fractions times the voxel volume — the voxel
  count for a binary mask, the partial-volume estimate for a soft mask. This
  is the volume reported in ``measurements.csv``.
* ``mesh_volume_ml``: volume enclosed by the marching-cubes iso-surface at 0.5
  (for a binary mask about half a voxel layer smaller than the voxel count).
"""

from __future__ import annotations

import numpy as np

from measurement.masks import fractions, require_lesion
from measurement.morphology import mesh_volume_mm3, surface_mesh


def volume_ml(mask_zyx: np.ndarray, spacing_zyx: tuple[float, float, float]) -> float:
    """Volume in ml (1 ml = 1000 mm^3): sum of voxel fractions x voxel volume."""
    return float(fractions(mask_zyx).sum(dtype=np.float64)) * float(np.prod(spacing_zyx)) / 1000.0


def mesh_volume_ml(mask_zyx: np.ndarray, spacing_zyx: tuple[float, float, float]) -> float:
    """Volume in ml enclosed by the marching-cubes surface at 0.5 (see :mod:`measurement.morphology`)."""
    return mesh_volume_mm3(surface_mesh(mask_zyx, spacing_zyx)) / 1000.0


def centroid_zyx(mask_zyx: np.ndarray) -> tuple[float, float, float]:
    """Fraction-weighted centroid of the mask as a continuous (z, y, x) index."""
    require_lesion(mask_zyx)
    f = fractions(mask_zyx)
    idx = np.nonzero(f)
    w = f[idx].astype(np.float64)
    return tuple(float(np.average(i, weights=w)) for i in idx)  # type: ignore[return-value]
