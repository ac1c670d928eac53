"""report.html and cohort_report.html: self-contained, complete, and rendered by a real headless Chromium.

The browser tests need Debian's ``chromium`` and ``chromium-driver`` (installed
by .ci/run) and are skipped only when they are not installed.
"""

from __future__ import annotations

import csv
import io
import json
import os
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
    for name in ("measurements.csv", "response.csv", "best_response.csv", "summary.json", "run.json"):
        shutil.copy(src / name, dst / name)
    shutil.copytree(src / "qc", dst / "qc")
    return dst


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_patient_report_is_written_and_self_contained(pipeline_output: Path) -> None:
    page = _Page((pipeline_output / "report.html").read_text(encoding="utf-8"))
    _assert_self_contained(page)
    manifest = json.loads((pipeline_output / "run.json").read_text())
    lesion_ids = [t["lesion_id"] for t in manifest["targets"]]
    lesion_tables = [r for r in page.rows if r and r[0] == "Lesion"]
    assert len(lesion_tables) == 2 and all(len(r) == 1 + len(manifest["inputs"]["timepoints"]) for r in lesion_tables)
    assert sorted(r[0] for r in page.rows if r and r[0] in lesion_ids) == sorted(lesion_ids)
    n_qc = len(list((pipeline_output / "qc").glob("*.png")))
    assert sum(t == "img" for t, _ in page.tags) == 4 + n_qc  # 4 plots + every QC image


def test_best_response_block_shows_every_criterion(pipeline_output: Path, ground_truth: dict) -> None:
    """The block at the top: per criterion the best overall response and time to progression of the generator's
    categories (response at the first follow-up, progression at the last)."""
    text = (pipeline_output / "report.html").read_text(encoding="utf-8")
    page = _Page(text)
    assert text.index('id="best-response"') < text.index("<h2>Lesions</h2>")
    rows = {r[0]: r for r in page.rows if r and r[0] in ("RECIST 1.1", "Volumetric", "Choi", "PERCIST 1.0")}
    timepoints = ground_truth["timepoints"]
    days = [tp["days_from_baseline"] for tp in timepoints]
    for label, criterion in (
        ("RECIST 1.1", "recist"),
        ("Volumetric", "volumetric"),
        ("Choi", "choi"),
        ("PERCIST 1.0", "percist"),
    ):
        best, ttp = rows[label][1], rows[label][2]
        assert best == f"{timepoints[1][criterion]} at timepoint 1 (day {days[1]})"
        assert ttp == f"progression at timepoint 2: {days[2]} days ({days[2] / 30.4375:.1f} months)"
    assert rows["RECIST 1.1"][3] == ", ".join(timepoints[0]["recist_targets"])
    notice = text[text.index('id="new-lesions"') :]
    assert "New lesions were not assessed</b> at timepoint(s) 1, 2" in notice[:200]


def test_targets_and_non_targets_are_apart(pipeline_output: Path, ground_truth: dict) -> None:
    text = (pipeline_output / "report.html").read_text(encoding="utf-8")
    targets = ground_truth["timepoints"][0]["recist_targets"]
    others = sorted({l["lesion_id"] for l in ground_truth["timepoints"][0]["lesions"]} - set(targets))
    target_part = text[text.index("<h3>Target lesions (") : text.index("<h3>Non-target lesions (")]
    other_part = text[text.index("<h3>Non-target lesions (") : text.index("<h2>Response per timepoint")]
    assert all(f"<b>{i}</b>" in target_part for i in targets) and not any(f"<b>{i}</b>" in target_part for i in others)
    assert all(f"<b>{i}</b>" in other_part and f"{i}: more than 2 target(s) in liver" in other_part for i in others)
    assert 'class="non-target"' in other_part and "not summed, not in the plots" in other_part


def test_values_are_rounded_to_the_measurement_precision(pipeline_output: Path) -> None:
    page = _Page((pipeline_output / "report.html").read_text(encoding="utf-8"))
    measured = {(r["lesion_id"], r["timepoint"]): r for r in _rows(pipeline_output / "measurements.csv")}
    l1 = next(r for r in page.rows if r and r[0] == "L1")
    m = measured[("L1", "0")]
    assert l1[1].startswith(
        f"LD {float(m['longest_diameter_mm']):.1f} mm, SA {float(m['short_axis_mm']):.1f} mm"
        f"{float(m['volume_ml']):.1f} ml, {float(m['mean_hu']):.1f} HU"
        f"SUVmax {float(m['suv_max']):.2f}, SUVpeak {float(m['suv_peak']):.2f}"
    )
    header = next(r for r in page.rows if r and r[0] == "Timepoint" and "Sum of diameters (mm)" in r)
    response = _rows(pipeline_output / "response.csv")
    row = next(r for r in page.rows if r and r[0] == "1" and len(r) == len(header))
    assert row[header.index("Sum of diameters (mm)")] == f"{float(response[1]['sum_diameters_mm']):.1f}"
    assert row[header.index("Target volume (ml)")] == f"{float(response[1]['total_volume_ml']):.1f}"


