"""Liver segmentation: the synthetic study (exact truth), and real CT against manual or model masks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from pipeline import spatial
from pipeline.dicom.discover import discover
from pipeline.dicom.load import load_ct
from pipeline.dicom.selection import select_timepoints
from sample_data.anatomy import organs
from sample_data.generate import timepoint_structures
from sample_data.grid import Grid
from sample_data.render import paint, render_ct
from sample_data.scenario import make_scenario
from sample_data.shapes import Structure
from segmentation.anatomy import Anatomy, locate_anatomy
from segmentation.liver import ABSENT, liver_deposits, segment_liver
from segmentation.working_grid import working_grid


def true_liver(scenario_tp, grid: Grid | None = None) -> np.ndarray:
    """Voxels >= 50 % liver and < 50 % any organ painted over the liver (lesions count as liver), on ``grid``
    (default: the timepoint's CT grid)."""
    structures = organs()
    last = max(i for i, s in enumerate(structures) if "liver" in s.tags)
    lobes = [Structure("liver", s.shape, 1.0, 0.0) for s in structures if "liver" in s.tags]
    over = [Structure("other", s.shape, 1.0, 0.0) for s in structures[last + 1 :]]
    args = (scenario_tp.pose, grid or scenario_tp.ct_grid, "hu", 0.0, scenario_tp.deformation)
    return (paint(lobes, *args) >= 0.5) & (paint(over, *args) < 0.5)


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b))


def lps_arrays(image: sitk.Image, *masks: sitk.Image) -> tuple[np.ndarray, ...]:
    """Arrays of ``image`` and ``masks`` in the canonical LPS orientation the liver segmentation expects."""
    return tuple(sitk.GetArrayFromImage(sitk.DICOMOrient(im, "LPS")) for im in (image, *masks))


def lps_spacing(image: sitk.Image) -> tuple[float, float, float]:
    return spatial.spacing_zyx(sitk.DICOMOrient(image, "LPS"))


def read_series(folder: Path) -> sitk.Image:
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    return reader.Execute()


@pytest.mark.parametrize("k", [0, 2])
def test_liver_dice_on_the_sample_study(sample_root: Path, ground_truth: dict, k: int):
    scenario = make_scenario(ground_truth["generator"]["seed"], ground_truth["generator"]["size"])
    timepoint = select_timepoints(discover(sample_root / "study", ignore={sample_root / "study" / "targets.json"}))[k]
    ct = load_ct(timepoint.ct_candidates[0]).image
    assert ct.GetDirection() == (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)  # already LPS-oriented
    liver = segment_liver(spatial.array_zyx(ct), spatial.spacing_zyx(ct))
    assert liver.found, liver.message
    assert dice(liver.mask_zyx, true_liver(scenario.timepoints[k])) >= 0.93
    assert liver.level_hu == pytest.approx(105.0, abs=5.0)
    assert not liver.partial


def test_liver_of_the_whole_phantom_trunk():
    """The field of view of the full-size study (400 mm along z, the lungs high above the liver, on a coarser
    grid): the liver is found, its volume within 5 % of the generator's liver and Dice >= 0.95."""
    scenario = make_scenario(1, "full")
    tp = scenario.timepoints[0]
    grid = Grid.centred((100, 256, 256), (1.5625, 1.5625, 4.0), tp.ct_grid.centre_lps_mm)
    image = render_ct(
        timepoint_structures(scenario, tp), tp.pose, grid, tp.ct_noise_hu, np.random.default_rng(1), tp.deformation
    )
    spacing = tuple(float(v) for v in grid.spacing_xyz_mm[::-1])
    liver = segment_liver(np.round(image).astype(np.int16), spacing)  # type: ignore[arg-type]
    assert liver.found, liver.message
    truth = true_liver(tp, grid)
    assert liver.volume_ml == pytest.approx(truth.sum() * np.prod(spacing) / 1000.0, rel=0.05)
    assert dice(liver.mask_zyx, truth) >= 0.95
    assert not liver.partial


