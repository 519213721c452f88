"""Intervals at any level on real runs (issue 36): a run keeps its calibration residuals,
``forecast predict --level/--quantiles`` and ``predict(levels=, quantiles=)`` use them,
runs written before them keep their calibrated levels, and non-negative data get no
negative forecast or bound unless allowed."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import forecaster as fc
from forecaster.cli.commands import forecast
from forecaster.errors import ConfigError
from tests.run_faces import copy_run, make_run, rehash


@pytest.fixture(scope="module")
def theta_run(tmp_path_factory):
    """A Theta-deployed tiny run of air passengers: 6 origins, one series."""
    return make_run("theta", tmp_path_factory.mktemp("levels") / "runs")


def test_a_run_keeps_its_calibration_residuals(theta_run):
    state = json.loads((theta_run / "preprocessing.json").read_text())
    baseline = json.loads((theta_run / "baseline.json").read_text())
    for stored in (state, baseline):
        residuals = stored["residuals"]
        assert residuals["origins"] == 6 and len(residuals["scores"]) == state["horizon"]
        assert all(len(step) == 6 for step in residuals["scores"])
    assert state["nonnegative"] is True  # air passengers: every value > 0


def test_any_level_and_quantiles_from_the_api(theta_run):
    model = fc.load(theta_run)
    default = model.predict()
    assert "lower_80" in default and "lower_95" not in default  # 6 residuals: 95 % needs 19
    assert any("--origins 19" in note for note in model.predict_notes_)
    wanted = model.predict(levels=[50, 80], quantiles=[0.1, 0.5, 0.9])
    assert list(wanted.columns) == ["series_id", "timestamp", "forecast", "lower_50",
                                    "upper_50", "lower_80", "upper_80", "q_0.1", "q_0.5",
                                    "q_0.9"]
    # the calibrated level recomputed from the residuals is the stored one, bit for bit
    assert wanted["lower_80"].tolist() == default["lower_80"].tolist()
    assert wanted["q_0.9"].tolist() == wanted["upper_80"].tolist()
    assert wanted["q_0.5"].tolist() == wanted["forecast"].tolist()
    assert (wanted["upper_50"] <= wanted["upper_80"]).all()
    with pytest.raises(ConfigError, match=r"95% intervals need at least 19 calibration "
                                          r"residuals per step and the backtest gave 6; "
                                          r"train with at least --origins 19"):
        model.predict(levels=[95])
    with pytest.raises(ConfigError, match="--origins 19"):
        model.predict(quantiles=[0.975])


def test_predict_level_and_quantiles_on_the_command_line(theta_run, tmp_path):
    runs, out = theta_run.parent, tmp_path / "f.csv"
    result = CliRunner().invoke(forecast, [
        "predict", "--runs-dir", str(runs), "--level", "50,70", "--quantiles", "0.25,0.75",
        "-o", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out)
    assert list(frame.columns)[3:] == ["lower_50", "upper_50", "lower_70", "upper_70",
                                       "q_0.25", "q_0.75"]
    assert frame["q_0.75"].tolist() == frame["upper_50"].tolist()
    for args, message in ((["--level", "99"], "--origins 99"),
                          (["--level", "ninety"], "--level"),
                          (["--quantiles", "1.5"], "between 0 and 1")):
        result = CliRunner().invoke(forecast, ["predict", "--runs-dir", str(runs), *args,
                                               "-o", str(tmp_path / "g.csv")])
        assert result.exit_code != 0 and message in result.output, result.output


def test_a_run_without_residuals_keeps_its_calibrated_levels(theta_run, tmp_path):
    run = copy_run(theta_run, tmp_path / "old")
    for name in ("preprocessing.json", "baseline.json"):
        data = json.loads((run / name).read_text())
        data.pop("residuals")
        data.pop("nonnegative", None)
        (run / name).write_text(json.dumps(data))
    rehash(run)
    old, new = fc.load(run), fc.load(theta_run)
    assert old.predict(levels=[80]).equals(new.predict(levels=[80]))
    with pytest.raises(ConfigError, match=r"level 90 was not calibrated and this run keeps "
                                          r"no calibration residuals"):
        old.predict(levels=[90])


def test_counts_get_no_negative_forecast_or_bound(tmp_path):
    """A count series falling to zero: its forecast and lower bounds would go below 0."""
    from forecaster.pipeline import select

    t = np.arange(72)
    values = np.maximum(40 - 0.6 * t + 3 * np.sin(t), 0).round()
    frame = pd.DataFrame({"date": pd.date_range("2000-01-01", periods=72, freq="MS"),
                          "count": values})

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(select, "choose", lambda evaluation, candidates: select.Selection(
            "theta", "forced by the test"))
        model = fc.Forecaster(select="best", epochs=1, units=2, ensemble=1, origins=6,
                              seed=1).fit(frame)
    assert model.state_.nonnegative
    raw = model.predict(24, levels=[50], allow_negative=True)
    clipped = model.predict(24, levels=[50])
    value_columns = ["forecast", "lower_50", "upper_50"]
    assert (raw["lower_50"] < 0).any()  # the case the clipping is for
    assert (clipped[value_columns] >= 0).all().all()
    np.testing.assert_array_equal(clipped[value_columns].to_numpy(),
                                  np.maximum(raw[value_columns].to_numpy(), 0))
