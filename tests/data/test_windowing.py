"""Windowing is index arithmetic: checked on np.arange against hand-written arrays."""

import numpy as np
import pytest

from forecaster.data import windowing as W


def test_window_starts_whole_series():
    series, start = W.window_starts([7], window=3, horizon=2)
    # targets must fit: start + 3 + 2 <= 7  → starts 0, 1, 2
    assert series.tolist() == [0, 0, 0]
    assert start.tolist() == [0, 1, 2]


def test_windowset_gathers_hand_written_arrays():
    flat = [np.arange(7, dtype=float)]
    s, st = W.window_starts([7], 3, 2)
    ws = W.WindowSet.build(flat, s, st, 3, 2, level=False)
    x, y = ws.arrays()
    np.testing.assert_array_equal(x[..., 0], [[0, 1, 2], [1, 2, 3], [2, 3, 4]])
    np.testing.assert_array_equal(y, [[3, 4], [4, 5], [5, 6]])
    assert x.shape == (3, 3, 1) and x.dtype == np.float32 and y.dtype == np.float32


def test_relative_windows_subtract_last_input():
    flat = [np.arange(10, 17, dtype=float)]
    s, st = W.window_starts([7], 3, 2)
    x, y = W.WindowSet.build(flat, s, st, 3, 2, level=True).arrays()
    np.testing.assert_array_equal(x[0, :, 0], [-2, -1, 0])
    np.testing.assert_array_equal(y[0], [1, 2])


def test_panel_windows_stay_within_their_series():
    a, b = np.arange(6, dtype=float), 100 + np.arange(5, dtype=float)
    s, st = W.window_starts([6, 5], 2, 1)
    x, y = W.WindowSet.build([a, b], s, st, 2, 1, level=False).arrays()
    np.testing.assert_array_equal(x[..., 0], [[0, 1], [1, 2], [2, 3], [3, 4],
                                             [100, 101], [101, 102], [102, 103]])
    np.testing.assert_array_equal(y[:, 0], [2, 3, 4, 5, 102, 103, 104])


def test_no_window_crosses_the_split():
    lengths = np.array([30, 17, 25])
    T, H = 4, 3
    n_train = W.split_points(lengths, H, 0.2)
    np.testing.assert_array_equal(n_train, lengths - np.maximum(H, np.ceil(0.2 * lengths)))
    s, st = W.window_starts(lengths, T, H, last_target=n_train)
    # every training window (input + target) ends inside the training part
    assert np.all(st + T + H <= n_train[s])
    vs, vst = W.window_starts(lengths, T, H, first_target=n_train)
    # every validation target starts inside the tail and ends inside the series
    assert np.all(vst + T >= n_train[vs]) and np.all(vst + T + H <= lengths[vs])
    # and the two sets together are exactly the windows whose target starts at n_train or
    # before it completes — nothing straddles: a target is wholly train or wholly tail
    assert len(s) == sum(max(k - T - H + 1, 0) for k in n_train)
    assert len(vs) == sum(n - k - H + 1 for n, k in zip(lengths, n_train))


def test_validation_tail_is_at_least_one_horizon():
    assert W.validation_length(10, 4, 0.1) == 4
    assert W.validation_length(100, 4, 0.15) == 15


def test_scaler_fits_on_given_part_and_round_trips():
    values = np.array([1.0, 2.0, 3.0, 4.0, 100.0])
    scaler = W.SeriesScaler.fit([values[:4]])
    assert scaler.mean[0] == pytest.approx(2.5)
    assert scaler.scale[0] == pytest.approx(np.std([1, 2, 3, 4]))
    z = scaler.transform(0, values)
    np.testing.assert_allclose(scaler.inverse(0, z), values)


def test_scaler_with_a_season_uses_the_geometric_mean_of_std_and_seasonal_change():
    values = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0])
    sc = W.SeriesScaler.fit([values], season=4)
    # std sqrt(5.25), mean |x_t - x_{t-4}| = 4
    assert sc.scale[0] == pytest.approx(np.sqrt(np.sqrt(5.25) * 4.0))
    assert sc.mean[0] == pytest.approx(4.5)
    np.testing.assert_allclose(sc.inverse(0, sc.transform(0, values)), values)
    # the same with season 1: mean |first difference| = 1
    assert W.SeriesScaler.fit([values], season=1).scale[0] == pytest.approx(
        np.sqrt(np.sqrt(5.25)))
    # log scale: the statistics are those of the logs
    logs = np.log(values)
    assert W.SeriesScaler.fit([values], lam=0.0, season=2).scale[0] == pytest.approx(
        np.sqrt(np.std(logs) * np.mean(np.abs(logs[2:] - logs[:-2]))))
    # a Box-Cox power: those of the powers
    roots = np.sqrt(values)
    assert W.SeriesScaler.fit([values], lam=0.5, season=2).scale[0] == pytest.approx(
        np.sqrt(np.std(roots) * np.mean(np.abs(roots[2:] - roots[:-2]))))


