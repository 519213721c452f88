"""Intervals at any level after the fact (issue 36): stored calibration residuals, the
quantile columns, clipping at zero, and the pinball loss and MSIS of ``forecast evaluate``."""

import math

import numpy as np
import pandas as pd
import pytest

from forecaster.data.panel import TimeAxis
from forecaster.errors import ArtifactError, ConfigError, DataError
from forecaster.evaluation import metrics as M
from forecaster.evaluation.intervals import (ConformalIntervals, add_quantiles,
                                             check_residuals, conformal_quantile,
                                             quantile_column, quantile_level, scores_needed)
from forecaster.pipeline.predict import clip_nonnegative, wanted_levels, wanted_quantiles
from forecaster.runs.forecast_state import Preprocessing, SeriesState


def backtest_frame(series=2, folds=3, horizon=4, seed=0):
    """A backtest frame of ``series`` × ``folds`` forecasts of ``horizon`` steps."""
    rng = np.random.default_rng(seed)
    rows = [{"series_id": f"s{i}", "fold": k, "step": h, "actual": float(rng.normal()),
             "forecast": 0.0}
            for k in range(1, folds + 1) for i in range(series) for h in range(1, horizon + 1)]
    return pd.DataFrame(rows)


SCALES = {"s0": 1.0, "s1": 2.0}


# -- metrics, exact numbers on hand-made arrays ------------------------------------------
def test_pinball_by_hand():
    y, q = [10.0, 10.0, 10.0, 10.0], [8.0, 12.0, 10.0, 14.0]
    # p = 0.9: under-forecast 2 costs 0.9·2 = 1.8; over-forecasts 2 and 4 cost 0.1·2, 0.1·4
    assert M.pinball(y, q, 0.9) == pytest.approx((1.8 + 0.2 + 0.0 + 0.4) / 4, abs=1e-15)
    assert M.pinball(y, q, 0.5) == pytest.approx(0.5 * M.mae(y, q), abs=1e-15)
    # the 80 % interval is the 0.1 and 0.9 quantiles: lower 8 is under y by 2 → 0.1·2 = 0.2,
    # upper 12 is over by 2 → 0.1·2 = 0.2; mean of the two losses
    assert M.interval_pinball([10.0], [8.0], [12.0], 80) == pytest.approx(0.2, abs=1e-15)
    assert M.interval_pinball([13.0], [8.0], [12.0], 80) == pytest.approx(
        0.5 * (0.1 * 5 + 0.9 * 1), abs=1e-15)


def test_msis_by_hand():
    y = np.array([5.0, 0.0, 12.0])
    lower, upper = np.array([4.0, 1.0, 6.0]), np.array([6.0, 3.0, 10.0])
    # level 95: a = 0.05, 2/a = 40; widths 2, 2, 4; misses: 1 below (1 − 0 = 1), 2 above
    expected = ((2 + 0) + (2 + 40 * 1) + (4 + 40 * 2)) / 3 / 2.0
    assert M.msis(y, lower, upper, 95, 2.0) == pytest.approx(expected, abs=1e-12)
    # per-point scales (folds with their own) divide point by point
    per_point = M.msis(y, lower, upper, 95, np.array([1.0, 2.0, 4.0]))
    assert per_point == pytest.approx((2 / 1 + 42 / 2 + 84 / 4) / 3, abs=1e-12)
    assert M.msis(y, lower, upper, 95, 0.0) is None
    assert M.msis(y, lower, upper, 95, None) is None


# -- levels, quantiles and how many residuals they need ----------------------------------
def test_scores_needed_matches_the_quantile():
    assert [scores_needed(lv) for lv in (50, 80, 90, 95, 99)] == [1, 4, 9, 19, 99]
    for level in (50, 66.6, 80, 90, 95, 97.5, 99):
        n = scores_needed(level)
        assert math.isfinite(conformal_quantile(np.arange(n), level))
        assert conformal_quantile(np.arange(n - 1), level) == math.inf


