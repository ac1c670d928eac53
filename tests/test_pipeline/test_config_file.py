"""The TOML configuration file and the annotations of the targets file: accepted values and one-line refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.cli.main import main
from pipeline.config import RunConfig
from pipeline.config_file import load_config
from pipeline.errors import ConfigFileError, TargetsError
from pipeline.targets.annotations import parse_annotations
from pipeline.targets.json_file import parse_targets


def test_defaults_are_the_published_values():
    c = RunConfig()
    assert (c.recist.pr_change_pct, c.recist.pd_change_pct, c.recist.pd_absolute_mm) == (-30.0, 20.0, 5.0)
    assert (c.recist.max_targets_total, c.recist.max_targets_per_organ, c.recist.too_small_mm) == (5, 2, 5.0)
    assert (c.recist.min_measurable_mm, c.recist.min_node_short_axis_mm, c.recist.node_normal_short_axis_mm) == (
        10.0,
        15.0,
        10.0,
    )
    assert (c.volumetric.pr_change_pct, c.volumetric.pd_change_pct) == (-65.0, 73.0)
    assert (c.choi.size_pr_change_pct, c.choi.size_pd_change_pct, c.choi.density_pr_change_pct) == (-10.0, 10.0, -15.0)
    assert (
        c.percist.pmr_change_pct,
        c.percist.pmr_absolute_sul,
        c.percist.pmd_change_pct,
        c.percist.pmd_absolute_sul,
    ) == (-30.0, 0.8, 30.0, 0.8)
    assert (
        c.percist.liver_measurable_factor,
        c.percist.blood_pool_measurable_factor,
        c.percist.measurable_sd_factor,
    ) == (1.5, 2.0, 2.0)


def test_a_configuration_file(tmp_path: Path):
    path = tmp_path / "c.toml"
    path.write_text('[recist]\nmax_targets_per_organ = 5\npd_absolute_mm = 5\n[choi]\npd_reference = "baseline"\n')
    config = load_config(path, RunConfig(threads=1))
    assert config.recist.max_targets_per_organ == 5 and config.recist.pd_absolute_mm == 5.0 and config.threads == 1
    assert config.choi.pd_reference == "baseline" and config.percist.lbm_formula == "james"
    assert config.config_file == str(path.resolve()) and len(config.config_file_sha256 or "") == 64


def test_segmentation_sections(tmp_path: Path):
    path = tmp_path / "c.toml"
    path.write_text('[pet_lesion]\nmethod = "percist"\n[detection]\nmin_contrast_hu = 20\n')
    config = load_config(path)
    assert config.pet_lesion.method == "percist" and config.detection.min_contrast_hu == 20.0


def test_pet_volumes_follow_the_percist_threshold(baseline_study: Path, tmp_path: Path):
    """With [pet_lesion] method = "percist", each lesion's PET region (MTV) is the connected voxels at or above
    1.5 x liver mean + 2 SD of the reported liver reference around its SUVmax (here all inside the search VOI).
    The baseline is the subject: the run is on the sample study's baseline alone."""
    import numpy as np
    from scipy import ndimage

    from pipeline import spatial
    from pipeline.dicom.discover import discover
    from pipeline.dicom.load import load_pet
    from pipeline.dicom.selection import select_timepoints

    (tmp_path / "c.toml").write_text('[pet_lesion]\nmethod = "percist"\n')
    out = tmp_path / "out"
    config = str(tmp_path / "c.toml")
    argv = [
        "run",
        str(baseline_study),
        "-o",
        str(out),
        "--config",
        config,
        "-q",
        "--no-pdf",
    ]
    assert main(argv) == 0
    run = json.loads((out / "run.json").read_text())
    assert run["parameters"]["pet_lesion"]["method"] == "percist"
    assert len(run["inputs"]["timepoints"]) == 1
    baseline = run["inputs"]["timepoints"][0]
    reference = baseline["pet_reference"]
    assert reference["reference"] == "liver"
    threshold = 1.5 * reference["mean_suv"] + 2.0 * reference["sd_suv"]
    timepoint = select_timepoints(discover(baseline_study, ignore={baseline_study / "targets.json"}))[0]
    pet = load_pet(timepoint.pet_candidates[0])
    suv = spatial.array_zyx(pet.image)
    voxel_ml = float(np.prod(spatial.spacing_zyx(pet.image))) / 1000.0
    for lesion in baseline["lesions"]:
        centre = np.round(spatial.lps_to_index_zyx(pet.image, np.asarray(lesion["centroid_lps_mm"]))).astype(int)
        near = tuple(slice(c - 3, c + 4) for c in centre)  # within ~12 mm of the CT centroid
        top = np.unravel_index(int(np.argmax(suv[near])), suv[near].shape) + centre - 3
        assert suv[tuple(top)] == pytest.approx(lesion["suv_max"], rel=1e-5)
        labels, _ = ndimage.label(suv >= threshold)
        assert lesion["mtv_ml"] == pytest.approx(np.count_nonzero(labels == labels[tuple(top)]) * voxel_ml, rel=1e-6)


