"""The one small interface every forecaster shares (RNN and baselines alike).

``fit(panel) -> self`` learns from a :class:`~forecaster.data.panel.Panel`;
``predict(horizon, panel=None) -> DataFrame`` forecasts the ``horizon`` steps after the end
of every series — of the fitted panel, or of ``panel`` when given (same series ids, used as
new context without refitting, e.g. in a backtest with ``refit=False``).

The forecast frame is long: ``series_id, timestamp, step, forecast`` (``step`` = 1…horizon).
Learned state ends in ``_``; predicting before fitting raises :class:`NotFittedError`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecaster.data.panel import Panel
from forecaster.errors import ConfigError, DataError

FORECAST_COLUMNS = ["series_id", "timestamp", "step", "forecast"]


class NotFittedError(RuntimeError):
    """``predict`` was called before ``fit``."""


class Forecaster:
    """Base class: subclasses implement ``_fit(panel)`` and ``_predict(panel, horizon)``."""

    name = "forecaster"

    def fit(self, panel: Panel) -> "Forecaster":
        self._fit(panel)
        self.panel_ = panel
        self.fitted_ids_ = tuple(panel.ids)
        return self

    def predict(self, horizon: int, panel: Panel | None = None) -> pd.DataFrame:
        if not hasattr(self, "fitted_ids_"):
            raise NotFittedError(f"{type(self).__name__} must be fitted before predict.")
        if int(horizon) < 1:
            raise ValueError(f"horizon must be >= 1. Got {horizon}.")
        context = getattr(self, "panel_", None) if panel is None else panel
        if context is None:  # restored from a run: it keeps no training panel
            raise ValueError(f"{type(self).__name__} restored from a run needs `panel` "
                             "(the context to forecast from).")
        values = self._predict(context, int(horizon))  # (n_series, horizon)
        return forecast_to_frame(context, np.asarray(values, dtype=np.float64))

    def adopt(self, panel: Panel) -> list[str]:
        """Learn the per-series state of the series of ``panel`` this model was not fitted
        on, from their values in ``panel`` (a forecast from new data without retraining);
        what was learned across series is kept.  Returns the ids adopted."""
        known = set(self.fitted_ids_)
        new = [sid for sid in panel.ids if sid not in known]
        if new:
            self._adopt(panel.select(new))
            self.fitted_ids_ += tuple(new)
        return new

    def _adopt(self, panel: Panel) -> None:
        """Per-series state of ``panel``'s (new) series; nothing for models without any."""

    def _fit(self, panel: Panel) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def _predict(self, panel: Panel, horizon: int) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError


class SeasonalForecaster(Forecaster):
    """A forecaster with a seasonal period ``season``: the one given, else the natural
    season of the panel's frequency (``panel.axis.season()``; None when unknown)."""

    def __init__(self, season: int | None = None):
        if season is not None and int(season) < 1:
            raise ConfigError(f"`season` must be >= 1. Got {season}.")
        self.season = None if season is None else int(season)

    def _season_of(self, panel: Panel) -> int | None:
        return self.season if self.season is not None else panel.axis.season()


class WithoutCovariates(Forecaster):
    """``model`` fitted and forecasting on the target alone, the panel's covariates set
    aside: beside the same model with them, it shows what the covariates bought."""

    def __init__(self, model: Forecaster):
        self.model = model
        self.name = f"{model.name}_without_covariates"

    def _fit(self, panel: Panel) -> None:
        from dataclasses import replace

        self.model.fit(replace(panel, covariates=None))

    def _predict(self, panel: Panel, horizon: int) -> np.ndarray:
        from dataclasses import replace

        return self.model._predict(replace(panel, covariates=None), horizon)


def fitted_rows(model: Forecaster, panel: Panel) -> list[int]:
    """Row of each ``panel`` series among the fitted ones (new context must use known ids,
    or be adopted first: :meth:`Forecaster.adopt`)."""
    index = {sid: i for i, sid in enumerate(model.fitted_ids_)}
    missing = [sid for sid in panel.ids if sid not in index]
    if missing:
        raise DataError(
            f"`panel` must contain only series the model was fitted on. "
            f"Got unknown series {missing[:5]!r}.")
    return [index[sid] for sid in panel.ids]


def forecast_to_frame(panel: Panel, values: np.ndarray, column: str = "forecast") -> pd.DataFrame:
    """Turn an ``(n_series, horizon)`` array into the long forecast frame for ``panel``."""
    n_series, horizon = values.shape
    if n_series != len(panel):
        raise ValueError(f"expected {len(panel)} rows of forecasts. Got {n_series}.")
    return pd.DataFrame({
        "series_id": np.repeat(np.array(panel.ids, dtype=object), horizon),
        "timestamp": panel.futures(horizon),
        "step": np.tile(np.arange(1, horizon + 1, dtype=np.int64), n_series),
        column: np.asarray(values, dtype=np.float64).ravel(),
    })
