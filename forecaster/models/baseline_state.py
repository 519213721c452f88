"""A fitted baseline as plain data — what ``forecast train --select best`` saves when a
baseline wins the backtest, and what ``forecast predict`` rebuilds it from.

:func:`to_state` returns ``(state, blob)``: a JSON-able dict of the model's settings and of
what it learned per series (the seasonal naive's season, the drift's slopes, the means,
Theta's smoothing, level, slope, seasonal indices and fitted end, the lag regressors' lags,
calendar columns, per-series scalers and covariate encoder), and
for the lag regressors the fitted scikit-learn pipeline as ``skops`` bytes (``None`` for
the others).  Nothing is pickled: ``skops.io`` rebuilds only types it trusts, plus the two
tree types our regressors are made of (:data:`TRUSTED_TYPES`); a file naming any other
type is refused, as is a malformed field (:class:`~forecaster.errors.ArtifactError`).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np

from forecaster.data.windowing import SeriesScaler
from forecaster.errors import ArtifactError
from forecaster.models.base import Forecaster
from forecaster.models.baselines import (BASELINES, DriftForecaster, MeanForecaster,
                                         NaiveForecaster, SeasonalNaiveForecaster)
from forecaster.models.lag_regression import LagRegressionForecaster
from forecaster.models.sklearn_checks import check_pipeline
from forecaster.models.theta import ALPHA_BOUNDS, ThetaFit, ThetaForecaster

__all__ = ["DeployedBaseline", "to_state", "from_state", "TRUSTED_TYPES", "FORMAT"]

FORMAT = 1
#: Types outside skops' default trust that the shipped lag regressors need: the trees of
#: the random forest and of the histogram gradient boosting.  Nothing else is loaded.
TRUSTED_TYPES = ("sklearn.tree._tree.Tree",
                 "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor")

_KINDS = {NaiveForecaster: "naive", SeasonalNaiveForecaster: "seasonal_naive",
          DriftForecaster: "drift", MeanForecaster: "mean", ThetaForecaster: "theta",
          LagRegressionForecaster: "lag_regression"}


@dataclass
class DeployedBaseline:
    """A baseline deployed as a run's model (``forecast train --select best``): the fitted
    ``model`` and its split-conformal quantiles (``conformal``, calibrated on its own
    backtest residuals as the RNN's are on the RNN's; None without a backtest)."""

    model: Forecaster
    conformal: dict | None = None

    @property
    def name(self) -> str:
        return self.model.name

    def forecast(self, panel, horizon: int) -> tuple[np.ndarray, list[str]]:
        """``(values (n_series, horizon), notes)`` from the ends of ``panel`` (the run's
        stored contexts, or new data).  A series the model was not fitted on is adopted
        by a copy (:meth:`~forecaster.models.base.Forecaster.adopt`); the deployed model
        itself is left as it is."""
        model = copy.copy(self.model)
        adopted = model.adopt(panel)
        notes = []
        if adopted and _KINDS[type(model)] not in ("naive", "seasonal_naive"):
            notes.append(f"{len(adopted)} series the deployed {self.name} was not fitted on "
                         f"({', '.join(adopted[:3])}{' …' if len(adopted) > 3 else ''}) "
                         "take what it learns per series from the history given.")
        return model._predict(panel, int(horizon)), notes


def to_state(model: Forecaster) -> tuple[dict, bytes | None]:
    """``(state, blob)`` of a fitted baseline (see the module docstring)."""
    kind = _KINDS.get(type(model))
    if kind is None:
        raise TypeError(f"{type(model).__name__} cannot be saved as a baseline.")
    state = {"format": FORMAT, "name": model.name, "kind": kind,
             "ids": list(model.fitted_ids_)}
    if kind == "seasonal_naive":
        state["season"] = int(model.season_)
    elif kind == "drift":
        state["slope"] = [float(x) for x in model.slope_]
    elif kind == "mean":
        state["mean"] = [float(x) for x in model.mean_]
    elif kind == "theta":
        fits = model.fits_
        state.update(season=int(model.season_), ends=model.axis_.format_all(model.ends_),
                     alpha=[f.alpha for f in fits], level=[f.level for f in fits],
                     slope=[f.slope for f in fits], n=[f.n for f in fits],
                     ahead=[list(f.ahead) for f in fits],
                     multiplicative=[f.multiplicative for f in fits])
    elif kind == "lag_regression":
        import skops.io

        scalers = [model.scalers_[sid] for sid in model.fitted_ids_]
        state.update(
            lags=[int(k) for k in model.lags_], difference=bool(model.difference),
            categorical=list(model._categorical), cyclical=list(model._cyclical),
            covariate_columns=list(model._cov_columns),
            encoder=None if model.encoder_ is None else model.encoder_.to_json(),
            scalers={"mean": [float(s.mean[0]) for s in scalers],
                     "scale": [float(s.scale[0]) for s in scalers],
                     "log": [bool(s.lam[0] <= 0) for s in scalers]})
        return state, skops.io.dumps(model.pipeline_)
    return state, None


def from_state(state, blob: bytes | None, axis) -> Forecaster:
    """The fitted baseline that :func:`to_state` described, on the run's time ``axis``;
    every field is checked and anything wrong is an :class:`ArtifactError`."""
    def bad(what):
        raise ArtifactError(f"the deployed baseline is malformed: {what}.")

    if not isinstance(state, dict) or state.get("format") != FORMAT:
        bad(f"`format` must be {FORMAT}")
    kind, name, ids = state.get("kind"), state.get("name"), state.get("ids")
    if name not in BASELINES:
        bad(f"`name` must be one of {', '.join(BASELINES)}, not {name!r:.40}")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids) \
            or len(set(ids)) != len(ids):
        bad("`ids` must be a non-empty list of distinct series ids")
    if kind == "naive":
        model = NaiveForecaster()
    elif kind == "seasonal_naive":
        season = _season(state, bad)
        model = SeasonalNaiveForecaster(season)
        model.season_, model.notes_ = season, []
    elif kind == "drift":
        model = DriftForecaster()
        model.slope_ = _floats(state.get("slope"), len(ids), "slope", bad)
    elif kind == "mean":
        model = MeanForecaster()
        model.mean_ = _floats(state.get("mean"), len(ids), "mean", bad)
    elif kind == "theta":
        model = _theta_model(state, axis, ids, bad)
    elif kind == "lag_regression":
        model = _lag_model(state, blob, axis, ids, bad)
    else:
        bad(f"`kind` must be one of {', '.join(_KINDS.values())}, not {kind!r:.40}")
    if kind != "lag_regression" and name != kind:  # a lag regressor's name: its estimator
        bad(f"a {kind} baseline cannot be named {name!r}")
    if kind != "lag_regression" and blob is not None:
        bad(f"a {kind} baseline has no fitted scikit-learn model")
    model.name, model.fitted_ids_, model.panel_ = name, tuple(ids), None
    return model


def _season(state: dict, bad) -> int:
    """The state's ``season``, a positive integer (seasonal naive and Theta keep one)."""
    season = state.get("season")
    if isinstance(season, bool) or not isinstance(season, int) or season < 1:
        bad("`season` must be a positive integer")
    return season


