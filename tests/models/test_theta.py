"""The Theta baseline: its pieces against brute force, its forecast against an independent
re-derivation, its seasonal handling and its place among the baselines of `evaluate`."""

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize_scalar

from forecaster.data.panel import Panel, TimeAxis
from forecaster.models.registry import BASELINES, make_baseline
from forecaster.models.theta import (ALPHA_BOUNDS, ThetaForecaster, fit_ses, seasonal_indices,
                                     theta_forecast)

MONTHLY = TimeAxis("datetime", "MS")
RNG = np.random.default_rng(0)
WALK = 50 + np.cumsum(RNG.normal(0.3, 1.0, 40))


def _ses_loop(y, alpha, l0):
    """SES one step at a time: ``(SSE of the one-step errors, last level)``."""
    level, sse = l0, 0.0
    for v in y:
        sse += (v - level) ** 2
        level += alpha * (v - level)
    return sse, level


def _brute_ses(y):
    """α on a 0.001 grid, ℓ_0 by a scalar search for each α: the slow way round."""
    best = (np.inf, None, None)
    for alpha in np.arange(ALPHA_BOUNDS[0], ALPHA_BOUNDS[1] + 1e-9, 0.001):
        found = minimize_scalar(lambda l0: _ses_loop(y, alpha, l0)[0])
        if found.fun < best[0]:
            best = (found.fun, alpha, found.x)
    return best


def test_fit_ses_finds_the_least_squares_alpha_and_level():
    sse, alpha, l0 = _brute_ses(WALK)
    got_alpha, got_level = fit_ses(WALK)
    got_sse = minimize_scalar(lambda l0: _ses_loop(WALK, got_alpha, l0)[0]).fun
    assert got_sse <= sse * (1 + 1e-9)  # at least as good as the 0.001 grid
    assert got_alpha == pytest.approx(alpha, abs=1.5e-3)
    assert got_level == pytest.approx(_ses_loop(WALK, alpha, l0)[1], rel=1e-4)


def test_theta_forecast_is_ses_plus_half_the_trend():
    """Re-derived independently: SES by brute force, the slope by a normal equation."""
    _, alpha, l0 = _brute_ses(WALK)
    level = _ses_loop(WALK, alpha, l0)[1]
    t = np.arange(len(WALK))
    slope = np.cov(t, WALK, bias=True)[0, 1] / np.var(t)
    h = np.arange(1, 7)
    expected = level + slope / 2 * (h - 1 + (1 - (1 - alpha) ** len(WALK)) / alpha)
    np.testing.assert_allclose(theta_forecast(WALK, 6), expected, rtol=2e-4)


def test_constant_and_tiny_series():
    np.testing.assert_allclose(theta_forecast(np.full(30, 7.0), 4), 7.0, rtol=1e-12)
    np.testing.assert_array_equal(theta_forecast([3.0, 5.0], 3), [5.0, 5.0, 5.0])
    np.testing.assert_array_equal(theta_forecast([0.0] * 10, 2), [0.0, 0.0])


def test_scale_equivariant_up_to_1e300():
    base = theta_forecast(WALK, 5, 1)
    for c in (1e-300, 1e-6, 1e6, 1e300):
        got = theta_forecast(WALK * c, 5, 1)
        assert np.all(np.isfinite(got))
        np.testing.assert_allclose(got, base * c, rtol=1e-9)


PATTERN = np.array([0.8, 0.9, 1.0, 1.3, 1.2, 1.1, 0.95, 0.85, 0.9, 1.0, 1.05, 0.95])


def _seasonal_series(years=8, growth=1.0):
    t = np.arange(12 * years)
    return (100 + growth * t) * PATTERN[t % 12]


def test_multiplicative_indices_recover_the_pattern():
    index, multiplicative = seasonal_indices(_seasonal_series(), 12)
    assert multiplicative
    np.testing.assert_allclose(index, PATTERN / PATTERN.mean(), rtol=5e-3)


def test_a_non_positive_series_gets_additive_indices():
    t = np.arange(48)
    y = 5.0 * np.sin(2 * np.pi * t / 4) - 1.0
    index, multiplicative = seasonal_indices(y, 4)
    assert not multiplicative
    np.testing.assert_allclose(index, [0, 5, 0, -5], atol=1e-9)


