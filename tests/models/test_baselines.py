"""Baselines: exact numbers on hand-made series, regressors' shapes and reproducibility."""

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from forecaster.data.panel import Panel, TimeAxis
from forecaster.errors import ConfigError, DataError
from forecaster.errors import NotFittedError
from forecaster.models.baselines import (DriftForecaster, MeanForecaster, NaiveForecaster,
                                         SeasonalNaiveForecaster)
from forecaster.models.lag_regression import LagRegressionForecaster, calendar_features
from forecaster.models.registry import BASELINES, make_baseline

INT = TimeAxis("integer")
MONTHLY = TimeAxis("datetime", "MS")


def one(values, axis=INT, **kw):
    return Panel.from_arrays({"a": values}, axis, **kw)


def forecasts(model, horizon, panel=None):
    return model.predict(horizon, panel)["forecast"].to_numpy()


Y = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]


def test_naive_repeats_last_value():
    np.testing.assert_array_equal(forecasts(NaiveForecaster().fit(one(Y)), 3), [8, 8, 8])


def test_seasonal_naive_repeats_last_season_beyond_one_season():
    model = SeasonalNaiveForecaster(season=3).fit(one(Y))
    np.testing.assert_array_equal(forecasts(model, 7), [6, 7, 8, 6, 7, 8, 6])
    assert model.season_ == 3 and model.notes_ == []


def test_seasonal_naive_takes_season_from_frequency():
    values = np.arange(24.0)
    model = SeasonalNaiveForecaster().fit(one(values, MONTHLY))
    assert model.season_ == 12
    np.testing.assert_array_equal(forecasts(model, 13), list(range(12, 24)) + [12])


def test_seasonal_naive_falls_back_to_naive_with_a_note():
    short = SeasonalNaiveForecaster().fit(one([3.0, 1.0, 2.0], MONTHLY))
    np.testing.assert_array_equal(forecasts(short, 2), [2, 2])
    assert "shorter than one season (12)" in short.notes_[0] and "a" in short.notes_[0]
    unknown = SeasonalNaiveForecaster().fit(one(Y))  # integer axis: no season
    np.testing.assert_array_equal(forecasts(unknown, 2), [8, 8])
    assert "no season known" in unknown.notes_[0]


def test_drift_extends_first_to_last_line():
    y = [2.0, 5.0, 3.0, 8.0]  # slope (8 - 2) / 3 = 2
    np.testing.assert_allclose(forecasts(DriftForecaster().fit(one(y)), 3), [10, 12, 14])
    np.testing.assert_array_equal(forecasts(DriftForecaster().fit(one([4.0])), 2), [4, 4])


def test_mean_forecasts_training_mean():
    np.testing.assert_allclose(forecasts(MeanForecaster().fit(one(Y)), 2), [4.5, 4.5])


def test_new_context_keeps_learned_state():
    train = one(Y)
    context = one(Y + [20.0, 30.0])
    np.testing.assert_allclose(forecasts(NaiveForecaster().fit(train), 1, context), [30])
    np.testing.assert_allclose(forecasts(MeanForecaster().fit(train), 1, context), [4.5])
    np.testing.assert_allclose(forecasts(DriftForecaster().fit(train), 2, context), [31, 32])
    other = Panel.from_arrays({"zz": Y}, INT)
    with pytest.raises(DataError, match="unknown series"):
        MeanForecaster().fit(train).predict(1, other)


def test_forecast_frame_has_future_timestamps():
    panel = one(np.arange(30.0), MONTHLY, starts=[pd.Timestamp("2001-01-01")])
    frame = NaiveForecaster().fit(panel).predict(2)
    assert list(frame.columns) == ["series_id", "timestamp", "step", "forecast"]
    assert list(frame["timestamp"]) == [pd.Timestamp("2003-07-01"), pd.Timestamp("2003-08-01")]


@pytest.mark.parametrize("name", list(BASELINES))
def test_predict_before_fit_raises(name):
    with pytest.raises(NotFittedError, match="must be fitted before predict"):
        BASELINES[name]().predict(3)


def test_registry_names_and_unknown_name():
    assert set(BASELINES) == {"naive", "seasonal_naive", "drift", "mean", "theta", "ridge",
                              "random_forest", "hist_gradient_boosting", "knn"}
    with pytest.raises(ConfigError, match=r"`model` must be one of .*Got 'arima'\."):
        make_baseline("arima")


# -- lag regression ------------------------------------------------------------------------

def seasonal_panel(n=72):
    t = np.arange(n)
    rng = np.random.default_rng(0)
    small = 10 + np.sin(2 * np.pi * t / 12) + 0.05 * t + rng.normal(0, 0.1, n)
    big = 1e4 * (5 + np.cos(2 * np.pi * t / 12)) + rng.normal(0, 100, n)
    return Panel.from_arrays({"small": small, "big": big}, MONTHLY,
                             starts=[pd.Timestamp("2010-01-01"), pd.Timestamp("2011-03-01")])


