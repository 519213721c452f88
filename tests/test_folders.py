"""Output folders are checked before the work without being created: a command that fails
on its input leaves no empty runs/evaluations or runs/tune/<study> behind."""

import os
from pathlib import Path

import pytest

from forecaster.runs import artifacts
from forecaster.cli import forecast
from forecaster.errors import ArtifactError
from forecaster.storage.folders import check_writable, make_dirs, remove_made


def _tree(root: Path) -> list[str]:
    if not root.exists():
        return ["<absent>"]
    return sorted(str(p.relative_to(root)) + ("/" if p.is_dir() else "")
                  for p in root.rglob("*"))


def test_check_writable_creates_nothing(tmp_path):
    target = tmp_path / "runs" / "tune" / "study"
    assert check_writable(target, "best.toml") == target
    assert _tree(tmp_path) == []


def test_check_writable_refuses_a_file_on_the_way_in_one_line(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ArtifactError) as err:
        check_writable(tmp_path / "file" / "runs" / "evaluations", "the evaluation")
    message = str(err.value)
    assert message.startswith("cannot write the evaluation to '")
    assert message.endswith("file' is not a folder.") and "\n" not in message
    assert _tree(tmp_path) == ["file"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_check_writable_refuses_a_read_only_ancestor(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(ArtifactError, match="cannot write runs to .*Permission denied"):
            check_writable(locked / "runs", "runs")
    finally:
        locked.chmod(0o700)


def test_make_dirs_reports_what_it_made_and_remove_made_undoes_it(tmp_path):
    (tmp_path / "runs").mkdir()
    made = make_dirs(tmp_path / "runs" / "tune" / "s", "best.toml")
    assert made == [tmp_path / "runs" / "tune", tmp_path / "runs" / "tune" / "s"]
    (tmp_path / "runs" / "tune" / "keep.txt").write_text("x")  # written meanwhile
    remove_made(made)
    assert _tree(tmp_path) == ["runs/", "runs/tune/", "runs/tune/keep.txt"]


def test_a_failed_run_leaves_no_new_runs_folder(tmp_path):
    with pytest.raises(RuntimeError):
        with artifacts.staging(tmp_path / "a" / "runs", "r"):
            raise RuntimeError("training failed")
    assert _tree(tmp_path) == []


def test_failed_staged_files_leave_no_new_folders(tmp_path):
    with pytest.raises(RuntimeError):
        with artifacts.staged_files(tmp_path / "runs" / "evaluations" / "e") as stage:
            (stage / "metrics.json").write_text("{}")
            raise RuntimeError("failed")
    assert _tree(tmp_path) == []
    with artifacts.staged_files(tmp_path / "runs" / "evaluations" / "e") as stage:
        (stage / "metrics.json").write_text("{}")
    assert _tree(tmp_path) == ["runs/", "runs/evaluations/", "runs/evaluations/e/",
                               "runs/evaluations/e/metrics.json"]


@pytest.fixture(params=["missing", "garbage"])
def bad_data(request, tmp_path):
    path = tmp_path / "data" / "sales.csv"
    if request.param == "garbage":
        path.parent.mkdir()
        path.write_bytes(b"\x00\x01\x02garbage\xff\xfe" * 50)
    return path


@pytest.mark.parametrize("existing", [False, True])
@pytest.mark.parametrize("command", [["evaluate", "--models", "naive"], ["tune"]])
def test_a_failed_evaluate_or_tune_leaves_the_runs_dir_as_it_was(tmp_path, runner, bad_data,
                                                                  command, existing):
    runs = tmp_path / "work" / "runs"
    if existing:
        (runs / "20200101-000000-old").mkdir(parents=True)
        (runs / "20200101-000000-old" / "run.json").write_text("{}")
    before = _tree(tmp_path / "work")
    result = runner.invoke(forecast, [command[0], str(bad_data), *command[1:],
                                      "--runs-dir", str(runs)])
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr
    assert _tree(tmp_path / "work") == before


def test_tune_into_a_place_that_cannot_exist_fails_before_reading(tmp_path, runner):
    (tmp_path / "file").write_text("x")
    result = runner.invoke(forecast, ["tune", str(tmp_path / "missing.csv"),
                                      "--runs-dir", str(tmp_path / "file" / "runs")])
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: cannot write best.toml to ")
    assert result.stderr.count("\n") == 1 and "not found" not in result.stderr


def test_known_runs_lists_runs_only(tmp_path, runner):
    runs = tmp_path / "runs"
    for name in ("evaluations", "tune", "20200101-000000-a", "20200102-000000-b"):
        (runs / name).mkdir(parents=True)
    (runs / "20200102-000000-b" / "run.json").write_text("{}")
    result = runner.invoke(forecast, ["predict", "--runs-dir", str(runs), "--run", "nope"])
    assert result.exit_code == 1
    assert result.stderr.rstrip().endswith("Known runs: 20200102-000000-b.")