def _floats(values, n: int, key: str, bad) -> np.ndarray:
    """``values``: a list of ``n`` finite numbers (one per series); the message says which
    of the three is wrong."""
    if not isinstance(values, list):
        bad(f"`{key}` must be a list of {n} finite numbers (one per series), not "
            f"{type(values).__name__}")
    if len(values) != n:
        bad(f"`{key}` must hold {n} numbers (one per series), not {len(values)}")
    wrong = [v for v in values if isinstance(v, bool) or not isinstance(v, (int, float))
             or not math.isfinite(v)]
    if wrong:
        bad(f"`{key}` must hold finite numbers; got {wrong[0]!r:.40}")
    return np.asarray(values, dtype=np.float64)


def _theta_model(state: dict, axis, ids: list, bad) -> ThetaForecaster:
    n = len(ids)
    season = _season(state, bad)
    alpha = _floats(state.get("alpha"), n, "alpha", bad)
    level = _floats(state.get("level"), n, "level", bad)
    slope = _floats(state.get("slope"), n, "slope", bad)
    lengths, ahead, mult = state.get("n"), state.get("ahead"), state.get("multiplicative")
    ends = state.get("ends")
    low, high = ALPHA_BOUNDS
    outside = alpha[(alpha < low) | (alpha > high)]
    if outside.size:
        bad(f"`alpha` must lie in [{low}, {high}] (the smoothing Theta fits); got "
            f"{outside[0]:g}")
    if not isinstance(lengths, list) or len(lengths) != n or not all(
            isinstance(k, int) and not isinstance(k, bool) and k >= 1 for k in lengths):
        bad(f"`n` must hold {n} positive integers")
    if not isinstance(mult, list) or len(mult) != n or not all(isinstance(x, bool)
                                                                for x in mult):
        bad(f"`multiplicative` must hold {n} booleans")
    if not isinstance(ahead, list) or len(ahead) != n or not all(
            isinstance(a, list) and len(a) in (0, season) for a in ahead):
        bad(f"`ahead` must hold {n} lists of 0 or {season} seasonal indices")
    indices = [_floats(a, len(a), "ahead", bad) if a else np.zeros(0) for a in ahead]
    if any(m and np.any(i <= 0) for m, i in zip(mult, indices)):
        bad("multiplicative seasonal indices must be positive")
    if not isinstance(ends, list) or len(ends) != n or not all(isinstance(e, str)
                                                                for e in ends):
        bad(f"`ends` must hold {n} timestamps")
    try:
        parsed = [axis.parse(e) for e in ends]
    except (TypeError, ValueError):
        bad("`ends` must hold timestamps of the run's time axis")
    model = ThetaForecaster(season)
    model.season_, model.ends_, model.axis_ = season, parsed, axis
    model.fits_ = [ThetaFit(alpha=float(alpha[i]), level=float(level[i]),
                            slope=float(slope[i]), n=lengths[i],
                            ahead=tuple(float(x) for x in indices[i]),
                            multiplicative=mult[i]) for i in range(n)]
    return model


