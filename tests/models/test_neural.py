"""The RNN forecaster on panels: short series, scaling choice, ensembles, the refit."""

import numpy as np
import pandas as pd
import pytest

from forecaster.errors import ConfigError, DataError
from forecaster.models import neural

TINY = dict(kind="tanh_cell", units=4, epochs=2, patience=1, batch_size=16, seed=3,
            season=4, horizon=4)


@pytest.fixture
def panel(tmp_path):
    from forecaster.data.ingest import read_panel

    rng = np.random.default_rng(0)
    t = np.arange(60)
    long = 100 + t + 10 * np.sin(2 * np.pi * t / 4) + rng.normal(0, 1, 60)
    other = 50 + 0.5 * t + 5 * np.sin(2 * np.pi * t / 4) + rng.normal(0, 1, 60)
    short = 20 + 2 * np.sin(2 * np.pi * np.arange(9) / 4)
    frames = [pd.DataFrame({"unique_id": sid, "ds": pd.date_range(
        "2000-01-01", periods=len(v), freq="QS").shift(60 - len(v), freq="QS"), "y": v})
        for sid, v in [("long", long), ("other", other), ("short", short)]]
    path = tmp_path / "panel.csv"
    pd.concat(frames).to_csv(path, index=False)
    return read_panel(path)


def test_one_short_series_no_longer_shrinks_or_refuses(panel):
    shape = neural.resolve_shape(panel, window=0, horizon=4, validation=0.15, season=4)
    assert shape.window == 14  # from the season and horizon, not from the 9-point series
    f = neural.RNNForecaster(**TINY).fit(panel)
    fc = f.predict(4)
    assert len(fc) == 3 * 4 and np.all(np.isfinite(fc.forecast))
    assert f.scaler_.log  # every value positive: log scale chosen automatically
    # each series scaled by the geometric mean of its std and mean |4-step change| (logs);
    # the short one repeats its season exactly, so it keeps its std
    long, other, short = (np.log(panel.values[panel.ids.index(s)])
                          for s in ("long", "other", "short"))
    expected = [np.sqrt(np.std(u) * np.mean(np.abs(u[4:] - u[:-4]))) for u in (long, other)]
    np.testing.assert_allclose(f.scaler_.scale, [*expected, np.std(short)], rtol=1e-9)


def test_scaling_auto_falls_back_to_standard_and_log_is_checked():
    pos = [np.array([1.0, 2.0]), np.array([3.0, 4.0])]
    with_zero = [np.array([1.0, 0.0]), np.array([3.0, 4.0])]
    assert neural.resolve_scaling("auto", pos) == "log"
    assert neural.resolve_scaling("auto", with_zero) == "standard"
    assert neural.resolve_scaling("standard", pos) == "standard"
    with pytest.raises(DataError, match="strictly positive"):
        neural.resolve_scaling("log", with_zero)
    with pytest.raises(ConfigError):
        neural.resolve_scaling("cube", pos)


def test_level_span_defaults_to_one_season():
    assert neural.level_span(True, 12, 24) == 12
    assert neural.level_span(True, None, 24) == 1
    assert neural.level_span(3, 12, 24) == 3
    assert neural.level_span(False, 12, 24) == 0


def test_ensemble_forecast_is_the_mean_of_its_members(panel):
    f = neural.RNNForecaster(**TINY, ensemble=3).fit(panel)
    assert f.model_.output_shape == (None, 4)
    x, _ = f.validation_batch_
    members = [m(x, training=False) for m in f.members_]
    np.testing.assert_allclose(np.asarray(f.model_(x, training=False)),
                               np.mean([np.asarray(m) for m in members], axis=0), rtol=1e-5,
                               atol=1e-6)
    # members start from different seeds, so they differ
    assert not np.allclose(np.asarray(members[0]), np.asarray(members[1]))


def test_refit_trains_on_every_window_for_the_chosen_epochs(panel):
    held = neural.RNNForecaster(**TINY, refit_all=False).fit(panel)
    full = neural.RNNForecaster(**TINY, refit_all=True).fit(panel)
    assert full.n_train_windows_ > held.n_train_windows_
    assert full.refit_.epochs_run == full.fit_.best_epoch
    assert full.refit_.val_loss == []


def test_only_the_refit_averages_its_weights(panel, monkeypatch):
    from forecaster import training

    calls = []
    real = training.fit_model
    monkeypatch.setattr(training, "fit_model",
                        lambda *a, **kw: calls.append(kw["average"]) or real(*a, **kw))
    neural.RNNForecaster(**TINY).fit(panel)
    assert calls == [False, True]  # early-stopped fit, then the averaged refit


def test_same_seed_same_forecast(panel):
    a = neural.RNNForecaster(**TINY, ensemble=2).fit(panel).predict(6)
    b = neural.RNNForecaster(**TINY, ensemble=2).fit(panel).predict(6)
    np.testing.assert_array_equal(a.forecast.to_numpy(), b.forecast.to_numpy())


def test_direct_horizon_only_where_it_keeps_half_the_training_windows(panel, tmp_path):
    from forecaster.data.ingest import read_panel

    f = neural.RNNForecaster(**{**TINY, "horizon": 0})
    f.direct_horizon = 8
    assert f._shape(panel).horizon == 8  # 60-point series: a direct 8-step head fits
    path = tmp_path / "one.csv"
    pd.DataFrame({"ds": pd.date_range("2000-01-01", periods=108, freq="MS"),
                  "y": np.arange(108.0) + 10}).to_csv(path, index=False)
    one = read_panel(path)
    g = neural.RNNForecaster(**{**TINY, "season": 12, "horizon": 0})
    g.direct_horizon = 36  # would leave ~4 windows of 108 points: one season, recursively
    assert g._shape(one).horizon == 12
    g.direct_horizon = 0
    assert g._shape(one).horizon == 12
