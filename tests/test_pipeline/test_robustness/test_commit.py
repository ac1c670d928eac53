"""OUT_DIR as a transaction: SIGKILL or an error at 20 evenly spread instants of the commit never leaves a mixed
result; a second run into the same folder is refused; a refused run leaves OUT_DIR as it was."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from cli_in_process import cli_logging
from commit_child import expected_files, write_result

from pipeline.cli.main import main
from pipeline.errors import InputError
from pipeline.outputs import names
from pipeline.outputs.staging import WORK_DIR, repair, staged_output

CHILD = Path(__file__).with_name("commit_child.py")

INSTANTS = 20


def _child(out: Path, tag: str, stop_at: int = -1, mode: str = "") -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(CHILD), str(out), tag, str(stop_at), *([mode] if mode else [])]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def _files(out: Path) -> dict[str, str]:
    """Every file of OUT_DIR (work folder excluded) with its content."""
    return {
        p.relative_to(out).as_posix(): p.read_text()
        for p in out.rglob("*")
        if p.is_file() and WORK_DIR not in p.relative_to(out).parts
    }


def _generation(out: Path) -> str | None:
    """ "old" or "new" when OUT_DIR holds exactly that complete result, else None (mixed or incomplete)."""
    files = _files(out)
    for tag in ("old", "new"):
        if set(files) == expected_files(tag) and all(
            text == tag or f'"tag": "{tag}"' in text for text in files.values()
        ):
            return tag
    return None


@pytest.fixture(scope="module")
def old_result(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("commit") / "old"
    assert _child(out, "old").returncode == 0
    assert _generation(out) == "old"
    return out


@pytest.fixture(scope="module")
def commit_steps(old_result: Path, tmp_path_factory: pytest.TempPathFactory) -> int:
    """Number of steps of committing the new result over the old one."""
    out = tmp_path_factory.mktemp("commit") / "out"
    shutil.copytree(old_result, out)
    done = _child(out, "new")
    assert done.returncode == 0, done.stderr
    assert _generation(out) == "new"
    assert sorted(p.name for p in (out / WORK_DIR).iterdir()) == ["lock"]
    return int(done.stdout.split()[-1])


def _instant(i: int, steps: int) -> int:
    return round(i * (steps - 1) / (INSTANTS - 1))


def test_the_commit_has_at_least_as_many_steps_as_instants(commit_steps: int) -> None:
    assert len({_instant(i, commit_steps) for i in range(INSTANTS)}) == INSTANTS


@pytest.mark.parametrize("i", range(INSTANTS))
def test_sigkill_during_the_commit_never_leaves_a_mixed_result(
    i: int, commit_steps: int, old_result: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    shutil.copytree(old_result, out)
    killed = _child(out, "new", _instant(i, commit_steps))
    assert killed.returncode == -signal.SIGKILL
    if (out / names.RUN_JSON).exists():
        assert _generation(out) in ("old", "new"), sorted(_files(out).items())
    repair(out)  # what the next run into OUT_DIR does before anything else
    assert _generation(out) == ("old" if _instant(i, commit_steps) == 0 else "new"), sorted(_files(out).items())
    assert sorted(p.name for p in (out / WORK_DIR).iterdir()) == ["lock"]


@pytest.mark.parametrize("i", range(0, INSTANTS, 3))
def test_an_error_during_the_commit_keeps_the_previous_result(
    i: int, commit_steps: int, old_result: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    shutil.copytree(old_result, out)
    failed = _child(out, "new", _instant(i, commit_steps), "raise")
    assert failed.returncode != 0 and "the previous result is kept" in failed.stderr
    assert _generation(out) == "old"
    assert sorted(p.name for p in (out / WORK_DIR).iterdir()) == ["lock"]


def test_a_second_run_into_the_same_folder_is_refused(tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    (tmp_path / "study").mkdir()
    with staged_output(out) as folder:
        write_result(folder, "new")
        with pytest.raises(InputError, match="another run is writing into this folder"), staged_output(out):
            pass
        with cli_logging():
            assert main(["run", str(tmp_path / "study"), "-o", str(out), "-q"]) == 2
        assert "another run is writing into this folder" in capsys.readouterr().err
    assert _generation(out) == "new"


def test_a_failed_run_leaves_the_output_folder_as_it_was(tmp_path: Path) -> None:
    fresh = tmp_path / "a" / "b" / "out"
    with pytest.raises(RuntimeError), staged_output(fresh) as folder:
        write_result(folder, "new")
        raise RuntimeError("stage failed")
    assert not (tmp_path / "a").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(RuntimeError), staged_output(empty):
        raise RuntimeError("stage failed")
    assert list(empty.iterdir()) == []


def test_staging_stays_inside_the_output_folder(old_result: Path, tmp_path: Path) -> None:
    """Nothing is created beside OUT_DIR (so a writable OUT_DIR under a read-only parent works)."""
    parent = tmp_path / "parent"
    parent.mkdir()
    shutil.copytree(old_result, parent / "out")
    seen: list[set[str]] = []

    import pipeline.outputs.staging as staging

    staging.commit_hook = lambda step: seen.append({p.name for p in parent.iterdir()})
    try:
        with staged_output(parent / "out") as folder:
            seen.append({p.name for p in parent.iterdir()})
            write_result(folder, "new")
    finally:
        staging.commit_hook = None
    assert seen and all(names_ == {"out"} for names_ in seen)
    assert _generation(parent / "out") == "new"


def test_stale_staging_of_a_killed_run_is_removed(old_result: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    shutil.copytree(old_result, out)
    (out / WORK_DIR / "new" / names.MASKS_DIR).mkdir(parents=True)  # a run killed while writing
    legacy = tmp_path / ".out.partial-999999999"  # an earlier version's staging folder of a dead process
    legacy.mkdir()
    repair(out)
    assert _generation(out) == "old" and not (out / WORK_DIR / "new").exists() and not legacy.exists()


@pytest.mark.parametrize(
    "case",
    ["a file", "the study folder", "inside the study", "contains the study", "a foreign folder"],
)
def test_output_folders_refused_before_any_work(case: str, tmp_path: Path, capsys) -> None:
    study = tmp_path / "study"
    study.mkdir()
    (study / "x.dcm").write_text("not read")
    out = {
        "a file": tmp_path / "file.txt",
        "the study folder": study,
        "inside the study": study / "out",
        "contains the study": tmp_path,
        "a foreign folder": tmp_path / "home",
    }[case]
    if case == "a file":
        out.write_text("keep me")
    if case == "a foreign folder":
        (out / names.MASKS_DIR).mkdir(parents=True)
        (out / "notes.txt").write_text("keep me")
    before = sorted(p.as_posix() for p in tmp_path.rglob("*"))
    with cli_logging():
        assert main(["run", str(study), "-o", str(out), "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(out) in err[0], err
    assert sorted(p.as_posix() for p in tmp_path.rglob("*")) == before
