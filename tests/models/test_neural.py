"""The RNN forecaster on panels: short series, scaling choice, ensembles, the refit."""

import numpy as np
import pandas as pd
import pytest

from forecaster.data import windowing as W
from forecaster.errors import ConfigError, DataError
from forecaster.models import neural
from forecaster.models import shape as S

# one small network; loss, learning rate and anchor as these tests were written for (the
# constructor's defaults are the shipped ones: ten networks, huber, 1e-3, mixed anchors)
TINY = dict(kind="tanh_cell", units=4, epochs=2, patience=1, batch_size=16, seed=3,
            season=4, horizon=4, ensemble=1, loss="mse", learning_rate=3e-3, anchor="level")


def rnn(**settings):
    return neural.RNNForecaster.from_settings(**{**TINY, **settings})


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
    shape = S.resolve_shape(panel, window=0, horizon=4, validation=0.15, season=4)
    assert shape.window == 14  # from the season and horizon, not from the 9-point series
    f = rnn(scaling="log").fit(panel)
    fc = f.predict(4)
    assert len(fc) == 3 * 4 and np.all(np.isfinite(fc.forecast))
    assert (f.scaler_.lam == 0).all()
    # each series scaled by the geometric mean of its std and mean |4-step change| (logs);
    # the short one repeats its season exactly, so it keeps its std
    long, other, short = (np.log(panel.values[panel.ids.index(s)])
                          for s in ("long", "other", "short"))
    expected = [np.sqrt(np.std(u) * np.mean(np.abs(u[4:] - u[:-4]))) for u in (long, other)]
    np.testing.assert_allclose(f.scaler_.scale, [*expected, np.std(short)], rtol=1e-9)


def test_scaling_auto_chooses_per_series_and_log_is_checked():
    pos = [np.array([1.0, 2.0]), np.array([3.0, 4.0])]
    with_zero = [np.array([1.0, 0.0]), np.array([3.0, 4.0])]
    # too short to measure the spread: a positive series keeps the log scale (λ 0)
    assert neural.resolve_scaling("auto", pos).tolist() == [0.0, 0.0]
    assert neural.resolve_scaling("auto", with_zero).tolist() == [1.0, 0.0]
    assert neural.resolve_scaling("standard", pos).tolist() == [1.0, 1.0]
    assert neural.resolve_scaling("log", pos).tolist() == [0.0, 0.0]
    with pytest.raises(DataError, match="strictly positive"):
        neural.resolve_scaling("log", with_zero)
    with pytest.raises(ConfigError):
        neural.resolve_scaling("cube", pos)