def test_seasonal_scale_falls_back_to_the_std_where_it_cannot_apply():
    short = np.array([1.0, 5.0, 2.0])  # not longer than the season
    periodic = np.array([1.0, 3.0, 1.0, 3.0, 1.0, 3.0])  # no change from season to season
    const = np.full(6, 7.0)
    sc = W.SeriesScaler.fit([short, periodic, const], season=3)
    assert sc.scale[0] == pytest.approx(np.std(short))
    sc2 = W.SeriesScaler.fit([periodic, const], season=2)
    assert sc2.scale[0] == pytest.approx(1.0)  # std of 1/3 alternation
    assert sc2.scale[1] == pytest.approx(7.0)  # constant: its level
    huge = np.array([1e300, -1e300, 5e299, 1e300, -5e299])
    h = W.SeriesScaler.fit([huge], season=2)
    assert np.isfinite(h.scale[0]) and h.scale[0] > 0
    np.testing.assert_allclose(h.inverse(0, h.transform(0, huge)), huge, rtol=1e-12)


def test_scaler_survives_huge_and_constant_series():
    huge = np.array([1e300, -1e300, 5e299, 1e300])
    const = np.full(5, 7.0)
    zero = np.zeros(5)
    sc = W.SeriesScaler.fit([huge, const, zero])
    assert np.all(np.isfinite(sc.mean)) and np.all(np.isfinite(sc.scale))
    assert np.all(sc.scale > 0)
    z = sc.transform(0, huge)
    assert np.all(np.isfinite(z)) and np.max(np.abs(z)) < 10
    np.testing.assert_allclose(sc.inverse(0, z), huge, rtol=1e-12)
    np.testing.assert_array_equal(sc.transform(1, const), 0)
    np.testing.assert_array_equal(sc.transform(2, zero), 0)


def test_sampler_batches_cover_every_window_once_per_epoch():
    s, st = W.window_starts([50], 5, 2)
    ws = W.WindowSet.build([np.arange(50, dtype=float)], s, st, 5, 2, level=False)
    sampler = W.WindowSampler(ws, batch_size=8, seed=3)
    firsts = np.concatenate([sampler[i][0][:, 0, 0] for i in range(len(sampler))])
    assert sorted(firsts.tolist()) == list(range(44))
    sampler.on_epoch_end()
    again = np.concatenate([sampler[i][0][:, 0, 0] for i in range(len(sampler))])
    assert sorted(again.tolist()) == list(range(44)) and not np.array_equal(firsts, again)


def test_sampler_is_reproducible_and_caps_windows():
    s, st = W.window_starts([500], 5, 2)
    ws = W.WindowSet.build([np.arange(500, dtype=float)], s, st, 5, 2, level=False)
    a = W.WindowSampler(ws, 16, seed=1, max_windows=40)
    b = W.WindowSampler(ws, 16, seed=1, max_windows=40)
    assert len(a) == 3
    np.testing.assert_array_equal(a[0][0], b[0][0])


def test_windows_are_views_of_one_flat_array():
    """Lazy: the window set holds the series once plus one int64 per window."""
    n = 100_000
    s, st = W.window_starts([n], 168, 24)
    ws = W.WindowSet.build([np.arange(n, dtype=float)], s, st, 168, 24, level=True)
    assert ws.flat.nbytes == n * 4
    assert ws.positions.nbytes == len(ws) * 8  # not len(ws) * 192 * 4


def test_last_windows_and_forecast_values():
    from forecaster.models.neural import forecast_values

    scaled = [np.arange(10, dtype=float), np.arange(20, 30, dtype=float)]
    x, last = W.last_windows(scaled, 3, level=True)
    np.testing.assert_array_equal(x[..., 0], [[-2, -1, 0], [-2, -1, 0]])
    np.testing.assert_array_equal(last, [9, 29])
    scaler = W.SeriesScaler(np.array([0.0, 10.0]), np.array([1.0, 2.0]))
    raw = [scaler.inverse(i, s) for i, s in enumerate(scaled)]
    one_up = lambda x, training=False: np.ones((len(x), 1))  # noqa: E731 - "+1 next step"
    y = forecast_values(one_up, scaler, [0, 1], raw, window=3, model_horizon=1, steps=1,
                        level=True)
    np.testing.assert_array_equal(y, [[10.0], [70.0]])
    # recursive: two steps from a one-step model
    y2 = forecast_values(one_up, scaler, [1], [raw[1]], window=3, model_horizon=1, steps=2,
                         level=True)
    np.testing.assert_array_equal(y2, [[70.0, 72.0]])