def test_quantiles_are_the_bounds_of_central_intervals():
    assert quantile_level(0.9) == (80, "upper") and quantile_level(0.1) == (80, "lower")
    assert quantile_level(0.975) == (95, "upper") and quantile_level(0.5) == (0, "forecast")
    assert quantile_level(0.99)[0] == 98
    assert [quantile_column(p) for p in (0.1, 0.5, 0.975)] == ["q_0.1", "q_0.5", "q_0.975"]
    for bad in (0, 1, 1.5, -0.1, "0.5", True, float("nan")):
        with pytest.raises(ConfigError, match="`quantiles` must be numbers between 0 and 1"):
            quantile_level(bad)
    frame = pd.DataFrame({"forecast": [5.0], "lower_80": [3.0], "upper_80": [7.0]})
    out = add_quantiles(frame, [0.9, 0.5, 0.1])
    assert list(out.columns[-3:]) == ["q_0.9", "q_0.5", "q_0.1"]
    assert out[["q_0.1", "q_0.5", "q_0.9"]].iloc[0].tolist() == [3.0, 5.0, 7.0]


def test_predict_arguments_are_checked():
    assert wanted_levels([95, 90.0, 95]) == [90.0, 95] and wanted_levels(None) is None
    assert wanted_levels(99) == [99]
    for bad in ([0], [100], [float("nan")], [-5]):
        with pytest.raises(ConfigError, match="between 0 and 100"):
            wanted_levels(bad)
    assert wanted_quantiles(0.5) == [0.5] and wanted_quantiles(None) == []
    with pytest.raises(ConfigError, match="`quantiles`"):
        wanted_quantiles("0.5")


# -- stored residuals --------------------------------------------------------------------
def test_stored_residuals_give_the_calibrated_widths_exactly():
    frame = backtest_frame(series=2, folds=12)  # 24 scores per step: 80 and 95 both finite
    calibrated = ConformalIntervals((80, 95)).fit(frame, SCALES)
    residuals = calibrated.residuals_json()
    assert residuals["origins"] == 12 and len(residuals["scores"]) == 4
    assert all(len(step) == 24 and step == sorted(step) for step in residuals["scores"])
    # widths computed from the stored scores alone equal the stored widths, bit for bit
    other = ConformalIntervals.from_json({"50": [0.0] * 4}, residuals).at_levels([80, 95])
    for level in (80, 95):
        assert other.quantiles_[level].tolist() == calibrated.quantiles_[level].tolist()
    # and a calibrated level keeps its stored width
    loaded = ConformalIntervals.from_json(calibrated.to_json(), residuals)
    assert loaded.at_levels([95]).quantiles_[95].tolist() == calibrated.quantiles_[95].tolist()
    # any other level: the conformal quantile of the scores at that level
    step1 = np.array(residuals["scores"][0])
    assert loaded.at_levels([90]).quantiles_[90][0] == conformal_quantile(step1, 90)


def test_a_level_without_enough_residuals_says_how_many_origins():
    frame = backtest_frame(series=2, folds=3)  # 6 scores per step, 2 per origin
    bands = ConformalIntervals((80,)).fit(frame, SCALES)
    with pytest.raises(ConfigError, match=r"95% intervals need at least 19 calibration "
                                          r"residuals per step and the backtest gave 6; "
                                          r"train with at least --origins 10"):
        bands.at_levels([95])
    assert bands.at_levels([50]).quantiles_[50].shape == (4,)
    # a run written before residuals were stored: the calibrated levels only
    old = ConformalIntervals.from_json(bands.to_json())
    assert old.at_levels([80]).quantiles_[80].tolist() == bands.quantiles_[80].tolist()
    with pytest.raises(ConfigError, match=r"level 90 was not calibrated and this run keeps "
                                          r"no calibration residuals.*among 80"):
        old.at_levels([90])


