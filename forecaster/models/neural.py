"""The RNN forecaster: the data preparation and the fit loop of a configured network.

It takes the config's ``[model]`` and ``[training]`` sections as they are and a
:class:`FitPolicy` that the calling pipeline decides (fixed epochs, a direct horizon, the
refit).  The window and horizon are planned by :mod:`forecaster.models.shape`; the network
itself is built by :mod:`forecaster.models.rnn` once they are known.  ``fit(panel)`` scales each series on its training part only, trains one
global model across all series on windows that never touch the validation tail, and keeps
the best weights.  ``predict(h)`` forecasts directly up to the trained horizon and, for a
longer ``h``, continues recursively (feeding its own forecasts back), which it reports in
``notes_``.
"""

from __future__ import annotations

import gc
import math
from dataclasses import dataclass, replace
from functools import partial

import numpy as np

from forecaster.config import ModelConfig, TrainingConfig, settings_overrides, shipped
from forecaster.data import windowing as W
from forecaster.data.panel import Panel
from forecaster.errors import ConfigError, DataError, ForecastError
from forecaster.models.base import Model
from forecaster.models.scales import (domain_note, fallback_note, listed_series,
                                      resolve_scaling)
from forecaster.models.shape import (MIN_TRAIN_WINDOWS, Shape, default_min_context,
                                     level_span, resolve_shape)

VALIDATION_CAP = 4096  # validation windows kept (evenly spaced) so memory stays bounded
BATCHES_PER_EPOCH = 500  # what the automatic batch size aims for (auto_batch_size)


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


def auto_batch_size(n_windows: int) -> int:
    """The batch size for ``batch_size = 0``: about ``BATCHES_PER_EPOCH`` batches an epoch,
    a power of two between 32 and 256.  Small data keep 32 (enough updates per epoch: on
    ``air_passengers`` batch 64 cost backtest MASE 0.514 -> 0.565); a large panel gets
    larger batches, which on M1 monthly (about 30,000 windows -> 64) fit twice as fast at
    the same accuracy."""
    target = max(float(n_windows), 1.0) / BATCHES_PER_EPOCH
    return int(min(256, max(32, 2 ** round(math.log2(max(target, 1.0))))))


def _first_points(panel: Panel, counts) -> list[np.ndarray]:
    """The first ``counts[i]`` points of each series, at least one (the part a scale or
    an encoder is fitted on)."""
    return [v[:max(int(k), 1)] for v, k in zip(panel.values, counts)]


def _validation_sample(val):
    """``val`` or, beyond ``VALIDATION_CAP`` windows, a copy keeping that many of them
    evenly spaced (memory stays bounded); ``val`` itself is left as it is."""
    if len(val) <= VALIDATION_CAP:
        return val
    keep = np.linspace(0, len(val) - 1, VALIDATION_CAP).round().astype(np.int64)
    return replace(val, positions=val.positions[keep])


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


@dataclass(frozen=True)
class FitPolicy:
    """How a fit runs, decided by the pipeline that asks for it (not configuration):

    ``fixed_epochs``: 0 = early stopping on the validation tail picks the epoch count; N =
    train on every window for exactly N epochs (the final fit of ``forecast train`` reuses
    the count its backtest's early stopping chose).  ``direct_horizon``: with an automatic
    horizon, the horizon the caller will score (``forecast evaluate``, ``forecast tune``):
    the head forecasts it directly where the data allow (:meth:`RNNForecaster._shape`).
    ``refit_all``: after early stopping, train afresh on every window (the validation tail
    holds the most recent data) for the chosen epochs; False keeps the early-stopped
    network.  ``min_context``: fewest real points a left-padded window must hold (0 =
    :func:`default_min_context`)."""

    fixed_epochs: int = 0
    direct_horizon: int = 0
    refit_all: bool = True
    min_context: int = 0


@dataclass(frozen=True)
class _Plan:
    """What a fit decides before any window is built (:meth:`RNNForecaster._plan`):
    the shape, each series' training part (``n_train`` points before its validation
    tail), the fewest real points of a window, the level span, and each series' scale λ
    with the notes that choice left."""

    shape: Shape
    n_train: np.ndarray
    min_context: int
    level: int
    lam: np.ndarray
    notes: tuple


