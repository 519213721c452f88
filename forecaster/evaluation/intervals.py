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

**Any level after the fact.** The calibration scores themselves are stored with a run
(``residuals``: per step, the sorted scores, and how many backtest origins gave them), so
:meth:`ConformalIntervals.at_levels` gives the quantile at any level in (0, 100) by the same
formula; a calibrated level keeps its stored width (identical by construction).  A level
needs ``n ≥ ⌈level/(100 − level)⌉`` scores per step (:func:`scores_needed`); with fewer the
error says how many backtest origins would give them.

**Quantiles.** The interval at level ``L`` is the central one, so its bounds are the
predictive quantiles ``(1 − L/100)/2`` and ``(1 + L/100)/2``: quantile ``p > 0.5`` is the
upper bound at level ``(2p − 1)·100``, ``p < 0.5`` the lower bound at ``(1 − 2p)·100``,
and ``p = 0.5`` the forecast itself (:func:`quantile_level`).  Their columns are named
``q_<p>`` (:func:`quantile_column`: ``q_0.1``, ``q_0.5``, ``q_0.99``).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from forecaster.errors import ConfigError, DataError

__all__ = ["ConformalIntervals", "add_quantiles", "check_conformal", "check_residuals", "conformal_quantile",
           "interval_columns", "quantile_column", "quantile_level", "scores_needed"]


def interval_columns(level: int) -> tuple[str, str]:
    """Column names of the bounds at ``level`` (``"lower_80"``, ``"upper_80"``)."""
    return f"lower_{level_name(level)}", f"upper_{level_name(level)}"


def quantile_column(p) -> str:
    """Column name of predictive quantile ``p`` (``"q_0.1"``, ``"q_0.5"``, ``"q_0.975"``)."""
    return f"q_{float(p):.10g}"


def quantile_level(p) -> tuple[float, str]:
    """``(level, side)`` of predictive quantile ``p`` in (0, 1): the central interval whose
    ``side`` (``"lower"``/``"upper"``; ``"forecast"`` for the median, level 0) it is."""
    if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)) \
            or not 0 < float(p) < 1:
        raise ConfigError(f"`quantiles` must be numbers between 0 and 1 (e.g. 0.1,0.5,0.9). "
                          f"Got {p!r:.40}.")
    level = round(abs(2 * float(p) - 1) * 100, 9)  # 0.9 -> 80.0, not 80.00000000000001
    level = int(level) if float(level).is_integer() else level
    side = "forecast" if level == 0 else ("upper" if p > 0.5 else "lower")
    return level, side


def scores_needed(level) -> int:
    """The fewest calibration scores per step that give a finite quantile at ``level``:
    the smallest ``n`` with ``⌈(n + 1) · level/100⌉ ≤ n``."""
    a = float(level) / 100.0
    n = max(math.ceil(round(a / (1 - a), 9)), 1)
    while math.ceil(round((n + 1) * a, 9)) > n:  # the rounding may leave it one short
        n += 1
    return n


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


