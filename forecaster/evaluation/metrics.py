"""Point and interval accuracy metrics: pure functions on 1-D arrays of one series.

Every function takes ``y_true`` and ``y_pred`` (or interval bounds) of the same length and
returns a Python ``float`` — or ``None`` where the metric is undefined for that series (a
zero actual for MAPE, a zero in-sample scale for MASE), so a table shows "n/a" and never
``inf``/``NaN``.  :func:`undefined_reason` says why a value is ``None``.

Aggregating over a panel is done elsewhere (:mod:`forecaster.evaluation.leaderboard`): a
metric is computed per series, then averaged over series (M-competition style).

Notation: ``e_t = y_t − ŷ_t``, ``n`` points.
"""

from __future__ import annotations

import numpy as np

__all__ = ["mae", "rmse", "mape", "smape", "mase", "mase_scale", "coverage", "mean_width",
           "pinball", "interval_pinball", "msis", "undefined_reason"]


def _pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true, dtype=np.float64).ravel()
    y_pred = np.asarray(y_pred, dtype=np.float64).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred must have the same length. "
                         f"Got {y_true.size} and {y_pred.size}.")
    if y_true.size == 0:
        raise ValueError("y_true must not be empty. Got 0 points.")
    return y_true, y_pred


def _rescaled(*arrays) -> tuple[float, list[np.ndarray]]:
    """``(b, [a / b …])`` with ``b`` the largest finite magnitude in ``arrays`` (1 when there
    is none): values near ±1.8e308 whose sums, differences or means overflow stay finite
    divided by ``b``, and a result is multiplied back.  Used only where the plain formula
    overflowed, so ordinary series keep their exact figures."""
    finite = [np.abs(a[np.isfinite(a)]) for a in arrays]
    b = max((float(f.max()) for f in finite if f.size), default=1.0)
    b = b if b > 0 else 1.0
    return b, [a / b for a in arrays]


def _mean_of(terms, a: np.ndarray, b: np.ndarray) -> float:
    """``(1/n) Σ terms(a, b)`` (a difference of two series, so scale-equivariant), computed
    on values rescaled by :func:`_rescaled` when the plain sum overflows."""
    # an overflow is handled below; inf - inf is NaN on either path, without a warning
    with np.errstate(over="ignore", invalid="ignore"):
        plain = float(np.mean(terms(a, b)))
        if np.isfinite(plain):
            return plain
        big, (a, b) = _rescaled(a, b)
        return float(big * np.mean(terms(a, b)))


def _abs_difference(a, b):
    return np.abs(a - b)


def mae(y_true, y_pred) -> float:
    """Mean absolute error: ``MAE = (1/n) Σ |y_t − ŷ_t|``."""
    y_true, y_pred = _pair(y_true, y_pred)
    return _mean_of(_abs_difference, y_true, y_pred)


def rmse(y_true, y_pred) -> float:
    """Root mean squared error: ``RMSE = sqrt((1/n) Σ (y_t − ŷ_t)²)``."""
    y_true, y_pred = _pair(y_true, y_pred)
    err = np.abs(y_true - y_pred)
    # computed as big · sqrt(mean((e/big)²)) so errors near 1e300 do not overflow when squared
    big = float(err.max())
    if big == 0.0 or not np.isfinite(big):
        return big
    return float(big * np.sqrt(np.mean((err / big) ** 2)))


def mape(y_true, y_pred) -> float | None:
    """Mean absolute percentage error as a fraction: ``MAPE = (1/n) Σ |y_t − ŷ_t| / |y_t|``.

    0.13 means 13 %.  ``None`` when any actual is zero (the ratio is undefined).
    """
    y_true, y_pred = _pair(y_true, y_pred)
    if np.any(y_true == 0):
        return None
    return float(np.mean(np.abs(y_true - y_pred) / np.abs(y_true)))


def smape(y_true, y_pred) -> float:
    """Symmetric MAPE as a fraction in [0, 2] (M3/M4 definition without the ×100):
    ``sMAPE = (1/n) Σ 2 |y_t − ŷ_t| / (|y_t| + |ŷ_t|)``.

    A term with ``y_t = ŷ_t = 0`` counts as 0 (a perfect forecast), so sMAPE is always defined.
    """
    y_true, y_pred = _pair(y_true, y_pred)
    with np.errstate(over="ignore"):  # an overflow is handled below
        denom = np.abs(y_true) + np.abs(y_pred)
    if not np.all(np.isfinite(denom)):  # |y| + |ŷ| overflowed: the ratio is scale-free
        _, (y_true, y_pred) = _rescaled(y_true, y_pred)
        denom = np.abs(y_true) + np.abs(y_pred)
    num = 2.0 * np.abs(y_true - y_pred)
    terms = np.divide(num, denom, out=np.zeros_like(num), where=denom > 0)
    return float(np.mean(terms))


