"""The RNN forecaster: owns the hyper-parameters, the data preparation and the fit loop.

The network itself is built by :mod:`forecaster.models.rnn` once the data shape (window,
horizon) is known.  ``fit(panel)`` scales each series on its training part only, trains one
global model across all series on windows that never touch the validation tail, and keeps
the best weights.  ``predict(h)`` forecasts directly up to the trained horizon and, for a
longer ``h``, continues recursively (feeding its own forecasts back), which it reports in
``notes_``.
"""

from __future__ import annotations

import gc
import math
from dataclasses import dataclass

import numpy as np

from forecaster.config import shipped
from forecaster.data import windowing as W
from forecaster.data.panel import Panel
from forecaster.errors import DataError, ForecastError
from forecaster.models.base import Model
from forecaster.models.scales import (domain_note, fallback_note, listed_series,
                                      resolve_scaling)

MIN_TRAIN_WINDOWS = 4  # fewer training windows per series than this is no model at all
VALIDATION_CAP = 4096  # validation windows kept (evenly spaced) so memory stays bounded
BATCHES_PER_EPOCH = 500  # what the automatic batch size aims for (auto_batch_size)
_M, _T = shipped().model, shipped().training  # the constructor's defaults


@dataclass(frozen=True)
class Shape:
    """``window``: the model's input steps, the longest lookback of an ensemble's members;
    ``shortest``: the shortest (0 = ``window``, stored as such); ``horizon``: the direct
    output steps."""

    window: int
    horizon: int
    shortest: int = 0

    def __post_init__(self):
        if not self.shortest:
            object.__setattr__(self, "shortest", self.window)

    def lookbacks(self, members: int) -> list[int]:
        """Each member's lookback, longest first (member 0 reads the whole window), spread
        evenly down to ``shortest``: ``window=48, shortest=24`` and 5 members give
        48, 42, 36, 30, 24.  One network reads the whole window."""
        if members == 1:
            return [self.window]
        return [int(round(self.window - (self.window - self.shortest) * j / (members - 1)))
                for j in range(members)]


