"""The hard variant of the phantom: the lesions that make CT segmentation difficult.

The abdomen of :mod:`sample_data.scenario`, grids and poses drawn like its
own (from a separate random stream; no non-rigid deformation), with

* CT noise sd 15 HU (instead of 11-13), same in-plane correlation;
* lesion contrast 25-60 HU below the liver (instead of 35-60); L5 always 25-28 HU;
* a perihepatic fat layer (-100 HU) around the right lobe, so that a lesion at
  the liver edge touches fat;
* five lesions, each with a role:

  ``L1`` necrotic centre: an ellipsoid whose inner 40 % (same ellipsoid
  scaled 0.4) is 20 HU darker; ``L2`` irregular: union of 3 ellipsoids;
  ``L3`` touching the liver edge: tangent to the right-lobe surface (1 mm
  into the fat), scaled about the contact point so that it keeps touching;
  ``L4`` next to a vessel: a vertical contrast-filled vessel (radius 4 mm,
  180 HU) 1 mm from the lesion at baseline, scaled about the nearest point;
  ``L5`` irregular and low contrast: union of 2 ellipsoids at 25-28 HU.

Lesions shrink at the first follow-up (x0.55-0.70) and one of L1-L4 regrows
at the second, as in the standard scenario. Only the CT is rendered, as arrays (no
DICOM): these cases test the segmenters, not the loaders. Truth per lesion
(see :mod:`sample_data.union`) is the volume, the centroid and the longest
axial diameter over the acquired slice planes; the lesion's partial-volume
fraction map is rendered on the CT grid for Dice.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from sample_data.anatomy import LIVER_HU, is_liver_parenchyma, liver_shapes, organs
from sample_data.grid import Grid
from sample_data.render import AIR_HU, correlated_noise, paint
from sample_data.scenario import _grids, _pose
from sample_data.shapes import Cylinder, Ellipsoid, Pose, Structure, as_matrix3, box_corners, rotation_matrix
from sample_data.union import Union

NOISE_HU = 15.0
VESSEL_HU = 180.0
VESSEL_RADIUS_MM = 4.0
FAT_HU = -100.0
ROLES = {
    "L1": "necrotic centre",
    "L2": "irregular (3 ellipsoids)",
    "L3": "touching the liver edge",
    "L4": "next to a vessel",
    "L5": "irregular, low contrast",
}


@dataclass(frozen=True)
class HardLesion:
    lesion_id: str
    shape: Union  # baseline, body frame
    anchor_mm: tuple[float, float, float]  # fixed point of the size change
    hu: float
    scale_per_timepoint: tuple[float, ...]

    @property
    def role(self) -> str:
        return ROLES[self.lesion_id]

    def at(self, timepoint: int) -> Union:
        return self.shape.scaled_about(np.asarray(self.anchor_mm), self.scale_per_timepoint[timepoint])

    def structures(self, timepoint: int) -> list[Structure]:
        shape = self.at(timepoint)
        out = [Structure(self.lesion_id, shape, hu=self.hu, suv=0.0, tags=frozenset({"lesion"}))]
        if self.lesion_id == "L1":
            e = shape.parts[0]
            core = Ellipsoid(e.centre_mm, tuple(v * 0.4 for v in e.semi_axes_mm), e.rotation)  # type: ignore[arg-type]
            out.append(Structure("L1_core", core, hu=self.hu - 20.0, suv=0.0, tags=frozenset({"lesion"})))
        return out


@dataclass(frozen=True)
class HardScenario:
    seed: int
    size: str
    lesions: tuple[HardLesion, ...]
    vessel: Cylinder
    poses: tuple[Pose, ...]
    grids: tuple[Grid, ...]

    def structures(self, timepoint: int) -> list[Structure]:
        """Painting order: abdomen, perihepatic fat, liver, vessel, other organs, lesions."""
        base = organs()
        first_liver = next(i for i, s in enumerate(base) if "liver" in s.tags)
        last_liver = max(i for i, s in enumerate(base) if "liver" in s.tags)
        right = liver_shapes()[0]
        fat = Ellipsoid(right.centre_mm, tuple(v * 1.08 for v in right.semi_axes_mm), right.rotation)  # type: ignore[arg-type]
        out = base[:first_liver] + [Structure("perihepatic_fat", fat, hu=FAT_HU, suv=0.3)]
        out += base[first_liver : last_liver + 1] + [Structure("hepatic_vessel", self.vessel, hu=VESSEL_HU, suv=1.7)]
        out += base[last_liver + 1 :]
        for lesion in self.lesions:
            out += lesion.structures(timepoint)
        return out


@dataclass(frozen=True)
class HardLesionTruth:
    lesion_id: str
    role: str
    timepoint: int
    contrast_hu: float
    centroid_lps_mm: tuple[float, float, float]
    centroid_index_zyx: tuple[float, float, float]
    longest_axial_diameter_on_slices_mm: float
    volume_ml: float
    fraction_zyx: np.ndarray  # partial-volume fraction of the lesion on the CT grid


@dataclass(frozen=True)
class HardCase:
    """One rendered timepoint: CT in HU (noisy and rounded like the DICOM writer; and noise-free), truths, the liver."""

    ct_hu_zyx: np.ndarray
    noise_free_hu_zyx: np.ndarray
    spacing_zyx: tuple[float, float, float]
    lesions: tuple[HardLesionTruth, ...]
    liver_zyx: np.ndarray  # >= 50 % liver (lesions included) and < 50 % anything painted over it


def _ellipsoid(rng: np.random.Generator, centre: np.ndarray, d_lo: float, d_hi: float) -> Ellipsoid:
    a = rng.uniform(d_lo, d_hi) / 2.0
    semi = (a, a * rng.uniform(0.78, 0.95), a * rng.uniform(0.75, 0.95))
    rot = as_matrix3(rotation_matrix((rng.uniform(-25, 25), rng.uniform(-25, 25), rng.uniform(-90, 90))))
    return Ellipsoid(tuple(float(v) for v in centre), semi, rot)  # type: ignore[arg-type]


def _irregular(rng: np.random.Generator, centre: np.ndarray, d_lo: float, d_hi: float, n: int) -> Union:
    """A main ellipsoid and ``n - 1`` smaller ones overlapping its surface."""
    main = _ellipsoid(rng, centre, 0.8 * d_lo, 0.8 * d_hi)
    parts = [main]
    a = max(main.semi_axes_mm)
    for _ in range(n - 1):
        direction = rng.normal(size=3)
        direction[2] *= 0.6
        direction /= np.linalg.norm(direction)
        s = rng.uniform(0.5, 0.75)
        parts.append(_ellipsoid(rng, centre + direction * a * rng.uniform(0.45, 0.7), 1.8 * a * s, 2.2 * a * s))
    return Union(tuple(parts))


def _extent(u: Union) -> tuple[np.ndarray, float]:
    c = np.mean([p.centre_mm for p in u.parts], axis=0)
    return c, 1.2 * max(max(p.semi_axes_mm) + float(np.linalg.norm(np.asarray(p.centre_mm) - c)) for p in u.parts)


def _apart(u: Union, placed: list[Union], gap_mm: float = 10.0) -> bool:
    c, r = _extent(u)
    return all(np.linalg.norm(c - co) > r + ro + gap_mm for co, ro in map(_extent, placed))


def _edge_lesion(rng: np.random.Generator) -> tuple[Union, np.ndarray]:
    """An ellipsoid tangent to the lateral right-lobe surface, 1 mm beyond it; its contact point."""
    right = liver_shapes()[0]
    q, s = np.asarray(right.rotation), np.asarray(right.semi_axes_mm)
    for _ in range(10000):
        theta, phi = rng.uniform(np.deg2rad(150), np.deg2rad(210)), rng.uniform(-0.35, 0.35)
        d_local = np.array([np.cos(theta) * np.cos(phi), np.sin(theta) * np.cos(phi), np.sin(phi)])
        p_local = d_local / np.sqrt(np.sum(d_local**2 / s**2))
        surface = np.asarray(right.centre_mm) + q @ p_local
        normal = q @ (p_local / s**2)
        normal /= np.linalg.norm(normal)
        e = _ellipsoid(rng, np.zeros(3), 16.0, 22.0)
        qe = np.asarray(e.rotation)
        support = float(np.sqrt(normal @ qe @ np.diag(np.asarray(e.semi_axes_mm) ** 2) @ qe.T @ normal))
        centre = surface - (support - 1.0) * normal
        if abs(centre[2]) > 35:
            continue
        e = Ellipsoid(tuple(float(v) for v in centre), e.semi_axes_mm, e.rotation)  # type: ignore[arg-type]
        inner = centre + 0.85 * (e.surface_points(400) - centre)
        if is_liver_parenchyma(inner[(inner - centre) @ normal < 0.3 * support], margin_mm=3.0).all():
            return Union((e,)), surface
    raise RuntimeError("could not place the edge lesion")  # pragma: no cover


def _vessel_beside(u: Union, placed: list[Union], rng: np.random.Generator) -> tuple[Cylinder, np.ndarray] | None:
    """A vertical vessel 1 mm from the lesion, inside the liver and away from ``placed``; the nearest lesion point."""
    centre = np.asarray(u.parts[0].centre_mm)
    angle = rng.uniform(0.0, 2.0 * np.pi)
    direction = np.array([np.cos(angle), np.sin(angle)])
    points = u.parts[0].surface_points(2000)
    for dist in np.arange(5.0, 40.0, 0.05):
        axis = centre[:2] + dist * direction
        if np.min(np.linalg.norm(points[:, :2] - axis, axis=1)) - VESSEL_RADIUS_MM >= 1.0:
            break
    z0, z1 = centre[2] - 30.0, centre[2] + 30.0
    vessel = Cylinder((float(axis[0]), float(axis[1])), (VESSEL_RADIUS_MM, VESSEL_RADIUS_MM), (z0, z1))
    wall = np.array(
        [
            [axis[0] + VESSEL_RADIUS_MM * np.cos(t), axis[1] + VESSEL_RADIUS_MM * np.sin(t), z]
            for t in np.linspace(0, 2 * np.pi, 12, endpoint=False)
            for z in np.linspace(z0, z1, 9)
        ]
    )
    if not is_liver_parenchyma(wall, margin_mm=3.0).all():
        return None
    for other in placed:
        surface = other.surface_points(200)
        if other.contains(wall).any() or np.min(np.linalg.norm(wall[:, None, :] - surface[None], axis=2)) < 8.0:
            return None
    return vessel, points[np.argmin(np.linalg.norm(points[:, :2] - axis, axis=1))]


def make_hard_scenario(seed: int, size: str = "small") -> HardScenario:
    """Draw the five hard lesions, the vessel, the poses and grids (deterministic in ``seed``)."""
    rng = np.random.default_rng([seed, 4242])
    lo = np.min([s.bounds()[0] for s in liver_shapes()], axis=0)
    hi = np.max([s.bounds()[1] for s in liver_shapes()], axis=0)
    edge, contact = _edge_lesion(rng)
    placed, anchors = {"L3": edge}, {"L3": contact}
    vessel: Cylinder | None = None
    for lid, d_lo, d_hi, n in (
        ("L1", 26.0, 34.0, 1),
        ("L2", 22.0, 30.0, 3),
        ("L4", 16.0, 22.0, 1),
        ("L5", 14.0, 20.0, 2),
    ):
        for _ in range(20000):
            centre = rng.uniform(lo, hi)
            centre[2] = rng.uniform(-30.0, 30.0)
            u = _irregular(rng, centre, d_lo, d_hi, n) if n > 1 else Union((_ellipsoid(rng, centre, d_lo, d_hi),))
            if not is_liver_parenchyma(u.scaled_about(centre, 1.2).surface_points(300), margin_mm=6.0).all():
                continue
            if not _apart(u, list(placed.values())):
                continue
            anchor = centre
            if lid == "L4":
                found = _vessel_beside(u, list(placed.values()), rng)
                if found is None:
                    continue
                vessel, anchor = found
            placed[lid], anchors[lid] = u, anchor
            break
        else:  # pragma: no cover
            raise RuntimeError(f"could not place {lid}")
    assert vessel is not None
    ids = sorted(ROLES)
    response = rng.uniform(0.55, 0.7, len(ids))
    later = response * rng.uniform(0.95, 1.03, len(ids))
    later[int(rng.integers(len(ids) - 1))] = rng.uniform(1.0, 1.1)
    lesions = []
    for i, lid in enumerate(ids):
        contrast = rng.uniform(25.0, 28.0) if lid == "L5" else rng.uniform(25.0, 60.0)
        lesions.append(
            HardLesion(
                lid,
                placed[lid],
                (float(anchors[lid][0]), float(anchors[lid][1]), float(anchors[lid][2])),
                LIVER_HU - float(contrast),
                (1.0, float(response[i]), float(later[i])),
            )
        )
    pose_rng = np.random.default_rng(seed)
    grids, poses = [], []
    for k in range(3):
        grids.append(_grids(size, k, pose_rng)[0])
        poses.append(_pose(k, pose_rng))
    return HardScenario(seed, size, tuple(lesions), vessel, tuple(poses), tuple(grids))


def _truth(lesion: HardLesion, timepoint: int, pose: Pose, grid: Grid) -> HardLesionTruth:
    shape = lesion.at(timepoint)
    centroid = pose.body_to_lps(shape.centroid_mm())
    lo, hi = shape.bounds()
    corners = pose.body_to_lps(box_corners(lo, hi))
    z = grid.slice_z_mm()
    z = z[(z > corners[:, 2].min()) & (z < corners[:, 2].max())]
    longest = max((shape.section_longest_mm(pose, float(v)) for v in z), default=0.0)
    fraction = paint([Structure(lesion.lesion_id, shape, hu=1.0, suv=0.0)], pose, grid, "hu", 0.0)
    index_xyz = (centroid - np.asarray(grid.origin_lps_mm)) / np.asarray(grid.spacing_xyz_mm)
    return HardLesionTruth(
        lesion_id=lesion.lesion_id,
        role=lesion.role,
        timepoint=timepoint,
        contrast_hu=LIVER_HU - lesion.hu,
        centroid_lps_mm=tuple(float(v) for v in centroid),  # type: ignore[arg-type]
        centroid_index_zyx=tuple(float(v) for v in index_xyz[::-1]),  # type: ignore[arg-type]
        longest_axial_diameter_on_slices_mm=longest,
        volume_ml=shape.volume_ml(),
        fraction_zyx=fraction,
    )


def render_hard_case(seed: int, timepoint: int, size: str = "small") -> HardCase:
    """CT of one timepoint of the hard scenario ``seed`` with its truths."""
    scenario = make_hard_scenario(seed, size)
    grid, pose = scenario.grids[timepoint], scenario.poses[timepoint]
    structures = scenario.structures(timepoint)
    clean = paint(structures, pose, grid, "hu", AIR_HU)
    noise = correlated_noise(grid.shape_zyx, NOISE_HU, np.random.default_rng([seed, timepoint, 1, 77]))
    image = np.clip(np.rint(clean + noise), -1024, 3071).astype(np.float32)
    last_liver = max(i for i, s in enumerate(structures) if "liver" in s.tags)
    lobes = [dataclasses.replace(s, hu=1.0) for s in structures if "liver" in s.tags]
    over = [dataclasses.replace(s, hu=1.0) for s in structures[last_liver + 1 :] if "lesion" not in s.tags]
    liver = (paint(lobes, pose, grid, "hu", 0.0) >= 0.5) & (paint(over, pose, grid, "hu", 0.0) < 0.5)
    sx, sy, sz = grid.spacing_xyz_mm
    truths = tuple(_truth(lesion, timepoint, pose, grid) for lesion in scenario.lesions)
    return HardCase(image, clean, (sz, sy, sx), truths, liver)
