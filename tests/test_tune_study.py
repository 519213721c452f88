"""What a `forecast tune` study records and who may write to it: a study is resumed only
with the data and every setting its scores were obtained with (else a one-line error
naming what differs), a record read from a study file is checked, one tuner holds a
study at a time (a second one is told the first's PID and host), and a trial another
process finished is not told again."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from forecaster.cli import forecast
from tests.conftest import DATA
from tests.test_tune import SPACE, _trials

TINY = ["--ensemble", "1", "--patience", "2", "--seed", "1", "--folds", "1"]


def _tune(tmp_path, data, *args, trials=1):
    space = tmp_path / "space.toml"
    space.write_text(SPACE)
    return CliRunner().invoke(forecast, ["tune", str(data), "--runs-dir", str(tmp_path / "runs"),
                                         "--space", str(space), "--trials", str(trials), *TINY,
                                         *args])


def _air(folder, scale=1.0):
    """air_passengers.csv as ``folder/air.csv``, its values times ``scale``."""
    frame = pd.read_csv(DATA / "air_passengers.csv")
    frame["passengers"] = frame["passengers"] * scale
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_csv(folder / "air.csv", index=False)
    return folder / "air.csv"


def _error_line(result) -> str:
    """The error of a failed command: one line, after the plan line on stderr."""
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and result.stderr.rstrip().endswith(errors[0]), result.stderr
    return errors[0]


def test_other_data_with_the_same_stem_and_length_does_not_resume_the_study(tmp_path):
    first = _tune(tmp_path, _air(tmp_path / "a"), "--epochs", "2")
    assert first.exit_code == 0, first.output
    other = _tune(tmp_path, _air(tmp_path / "b", scale=2.0), "--epochs", "2", trials=2)
    assert other.exit_code != 0 and "Traceback" not in other.output
    error = _error_line(other)
    assert "the study 'air' was scored with data = sha256:" in error
    assert "use a new --study name or the same settings" in error
    assert _trials(tmp_path / "runs" / "tune.db") == [(0, "COMPLETE")]  # no trial ran


def test_a_study_scored_at_3_epochs_is_not_resumed_at_5(tmp_path):
    data = _air(tmp_path / "a")
    first = _tune(tmp_path, data, "--epochs", "3")
    assert first.exit_code == 0, first.output
    best = tmp_path / "runs" / "tune" / "air" / "best.toml"
    before = best.read_text()
    other = _tune(tmp_path, data, "--epochs", "5")
    assert other.exit_code != 0 and "Traceback" not in other.output
    assert ("Error: the study 'air' was scored with epochs = 3; this call asks for "
            "epochs = 5: use a new --study name or the same settings.") in other.output
    assert best.read_text() == before  # no best.toml citing a score it was not given
    # the profile and the config file's values are settings too
    quick = _tune(tmp_path, data, "--epochs", "3", "--quick")
    assert quick.exit_code != 0 and "was scored with max_windows = 0" in quick.output
    config = tmp_path / "c.toml"
    config.write_text("[training]\nclipnorm = 2.0\n")
    configured = _tune(tmp_path, data, "--epochs", "3", "--config", str(config))
    assert configured.exit_code != 0 and "clipnorm = 1.0" in configured.output
    same = _tune(tmp_path, data, "--epochs", "3")  # the same settings resume it
    assert same.exit_code == 0, same.output


def _plan(data=None):
    from forecaster.config import load_config
    from forecaster.pipeline.search_space import parse_space
    from forecaster.pipeline.tune import plan_tune

    cfg = load_config(overrides={"training": {"epochs": 2, "patience": 2, "seed": 1},
                                 "model": {"ensemble": 1}})
    plan = plan_tune(data if data is not None else pd.read_csv(DATA / "air_passengers.csv"),
                     cfg, folds=1)
    from dataclasses import replace

    space = parse_space({"only": True, "units": [4, 8]}, plan.space)
    plan = replace(plan, space=space)
    plan.protocol["space"] = space.describe()
    return plan


@pytest.mark.parametrize("record", ["garbage", {"epochs": {"nested": [1]}}, {"x": [[1]]},
                                    {"epochs": "3\nsecond line"}, {1: 2}, [1, 2]])
def test_a_study_record_that_is_not_ours_is_refused(tmp_path, record):
    import optuna

    from forecaster.errors import ConfigError
    from forecaster.pipeline.tune import tune

    storage = f"sqlite:///{tmp_path / 'tune.db'}"
    study = optuna.create_study(study_name="s", storage=storage)
    study.set_user_attr("record", record)
    with pytest.raises(ConfigError) as info:
        tune(_plan(), trials=1, storage=storage, study_name="s")
    assert "the study 's' holds no valid record of its data and settings" in str(info.value)
    assert "\n" not in str(info.value)
    assert _trials(tmp_path / "tune.db") == []


def test_a_second_tuner_is_refused_while_the_first_holds_the_study(tmp_path):
    from forecaster.pipeline.tune_study import study_lock

    storage = f"sqlite:///{tmp_path / 'runs' / 'tune.db'}"
    with study_lock(storage, "air"):  # the first tuner is this test process
        second = _tune(tmp_path, _air(tmp_path / "a"), "--epochs", "2")
    assert second.exit_code != 0 and "Traceback" not in second.output
    assert (f"the study 'air' is being tuned by process {os.getpid()} on "
            f"{socket.gethostname()}") in _error_line(second)
    assert not (tmp_path / "runs" / "tune.db").exists()  # refused before the study opens
    again = _tune(tmp_path, _air(tmp_path / "a"), "--epochs", "2")  # released: it runs
    assert again.exit_code == 0, again.output


def test_the_lock_goes_with_its_process_even_on_sigkill(tmp_path):
    from forecaster.errors import ConfigError
    from forecaster.pipeline.tune_study import study_lock

    storage = f"sqlite:///{tmp_path / 'tune.db'}"
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys\nfrom forecaster.pipeline.tune_study import "
         f"study_lock\nwith study_lock({storage!r}, 's'):\n    print('held', flush=True)\n"
         "    sys.stdin.read()\n"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "held\n"  # the child holds the lock from here on
        with pytest.raises(ConfigError, match=f"being tuned by process {child.pid} on "):
            with study_lock(storage, "s"):
                pass
        with study_lock(storage, "other"):  # another study of the same file is free
            pass
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    with study_lock(storage, "s"):  # the kernel released it with the process
        pass


def test_a_trial_another_process_finished_is_not_told_again(tmp_path, monkeypatch):
    """Trial 0 is marked failed by someone else while it runs (as a second tuner on a
    server database would): the search goes on instead of dying on Optuna's "Cannot tell
    a FAIL trial"."""
    import optuna

    from forecaster.pipeline import tune as tune_module

    storage = f"sqlite:///{tmp_path / 'tune.db'}"
    calls = []

    def score_fold(panel, cfg, **_):
        calls.append(cfg.model.units)
        if len(calls) == 1:
            store = optuna.storages.RDBStorage(storage)
            study = optuna.load_study(study_name="s", storage=store)
            for t in study.get_trials(states=(optuna.trial.TrialState.RUNNING,)):
                store.set_trial_state_values(t._trial_id, optuna.trial.TrialState.FAIL)
        return 1.0 + len(calls), [1.0 + len(calls)] * len(panel)

    monkeypatch.setattr(tune_module, "score_fold", score_fold)
    seen = []
    result = tune_module.tune(_plan(), trials=1, storage=storage, study_name="s",
                              progress=lambda row, done, total: seen.append(row["state"]))
    assert seen == ["FAIL", "COMPLETE"]
    assert sorted((r["number"], r["state"]) for r in result.rows) == [(0, "FAIL"),
                                                                      (1, "COMPLETE")]
    assert result.best["value"] == 3.0 and np.isfinite(result.best["value"])
