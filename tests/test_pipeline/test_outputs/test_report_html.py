"""report.html and cohort_report.html: self-contained, complete, and rendered by a real headless Chromium.

The browser tests need Debian's ``chromium`` and ``chromium-driver`` (installed
by .ci/run) and are skipped only when they are not installed.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import tempfile
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest

from pipeline.outputs.qc_lesion import LONG_AXIS_RGB
from pipeline.outputs.report import write_cohort_report, write_patient_report

BROWSER = shutil.which("chromium")
DRIVER = shutil.which("chromedriver")


class _Page(HTMLParser):
    """Collects tags with their attributes and the text of table rows."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _assert_self_contained(page: _Page) -> None:
    assert not [t for t, _ in page.tags if t in ("script", "iframe", "object", "embed")]
    for tag, attrs in page.tags:
        if tag == "img":
            assert attrs["src"].startswith("data:image/png;base64,"), attrs["src"][:60]
        for key in ("src", "href"):
            value = attrs.get(key, "")
            assert not value.startswith(("http:", "https:", "//", "file:")), (tag, value[:80])


def _copy_outputs(src: Path, dst: Path) -> Path:
    dst.mkdir(parents=True)
    for name in ("measurements.csv", "response.csv", "run.json"):
        shutil.copy(src / name, dst / name)
    shutil.copytree(src / "qc", dst / "qc")
    return dst


def test_patient_report_is_written_and_self_contained(pipeline_output: Path) -> None:
    page = _Page((pipeline_output / "report.html").read_text(encoding="utf-8"))
    _assert_self_contained(page)
    manifest = json.loads((pipeline_output / "run.json").read_text())
    lesion_ids = [t["lesion_id"] for t in manifest["targets"]]
    timeline = next(r for r in page.rows if r and r[0] == "lesion")
    assert len(timeline) == 1 + len(manifest["inputs"]["timepoints"])
    assert [r[0] for r in page.rows if r and r[0] in lesion_ids] == lesion_ids
    n_qc = len(list((pipeline_output / "qc").glob("*.png")))
    assert sum(t == "img" for t, _ in page.tags) == 3 + n_qc  # 3 plots + every QC image