def test_gather_of_no_positions_is_empty():
    ws = W.WindowSet.build([np.arange(3, dtype=float)], [], [], 5, 2, level=True)
    x, y = ws.gather(np.array([], dtype=np.int64))
    assert x.shape == (0, 5, 1) and y.shape == (0, 2)


def test_gather_does_not_modify_the_series():
    flat = [np.arange(10, dtype=float)]
    s, st = W.window_starts([10], 3, 2)
    ws = W.WindowSet.build(flat, s, st, 3, 2, level=True)
    before = ws.flat.copy()
    ws.arrays()
    ws.arrays()
    np.testing.assert_array_equal(ws.flat, before)


# -- short series, level spans and the log scale (issue 9) --------------------------------
def test_window_starts_with_min_context_start_before_the_series():
    # window 4, horizon 2, at least 2 real input points: targets start at t >= 2
    series, start = W.window_starts([6], window=4, horizon=2, min_context=2)
    assert start.tolist() == [-2, -1, 0]


def test_padded_windows_repeat_the_first_value():
    s, st = W.window_starts([6], 4, 2, min_context=2)
    x, y = W.WindowSet.build([np.arange(10, 16, dtype=float)], s, st, 4, 2,
                             level=False, pad=2).arrays()
    np.testing.assert_array_equal(x[..., 0], [[10, 10, 10, 11], [10, 10, 11, 12],
                                              [10, 11, 12, 13]])
    np.testing.assert_array_equal(y, [[12, 13], [13, 14], [14, 15]])


def test_pad_left_and_last_windows_of_a_short_series():
    np.testing.assert_array_equal(W.pad_left([3.0, 4.0], 4), [3, 3, 3, 4])
    np.testing.assert_array_equal(W.pad_left([1.0, 2.0, 3.0], 2), [1, 2, 3])
    x, last = W.last_windows([np.array([5.0, 7.0]), np.arange(6, dtype=float)], 4, True)
    np.testing.assert_array_equal(x[0, :, 0], [-2, -2, -2, 0])
    np.testing.assert_array_equal(last, [7, 5])


def test_level_span_is_the_mean_of_the_last_k_inputs():
    s, st = W.window_starts([8], 4, 2)
    x, y = W.WindowSet.build([np.array([0, 1, 2, 3, 4, 5, 6, 7.0])], s, st, 4, 2,
                             level=2).arrays()
    # first window [0, 1, 2, 3] → level mean(2, 3) = 2.5
    np.testing.assert_allclose(x[0, :, 0], [-2.5, -1.5, -0.5, 0.5])
    np.testing.assert_allclose(y[0], [1.5, 2.5])
    xs, level = W.last_windows([np.array([0, 1, 2, 3, 4, 5, 6, 7.0])], 4, 2)
    assert level.tolist() == [6.5]
    assert W.level_points(True, 4) == 1 and W.level_points(0, 4) == 0 and W.level_points(9, 4) == 4


def test_log_scaler_round_trip_and_refuses_non_positive_values():
    from forecaster.errors import DataError

    v = np.array([1.0, 10.0, 100.0, 1000.0])
    sc = W.SeriesScaler.fit([v], lam=0.0)
    np.testing.assert_allclose(sc.mean, [np.log(v).mean()])
    np.testing.assert_allclose(sc.inverse(0, sc.transform(0, v)), v, rtol=1e-12)
    assert W.log_applicable([v]) and not W.log_applicable([v, np.array([1.0, 0.0])])
    with pytest.raises(DataError, match="log scale"):
        sc.transform(0, [1.0, -1.0])
    huge = W.SeriesScaler.fit([np.array([1e300, 2e300])], lam=0.0)
    # beyond float64 the inverse is inf, never the largest float passed off as a forecast
    assert np.isposinf(huge.inverse(0, [1e6])).all()
    assert np.isfinite(huge.inverse(0, [0.0])).all()


