"""Split-conformal prediction intervals per horizon step, from backtest residuals.

For each horizon step ``h`` the calibration scores are the scaled absolute residuals of a
backtest, ``r = |actual − forecast| / scale_series`` (one per series and fold).  With ``n``
scores at step ``h`` and level ``α`` (e.g. 0.8), the interval half-width in scaled units is
the finite-sample conformal quantile

    ``q_h = r_(k)``, the ``k``-th smallest score, ``k = ⌈(n + 1) · α⌉``

(equivalently the ``⌈(n+1)α⌉/n`` empirical quantile).  If the backtest residuals are
exchangeable with the future ones, ``P(|y − ŷ| ≤ q_h · scale) ≥ α``.  When ``k > n`` there
are too few residuals for that level and ``q_h`` is unbounded (``inf``; ``null`` in JSON).

The interval for a forecast at step ``h`` of series ``s`` is
``ŷ ∓ q_h · scale_s``.

**Beyond the calibrated horizon.** Steps ``h > H`` (the largest calibrated step) reuse the
last quantile widened like a random walk's spread, ``q_h = q_H · sqrt(h / H)``: errors of a
recursive forecast accumulate roughly like a sum of ``h`` shocks.  It is an extrapolation,
not a guarantee.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from forecaster.errors import ConfigError, DataError

__all__ = ["ConformalIntervals", "check_conformal", "conformal_quantile",
           "interval_columns"]


def interval_columns(level: int) -> tuple[str, str]:
    """Column names of the bounds at ``level`` (``"lower_80"``, ``"upper_80"``)."""
    return f"lower_{level_name(level)}", f"upper_{level_name(level)}"


def level_name(level) -> str:
    level = float(level)
    return str(int(level)) if level.is_integer() else f"{level:g}"


def _validate_levels(levels) -> tuple:
    levels = tuple(levels)
    if not levels:
        raise ConfigError("`levels` must name at least one level. Got none.")
    for level in levels:
        if not 0 < float(level) < 100:
            raise ConfigError(f"`levels` must be percentages between 0 and 100. Got {level}.")
    return tuple(int(v) if float(v).is_integer() else float(v) for v in levels)


def check_conformal(conformal, levels, horizon: int) -> None:
    """The one check of a stored ``conformal`` object (``preprocessing.json``'s and a
    deployed baseline's ``baseline.json``'s): for exactly the run's interval ``levels``,
    ``horizon`` half-widths per step that are finite and non-negative (``null``: too few
    residuals).  A negative width would put a lower bound above its upper one.  Raises
    :class:`DataError` saying what is wrong (the caller names the file)."""
    if not isinstance(conformal, dict):
        raise DataError("`conformal` must be an object or null")
    names = {level_name(x) for x in levels}
    if set(conformal) != names:
        raise DataError(f"`conformal` must hold the levels {sorted(names)}, got "
                        f"{sorted(map(str, conformal))[:5]}")
    for name, widths in conformal.items():
        if not isinstance(widths, list) or len(widths) != horizon:
            raise DataError(f"`conformal` level {name} must list {horizon} widths, one per "
                            "step")
        if not all(w is None or (isinstance(w, (int, float)) and not isinstance(w, bool)
                                 and math.isfinite(w) and w >= 0) for w in widths):
            raise DataError(f"`conformal` level {name} must hold finite, non-negative "
                            "widths or null")


def conformal_quantile(scores, level: float) -> float:
    """The ``k``-th smallest of ``scores`` with ``k = ⌈(n + 1) · level/100⌉``; ``inf`` when
    ``k > n`` (too few scores for the level)."""
    scores = np.sort(np.asarray(scores, dtype=np.float64).ravel())
    n = scores.size
    if n == 0:
        return math.inf
    # round first so that e.g. (19 + 1) * 0.95 = 19.000000000000004 gives k = 19
    k = math.ceil(round((n + 1) * float(level) / 100.0, 9))
    if k > n:
        return math.inf
    return float(scores[max(k, 1) - 1])


class ConformalIntervals:
    """Per-step split-conformal intervals (see the module docstring for the maths).

    ``fit(backtest_frame, scales)`` takes the backtest frame of *one* model (columns
    ``series_id, step, actual, forecast``) and ``{series_id: scale}``; afterwards
    ``quantiles_[level]`` is the array of ``q_h`` for ``h = 1 … H`` in scaled units and
    ``n_`` the number of scores per step.  ``predict(forecast_frame, scales)`` adds
    ``lower_<level>`` and ``upper_<level>`` columns.
    """

    def __init__(self, levels=(80, 95)):
        self.levels = _validate_levels(levels)

    def fit(self, backtest_frame: pd.DataFrame, scales: dict) -> "ConformalIntervals":
        frame = backtest_frame
        missing = {"series_id", "step", "actual", "forecast"} - set(frame.columns)
        if missing:
            raise DataError(f"backtest frame must have columns series_id, step, actual, "
                            f"forecast. Got {list(frame.columns)}.")
        if frame.empty:
            raise DataError("backtest frame must have at least one row. Got 0.")
        scale = _scale_column(frame, scales)
        scores = np.abs(frame["actual"].to_numpy(float) - frame["forecast"].to_numpy(float)) / scale
        steps = frame["step"].to_numpy(np.int64)
        horizon = int(steps.max())
        self.horizon_ = horizon
        self.n_ = np.array([(steps == h).sum() for h in range(1, horizon + 1)], dtype=np.int64)
        self.quantiles_ = {
            level: np.array([conformal_quantile(scores[steps == h], level)
                             for h in range(1, horizon + 1)])
            for level in self.levels}
        return self

    def quantile(self, level, steps) -> np.ndarray:
        """``q_h`` for each step in ``steps`` (scaled units): the running maximum of the
        calibrated per-step quantiles, extrapolated past ``H`` by ``sqrt(h/H)``."""
        self._check_fitted()
        q = self.quantiles_[level]
        steps = np.asarray(steps, dtype=np.int64)
        if np.any(steps < 1):
            raise ValueError(f"steps must be >= 1. Got {int(steps.min())}.")
        H = self.horizon_
        # Uncertainty does not shrink with the horizon: use the running maximum over steps
        # (never narrower than the calibrated quantile, so coverage is kept).
        envelope = np.maximum.accumulate(q)
        inside = envelope[np.minimum(steps, H) - 1]
        widen = np.sqrt(np.maximum(steps, H) / H)
        return inside * widen

    def predict(self, forecast_frame: pd.DataFrame, scales: dict) -> pd.DataFrame:
        """``forecast_frame`` with ``lower_<level>``/``upper_<level>`` columns added:
        ``forecast ∓ q_step · scale_series``."""
        self._check_fitted()
        out = forecast_frame.copy()
        scale = _scale_column(out, scales)
        forecast = out["forecast"].to_numpy(float)
        for level in self.levels:
            half = self.quantile(level, out["step"].to_numpy()) * scale
            lo, hi = interval_columns(level)
            out[lo] = forecast - half
            out[hi] = forecast + half
        return out

    def _check_fitted(self):
        if not hasattr(self, "quantiles_"):
            from forecaster.errors import NotFittedError
            raise NotFittedError("ConformalIntervals must be fitted before predict.")

    # -- persistence (preprocessing.json "conformal") -------------------------------------
    def to_json(self) -> dict:
        """The ``conformal`` object of ``preprocessing.json`` (docs/run-format.md):
        ``{"80": [q_1, …, q_H], "95": [...]}`` in scaled units, ``null`` for an unbounded
        quantile (too few calibration residuals for that level)."""
        self._check_fitted()
        return {level_name(level): [None if not np.isfinite(v) else float(v) for v in q]
                for level, q in self.quantiles_.items()}

    @classmethod
    def from_json(cls, data: dict) -> "ConformalIntervals":
        """Inverse of :meth:`to_json`; raises :class:`DataError` on a malformed object."""
        if not isinstance(data, dict) or not data:
            raise DataError(f"`conformal` must be an object of level -> quantiles. Got {data!r}.")
        try:
            quantiles = {float(k): [math.inf if v is None else float(v) for v in values]
                         for k, values in data.items()}
        except (TypeError, ValueError) as exc:
            raise DataError(f"`conformal` must map levels to lists of numbers. Got {data!r}.") \
                from exc
        lengths = {len(v) for v in quantiles.values()}
        if len(lengths) != 1 or 0 in lengths:
            raise DataError(f"`conformal` quantile lists must be non-empty and of equal "
                            f"length. Got lengths {sorted(lengths)}.")
        self = cls(levels=list(quantiles))
        self.horizon_ = lengths.pop()
        self.n_ = np.zeros(self.horizon_, dtype=np.int64)  # not stored
        self.quantiles_ = {level: np.array(quantiles[float(level)]) for level in self.levels}
        return self


def _scale_column(frame: pd.DataFrame, scales: dict) -> np.ndarray:
    ids = frame["series_id"].astype(str)
    missing = sorted(set(ids) - set(map(str, scales)))
    if missing:
        raise DataError(f"`scales` must have a scale for every series. Missing {missing[:5]!r}.")
    lookup = {str(k): float(v) for k, v in scales.items()}
    scale = ids.map(lookup).to_numpy(float)
    bad = sorted(set(ids[~(scale > 0) | ~np.isfinite(scale)]))
    if bad:
        raise DataError(f"`scales` must be positive and finite. Got "
                        f"{', '.join(f'{s}={lookup[s]}' for s in bad[:5])}.")
    return scale
