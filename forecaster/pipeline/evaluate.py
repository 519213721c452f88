"""``forecast evaluate``: backtest the RNN and the baselines on the same folds.

:func:`plan_evaluation` turns data and a config into an :class:`EvaluationPlan` (panel,
season, models, folds), whose ``run`` is what ``forecast evaluate`` and
``forecaster.evaluate`` execute.  :func:`evaluate` resolves model names to factories, runs
:func:`~forecaster.evaluation.backtest.run_backtest`, and builds the leaderboard and the
per-fold table.  The returned :class:`EvaluationResult` writes ``metrics.json``,
``backtest.csv`` and ``folds.csv`` (docs/run-format.md) and formats the table for stdout.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable

import pandas as pd

from forecaster.data.panel import Panel
from forecaster.errors import ConfigError
from forecaster.evaluation.backtest import BacktestResult, BacktestSpec, run_backtest
from forecaster.evaluation.intervals import _validate_levels
from forecaster.evaluation.leaderboard import (add_backtest_intervals, finite_or_none,
                                               fold_table, format_table, leaderboard,
                                               leaderboard_to_json, numeric_table)
from forecaster.models.base import WithoutCovariates
from forecaster.models.registry import NAMES, make_baseline
from forecaster.pipeline.nixtla import cross_validation

__all__ = ["evaluate", "plan_evaluation", "EvaluationPlan", "EvaluationResult",
           "DEFAULT_MODELS"]

#: The RNN on the target alone, beside the RNN with covariates (when the data have some)
WITHOUT = "rnn_without_covariates"

#: Nixtla's cross-validation rows, written beside the others by ``--format nixtla``
CROSS_VALIDATION = "cross_validation.csv"

#: What ``forecast evaluate`` compares when no model list is given (and, with
#: covariates, ``rnn_without_covariates`` after ``rnn``).
DEFAULT_MODELS = ["rnn", *NAMES]


@dataclass
class EvaluationResult:
    """Leaderboard (``table``), per-fold table (``folds``) and the backtest itself."""

    table: pd.DataFrame
    folds: pd.DataFrame
    backtest: BacktestResult
    panel: Panel
    season: int | None
    levels: tuple
    seconds: float
    notes: list[str] = field(default_factory=list)

    @property
    def best(self) -> str | None:
        """The model with the lowest mean MASE."""
        return self.table.attrs.get("best")

    def to_frame(self) -> pd.DataFrame:
        """The leaderboard: one row per model (``model, mae, rmse, mape, smape, mase,
        coverage_80, …``, numbers as floats, NaN where a metric is undefined), best
        first; a copy."""
        return numeric_table(self.table)

    def __repr__(self) -> str:
        return (f"<EvaluationResult {self.backtest.spec.folds} fold(s) x horizon "
                f"{self.backtest.spec.horizon}, {len(self.panel)} series, best "
                f"{self.best!r}>\n{self.format()}")

    def to_json(self) -> dict:
        """``metrics.json`` content."""
        spec = self.backtest.spec
        protocol = {**spec.to_json(), "series": len(self.panel),
                    "points": int(len(self.backtest.frame))}
        timings = {m: {k: (round(v, 4) if isinstance(v, float) else v) for k, v in t.items()}
                   for m, t in self.backtest.timings.items()}
        folds = [{k: finite_or_none(v) for k, v in row.items()}
                 for row in self.folds.to_dict("records")]
        return leaderboard_to_json(self.table, protocol=protocol, season=self.season,
                                   levels=self.levels, notes=self.notes,
                                   extra={"folds": folds, "timings": timings,
                                          "seconds": round(self.seconds, 3)})

    def format(self) -> str:
        """The leaderboard as a plain-text table (best model marked ``*``)."""
        return format_table(self.table)

    def cross_validation(self) -> pd.DataFrame:
        """Every backtest forecast as Nixtla's cross-validation frame: ``unique_id, ds,
        cutoff, y, <model>, …`` (one forecast column per model, timestamps typed; see
        :func:`~forecaster.pipeline.nixtla.cross_validation`)."""
        return cross_validation(self.backtest.frame, self.backtest.models)

    def cross_validation_csv(self) -> str:
        """:meth:`cross_validation` as CSV text (``forecast evaluate --format nixtla``):
        timestamps as ISO strings, ids made safe for spreadsheets as ``backtest.csv``'s."""
        from forecaster.storage.files import spreadsheet_safe

        frame = cross_validation(self.backtest.frame, self.backtest.models,
                                 axis=self.panel.axis)
        return spreadsheet_safe(frame, columns=("unique_id",)).to_csv(index=False)

    def write(self, directory, nixtla: bool = False) -> dict[str, Path]:
        """Write ``metrics.json``, ``backtest.csv`` and ``folds.csv`` into ``directory``
        (created if needed), and with ``nixtla`` ``cross_validation.csv``
        (:meth:`cross_validation_csv`), all staged and moved in only once complete (an
        older ``cross_validation.csv`` not rewritten is removed)."""
        from forecaster.runs import artifacts
        directory = Path(directory)
        names = ("metrics.json", "backtest.csv", "folds.csv")
        owned = names + (CROSS_VALIDATION,)
        with artifacts.staged_files(directory, owned=owned) as stage:
            (stage / "metrics.json").write_text(
                json.dumps(self.to_json(), indent=2, allow_nan=False) + "\n", encoding="utf-8")
            self.backtest.to_csv(stage / "backtest.csv", axis=self.panel.axis)
            self.folds.to_csv(stage / "folds.csv", index=False)
            if nixtla:
                (stage / CROSS_VALIDATION).write_text(self.cross_validation_csv(),
                                                      encoding="utf-8")
        return {name: directory / name for name in owned if nixtla or name in names}


