"""The global machine-learning baseline: any scikit-learn regressor on lagged values (and
calendar features of the target time), one model for every series of a panel, forecasting
several steps ahead recursively.  See :class:`LagRegressionForecaster`."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits

from forecaster.data.panel import Panel, TimeAxis
from forecaster.data.windowing import SeriesScaler
from forecaster.errors import ConfigError, DataError
from forecaster.models import state_checks as checks
from forecaster.models.base import Capabilities, Model, fitted_rows

__all__ = ["LagRegressionForecaster", "calendar_features", "BOOTSTRAP_CAP"]

# -- calendar features ---------------------------------------------------------------------

_RULE_GROUPS = {
    "year": ("Y", "YS", "A", "AS", "BY", "BYS", "YE", "BYE", "BA", "BAS"),
    "quarter": ("Q", "QS", "BQ", "BQS", "QE", "BQE"),
    "month": ("M", "MS", "BM", "BMS", "ME", "BME", "SM", "SMS", "SME", "CBMS", "CBME"),
    "week": ("W",),
    "day": ("D", "B", "C"),
    "hour": ("H", "h", "BH", "bh", "CBH", "cbh"),
    "minute": ("T", "min", "S", "s", "L", "ms", "U", "us", "N", "ns"),
}


def _frequency_group(axis: TimeAxis) -> str | None:
    if not axis.is_datetime:
        return None
    rule = axis.offset.rule_code.split("-")[0]
    for group, rules in _RULE_GROUPS.items():
        if rule in rules:
            return group
    return None


def calendar_features(timestamps, axis: TimeAxis) -> tuple[pd.DataFrame, list[str], list[str]]:
    """Calendar features of ``timestamps`` for the frequency of ``axis``.

    Returns ``(frame, categorical_columns, cyclical_columns)``.  Categorical columns are
    small integer codes meant for one-hot encoding (month of monthly data, quarter of
    quarterly data, day of week of daily/hourly data, hour of hourly data); cyclical
    columns are ``sin``/``cos`` pairs for positions with too many values to one-hot (week of
    the year for weekly data, day of the year for daily data, hour of the day for sub-hourly
    data).  Annual, unknown and integer axes have no calendar features.
    """
    group = _frequency_group(axis)
    ts = pd.DatetimeIndex(timestamps) if group else None
    data, categorical, cyclical = {}, [], []

    def cat(name, values):
        data[name] = np.asarray(values, dtype=np.int64)
        categorical.append(name)

    def cyc(name, position, period):
        angle = 2 * np.pi * np.asarray(position, dtype=np.float64) / period
        data[f"{name}_sin"], data[f"{name}_cos"] = np.sin(angle), np.cos(angle)
        cyclical.extend([f"{name}_sin", f"{name}_cos"])

    if group == "quarter":
        cat("quarter", ts.quarter)
    elif group == "month":
        cat("month", ts.month)
    elif group == "week":
        cyc("year", ts.day_of_year - 1, 365.25)
    elif group == "day":
        cat("dayofweek", ts.day_of_week)
        cyc("year", ts.day_of_year - 1, 365.25)
    elif group == "hour":
        cat("hour", ts.hour)
        cat("dayofweek", ts.day_of_week)
    elif group == "minute":
        cyc("day", ts.hour * 60 + ts.minute, 1440)
        cat("dayofweek", ts.day_of_week)
    n = len(timestamps)
    return pd.DataFrame(data, index=pd.RangeIndex(n)), categorical, cyclical


# -- global lag regression -----------------------------------------------------------------


#: Largest bootstrap sample per tree for estimators that take ``max_samples``.
BOOTSTRAP_CAP = 50_000


class LagRegressionForecaster(Model):
    """A scikit-learn regressor on lagged values, one global model for every series.

    **Features.** For a target time ``t`` the features are the series' scaled values at
    ``t − k`` for every ``k`` in ``lags`` (``lag_k``), plus calendar features of ``t`` when
    the axis is a calendar axis and ``calendar`` is true (see :func:`calendar_features`).
    ``lags`` defaults to ``1 … m`` for a season ``m`` (12 for monthly, 52 for weekly data),
    else ``1 … 8``, shortened when the shortest training series is too short to give at
    least as many training rows as lags.

    **Scaling.** Each series is standardised with its own
    :class:`~forecaster.data.windowing.SeriesScaler` (by its std; robust to magnitudes like
    1e300), fitted on the training panel only, so one global regressor can learn
    from series of very different magnitudes; forecasts are mapped back per series.

    **Target.** The regressor learns the *change* from the last observed value in scaled
    units (``z_t − z_{t−1}``), not the level: trees and nearest neighbours cannot predict
    outside the range of their training targets, and a trending series leaves that range
    exactly where the forecast starts.  Set ``difference=False`` to learn levels.

    **Multi-step.** Forecasts are recursive: each one-step forecast is appended to the
    history and becomes ``lag_1`` of the next step.

    The model is a :class:`~sklearn.pipeline.Pipeline` of a
    :class:`~sklearn.compose.ColumnTransformer` (``StandardScaler`` on the lags, cyclical
    calendar columns passed through, ``OneHotEncoder`` on categorical calendar columns) and
    a clone of ``estimator``; it is exposed as ``pipeline_`` once fitted.

    ``n_threads`` caps the OpenMP/BLAS threads used while fitting and predicting (default 1:
    these data sets are small, and on a shared machine oversubscribed threads are far slower
    than one; ``None`` leaves the libraries' defaults).
    """

    name = kind = "lag_regression"
    capabilities = Capabilities(deployable=True, state="json+skops", seasonal=True,
                                covariates=True, adopts=True)

    def __init__(self, estimator, lags=None, calendar: bool = True, season: int | None = None,
                 difference: bool = True, n_threads: int | None = 1):
        if lags is not None:
            lags = sorted({int(k) for k in lags})
            if not lags or lags[0] < 1:
                raise ConfigError(f"`lags` must be positive integers. Got {lags!r}.")
        self.estimator = estimator
        self.lags = lags
        self.calendar = bool(calendar)
        self.season = season
        self.difference = bool(difference)
        self.n_threads = n_threads

    # -- helpers ------------------------------------------------------------------------
    def _resolve_lags(self, panel: Panel) -> list[int]:
        shortest = int(panel.lengths.min())
        if self.lags is not None:
            if self.lags[-1] >= shortest:
                sizes = ", ".join(f"{sid}={len(v)}" for sid, v in panel if len(v) <= self.lags[-1])
                raise DataError(
                    f"`lags` up to {self.lags[-1]} need series longer than {self.lags[-1]} "
                    f"points. Got {sizes}.")
            return list(self.lags)
        season = self.season if self.season is not None else panel.axis.season()
        n_lags = season if season and season > 1 else 8
        # keep at least as many training rows as lags in the shortest series
        n_lags = min(n_lags, shortest // 2)
        if n_lags < 1:
            raise DataError(
                f"series must have at least 2 points to fit {self.name}. "
                f"Got {', '.join(f'{sid}={len(v)}' for sid, v in panel if len(v) < 2)}.")
        return list(range(1, n_lags + 1))

    def _features(self, lag_matrix: np.ndarray, timestamps, covariates=None) -> pd.DataFrame:
        frame = pd.DataFrame(lag_matrix, columns=self._lag_columns)
        if self._categorical or self._cyclical:
            cal, _, _ = calendar_features(timestamps, self.axis_)
            frame = pd.concat([frame, cal], axis=1)
        if covariates is not None:
            frame = pd.concat([frame, pd.DataFrame(covariates, columns=self._cov_columns)],
                              axis=1)
        return frame

    def _covariate_rows(self, panel: Panel, i: int, p: int):
        """The covariate features of series ``i``'s training rows (targets ``p …``):
        past covariates at the step before the target (lag 1), known-future and static
        ones at the target step; None without covariates."""
        if self.encoder_ is None:
            return None
        m = self.encoder_.history(panel, i)
        kp = len(self.encoder_.spec.past)
        return np.concatenate([m[p - 1:-1, :kp], m[p:, kp:]], axis=1)

    # -- Model --------------------------------------------------------------------------
    def get_state(self) -> tuple[dict, bytes]:
        """Lags, calendar and covariate columns, the covariate encoder and per-series
        scalers as JSON; the fitted pipeline as skops bytes."""
        import skops.io

        scalers = [self.scalers_[sid] for sid in self.fitted_ids_]
        state = dict(
            lags=[int(k) for k in self.lags_], difference=bool(self.difference),
            categorical=list(self._categorical), cyclical=list(self._cyclical),
            covariate_columns=list(self._cov_columns),
            encoder=None if self.encoder_ is None else self.encoder_.to_json(),
            scalers={"mean": [float(s.mean[0]) for s in scalers],
                     "scale": [float(s.scale[0]) for s in scalers],
                     "log": [bool(s.lam[0] <= 0) for s in scalers]})
        return state, skops.io.dumps(self.pipeline_)

    @classmethod
    def _restore(cls, state, blob, axis, ids) -> "LagRegressionForecaster":
        from forecaster.models.sklearn_checks import check_pipeline

        n, bad = len(ids), checks.bad
        lags = state.get("lags")
        if not isinstance(lags, list) or not lags or not all(
                isinstance(k, int) and not isinstance(k, bool) and k >= 1 for k in lags) \
                or lags != sorted(set(lags)):
            bad("`lags` must be increasing positive integers")
        names = {}
        for key in ("categorical", "cyclical", "covariate_columns"):
            names[key] = state.get(key)
            if not isinstance(names[key], list) or not all(isinstance(c, str)
                                                           for c in names[key]):
                bad(f"`{key}` must be a list of column names")
        scalers = state.get("scalers")
        if not isinstance(scalers, dict):
            bad("`scalers` must be an object")
        mean = checks.floats(scalers.get("mean"), n, "scalers.mean")
        scale = checks.floats(scalers.get("scale"), n, "scalers.scale")
        logs = scalers.get("log")
        if np.any(scale <= 0) or not isinstance(logs, list) or len(logs) != n or not all(
                isinstance(x, bool) for x in logs):
            bad("`scalers` need positive scales and one log flag per series")
        model = cls(None, lags=lags, difference=bool(state.get("difference")))
        model.lags_, model.axis_ = list(lags), axis
        model._lag_columns = [f"lag_{k}" for k in lags]
        model._categorical, model._cyclical = names["categorical"], names["cyclical"]
        model._cov_columns = names["covariate_columns"]
        model.encoder_ = checks.encoder(state.get("encoder"), axis)
        model.scalers_ = {sid: SeriesScaler(mean[i:i + 1], scale[i:i + 1],
                                            0.0 if logs[i] else 1.0)
                          for i, sid in enumerate(ids)}
        model.pipeline_ = check_pipeline(
            checks.pipeline(blob), state.get("name"),
            {"lags": model._lag_columns, "cyclical": model._cyclical,
             "covariates": model._cov_columns, "categorical": model._categorical}, bad)
        return model

    def _fit(self, panel: Panel) -> None:
        with threadpool_limits(limits=self.n_threads):
            self._fit_unlimited(panel)

    def _adopt(self, panel: Panel) -> None:
        """A series first seen in new data is standardised by its own history, as fitting
        standardises each training series; the regressor is kept."""
        self.scalers_ = {**self.scalers_,
                         **{sid: SeriesScaler.fit([v]) for sid, v in panel}}

    def _predict(self, panel: Panel, horizon: int) -> np.ndarray:
        with threadpool_limits(limits=self.n_threads):
            return self._predict_unlimited(panel, horizon)

    def _fit_unlimited(self, panel: Panel) -> None:
        self.lags_ = self._resolve_lags(panel)
        self.axis_ = panel.axis
        p = self.lags_[-1]
        self._lag_columns = [f"lag_{k}" for k in self.lags_]
        use_calendar = self.calendar and panel.axis.is_datetime
        _, self._categorical, self._cyclical = (
            calendar_features(panel.timestamps(0)[:1], panel.axis) if use_calendar
            else (None, [], []))

        self.encoder_ = None
        self._cov_columns = []
        if panel.covariates is not None:
            from forecaster.data.features import CovariateEncoder

            self.encoder_ = CovariateEncoder.fit(panel, panel.lengths)
            lay = self.encoder_.layout()
            self._cov_columns = ([f"{c}_lag_1" for c in lay.past] + list(lay.known)
                                 + list(lay.static))
        self.scalers_ = {}
        blocks, targets = [], []
        for i, (sid, v) in enumerate(panel):
            scaler = SeriesScaler.fit([v])  # robust to huge magnitudes (1e300)
            self.scalers_[sid] = scaler
            z = scaler.transform(0, v)
            windows = np.lib.stride_tricks.sliding_window_view(z, p + 1)  # (n - p, p + 1)
            lag_matrix = windows[:, [p - k for k in self.lags_]]
            target = windows[:, p] - (windows[:, p - 1] if self.difference else 0.0)
            blocks.append(self._features(lag_matrix, panel.timestamps(i)[p:],
                                         self._covariate_rows(panel, i, p)))
            targets.append(target)
        X = pd.concat(blocks, ignore_index=True)
        y = np.concatenate(targets)

        transformers = [("lags", StandardScaler(), self._lag_columns)]
        if self._cyclical:
            transformers.append(("cyclical", "passthrough", self._cyclical))
        if self._cov_columns:  # already scaled by the encoder
            transformers.append(("covariates", "passthrough", self._cov_columns))
        if self._categorical:
            transformers.append(("calendar", OneHotEncoder(handle_unknown="ignore",
                                                           sparse_output=False),
                                 self._categorical))
        estimator = clone(self.estimator)
        if "max_samples" in estimator.get_params() and len(X) > BOOTSTRAP_CAP:
            # bagging ensembles: each tree sees at most BOOTSTRAP_CAP rows, so a forest on a
            # big panel costs seconds, not minutes (the trees stay as deep as before)
            estimator.set_params(max_samples=BOOTSTRAP_CAP)
        self.pipeline_ = Pipeline([
            ("features", ColumnTransformer(transformers)),
            ("model", estimator),
        ]).fit(X, y)

    def _predict_unlimited(self, panel: Panel, horizon: int) -> np.ndarray:
        fitted_rows(self, panel)
        p = self.lags_[-1]
        short = [f"{sid}={len(v)}" for sid, v in panel if len(v) < p]
        if short:
            raise DataError(f"context series must have at least {p} points (the largest lag). "
                            f"Got {', '.join(short)}.")
        history = np.array([
            self.scalers_[sid].transform(0, v[-p:]) for sid, v in panel])
        future = panel.futures(horizon)  # series-major: step h of every series at h::horizon
        ahead = self._ahead(panel, horizon)
        out = np.empty((len(panel), horizon))
        for h in range(horizon):
            lag_matrix = history[:, [p - k for k in self.lags_]]
            stamps = future[h::horizon]
            step = self.pipeline_.predict(self._features(
                lag_matrix, stamps, None if ahead is None else ahead[:, h]))
            z_next = step + (history[:, -1] if self.difference else 0.0)
            out[:, h] = z_next
            history = np.concatenate([history[:, 1:], z_next[:, None]], axis=1)
        for i, sid in enumerate(panel.ids):
            out[i] = self.scalers_[sid].inverse(0, out[i])
        return out

    def _ahead(self, panel: Panel, horizon: int):
        """``(n_series, horizon, features)``: each step's covariate features — past
        covariates held at their last observed value (unknown after the origin), the
        known-future and static ones of that step; None without covariates."""
        if self.encoder_ is None:
            return None
        kp = len(self.encoder_.spec.past)
        rows = []
        for i in range(len(panel)):
            last = self.encoder_.history(panel, i, last=1)[-1, :kp]
            known = self.encoder_.ahead(panel, i, horizon)
            rows.append(np.concatenate([np.repeat(last[None], horizon, axis=0), known],
                                       axis=1))
        return np.stack(rows)
