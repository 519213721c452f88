"""Metrics: agreement with scikit-learn, hand-computed sMAPE/MASE, undefined cases."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn import metrics as skm

from forecaster.evaluation.metrics import (coverage, mae, mape, mase, mase_scale, mean_width,
                                           rmse, smape)

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
nonzero = finite.filter(lambda v: abs(v) > 1e-3)


@given(st.integers(1, 40).flatmap(lambda n: st.tuples(arrays(np.float64, n, elements=nonzero),
                                                      arrays(np.float64, n, elements=finite))))
def test_agree_with_sklearn(pair):
    y, f = pair
    assert mae(y, f) == pytest.approx(skm.mean_absolute_error(y, f), rel=1e-12, abs=1e-9)
    assert rmse(y, f) == pytest.approx(skm.root_mean_squared_error(y, f), rel=1e-12, abs=1e-9)
    assert rmse(y, f) == pytest.approx(math.sqrt(skm.mean_squared_error(y, f)), rel=1e-12,
                                       abs=1e-9)
    assert mape(y, f) == pytest.approx(skm.mean_absolute_percentage_error(y, f), rel=1e-12)


def test_agree_with_sklearn_on_random_data():
    rng = np.random.default_rng(42)
    y, f = rng.uniform(1, 100, 500), rng.uniform(1, 100, 500)
    assert mae(y, f) == pytest.approx(skm.mean_absolute_error(y, f))
    assert rmse(y, f) == pytest.approx(skm.root_mean_squared_error(y, f))
    assert mape(y, f) == pytest.approx(skm.mean_absolute_percentage_error(y, f))


def test_smape_by_hand():
    # terms: 2*10/(100+110) = 0.095238…, 2*0/(50+50) = 0, 2*50/(0+50) = 2
    assert smape([100, 50, 0], [110, 50, 50]) == pytest.approx((20 / 210 + 0 + 2) / 3)
    assert smape([0, 0], [0, 0]) == 0.0  # 0/0 terms count as perfect


def test_mase_by_hand():
    y_train = [1, 3, 2, 5, 4, 6]
    # naive (m=1) scale: |2|,|1|,|3|,|1|,|2| → 9/5 = 1.8
    assert mase_scale(y_train, 1) == pytest.approx(1.8)
    assert mase([7, 8], [6, 6], y_train=y_train, season=1) == pytest.approx(1.5 / 1.8)
    # seasonal (m=2) scale: |2-1|,|5-3|,|4-2|,|6-5| → 6/4 = 1.5
    assert mase_scale(y_train, 2) == pytest.approx(1.5)
    assert mase([7, 8], [6, 6], y_train=y_train, season=2) == pytest.approx(1.0)
    # a season longer than the training series falls back to m = 1
    assert mase_scale(y_train, 12) == pytest.approx(1.8)


def test_undefined_values_are_none_never_inf_or_nan():
    assert mape([1.0, 0.0, 2.0], [1.0, 1.0, 1.0]) is None
    assert mase([1.0], [2.0], y_train=[5.0, 5.0, 5.0], season=1) is None  # zero scale
    assert mase([1.0], [2.0], y_train=[1, 2, 1, 2], season=2) is None  # periodic: zero scale
    assert mase([1.0], [2.0], y_train=[5.0], season=1) is None  # no scale from one point


def test_coverage_and_width():
    y = [1.0, 2.0, 3.0, 4.0]
    lower, upper = [0.0, 2.5, 3.0, 0.0], [2.0, 3.0, 3.0, 3.0]
    assert coverage(y, lower, upper) == 0.5  # inside: 1 and 3 (bounds inclusive)
    assert mean_width(lower, upper) == pytest.approx((2 + 0.5 + 0 + 3) / 4)


def test_length_mismatch_message():
    with pytest.raises(ValueError, match="same length. Got 2 and 3."):
        mae([1, 2], [1, 2, 3])


def test_rmse_does_not_overflow_on_huge_errors():
    y = np.array([1e300, -1e300, 5e299])
    p = np.zeros(3)
    from forecaster.evaluation.metrics import rmse as _rmse

    expected = 1e300 * np.sqrt(np.mean((y / 1e300) ** 2))
    assert _rmse(y, p) == pytest.approx(expected, rel=1e-12)
    assert np.isfinite(_rmse(y, p))


def test_values_near_the_largest_float_keep_their_metrics():
    """A ramp from -1.7e308 to 1.7e308 scored MASE 0 and sMAPE 0 for every model (the
    naive's in-sample scale and |y| + |ŷ| overflowed to inf), and the leaderboard crowned
    the worst model; each is now what the same ramp gives at a sane magnitude."""
    ramp = np.linspace(-1, 1, 60)
    big = 1.7e308
    train, actual = ramp[:-4] * big, ramp[-4:] * big
    naive = np.full(4, train[-1])
    assert mase_scale(train, 4) == pytest.approx(mase_scale(ramp[:-4], 4) * big, rel=1e-12)
    assert mase(actual, naive, y_train=train, season=4) == pytest.approx(
        mase(ramp[-4:], naive / big, y_train=ramp[:-4], season=4), rel=1e-12)
    assert smape(actual, naive) == pytest.approx(smape(ramp[-4:], naive / big), rel=1e-12)
    assert smape(actual, naive) > 0.05
    assert mae(actual, naive) == pytest.approx(mae(ramp[-4:], naive / big) * big, rel=1e-12)
    width = mean_width(actual / 4, actual)  # the sum of the widths overflows, not the mean
    assert np.isfinite(width)
    assert width == pytest.approx(mean_width(ramp[-4:] / 4, ramp[-4:]) * big, rel=1e-12)
    # ordinary magnitudes keep the plain formula's exact figures
    y, f = np.array([3.0, 5.0, 7.5]), np.array([2.5, 5.5, 7.0])
    assert mae(y, f) == float(np.mean(np.abs(y - f)))
    assert mase_scale(y, 1) == float(np.mean(np.abs(np.diff(y))))
