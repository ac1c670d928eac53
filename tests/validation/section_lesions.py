"""Lesion segmentation on real liver CT: lesions inserted into real scans (the hybrid set), real tumours, and
a user's own cases, each run through the pipeline (``run_study``) and compared with its reference.

Cases:

* **hybrid**: ``sample_data.hybrid`` (4 cases per real background, one lesion of each of 7 appearance
  classes per case; exact truth), generated into the work folder (kept between runs of the same
  generator version and seed);
* **ircad**: the two tumours of ``ircad_patient`` against their manual masks (labels 2 and 3 of
  ``masks.nii.gz``, read in place), once seeded at each tumour's deepest point, once at a point a third
  of the way in from its border, and once with a reader's RECIST line (the manual mask's longest axial
  diameter, as a reader would draw it in a viewer; the seed at its middle);
* **user** (``--data DIR``): every ``DIR/<case>/`` with ``study/`` (DICOM), ``targets.json`` and
  ``masks/<lesion id>.nii.gz`` (any image SimpleITK reads; non-zero is lesion, floats in [0, 1] are
  fractions; resampled onto the CT grid), optionally ``classes.json`` (``{"L1": "rim", ...}``) for the
  per-class summary.

Per lesion: Dice of the pipeline's label map with the reference (voxels with fraction >= 0.5), volume error
(the pipeline's ``volume_ml`` against the exact volume of a hybrid lesion, else the reference mask's),
longest-diameter error (against the exact RECIST diameter of a hybrid lesion, else the reference mask's),
the segmenter's confidence, and the status (or the reason a lesion was refused).
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from validate import Context, Section, Target  # noqa: E402

from measurement.agreement import dice  # noqa: E402
from measurement.diameters import axial_diameters  # noqa: E402
from measurement.volume import volume_ml  # noqa: E402
from pipeline.errors import InputError  # noqa: E402

TITLE = "Lesion segmentation: hybrid set (lesions inserted into real liver CT) and real tumours"
HYBRID_SEED = 1
HYBRID_CASES = 4
MEASURABLE_MM = 10.0
MEETS = (0.85, 10.0, 1.5)  # Dice >= , |volume error| % <= , |longest-diameter error| mm <=
WITHIN_2X = (0.70, 20.0, 3.0)
REAL = (0.80, 15.0, 3.0)
CLASS_SHARE = 0.9


@dataclass
class Reference:
    """A lesion's reference: its mask (a file, or a label of a label map) and, when known exactly, its truth."""

    path: Path
    label: int | None = None
    volume_ml: float | None = None
    longest_mm: float | None = None
    cls: str = ""
    site: str = ""


@dataclass
class Case:
    group: str
    name: str
    study: Path
    targets: Path
    references: dict[str, Reference] = field(default_factory=dict)


@dataclass
class Row:
    group: str
    case: str
    lesion: str
    cls: str
    size_mm: float
    status: str
    reason: str = ""
    dice: float | None = None
    volume_error_pct: float | None = None
    ld_error_mm: float | None = None
    confidence: float | None = None

    def within(self, bounds: tuple[float, float, float]) -> bool:
        if self.status != "measured" or self.dice is None or self.volume_error_pct is None or self.ld_error_mm is None:
            return False
        return self.dice >= bounds[0] and abs(self.volume_error_pct) <= bounds[1] and abs(self.ld_error_mm) <= bounds[2]

    @property
    def verdict(self) -> str:
        if self.within(MEETS):
            return "meets"
        if self.status != "measured":
            return "refused"
        return "within 2x" if self.within(WITHIN_2X) else "WRONG"


# ---------------------------------------------------------------------------------------------- cases
def hybrid_cases(context: Context) -> list[Case]:
    from sample_data.hybrid.cases import GENERATOR_VERSION
    from sample_data.hybrid.generate import generate_set

    root = context.work / f"hybrid-v{GENERATOR_VERSION}-seed{HYBRID_SEED}"
    cases = []
    for folder in generate_set(root, context.realdata, HYBRID_SEED, HYBRID_CASES):
        truth = json.loads((folder / "truth.json").read_text())
        refs = {
            t["id"]: Reference(
                folder / "masks" / f"{t['id']}.nii.gz",
                None,
                t["volume_ml"],
                t["longest_diameter_mm"],
                t["class"],
                t["site"],
            )
            for t in truth["lesions"]
        }
        cases.append(Case("hybrid", folder.name, folder / "study", folder / "targets.json", refs))
    return cases


