"""Real clinical exports load: a study of two timepoints built from each real-data folder (the folder as
the baseline, an identical follow-up with new UIDs and a later StudyDate) gets a CT (and, where there is
one, a PET) chosen and loaded at every timepoint, through ``inspect --json`` and the loader.

The real data are read in place from ``../shared/realdata`` (``LESION_REALDATA``); the follow-up copies go
to a temporary folder. Without the folder the tests skip, except under CI (``CI=true``).
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.uid import generate_uid

from pipeline.cli.main import main
from pipeline.dicom.discover import discover
from pipeline.dicom.load import load_ct, load_first_usable, load_pet
from pipeline.dicom.selection import select_timepoints

FOLLOW_UP_DAYS = 91
# name: (folder relative to the real-data root, expected CT size (x, y, z), PET expected)
SOURCES = {
    "hcc048": ("hcc048_portal_venous", (512, 512, 89), False),
    "ircad": ("ircad_patient/ct", (512, 512, 119), False),
    "totalsegmentator": ("totalsegmentator_example/example_ct_dicom", (512, 512, 20), False),
    "sts004": ("ibsi_sts/dicom/STS_004", (173, 183, 85), True),
    "sts005": ("ibsi_sts/dicom/STS_005", (162, 199, 79), True),
}
STANDARD_UID_ROOT = "1.2.840.10008."  # SOP classes, transfer syntaxes: not instance UIDs


def _new_uid(old: str) -> str:
    return generate_uid(entropy_srcs=[old, "follow-up"])


def _shift(elem: pydicom.DataElement, days: int) -> None:
    """New UIDs and later dates for one element (empty UIDs stay empty, as a re-export would keep them)."""
    if elem.VR == "UI" and elem.value:
        values = elem.value if isinstance(elem.value, list | pydicom.multival.MultiValue) else [elem.value]
        mapped = [v if not v or str(v).startswith(STANDARD_UID_ROOT) else _new_uid(str(v)) for v in values]
        elem.value = mapped if len(mapped) > 1 else mapped[0]
    elif elem.VR in ("DA", "DT") and elem.value and str(elem.value)[:8].isdigit():
        date = dt.datetime.strptime(str(elem.value)[:8], "%Y%m%d") + dt.timedelta(days=days)
        elem.value = date.strftime("%Y%m%d") + str(elem.value)[8:]


def follow_up_copy(src: Path, dst: Path, days: int = FOLLOW_UP_DAYS) -> None:
    """A copy of every DICOM file of ``src`` as a later study: new instance UIDs, dates ``days`` later."""
    for path in sorted(p for p in src.rglob("*") if p.is_file()):
        try:
            ds = pydicom.dcmread(path)
        except pydicom.errors.InvalidDicomError:
            continue
        for elem in ds.iterall():
            _shift(elem, days)
        meta = ds.file_meta
        if meta.get("MediaStorageSOPInstanceUID"):
            meta.MediaStorageSOPInstanceUID = _new_uid(str(meta.MediaStorageSOPInstanceUID))
        out = dst / path.relative_to(src)
        out.parent.mkdir(parents=True, exist_ok=True)
        ds.save_as(out)


def build_study(realdata: Path, folder: str, dst: Path) -> Path:
    """``dst/baseline`` (the real-data folder as it is) and ``dst/follow-up`` (its later copy)."""
    src = realdata / folder
    shutil.copytree(src, dst / "baseline")
    follow_up_copy(src, dst / "follow-up")
    return dst


@pytest.fixture(scope="module")
def built_studies(realdata: Path, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """``built(name)``: the two-timepoint study of ``SOURCES[name]``, built once per module (tests only read it)."""
    built: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in built:
            built[name] = build_study(realdata, SOURCES[name][0], tmp_path_factory.mktemp(name))
        return built[name]

    return get


@pytest.fixture(scope="module", params=sorted(SOURCES))
def real_study(request: pytest.FixtureRequest, built_studies: Callable[[str], Path]):
    _, ct_size, has_pet = SOURCES[request.param]
    return built_studies(request.param), ct_size, has_pet


def test_inspect_chooses_a_ct_for_every_timepoint(real_study, capsys: pytest.CaptureFixture[str]) -> None:
    study, ct_size, has_pet = real_study
    assert main(["inspect", str(study), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    (patient,) = report["patients"]
    timepoints = patient["timepoints"]
    assert len(timepoints) == 2
    baseline, follow_up = (dt.date.fromisoformat(t["study_date"]) for t in timepoints)
    assert (follow_up - baseline).days == FOLLOW_UP_DAYS
    for tp in timepoints:
        chosen = {s["modality"]: s for s in tp["series"] if s["status"] == "chosen"}
        assert set(chosen) == ({"CT", "PT"} if has_pet else {"CT"}), tp["series"]
        assert chosen["CT"]["slices"] == ct_size[2] and chosen["CT"]["geometry_issues"] == []
        if has_pet:
            assert chosen["PT"]["pet"]["suvbw"]["factor"] == 1.0  # exported in SUV (Units GML)
            assert "DERIVED" in chosen["PT"]["note"]


def test_every_timepoint_loads(real_study) -> None:
    study, ct_size, has_pet = real_study
    index = discover(study)
    timepoints = select_timepoints(index)
    assert len(timepoints) == 2
    for tp in timepoints:
        ct = load_first_usable(tp.ct_candidates, load_ct, index.root, tp.label)
        assert ct.image.GetSize() == ct_size
        hu = sitk.GetArrayViewFromImage(ct.image)
        assert hu.min() <= -900 and -150 <= float(np.median(hu[hu > -200])) <= 300, "air and soft tissue in HU"
        assert (len(tp.pet_candidates) > 0) == has_pet
        if has_pet:
            pet = load_first_usable(tp.pet_candidates, load_pet, index.root, tp.label)
            assert pet.units == "SUVbw" and pet.frame_of_reference_uid == ct.frame_of_reference_uid
            assert float(sitk.GetArrayViewFromImage(pet.image).min()) >= 0.0 and pet.suv is not None


def _tumour_seeds(masks: Path, labels: tuple[int, ...] = (2, 3)) -> list[dict[str, object]]:
    """One seed per tumour of the 3D-IRCADb label map (labels 2 and 3 by default): its deepest voxel, in LPS mm.

    The distance map is computed on the tumour's bounding box grown by one voxel (clipped to the image): every
    voxel of that margin lies outside the tumour, so each distance, and the first deepest voxel, are those of
    the whole image."""
    from scipy import ndimage

    image = sitk.ReadImage(str(masks))
    label_map = sitk.GetArrayFromImage(image)
    seeds = []
    for label in labels:
        inside = label_map == label
        box = tuple(slice(max(int(i.min()) - 1, 0), int(i.max()) + 2) for i in np.nonzero(inside))
        depth = ndimage.distance_transform_edt(inside[box], sampling=image.GetSpacing()[::-1])
        z, y, x = (int(i) + b.start for i, b in zip(np.unravel_index(int(np.argmax(depth)), depth.shape), box))
        point = image.TransformIndexToPhysicalPoint([x, y, z])
        seeds.append({"id": f"T{label - 1}", "seed_lps_mm": [round(v, 2) for v in point], "organ": "liver"})
    return seeds


def test_run_loads_every_timepoint_of_a_real_study(realdata: Path, built_studies, tmp_path: Path) -> None:
    """``run`` on the IRCAD study (GDCM-written, over-long PixelSpacing) with a seed inside its first tumour: the
    CT of both timepoints is chosen and loaded and the run completes. (Whether the tumour is found is the CT
    segmenter's business; it is not asserted here: its self-checks are switched off, so that a tumour it
    would refuse still lets the run go on to the follow-up. One tumour is enough for what is asserted: the
    second would only double the segmentation time.)"""
    from pipeline.config import RunConfig
    from pipeline.longitudinal.run import run_study
    from segmentation.ct_seeded import SeededCtConfig

    study = built_studies("ircad")  # the run writes to tmp_path only
    targets = tmp_path / "targets.json"
    targets.write_text(json.dumps({"lesions": _tumour_seeds(realdata / "ircad_patient" / "masks.nii.gz", labels=(2,))}))
    messages: list[str] = []
    # one thread: the figures are drawn in this process (no worker process to start)
    permissive = RunConfig(
        lesion=SeededCtConfig(
            min_confidence=0.0, max_unlike_outside=1.01, min_edge_fraction=0.0, ambiguous_volume_ratio=1e9
        ),
        threads=1,
    )
    run_study(study, tmp_path / "out", targets, permissive, progress=lambda message, **_: messages.append(message))
    loaded = [m for m in messages if "CT (512, 512, 119)" in m]
    assert [m.split(" (")[0] for m in loaded] == ["timepoint 0", "timepoint 1"]
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    chosen = select_timepoints(discover(study))
    assert [t["ct_series_instance_uid"] for t in run["inputs"]["timepoints"]] == [
        tp.ct_candidates[0][0].series_uid for tp in chosen
    ]
    assert any(n.startswith("PixelSpacing: DS value longer than 16 characters") for n in run["inputs"]["header_notes"])
    assert any("PixelSpacing: DS value longer than 16" in w for w in run["warnings"])
    # a CT study without PET: PERCIST does not apply, which is no reason for a warning
    assert not [w for w in run["warnings"] if "PERCIST" in w]
