"""Cohort tables: per-study CSVs concatenated in name order under one header with a study column."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.batch.cohort import concatenate_csv
from pipeline.outputs.tables import RESPONSE_COLUMNS


def _write(root: Path, study: str, text: str) -> None:
    (root / study).mkdir(parents=True)
    (root / study / "response.csv").write_text(text)


def test_concatenation_in_study_name_order(tmp_path: Path) -> None:
    _write(tmp_path, "b", 'a,x\n1,"q,r"\n')
    _write(tmp_path, "a", "a,x\n2,s\n3,t\n")
    assert concatenate_csv(tmp_path, ["b", "a"], "response.csv") == 'study,a,x\na,2,s\na,3,t\nb,1,"q,r"\n'


def test_no_complete_study_gives_the_header_only(tmp_path: Path) -> None:
    assert concatenate_csv(tmp_path, [], "response.csv") == ",".join(("study", *RESPONSE_COLUMNS)) + "\n"


def test_studies_with_other_columns_are_refused(tmp_path: Path) -> None:
    _write(tmp_path, "a", "a,x\n1,2\n")
    _write(tmp_path, "b", "a,y\n1,2\n")
    with pytest.raises(ValueError, match="--force"):
        concatenate_csv(tmp_path, ["a", "b"], "response.csv")