class RNNForecaster(Model):
    """Global recurrent forecaster (SimpleRNN, TanhCell, LSTM or GRU)."""

    name = "rnn"

    def __init__(self, model: ModelConfig | None = None,
                 training: TrainingConfig | None = None, policy: FitPolicy | None = None,
                 *, season: int | None = None, progress=None, domain: dict | None = None):
        """``model`` and ``training``: the config's ``[model]`` and ``[training]``
        sections (default: the shipped ones, ``default.toml``: ``RNNForecaster()`` is the
        network ``forecast train`` trains); a pipeline that planned the window and horizon
        passes a copy of ``[model]`` holding them.  ``policy``: how the caller wants the
        fit run (:class:`FitPolicy`).  ``progress(epoch, epochs, loss, val_loss)`` is
        called after each epoch.  ``domain``: ``{series id: whether it can be logged}``
        from more values than the fitted panel holds (a backtest gives every fold model
        its whole panel's, :func:`~forecaster.data.windowing.positive_domain`); None: the
        fitted panel's own.  :meth:`from_settings` sets a few keys by name."""
        self.model_config = model if model is not None else shipped().model
        self.training_config = training if training is not None else shipped().training
        self.policy = policy if policy is not None else FitPolicy()
        self.season, self.progress, self.domain = season, progress, domain
        self.name = self.model_config.kind

    @classmethod
    def from_settings(cls, *, season: int | None = None, progress=None,
                      policy: FitPolicy | None = None, domain: dict | None = None,
                      **settings) -> "RNNForecaster":
        """The shipped RNN with ``settings`` (``[model]`` and ``[training]`` keys by name,
        ``units=4, epochs=2``) applied and validated as ``Forecaster(**settings)`` applies
        them: for tests, benchmarks and scripts that change a few keys.  A key of another
        section is a :class:`~forecaster.errors.ConfigError`."""
        cfg = shipped()
        for section, values in settings_overrides(settings).items():
            if section not in ("model", "training"):
                raise ConfigError(f"{', '.join(sorted(values))}: not a setting of the RNN "
                                  "(only [model] and [training] keys are).")
            cfg = cfg.replace(section, **values)
        return cls(cfg.model, cfg.training, policy, season=season, progress=progress,
                   domain=domain)

    @property
    def scaling(self) -> str:
        """The scaling asked for (``[model] scaling``), which a run records."""
        return self.model_config.scaling

    # -- fit ----------------------------------------------------------------------------
    def _shape(self, panel: Panel) -> Shape:
        """Window and horizon for ``panel``.  With an automatic horizon and a
        ``direct_horizon`` wish (``forecast evaluate`` asks for the horizon it scores), the
        head forecasts that many steps directly — unless that would cost more than half of
        the training windows (a long horizon on a short series), where the one-season head
        continuing recursively learns from more data."""
        m, validation = self.model_config, self.training_config.validation
        widen = m.ensemble > 1
        kw = dict(window=m.window, validation=validation, season=self.season,
                  max_lookback=m.max_lookback if widen else None,
                  seasonal=widen and not m.max_lookback
                  and W.seasonal_share(panel.values, self.season) >= 0.5)
        base = resolve_shape(panel, horizon=m.horizon, **kw)
        want = int(self.policy.direct_horizon or 0)
        if m.horizon or want <= base.horizon:
            return base
        try:
            direct = resolve_shape(panel, horizon=want, **kw)
        except DataError:
            return base
        count = lambda sh: len(W.window_starts(  # noqa: E731
            panel.lengths, sh.window, sh.horizon,
            last_target=W.split_points(panel.lengths, sh.horizon, validation),
            min_context=self._min_context(sh.shortest))[0])
        return direct if 2 * count(direct) >= count(base) else base

    def _min_context(self, window: int) -> int:
        return min(window,
                   self.policy.min_context or default_min_context(window, self.season))

    def _batch_size(self, n_windows: int) -> int:
        return int(self.training_config.batch_size) or auto_batch_size(n_windows)

    def _train(self, windows, validation, epochs: int, progress=None):
        """Build a fresh (ensemble) model and fit it on ``windows``: early stopping on
        ``validation`` ``(x, y)``, or exactly ``epochs`` epochs when it is None, ending on
        the moving average of the weights (the final model should not hang on its last
        few batches).  Returns ``(model, members, fit_result)``."""
        from forecaster.training.distributed import scope
        from forecaster.models.rnn import build_ensemble
        from forecaster.training.runtime import configure_runtime
        from forecaster.training.loops import fit_model

        m, t = self.model_config, self.training_config
        self.device_ = configure_runtime(t.seed, t.device)
        k = int(m.ensemble)
        with scope(t.distribute, t.device) as strategy:  # None unless distributed
            model, training_model, members = build_ensemble(
                m.kind, window=windows.window, horizon=windows.horizon, units=m.units,
                layers=m.layers, seed=t.seed, ensemble=k, lookbacks=self.lookbacks_,
                season=self.season, anchor=m.anchor, layout=windows.layout)
        sampler = W.WindowSampler(windows, self.batch_size_, shuffle=True, seed=t.seed,
                                  max_windows=t.max_windows)
        if validation is not None:
            validation = (validation[0], np.tile(validation[1], (1, k)))
        fit = fit_model(training_model, _Tiled(sampler, k), validation, epochs=epochs,
                        learning_rate=t.learning_rate, clipnorm=t.clipnorm,
                        patience=t.patience, progress=progress, loss=t.loss,
                        strategy=strategy, average=validation is None)
        return model, members, fit

    def _fit(self, panel: Panel) -> None:
        """Fit in named stages: plan shape and scales (:meth:`_plan`); cut the training and
        validation windows, scaled on the training part only (:meth:`_held_out_windows`);
        choose the epoch count by early stopping on the validation tail, unless the policy
        fixes it (:meth:`_early_stop`); by default, or with fixed epochs, train afresh on
        every window for that count (:meth:`_refit`); keep what a forecast needs
        (:meth:`_keep`)."""
        plan = self._plan(panel)
        self.lookbacks_ = plan.shape.lookbacks(int(self.model_config.ensemble))
        self.level_ = plan.level
        train, val, scaler, encoder = self._held_out_windows(panel, plan)
        self.batch_size_ = self._batch_size(len(train))  # the refit keeps it
        self.n_train_windows_ = len(train)
        epochs, model, members = int(self.policy.fixed_epochs), None, None
        if not epochs:
            model, members, self.fit_ = self._early_stop(train, val)
            epochs = self.fit_.best_epoch
        diagnostic = _validation_sample(val)
        if self.policy.refit_all or self.policy.fixed_epochs:
            # what the held-out fit held goes first (a Keras model is freed by the
            # collector); the validation windows are kept by position only
            positions = val.positions
            del train, val, diagnostic
            model = members = None
            gc.collect()
            model, members, scaler, encoder, diagnostic = self._refit(panel, plan, epochs,
                                                                      positions)
        self._keep(panel, plan, model, members, scaler, encoder, diagnostic)

    def _plan(self, panel: Panel) -> _Plan:
        """Stage 1: the shape (:meth:`_shape`), each series' training part (before its
        validation tail), the fewest real points of a window — the shortest member's
        lookback decides which (padded) windows exist, so its training set is the one a
        single network of that window would have — the level span, and the scales
        (:meth:`_scaling`, on the training parts)."""
        shape = self._shape(panel)
        n_train = W.split_points(panel.lengths, shape.horizon,
                                 self.training_config.validation)
        lam, notes = self._scaling(panel, _first_points(panel, n_train))
        return _Plan(shape=shape, n_train=n_train,
                     min_context=self._min_context(shape.shortest),
                     level=level_span(self.model_config.relative, self.season, shape.window),
                     lam=lam, notes=tuple(notes))

    def _scaled(self, panel: Panel, plan: _Plan, fitted_on):
        """The panel scaled (and its covariates encoded) as fitted on the first
        ``fitted_on`` points of each series (at least one: a series too short to have a
        training part gives its first point).  Returns ``(build, scaler, encoder)``:
        ``build(series, starts)`` is the :class:`~forecaster.data.windowing.WindowSet` of
        those windows on that scaling (every set built by one ``build`` has the same
        series offsets, so positions carry over between them)."""
        scaler = W.SeriesScaler.fit(_first_points(panel, fitted_on), lam=plan.lam,
                                    season=W.scale_step(self.season))
        features, layout, encoder = self._features(panel, fitted_on)
        scaled = [scaler.transform(i, v) for i, v in enumerate(panel.values)]
        T = plan.shape.window
        build = partial(W.WindowSet.build, scaled, window=T, horizon=plan.shape.horizon,
                        level=plan.level, pad=T - plan.min_context, features=features,
                        layout=layout)
        return build, scaler, encoder

    def _held_out_windows(self, panel: Panel, plan: _Plan):
        """Stage 2: ``(train, validation, scaler, encoder)``: the windows whose targets end
        before each series' validation tail and those whose targets lie in it, on the
        panel scaled as fitted on the training parts only (nothing of the tail leaks into
        the scale).  Fewer than ``MIN_TRAIN_WINDOWS`` training windows or no validation
        window is a :class:`~forecaster.errors.DataError`."""
        build, scaler, encoder = self._scaled(panel, plan, plan.n_train)
        T, H, lengths = plan.shape.window, plan.shape.horizon, panel.lengths
        train = build(*W.window_starts(lengths, T, H, last_target=plan.n_train,
                                       min_context=plan.min_context))
        val = build(*W.window_starts(lengths, T, H, first_target=plan.n_train,
                                     min_context=plan.min_context))
        if len(train) < MIN_TRAIN_WINDOWS or len(val) == 0:
            raise DataError(
                f"the data give {len(train)} training and {len(val)} validation windows of "
                f"window {T} + horizon {H}; need at least {MIN_TRAIN_WINDOWS} and 1. Use a "
                "shorter --window or --horizon, or more data.")
        return train, val, scaler, encoder

    def _early_stop(self, train, val):
        """Stage 3: ``(model, members, fit)`` trained on ``train`` with early stopping on
        (a bounded sample of) the validation windows; ``fit.best_epoch`` is the count
        the refit reuses."""
        return self._train(train, _validation_sample(val).arrays(),
                           self.training_config.epochs, self.progress)

    def _refit(self, panel: Panel, plan: _Plan, epochs: int, validation_positions):
        """Stage 4: train afresh on every window of the whole panel (its validation tail
        holds the most recent data), scaled on all of it, for ``epochs`` epochs.  Returns
        ``(model, members, scaler, encoder, diagnostic)``: ``diagnostic`` holds the
        validation windows (``validation_positions``) in this final scaling.  Sets
        ``refit_`` and the fit's record: the refit itself under fixed epochs, else the
        early-stopped fit with the refit's seconds added."""
        build, scaler, encoder = self._scaled(panel, plan, panel.lengths)
        every = build(*W.window_starts(panel.lengths, plan.shape.window, plan.shape.horizon,
                                       min_context=plan.min_context))
        model, members, self.refit_ = self._train(every, None, epochs, self.progress)
        self.n_train_windows_ = len(every)
        if self.policy.fixed_epochs:
            self.fit_ = self.refit_
        else:
            self.fit_.seconds += self.refit_.seconds
        diagnostic = replace(every, positions=validation_positions)
        return model, members, scaler, encoder, diagnostic

    def _keep(self, panel: Panel, plan: _Plan, model, members, scaler, encoder,
              diagnostic) -> None:
        """Stage 5: what a forecast, a saved run and the diagnostics need: the network
        and its members, the scaler, the shape, the covariate encoder, the series' rows,
        the notes, and a batch of the validation windows (the gradient diagnostic follows
        a plain linear stack: none for covariate networks)."""
        from forecaster.models.rnn import diagnostic_network

        self.validation_batch_ = diagnostic.gather(diagnostic.positions[:256])
        self.model_, self.scaler_, self.shape_ = model, scaler, plan.shape
        self.members_ = members
        self.member_ = diagnostic_network(model, members) if encoder is None else None
        self.encoder_ = encoder
        self.ids_ = {sid: i for i, sid in enumerate(panel.ids)}
        self.notes_ = list(plan.notes)

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