def test_anatomy_of_the_sample_study(sample_root: Path):
    timepoint = select_timepoints(discover(sample_root / "study", ignore={sample_root / "study" / "targets.json"}))[0]
    ct = load_ct(timepoint.ct_candidates[0]).image
    grid = working_grid(spatial.array_zyx(ct), spatial.spacing_zyx(ct), 3.0)
    anatomy = locate_anatomy(grid.image_zyx, grid.spacing_zyx)
    assert anatomy.has_trunk and anatomy.spine_zyx is not None
    # the phantom's lungs are two ellipsoids of -850 HU centred 78 mm right and left of the midline
    lungs = anatomy.lungs_zyx
    assert lungs.sum() * grid.voxel_ml > 100.0
    right = anatomy.right_of_midline()
    assert (lungs & right).any() and (lungs & ~right).any()


def test_a_limb_has_no_liver():
    """A cylinder of muscle around a bone (a thigh): no lungs, no vertebral column, so no liver."""
    z, y, x = np.mgrid[0:40, 0:120, 0:120]
    r = np.hypot((y - 60) * 1.5, (x - 60) * 1.5)
    image = np.where(r < 80, 50.0, -1000.0) + np.where(r < 15, 900.0, 0.0)
    result = segment_liver(image.astype(np.int16), (3.0, 1.5, 1.5))
    assert result.outcome == ABSENT and result.mask_zyx is None
    assert result.message.startswith("no liver in this scan: it shows neither lungs nor a vertebral column")


def test_empty_image_has_no_liver():
    result = segment_liver(np.full((20, 40, 40), -1000, np.int16), (3.0, 3.0, 3.0))
    assert result.outcome == ABSENT and result.message.startswith("no liver in this scan")


def test_dense_tissue_is_a_deposit_only_when_the_liver_surrounds_it():
    """On a 20 x 40 x 40 grid with a liver box: a dense ball inside it is a deposit; a dense bar half in it and half
    beyond (a rib the mask took in) and a dense ball inside it that belongs to the vertebral column are not."""
    liver = np.zeros((20, 40, 40), dtype=bool)
    liver[2:18, 5:35, 5:25] = True
    z, y, x = np.mgrid[0:20, 0:40, 0:40]
    ball = (z - 10) ** 2 + (y - 12) ** 2 + (x - 12) ** 2 <= 9
    bar = (np.abs(z - 10) <= 1) & (np.abs(y - 28) <= 1) & (x >= 18) & (x <= 32)  # x 18-24 in the liver
    vertebra = (z - 10) ** 2 + (y - 20) ** 2 + (x - 19) ** 2 <= 4
    spine = np.zeros_like(liver)
    spine[vertebra] = True
    anatomy = Anatomy(np.ones_like(liver), np.zeros_like(liver), spine, np.full(20, 30.0), np.full(20, np.nan))
    found = liver_deposits(ball | bar | vertebra, liver, anatomy, 0.9)
    assert (found == ball).all()


# real CT, read in place (see tests/conftest.py: realdata)


def test_ircad_manual_liver(realdata: Path):
    """Portal-venous CT with two tumours: Dice >= 0.93 and volume within 5 % of the manual liver (labels 1-3)."""
    ct = read_series(realdata / "ircad_patient" / "ct")
    masks = sitk.ReadImage(str(realdata / "ircad_patient" / "masks.nii.gz"))
    masks.CopyInformation(ct)  # the label map is on the CT grid
    image, labels = lps_arrays(ct, masks)
    truth = labels > 0
    liver = segment_liver(image, lps_spacing(ct))
    assert liver.found, liver.message
    assert dice(liver.mask_zyx, truth) >= 0.93
    truth_ml = truth.sum() * np.prod(lps_spacing(ct)) / 1000.0
    assert liver.volume_ml == pytest.approx(truth_ml, rel=0.05)
    # tumour 1 (lateral dome) lies in the mask; tumour 2 splits the left lobe at the dome and is only partly in it
    for label, fraction in ((2, 0.8), (3, 0.3)):
        assert (liver.mask_zyx & (labels == label)).sum() >= fraction * (labels == label).sum()