@pytest.mark.parametrize("residuals, message", [
    ([], "must be an object with `origins` and `scores`"),
    ({"origins": 2}, "must be an object with `origins` and `scores`"),
    ({"origins": True, "scores": [[]] * 4}, "`residuals.origins` must be a positive integer"),
    ({"origins": 0, "scores": [[]] * 4}, "`residuals.origins` must be a positive integer"),
    ({"origins": 1, "scores": [[1.0]] * 3}, "must list 4 lists, one per step"),
    ({"origins": 1, "scores": [[1.0]] * 3 + [[-1.0]]}, "step 4 must hold finite, non-neg"),
    ({"origins": 1, "scores": [[1.0]] * 3 + [[float("inf")]]}, "step 4 must hold finite"),
    ({"origins": 1, "scores": [[1.0]] * 3 + [["1"]]}, "step 4 must hold finite"),
    ({"origins": 1, "scores": [[1.0]] * 3 + [[False]]}, "step 4 must hold finite"),
])
def test_malformed_residuals_are_refused(residuals, message):
    with pytest.raises(DataError, match=message):
        check_residuals(residuals, 4)


def _state(**kwargs) -> Preprocessing:
    series = [SeriesState(id="a", mean=1.0, scale=1.0, length=6, context_start=0,
                          context=np.arange(6, dtype=float))]
    return Preprocessing(axis=TimeAxis("integer"), target="y", time_col="t", id_col=None,
                         window=3, horizon=2, season=None, level=1, levels=[80],
                         series=series, **kwargs)


def test_preprocessing_json_keeps_residuals_and_nonnegative():
    residuals = {"origins": 2, "scores": [[0.5, 1.0], [0.25, 2.0]]}
    state = _state(conformal={"80": [None, None]}, residuals=residuals, nonnegative=True)
    data = state.to_json()
    assert data["residuals"] == residuals and data["nonnegative"] is True
    back = Preprocessing.from_json(data)
    assert back.residuals == residuals and back.nonnegative is True
    # runs written before: neither key, nothing clipped, the calibrated levels only
    old = _state(conformal={"80": [1.0, 1.0]}).to_json()
    assert "residuals" not in old and "nonnegative" not in old
    assert Preprocessing.from_json(old).nonnegative is False
    with pytest.raises(ArtifactError, match=r"preprocessing.json failed validation: "
                                            r"`residuals.scores` step 2 must hold finite"):
        Preprocessing.from_json({**data, "residuals": {"origins": 2,
                                                       "scores": [[0.5], [-1.0]]}})
    with pytest.raises(ArtifactError, match="`nonnegative` must be true or false"):
        Preprocessing.from_json({**data, "nonnegative": "yes"})


# -- non-negative data -------------------------------------------------------------------
def test_clipping_reaches_forecast_bounds_and_quantiles_only():
    frame = pd.DataFrame({"series_id": ["a", "a"], "step": [1, 2],
                          "forecast": [-0.5, 3.0], "lower_95": [-375.0, 1.0],
                          "upper_95": [2.0, 5.0], "q_0.1": [-1.0, 2.0]})
    out = clip_nonnegative(frame)
    assert out["forecast"].tolist() == [0.0, 3.0]
    assert out["lower_95"].tolist() == [0.0, 1.0]
    assert out["upper_95"].tolist() == [2.0, 5.0] and out["q_0.1"].tolist() == [0.0, 2.0]
    assert out["step"].tolist() == [1, 2] and frame["forecast"].iloc[0] == -0.5


def test_the_leaderboard_scores_intervals_by_msis_and_pinball():
    from forecaster.data.panel import Panel
    from forecaster.evaluation.backtest import BacktestSpec, run_backtest
    from forecaster.evaluation.leaderboard import leaderboard
    from forecaster.models.registry import BASELINES

    t = np.arange(120)
    panel = Panel.from_arrays({"a": 50 + 0.5 * t + np.sin(t)}, TimeAxis("integer"))
    result = run_backtest(panel, {"naive": BASELINES["naive"]},
                          BacktestSpec(horizon=2, folds=25))
    row = leaderboard(result, panel, 1, levels=(80,)).iloc[0]
    assert row["msis_80"] > 0 and row["pinball"] > 0
    assert row["pinball"] < row["mae"]  # two quantile losses, each below the MAE here
