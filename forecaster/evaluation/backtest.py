"""Rolling-origin backtests: every model on the same folds, fitted inside each fold only.

A :class:`BacktestSpec` describes the folds once and is validated once.  Fold ``k``
(``k = 1 … folds``, oldest first) cuts every series ``cutoff_from_end`` points before
its end, with

    ``cutoff_from_end(k) = horizon + step · (folds − k)``

so the last fold forecasts the last ``horizon`` points.  The training panel of a fold is
``panel.cut(cutoff_from_end)`` (expanding window: all history) or
``panel.cut(cutoff_from_end, keep_last=train_size)`` (sliding window): nothing after the
cutoff exists in it, so a model cannot peek.  The ``horizon`` points after the cutoff are
the fold's actuals.

``refit`` says when a model is (re)fitted: every fold (``True``), only on the first fold
(``False``: later folds call ``predict(horizon, panel=train)`` to use the new history as
context), or every ``k`` folds (an integer).

Whether a series can be logged is a fact of its domain, decided from every value the run
sees: a model that decides it per series (the RNN's ``domain``) is told the whole panel's
(:func:`~forecaster.data.windowing.positive_domain`), so a fold model puts a series that
touches zero only after the fold's cutoff on the standard scale, as the final fit will,
and a later fold's context never leaves its scale.  The scale's learned parameters (λ,
mean, spread) are still fitted inside the fold.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterator

import numpy as np
import pandas as pd

from forecaster.data.panel import Panel
from forecaster.data.windowing import positive_domain
from forecaster.errors import ConfigError, DataError, ForecastError

__all__ = ["BacktestSpec", "BacktestResult", "run_backtest", "BACKTEST_COLUMNS"]

BACKTEST_COLUMNS = ["model", "fold", "series_id", "cutoff", "timestamp", "step", "actual",
                    "forecast"]


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


@dataclass(frozen=True)
class BacktestSpec:
    """Rolling-origin evaluation protocol (validated on construction).

    * ``horizon`` — points forecast from each cutoff (≥ 1);
    * ``folds`` — number of cutoffs (≥ 1);
    * ``step`` — points between consecutive cutoffs (≥ 1; default ``horizon``, so test
      windows tile the end of the series without overlap);
    * ``window`` — ``"expanding"`` (train on all history) or ``"sliding"`` (the last
      ``train_size`` points only);
    * ``train_size`` — length of a sliding window (required for, and only for, ``sliding``);
    * ``refit`` — ``True`` (every fold), ``False`` (first fold only) or ``k`` ≥ 1 (every
      ``k`` folds);
    * ``min_train`` — fewest training points the first fold must leave in every series
      (default 2).
    """

    horizon: int
    folds: int = 1
    step: int | None = None
    window: str = "expanding"
    train_size: int | None = None
    refit: bool | int = True
    min_train: int | None = None

    def __post_init__(self):
        for name in ("horizon", "folds"):
            value = getattr(self, name)
            if not _is_int(value):
                raise ConfigError(f"`{name}` must be an integer. Got {value!r}.")
            if value < 1:
                raise ConfigError(f"`{name}` must be >= 1. Got {value}.")
        if self.step is None:
            object.__setattr__(self, "step", int(self.horizon))
        elif not _is_int(self.step) or self.step < 1:
            raise ConfigError(f"`step` must be an integer >= 1. Got {self.step!r}.")
        if self.window not in ("expanding", "sliding"):
            raise ConfigError(
                f"`window` must be 'expanding' or 'sliding'. Got {self.window!r}.")
        if self.window == "sliding":
            if self.train_size is None:
                raise ConfigError("`train_size` must be given for window='sliding'. Got None.")
            if not _is_int(self.train_size) or self.train_size < 1:
                raise ConfigError(f"`train_size` must be an integer >= 1. Got {self.train_size!r}.")
        elif self.train_size is not None:
            raise ConfigError(
                f"`train_size` must be None for window='expanding'. Got {self.train_size!r}.")
        if isinstance(self.refit, (bool, np.bool_)):
            object.__setattr__(self, "refit", bool(self.refit))
        elif not _is_int(self.refit) or self.refit < 1:
            raise ConfigError(f"`refit` must be True, False or an integer >= 1. Got {self.refit!r}.")
        if self.min_train is None:
            object.__setattr__(self, "min_train", 2)
        elif not _is_int(self.min_train) or self.min_train < 1:
            raise ConfigError(f"`min_train` must be an integer >= 1. Got {self.min_train!r}.")

    @classmethod
    def holdout(cls, horizon: int, **kwargs) -> "BacktestSpec":
        """One fold: train on everything but the last ``horizon`` points, test on those."""
        return cls(horizon=horizon, folds=1, **kwargs)

    # -- fold arithmetic ----------------------------------------------------------------
    def cutoff_from_end(self, fold: int) -> int:
        """Points after the cutoff of ``fold`` (1 = oldest, ``folds`` = latest)."""
        return self.horizon + self.step * (self.folds - fold)

    @property
    def required_length(self) -> int:
        """Shortest series this spec can backtest."""
        first_train = max(self.min_train, self.train_size or 0)
        return self.cutoff_from_end(1) + first_train

    def refits_at(self, fold: int) -> bool:
        """Whether models are (re)fitted at ``fold``."""
        if fold == 1 or self.refit is True:
            return True
        if self.refit is False:
            return False
        return (fold - 1) % int(self.refit) == 0

    def check(self, panel: Panel) -> None:
        """Raise :class:`DataError` naming every series too short for this spec, and what
        to change."""
        need = self.required_length
        short = [(sid, len(v)) for sid, v in panel if len(v) < need]
        if not short:
            return
        if len(short) == 1:
            n = short[0][1]
            who = f"series {short[0][0]!r} has only {n} point{'s' if n != 1 else ''}"
        else:
            more = f", and {len(short) - 10} more" if len(short) > 10 else ""
            who = (f"{len(short)} series are too short ("
                   + ", ".join(f"{sid!r} has {n}" for sid, n in short[:10]) + f"{more})")
        apart = f", {self.step} steps apart," if self.folds > 1 else ""
        fixes = (["fewer --folds"] if self.folds > 1 else []) + [
            "a shorter --horizon" if self.folds > 1 else "a shorter --horizon (or --holdout)"]
        if len(short) < len(panel):
            fixes.append("drop " + ("that series" if len(short) == 1 else "those series")
                         + " from the data")
        raise DataError(
            f"{who}; {self.folds} fold(s) of horizon {self.horizon}{apart} need at least "
            f"{need} points in every series ({max(self.min_train, self.train_size or 0)} to "
            f"train on before the first fold). Use {', '.join(fixes[:-1])}"
            f"{' or ' if len(fixes) > 1 else ''}{fixes[-1]}.")

    def folds_of(self, panel: Panel) -> Iterator[tuple[int, int, Panel]]:
        """Yield ``(fold, cutoff_from_end, train_panel)``, fold 1 (oldest) first."""
        self.check(panel)
        keep = self.train_size if self.window == "sliding" else None
        for fold in range(1, self.folds + 1):
            drop = self.cutoff_from_end(fold)
            yield fold, drop, panel.cut(drop, keep_last=keep)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "BacktestSpec":
        return cls(**data)


def folds(panel: Panel, spec: BacktestSpec) -> Iterator[tuple[int, int, Panel]]:
    """Module-level alias of :meth:`BacktestSpec.folds_of`."""
    return spec.folds_of(panel)


@dataclass
class BacktestResult:
    """What :func:`run_backtest` returns.

    ``frame`` is the long frame of every prediction (:data:`BACKTEST_COLUMNS`); ``timings``
    is ``{model: {"fit_seconds", "predict_seconds", "fits"}}``; ``notes`` collects the
    models' own notes (e.g. a seasonal naive falling back to naive); ``fitted`` is
    ``{model: its fitted instance}`` for the models :func:`run_backtest` was asked to
    ``keep``.
    """

    frame: pd.DataFrame
    spec: BacktestSpec
    models: list[str]
    levels: tuple = (80, 95)
    timings: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    fitted: dict = field(default_factory=dict)

    def for_model(self, model: str) -> pd.DataFrame:
        return self.frame[self.frame["model"] == model].reset_index(drop=True)

    def to_csv(self, path, axis=None) -> None:
        """Write ``backtest.csv`` (timestamps as ISO strings when ``axis`` is given)."""
        from forecaster.storage.files import spreadsheet_safe

        frame = self.frame.copy()
        if axis is not None:
            for col in ("cutoff", "timestamp"):
                frame[col] = axis.format_all(frame[col])
        spreadsheet_safe(frame).to_csv(path, index=False)


def _fresh(factory: Callable, panel: Panel):
    """A new model from ``factory``; one with a ``domain`` not yet set (the RNN, or the
    RNN that :class:`~forecaster.models.base.WithoutCovariates` wraps as ``model``) is
    told which series of the whole ``panel`` can be logged (module docstring)."""
    model = factory()
    for inner in (model, getattr(model, "model", None)):
        if inner is not None and getattr(inner, "domain", False) is None:
            inner.domain = positive_domain(panel)
    return model


def run_backtest(panel: Panel, factories: dict[str, Callable], spec: BacktestSpec,
                 levels=(80, 95), progress: Callable | None = None,
                 keep: tuple = ()) -> BacktestResult:
    """Backtest every model of ``factories`` (name → zero-argument callable returning an
    unfitted :class:`~forecaster.models.base.Model`) on the folds of ``spec``.

    Each model is built fresh from its factory and fitted on the fold's training panel
    only (per ``spec.refit``); its forecasts of the next ``spec.horizon`` points are joined
    to the actuals.  ``progress``, if given, is called after every fold as
    ``progress(model, fold, folds, seconds)`` (folds are numbered from 1).  ``levels`` is recorded
    on the result for the leaderboard's intervals.  The models named in ``keep`` are handed
    back fitted (``BacktestResult.fitted``): each as last fitted, the only fit when
    ``spec.refit`` is False; the others are let go as the backtest moves on.
    """
    if not factories:
        raise ConfigError("`models` must name at least one model. Got none.")
    fold_list = list(spec.folds_of(panel))
    # actuals and cutoffs per fold (same for every model)
    H, n = spec.horizon, len(panel)
    truth = []
    for fold, drop, train in fold_list:
        # the fold's actuals follow its training panel's ends: the first H points cut off
        truth.append(pd.DataFrame({
            "fold": fold,
            "series_id": pd.Index(panel.ids).repeat(H),
            "cutoff": pd.Index([train.end(i) for i in range(n)]).repeat(H),
            "timestamp": train.futures(H),
            "step": np.tile(np.arange(1, H + 1, dtype=np.int64), n),
            "actual": np.concatenate([v[len(v) - drop:len(v) - drop + H]
                                      for v in panel.values]),
        }))
    truth = pd.concat(truth, ignore_index=True)

    parts, timings, notes, fitted = [], {}, [], {}
    for name, factory in factories.items():
        model = None
        fit_s = predict_s = 0.0
        fits = 0
        for fold, drop, train in fold_list:
            started = time.perf_counter()
            try:
                if spec.refits_at(fold):
                    model = _fresh(factory, panel)
                    model.fit(train)
                    fits += 1
                    fit_s += time.perf_counter() - started
                    mid = time.perf_counter()
                    fc = model.predict(spec.horizon)
                else:
                    mid = time.perf_counter()
                    fc = model.predict(spec.horizon, panel=train)
                predict_s += time.perf_counter() - mid
            except ForecastError as exc:
                raise type(exc)(f"model {name!r}, fold {fold}: {exc}") from exc
            for note in getattr(model, "notes_", []) or []:
                if note not in notes:
                    notes.append(note)
            fc = fc.assign(model=name, fold=fold)
            parts.append(fc)
            if progress is not None:
                progress(name, fold, spec.folds, time.perf_counter() - started)
        timings[name] = {"fit_seconds": fit_s, "predict_seconds": predict_s, "fits": fits}
        if name in keep:
            fitted[name] = model

    predictions = pd.concat(parts, ignore_index=True)
    frame = predictions.merge(truth, on=["fold", "series_id", "timestamp", "step"],
                              how="left", validate="many_to_one")
    if frame["actual"].isna().any():
        bad = frame[frame["actual"].isna()].iloc[0]
        raise DataError(f"model {bad['model']!r} forecast timestamps that do not follow the "
                        f"cutoff of series {bad['series_id']!r}. Got {bad['timestamp']}.")
    # left merge keeps the prediction order: model, fold, series (panel order), step
    frame = frame[BACKTEST_COLUMNS]
    return BacktestResult(frame=frame, spec=spec, models=list(factories), levels=tuple(levels),
                          timings=timings, notes=notes, fitted=fitted)


def counted(report: Callable | None, total: int) -> Callable | None:
    """:func:`run_backtest`'s ``progress(model, fold, folds, seconds)`` as ``report(done,
    total, detail)``: the (model, origin) fits finished of ``total``, ``detail`` naming the
    last one (a progress bar's input); None without ``report``.  The callback's ``done``
    attribute holds the count so far."""
    if report is None:
        return None
    done = [0]

    def progress(model, fold, folds, seconds):
        done[0] += 1
        report(done[0], total, f"{model} fold {fold}/{folds}")
    progress.done = done
    return progress