def model_factories(models: list[str], *, season=None, seed=0,
                    rnn_factory: Callable | None = None) -> dict[str, Callable]:
    """Zero-argument factories for ``models`` (baseline names, or ``"rnn"`` with
    ``rnn_factory``); unknown or duplicate names raise :class:`ConfigError`."""
    if not models:
        raise ConfigError("`models` must name at least one model. Got none.")
    known = ["rnn", WITHOUT, *NAMES]
    factories = {}
    for name in models:
        if name in factories:
            raise ConfigError(f"`models` must not repeat a model. Got {name!r} twice.")
        if name in ("rnn", WITHOUT):
            if rnn_factory is None:
                raise ConfigError(f"`models` includes {name!r} but no RNN factory was given.")
            factories[name] = rnn_factory if name == "rnn" else (
                lambda: WithoutCovariates(rnn_factory()))
        elif name in NAMES:  # checked by name: a model's module is imported when it is built
            factories[name] = partial(make_baseline, name, season=season, seed=seed)
        else:
            raise ConfigError(f"`models` must be from {', '.join(known)}. Got {name!r}.")
    return factories


def evaluate(panel: Panel, *, models: list[str], spec: BacktestSpec, levels=(80, 95),
             season: int | None = None, seed: int = 0, rnn_factory: Callable | None = None,
             progress: Callable | None = None, keep: tuple = ()) -> EvaluationResult:
    """Backtest ``models`` on ``panel`` with ``spec`` and rank them.

    ``season`` defaults to the frequency's natural season (1 when unknown, with a note); it
    is used by the seasonal naive, the lag features and MASE.  ``rnn_factory`` is a
    zero-argument callable returning an unfitted RNN forecaster (required when ``"rnn"`` is
    in ``models``).  ``progress(model, fold, folds, seconds)`` is called after each fold.
    ``keep`` names the models whose fitted instance ``backtest.fitted`` hands back
    (:func:`~forecaster.evaluation.backtest.run_backtest`).
    """
    started = time.perf_counter()
    levels = _validate_levels(levels)
    notes = []
    if season is None:
        season = panel.axis.season()
        if season is None:
            season = 1
            notes.append(f"no season known for frequency {panel.axis.describe()}; MASE uses the "
                         "naive (m=1) scale; pass a season to change it")
    elif int(season) < 1:
        raise ConfigError(f"`season` must be >= 1. Got {season}.")
    season = int(season)
    factories = model_factories(models, season=season, seed=seed, rnn_factory=rnn_factory)
    result = run_backtest(panel, factories, spec, levels=levels, progress=progress,
                          keep=keep)
    scored = add_backtest_intervals(result, panel, season, levels)
    table = leaderboard(result, panel, season, levels, scored=scored)
    folds = fold_table(result, panel, season, levels, scored=scored)
    cov = panel.covariates
    if cov is not None and cov.spec.future:
        notes.append(f"the backtest used the actual values of the future covariates "
                     f"({', '.join(cov.spec.future)}) over each fold's horizon, as if they "
                     "had been known in advance; forecasts made with forecasts of them will "
                     "be less exact.")
    notes = list(panel.notes) + notes + table.attrs.get("notes", [])
    return EvaluationResult(table=table, folds=folds, backtest=result, panel=panel,
                            season=season, levels=levels,
                            seconds=time.perf_counter() - started, notes=notes)