def test_totalsegmentator_example_unenhanced_partial_liver(realdata: Path):
    """Unenhanced CT cut through the liver: Dice >= 0.90 against the TotalSegmentator model's mask."""
    folder = realdata / "totalsegmentator_example"
    ct = sitk.ReadImage(str(folder / "example_ct.nii.gz"))
    model = sitk.ReadImage(str(folder / "example_ct_liver_model.nii.gz")) > 0.5
    image, truth = lps_arrays(ct, model)
    liver = segment_liver(image, lps_spacing(ct))
    assert liver.found, liver.message
    assert liver.partial
    assert dice(liver.mask_zyx, truth > 0) >= 0.90


def test_totalsegmentator_small_partial_liver(realdata: Path):
    """example_ct_sm holds the top 30 slices of example_ct (its header repeats example_ct's origin, so the model
    mask is compared slice by slice): a partial liver with Dice >= 0.85, nothing from bone, heart or bowel."""
    folder = realdata / "totalsegmentator_example"
    small = sitk.ReadImage(str(folder / "example_ct_sm.nii.gz"))
    full = sitk.ReadImage(str(folder / "example_ct.nii.gz"))
    model = sitk.ReadImage(str(folder / "example_ct_liver_model.nii.gz")) > 0.5
    (image,) = lps_arrays(small)
    full_image, truth = lps_arrays(full, model)
    n = image.shape[0]
    assert np.array_equal(full_image[-n:], image)
    liver = segment_liver(image, lps_spacing(small))
    assert liver.found, liver.message
    assert dice(liver.mask_zyx, truth[-n:] > 0) >= 0.85
    assert (image[liver.mask_zyx] > 300).mean() < 0.01  # no bone


@pytest.mark.parametrize("fraction", [0.2, 0.5, 0.8])
def test_a_scan_ending_low_in_the_liver_gives_liver_or_a_refusal(realdata: Path, fraction: float):
    """example_ct (unenhanced abdomen and pelvis) cut ``fraction`` of the way up the liver (the model mask's
    extent): the scan shows the pelvis, the abdomen and only the liver's lowest part, beside bladder and bowel of
    water-like attenuation. The liver found is refused, or at least 80 % of it lies in the model's mask."""
    folder = realdata / "totalsegmentator_example"
    ct = sitk.ReadImage(str(folder / "example_ct.nii.gz"))
    model = sitk.ReadImage(str(folder / "example_ct_liver_model.nii.gz")) > 0.5
    image, truth = lps_arrays(ct, model)
    slices = np.flatnonzero(truth.any(axis=(1, 2)))  # z toward the head
    end = int(slices[0] + fraction * (slices[-1] - slices[0]))
    liver = segment_liver(image[:end], lps_spacing(ct))
    if liver.found:
        assert (liver.mask_zyx & (truth[:end] > 0)).sum() >= 0.8 * liver.mask_zyx.sum()
    else:
        assert liver.message.startswith("liver segmentation refused: ")