def test_box_cox_scaler_round_trip_floor_and_refusal():
    from forecaster.errors import DataError

    v = np.array([1.0, 10.0, 100.0, 1000.0])
    sc = W.SeriesScaler.fit([v, v, v], lam=[0.0, 0.3, 1.0])
    for i, lam in enumerate([0.0, 0.3, 1.0]):
        np.testing.assert_allclose(sc.inverse(i, sc.transform(i, v)), v, rtol=1e-12)
    # the power's statistics: those of v ** 0.3 (Box-Cox's affine part makes no difference)
    np.testing.assert_allclose(sc.mean[1], np.mean(v ** 0.3))
    np.testing.assert_allclose(
        W.SeriesScaler.fit([v], lam=0.3).transform(0, v),
        W.SeriesScaler.fit([(v ** 0.3 - 1) / 0.3], lam=1.0).transform(0, (v ** 0.3 - 1) / 0.3))
    assert [W.scale_kind(x) for x in sc.lam] == ["log", "box-cox", "standard"]
    # a forecast below the power's floor (the transform of 0) is 0, not a NaN
    assert sc.inverse(1, [-1e3])[0] == 0.0
    with pytest.raises(DataError, match="a Box-Cox power of 0.3 .* zero or negative"):
        sc.transform(1, [1.0, 0.0])
    sc.transform(2, [1.0, -5.0])  # the standard scale takes any value
    huge = W.SeriesScaler.fit([np.array([1e300, 3e300, 2e300])], lam=0.5)
    assert np.all(np.isfinite(huge.transform(0, [1e300, 3e300])))
    np.testing.assert_allclose(huge.inverse(0, huge.transform(0, [1e300])), [1e300],
                               rtol=1e-12)
    assert np.isposinf(huge.inverse(0, [1e160])).all()


def test_lambda_of_reads_a_series_scale_back_and_none_for_a_malformed_one():
    assert W.lambda_of({"scaling": "log"}) == 0.0
    assert W.lambda_of({"scaling": "standard"}) == 1.0
    assert W.lambda_of({"scaling": "box-cox", "lambda": 0.35}) == 0.35
    assert W.lambda_of({"scaling": "box-cox", "lambda": 1}) is None  # ints: only in (0, 1)
    # round trip with scale_kind over the three kinds
    for lam in (0.0, 0.35, 1.0):
        kind = W.scale_kind(lam)
        assert W.lambda_of({"scaling": kind, **({"lambda": lam} if kind == "box-cox"
                                                else {})}) == lam
    # no `scaling`: the default kind (runs before per-series scales have the run's one)
    assert W.lambda_of({"id": "a"}, default="log") == 0.0
    assert W.lambda_of({"id": "a"}, default="standard") == 1.0
    assert W.lambda_of({"id": "a", "scaling": "log"}, default="standard") == 0.0
    for entry in ({}, {"scaling": "cube"}, {"scaling": None}, {"scaling": "auto"},
                  {"scaling": "box-cox"}, {"scaling": "box-cox", "lambda": None},
                  {"scaling": "box-cox", "lambda": 0}, {"scaling": "box-cox", "lambda": 1.5},
                  {"scaling": "box-cox", "lambda": True}, {"scaling": "box-cox", "lambda": "0.3"},
                  {"scaling": "box-cox", "lambda": float("nan")}, None, "log", ["log"]):
        assert W.lambda_of(entry) is None, entry
    assert W.lambda_of({"id": "a"}, default="auto") is None  # auto names no one scale


def test_box_cox_lambda_follows_the_spread():
    t = np.arange(96)
    swing = np.sin(2 * np.pi * t / 12)
    level = 100 * 1.5 ** (t // 12)  # one level a season: each block's spread is the swing's
    assert W.box_cox_lambda(level * (1 + 0.2 * swing), 12) == 0.0  # proportional: log
    assert W.box_cox_lambda(level + 20 * swing, 12) == 1.0          # constant: standard
    assert W.box_cox_lambda(np.sqrt(level) * 2 * swing + level, 12) == 0.5  # square root
    assert W.box_cox_lambda(level[:24] * (1 + 0.2 * swing[:24]), 12) == 0.0  # 2 blocks: log
    lam = W.box_cox_lambda(level ** 0.7 * swing + level, 12)
    assert lam == 0.3 and lam == round(lam, 2)


def test_split_points_never_negative():
    assert W.split_points([5, 40], 12, 0.15).tolist() == [0, 28]


def test_default_window_ties_to_season_and_horizon():
    assert W.default_window(12, 18) == 24
    assert W.default_window(4, 8) == 14
    assert W.default_window(12, 30) == 38
    assert W.default_window(None, 0) == 24


def test_seasonality_test_tells_a_season_from_a_trend():
    rng = np.random.default_rng(0)
    t = np.arange(120)
    seasonal = 100 + t + 10 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 1, 120)
    drift = 100 + np.cumsum(rng.normal(0.5, 1, 120))  # random walk with drift, no season
    assert W.is_seasonal(seasonal, 12)
    assert not W.is_seasonal(drift, 12)
    assert not W.is_seasonal(100 * 1.02 ** t, 12)  # steady growth: constant log changes
    assert not W.is_seasonal(seasonal[:36], 12)  # shorter than three seasons and a step
    assert not W.is_seasonal(seasonal, 1) and not W.is_seasonal(seasonal, None)
    assert W.seasonal_share([seasonal, drift, seasonal], 12) == pytest.approx(2 / 3)
    assert W.seasonal_share([], 12) == 0.0