def test_a_seasonal_series_is_forecast_with_its_season():
    y = _seasonal_series()
    forecast = theta_forecast(y, 24, 12)
    # each forecast year keeps the series' pattern (month 1 of the forecast is January)
    for year in (forecast[:12], forecast[12:]):
        np.testing.assert_allclose(year / year.mean(), PATTERN / PATTERN.mean(), rtol=2e-2)
    # without the season the same series is smoothed flat-ish: a much worse fit of year 9
    actual = (100 + np.arange(96, 108)) * PATTERN
    assert np.mean(np.abs(forecast[:12] - actual)) < 0.2 * np.mean(
        np.abs(theta_forecast(y, 12, 1) - actual))


def test_white_noise_and_short_series_are_not_deseasonalised():
    noise = 100 + RNG.normal(0, 1, 60)
    np.testing.assert_allclose(theta_forecast(noise, 3, 12), theta_forecast(noise, 3, 1))
    short = _seasonal_series()[:20]  # under two seasons
    np.testing.assert_allclose(theta_forecast(short, 3, 12), theta_forecast(short, 3, 1))


def test_registered_and_season_from_the_frequency():
    assert "theta" in BASELINES
    panel = Panel.from_arrays({"a": _seasonal_series(), "b": WALK}, MONTHLY)
    model = make_baseline("theta").fit(panel)
    assert isinstance(model, ThetaForecaster) and model.season_ == 12
    frame = model.predict(5)
    np.testing.assert_allclose(frame["forecast"].to_numpy(), np.concatenate(
        [theta_forecast(_seasonal_series(), 5, 12), theta_forecast(WALK, 5, 12)]))
    integer = Panel.from_arrays({"a": WALK}, TimeAxis("integer"))
    assert make_baseline("theta").fit(integer).season_ == 1
    assert make_baseline("theta", season=4).fit(integer).season_ == 4


def test_evaluate_scores_theta_on_the_holdout():
    from forecaster.api import evaluate

    y = _seasonal_series(years=6)
    frame = pd.DataFrame({"month": pd.date_range("2000-01-01", periods=len(y), freq="MS"),
                          "value": y})
    board = evaluate(frame, models=["theta", "seasonal_naive"], holdout=12).to_frame()
    row = board.set_index("model").loc["theta"]
    forecast = theta_forecast(y[:-12], 12, 12)
    scale = np.mean(np.abs(y[12:-12] - y[:-24]))
    assert row["mae"] == pytest.approx(np.mean(np.abs(forecast - y[-12:])))
    assert row["mase"] == pytest.approx(np.mean(np.abs(forecast - y[-12:])) / scale)


def test_a_longer_context_is_smoothed_into_the_fitted_level():
    y = _seasonal_series()
    full = Panel.from_arrays({"a": y}, MONTHLY)
    model = ThetaForecaster().fit(full.cut(drop_last=5))
    fit = model.fits_[0]
    got = model.predict(6, full)["forecast"].to_numpy()
    # by hand: the 5 new points, seasonally adjusted, update the level with the fitted α
    level = fit.level
    for j, v in enumerate(y[-5:]):
        level += fit.alpha * (v / fit.ahead[j] - level)
    steps = np.arange(6)
    trend = level + fit.slope / 2 * (steps + (1 - (1 - fit.alpha) ** len(y)) / fit.alpha)
    np.testing.assert_allclose(got, trend * np.asarray(fit.ahead)[(5 + steps) % 12])
    assert not np.allclose(got, theta_forecast(y, 6, 12))  # not a refit
    # a context ending before the fitted end is fitted afresh
    short = full.cut(drop_last=10)
    np.testing.assert_allclose(model.predict(3, short)["forecast"],
                               theta_forecast(y[:-10], 3, 12))


def test_a_deployed_theta_refuses_a_tampered_state():
    from forecaster.errors import ArtifactError
    from forecaster.models.baseline_state import from_state, to_state

    panel = Panel.from_arrays({"a": _seasonal_series(), "b": WALK}, MONTHLY)
    state, blob = to_state(ThetaForecaster().fit(panel))
    assert blob is None and state["kind"] == "theta" and len(state["ahead"][0]) == 12
    assert state["ends"] == ["2007-12-01", "2003-04-01"]
    restored = from_state(state, None, MONTHLY)
    np.testing.assert_array_equal(restored.predict(4, panel)["forecast"],
                                  ThetaForecaster().fit(panel).predict(4)["forecast"])
    for key, value, message in [("alpha", [0.5, 1.5], "alpha"),
                                ("ahead", [[1.0] * 5, []], "seasonal indices"),
                                ("ahead", [[-1.0] * 12, []], "must be positive"),
                                ("n", [10, True], "positive integers"),
                                ("ends", ["2007-12-01", "yesterday"], "timestamps")]:
        with pytest.raises(ArtifactError, match=message):
            from_state({**state, key: value}, None, MONTHLY)