@pytest.mark.parametrize("name", ["ridge", "random_forest", "hist_gradient_boosting", "knn"])
def test_regressors_shapes_timestamps_and_reproducibility(name):
    panel = seasonal_panel()
    a = BASELINES[name](seed=3).fit(panel).predict(7)
    b = BASELINES[name](seed=3).fit(panel).predict(7)
    pd.testing.assert_frame_equal(a, b)
    assert len(a) == 14 and list(a["step"][:7]) == list(range(1, 8))
    for i, sid in enumerate(panel.ids):
        got = a.loc[a["series_id"] == sid, "timestamp"]
        assert list(got) == list(panel.future(i, 7))
    assert np.all(np.isfinite(a["forecast"]))
    # per-series scaling: each series' forecasts stay at its own magnitude
    assert a.loc[a.series_id == "big", "forecast"].min() > 1e4
    assert a.loc[a.series_id == "small", "forecast"].max() < 100


def test_ridge_learns_a_clean_seasonal_pattern():
    t = np.arange(96)
    y = 100 + 10 * np.sin(2 * np.pi * t / 12)
    panel = one(y[:84], MONTHLY)
    forecast = forecasts(BASELINES["ridge"]().fit(panel), 12)
    assert np.max(np.abs(forecast - y[84:])) < 1.0


def test_lag_model_is_a_sklearn_pipeline_with_calendar_one_hot():
    model = BASELINES["ridge"]().fit(seasonal_panel())
    assert isinstance(model.pipeline_, Pipeline)
    features = model.pipeline_.named_steps["features"]
    assert isinstance(features, ColumnTransformer)
    assert isinstance(features.named_transformers_["calendar"], OneHotEncoder)
    assert model.lags_ == list(range(1, 13))
    assert set(model.scalers_) == {"small", "big"}


def test_lag_model_without_calendar_on_integer_axis():
    model = LagRegressionForecaster(BASELINES["ridge"]().estimator, lags=[1, 2]).fit(
        one(np.arange(20.0)))
    assert model.pipeline_.named_steps["features"].transformers[0][2] == ["lag_1", "lag_2"]
    np.testing.assert_allclose(forecasts(model, 3), [20, 21, 22], atol=0.5)


def test_lags_longer_than_series_are_an_error():
    with pytest.raises(DataError, match=r"`lags` up to 10 need series longer than 10 points\. "
                                        r"Got a=8\."):
        LagRegressionForecaster(BASELINES["ridge"]().estimator, lags=range(1, 11)).fit(one(Y))


def test_default_lags_shrink_for_short_series():
    model = BASELINES["knn"]().fit(one(np.arange(10.0), MONTHLY))
    assert model.lags_ == [1, 2, 3, 4, 5]


def test_calendar_features_by_frequency():
    months = pd.date_range("2020-01-01", periods=3, freq="MS")
    frame, cat, cyc = calendar_features(months, MONTHLY)
    assert cat == ["month"] and cyc == [] and list(frame["month"]) == [1, 2, 3]
    weeks = pd.date_range("2020-01-04", periods=2, freq="W-SAT")
    frame, cat, cyc = calendar_features(weeks, TimeAxis("datetime", "W-SAT"))
    assert cat == [] and cyc == ["year_sin", "year_cos"]
    days = pd.date_range("2020-01-06", periods=2, freq="D")
    frame, cat, cyc = calendar_features(days, TimeAxis("datetime", "D"))
    assert cat == ["dayofweek"] and list(frame["dayofweek"]) == [0, 1]
    hours = pd.date_range("2020-01-06", periods=2, freq="h")
    assert calendar_features(hours, TimeAxis("datetime", "h"))[1] == ["hour", "dayofweek"]
    assert calendar_features([1, 2], INT)[0].shape == (2, 0)


def test_forest_bootstrap_is_capped_on_big_panels(monkeypatch):
    import numpy as np

    from forecaster.data.panel import Panel, TimeAxis
    from forecaster.models import lag_regression, registry as B

    monkeypatch.setattr(lag_regression, "BOOTSTRAP_CAP", 50)
    rng = np.random.default_rng(0)
    panel = Panel.from_arrays({f"s{i}": rng.normal(size=40).cumsum() for i in range(5)},
                              TimeAxis("integer"))
    model = B.BASELINES["random_forest"](season=None, seed=0).fit(panel)
    assert model.pipeline_.named_steps["model"].max_samples == 50
    small = B.BASELINES["random_forest"](season=None, seed=0).fit(panel.select(["s0"]))
    assert small.pipeline_.named_steps["model"].max_samples is None
