"""`forecast tune` end to end: a tiny search writes best.toml that `forecast train` trains,
the study resumes after a SIGKILL without losing or repeating a trial, the held-out tail is
never seen, and databases or files that are not ours are refused untouched."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import sqlite3
import subprocess

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner


from forecaster.cli import forecast
from tests import hooked_forecast
from tests.conftest import DATA, forecast_exe

SPACE = ('only = true\nunits = [4, 8]\nlearning_rate = {low = 1e-3, high = 1e-2, log = true}\n'
         'anchor = ["level", "mixed"]\n')
TINY = ["--epochs", "2", "--ensemble", "1", "--patience", "2", "--seed", "1", "--folds", "1"]


def _tune(tmp_path, *args, trials=2):
    space = tmp_path / "space.toml"
    space.write_text(SPACE)
    return CliRunner().invoke(forecast, ["tune", str(DATA / "air_passengers.csv"), "--runs-dir",
                                         str(tmp_path / "runs"), "--space", str(space),
                                         "--trials", str(trials), *TINY, *args])


def _trials(db) -> list[tuple[int, str]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        try:
            return sorted(con.execute("SELECT number, state FROM trials").fetchall())
        except sqlite3.OperationalError:  # Optuna is still creating its tables
            return []


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_tiny_search_writes_best_toml_that_train_trains(tmp_path):
    result = _tune(tmp_path)
    assert result.exit_code == 0, result.output
    assert "trial 0 (1/2 finished" in result.stderr and "trial 1 (2/2 finished" in result.stderr
    assert "rank  trial      mase  folds" in result.stdout
    best = tmp_path / "runs" / "tune" / "air_passengers" / "best.toml"
    assert f"best.toml: {best}" in result.stdout
    text = best.read_text()
    assert text.startswith("# forecast tune: study 'air_passengers'")
    trials = pd.read_csv(best.with_name("trials.csv"))
    assert list(trials["state"]) == ["COMPLETE", "COMPLETE"]
    top = trials.iloc[0]
    assert top["mase"] == trials["mase"].min() and np.isfinite(top["mase"])
    assert f'units = {int(top["param_units"])}\n' in text
    assert f'anchor = "{top["param_anchor"]}"\n' in text
    assert "epochs = 2\n" in text  # the flags the search ran with are kept
    runs = tmp_path / "trained"
    trained = CliRunner().invoke(forecast, ["train", str(DATA / "air_passengers.csv"),
                                            "--config", str(best), "--runs-dir", str(runs),
                                            "--no-backtest"])
    assert trained.exit_code == 0, trained.output
    run = runs / (runs / "latest").read_text().strip()
    assert f'units = {int(top["param_units"])}\n' in (run / "config.toml").read_text()
    # the same command again: the study already holds 2 finished trials, nothing new runs
    again = _tune(tmp_path)
    assert again.exit_code == 0, again.output
    assert re.search(r"^trial \d+ \(", again.stderr, re.M) is None
    assert _trials(tmp_path / "runs" / "tune.db") == [(0, "COMPLETE"), (1, "COMPLETE")]


def test_resume_after_sigkill_keeps_every_finished_trial(tmp_path):
    space = tmp_path / "space.toml"
    space.write_text(SPACE)
    runs = tmp_path / "runs"
    db = runs / "tune.db"
    cmd = [forecast_exe(), "tune", str(DATA / "air_passengers.csv"), "--runs-dir", str(runs),
           "--space", str(space), "--trials", "3", *TINY]
    child = hooked_forecast.start(cmd[1:], env={**os.environ, "CUDA_VISIBLE_DEVICES": "-1"},
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    proc = child.proc
    try:  # killed once a trial is COMPLETE (told before the next starts) and the next RUNNING
        child.wait_for(r"trial \d+ scored$")
        child.wait_for(r"trial \d+ started$")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        child.close()
        if proc.poll() is None:
            proc.kill()
    killed = _trials(db)
    done = [n for n, s in killed if s == "COMPLETE"]
    running = [n for n, s in killed if s == "RUNNING"]
    assert done and running
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=400,
                            env={**os.environ, "CUDA_VISIBLE_DEVICES": "-1"})
    assert result.returncode == 0, result.stderr
    after = dict(_trials(db))
    assert all(after[n] == "COMPLETE" for n in done)      # nothing completed is lost
    assert all(after[n] == "FAIL" for n in running)       # the killed one is failed, not counted
    assert sum(s == "COMPLETE" for s in after.values()) == 3
    with sqlite3.connect(db) as con:  # no finished trial was run twice with the same draw
        params = con.execute("SELECT trial_id, param_name, param_value FROM trial_params "
                             "JOIN trials USING (trial_id) WHERE state = 'COMPLETE'").fetchall()
    draws = {}
    for trial_id, name, value in params:
        draws.setdefault(trial_id, {})[name] = value
    assert len({tuple(sorted(d.items())) for d in draws.values()}) == len(draws) == 3


def test_databases_and_files_that_are_not_ours_are_refused_untouched(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    db = runs / "tune.db"
    db.write_bytes(b"not a database at all " * 50)
    before = _sha(db)
    result = _tune(tmp_path)
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "is not an SQLite database" in result.output and _sha(db) == before
    db.unlink()
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE invoices (id INTEGER, amount REAL)")
    before = _sha(db)
    result = _tune(tmp_path)
    assert result.exit_code != 0 and "an SQLite database of something else" in result.output
    assert _sha(db) == before
    db.unlink()
    mine = tmp_path / "notes.toml"
    mine.write_text("my own notes\n")
    result = _tune(tmp_path, "--out", str(mine))
    assert result.exit_code != 0 and "was not written by forecast tune" in result.output
    assert mine.read_text() == "my own notes\n"


def test_the_search_never_sees_the_holdout_and_a_changed_protocol_is_refused(tmp_path):
    from forecaster.config import load_config
    from forecaster.pipeline.tune import plan_tune

    air = pd.read_csv(DATA / "air_passengers.csv")
    changed = air.copy()
    changed.loc[len(air) - 12:, "passengers"] *= 10  # the held-out year, wildly different
    cfg = load_config()
    a = plan_tune(air, cfg, holdout=12, folds=2)
    b = plan_tune(changed, cfg, holdout=12, folds=2)
    assert a.panel.lengths.tolist() == [132] and a.horizon == 12 and a.season == 12
    np.testing.assert_array_equal(a.panel.values[0], b.panel.values[0])
    assert a.protocol == b.protocol
    first = _tune(tmp_path, "--holdout", "12", trials=1)
    assert first.exit_code == 0, first.output
    other = _tune(tmp_path, "--holdout", "24", trials=2)
    assert other.exit_code != 0
    assert ("the study 'air_passengers' was scored with data = sha256:" in other.output
            and ", holdout = 12, horizon = 12, points = 132; this call asks for data = "
            "sha256:" in other.output and ", holdout = 24, horizon = 24, points = 120: use a "
            "new --study name or the same settings." in other.output)


def test_a_series_too_short_for_the_earlier_folds_is_scored_in_the_later_ones(tmp_path):
    """Competition panels mix lengths (M1 quarterly: 10 to 106 points before its holdout);
    a search of several folds keeps every series in the folds it can hold, instead of
    refusing the panel for its shortest series."""
    from forecaster.config import load_config
    from forecaster.errors import DataError
    from forecaster.pipeline.tune import fold_panels, plan_tune

    rng = np.random.default_rng(0)
    frame = pd.concat([pd.DataFrame({"unique_id": sid, "ds": pd.date_range(
        "2000-01-01", periods=n, freq="QS"), "y": 100 + rng.normal(size=n).cumsum()})
        for sid, n in (("long", 60), ("mid", 30), ("short", 13))])
    plan = plan_tune(frame, load_config(), holdout=4, folds=3)
    # 56, 26 and 9 points left; folds of 4 need 4 + 2 before each fold's end
    assert plan.horizon == 4 and plan.partial == 1 and plan.protocol["partial"] == 1
    assert "(1 too short for the earlier folds are scored in the later ones only)" in \
        plan.describe()
    folds = fold_panels(plan.panel, plan.horizon, plan.folds)
    assert [f.ids for f in folds] == [("long", "mid"), ("long", "mid"),
                                      ("long", "mid", "short")]
    assert [f.lengths.tolist() for f in folds] == [[48, 18], [52, 22], [56, 26, 9]]
    np.testing.assert_array_equal(folds[0].values[1], plan.panel.values[1][:18])
    # every series fits every fold: no partial key, so existing studies keep their protocol
    assert "partial" not in plan_tune(frame, load_config(), holdout=4, folds=1).protocol
    with pytest.raises(DataError, match="horizon 8 leaves fewer than 2 points to train on "
                                        r"in the shortest series \(9 points\)"):
        plan_tune(frame, load_config().replace("model", horizon=8), holdout=4, folds=1)


def test_train_tune_searches_then_trains_the_best(tmp_path):
    config = tmp_path / "tiny.toml"
    config.write_text("[training]\nepochs = 1\nseed = 3\n[evaluation]\nfolds = 1\norigins = 4\n")
    runs = tmp_path / "runs"
    result = CliRunner().invoke(forecast, ["train", str(DATA / "air_passengers.csv"), "--tune",
                                           "1", "--config", str(config), "--runs-dir",
                                           str(runs)])
    assert result.exit_code == 0, result.output
    best = runs / "tune" / "air_passengers" / "best.toml"
    assert f"saved as {best}; training it" in result.stderr
    trials = pd.read_csv(best.with_name("trials.csv"))
    run = runs / (runs / "latest").read_text().strip()
    saved = (run / "config.toml").read_text()
    for key in ("units", "layers", "ensemble"):
        assert f"{key} = {int(trials.loc[0, 'param_' + key])}\n" in saved
    assert f'kind = "{trials.loc[0, "param_kind"]}"\n' in saved


def test_tune_from_python_and_training_the_best(tmp_path):
    from forecaster import Forecaster, tune

    air = pd.read_csv(DATA / "air_passengers.csv")
    seen = []
    result = tune(air, trials=2, folds=1, epochs=2, ensemble=1, seed=1, runs_dir=tmp_path,
                  units=8, loss="mae",
                  study="air", space={"only": True, "units": [4, 8], "loss": ["mae"]},
                  progress=lambda row, done, total: seen.append((row["number"], done, total)))
    assert seen == [(0, 1, 2), (1, 2, 2)]
    # trial 0 is the configuration the search starts from (units=8, loss="mae")
    assert next(r for r in result.rows if r["number"] == 0)["params"] == {"units": 8,
                                                                         "loss": "mae"}
    assert (tmp_path / "tune.db").is_file()
    best = result.best_settings
    assert set(best) == {"units", "loss"} and best["loss"] == "mae"
    assert result.best["value"] == min(r["value"] for r in result.rows)
    assert result.best_config.model.units == best["units"]
    assert result.best_config.training.epochs == 2  # the settings the search ran with
    model = Forecaster(**best, epochs=2, ensemble=1, backtest=False, seed=1).fit(air)
    assert model.config_.model.units == best["units"]


@pytest.mark.parametrize("args, message", [
    (["--trials", "0"], "'--trials': 0 is not in the range x>=1"),
    (["--timeout", "0"], "'--timeout': 0.0 is not in the range x>0"),
    (["--folds", "0"], "'--folds': 0 is not in the range x>=1"),
    (["--holdout", "144"], "--holdout 144 leaves no training data in the shortest series"),
    (["--folds", "20"], "20 fold(s) of horizon 12 leave no training data"),
])
def test_bad_search_settings_are_one_line_errors_before_any_trial(tmp_path, args, message):
    result = _tune(tmp_path, *args)
    assert result.exit_code != 0 and message in result.output
    assert "Traceback" not in result.output and not (tmp_path / "runs" / "tune.db").exists()


def test_sigterm_stops_the_search_and_says_the_study_resumes(tmp_path):
    space = tmp_path / "space.toml"
    space.write_text(SPACE)
    runs = tmp_path / "runs"
    child = hooked_forecast.start(["tune", str(DATA / "air_passengers.csv"), "--runs-dir",
                                   str(runs), "--space", str(space), "--trials", "5", *TINY],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                  env={**os.environ, "CUDA_VISIBLE_DEVICES": "-1"})
    proc = child.proc
    try:  # terminated while a trial is RUNNING
        child.wait_for(r"trial \d+ started$")
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        child.close()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err
    assert ("Error: terminated; the study keeps its finished trials; the same command "
            "resumes it.") in err and "Traceback" not in err


def test_settings_the_data_cannot_take_fail_trials_not_the_search(tmp_path):
    space = tmp_path / "space.toml"
    space.write_text("only = true\nwindow = [400, 500]\n")  # air has 144 points
    result = CliRunner().invoke(forecast, ["tune", str(DATA / "air_passengers.csv"),
                                           "--runs-dir", str(tmp_path / "runs"), "--space",
                                           str(space), "--trials", "2", *TINY])
    assert result.exit_code != 0 and "Traceback" not in result.output
    failed = [line for line in result.stderr.splitlines() if ": failed: " in line]
    assert len(failed) == 3  # max(3, --trials) failures stop the search
    assert "no trial completed; nothing was written" in result.output
    assert not (tmp_path / "runs" / "tune" / "air_passengers" / "best.toml").exists()
