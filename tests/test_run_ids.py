"""One resolver of run ids for the command line, the Python API and the server: an id or
`latest` resolves to a real directory inside the runs folder (a symbolic link out is
refused), an explicit path stays the user's choice, an empty id is a usage error, and the
"known runs" hint lists the runs `GET /runs` lists. TensorFlow-free: the runs here are
folders holding a run's files, which the resolver checks for before anything is loaded."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from forecaster.runs import artifacts

from forecaster.runs import ids as run_ids
from forecaster.cli import forecast
from forecaster.errors import ForecastError, RunNotFoundError

RUN = "20260101-120000-sales-tanh_cell"


def fake_run(folder):
    """A folder with a run's required files (never loaded here)."""
    folder.mkdir(parents=True)
    for name in artifacts.REQUIRED:
        (folder / name).write_text("{}" if name.endswith(".json") else "")
    (folder / "run.json").write_text(json.dumps({"created": "2026-01-01T12:00:00+00:00"}))
    return folder


@pytest.fixture
def linked(tmp_path):
    """runs/ with one real run and `evil`, a symbolic link to a run outside it."""
    runs = tmp_path / "runs"
    fake_run(runs / RUN)
    outside = fake_run(tmp_path / "outside" / "evilrun")
    (runs / "evil").symlink_to(outside, target_is_directory=True)
    return runs


def _invoke(*args):
    return CliRunner().invoke(forecast, [str(a) for a in args])


def test_an_id_that_links_out_of_the_runs_folder_is_refused(linked):
    with pytest.raises(run_ids.OutsideRunsDir, match="leaves the runs directory"):
        run_ids.resolve_run(linked, "evil")
    artifacts.set_latest(linked, "evil")
    with pytest.raises(run_ids.OutsideRunsDir, match="leaves the runs directory"):
        run_ids.resolve_run(linked, artifacts.LATEST)
    assert run_ids.resolve_run(linked, RUN) == linked / RUN


def test_predict_by_id_writes_nothing_outside_the_runs_folder(linked, tmp_path):
    for run in ("evil", "latest"):
        artifacts.set_latest(linked, "evil")
        result = _invoke("predict", "--runs-dir", linked, "--run", run)
        assert result.exit_code == 1, result.output
        assert "leaves the runs directory" in result.output
        assert "Traceback" not in result.output
    assert not (tmp_path / "outside" / "evilrun" / "predictions").exists()


def test_a_link_inside_the_runs_folder_and_an_explicit_path_are_allowed(linked, tmp_path):
    (linked / "alias").symlink_to(linked / RUN, target_is_directory=True)
    assert run_ids.resolve_run(linked, "alias").resolve() == (linked / RUN).resolve()
    outside = tmp_path / "outside" / "evilrun"  # the user's own path: their choice
    assert run_ids.resolve_run(linked, str(outside)) == outside


def test_an_empty_run_id_is_refused(linked):
    with pytest.raises(RunNotFoundError, match="empty"):
        run_ids.resolve_run(linked, "")
    result = _invoke("runs", "--runs-dir", linked, "--compare", "latest", "")
    assert result.exit_code == 2, result.output
    assert "empty" in result.output and "Traceback" not in result.output


def test_compare_by_an_id_that_links_out_is_refused(linked):
    result = _invoke("runs", "--runs-dir", linked, "--compare", RUN, "evil")
    assert result.exit_code == 1 and "leaves the runs directory" in result.output


def test_the_known_runs_hint_lists_what_get_runs_lists(linked):
    pytest.importorskip("fastapi")
    from forecaster.serve.run_cache import list_runs

    (linked / "odd name").mkdir()  # not a run id: neither listed nor hinted
    (linked / "odd name" / "run.json").write_text("{}")
    artifacts.set_latest(linked, "gone")
    with pytest.raises(RunNotFoundError) as caught:
        run_ids.resolve_run(linked, artifacts.LATEST)
    hint = str(caught.value).split("Known runs: ")[1].rstrip(".").split(", ")
    assert hint == [r["id"] for r in list_runs(linked)["runs"]] == [RUN]
    assert run_ids.run_ids(linked) == [RUN]


def test_the_server_and_the_command_line_share_the_resolver(linked):
    pytest.importorskip("fastapi")
    from forecaster.serve.run_cache import BadRunId, OutsideRunsDir, locate

    assert OutsideRunsDir is run_ids.OutsideRunsDir
    with pytest.raises(OutsideRunsDir):
        locate(linked, "evil")
    with pytest.raises(BadRunId):
        locate(linked, str(linked / RUN))  # the server takes ids, never paths
    with pytest.raises(ForecastError, match="does not exist"):
        locate(linked, "nope")
