"""``forecast evaluate``: backtest the RNN and the baselines on the same folds.

:func:`evaluate` resolves model names to factories, runs
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
                                               leaderboard_to_json)
from forecaster.models.baselines import BASELINES

__all__ = ["evaluate", "EvaluationResult", "DEFAULT_MODELS"]

#: What ``forecast evaluate`` compares when no model list is given.
DEFAULT_MODELS = ["rnn", "naive", "seasonal_naive", "drift", "mean", "ridge",
                  "random_forest", "hist_gradient_boosting", "knn"]


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
        return self.table.attrs.get("best")

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

    def write(self, directory) -> dict[str, Path]:
        """Write ``metrics.json``, ``backtest.csv`` and ``folds.csv`` into ``directory``
        (created if needed), all three staged and moved in only once complete."""
        from forecaster import artifacts

        directory = Path(directory)
        names = ("metrics.json", "backtest.csv", "folds.csv")
        with artifacts.staged_files(directory, owned=names) as stage:
            (stage / "metrics.json").write_text(
                json.dumps(self.to_json(), indent=2, allow_nan=False) + "\n", encoding="utf-8")
            self.backtest.to_csv(stage / "backtest.csv", axis=self.panel.axis)
            self.folds.to_csv(stage / "folds.csv", index=False)
        return {name: directory / name for name in names}


def model_factories(models: list[str], *, season=None, seed=0,
                    rnn_factory: Callable | None = None) -> dict[str, Callable]:
    """Zero-argument factories for ``models`` (baseline names, or ``"rnn"`` with
    ``rnn_factory``); unknown or duplicate names raise :class:`ConfigError`."""
    if not models:
        raise ConfigError("`models` must name at least one model. Got none.")
    known = ["rnn", *BASELINES]
    factories = {}
    for name in models:
        if name in factories:
            raise ConfigError(f"`models` must not repeat a model. Got {name!r} twice.")
        if name == "rnn":
            if rnn_factory is None:
                raise ConfigError("`models` includes 'rnn' but no RNN factory was given.")
            factories[name] = rnn_factory
        elif name in BASELINES:
            factories[name] = partial(BASELINES[name], season=season, seed=seed)
        else:
            raise ConfigError(f"`models` must be from {', '.join(known)}. Got {name!r}.")
    return factories


def evaluate(panel: Panel, *, models: list[str], spec: BacktestSpec, levels=(80, 95),
             season: int | None = None, seed: int = 0, rnn_factory: Callable | None = None,
             progress: Callable | None = None) -> EvaluationResult:
    """Backtest ``models`` on ``panel`` with ``spec`` and rank them.

    ``season`` defaults to the frequency's natural season (1 when unknown, with a note); it
    is used by the seasonal naive, the lag features and MASE.  ``rnn_factory`` is a
    zero-argument callable returning an unfitted RNN forecaster (required when ``"rnn"`` is
    in ``models``).  ``progress(model, fold, folds, seconds)`` is called after each fold.
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
    result = run_backtest(panel, factories, spec, levels=levels, progress=progress)
    scored = add_backtest_intervals(result, panel, season, levels)
    table = leaderboard(result, panel, season, levels, scored=scored)
    folds = fold_table(result, panel, season, levels, scored=scored)
    notes = list(panel.notes) + notes + table.attrs.get("notes", [])
    return EvaluationResult(table=table, folds=folds, backtest=result, panel=panel,
                            season=season, levels=levels,
                            seconds=time.perf_counter() - started, notes=notes)
