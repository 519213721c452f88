"""Property-based checks: windows never cross the split; scaling round-trips."""

import numpy as np
from hypothesis import example, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from forecaster.data import windowing as W

lengths_st = st.lists(st.integers(min_value=1, max_value=80), min_size=1, max_size=6)


@given(lengths=lengths_st, window=st.integers(1, 12), horizon=st.integers(1, 6),
       fraction=st.floats(0.05, 0.5))
def test_windows_never_cross_the_split(lengths, window, horizon, fraction):
    lengths = np.array(lengths)
    n_train = W.split_points(lengths, horizon, fraction)
    s, start = W.window_starts(lengths, window, horizon, last_target=n_train)
    assert np.all(start >= 0)
    assert np.all(start + window + horizon <= n_train[s])       # train: wholly before
    vs, vstart = W.window_starts(lengths, window, horizon, first_target=n_train)
    assert np.all(vstart >= 0)
    assert np.all(vstart + window >= n_train[vs])                # val target: in the tail
    assert np.all(vstart + window + horizon <= lengths[vs])
    # windows of one series never read another series
    series = [np.full(n, i, dtype=float) for i, n in enumerate(lengths)]
    if len(s):
        x, y = W.WindowSet.build(series, s, start, window, horizon, level=False).arrays()
        assert np.all(x[..., 0] == s[:, None]) and np.all(y == s[:, None])


finite = st.floats(min_value=-1e300, max_value=1e300, allow_nan=False, allow_infinity=False)


@given(values=arrays(np.float64, st.integers(1, 50), elements=finite))
@example(values=np.array([5e-324, 0.0]))  # subnormal: the spread underflows to 0
@example(values=np.array([1e-310, 3e-310, 2e-310]))
def test_scaling_round_trips(values):
    scaler = W.SeriesScaler.fit([values])
    assert np.isfinite(scaler.mean[0]) and np.isfinite(scaler.scale[0]) and scaler.scale[0] > 0
    z = scaler.transform(0, values)
    assert np.all(np.isfinite(z))
    back = scaler.inverse(0, z)
    tol = 1e-9 * max(1.0, float(np.max(np.abs(values))))
    assert np.allclose(back, values, rtol=1e-9, atol=tol)


positive = st.floats(min_value=1e-3, max_value=1e3, allow_nan=False, allow_infinity=False)


@given(values=arrays(np.float64, st.integers(0, 60), elements=positive),
       block=st.integers(0, 13), power=st.integers(-250, 250))
def test_the_spread_slope_does_not_depend_on_the_unit(values, block, power):
    """The per-series scale choice is the same in any unit, 1e-250 to 1e250 included: the
    slope is measured on ``v / max(v)``, and it is None exactly when unmeasurable."""
    slope = W.spread_slope(values, block)
    scaled = W.spread_slope(values * 10.0 ** power, block)
    assert (slope is None) == (scaled is None)
    if slope is not None:
        assert np.isfinite(slope) and abs(scaled - slope) <= 1e-6 * max(1.0, abs(slope))
    if block < 2 or len(values) // max(block, 1) < 3:
        assert slope is None


wide_positive = st.floats(min_value=1e-300, max_value=1e300, allow_nan=False,
                          allow_infinity=False)


@given(values=arrays(np.float64, st.integers(1, 50), elements=wide_positive),
       lam=st.integers(0, 100).map(lambda k: k / 100), season=st.integers(0, 4))
@example(values=np.array([1e-300, 1e300, 5.0]), lam=0.01, season=1)
@example(values=np.array([1e300, 1e300]), lam=0.5, season=0)
def test_box_cox_scaling_round_trips(values, lam, season):
    """Any positive series on any power the auto rule can choose (two decimals, log to
    standard) transforms to finite numbers and back to itself."""
    scaler = W.SeriesScaler.fit([values], lam=lam, season=season)
    assert np.isfinite(scaler.mean[0]) and np.isfinite(scaler.scale[0]) and scaler.scale[0] > 0
    z = scaler.transform(0, values)
    assert np.all(np.isfinite(z))
    back = scaler.inverse(0, z)
    tol = 1e-9 * float(np.max(values))
    assert np.allclose(back, values, rtol=1e-9, atol=tol)
