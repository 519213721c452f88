"""The RNN forecaster: owns the hyper-parameters, the data preparation and the fit loop.

The network itself is built by :mod:`forecaster.models.rnn` once the data shape (window,
horizon) is known.  ``fit(panel)`` scales each series on its training part only, trains one
global model across all series on windows that never touch the validation tail, and keeps
the best weights.  ``predict(h)`` forecasts directly up to the trained horizon and, for a
longer ``h``, continues recursively (feeding its own forecasts back), which it reports in
``notes_``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from forecaster.data import windowing as W
from forecaster.data.panel import Panel
from forecaster.errors import ConfigError, DataError
from forecaster.models.base import Forecaster

MIN_TRAIN_WINDOWS = 4  # fewer training windows per series than this is no model at all
VALIDATION_CAP = 4096  # validation windows kept (evenly spaced) so memory stays bounded


@dataclass(frozen=True)
class Shape:
    window: int
    horizon: int


def resolve_shape(panel: Panel, *, window: int, horizon: int, validation: float,
                  season: int | None) -> Shape:
    """Pick window and horizon (0 = automatic) that fit the shortest series.

    Each series needs ``window + horizon + MIN_TRAIN_WINDOWS - 1`` points for its
    training windows plus its validation tail.  Automatic values shrink to fit; explicit values that do not fit are an
    error naming the series and every size involved.
    """
    lengths = panel.lengths
    shortest = int(np.argmin(lengths))
    n = int(lengths[shortest])
    sid = panel.ids[shortest]
    H = horizon or min(W.default_horizon(season), max(1, n // 4))
    n_val = W.validation_length(n, H, validation)
    # the largest window that still leaves MIN_TRAIN_WINDOWS training windows
    room = n - n_val - H - (MIN_TRAIN_WINDOWS - 1)
    T = window or min(W.default_window(season), room)
    if T < 2 or T > room:
        T = window or 2
        need = T + H + n_val + MIN_TRAIN_WINDOWS - 1
        raise DataError(
            f"series {sid!r} is too short: it has {n} points but window {T} + horizon {H} "
            f"+ validation tail {n_val} + {MIN_TRAIN_WINDOWS - 1} more training windows "
            f"need {need}. Use a shorter --window or --horizon, or more data.")
    return Shape(window=int(T), horizon=int(H))


def forecast_recursive(model, contexts: np.ndarray, *, window: int, model_horizon: int,
                       steps: int, relative: bool) -> np.ndarray:
    """Forecast ``steps`` ahead in scaled units from ``contexts`` ``(n_series, >= window)``.

    Direct multi-output up to ``model_horizon``; beyond it the forecasts are appended to the
    context and the model is applied again.
    """
    history = np.asarray(contexts, dtype=np.float64)
    out = []
    produced = 0
    while produced < steps:
        x, last = W.last_windows(list(history), window, relative)
        y = np.asarray(model(x, training=False), dtype=np.float64) + last[:, None]
        out.append(y)
        history = np.concatenate([history, y], axis=1)
        produced += y.shape[1]
    return np.concatenate(out, axis=1)[:, :steps]


def forecast_values(model, scaler: W.SeriesScaler, rows, contexts, *, window: int,
                    model_horizon: int, steps: int, relative: bool) -> np.ndarray:
    """Forecasts in original units: scale each raw context with its series' scaler row
    (``rows[i]``), forecast :func:`forecast_recursive`, scale back.  Shared by the fitted
    forecaster and ``forecast predict`` (which rebuilds the scaler from the run)."""
    scaled = np.stack([scaler.transform(r, np.asarray(c)[-window:])
                       for r, c in zip(rows, contexts)])
    y = forecast_recursive(model, scaled, window=window, model_horizon=model_horizon,
                           steps=steps, relative=relative)
    return np.stack([scaler.inverse(r, row) for r, row in zip(rows, y)])


class RNNForecaster(Forecaster):
    """Global recurrent forecaster (SimpleRNN, TanhCell, LSTM or GRU)."""

    name = "rnn"

    def __init__(self, *, kind="tanh_cell", units=32, layers=1, window=0, horizon=0,
                 relative=True, epochs=100, batch_size=32, learning_rate=3e-3, clipnorm=1.0,
                 patience=20, validation=0.15, max_windows=0, seed=0, season=None,
                 device="auto", progress=None, distribute="none"):
        self.kind, self.units, self.layers = kind, units, layers
        self.window, self.horizon, self.relative = window, horizon, relative
        self.epochs, self.batch_size, self.learning_rate = epochs, batch_size, learning_rate
        self.clipnorm, self.patience, self.validation = clipnorm, patience, validation
        self.max_windows, self.seed, self.season = max_windows, seed, season
        self.device, self.progress = device, progress
        self.distribute = distribute  # none | mirrored | multi-worker (forecaster.distributed)
        self.name = kind

    @classmethod
    def from_config(cls, cfg, season=None, progress=None) -> "RNNForecaster":
        m, t = cfg.model, cfg.training
        return cls(kind=m.kind, units=m.units, layers=m.layers, window=m.window,
                   horizon=m.horizon, relative=m.relative, epochs=t.epochs,
                   batch_size=t.batch_size, learning_rate=t.learning_rate,
                   clipnorm=t.clipnorm, patience=t.patience, validation=t.validation,
                   max_windows=t.max_windows, seed=t.seed, season=season, device=t.device,
                   progress=progress, distribute=t.distribute)

    # -- fit ----------------------------------------------------------------------------
    def _fit(self, panel: Panel) -> None:
        from forecaster.distributed import scope
        from forecaster.models.rnn import build_model
        from forecaster.training import configure_runtime, fit_model

        shape = resolve_shape(panel, window=self.window, horizon=self.horizon,
                              validation=self.validation, season=self.season)
        T, H = shape.window, shape.horizon
        lengths = panel.lengths
        n_train = W.split_points(lengths, H, self.validation)
        scaler = W.SeriesScaler.fit([v[:k] for v, k in zip(panel.values, n_train)])
        scaled = [scaler.transform(i, v) for i, v in enumerate(panel.values)]

        tr_series, tr_start = W.window_starts(lengths, T, H, last_target=n_train)
        va_series, va_start = W.window_starts(lengths, T, H, first_target=n_train)
        train = W.WindowSet.build(scaled, tr_series, tr_start, T, H, self.relative)
        val = W.WindowSet.build(scaled, va_series, va_start, T, H, self.relative)
        if len(val) > VALIDATION_CAP:
            keep = np.linspace(0, len(val) - 1, VALIDATION_CAP).round().astype(np.int64)
            val.positions = val.positions[keep]

        self.device_ = configure_runtime(self.seed, self.device)
        with scope(self.distribute, self.device) as strategy:  # None unless distributed
            model = build_model(self.kind, window=T, horizon=H, units=self.units,
                                layers=self.layers, seed=self.seed)
        sampler = W.WindowSampler(train, self.batch_size, shuffle=True, seed=self.seed,
                                  max_windows=self.max_windows)
        self.fit_ = fit_model(model, sampler, val.arrays(), epochs=self.epochs,
                              learning_rate=self.learning_rate, clipnorm=self.clipnorm,
                              patience=self.patience, progress=self.progress,
                              strategy=strategy)
        self.model_, self.scaler_, self.shape_ = model, scaler, shape
        self.ids_ = {sid: i for i, sid in enumerate(panel.ids)}
        self.n_train_windows_ = len(train)
        self.validation_batch_ = val.gather(val.positions[:256])
        self.notes_ = []

    # -- predict ------------------------------------------------------------------------
    def _predict(self, panel: Panel, horizon: int) -> np.ndarray:
        try:
            rows = [self.ids_[sid] for sid in panel.ids]
        except KeyError as exc:
            raise DataError(f"series {exc.args[0]!r} was not seen in training.") from None
        T = self.shape_.window
        short = [sid for sid, v in panel if len(v) < T]
        if short:
            raise DataError(f"series {short[0]!r} has fewer points than the window ({T}).")
        if horizon > self.shape_.horizon:
            self.notes_.append(
                f"horizon {horizon} exceeds the trained horizon {self.shape_.horizon}: "
                "steps beyond it are forecast recursively.")
        return forecast_values(self.model_, self.scaler_, rows, panel.values, window=T,
                               model_horizon=self.shape_.horizon, steps=horizon,
                               relative=self.relative)