def test_a_large_iodised_oil_deposit_in_a_real_liver_is_part_of_it(realdata: Path):
    """A 60 ml ball at 600 HU (iodised oil after chemoembolisation, a 49 mm deposit) blended into the right lobe
    of the IRCAD CT, 30 mm inside the manual liver: the liver is found (the deposit is not bone) with the deposit
    in it, Dice >= 0.92 against the manual liver."""
    ct = read_series(realdata / "ircad_patient" / "ct")
    masks = sitk.ReadImage(str(realdata / "ircad_patient" / "masks.nii.gz"))
    masks.CopyInformation(ct)
    image, labels = lps_arrays(ct, masks)
    spacing = np.asarray(lps_spacing(ct))
    centre_zyx = np.array([70, 147, 152]) * spacing  # mm
    z, y, x = (np.arange(n) * s for n, s in zip(image.shape, spacing, strict=True))
    distance = np.sqrt(
        (z[:, None, None] - centre_zyx[0]) ** 2
        + (y[None, :, None] - centre_zyx[1]) ** 2
        + (x[None, None, :] - centre_zyx[2]) ** 2
    )
    radius = (3.0 * 60_000.0 / (4.0 * np.pi)) ** (1.0 / 3.0)
    weight = 1.0 / (1.0 + np.exp((distance - radius) / 0.7))  # a 0.7 mm logistic edge
    deposit = distance <= radius
    assert (labels[distance <= radius + 5.0] == 1).all()  # in the parenchyma, 5 mm from any other label
    liver = segment_liver(np.round(image + weight * (600.0 - image)).astype(np.int16), tuple(spacing))
    assert liver.found, liver.message
    assert liver.mask_zyx[deposit].mean() >= 0.95
    assert dice(liver.mask_zyx, labels > 0) >= 0.92


def test_a_short_abdominal_scan_shows_its_vertebral_column(realdata: Path):
    """The lowest 23 slices of the IRCAD CT (37 mm at the kidneys, at the liver's tip) hold a lumbar vertebra
    and, in as many slices, smaller dense regions in front of it: the column (the largest) is found, so the scan
    is a trunk."""
    ct = read_series(realdata / "ircad_patient" / "ct")
    (image,) = lps_arrays(ct)
    spacing = lps_spacing(ct)
    assert spacing[0] == pytest.approx(1.6)
    grid = working_grid(image[:23], spacing, 3.0)
    anatomy = locate_anatomy(grid.image_zyx, grid.spacing_zyx)
    assert anatomy.spine_zyx is not None and anatomy.has_trunk
    result = segment_liver(image[:23], spacing)
    assert "not a trunk" not in result.message


def test_hcc048_liver_volume(realdata: Path):
    ct = read_series(realdata / "hcc048_portal_venous")
    (image,) = lps_arrays(ct)
    liver = segment_liver(image, lps_spacing(ct))
    assert liver.found, liver.message
    assert 1000.0 <= liver.volume_ml <= 2500.0
    assert not liver.partial


@pytest.mark.parametrize("case", ["STS_004", "STS_005"])
def test_thigh_has_no_liver(realdata: Path, case: str):
    ct = read_series(realdata / "ibsi_sts" / "dicom" / case / "CT" / "image")
    (image,) = lps_arrays(ct)
    result = segment_liver(image, lps_spacing(ct))
    assert result.outcome == ABSENT and result.message.startswith("no liver in this scan")


CAPSULE_SHAPE, CAPSULE_SPACING, CAPSULE_LIVER_HU = (40, 60, 60), (3.0, 3.0, 3.0), 105.0


def _capsule_phantom() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A 3 mm working grid of fat (-100 HU) with a liver (105 HU) where x < 90 mm: the z, y, x coordinates (mm),
    the image and the liver."""
    z, y, x = np.indices(CAPSULE_SHAPE) * np.reshape(CAPSULE_SPACING, (3, 1, 1, 1))
    image = np.full(CAPSULE_SHAPE, -100.0, np.float32)
    liver = x < 90.0
    image[liver] = CAPSULE_LIVER_HU
    return z, y, x, image, liver


def _capsule_lesions(liver: np.ndarray, image: np.ndarray, spine: np.ndarray | None = None) -> np.ndarray:
    """:func:`segmentation.liver.capsule_lesions` on the phantom grid: the whole grid is body, no lung, the
    midline at x index 59, no vertebral bodies' front (``spine``: the vertebral column, if any)."""
    from segmentation.anatomy import Anatomy
    from segmentation.liver import LiverConfig, capsule_lesions
    from segmentation.working_grid import WorkingGrid

    shape = CAPSULE_SHAPE
    anatomy = Anatomy(
        np.ones(shape, bool), np.zeros(shape, bool), spine, np.full(shape[0], 59.0), np.full(shape[0], np.nan)
    )
    grid = WorkingGrid(image, CAPSULE_SPACING, (1, 1, 1), shape)
    return capsule_lesions(liver, image, anatomy, grid, CAPSULE_LIVER_HU, LiverConfig(dome_skin_mm=0.0))