def test_scaling_auto_takes_the_box_cox_power_of_how_the_spread_grows_with_the_level():
    t = np.arange(96)
    season = np.sin(2 * np.pi * t / 12)
    multiplicative = 100 * 1.02 ** t * (1 + 0.2 * season)  # the swing grows with the level
    additive = 100 + 3 * t + 20 * season                     # the same swing at every level
    steps = 100 * 1.5 ** (t // 12)                           # one level a season
    half = steps + 2 * np.sqrt(steps) * season               # the swing grows as sqrt(level)
    short = additive[:30]                                    # 2 seasons: not measurable
    got = neural.resolve_scaling("auto", [multiplicative, additive, half, short], season=12)
    assert W.spread_slope(multiplicative, 12) == pytest.approx(1.0, abs=0.05)
    assert abs(W.spread_slope(additive, 12)) < 0.05
    assert W.spread_slope(half, 12) == pytest.approx(0.5, abs=0.05)
    # log (λ 0), standard (λ 1), the square root between; short: a positive series keeps log
    assert got[0] <= 0.05 and got[1] >= 0.95 and got[3] == 0.0
    assert got[2] == pytest.approx(1 - W.spread_slope(half, 12), abs=0.005)
    assert got.tolist() == [round(x, 2) for x in got.tolist()]  # two decimals, as recorded
    # decided on the training part only: a tail that changes everything changes nothing
    tail = np.concatenate([additive[:72], additive[72:] * (1 + season[72:])])
    assert neural.resolve_scaling("auto", [tail], [additive[:72]], season=12).tolist() == (
        neural.resolve_scaling("auto", [additive[:72]], season=12).tolist())


def test_level_span_defaults_to_one_season():
    assert S.level_span(True, 12, 24) == 12
    assert S.level_span(True, None, 24) == 1
    assert S.level_span(3, 12, 24) == 3
    assert S.level_span(False, 12, 24) == 0


def test_ensemble_forecast_is_the_mean_of_its_members(panel):
    f = rnn(ensemble=3).fit(panel)
    assert f.model_.output_shape == (None, 4)
    x, _ = f.validation_batch_
    members = [m(x, training=False) for m in f.members_]
    np.testing.assert_allclose(np.asarray(f.model_(x, training=False)),
                               np.mean([np.asarray(m) for m in members], axis=0), rtol=1e-5,
                               atol=1e-6)
    # members start from different seeds, so they differ
    assert not np.allclose(np.asarray(members[0]), np.asarray(members[1]))


def test_refit_trains_on_every_window_for_the_chosen_epochs(panel):
    held = rnn(policy=neural.FitPolicy(refit_all=False)).fit(panel)
    full = rnn(policy=neural.FitPolicy(refit_all=True)).fit(panel)
    assert full.n_train_windows_ > held.n_train_windows_
    assert full.refit_.epochs_run == full.fit_.best_epoch
    assert full.refit_.val_loss == []


def test_only_the_refit_averages_its_weights(panel, monkeypatch):
    from forecaster.training import loops as training
    calls = []
    real = training.fit_model
    monkeypatch.setattr(training, "fit_model",
                        lambda *a, **kw: calls.append(kw["average"]) or real(*a, **kw))
    rnn().fit(panel)
    assert calls == [False, True]  # early-stopped fit, then the averaged refit


def test_same_seed_same_forecast(panel):
    a = rnn(ensemble=2).fit(panel).predict(6)
    b = rnn(ensemble=2).fit(panel).predict(6)
    np.testing.assert_array_equal(a.forecast.to_numpy(), b.forecast.to_numpy())


def test_direct_horizon_only_where_it_keeps_half_the_training_windows(panel, tmp_path):
    from forecaster.data.ingest import read_panel

    f = rnn(horizon=0, policy=neural.FitPolicy(direct_horizon=8))
    assert f._shape(panel).horizon == 8  # 60-point series: a direct 8-step head fits
    path = tmp_path / "one.csv"
    pd.DataFrame({"ds": pd.date_range("2000-01-01", periods=108, freq="MS"),
                  "y": np.arange(108.0) + 10}).to_csv(path, index=False)
    one = read_panel(path)
    # 36 would leave ~4 windows of 108 points: one season, recursively
    g = rnn(season=12, horizon=0, policy=neural.FitPolicy(direct_horizon=36))
    assert g._shape(one).horizon == 12
    assert rnn(season=12, horizon=0)._shape(one).horizon == 12


def test_the_rnn_takes_the_config_sections_and_the_callers_policy():
    """The constructor holds the typed ``[model]``/``[training]`` sections and a policy;
    ``from_settings`` applies keys by name, validated, and refuses keys of other
    sections (nothing silently ignored)."""
    from forecaster.config import load_config

    cfg = load_config()
    f = neural.RNNForecaster(cfg.model, cfg.training, neural.FitPolicy(fixed_epochs=3))
    assert f.model_config is cfg.model and f.policy.fixed_epochs == 3
    assert f.policy.refit_all and not f.policy.direct_horizon
    g = rnn(units=8)
    assert g.model_config.units == 8 and g.training_config.loss == "mse"
    assert g.name == "tanh_cell" and g.policy == neural.FitPolicy()
    with pytest.raises(ConfigError, match="fill: not a setting of the RNN"):
        rnn(fill="zero")
    with pytest.raises(ConfigError, match="`model.units` must be between 1 and 4096"):
        rnn(units=0)
    with pytest.raises(ConfigError, match="unknown setting 'fixed_epochs'"):
        rnn(fixed_epochs=2)  # policy, not configuration


def test_validation_sample_is_a_copy_and_leaves_the_windows_as_they_are():
    flat = np.arange(neural.VALIDATION_CAP + 20, dtype=np.float32)
    val = W.WindowSet(flat, np.array([0]), np.arange(neural.VALIDATION_CAP + 10), 4, 2, 0)
    before = val.positions.copy()
    sample = neural._validation_sample(val)
    assert len(sample) == neural.VALIDATION_CAP and sample is not val
    np.testing.assert_array_equal(val.positions, before)
    assert sample.positions[0] == 0 and sample.positions[-1] == before[-1]
    small = W.WindowSet(flat, np.array([0]), np.arange(10), 4, 2, 0)
    assert neural._validation_sample(small) is small


def test_lookbacks_are_spread_evenly_longest_first():
    assert S.Shape(48, 18, 24).lookbacks(5) == [48, 42, 36, 30, 24]
    assert S.Shape(48, 18, 24).lookbacks(10)[::3] == [48, 40, 32, 24]
    assert S.Shape(48, 18, 24).lookbacks(1) == [48]
    assert S.Shape(24, 12).lookbacks(3) == [24, 24, 24]  # no spread


def test_max_lookback_widens_the_input_within_the_longest_series(panel):
    kw = dict(horizon=4, validation=0.15, season=4)
    # 60 points: room for 60 - 9 (validation) - 4 - 3 = 44 input steps
    assert S.resolve_shape(panel, window=0, **kw) == S.Shape(14, 4, 14)
    assert S.resolve_shape(panel, window=0, max_lookback=0, **kw) \
        == S.Shape(16, 4, 14)  # four seasons
    assert S.resolve_shape(panel, window=0, max_lookback=28, **kw) \
        == S.Shape(28, 4, 14)
    assert S.resolve_shape(panel, window=0, max_lookback=90, **kw) \
        == S.Shape(44, 4, 14)  # within the data
    assert S.resolve_shape(panel, window=20, max_lookback=0, **kw) \
        == S.Shape(20, 4, 20)  # four seasons are shorter than the window
    assert S.resolve_shape(panel, window=0, max_lookback=0, seasonal=False, **kw) \
        == S.Shape(14, 4, 14)  # trend and noise: no wider spans
    assert S.default_max_lookback(12, 24) == 48
    assert S.default_max_lookback(None, 24) == 24  # no season: no widening
    assert S.default_max_lookback(1, 24) == 24


def test_ensemble_members_read_their_own_lookbacks(panel):
    f = rnn(ensemble=3, max_lookback=28).fit(panel)
    assert f.shape_ == S.Shape(28, 4, 14) and f.lookbacks_ == [28, 21, 14]
    assert f.model_.input_shape == (None, 28, 1)
    x, _ = f.validation_batch_
    older = x.copy()
    older[:, :7] += 5.0  # steps only the longest member reads
    out = [np.asarray(m(v, training=False)) for m in f.members_ for v in (x, older)]
    assert not np.allclose(out[0], out[1])  # member 0 reads all 28 steps
    np.testing.assert_array_equal(out[2], out[3])  # member 1: the last 21
    np.testing.assert_array_equal(out[4], out[5])  # member 2: the last 14
    # the shortest lookback decides which padded windows exist: as for a 14-step network
    single = rnn().fit(panel)
    assert f.n_train_windows_ == single.n_train_windows_
    # automatic: four seasons, as the panel is seasonal (its two long series are)
    assert rnn(ensemble=2)._shape(panel) == S.Shape(16, 4, 14)
    # one network has nothing to spread over: it reads the plain window
    assert rnn(max_lookback=28).fit(panel).shape_.window == 14


def test_cropped_anchored_ensemble_reloads_in_safe_mode(panel, tmp_path):
    import keras

    f = rnn(ensemble=2, max_lookback=28, anchor="mixed").fit(panel)
    from forecaster.models.ensemble import SeasonalAnchor

    assert [layer.anchored for layer in f.model_.layers
            if isinstance(layer, SeasonalAnchor)] == [[False, True]]
    f.model_.save(tmp_path / "m.keras")
    back = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    x, _ = f.validation_batch_
    np.testing.assert_allclose(np.asarray(back(x)), np.asarray(f.model_(x)), rtol=1e-6)


def test_automatic_batch_size_aims_at_500_batches_an_epoch(panel):
    assert [neural.auto_batch_size(n) for n in (0, 100, 16_000, 30_000, 60_000, 10**7)] \
        == [32, 32, 32, 64, 128, 256]
    f = rnn(batch_size=0).fit(panel)
    assert f.batch_size_ == 32
    assert rnn().fit(panel).batch_size_ == 16  # explicit wins


def test_no_wider_spans_where_the_series_are_not_seasonal(tmp_path):
    from forecaster.data.ingest import read_panel

    rng = np.random.default_rng(1)
    walks = [100 + np.cumsum(rng.normal(0.3, 1, 80)) for _ in range(3)]
    path = tmp_path / "walks.csv"
    pd.concat([pd.DataFrame({"unique_id": f"w{i}", "y": v, "ds": pd.date_range(
        "2000-01-01", periods=80, freq="QS")}) for i, v in enumerate(walks)]).to_csv(path)
    f = rnn(ensemble=2)
    assert f._shape(read_panel(path)) == S.Shape(14, 4, 14)


def test_shape_without_a_shortest_lookback_reads_the_window():
    assert S.Shape(24, 12).shortest == 24
    assert S.Shape(24, 12) == S.Shape(24, 12, 24)


def test_a_subnormal_series_trains_beside_a_normal_one():
    """[5e-324, 0] repeated: its spread underflows to a zero std; it gets a unit scale
    (numerically zero data) instead of failing the panel as 'training diverged'."""
    from forecaster.data.panel import Panel, TimeAxis

    t = np.arange(60)
    panel = Panel.from_arrays({"normal": 100 + t + 5 * np.sin(2 * np.pi * t / 4),
                               "tiny": np.tile([5e-324, 0.0], 30)}, TimeAxis("datetime", "QS"))
    f = rnn().fit(panel)
    assert f.scaler_.scale[1] == 1.0 and (f.scaler_.lam == 1).all()
    fc = f.predict(4)
    assert np.all(np.isfinite(fc.forecast))
    assert np.all(np.abs(fc.loc[fc.series_id == "tiny", "forecast"]) < 1.0)


def test_every_member_anchored_trains_without_a_gradient_diagnostic(panel):
    """`--anchor season` anchors every member of the wide tanh-cell ensemble: no plain
    member is left for the gradient diagnostic (it used to fail the whole fit); with
    `mixed` the first plain member is the one followed."""
    f = rnn(anchor="season", ensemble=2).fit(panel)
    assert f.member_ is None
    assert np.all(np.isfinite(f.predict(4).forecast))
    mixed = rnn(anchor="mixed", ensemble=2).fit(panel)
    assert mixed.member_ is not None and mixed.member_.output_shape == (None, 4)