@pytest.mark.parametrize(
    "text, message",
    [
        ('[pet_lesion]\nmethod = "otsu"\n', "[pet_lesion] method: must be one of 41pct, fixed, percist, got 'otsu'"),
        ("[pet_lesion]\nfraction_of_max = 1.5\n", "[pet_lesion] fraction_of_max: must be in (0, 1]"),
        ("[pet_lesion]\nfraction_of_max = 0\n", "must be in (0, 1]"),
        ("[detection]\nsmoothing_mm = -1\n", "[detection] smoothing_mm: must be in [0, 20], got -1"),
        ("[detection]\nmin_confidence = 2\n", "must be in [0, 1]"),
        ("[detection]\nmax_targets_per_organ = 5\n", "[detection] max_targets_per_organ: unknown option (allowed: "),
        ("[recist]\nmax_targets = 3\n", "[recist] max_targets: unknown option"),
        ("[recist]\nmax_targets = 3\n", "did you mean max_targets_total?"),
        (
            "[mrecist]\n",
            "[mrecist]: unknown section (allowed: recist, volumetric, choi, percist, pet_lesion, detection",
        ),
        ("[recist]\nmax_targets_total = 2.5\n", "[recist] max_targets_total: must be a whole number, got 2.5"),
        ("[recist]\nmax_targets_total = 0\n", "[recist] max_targets_total: must be in [1, 100], got 0"),
        ("[recist]\nconfirm_response = 1\n", "[recist] confirm_response: must be true or false, got 1"),
        ("[recist]\npr_change_pct = 30\n", "[recist] pr_change_pct: must be in [-100, 0), got 30"),
        ("[percist]\npmd_change_pct = -5\n", "[percist] pmd_change_pct: must be in (0, 1000], got -5"),
        ("[recist]\npd_absolute_mm = nan\n", "[recist] pd_absolute_mm: must be a finite number, got nan"),
        ("[choi]\ndensity_pr_change_pct = -inf\n", "must be a finite number, got -inf"),
        ("recist = 3\n", "[recist]: must be a table of options, got 3"),
        ("[pet_lesion]\nsearch_margin_mm = 1e300\n", "[pet_lesion] search_margin_mm: must be"),
        ("[recist]\nmin_sd_days = 100000000000000000000000\n", "[recist] min_sd_days: must be"),
        ("[recist]\nx = [" + "[" * 2000 + "]" * 2000 + "]\n", "not usable TOML (RecursionError)"),
        ('[percist]\nlbm_formula = "boer"\n', "must be one of james, janmahasatian"),
        ("[recist\n", "not valid TOML"),
    ],
)
def test_bad_configuration_files(tmp_path: Path, text: str, message: str):
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigFileError) as exc:
        load_config(path)
    assert message in str(exc.value) and str(path) in str(exc.value)


def test_cli_refuses_a_bad_configuration_before_running(tmp_path: Path, capsys):
    (tmp_path / "c.toml").write_text("[recist]\nfoo = 1\n")
    out = tmp_path / "out"
    assert main(["run", str(tmp_path), "-o", str(out), "--config", str(tmp_path / "c.toml")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown option" in err[0] and not out.exists()


@pytest.mark.parametrize(
    "extra, message",
    [
        ({"new_lesions": [{"note": "x"}]}, "new_lesions[0]: give timepoint or study_date"),
        ({"new_lesions": [{"timepoint": 0}]}, "new_lesions[0].timepoint: must be at least 1, got 0"),
        ({"new_lesions": [{"study_date": "5 May"}]}, "new_lesions[0].study_date: must be a study date YYYY-MM-DD"),
        (
            {"new_lesions": [{"study_date": "2026-02-30"}]},
            "new_lesions[0].study_date: must be a valid date YYYY-MM-DD, got '2026-02-30'",
        ),
        ({"new_lesions": [{"timepoint": 1, "where": "segment II"}]}, "new_lesions[0].where: unknown key"),
        (
            {"lesion_status": [{"lesion_id": "L9", "timepoint": 1, "status": "too_small"}]},
            "lesion_status[0].lesion_id: must name a target of \"lesions\" (L1), got 'L9'",
        ),
        (
            {"lesion_status": [{"lesion_id": "L1", "timepoint": 1, "status": "measured"}]},
            "lesion_status[0].status: must be one of too_small, disappeared, not_evaluated, got 'measured'",
        ),
        ({"liver_reference_lps_mm": [1, 2]}, "liver_reference_lps_mm: must be three numbers [x, y, z]"),
    ],
)
def test_bad_annotations(extra: dict, message: str):
    data = {"lesions": [{"id": "L1", "seed_lps_mm": [0, 0, 0]}], **extra}
    with pytest.raises(TargetsError) as exc:
        parse_annotations(data, "t.json", {t.lesion_id for t in parse_targets(data, "t.json")})
    assert str(exc.value).startswith(f"t.json: {message}")


def test_annotations_match_timepoints_by_index_or_date():
    data = json.loads(
        '{"new_lesions": [{"study_date": "2026-05-04"}], "lesion_status": [{"lesion_id": "L1", "timepoint": 2, "status": "disappeared"}]}'
    )
    import datetime as dt

    a = parse_annotations(data, "t.json", {"L1"})
    assert a.new_lesion_at(1, dt.date(2026, 5, 4)) and not a.new_lesion_at(2, dt.date(2026, 6, 4))
    assert a.status_of("L1", 2, None).value == "disappeared" and a.status_of("L1", 1, None) is None