def test_patient_report_shows_every_response_column(pipeline_output: Path, tmp_path: Path) -> None:
    """A column added to response.csv later (here a hypothetical iRECIST) appears without code changes."""
    out = _copy_outputs(pipeline_output, tmp_path / "out")
    rows = _rows(out / "response.csv")
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
    headers = [r for r in _Page(text).rows if r and r[0] == "Timepoint"]
    shown = {h for r in headers for h in r}
    assert {"irecist", "irecist change (%)"} <= shown
    for name in rows[0]:
        if name != "patient_id":
            assert any(name in h or h.startswith(_label(name)) for h in shown), name


def _label(name: str) -> str:
    from pipeline.outputs.columns import column

    return column(name, "response.csv").label


def test_patient_report_shows_a_lesion_not_found(pipeline_output: Path, tmp_path: Path) -> None:
    out = _copy_outputs(pipeline_output, tmp_path / "out")
    with (out / "measurements.csv").open(newline="") as f:
        reader = csv.DictReader(f)
        columns, rows = reader.fieldnames, list(reader)
    assert columns is not None
    victim = next(r for r in rows if r["timepoint"] == "2" and r["lesion_id"] == "L3")
    for column in columns[columns.index("longest_diameter_mm") :]:
        victim[column] = ""
    victim["status"], victim["not_found_reason"] = "not_found", "nothing hypodense where registration puts it"
    (out / "qc" / "lesion_L3_timepoint_2.png").unlink()
    with (out / "measurements.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    page = _Page(write_patient_report(out).read_text(encoding="utf-8"))
    l3 = next(r for r in page.rows if r and r[0] == "L3")
    assert l3[3] == "not foundnothing hypodense where registration puts it" and l3[1].startswith("LD ")
    assert not [a for t, a in page.tags if t == "a" and a.get("href") == "#qc-L3-2"]
    assert not [a for t, a in page.tags if t == "figure" and a.get("id") == "qc-L3-2"]


def test_liver_images_get_their_section(pipeline_output: Path, tmp_path: Path) -> None:
    out = _copy_outputs(pipeline_output, tmp_path / "out")
    page = _Page(write_patient_report(out).read_text(encoding="utf-8"))
    assert ("figure", {"id": "qc-liver-0"}) in page.tags
    for png in (out / "qc").glob("liver_timepoint_*.png"):
        png.unlink()
    manifest = json.loads((out / "run.json").read_text(encoding="utf-8"))
    for tp in manifest["inputs"]["timepoints"]:
        tp.pop("liver", None)
    (out / "run.json").write_text(json.dumps(manifest), encoding="utf-8")
    assert "<h2>Liver</h2>" not in write_patient_report(out).read_text(encoding="utf-8")
    shutil.copy(out / "qc" / "registration_timepoint_1.png", out / "qc" / "liver_timepoint_0.png")
    page = _Page(write_patient_report(out).read_text(encoding="utf-8"))
    assert ("figure", {"id": "qc-liver-0"}) in page.tags


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
    header = next(r for r in page.rows if r and r[0] == "study" and "best change (%)" in r)
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
    bor_header = next(r for r in page.rows if r and r[0] == "study" and "RECIST 1.1 BOR" in r)
    (real_bor,) = [r for r in page.rows if r and r[0] == "real" and len(r) == len(bor_header)]
    own = {r["criterion"]: r for r in _rows(pipeline_output / "best_response.csv")}
    assert real_bor[bor_header.index("RECIST 1.1 BOR")] == own["recist"]["best_overall_response"]
    assert real_bor[bor_header.index("PERCIST 1.0 TTP")] == f"{own['percist']['ttp_days']} d"


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
    assert browser.execute_script("return document.images.length") == 4 + n_qc
    # screenshots: the plot is drawn (not blank) and the first QC image shows its magenta long axis
    plot = _element_png(browser, "#plot-sum")
    assert (
        plot.shape[1] >= 600 and plot.std() > 0.05 and (plot.sum(axis=2) < 0.3).mean() > 0.002
    )  # black curve and text
    qc = np.round(_element_png(browser, ".qc figure img") * 255).astype(int)
    assert np.all(qc == np.asarray(LONG_AXIS_RGB), axis=2).sum() >= 10


TABLES_JS = """
return Array.from(document.querySelectorAll('table')).map((t, k) => ({
  index: k, scroll: t.scrollWidth, client: t.clientWidth, right: t.getBoundingClientRect().right,
  headers: Array.from(t.querySelectorAll('th')).map(h => {
    const r = h.getBoundingClientRect(), T = t.getBoundingClientRect();
    return {text: h.textContent, left: r.left - T.left, right: r.right - T.left, top: r.top - T.top, bottom: r.bottom - T.top};
  })}));
"""


@pytest.mark.parametrize("width", [1280, 1920])
def test_every_column_is_shown_at_1280_and_1920_px(browser, pipeline_output: Path, tmp_path: Path, width: int) -> None:
    """No table overflows its box or the window, and each table's screenshot shows text in every column heading
    (screenshots kept in $REPORT_SCREENSHOTS when set)."""
    from selenium.webdriver.common.by import By

    browser.set_window_size(width, 1000)
    try:
        _open(browser, pipeline_output / "report.html")
        viewport = browser.execute_script("return document.documentElement.clientWidth")
        assert browser.execute_script("return document.documentElement.scrollWidth") <= viewport
        assert browser.find_element(By.ID, "best-response").is_displayed()
        tables = browser.execute_script(TABLES_JS)
        assert len(tables) >= 6
        elements = browser.find_elements(By.TAG_NAME, "table")
        keep = Path(os.environ.get("REPORT_SCREENSHOTS", tmp_path))
        keep.mkdir(parents=True, exist_ok=True)
        for table, element in zip(tables, elements, strict=True):
            assert table["scroll"] <= table["client"] and table["right"] <= viewport, table
            browser.execute_script("arguments[0].scrollIntoView()", element)
            png = element.screenshot_as_png
            (keep / f"report-{width}px-table-{table['index']}.png").write_bytes(png)
            shot = mpimg.imread(io.BytesIO(png), format="png")[..., :3]
            for h in table["headers"]:
                assert h["left"] >= 0 and h["right"] <= table["client"] + 1, (width, h)
                box = shot[int(h["top"]) + 1 : int(h["bottom"]) - 1, int(h["left"]) + 1 : int(h["right"]) - 1]
                assert (box.sum(axis=2) < 1.5).any(), (width, h["text"])  # dark text pixels in the heading
        browser.set_window_size(
            width, min(browser.execute_script("return document.documentElement.scrollHeight"), 12000)
        )
        browser.save_screenshot(str(keep / f"report-{width}px.png"))
    finally:
        browser.set_window_size(1400, 1000)


def test_report_pdf_pages_and_first_page(pipeline_output: Path) -> None:
    """report.pdf beside report.html: A4 pages numbered "page k of N", the patient and the best-response block first."""
    import pypdf

    if not (pipeline_output / "report.pdf").exists():
        _no_browser()
    reader = pypdf.PdfReader(pipeline_output / "report.pdf")
    n = len(reader.pages)
    assert 4 <= n <= 30, n
    first = reader.pages[0].extract_text()
    for text in (
        "Target lesion report: patient LP-SYN-0001",
        "Best overall response and time to progression",
        "RECIST 1.1",
        "PERCIST 1.0",
        "New lesions were not assessed",
        f"page 1 of {n}",
    ):
        assert text in first, text
    assert f"page {n} of {n}" in reader.pages[-1].extract_text()
    width_pt, height_pt = (float(v) for v in reader.pages[0].mediabox.upper_right)
    assert (round(width_pt / 72 * 25.4), round(height_pt / 72 * 25.4)) == (210, 297)  # A4 in mm
    assert "report.pdf" in json.loads((pipeline_output / "run.json").read_text())["outputs"]


def _no_browser() -> None:
    if os.environ.get("CI") == "true" or BROWSER is not None:
        pytest.fail("report.pdf missing although a headless Chromium is installed (or under CI)")
    pytest.skip("no headless Chromium (Debian chromium) installed: no report.pdf")


def test_a_browser_that_fails_gives_a_clear_error(pipeline_output: Path, tmp_path: Path) -> None:
    from pipeline.errors import PdfError
    from pipeline.outputs.report.pdf import write_pdf

    with pytest.raises(PdfError, match="exited with status 1 without a PDF"):
        write_pdf(pipeline_output / "report.html", tmp_path / "r.pdf", shutil.which("false") or "/bin/false")


def test_cohort_report_renders_in_chromium(browser, pipeline_output: Path, tmp_path: Path) -> None:
    path = _cohort(pipeline_output, tmp_path / "cohort")
    _open(browser, path)
    _assert_loaded_cleanly(browser)
    waterfall = _element_png(browser, "#plot-waterfall")
    assert waterfall.std() > 0.05
