"""`forecast runs`: the listing (newest first, the deployed model's backtest MASE, broken
runs as rows with their error, staging and other folders skipped) and `--compare A B`
(configs and leaderboards side by side, differences marked), on runs `forecast train`
wrote, without TensorFlow."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
from click.testing import CliRunner

from forecaster.cli import forecast
from tests.conftest import DATA, FAST


def _invoke(*args):
    return CliRunner().invoke(forecast, [str(a) for a in args])


def _edit_json(path, **values):
    data = json.loads(path.read_text())
    data.update(values)
    path.write_text(json.dumps(data, indent=2))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two trained runs (units 4 with a backtest, units 8 without), a copy of the first
    that deployed ridge (as `train --select best` records it), a copy missing its model,
    and things that are not runs."""
    root = tmp_path_factory.mktemp("runs") / "runs"
    first = _invoke("train", DATA / "air_passengers.csv", "--runs-dir", root, *FAST)
    assert first.exit_code == 0, first.output + first.stderr
    a = (root / "latest").read_text().strip()
    second = _invoke("train", DATA / "air_passengers.csv", "--runs-dir", root, *FAST,
                     "--units", "8", "--no-backtest", "--name", "nobacktest")
    assert second.exit_code == 0, second.output + second.stderr
    b = (root / "latest").read_text().strip()
    deployed = root / "20200101-000000-deployed"
    shutil.copytree(root / a, deployed)
    _edit_json(deployed / "run.json", id=deployed.name, created="2020-01-01T00:00:00+00:00",
               deployed="ridge")
    broken = root / "20190101-000000-broken"
    shutil.copytree(root / a, broken)
    (broken / "model.keras").unlink()
    _edit_json(broken / "run.json", created="2019-01-01T00:00:00+00:00")
    (root / ".tmp-20260101-000000-x-p1").mkdir()  # a run being staged
    (root / "evaluations" / "20260101-000000-e").mkdir(parents=True)
    (root / "tune").mkdir()
    (root / "tune.db").write_bytes(b"")
    return {"root": root, "a": a, "b": b, "deployed": deployed.name, "broken": broken.name}


def _metrics(root, run_id):
    board = json.loads((root / run_id / "metrics.json").read_text())["leaderboard"]
    return {row["model"]: row for row in board}


def test_the_listing_newest_first_with_the_deployed_model_s_mase(runs):
    root = runs["root"]
    result = _invoke("runs", "--runs-dir", root, "--format", "json")
    assert result.exit_code == 0, result.output + result.stderr
    rows = json.loads(result.stdout)
    assert [r["id"] for r in rows] == [runs["b"], runs["a"], runs["deployed"], runs["broken"]]
    by_id = {r["id"]: r for r in rows}
    a, b, dep, broken = (by_id[runs[k]] for k in ("a", "b", "deployed", "broken"))
    assert a["mase"] == pytest.approx(_metrics(root, runs["a"])["rnn"]["mase"])
    assert (a["data"], a["model"], a["error"]) == ("air_passengers.csv", "tanh_cell", None)
    assert a["bytes"] == sum(p.stat().st_size for p in (root / runs["a"]).iterdir())
    assert b["mase"] is None and b["error"] is None  # no backtest, no leaderboard
    assert dep["model"] == "ridge"
    assert dep["mase"] == pytest.approx(_metrics(root, runs["a"])["ridge"]["mase"])
    assert broken["error"] == "incomplete: missing model.keras"
    assert broken["created"] == "2019-01-01T00:00:00+00:00"
    assert [r["latest"] for r in rows] == [True, False, False, False]


def test_the_table_shows_broken_runs_as_rows(runs):
    result = _invoke("runs", "--runs-dir", runs["root"])
    assert result.exit_code == 0, result.output + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["id", "created", "(UTC)", "data", "model", "MASE", "size"]
    assert len(lines) == 5
    assert lines[1].startswith(f"* {runs['b']}")  # the latest run, marked
    first = lines[2].split()  # runs["a"], with a backtest
    assert first[0] == runs["a"] and first[3:5] == ["air_passengers.csv", "tanh_cell"]
    assert float(first[5]) == pytest.approx(
        _metrics(runs["root"], runs["a"])["rnn"]["mase"], abs=1e-3)
    assert first[-1] == "KB"
    assert lines[1].split()[6] == "-"  # no backtest (after the * of the latest run)
    assert lines[4].startswith(f"  {runs['broken']}")
    assert "BROKEN: incomplete: missing model.keras" in lines[4]


def test_compare_shows_configs_and_leaderboards_side_by_side(runs):
    root = runs["root"]
    result = _invoke("runs", "--runs-dir", root, "--compare", runs["a"], "latest")
    assert result.exit_code == 0, result.output + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == [runs["a"], runs["b"]]
    assert "[run]" in lines and "[config]" in lines and "[backtest]" in lines
    assert "* model.units  4  8".split() in [ln.split() for ln in lines]
    assert "* evaluation.backtest  true  false".split() in [ln.split() for ln in lines]
    assert "model.kind  tanh_cell  tanh_cell".split() in [ln.split() for ln in lines]
    mase = _metrics(root, runs["a"])["rnn"]["mase"]
    assert f"* rnn.mase  {mase:.4f}  -".split() in [ln.split() for ln in lines]
    assert "note: a run without a backtest has no leaderboard to compare." in lines

    as_json = json.loads(_invoke("runs", "--runs-dir", root, "--compare", runs["a"],
                                 runs["b"], "--format", "json").stdout)
    assert as_json["runs"] == [runs["a"], runs["b"]]
    units = [r for r in as_json["rows"] if r["key"] == "model.units"]
    assert units == [{"section": "config", "key": "model.units", "a": "4", "b": "8",
                      "differs": True}]


@pytest.mark.parametrize("other, message", [
    ("../../etc", "Error: run id must be a run directory name (letters, digits, "),
    ("20990101-000000-none", "Error: run '20990101-000000-none' does not exist in"),
    ("20190101-000000-broken",
     "Error: run '20190101-000000-broken' is incomplete: missing model.keras."),
])
def test_compare_refuses_what_is_not_a_complete_run_in_one_line(runs, other, message):
    result = _invoke("runs", "--runs-dir", runs["root"], "--compare", "latest", other)
    assert result.exit_code == 1
    assert result.stderr.startswith(message) and result.stderr.count("\n") == 1


def test_an_empty_or_missing_runs_dir(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _invoke("runs", "--runs-dir", empty).stdout == "no runs.\n"
    result = _invoke("runs", "--runs-dir", tmp_path / "missing")
    assert result.exit_code == 1
    assert "Error: no runs directory" in result.stderr


def test_runs_imports_no_tensorflow(runs):
    code = ("import sys; from click.testing import CliRunner; from forecaster.cli import "
            "forecast; r = CliRunner().invoke(forecast, ['runs', '--runs-dir', sys.argv[1], "
            "'--compare', 'latest', sys.argv[2]]); assert r.exit_code == 0, r.output; "
            "print(sorted(m for m in ('tensorflow', 'keras', 'jax', 'mlflow') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code, str(runs["root"]), runs["a"]],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