def resolve_shape(panel: Panel, *, window: int, horizon: int, validation: float,
                  season: int | None, max_lookback: int | None = None,
                  seasonal: bool = True) -> Shape:
    """Pick window and horizon (0 = automatic) from the seasonality, within the data.

    ``max_lookback`` widens the input for ensemble members that read from ``window`` up to
    that many steps (:meth:`Shape.lookbacks`), as far as the longest series allows:
    ``None`` = no widening, 0 = automatic: four seasons when the data are ``seasonal``
    (:func:`default_max_lookback`).
    ``window`` is then the shortest lookback.

    The *longest* series must give ``MIN_TRAIN_WINDOWS`` full training windows besides its
    validation tail (``window + horizon + validation + MIN_TRAIN_WINDOWS - 1`` points);
    automatic values shrink to fit it, explicit values that do not fit are an error naming
    every size involved.  Shorter series of a panel train on left-padded windows and are
    forecast from padded contexts (:func:`~forecaster.data.windowing.pad_left`), so one
    short series no longer shrinks the window of all the others.
    """
    lengths = panel.lengths
    longest = int(np.argmax(lengths))
    n = int(lengths[longest])
    sid = panel.ids[longest]
    H = horizon or min(W.default_horizon(season), max(1, n // 4))
    n_val = W.validation_length(n, H, validation)
    # the largest window that still leaves MIN_TRAIN_WINDOWS training windows
    room = n - n_val - H - (MIN_TRAIN_WINDOWS - 1)
    T = window or min(W.default_window(season, H), room)
    if T < 2 or T > room:
        T = window or 2
        need = T + H + n_val + MIN_TRAIN_WINDOWS - 1
        which = "series" if len(lengths) == 1 else "longest series"
        raise DataError(
            f"{which} {sid!r} is too short: it has {n} points but window {T} + horizon {H} "
            f"+ validation tail {n_val} + {MIN_TRAIN_WINDOWS - 1} more training windows "
            f"need {need}. Use a shorter --window or --horizon, or more data.")
    longest = T if max_lookback is None else (
        max_lookback or default_max_lookback(season, T, seasonal))
    longest = max(T, min(longest, room))
    return Shape(window=int(longest), horizon=int(H), shortest=int(T))


def forecast_recursive(model, contexts: np.ndarray, *, window: int, model_horizon: int,
                       steps: int, level: int, covariates=None) -> np.ndarray:
    """Forecast ``steps`` ahead in scaled units from ``contexts`` ``(n_series, >= window)``.

    Direct multi-output up to ``model_horizon``; beyond it the forecasts are appended to the
    context and the model is applied again.  ``covariates`` (a
    :class:`~forecaster.data.features.CovariateContext`) adds the covariate channels.
    """
    from forecaster.training.loops import predict_rows

    history = np.asarray(contexts, dtype=np.float64)
    out = []
    produced = 0
    while produced < steps:
        x, last = W.last_windows(list(history), window, level)
        if covariates is not None:
            x = covariates.inputs(x, produced, model_horizon)
        y = predict_rows(model, x) + last[:, None]
        out.append(y)
        history = np.concatenate([history, y], axis=1)
        produced += y.shape[1]
    return np.concatenate(out, axis=1)[:, :steps]


def forecast_values(model, scaler: W.SeriesScaler, rows, contexts, *, window: int,
                    model_horizon: int, steps: int, level: int, ids=None,
                    covariates=None, season: int = 0, notes: list | None = None
                    ) -> np.ndarray:
    """Forecasts in original units: scale each raw context with its series' scaler row
    (``rows[i]``), forecast :func:`forecast_recursive`, scale back.  Shared by the fitted
    forecaster and ``forecast predict`` (which rebuilds the scaler from the run).

    A context whose last window leaves its scale's domain (a zero on the log scale: a
    backtest fold, new data) is forecast on the standard scale fitted on that context
    (:meth:`~forecaster.data.windowing.SeriesScaler.for_contexts`, ``season`` the step of
    its seasonal change), said in ``notes``; the other series are untouched.

    A forecast that is not a finite float64 (growth past 1.8e308 on the log scale, a
    corrupt network) is a :class:`~forecaster.errors.ForecastError` naming the series
    (``ids``), never a number clipped to the largest float."""
    names = [str(ids[i]) if ids is not None else f"#{i + 1}" for i in range(len(contexts))]
    own, fallen = scaler.for_contexts(rows, contexts, window, season)
    if fallen and notes is not None:
        notes.append(fallback_note([names[i] for i in fallen],
                                   [scaler.lam[rows[i]] for i in fallen]))
    scaled = np.stack([W.pad_left(own.transform(i, np.asarray(c)[-window:]), window)
                       for i, c in enumerate(contexts)])
    y = forecast_recursive(model, scaled, window=window, model_horizon=model_horizon,
                           steps=steps, level=level, covariates=covariates)
    values = np.stack([own.inverse(i, row) for i, row in enumerate(y)])
    bad = ~np.all(np.isfinite(values), axis=1)
    if bad.any():
        which = listed_series([names[i] for i in np.flatnonzero(bad)])
        raise ForecastError(
            f"the forecast of {which} is not a finite number: it would exceed the float64 "
            "range (about 1.8e308) or the model is corrupt. Rescale the data (e.g. divide "
            "by 1e100), use --scaling standard, or retrain.")
    return values


def level_span(relative, season: int | None, window: int) -> int:
    """Input points whose mean is a window's level (subtracted from input and target):
    ``True`` = the last season (the last value when there is no season), an integer ``k``
    = the last ``k``, ``False``/0 = none.  A seasonal mean is a steadier level than the
    last value, whose position in the season would otherwise colour every target."""
    if relative is True:
        k = season if season and season > 1 else 1
    else:
        k = int(relative)
    return max(0, min(k, window))


def default_max_lookback(season: int | None, window: int, seasonal: bool = True) -> int:
    """Four seasons (at least ``window``) when the data are ``seasonal``; ``window``
    otherwise.  Members reading two to four seasons of a seasonal panel (monthly: 24 to 48
    steps) see more of its pattern and disagree usefully: on M1 monthly (63 % of series
    seasonal by :func:`~forecaster.data.windowing.is_seasonal`) 10 networks spread so
    scored MASE 1.042 against 1.057 all reading 24.  Where the series are mostly trend and
    noise the longer spans only add stale history: the seasonally adjusted
    ``us_employment`` panel (no series seasonal) went from 0.368 to 0.420, M1 quarterly
    (47 %) from 1.647 to 1.684 reading up to 28 quarters."""
    return max(window, 4 * season) if seasonal and season and season > 1 else window


def auto_batch_size(n_windows: int) -> int:
    """The batch size for ``batch_size = 0``: about ``BATCHES_PER_EPOCH`` batches an epoch,
    a power of two between 32 and 256.  Small data keep 32 (enough updates per epoch: on
    ``air_passengers`` batch 64 cost backtest MASE 0.514 -> 0.565); a large panel gets
    larger batches, which on M1 monthly (about 30,000 windows -> 64) fit twice as fast at
    the same accuracy."""
    target = max(float(n_windows), 1.0) / BATCHES_PER_EPOCH
    return int(min(256, max(32, 2 ** round(math.log2(max(target, 1.0))))))


def default_min_context(window: int, season: int | None) -> int:
    """Fewest real points a (left-padded) window must hold: one season, at most the window."""
    return min(window, max(2, season or 0, window // 4))


class _Tiled:
    """A sampler whose targets are repeated ``k`` times, one copy per ensemble member."""

    def __init__(self, sampler, k: int):
        self.sampler, self.k = sampler, k

    def __len__(self):
        return len(self.sampler)

    def __getitem__(self, i):
        x, y = self.sampler[i]
        return (x, y) if self.k == 1 else (x, np.tile(y, (1, self.k)))

    def on_epoch_end(self):
        self.sampler.on_epoch_end()


class RNNForecaster(Model):
    """Global recurrent forecaster (SimpleRNN, TanhCell, LSTM or GRU)."""

    name = "rnn"

    #: Constructor arguments read from the config's ``[model]`` and ``[training]`` sections.
    MODEL_KEYS = ("kind", "units", "layers", "window", "horizon", "relative", "scaling",
                  "ensemble", "max_lookback", "anchor")
    TRAINING_KEYS = ("loss", "epochs", "batch_size", "learning_rate", "clipnorm", "patience",
                     "validation", "max_windows", "seed", "device", "distribute")

    def __init__(self, *, kind=_M.kind, units=_M.units, layers=_M.layers, window=_M.window,
                 horizon=_M.horizon, relative=_M.relative, scaling=_M.scaling, loss=_T.loss,
                 ensemble=_M.ensemble, max_lookback=_M.max_lookback, anchor=_M.anchor,
                 min_context=0, refit_all=True, fixed_epochs=0, direct_horizon=0,
                 epochs=_T.epochs, batch_size=_T.batch_size, learning_rate=_T.learning_rate,
                 clipnorm=_T.clipnorm, patience=_T.patience, validation=_T.validation,
                 max_windows=_T.max_windows, seed=_T.seed, season=None, device=_T.device,
                 progress=None, distribute=_T.distribute, domain=None):
        """Defaults are the shipped ones (``default.toml``): ``RNNForecaster()`` is the
        network ``forecast train`` trains.  ``domain``: ``{series id: whether it can be
        logged}`` from more values than the fitted panel holds (a backtest gives every
        fold model its whole panel's, :func:`~forecaster.data.windowing.positive_domain`);
        None: the fitted panel's own."""
        self.kind, self.units, self.layers = kind, units, layers
        self.window, self.horizon, self.relative = window, horizon, relative
        self.scaling, self.loss, self.ensemble = scaling, loss, ensemble
        self.max_lookback = max_lookback  # members read window .. max_lookback (0 = auto)
        self.anchor = anchor  # level | season | mixed (forecaster.models.rnn.ANCHORS)
        self.min_context, self.refit_all = min_context, refit_all
        # 0: early stopping on the validation tail picks the epochs; N: train on every
        # window for exactly N epochs (the final fit of `forecast train` reuses the count
        # its backtest's early stopping chose)
        self.fixed_epochs = fixed_epochs
        # with an automatic horizon, the horizon a caller will score (`forecast evaluate`):
        # the head forecasts it directly where the data allow (see _shape)
        self.direct_horizon = direct_horizon
        self.epochs, self.batch_size, self.learning_rate = epochs, batch_size, learning_rate
        self.clipnorm, self.patience, self.validation = clipnorm, patience, validation
        self.max_windows, self.seed, self.season = max_windows, seed, season
        self.device, self.progress = device, progress
        self.distribute = distribute  # none | mirrored | multi-worker (forecaster.training.distributed)
        self.domain = domain
        self.name = kind

    @classmethod
    def from_config(cls, cfg, season=None, progress=None, **settings) -> "RNNForecaster":
        """The RNN of ``cfg`` (``[model]`` and ``[training]``); ``settings`` set the other
        constructor arguments (``window``/``horizon`` planned by the caller,
        ``fixed_epochs``, ``direct_horizon``)."""
        m, t = cfg.model, cfg.training
        return cls(**{**{k: getattr(m, k) for k in cls.MODEL_KEYS},
                      **{k: getattr(t, k) for k in cls.TRAINING_KEYS},
                      "season": season, "progress": progress, **settings})

    # -- fit ----------------------------------------------------------------------------
    def _shape(self, panel: Panel) -> Shape:
        """Window and horizon for ``panel``.  With an automatic horizon and a
        ``direct_horizon`` wish (``forecast evaluate`` asks for the horizon it scores), the
        head forecasts that many steps directly — unless that would cost more than half of
        the training windows (a long horizon on a short series), where the one-season head
        continuing recursively learns from more data."""
        widen = self.ensemble > 1
        kw = dict(window=self.window, validation=self.validation, season=self.season,
                  max_lookback=self.max_lookback if widen else None,
                  seasonal=widen and not self.max_lookback
                  and W.seasonal_share(panel.values, self.season) >= 0.5)
        base = resolve_shape(panel, horizon=self.horizon, **kw)
        want = int(self.direct_horizon or 0)
        if self.horizon or want <= base.horizon:
            return base
        try:
            direct = resolve_shape(panel, horizon=want, **kw)
        except DataError:
            return base
        count = lambda sh: len(W.window_starts(  # noqa: E731
            panel.lengths, sh.window, sh.horizon,
            last_target=W.split_points(panel.lengths, sh.horizon, self.validation),
            min_context=self._min_context(sh.shortest))[0])
        return direct if 2 * count(direct) >= count(base) else base

    def _min_context(self, window: int) -> int:
        return min(window, self.min_context or default_min_context(window, self.season))

    def _batch_size(self, n_windows: int) -> int:
        return int(self.batch_size) or auto_batch_size(n_windows)

    def _train(self, windows, validation, epochs: int, progress=None):
        """Build a fresh (ensemble) model and fit it on ``windows``: early stopping on
        ``validation`` ``(x, y)``, or exactly ``epochs`` epochs when it is None, ending on
        the moving average of the weights (the final model should not hang on its last
        few batches).  Returns ``(model, members, fit_result)``."""
        from forecaster.training.distributed import scope
        from forecaster.models.rnn import build_ensemble
        from forecaster.training.runtime import configure_runtime
        from forecaster.training.loops import fit_model

        self.device_ = configure_runtime(self.seed, self.device)
        k = int(self.ensemble)
        with scope(self.distribute, self.device) as strategy:  # None unless distributed
            model, training_model, members = build_ensemble(
                self.kind, window=windows.window, horizon=windows.horizon, units=self.units,
                layers=self.layers, seed=self.seed, ensemble=k, lookbacks=self.lookbacks_,
                season=self.season, anchor=self.anchor, layout=windows.layout)
        sampler = W.WindowSampler(windows, self.batch_size_, shuffle=True, seed=self.seed,
                                  max_windows=self.max_windows)
        if validation is not None:
            validation = (validation[0], np.tile(validation[1], (1, k)))
        fit = fit_model(training_model, _Tiled(sampler, k), validation, epochs=epochs,
                        learning_rate=self.learning_rate, clipnorm=self.clipnorm,
                        patience=self.patience, progress=progress, loss=self.loss,
                        strategy=strategy, average=validation is None)
        return model, members, fit

    def _fit(self, panel: Panel) -> None:
        shape = self._shape(panel)
        T, H = shape.window, shape.horizon
        lengths = panel.lengths
        n_train = W.split_points(lengths, H, self.validation)
        # the scaler sees the training part only (a series too short to have one: its
        # first point)
        fit_parts = [v[:max(int(k), 1)] for v, k in zip(panel.values, n_train)]
        step = W.scale_step(self.season)
        lam, notes = self._scaling(panel, fit_parts)
        scaler = W.SeriesScaler.fit(fit_parts, lam=lam, season=step)
        scaled = [scaler.transform(i, v) for i, v in enumerate(panel.values)]
        features, layout, encoder = self._features(panel, n_train)

        # the shortest member's lookback decides which (padded) windows exist, so its
        # training set is the one a single network of that window would have
        C = self._min_context(shape.shortest)
        self.lookbacks_ = shape.lookbacks(int(self.ensemble))
        self.level_ = level = level_span(self.relative, self.season, T)
        tr_series, tr_start = W.window_starts(lengths, T, H, last_target=n_train,
                                              min_context=C)
        va_series, va_start = W.window_starts(lengths, T, H, first_target=n_train,
                                              min_context=C)
        cov = dict(features=features, layout=layout)
        train = W.WindowSet.build(scaled, tr_series, tr_start, T, H, level, pad=T - C, **cov)
        del tr_series, tr_start  # the window positions hold them (large panels: 80 MB each)
        val = W.WindowSet.build(scaled, va_series, va_start, T, H, level, pad=T - C, **cov)
        if len(train) < MIN_TRAIN_WINDOWS or len(val) == 0:
            raise DataError(
                f"the data give {len(train)} training and {len(val)} validation windows of "
                f"window {T} + horizon {H}; need at least {MIN_TRAIN_WINDOWS} and 1. Use a "
                "shorter --window or --horizon, or more data.")
        self.batch_size_ = self._batch_size(len(train))  # the refit keeps it
        if len(val) > VALIDATION_CAP:
            keep = np.linspace(0, len(val) - 1, VALIDATION_CAP).round().astype(np.int64)
            val.positions = val.positions[keep]

        self.n_train_windows_ = len(train)
        epochs = int(self.fixed_epochs)
        if not epochs:
            model, members, self.fit_ = self._train(train, val.arrays(), self.epochs,
                                                    self.progress)
            epochs = self.fit_.best_epoch
        if self.refit_all or self.fixed_epochs:
            # The validation tail holds the most recent data: having chosen the number of
            # epochs on it, train afresh on every window for that many epochs.  What the
            # early-stopped fit held goes first (a Keras model is freed by the collector).
            del train, scaled
            model = members = None
            gc.collect()
            scaler = W.SeriesScaler.fit(list(panel.values), lam=lam, season=step)
            features, layout, encoder = self._features(panel, lengths)
            every = W.WindowSet.build(
                [scaler.transform(i, v) for i, v in enumerate(panel.values)],
                *W.window_starts(lengths, T, H, min_context=C), T, H, level, pad=T - C,
                features=features, layout=layout)
            model, members, self.refit_ = self._train(every, None, epochs, self.progress)
            self.n_train_windows_ = len(every)
            if self.fixed_epochs:
                self.fit_ = self.refit_
            else:
                self.fit_.seconds += self.refit_.seconds
            # the diagnostic batch in the final model's scaling
            val = W.WindowSet(every.flat, every.offsets, every.offsets[va_series] + va_start
                              + (T - C), T, H, level, every.features, every.layout)
        from forecaster.models.rnn import diagnostic_network

        self.validation_batch_ = val.gather(val.positions[:256])
        self.model_, self.scaler_, self.shape_ = model, scaler, shape
        # the gradient diagnostic follows a plain linear stack: none for covariate networks
        self.members_ = members
        self.member_ = diagnostic_network(model, members) if layout is None else None
        self.encoder_ = encoder
        self.ids_ = {sid: i for i, sid in enumerate(panel.ids)}
        self.notes_ = notes

    def _scaling(self, panel: Panel, fit_parts) -> tuple[np.ndarray, list]:
        """``(λ per series, notes)``: :func:`resolve_scaling` with every value the fit can
        see deciding which series can be logged (the panel's, and ``domain``'s verdict
        where given); a note names the series put on the standard scale although the part
        their scale is fitted on is positive (zeros only later)."""
        known = self.domain or {}
        positive = [known.get(sid, True) and W.log_applicable([v]) for sid, v in panel]
        lam = resolve_scaling(self.scaling, panel.values, fit_parts,
                              W.scale_step(self.season), positive=positive)
        later = [sid for sid, can, part in zip(panel.ids, positive, fit_parts)
                 if not can and W.log_applicable([part])]
        return lam, [domain_note(later)] if later and self.scaling == "auto" else []

    # -- predict ------------------------------------------------------------------------
    def _predict(self, panel: Panel, horizon: int, covariates=None) -> np.ndarray:
        """``covariates``: a prepared :class:`~forecaster.data.features.CovariateContext`
        to forecast with instead of the panel's (permutation importance)."""
        try:
            rows = [self.ids_[sid] for sid in panel.ids]
        except KeyError as exc:
            raise DataError(f"series {exc.args[0]!r} was not seen in training.") from None
        T = self.shape_.window
        if horizon > self.shape_.horizon:
            self.notes_.append(
                f"horizon {horizon} exceeds the trained horizon {self.shape_.horizon}: "
                "steps beyond it are forecast recursively.")
        if self.encoder_ is not None and covariates is None:
            from forecaster.data.features import CovariateContext

            covariates = CovariateContext.of(self.encoder_, panel, window=T,
                                             horizon=self.shape_.horizon, steps=horizon)
        return forecast_values(self.model_, self.scaler_, rows, panel.values, ids=panel.ids,
                               window=T,
                               model_horizon=self.shape_.horizon, steps=horizon,
                               level=self.level_, covariates=covariates,
                               season=W.scale_step(self.season), notes=self.notes_)

    def _features(self, panel: Panel, n_train):
        """``(features, layout, encoder)`` of the panel's covariates, the encoder fitted on
        the first ``n_train`` points of each series; ``(None, None, None)`` without any."""
        if panel.covariates is None:
            return None, None, None
        from forecaster.data.features import CovariateEncoder

        encoder = CovariateEncoder.fit(panel, n_train)
        return ([encoder.history(panel, i) for i in range(len(panel))], encoder.layout(),
                encoder)