def check_residuals(residuals, horizon: int) -> None:
    """The one check of stored calibration ``residuals`` (``preprocessing.json``'s and
    ``baseline.json``'s): ``{"origins": k ≥ 1, "scores": [...]}`` with one list per step
    (``horizon`` of them) of finite, non-negative scaled scores.  Raises
    :class:`DataError` saying what is wrong (the caller names the file)."""
    if not isinstance(residuals, dict) or set(residuals) != {"origins", "scores"}:
        raise DataError("`residuals` must be an object with `origins` and `scores`")
    origins, scores = residuals["origins"], residuals["scores"]
    if isinstance(origins, bool) or not isinstance(origins, int) or origins < 1:
        raise DataError(f"`residuals.origins` must be a positive integer, got {origins!r:.40}")
    if not isinstance(scores, list) or len(scores) != horizon:
        raise DataError(f"`residuals.scores` must list {horizon} lists, one per step")
    for h, step in enumerate(scores, start=1):
        if not isinstance(step, list) or not all(
                isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
                and x >= 0 for x in step):
            raise DataError(f"`residuals.scores` step {h} must hold finite, non-negative "
                            "numbers")


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
        self.origins_ = int(frame["fold"].nunique()) if "fold" in frame else 1
        self.scores_ = [np.sort(scores[steps == h]) for h in range(1, horizon + 1)]
        self.quantiles_ = {
            level: np.array([conformal_quantile(scores[steps == h], level)
                             for h in range(1, horizon + 1)])
            for level in self.levels}
        return self

    def at_levels(self, levels) -> "ConformalIntervals":
        """These intervals at ``levels`` (any in (0, 100)): a calibrated level keeps its
        width, another is the conformal quantile of the stored scores.  A
        :class:`ConfigError` when there are no stored scores (a run written before they
        were kept) or too few for a level, saying how many backtest origins it needs."""
        self._check_fitted()
        out = ConformalIntervals(levels)
        out.horizon_, out.n_, out.quantiles_ = self.horizon_, self.n_, {}
        out.origins_, out.scores_ = getattr(self, "origins_", None), getattr(
            self, "scores_", None)
        known = {level_name(k): q for k, q in self.quantiles_.items()}
        for level in out.levels:
            q = known.get(level_name(level))
            if q is None:
                if out.scores_ is None:
                    raise ConfigError(
                        f"level {level_name(level)} was not calibrated and this run keeps no "
                        "calibration residuals (it was trained before they were stored); "
                        f"choose among {', '.join(known)} or retrain.")
                q = np.array([conformal_quantile(s, level) for s in out.scores_])
            if not np.all(np.isfinite(q)):
                raise ConfigError(self.too_few(level))
            out.quantiles_[level] = q
        return out

    def too_few(self, level) -> str:
        """Why ``level`` has no finite interval, and how many origins would give one."""
        need = scores_needed(level)
        counts = [len(s) for s in getattr(self, "scores_", None) or []] or list(self.n_)
        have = int(min(counts)) if len(counts) else 0
        origins = getattr(self, "origins_", None)
        if origins and have:
            per_origin = have / origins
            more = f"; train with at least --origins {math.ceil(need / per_origin)}"
        else:
            more = "; train with more --origins (or more data)"
        return (f"{level_name(level)}% intervals need at least {need} calibration residuals "
                f"per step and the backtest gave {have}{more}")

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

    def residuals_json(self) -> dict:
        """The ``residuals`` object stored beside ``conformal`` (docs/run-format.md):
        ``{"origins": k, "scores": [[scores of step 1, sorted], …]}`` in scaled units."""
        self._check_fitted()
        return {"origins": int(self.origins_),
                "scores": [[float(x) for x in step] for step in self.scores_]}

    @classmethod
    def from_json(cls, data: dict, residuals: dict | None = None) -> "ConformalIntervals":
        """Inverse of :meth:`to_json` (and of :meth:`residuals_json` when ``residuals`` is
        given, for :meth:`at_levels`); raises :class:`DataError` on a malformed object."""
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
        if residuals is not None:
            check_residuals(residuals, self.horizon_)
            self.origins_ = residuals["origins"]
            self.scores_ = [np.sort(np.asarray(s, dtype=np.float64))
                            for s in residuals["scores"]]
            self.n_ = np.array([len(s) for s in self.scores_], dtype=np.int64)
        return self


def add_quantiles(frame: pd.DataFrame, quantiles) -> pd.DataFrame:
    """``frame`` (with ``forecast`` and the bounds of every :func:`quantile_level` of
    ``quantiles``) with a ``q_<p>`` column per quantile, in the order given."""
    out = frame.copy()
    for p in quantiles:
        level, side = quantile_level(p)
        column = "forecast" if side == "forecast" else \
            interval_columns(level)[side == "upper"]
        out[quantile_column(p)] = out[column].to_numpy(float)
    return out


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