def test_patient_report_shows_every_criterion_column(pipeline_output: Path, tmp_path: Path) -> None:
    """A criterion column added to response.csv later (here a hypothetical iRECIST) appears without code changes."""
    out = _copy_outputs(pipeline_output, tmp_path / "out")
    with (out / "response.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert {"choi", "percist", "volumetric"} <= set(rows[0])
    extra = {"irecist": ["baseline", "PR", "SD"], "irecist_change_pct": ["", "-41.2", "30.5"]}
    with (out / "response.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, [*rows[0], *extra], lineterminator="\n")
        writer.writeheader()
        for k, row in enumerate(rows):
            writer.writerow({**row, **{c: v[k] for c, v in extra.items()}})
    text = write_patient_report(out).read_text(encoding="utf-8")
    assert "Criteria in response.csv: choi, irecist, percist, recist, volumetric." in text
    for css, value in (("pmd", "PMD"), ("pmr", "PMR"), ("pd", "PD"), ("pr", "PR")):
        assert f'<span class="badge {css}">{value}</span>' in text
    header = next(r for r in _Page(text).rows if r and r[0] == "timepoint")
    assert header[-2:] == ["irecist", "irecist_change_pct"]


def test_patient_report_shows_a_lesion_not_found(pipeline_output: Path, tmp_path: Path) -> None:
    out = _copy_outputs(pipeline_output, tmp_path / "out")
    with (out / "measurements.csv").open(newline="") as f:
        reader = csv.DictReader(f)
        columns, rows = reader.fieldnames, list(reader)
    victim = next(r for r in rows if r["timepoint"] == "2" and r["lesion_id"] == "L3")
    for column in columns[columns.index("status") + 1 :]:
        victim[column] = ""
    victim["status"] = "not_found"
    (out / "qc" / "lesion_L3_timepoint_2.png").unlink()
    with (out / "measurements.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    page = _Page(write_patient_report(out).read_text(encoding="utf-8"))
    l3 = next(r for r in page.rows if r and r[0] == "L3")
    assert l3[3].startswith("not_found") and l3[1].startswith("LD ")
    assert not [a for t, a in page.tags if t == "a" and a.get("href") == "#qc-L3-2"]
    assert not [a for t, a in page.tags if t == "figure" and a.get("id") == "qc-L3-2"]


def _cohort(pipeline_output: Path, root: Path) -> Path:
    """OUT_ROOT with the real study, a study with hand-written changes, one without follow-up, and one failure."""
    shutil.copytree(pipeline_output, root / "real")
    for name, changes, recist in (
        ("handmade", ["", "-10.0", "-35.0", "5.0"], ["baseline", "SD", "PR", "PD"]),
        ("baseline_only", [""], ["baseline"]),
    ):
        (root / name).mkdir()
        lines = ["patient_id,timepoint,study_date,days_from_baseline,sum_diameters_mm,change_from_baseline_pct,recist"]
        lines += [f"P-{name},{k},,,{50 + k},{c},{r}" for k, (c, r) in enumerate(zip(changes, recist, strict=True))]
        (root / name / "response.csv").write_text("\n".join(lines) + "\n")
    (root / "batch_summary.csv").write_text(
        "study,status,error\nreal,ok,\nhandmade,ok,\nbaseline_only,ok,\nbroken,failed,no DICOM files\n"
    )
    return write_cohort_report(root)


def test_cohort_report_best_change(pipeline_output: Path, tmp_path: Path) -> None:
    path = _cohort(pipeline_output, tmp_path / "cohort")
    page = _Page(path.read_text(encoding="utf-8"))
    _assert_self_contained(page)
    rows = {r[0]: r for r in page.rows if r and r[0] in ("real", "handmade", "baseline_only")}
    header = next(r for r in page.rows if r and r[0] == "study")
    best, at = header.index("best change (%)"), header.index("at timepoint")
    assert (rows["handmade"][best], rows["handmade"][at]) == ("-35.0", "2")
    assert rows["handmade"][header.index("recist at best")] == "PR"
    assert rows["handmade"][header.index("recist at last")] == "PD"
    with (pipeline_output / "response.csv").open(newline="") as f:
        real = [float(r["change_from_baseline_pct"]) for r in csv.DictReader(f) if r["change_from_baseline_pct"]]
    assert rows["real"][best] == f"{min(real):+.1f}"
    assert rows["baseline_only"][best] == ""
    assert ["broken", "failed", "no DICOM files"] in page.rows
    assert sum(t == "img" for t, _ in page.tags) == 1  # the waterfall
    assert ("a", {"href": "real/report.html"}) in page.tags


# --- in a real browser ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if BROWSER is None or DRIVER is None:
        pytest.skip("chromium and chromedriver (Debian chromium, chromium-driver) not installed")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="report-test-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = BROWSER
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--force-device-scale-factor=1",
        f"--user-data-dir={profile}",
        "--window-size=1400,1000",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _open(driver, path: Path) -> None:
    driver.get_log("browser")  # drop what an earlier page logged
    driver.get(path.resolve().as_uri())
    driver.execute_script("return document.readyState")


def _assert_loaded_cleanly(driver) -> None:
    images = driver.execute_script(
        "return Array.from(document.images).map(i => ({alt: i.alt, complete: i.complete, w: i.naturalWidth, h: i.naturalHeight}))"
    )
    assert images and all(i["complete"] and i["w"] > 0 and i["h"] > 0 for i in images), images
    fetched = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert [u for u in fetched if not u.startswith("data:")] == []
    errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    assert errors == []


def _element_png(driver, css: str) -> np.ndarray:
    from selenium.webdriver.common.by import By

    element = driver.find_element(By.CSS_SELECTOR, css)
    driver.execute_script("arguments[0].scrollIntoView()", element)
    return mpimg.imread(io.BytesIO(element.screenshot_as_png), format="png")[..., :3]


def test_patient_report_renders_in_chromium(browser, pipeline_output: Path) -> None:
    _open(browser, pipeline_output / "report.html")
    _assert_loaded_cleanly(browser)
    n_qc = len(list((pipeline_output / "qc").glob("*.png")))
    assert browser.execute_script("return document.images.length") == 3 + n_qc
    # screenshots: the plot is drawn (not blank) and the first QC image shows its magenta long axis
    plot = _element_png(browser, "#plot-sum")
    assert (
        plot.shape[1] >= 600 and plot.std() > 0.05 and (plot.sum(axis=2) < 0.3).mean() > 0.002
    )  # black curve and text
    qc = np.round(_element_png(browser, ".qc figure img") * 255).astype(int)
    assert np.all(qc == np.asarray(LONG_AXIS_RGB), axis=2).sum() >= 10


def test_cohort_report_renders_in_chromium(browser, pipeline_output: Path, tmp_path: Path) -> None:
    path = _cohort(pipeline_output, tmp_path / "cohort")
    _open(browser, path)
    _assert_loaded_cleanly(browser)
    waterfall = _element_png(browser, "#plot-waterfall")
    assert waterfall.std() > 0.05