@dataclass
class EvaluationPlan:
    """What an evaluation will run, known before any fit: the panel, the season, the
    models and the folds (``spec``), with the config that builds the RNN."""

    panel: Panel
    cfg: object  # forecaster.config.Config
    season: int | None
    models: list[str]
    spec: BacktestSpec

    def describe(self) -> str:
        """The line that says what the time buys (folds, networks, epochs)."""
        line = f"{self.spec.folds} fold(s) × horizon {self.spec.horizon}"
        if "rnn" in self.models or WITHOUT in self.models:
            c = self.cfg
            both = "rnn" in self.models and WITHOUT in self.models
            line += (f"; RNN{' (with and without the covariates)' if both else ''}: "
                     f"{c.model.ensemble} network(s), early stopping within "
                     f"{c.training.epochs} epochs, refitted on every window of each fold")
        return line

    def run(self, progress: Callable | None = None,
            epoch_progress: Callable | None = None) -> EvaluationResult:
        """Backtest and rank (``progress(model, fold, folds, seconds)`` after each fold,
        ``epoch_progress(epoch, epochs, loss, val_loss)`` after each RNN epoch)."""
        from forecaster.models.neural import FitPolicy, RNNForecaster

        cfg, spec = self.cfg, self.spec

        def rnn_factory():  # with an automatic horizon, a direct head for the scored one
            return RNNForecaster(cfg.model, cfg.training,
                                 FitPolicy(direct_horizon=spec.horizon),
                                 season=self.season, progress=epoch_progress)

        return evaluate(self.panel, models=self.models, spec=spec,
                        levels=cfg.evaluation.levels, season=self.season,
                        seed=cfg.training.seed, rnn_factory=rnn_factory, progress=progress)


def plan_evaluation(data, cfg, *, models=None, holdout: int | None = None,
                    step: int | None = None) -> EvaluationPlan:
    """Read ``data`` (a path, a DataFrame or a :class:`Panel`) with ``cfg``'s ``[data]``
    options and plan the backtest: ``holdout`` H scores the last H points once (the
    competition protocol; the horizon is H); otherwise ``cfg.evaluation.folds`` rolling
    origins ``step`` apart (default: the horizon) of ``cfg.model.horizon`` steps (default:
    one season). ``models`` defaults to the RNN and every baseline."""
    from forecaster.data.windowing import default_horizon
    from forecaster.pipeline.inputs import load_panel, season_and_origin

    names = list(DEFAULT_MODELS) if models is None else list(models)
    model_factories(names, season=1, rnn_factory=lambda: None)  # names checked before work
    if holdout is not None and cfg.model.horizon and cfg.model.horizon != holdout:
        raise ConfigError("`holdout` H already sets the horizon to H; drop `horizon`.")
    if cfg.training.distribute != "none":
        cfg = cfg.replace("training", distribute="none")  # evaluate trains in one process
    panel = data if isinstance(data, Panel) else load_panel(data, cfg)
    if "rnn" in names:  # after the read: a refused file never waits for TensorFlow
        from forecaster.training.runtime import select_device

        select_device(cfg.training.device)  # `--device gpu` without one: fail before work
    if models is None and panel.covariates is not None:  # what the covariates buy
        names.insert(names.index("rnn") + 1, WITHOUT)
    # a held-out tail is never looked at, not even to find the season
    seen = panel.cut(holdout) if holdout and int(panel.lengths.min()) > holdout else panel
    season, origin = season_and_origin(seen, cfg)
    if origin == "detected":
        from dataclasses import replace

        panel = replace(panel, notes=tuple(panel.notes) + (
            f"season {season} was detected in the data's autocorrelation (the timestamps "
            "give none); --season N overrides it, --season 0 turns it off.",))
    if holdout is not None:
        spec = BacktestSpec.holdout(holdout)
    else:
        spec = BacktestSpec(horizon=cfg.model.horizon or default_horizon(season),
                            folds=cfg.evaluation.folds, step=step)
    return EvaluationPlan(panel=panel, cfg=cfg, season=season, models=names, spec=spec)