def ircad_cases(context: Context) -> list[Case]:
    """The two real tumours, seeded at their deepest point, off-centre, and with a reader's line (all from the
    manual masks)."""
    folder = context.realdata / "ircad_patient"
    masks = sitk.ReadImage(str(folder / "masks.nii.gz"))
    labels = sitk.GetArrayFromImage(masks)
    spacing = np.asarray(masks.GetSpacing()[::-1])
    out = []
    for mode in ("deepest", "off-centre", "line"):
        lesions = []
        refs = {}
        for k, label in enumerate((2, 3), start=1):
            tumour = labels == label
            lesion: dict = {"id": f"T{k}"}
            if mode == "line":  # a reader's RECIST line: the mask's longest axial diameter, the seed at its middle
                ends = axial_diameters(tumour, tuple(spacing)).long_axis_zyx
                lesion["seed_lps_mm"] = _lps(masks, tuple(np.mean(ends, axis=0)))
                lesion["long_axis_lps_mm"] = [_lps(masks, end) for end in ends]
            else:
                depth = ndimage.distance_transform_edt(tumour, sampling=spacing)
                if mode == "deepest":
                    index = np.unravel_index(int(np.argmax(depth)), depth.shape)
                else:  # a third of the way in from the border: the ring of depth 30-40 % of the maximum
                    ring = np.argwhere((depth > 0.3 * depth.max()) & (depth < 0.4 * depth.max()))
                    index = tuple(ring[len(ring) // 2])
                lesion["seed_lps_mm"] = _lps(masks, index)
            lesions.append(lesion)
            refs[f"T{k}"] = Reference(folder / "masks.nii.gz", label, cls="real tumour")
        targets = context.work / "ircad" / f"targets-{mode}.json"
        targets.parent.mkdir(parents=True, exist_ok=True)
        targets.write_text(json.dumps({"lesions": lesions}, indent=2) + "\n")
        out.append(Case("ircad", f"ircad-{mode}", folder / "ct", targets, refs))
    return out


def _nifti_to_lps(image: sitk.Image, point: tuple[float, ...]) -> tuple[float, float, float]:
    """SimpleITK already gives NIfTI points in LPS: the identity (kept as a named step for the reader)."""
    return (float(point[0]), float(point[1]), float(point[2]))


def _lps(image: sitk.Image, index_zyx: tuple) -> list[float]:
    """LPS mm (rounded to 0.01 mm) of a continuous voxel index (z, y, x) of ``image``."""
    point = image.TransformContinuousIndexToPhysicalPoint([float(v) for v in index_zyx[::-1]])
    return [round(v, 2) for v in _nifti_to_lps(image, point)]


def user_cases(context: Context) -> list[Case]:
    if context.data is None:
        return []
    cases = []
    for folder in sorted(p for p in context.data.iterdir() if p.is_dir()):
        targets = folder / "targets.json"
        if not targets.is_file() or not (folder / "study").is_dir():
            continue
        classes = {}
        if (folder / "classes.json").is_file():
            classes = json.loads((folder / "classes.json").read_text())
        refs = {}
        for t in json.loads(targets.read_text())["lesions"]:
            found = sorted((folder / "masks").glob(f"{t['id']}.*"))
            if found:
                refs[t["id"]] = Reference(found[0], cls=str(classes.get(t["id"], "user")))
        cases.append(Case("user", folder.name, folder / "study", targets, refs))
    return cases


# ---------------------------------------------------------------------------------------------- scoring
def _reference_on(ref: Reference, grid: sitk.Image) -> np.ndarray:
    image = sitk.ReadImage(str(ref.path))
    if ref.label is not None:
        image = sitk.Cast(image == ref.label, sitk.sitkUInt8)
    floats = image.GetPixelID() in (sitk.sitkFloat32, sitk.sitkFloat64)
    resampled = sitk.Resample(
        image,
        grid,
        sitk.Transform(),
        sitk.sitkLinear if floats else sitk.sitkNearestNeighbor,
        0.0,
        sitk.sitkFloat32 if floats else sitk.sitkUInt8,
    )
    values = sitk.GetArrayFromImage(resampled)
    return values.astype(np.float32) if floats else values > 0


def run_case(case: Case, out: Path) -> tuple[list[Row], float]:
    """Run the pipeline on the case and score every lesion; returns the rows and seconds per lesion."""
    from pipeline.longitudinal.run import run_study

    order = [t["id"] for t in json.loads(case.targets.read_text())["lesions"]]
    started = time.perf_counter()
    try:
        run_study(case.study, out, targets_file=case.targets, progress=lambda *a, **k: None)
    except InputError as exc:  # no target measurable at all: every lesion refused, with its reason
        return [_refused_row(case, lid, _reason_of(str(exc), lid, order)) for lid in order if lid in case.references], (
            time.perf_counter() - started
        ) / max(len(order), 1)
    elapsed = time.perf_counter() - started
    manifest = json.loads((out / "run.json").read_text())
    records = manifest["inputs"]["timepoints"][0]["lesions"]
    label_map = sitk.ReadImage(str(out / "masks" / "timepoint_0.nii.gz"))
    labels = sitk.GetArrayFromImage(label_map)
    spacing = tuple(float(v) for v in label_map.GetSpacing()[::-1])
    rows = []
    for record in records:
        lid = record["lesion_id"]
        ref = case.references.get(lid)
        if ref is None:
            continue
        reference = _reference_on(ref, label_map)
        true_volume = ref.volume_ml if ref.volume_ml is not None else volume_ml(reference, spacing)
        true_ld = ref.longest_mm if ref.longest_mm is not None else axial_diameters(reference, spacing).longest_mm
        row = Row(
            case.group, case.name, lid, ref.cls or case.group, true_ld, record["status"], record.get("reason") or ""
        )
        if record["status"] == "measured":
            mine = labels == order.index(lid) + 1
            row.dice = dice(mine, reference)
            row.volume_error_pct = 100.0 * (record["volume_ml"] - true_volume) / true_volume
            row.ld_error_mm = record["longest_diameter_mm"] - true_ld
            row.confidence = record.get("confidence")
        rows.append(row)
    return rows, elapsed / max(len(records), 1)


def _reason_of(message: str, lesion_id: str, order: list[str]) -> str:
    """A lesion's reason in "no target lesion found at baseline: L1: why; L2: why"."""
    start = message.find(f"{lesion_id}: ")
    if start < 0:
        return message
    start += len(lesion_id) + 2
    ends = [message.find(f"; {other}: ", start) for other in order if other != lesion_id]
    ends = [e for e in ends if e >= 0]
    return message[start : min(ends)] if ends else message[start:]


def _refused_row(case: Case, lesion_id: str, reason: str) -> Row:
    ref = case.references[lesion_id]
    size = ref.longest_mm
    if size is None:
        reference = sitk.ReadImage(str(ref.path))
        mask = sitk.GetArrayFromImage(reference)
        mask = mask == ref.label if ref.label is not None else mask > 0
        size = axial_diameters(mask, tuple(float(v) for v in reference.GetSpacing()[::-1])).longest_mm
    return Row(case.group, case.name, lesion_id, ref.cls or case.group, size, "not_found", reason)


# ---------------------------------------------------------------------------------------------- report
def _fmt(v: float | None, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def table(rows: list[Row]) -> str:
    head = f"  {'case':<22} {'lesion':<6} {'class':<14} {'size mm':>7} {'Dice':>6} {'vol %':>7} {'LD mm':>6} {'conf':>5}  verdict / reason"
    lines = [head]
    for r in rows:
        why = r.verdict if r.status == "measured" else f"refused: {r.reason}"
        lines.append(
            f"  {r.case:<22} {r.lesion:<6} {r.cls:<14} {r.size_mm:7.1f} {_fmt(r.dice, '6.3f')} "
            f"{_fmt(r.volume_error_pct, '+7.1f')} {_fmt(r.ld_error_mm, '+6.2f')} {_fmt(r.confidence, '5.2f')}  {why}"
        )
    return "\n".join(lines)


def summary(rows: list[Row]) -> tuple[str, list[Target]]:
    lines = ["", f"  {'class':<14} {'n':>3} {'meets':>6} {'2x':>4} {'refused':>8} {'wrong':>6}  share meeting"]
    targets = []
    classes = sorted({r.cls for r in rows if r.group == "hybrid"})
    for cls in classes:
        sel = [r for r in rows if r.group == "hybrid" and r.cls == cls and r.size_mm >= MEASURABLE_MM]
        counts = {v: sum(r.verdict == v for r in sel) for v in ("meets", "within 2x", "refused", "WRONG")}
        share = counts["meets"] / len(sel) if sel else 0.0
        lines.append(
            f"  {cls:<14} {len(sel):>3} {counts['meets']:>6} {counts['within 2x']:>4} {counts['refused']:>8} "
            f"{counts['WRONG']:>6}  {100 * share:5.0f} %"
        )
        targets.append(
            Target(
                f"hybrid {cls}: lesions >= 10 mm meeting all three",
                f">= {100 * CLASS_SHARE:.0f} %, 0 wrong",
                f"{100 * share:.0f} %, {counts['WRONG']} wrong",
                share >= CLASS_SHARE and counts["WRONG"] == 0,
            )
        )
    for r in rows:
        if r.group != "ircad":
            continue
        measured = f"{_fmt(r.dice, '.2f')}/{_fmt(r.volume_error_pct, '+.0f')}%/{_fmt(r.ld_error_mm, '+.1f')}"
        targets.append(
            Target(
                f"{r.case} {r.lesion}: Dice, volume, LD",
                ">=0.80/15%/3mm",
                measured if r.status == "measured" else "refused",
                r.within(REAL),
            )
        )
    return "\n".join(lines), targets


def prepare(context: Context) -> None:
    """The hybrid set, written once for the sections that read it (this one and automatic mode's)."""
    hybrid_cases(context)


def run(context: Context) -> Section:
    cases = hybrid_cases(context) + ircad_cases(context) + user_cases(context)
    rows: list[Row] = []
    per_lesion: list[float] = []
    for case in cases:
        case_rows, seconds = run_case(case, context.work / "runs" / case.name)
        rows += case_rows
        per_lesion.append(seconds)
    text, targets = summary(rows)
    notes = (
        f"pipeline time per target (load, liver, segmentation, measures, outputs): median "
        f"{np.median(per_lesion):.1f} s over {len(cases)} runs",
        "rows below 10 mm (true size) are listed but not counted in the per-class shares",
    )
    return Section(TITLE, table(rows) + "\n" + text, tuple(targets), notes)
