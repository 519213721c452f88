"""The Python API: Forecaster(**settings).fit(...).predict(...), save and load, and that
it trains exactly what `forecast train` trains with the same settings."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from forecaster import ConfigError, Forecaster, load
from forecaster.cli import forecast
from tests.conftest import DATA, FAST

# FAST's flags as settings (FAST: --epochs 3 --units 4 --ensemble 1 --origins 20 …)
TINY = dict(epochs=3, units=4, ensemble=1, origins=20, patience=2, seed=1)
assert FAST == ["--epochs", "3", "--units", "4", "--ensemble", "1", "--origins", "20",
                "--patience", "2", "--seed", "1"]
AIR = DATA / "air_passengers.csv"


@pytest.fixture(scope="module")
def fitted():
    return Forecaster(**TINY).fit(AIR)


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    from click.testing import CliRunner

    runs = tmp_path_factory.mktemp("api") / "runs"
    result = CliRunner().invoke(forecast, ["train", str(AIR), "--runs-dir", str(runs), *FAST])
    assert result.exit_code == 0, result.output
    return runs / (runs / "latest").read_text().strip()


def _cli_predict(runs_dir, tmp_path, horizon) -> pd.DataFrame:
    from click.testing import CliRunner

    out = tmp_path / f"fc-{len(list(tmp_path.glob('fc-*')))}.csv"
    result = CliRunner().invoke(forecast, ["predict", "--runs-dir", str(runs_dir),
                                           "--horizon", str(horizon), "-o", str(out)])
    assert result.exit_code == 0, result.output
    return pd.read_csv(out)


def test_fit_trains_what_forecast_train_trains(fitted, cli_run):
    info = json.loads((cli_run / "run.json").read_text())
    assert (fitted.window_, fitted.horizon_, fitted.season_) == \
        (info["window"], info["horizon"], info["season"]) == (24, 12, 12)
    assert fitted.lookbacks_ == info["lookbacks"] == [24]
    assert fitted.levels_ == [80, 95]
    saved = pd.read_csv(cli_run / "forecast.csv")
    frame = fitted.predict()
    assert list(frame.columns) == [c for c in saved.columns if c != "step"]
    assert [str(t.date()) for t in frame["timestamp"]] == saved["timestamp"].tolist()
    for col in frame.columns[2:]:  # forecast and every interval bound
        np.testing.assert_allclose(frame[col], saved[col], rtol=1e-9, err_msg=col)
    board = fitted.leaderboard_
    assert set(board["model"]) == {"rnn", "naive", "seasonal_naive", "drift", "mean",
                                   "theta", "ridge", "hist_gradient_boosting"}


def test_a_frame_fits_as_its_file_does(fitted):
    frame = pd.read_csv(AIR)
    from_frame = Forecaster(**TINY).fit(frame)
    np.testing.assert_array_equal(from_frame.predict(30)["forecast"],
                                  fitted.predict(30)["forecast"])
    assert frame.equals(pd.read_csv(AIR))  # the caller's frame is untouched


def test_save_then_the_cli_predicts_and_load_reads_any_run(fitted, cli_run, tmp_path):
    run_dir = fitted.save(tmp_path / "runs")
    assert run_dir.parent == tmp_path / "runs"
    assert (tmp_path / "runs" / "latest").read_text().strip() == run_dir.name
    assert run_dir.name.endswith("-air_passengers-tanh_cell")
    from_cli = _cli_predict(tmp_path / "runs", tmp_path, 30)
    ours = fitted.predict(30)
    np.testing.assert_allclose(from_cli["forecast"], ours["forecast"], rtol=1e-12)
    np.testing.assert_allclose(from_cli["upper_95"], ours["upper_95"], rtol=1e-12)

    loaded = load(cli_run)  # a run made by `forecast train`
    from_cli = _cli_predict(cli_run.parent, tmp_path, 30)
    np.testing.assert_allclose(loaded.predict(30)["forecast"], from_cli["forecast"],
                               rtol=1e-12)
    assert loaded.window_ == 24 and loaded.lookbacks_ == [24]
    assert "rnn" in set(loaded.leaderboard_["model"])
    assert load(cli_run.parent).state_.series[0].id == "passengers"  # a runs dir: latest


def test_predict_levels_and_horizon(fitted):
    frame = fitted.predict(12, levels=[80])
    assert list(frame.columns) == ["series_id", "timestamp", "forecast", "lower_80",
                                   "upper_80"]
    assert len(frame) == 12
    # any level, from the stored calibration residuals (issue 36): a level the backtest
    # gave too few residuals for says how many origins it needs
    assert {"lower_90", "upper_90"} <= set(fitted.predict(12, levels=[90]).columns)
    with pytest.raises(ConfigError, match=r"99\.9% intervals need at least 999 calibration "
                                          r"residuals per step .* --origins \d+"):
        fitted.predict(12, levels=[99.9])
    with pytest.raises(ConfigError, match=r"between 0 and 100.*Got 100"):
        fitted.predict(12, levels=[100])
    with pytest.raises(ConfigError, match="between 1 and 10,000. Got 0"):
        fitted.predict(0)


def test_settings_are_checked_when_made():
    with pytest.raises(ConfigError, match=r"unknown setting 'unit'\. Known settings: .*units"):
        Forecaster(unit=3)
    with pytest.raises(ConfigError, match=r"`model.units` must be between 1 and 4096\. "
                                          r"Got 0\."):
        Forecaster(units=0)
    with pytest.raises(ConfigError, match="not fitted yet"):
        Forecaster().predict(3)
    with pytest.raises(ConfigError, match=r"only data settings go with the data; 'units'"):
        Forecaster().fit(AIR, units=3)


def test_defaults_are_the_command_lines():
    from forecaster.config import load_config

    assert Forecaster().config is None
    assert Forecaster()._resolve({}) == load_config(None, None)


def test_the_rnn_class_defaults_are_the_shipped_config():
    """One place for defaults: RNNForecaster() is the network `forecast train` trains."""
    from forecaster.config import load_config
    from forecaster.models.neural import RNNForecaster

    cfg, model = load_config(), RNNForecaster()
    assert model.model_config == cfg.model and model.training_config == cfg.training
    assert (model.model_config.ensemble, model.model_config.units,
            model.training_config.loss, model.training_config.learning_rate) == \
        (10, 64, "huber", 0.001)


EVAL = dict(models=["rnn", "seasonal_naive", "naive"], folds=2, **TINY)


def test_evaluate_returns_the_leaderboard_forecast_evaluate_prints(tmp_path):
    from click.testing import CliRunner

    from forecaster import evaluate

    result = evaluate(AIR, **EVAL)
    table = result.to_frame()
    assert table["model"].tolist()[0] == result.best
    assert sorted(table["model"]) == ["naive", "rnn", "seasonal_naive"]
    assert table["mase"].is_monotonic_increasing
    out = tmp_path / "eval"
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in TINY.items() if k != "origins"]
    cli = CliRunner().invoke(forecast, ["evaluate", str(AIR), "--models",
                                        "rnn,seasonal_naive,naive", "--folds", "2",
                                        "--format", "json", "--out", str(out), *flags])
    assert cli.exit_code == 0, cli.output
    board = {row["model"]: row for row in json.loads(
        (out / "metrics.json").read_text())["leaderboard"]}
    for row in table.to_dict("records"):  # the same folds, seed and models: equal numbers
        for key in ("mae", "rmse", "smape", "mase"):
            assert board[row["model"]][key] == pytest.approx(row[key], rel=1e-9), key
    # the same through a configured Forecaster, and the holdout protocol
    again = Forecaster(**TINY).backtest(AIR, models=EVAL["models"], folds=2)
    pd.testing.assert_frame_equal(again.to_frame(), table)
    held = evaluate(AIR, models=["naive"], holdout=12)
    assert (held.backtest.spec.folds, held.backtest.spec.horizon) == (1, 12)
    with pytest.raises(ConfigError, match=r"`models` must be from rnn, rnn_without_covariates, naive"):
        evaluate(AIR, models=["prophet"])
    with pytest.raises(ConfigError, match=r"`holdout` H already sets the horizon"):
        evaluate(AIR, models=["naive"], holdout=12, horizon=6)


def test_figures_are_returned_as_matplotlib_figures(fitted):
    from matplotlib.figure import Figure

    from forecaster import (evaluate, plot_forecast, plot_horizon_error, plot_leaderboard,
                            plot_residuals, plot_training)

    result = evaluate(AIR, models=["naive", "seasonal_naive"], folds=2)
    figures = [plot_forecast(fitted), plot_training(fitted), plot_leaderboard(result),
               plot_horizon_error(result), plot_residuals(result)]
    assert all(isinstance(f, Figure) for f in figures)
    title = figures[0].axes[0].get_title()
    assert title.startswith("passengers: history and 12-step forecast")
    # the forecast drawn is the model's: the line's last point is its last forecast
    line = [ln for ln in figures[0].axes[0].get_lines() if ln.get_label() == "forecast"][0]
    assert line.get_ydata()[-1] == pytest.approx(fitted.predict()["forecast"].iloc[-1])
    with pytest.raises(ConfigError, match="`model` must be one of the evaluated models"):
        plot_residuals(result, model="rnn")


def test_fitting_from_python_prints_nothing_on_stderr(tmp_path):
    """TensorFlow's C++ logging writes to file descriptor 2: a notebook would show it."""
    code = ("from forecaster import Forecaster; "
            f"Forecaster(**{TINY!r}).fit({str(AIR)!r}).predict(3)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""


def test_the_quickstart_example_runs(tmp_path):
    from tests.conftest import ROOT

    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "quickstart.py"),
                           str(tmp_path / "runs")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "1 series, frequency MS, 144 points"
    assert lines[1].startswith("season 12, window 48, horizon 12, lookbacks [48, ")
    assert any(line.split()[:1] == ["seasonal_naive"] for line in lines)
    # the forecast starts after the newer data's end, not after the fitted history's
    forecast_rows = [line.split() for line in lines if line.startswith("passengers ")]
    assert [row[1] for row in forecast_rows] == ["1961-01-01", "1961-02-01", "1961-03-01"]
    run_id = (tmp_path / "runs" / "latest").read_text().strip()
    assert lines[-1].startswith(f"saved {tmp_path / 'runs' / run_id}; ")
    assert proc.stderr == ""
