"""The one small interface every model shares (RNN and baselines alike): :class:`Model`.

``fit(panel) -> self`` learns from a :class:`~forecaster.data.panel.Panel`;
``predict(horizon, panel=None) -> DataFrame`` forecasts the ``horizon`` steps after the end
of every series — of the fitted panel, or of ``panel`` when given (same series ids, used as
new context without refitting, e.g. in a backtest with ``refit=False``).

The forecast frame is long: ``series_id, timestamp, step, forecast`` (``step`` = 1…horizon).
Learned state ends in ``_``; predicting before fitting raises
:class:`~forecaster.errors.NotFittedError`.

A model class also declares what it is (:class:`Capabilities`, its state ``kind``) and, when
it can be deployed as a run's model, owns its saved form: :meth:`Model.get_state` and
:meth:`Model.from_state` (see :mod:`forecaster.models.baseline_state` for the file around
them, :mod:`forecaster.models.registry` for the public names).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecaster.data.panel import Panel
from forecaster.errors import ConfigError, DataError, NotFittedError

FORECAST_COLUMNS = ["series_id", "timestamp", "step", "forecast"]


@dataclass(frozen=True)
class Capabilities:
    """What a model class can do, declared once on the class (``Model.capabilities``).

    ``deployable``: it can be saved as a run's deployed model and rebuilt
    (:meth:`Model.get_state` / :meth:`Model.from_state`); ``state``: what that saved form
    is — ``"json"`` alone, or ``"json+skops"`` (JSON plus a fitted scikit-learn pipeline);
    ``seasonal``: it uses a seasonal period (the ``season`` given, else the panel's);
    ``covariates``: it uses the panel's covariates; ``adopts``: it learns per-series state
    from the history of a series it was not fitted on (:meth:`Model.adopt`)."""

    deployable: bool = False
    state: str | None = None
    seasonal: bool = False
    covariates: bool = False
    adopts: bool = False


class Model:
    """Base class: subclasses implement ``_fit(panel)`` and ``_predict(panel, horizon)``."""

    name = "model"
    #: The ``kind`` of its saved state (baseline.json); None for a model that has none.
    kind: str | None = None
    capabilities = Capabilities()

    @classmethod
    def build(cls, season: int | None = None, seed: int = 0) -> "Model":
        """An unfitted model with the shipped settings (the registry's factory); models
        without a season or a random state ignore them."""
        return cls()

    def get_state(self) -> tuple[dict, bytes | None]:
        """``(fields, blob)`` of the fitted model: its settings and what it learned as
        JSON-able fields (beside the common ``format``/``name``/``kind``/``ids``), and
        the skops bytes of a scikit-learn pipeline (None for a ``"json"`` state)."""
        raise TypeError(f"{type(self).__name__} cannot be saved as a baseline.")

    @classmethod
    def from_state(cls, state: dict, blob: bytes | None, axis) -> "Model":
        """The fitted model that :meth:`get_state` described (inside the common fields of
        :func:`~forecaster.models.baseline_state.to_state`), on the run's time ``axis``;
        every field is checked and anything wrong is an
        :class:`~forecaster.errors.ArtifactError`."""
        from forecaster.models.state_checks import bad, check_header

        ids = check_header(state)
        if not cls.capabilities.deployable:
            bad(f"a {cls.kind} model cannot be deployed")
        model = cls._restore(state, blob, axis, ids)
        name = state["name"]
        if cls.capabilities.state == "json" and name != cls.kind:  # a lag regressor's
            bad(f"a {cls.kind} baseline cannot be named {name!r}")  # name: its estimator
        if cls.capabilities.state == "json" and blob is not None:
            bad(f"a {cls.kind} baseline has no fitted scikit-learn model")
        model.name, model.fitted_ids_, model.panel_ = name, tuple(ids), None
        return model

    @classmethod
    def _restore(cls, state: dict, blob: bytes | None, axis, ids: list) -> "Model":
        """The model with what it learned set from ``state``'s own fields (checked)."""
        raise TypeError(f"{cls.__name__} cannot be rebuilt from a saved state.")

    def fit(self, panel: Panel) -> "Model":
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


class SeasonalModel(Model):
    """A model with a seasonal period ``season``: the one given, else the natural
    season of the panel's frequency (``panel.axis.season()``; None when unknown)."""

    def __init__(self, season: int | None = None):
        if season is not None and int(season) < 1:
            raise ConfigError(f"`season` must be >= 1. Got {season}.")
        self.season = None if season is None else int(season)

    @classmethod
    def build(cls, season: int | None = None, seed: int = 0) -> "SeasonalModel":
        return cls(season)

    def _season_of(self, panel: Panel) -> int | None:
        return self.season if self.season is not None else panel.axis.season()


class WithoutCovariates(Model):
    """``model`` fitted and forecasting on the target alone, the panel's covariates set
    aside: beside the same model with them, it shows what the covariates bought."""

    def __init__(self, model: Model):
        self.model = model
        self.name = f"{model.name}_without_covariates"

    def _fit(self, panel: Panel) -> None:
        from dataclasses import replace

        self.model.fit(replace(panel, covariates=None))

    def _predict(self, panel: Panel, horizon: int) -> np.ndarray:
        from dataclasses import replace

        return self.model._predict(replace(panel, covariates=None), horizon)


def fitted_rows(model: Model, panel: Panel) -> list[int]:
    """Row of each ``panel`` series among the fitted ones (new context must use known ids,
    or be adopted first: :meth:`Model.adopt`)."""
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
