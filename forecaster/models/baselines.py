"""Baseline forecasters: the yardsticks every recurrent model has to beat.

Four classic local baselines (one model per series, no training to speak of):

* :class:`NaiveForecaster` — the last observed value, repeated;
* :class:`SeasonalNaiveForecaster` — the last observed season, repeated;
* :class:`DriftForecaster` — the line from the first to the last observation, extended;
* :class:`MeanForecaster` — the mean of the training values;

beside them, in their own modules, the M3/M4 competitions' statistical benchmark,
:class:`~forecaster.models.theta.ThetaForecaster` (exponential smoothing with half the
linear trend, on the seasonally adjusted series), and one global machine-learning baseline,
:class:`~forecaster.models.lag_regression.LagRegressionForecaster`: any scikit-learn
regressor on lag (and calendar) features, one model for all series of a panel, forecasting
several steps ahead recursively (imported only when one is built: scikit-learn is slow to
import and a baselines-only command need not pay for it).

All share the :class:`~forecaster.models.base.Model` interface (``fit(panel) -> self``,
``predict(horizon, panel=None) -> frame``).  When ``predict`` is given a new ``panel`` as
context (a backtest with ``refit=False``), what was *learned* at fit time is kept (the mean,
the drift slope, the regressor and the per-series scalers) and only the most recent values
are taken from the context.

Each owns its saved state (``get_state``/``from_state``); the public names are listed once,
in :mod:`forecaster.models.registry`.
"""

from __future__ import annotations

import numpy as np

from forecaster.data.panel import Panel
from forecaster.models import state_checks as checks
from forecaster.models.base import Capabilities, Model, SeasonalModel, fitted_rows

__all__ = [
    "NaiveForecaster", "SeasonalNaiveForecaster", "DriftForecaster", "MeanForecaster",
]


class NaiveForecaster(Model):
    """Repeat the last observed value: ``ŷ_{T+h} = y_T``.

    The random-walk forecast; optimal for a random walk and the denominator of
    non-seasonal MASE, so any model that cannot beat it adds nothing.
    """

    name = kind = "naive"
    capabilities = Capabilities(deployable=True, state="json")

    def get_state(self) -> tuple[dict, None]:
        return {}, None

    @classmethod
    def _restore(cls, state, blob, axis, ids) -> "NaiveForecaster":
        return cls()

    def _fit(self, panel: Panel) -> None:
        self.last_ = np.array([v[-1] for v in panel.values])

    def _predict(self, panel: Panel, horizon: int) -> np.ndarray:
        return np.array([np.full(horizon, v[-1]) for v in panel.values])


class SeasonalNaiveForecaster(SeasonalModel):
    """Repeat the last observed season: ``ŷ_{T+h} = y_{T-m+1+((h-1) mod m)}``.

    ``season`` (``m``) defaults to the natural season of the panel's frequency
    (``panel.axis.season()``: 12 for monthly data, 52 for weekly…).  For horizons longer than
    ``m`` the last season is repeated again (it never reuses values after ``T``).  A series
    shorter than one season, or a panel whose season is unknown (or 1), falls back to the
    naive forecast; ``notes_`` says so.
    """

    name = kind = "seasonal_naive"
    capabilities = Capabilities(deployable=True, state="json", seasonal=True)

    def get_state(self) -> tuple[dict, None]:
        return {"season": int(self.season_)}, None

    @classmethod
    def _restore(cls, state, blob, axis, ids) -> "SeasonalNaiveForecaster":
        season = checks.season(state)
        model = cls(season)
        model.season_, model.notes_ = season, []
        return model

    def _fit(self, panel: Panel) -> None:
        season = self._season_of(panel)
        self.notes_ = []
        if season is None or season < 2:
            self.notes_.append(
                f"seasonal_naive: no season known for frequency {panel.axis.describe()}; "
                "using the naive forecast")
            season = 1
        short = [sid for sid, v in panel if len(v) < season]
        if short and season > 1:
            self.notes_.append(
                f"seasonal_naive: series shorter than one season ({season}) use the naive "
                f"forecast: {', '.join(short[:5])}{' …' if len(short) > 5 else ''}")
        self.season_ = season

    def _predict(self, panel: Panel, horizon: int) -> np.ndarray:
        m = self.season_
        out = []
        for v in panel.values:
            if len(v) < m or m == 1:
                out.append(np.full(horizon, v[-1]))
            else:
                last = v[-m:]
                out.append(last[np.arange(horizon) % m])
        return np.array(out)


class DriftForecaster(Model):
    """Extend the line through the first and last observation:
    ``ŷ_{T+h} = y_T + h · (y_T − y_1) / (T − 1)``.

    The naive forecast plus the average historical change; a one-point series has no drift
    (slope 0).  The slope is learned at fit time; with a new context only ``y_T`` moves.
    """

    name = kind = "drift"
    capabilities = Capabilities(deployable=True, state="json", adopts=True)

    def get_state(self) -> tuple[dict, None]:
        return {"slope": [float(x) for x in self.slope_]}, None

    @classmethod
    def _restore(cls, state, blob, axis, ids) -> "DriftForecaster":
        model = cls()
        model.slope_ = checks.floats(state.get("slope"), len(ids), "slope")
        return model

    def _fit(self, panel: Panel) -> None:
        self.slope_ = _slopes(panel)

    def _adopt(self, panel: Panel) -> None:
        self.slope_ = np.concatenate([self.slope_, _slopes(panel)])

    def _predict(self, panel: Panel, horizon: int) -> np.ndarray:
        slopes = self.slope_[fitted_rows(self, panel)]
        steps = np.arange(1, horizon + 1)
        return np.array([v[-1] + s * steps for v, s in zip(panel.values, slopes)])


class MeanForecaster(Model):
    """Forecast the training mean for every step: ``ŷ_{T+h} = (1/T) Σ y_t``.

    Optimal for white noise around a constant level; a floor any model must clear.
    """

    name = kind = "mean"
    capabilities = Capabilities(deployable=True, state="json", adopts=True)

    def get_state(self) -> tuple[dict, None]:
        return {"mean": [float(x) for x in self.mean_]}, None

    @classmethod
    def _restore(cls, state, blob, axis, ids) -> "MeanForecaster":
        model = cls()
        model.mean_ = checks.floats(state.get("mean"), len(ids), "mean")
        return model

    def _fit(self, panel: Panel) -> None:
        self.mean_ = np.array([_safe_mean(v) for v in panel.values])

    def _adopt(self, panel: Panel) -> None:
        self.mean_ = np.concatenate([self.mean_, [_safe_mean(v) for v in panel.values]])

    def _predict(self, panel: Panel, horizon: int) -> np.ndarray:
        means = self.mean_[fitted_rows(self, panel)]
        return np.repeat(means[:, None], horizon, axis=1)


def _slopes(panel: Panel) -> np.ndarray:
    """``(y_T - y_1) / (T - 1)`` of every series, computed on halves: the difference of two
    values near ±1.8e308 would overflow; a one-point series has slope 0."""
    return np.array([(v[-1] / 2 - v[0] / 2) / (len(v) - 1) * 2 if len(v) > 1 else 0.0
                     for v in panel.values], dtype=np.float64)


def _safe_mean(v: np.ndarray) -> float:
    """The mean without overflow: a sum of values near 1.8e308 is infinite, the mean of the
    values divided by the largest is not."""
    big = float(np.max(np.abs(v)))
    return float(np.mean(v / big) * big) if big > 0 and np.isfinite(big) else float(np.mean(v))