def mase_scale(y_train, season: int = 1) -> float | None:
    """In-sample MAE of the seasonal naive forecast:
    ``s = (1/(T−m)) Σ_{t=m+1..T} |y_t − y_{t−m}|``.

    Falls back to ``m = 1`` when the training series is not longer than one season;
    ``None`` when it has fewer than 2 points.
    """
    y_train = np.asarray(y_train, dtype=np.float64).ravel()
    m = int(season) if season and int(season) >= 1 else 1
    if y_train.size <= m:
        m = 1
    if y_train.size <= m:
        return None
    return _mean_of(_abs_difference, y_train[m:], y_train[:-m])


def mase(y_true, y_pred, *, y_train, season: int = 1) -> float | None:
    """Mean absolute scaled error (Hyndman & Koehler 2006):
    ``MASE = MAE(y, ŷ) / s`` with ``s = (1/(T−m)) Σ_{t=m+1..T} |y_t − y_{t−m}|`` the
    in-sample MAE of the seasonal naive forecast on ``y_train`` (``m = season``; ``m = 1``
    when the training series is not longer than one season).

    Below 1: better than the in-sample seasonal naive.  ``None`` when the scale is zero
    (a constant or exactly periodic training series) or cannot be computed.
    """
    scale = mase_scale(y_train, season)
    if scale is None or scale == 0 or not np.isfinite(scale):
        return None
    return mae(y_true, y_pred) / scale


def coverage(y_true, lower, upper) -> float:
    """Empirical interval coverage: ``(1/n) Σ 1[lower_t ≤ y_t ≤ upper_t]`` (a fraction)."""
    y_true, lower = _pair(y_true, lower)
    _, upper = _pair(y_true, upper)
    return float(np.mean((lower <= y_true) & (y_true <= upper)))


def mean_width(lower, upper) -> float:
    """Mean interval width: ``(1/n) Σ (upper_t − lower_t)``, in the units of the series."""
    lower, upper = _pair(lower, upper)
    return _mean_of(lambda lo, up: up - lo, lower, upper)


def pinball(y_true, q_pred, p: float) -> float:
    """Pinball (quantile) loss of the predictive ``p``-quantile ``q_pred`` (0 < p < 1):
    ``(1/n) Σ max(p · (y_t − q_t), (p − 1) · (y_t − q_t))``, in the units of the series;
    the median's is half the MAE."""
    y_true, q_pred = _pair(y_true, q_pred)
    e = y_true - q_pred
    return float(np.mean(np.maximum(p * e, (p - 1.0) * e)))


def interval_pinball(y_true, lower, upper, level: float) -> float:
    """Mean pinball loss of the central interval at ``level`` percent read as two
    predictive quantiles: ``lower`` is the ``a/2`` and ``upper`` the ``1 − a/2`` quantile,
    ``a = 1 − level/100``; the mean of the two losses."""
    a = 1.0 - float(level) / 100.0
    return 0.5 * (pinball(y_true, lower, a / 2) + pinball(y_true, upper, 1.0 - a / 2))


def msis(y_true, lower, upper, level: float, scale) -> float | None:
    """Mean scaled interval score (M4, Makridakis et al. 2020) of the interval at
    ``level`` percent, ``a = 1 − level/100``:
    ``MSIS = (1/n) Σ [(U_t − L_t) + (2/a)(L_t − y_t)·1[y_t < L_t]
    + (2/a)(y_t − U_t)·1[y_t > U_t]] / s``, ``s`` the MASE scale (in-sample seasonal-naive
    MAE, :func:`mase_scale`; one number, or one per point when points come from folds
    with their own scales).  Lower is better: narrow intervals that hold the actuals.
    ``None`` when a scale is zero or undefined."""
    y_true, lower = _pair(y_true, lower)
    _, upper = _pair(y_true, upper)
    scale = np.asarray(np.nan if scale is None else scale, dtype=np.float64)
    if not np.all(np.isfinite(scale)) or np.any(scale <= 0):
        return None
    a = 1.0 - float(level) / 100.0
    score = (upper - lower) + (2.0 / a) * np.maximum(lower - y_true, 0.0) \
        + (2.0 / a) * np.maximum(y_true - upper, 0.0)
    return float(np.mean(score / scale))


def undefined_reason(metric: str) -> str:
    """Why ``metric`` can be ``None`` (for notes under a table)."""
    return {
        "mape": "MAPE is undefined for a series with a zero actual value",
        "mase": "MASE is undefined when the in-sample (seasonal) naive error is zero",
        "msis": "MSIS is undefined when the in-sample (seasonal) naive error is zero",
    }.get(metric, f"{metric} is undefined")