def test_a_lesion_bulging_from_the_liver_surface_is_added_but_not_a_neighbouring_organ():
    """On a 3 mm working grid: a liver (105 HU) in fat; a hyperdense lesion (+60 HU, radius 15 mm) 7 mm inside
    the liver's surface, bulging out of it, left out of the liver mask (it is not in the parenchyma band and
    the liver does not enclose it); beside the liver, a bright tube (a vessel, 170 HU, 60 mm long, 12 mm wide)
    and a dark organ (60 HU) that each touch it. The lesion is added; neither the tube nor the organ."""
    z, y, x, image, liver = _capsule_phantom()
    lesion = (z - 60.0) ** 2 + (y - 90.0) ** 2 + (x - 83.0) ** 2 < 15.0**2
    image[lesion] = 165.0
    tube = ((z - 30.0) ** 2 + (y - 30.0) ** 2 < 6.0**2) & (x >= 90.0) & (x < 150.0)
    image[tube] = 170.0
    organ = ((z - 100.0) ** 2 + (y - 120.0) ** 2 + (x - 110.0) ** 2 < 20.0**2) & ~liver
    image[organ] = 60.0
    added = _capsule_lesions(liver & ~lesion, image)
    assert (added & lesion).sum() >= 0.9 * lesion.sum()
    assert not (added & (tube | organ)).any()


def test_a_dense_deposit_at_the_liver_edge_is_added_but_not_bone_or_a_bar():
    """On a 3 mm working grid: a liver (105 HU) in fat, its surface the plane x = 90 mm. A deposit of iodised
    oil (500 HU, radius 12 mm) centred 3 mm outside the surface: a third of the tissue around it is liver, too
    little for a lesion of soft tissue (half), enough for dense tissue (a quarter). Beside the liver: the same
    deposit centred 9 mm outside (an eighth of the tissue around it liver: contrast in bowel beside the liver),
    a rib-like bar (400 HU, 9 mm wide, 72 mm long) along the surface, and a deposit inside the vertebral column.
    Only the first deposit is added."""
    z, y, x, image, liver = _capsule_phantom()

    def ball(cz: float, cy: float, cx: float) -> np.ndarray:
        return (z - cz) ** 2 + (y - cy) ** 2 + (x - cx) ** 2 < 12.0**2

    deposit, bowel, spine_deposit = ball(60.0, 40.0, 93.0), ball(60.0, 130.0, 99.0), ball(105.0, 150.0, 93.0)
    bar = (np.abs(y - 90.0) < 4.5) & (np.abs(x - 93.0) < 4.5) & (np.abs(z - 60.0) < 36.0)
    image[deposit | bowel | spine_deposit] = 500.0
    image[bar] = 400.0
    spine = (z >= 80.0) & (y >= 135.0) & (x >= 80.0) & (x < 110.0)
    added = _capsule_lesions(liver & ~deposit, image, spine)
    assert (added & deposit & ~liver).sum() >= 0.9 * (deposit & ~liver).sum()
    assert not (added & (bowel | bar | spine_deposit)).any()
    # the same deposit as soft tissue (a lesion 60 HU brighter than the liver) has too little liver around it
    image[deposit] = 165.0
    assert not (_capsule_lesions(liver & ~deposit, image, spine) & deposit & ~liver).any()
