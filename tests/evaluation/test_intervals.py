"""Split-conformal intervals: exact quantiles, nominal coverage, extrapolation, JSON."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from forecaster.errors import ConfigError, DataError
from forecaster.evaluation.intervals import ConformalIntervals, conformal_quantile
from forecaster.errors import NotFittedError


def residual_frame(residuals_by_step, series="s"):
    rows = [{"series_id": series, "step": h + 1, "actual": float(r), "forecast": 0.0}
            for h, rs in enumerate(residuals_by_step) for r in rs]
    return pd.DataFrame(rows)


def test_conformal_quantile_by_hand():
    scores = [5, 1, 4, 2, 3]  # n = 5
    assert conformal_quantile(scores, 80) == 5   # k = ceil(6 * 0.8) = 5
    assert conformal_quantile(scores, 50) == 3   # k = ceil(3.0) = 3
    assert conformal_quantile(scores, 60) == 4   # k = ceil(3.6) = 4
    assert conformal_quantile(scores, 95) == math.inf  # k = 6 > n
    assert conformal_quantile(list(range(1, 20)), 95) == 19  # k = ceil(19.0) = 19


def test_fit_and_predict_tiny_example():
    # step 1 residuals (actual - 0) scaled by 2: |−2|,4,6,8,10 → 1,2,3,4,5; step 2: 2,…,10 /2
    frame = residual_frame([[-2, 4, 6, 8, 10], [4, 8, 12, 16, 20]])
    ci = ConformalIntervals(levels=(50, 80)).fit(frame, {"s": 2.0})
    np.testing.assert_allclose(ci.quantiles_[50], [3, 6])
    np.testing.assert_allclose(ci.quantiles_[80], [5, 10])
    assert list(ci.n_) == [5, 5]
    forecast = pd.DataFrame({"series_id": ["s", "s", "s"], "step": [1, 2, 8],
                             "forecast": [100.0, 100.0, 100.0]})
    out = ci.predict(forecast, {"s": 2.0})
    np.testing.assert_allclose(out["lower_50"], [94, 88, 100 - 12 * 2])   # sqrt(8/2) = 2
    np.testing.assert_allclose(out["upper_80"], [110, 120, 100 + 20 * 2])


def test_coverage_close_to_nominal_on_gaussian_residuals():
    rng = np.random.default_rng(0)
    n, horizon = 400, 3
    calib = residual_frame([rng.normal(0, h + 1, n) for h in range(horizon)])
    ci = ConformalIntervals((80, 95)).fit(calib, {"s": 1.0})
    hits = {80: [], 95: []}
    for _ in range(50):
        test = residual_frame([rng.normal(0, h + 1, 200) for h in range(horizon)])
        out = ci.predict(test.assign(forecast=0.0), {"s": 1.0})
        for level in hits:
            inside = (out[f"lower_{level}"] <= out["actual"]) & (out["actual"] <= out[f"upper_{level}"])
            hits[level].append(inside.mean())
    assert np.mean(hits[80]) == pytest.approx(0.80, abs=0.02)
    assert np.mean(hits[95]) == pytest.approx(0.95, abs=0.015)
    # quantiles grow with the residual spread of each step (~1.28σ, 1.96σ)
    np.testing.assert_allclose(ci.quantiles_[80], 1.2816 * np.arange(1, 4), rtol=0.12)


def test_json_round_trip_and_unbounded_levels():
    frame = residual_frame([[1, 2, 3], [2, 4, 6]])
    ci = ConformalIntervals((50, 95)).fit(frame, {"s": 1.0})
    data = ci.to_json()
    assert data == {"50": [2.0, 4.0], "95": [None, None]}
    json.dumps(data, allow_nan=False)
    back = ConformalIntervals.from_json(json.loads(json.dumps(data)))
    assert back.levels == (50, 95) and back.horizon_ == 2
    np.testing.assert_array_equal(back.quantiles_[95], [math.inf, math.inf])
    fc = pd.DataFrame({"series_id": ["s"], "step": [1], "forecast": [0.0]})
    pd.testing.assert_frame_equal(back.predict(fc, {"s": 1.0}), ci.predict(fc, {"s": 1.0}))


def test_errors():
    with pytest.raises(ConfigError, match="percentages between 0 and 100. Got 100."):
        ConformalIntervals((80, 100))
    with pytest.raises(NotFittedError):
        ConformalIntervals().predict(pd.DataFrame(), {})
    with pytest.raises(DataError, match="Missing \\['s'\\]"):
        ConformalIntervals().fit(residual_frame([[1.0]]), {"other": 1.0})
    with pytest.raises(DataError, match="positive and finite. Got s=0.0."):
        ConformalIntervals().fit(residual_frame([[1.0]]), {"s": 0.0})
    with pytest.raises(DataError, match="equal length"):
        ConformalIntervals.from_json({"80": [1.0], "95": [1.0, 2.0]})


def test_quantiles_never_shrink_with_the_horizon():
    import pandas as pd

    from forecaster.evaluation.intervals import ConformalIntervals

    # step 1 residuals large, step 2 small: step 2 keeps step 1's width
    frame = pd.DataFrame({"series_id": "a", "step": [1] * 9 + [2] * 9,
                          "actual": [5.0] * 9 + [1.0] * 9, "forecast": [0.0] * 18})
    ci = ConformalIntervals([80]).fit(frame, {"a": 1.0})
    assert ci.quantiles_[80].tolist() == [5.0, 1.0]
    assert ci.quantile(80, [1, 2]).tolist() == [5.0, 5.0]
    assert ci.quantile(80, [8]).tolist() == [5.0 * 2.0]  # sqrt(8/2) beyond H


def test_unbounded_levels_are_dropped_with_a_note():
    import numpy as np
    import pandas as pd

    from forecaster.pipeline.predict import drop_unbounded

    frame = pd.DataFrame({"forecast": [1.0], "lower_80": [0.5], "upper_80": [1.5],
                          "lower_95": [-np.inf], "upper_95": [np.inf]})
    out, notes = drop_unbounded(frame)
    assert list(out.columns) == ["forecast", "lower_80", "upper_80"]
    assert len(notes) == 1 and notes[0].startswith("95% intervals are left out")