def _lag_model(state: dict, blob, axis, ids: list, bad) -> LagRegressionForecaster:
    n = len(ids)
    lags = state.get("lags")
    if not isinstance(lags, list) or not lags or not all(
            isinstance(k, int) and not isinstance(k, bool) and k >= 1 for k in lags) \
            or lags != sorted(set(lags)):
        bad("`lags` must be increasing positive integers")
    names = {}
    for key in ("categorical", "cyclical", "covariate_columns"):
        names[key] = state.get(key)
        if not isinstance(names[key], list) or not all(isinstance(c, str) for c in names[key]):
            bad(f"`{key}` must be a list of column names")
    scalers = state.get("scalers")
    if not isinstance(scalers, dict):
        bad("`scalers` must be an object")
    mean = _floats(scalers.get("mean"), n, "scalers.mean", bad)
    scale = _floats(scalers.get("scale"), n, "scalers.scale", bad)
    logs = scalers.get("log")
    if np.any(scale <= 0) or not isinstance(logs, list) or len(logs) != n or not all(
            isinstance(x, bool) for x in logs):
        bad("`scalers` need positive scales and one log flag per series")
    model = LagRegressionForecaster(None, lags=lags, difference=bool(state.get("difference")))
    model.lags_, model.axis_ = list(lags), axis
    model._lag_columns = [f"lag_{k}" for k in lags]
    model._categorical, model._cyclical = names["categorical"], names["cyclical"]
    model._cov_columns = names["covariate_columns"]
    model.encoder_ = _encoder(state.get("encoder"), axis, bad)
    model.scalers_ = {sid: SeriesScaler(mean[i:i + 1], scale[i:i + 1], 0.0 if logs[i] else 1.0)
                      for i, sid in enumerate(ids)}
    model.pipeline_ = check_pipeline(
        _pipeline(blob, bad), state.get("name"),
        {"lags": model._lag_columns, "cyclical": model._cyclical,
         "covariates": model._cov_columns, "categorical": model._categorical}, bad)
    return model


def _encoder(data, axis, bad):
    if data is None:
        return None
    from forecaster.data.features import CovariateEncoder

    try:
        return CovariateEncoder.from_json(data, axis)
    except (KeyError, TypeError, ValueError) as exc:
        bad(f"its covariate encoder: {exc}")


def _pipeline(blob, bad):
    """The scikit-learn pipeline from skops bytes, trusting only skops' defaults and
    :data:`TRUSTED_TYPES`."""
    if not isinstance(blob, (bytes, bytearray)) or not blob:
        bad("the fitted scikit-learn model is missing")
    import skops.io
    from sklearn.pipeline import Pipeline

    try:
        untrusted = set(skops.io.get_untrusted_types(data=bytes(blob)))
    except Exception as exc:  # noqa: BLE001 - any unreadable archive is a bad file
        bad(f"its scikit-learn model cannot be read ({type(exc).__name__})")
    refused = sorted(untrusted - set(TRUSTED_TYPES))
    if refused:
        bad(f"its scikit-learn model holds types forecaster does not trust: "
            f"{', '.join(refused[:3])}")
    try:
        pipeline = skops.io.loads(bytes(blob), trusted=sorted(untrusted))
    except Exception as exc:  # noqa: BLE001
        bad(f"its scikit-learn model cannot be loaded ({type(exc).__name__}: {exc!s:.80})")
    if not isinstance(pipeline, Pipeline):
        bad(f"the scikit-learn model must be a Pipeline, not {type(pipeline).__name__}")
    return pipeline  # its content is checked by check_pipeline
