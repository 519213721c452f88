"""pipeline.evaluate: model names → factories → backtest → leaderboard → files."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecaster.data.panel import Panel, TimeAxis
from forecaster.errors import ConfigError
from forecaster.evaluation.backtest import BacktestSpec
from forecaster.pipeline.evaluate import evaluate

DATA = Path(__file__).resolve().parents[2] / "data"


def air_passengers() -> Panel:
    frame = pd.read_csv(DATA / "air_passengers.csv")
    return Panel.from_arrays({"passengers": frame["passengers"].to_numpy(float)},
                             TimeAxis("datetime", "MS"), starts=[pd.Timestamp("1949-01-01")])


def small_panel() -> Panel:
    t = np.arange(60)
    return Panel.from_arrays(
        {"x": 100 + 10 * np.sin(2 * np.pi * t / 12) + t, "y": 5 + np.cos(2 * np.pi * t / 12)},
        TimeAxis("datetime", "MS"), starts=[pd.Timestamp("2000-01-01")] * 2)


def test_holdout_leaderboard_reproduces_reference(tmp_path):
    result = evaluate(air_passengers(), models=["naive", "seasonal_naive", "ridge"],
                      spec=BacktestSpec.holdout(36), levels=(80, 95))
    snaive = result.table.set_index("model").loc["seasonal_naive"]
    assert snaive["mape"] == pytest.approx(0.13189, abs=5e-6)
    assert snaive["mae"] == pytest.approx(60.083, abs=5e-4)
    assert snaive["rmse"] == pytest.approx(73.612, abs=5e-4)
    assert result.season == 12 and result.best == result.table["model"].iloc[0]
    paths = result.write(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["backtest.csv", "folds.csv",
                                                          "metrics.json"]
    data = json.loads(paths["metrics.json"].read_text())
    assert data["protocol"]["horizon"] == 36 and data["protocol"]["folds"] == 1
    assert data["season"] == 12 and data["levels"] == [80, 95]
    assert data["best"] == result.best
    assert [r["model"] for r in data["leaderboard"]] == list(result.table["model"])
    assert set(data["leaderboard"][0]) == {"model", "mae", "rmse", "mape", "smape", "mase",
                                           "coverage_80", "width_80", "msis_80",
                                           "coverage_95", "width_95", "msis_95", "pinball"}
    backtest = pd.read_csv(paths["backtest.csv"])
    assert list(backtest.columns) == ["model", "fold", "series_id", "cutoff", "timestamp",
                                      "step", "actual", "forecast"]
    assert backtest["cutoff"].iloc[0] == "1957-12-01" and backtest["timestamp"].iloc[0] == "1958-01-01"
    assert len(backtest) == 3 * 36


def test_rolling_folds_on_a_panel():
    result = evaluate(small_panel(), models=["naive", "seasonal_naive", "knn"],
                      spec=BacktestSpec(horizon=6, folds=3), seed=1)
    assert set(result.table["model"]) == {"naive", "seasonal_naive", "knn"}
    assert len(result.folds) == 9
    # the best is the first row (sorted by MASE) and the only one marked in the table
    mase = result.table["mase"].astype(float)
    assert result.best == result.table["model"].iloc[0]
    assert mase.iloc[0] == mase.min()
    marked = [line.split()[0] for line in result.format().splitlines() if line.rstrip()
              and " * " in line + " "]
    assert marked == [result.best]
    json.dumps(result.to_json(), allow_nan=False)


def test_model_names_are_checked():
    panel = small_panel()
    spec = BacktestSpec.holdout(6)
    with pytest.raises(ConfigError, match=r"`models` must be from rnn, rnn_without_covariates, naive, .*Got 'arima'\."):
        evaluate(panel, models=["naive", "arima"], spec=spec)
    with pytest.raises(ConfigError, match="no RNN factory"):
        evaluate(panel, models=["rnn"], spec=spec)
    with pytest.raises(ConfigError, match="Got 'naive' twice"):
        evaluate(panel, models=["naive", "naive"], spec=spec)


def test_integer_axis_without_season_uses_naive_scale_with_note():
    panel = Panel.from_arrays({"a": np.arange(40.0) % 7}, TimeAxis("integer"))
    result = evaluate(panel, models=["naive", "seasonal_naive"], spec=BacktestSpec.holdout(5))
    assert result.season == 1
    assert any("no season known" in n for n in result.notes)


def test_tiny_rnn_fold():
    neural = pytest.importorskip("forecaster.models.neural")

    def rnn():
        return neural.RNNForecaster.from_settings(units=4, epochs=2, patience=1, seed=0,
                                                  season=12, ensemble=1)

    result = evaluate(air_passengers(), models=["rnn", "seasonal_naive"],
                      spec=BacktestSpec.holdout(12), rnn_factory=rnn)
    rnn_rows = result.backtest.for_model("rnn")
    assert len(rnn_rows) == 12 and np.isfinite(rnn_rows["forecast"]).all()
    assert "rnn" in set(result.table["model"])


def test_forecast_evaluate_names_the_series_too_short_for_the_folds(tmp_path, runner):
    from forecaster.cli import forecast

    months = pd.date_range("2015-01-01", periods=60, freq="MS")
    rows = [(sid, t, 100.0 + k + (10 if sid == "B" else 0)) for sid in ("A", "B")
            for k, t in enumerate(months)]
    rows += [("C", t, 5.0 + k) for k, t in enumerate(months[-3:])]
    pd.DataFrame(rows, columns=["unique_id", "ds", "y"]).to_csv(tmp_path / "p.csv", index=False)
    result = runner.invoke(forecast, ["evaluate", str(tmp_path / "p.csv"), "--models", "naive",
                                      "--runs-dir", str(tmp_path / "runs")])
    assert result.exit_code == 1, result.output
    error = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(error) == 1 and "Traceback" not in result.stderr
    assert error[0].startswith("Error: series 'C' has only 3 points; ")
    assert "need at least" in error[0] and "points in every series" in error[0]
    assert error[0].endswith("Use fewer --folds, a shorter --horizon or drop that series "
                             "from the data.")
    assert "Got" not in error[0]
