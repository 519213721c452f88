"""``forecast tune``: search the RNN's configuration with Optuna on the backtest.

Each trial draws settings from a :class:`~forecaster.pipeline.search_space.SearchSpace`
(TPE sampler), trains the RNN on the training part of every fold of a rolling-origin
backtest and scores it there (mean MASE by default); after each fold it reports the
running mean so that a median pruner can stop a weak trial early.  The held-out tail
(``holdout``) is cut off before anything is seen, the season included.

The study lives in a real database (``sqlite:///runs/tune.db`` by default; its storage,
lock and record: :mod:`forecaster.pipeline.tune_study`).  Killing the process at any
moment and running the same command again resumes it: completed and pruned trials are
kept and count towards ``trials``, and a trial left running by a killed process is marked
failed.  It resumes only with the data and settings its scores were obtained with, and
one tuner holds it at a time.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from forecaster.choices import TUNE_METRICS as METRICS
from forecaster.config import Config, dump_toml, settings_overrides, load_config
from forecaster.data.panel import Panel
from forecaster.errors import ConfigError, DataError, ForecastError, TrainingError
from forecaster.training.fit_common import stopping_when
from forecaster.pipeline.search_space import SearchSpace
from forecaster.pipeline.tune_budget import (SECONDS, WORK, CostModel, Deadline, DeadlinePassed,
                                             trial_work)
from forecaster.pipeline.tune_guard import INCUMBENT, SCORES, Verdict, decide
from forecaster.pipeline.tune_study import (  # noqa: F401  (default_storage: the API's)
    default_storage, open_study, panel_digest, study_lock, study_record)
from forecaster.pipeline.tune_workers import workers

HEADER = b"# forecast tune:"  # the first bytes of every best.toml this module writes


@dataclass
class TuneResult:
    """The finished (or stopped) study: its trials as rows, best first."""

    study: str
    storage: str
    metric: str
    rows: list = field(default_factory=list)  # dicts: number, state, value, folds, params
    best_config: Config | None = None
    fixed: dict = field(default_factory=dict)  # the space's settings that were not searched
    seconds: float = 0.0
    verdict: Verdict | None = None  # whether the best trial replaces the defaults, and why
    written_by: str | None = None  # another worker of a shared study writes best.toml: who

    @property
    def best(self) -> dict | None:
        """The trial that scored best (which the verdict may not recommend)."""
        return self.rows[0] if self.rows and self.rows[0]["state"] == "COMPLETE" else None

    @property
    def chosen(self) -> dict | None:
        """The recommended trial: the best, or the defaults' (trial 0) when they stand."""
        if self.verdict is None:
            return self.best
        return next((r for r in self.rows if r["number"] == self.verdict.chosen), None)

    @property
    def best_settings(self) -> dict | None:
        """The recommended trial's settings with the space's fixed ones:
        ``Forecaster(**these)``."""
        return None if self.chosen is None else {**self.fixed, **self.chosen["params"]}

    def table(self, limit: int = 10) -> str:
        """The best completed trials: rank, trial, score, fold scores, settings."""
        done = [r for r in self.rows if r["state"] == "COMPLETE"][:limit]
        if not done:
            return "no trial completed."
        lines = [f"{'rank':>4}  {'trial':>5}  {self.metric:>8}  folds"]
        for rank, r in enumerate(done, start=1):
            folds = " ".join(f"{v:.3f}" for v in r["folds"])
            params = ", ".join(f"{k}={_show(v)}" for k, v in sorted(r["params"].items()))
            lines.append(f"{rank:>4}  {r['number']:>5}  {r['value']:>8.4f}  {folds}  {params}")
        return "\n".join(lines)


def _show(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


# -- the objective ---------------------------------------------------------------------------
def min_train(horizon: int) -> int:
    """Points a series needs before a fold's ``horizon`` to be scored in it: what the
    holdout backtest of :func:`score_fold` asks."""
    from forecaster.evaluation.backtest import BacktestSpec

    return int(BacktestSpec.holdout(horizon).min_train)


def fold_members(panel: Panel, horizon: int, folds: int) -> list[tuple]:
    """Per fold, oldest first, the ids of the series long enough to be scored in it: a
    series too short for the earlier folds is scored in the later ones only."""
    need = horizon + min_train(horizon)
    return [tuple(sid for sid, n in zip(panel.ids, panel.lengths)
                  if n - horizon * (folds - k) >= need)
            for k in range(1, folds + 1)]


def fold_panels(panel: Panel, horizon: int, folds: int) -> list[Panel]:
    """The panels whose last ``horizon`` points each fold scores, oldest first (origins
    ``horizon`` apart, as ``forecast evaluate``'s folds), each holding the series long
    enough for it (:func:`fold_members`)."""
    out = []
    for k, ids in enumerate(fold_members(panel, horizon, folds), start=1):
        part = panel if len(ids) == len(panel) else panel.select(ids)
        out.append(part.cut(horizon * (folds - k)) if folds - k else part)
    return out


def score_fold(panel: Panel, cfg: Config, *, season: int, horizon: int,
               metric: str) -> tuple[float, list]:
    """The RNN of ``cfg`` trained on all but the last ``horizon`` points of ``panel`` and
    scored on them: ``(mean metric over series, each series' metric in the panel's order,
    None where undefined)``."""
    from forecaster.evaluation.backtest import BacktestSpec
    from forecaster.evaluation.leaderboard import series_table
    from forecaster.models.neural import FitPolicy, RNNForecaster
    from forecaster.pipeline.evaluate import evaluate

    result = evaluate(panel, models=["rnn"], spec=BacktestSpec.holdout(horizon),
                      levels=cfg.evaluation.levels, season=season, seed=cfg.training.seed,
                      rnn_factory=lambda: RNNForecaster(
                          cfg.model, cfg.training, FitPolicy(direct_horizon=horizon),
                          season=season))
    value = float(result.to_frame().set_index("model").loc["rnn", metric])
    if not math.isfinite(value):
        raise ForecastError(f"the trial's {metric} is not a finite number.")
    table = series_table(result.backtest, result.panel, result.season)
    table = table[table["model"] == "rnn"]
    by_id = dict(zip(table["series_id"], table[metric]))
    return value, [None if by_id.get(sid) is None else float(by_id[sid]) for sid in panel.ids]


def with_settings(cfg: Config, settings: dict) -> Config:
    """``cfg`` with ``settings`` (``{key: value}``) applied and validated."""
    data = cfg.to_dict()
    for section, values in settings_overrides(settings).items():
        data[section].update(values)
    return load_config(overrides=data)


def objective_for(folds: list[Panel], cfg: Config, space: SearchSpace, *, season: int,
                  horizon: int, metric: str, budget: "Budget | None" = None):
    """The trial's objective: the mean over ``folds`` of their scores, recording each
    fold's per-series scores (:data:`~forecaster.pipeline.tune_guard.SCORES`), its cost
    and its seconds; within ``budget``'s deadline (else pruned, see
    :mod:`~forecaster.pipeline.tune_budget`)."""
    import optuna

    budget = budget or Budget(Deadline(None), CostModel(), window=0)
    lengths = [[n - horizon for n in fold.lengths] for fold in folds]

    def objective(trial):
        try:
            return run_trial(trial)
        except DeadlinePassed as exc:
            trial.set_user_attr("pruned", str(exc))
            raise optuna.TrialPruned(str(exc)) from None
        finally:  # the trial's networks and traced functions go before the next one
            import keras

            keras.backend.clear_session()

    def run_trial(trial):
        settings = space.suggest(trial)
        trial_cfg = with_settings(cfg, settings)
        work = trial_work(settings, cfg, lengths=lengths, horizon=horizon,
                          window=budget.window)
        estimate = budget.costs.estimate(work)
        trial.set_user_attr(WORK, work)
        trial.set_user_attr("estimate", estimate)
        if estimate is not None and estimate > budget.deadline.left():
            raise DeadlinePassed(f"estimated {estimate:.0f} s, {max(0.0, budget.deadline.left()):.0f} "
                                 "s left")
        started = budget.deadline.clock()
        scores, tables = [], []
        for step, fold in enumerate(folds):
            budget.deadline.check()
            try:
                with stopping_when(budget.deadline.check):
                    value, per_series = score_fold(fold, trial_cfg, season=season,
                                                   horizon=horizon, metric=metric)
            except (DataError, ConfigError, TrainingError, ForecastError) as exc:
                # settings the data cannot take (a window longer than the series …):
                # a failed trial, not a failed search
                trial.set_user_attr("error", str(exc).splitlines()[0][:300])
                raise _TrialFailed(str(exc)) from None
            scores.append(value)
            tables.append(per_series)
            trial.set_user_attr("folds", scores)
            trial.set_user_attr(SCORES, tables)
            if step + 1 < len(folds):  # after the last fold the trial is complete anyway
                trial.report(float(np.mean(scores)), step)
                if trial.should_prune():
                    raise optuna.TrialPruned()
        seconds = budget.deadline.clock() - started
        trial.set_user_attr(SECONDS, seconds)
        budget.costs.record(work, seconds)
        return float(np.mean(scores))

    return objective


@dataclass
class Budget:
    """What bounds a search's time: its ``deadline``, the ``costs`` of its trials so far,
    and the default window (the cost of an automatic one)."""

    deadline: Deadline
    costs: CostModel
    window: int


class _TrialFailed(Exception):
    """A trial whose settings the data cannot take; Optuna records it as failed."""


# -- the search ------------------------------------------------------------------------------
def tune(plan: "TunePlan", *, trials: int, storage: str, study_name: str,
         timeout: float | None = None, progress: Callable | None = None,
         clock: Callable[[], float] = time.monotonic, out=None) -> TuneResult:
    """Run the study until it holds ``trials`` finished (completed or pruned) trials or
    ``timeout`` seconds (on ``clock``) pass, the running trial included (it is pruned at
    the deadline); ``progress(row, done, trials)`` after each trial.  An SQLite study is
    held for the whole search (one tuner per study), a server's is shared by the workers
    running this on it, of whom one writes best.toml (to its ``out``; the result's
    ``written_by`` tells the others: :mod:`~forecaster.pipeline.tune_workers`); it is
    resumed only with the data and settings it was scored with
    (:mod:`~forecaster.pipeline.tune_study`).  The result's verdict
    says whether the best trial replaces the defaults (:mod:`~forecaster.pipeline.tune_guard`)."""
    if trials < 1:
        raise ConfigError(f"--trials must be >= 1. Got {trials}.")
    if timeout is not None and timeout <= 0:
        raise ConfigError(f"--timeout must be > 0 seconds. Got {timeout}.")
    started = time.perf_counter()
    budget = Budget(Deadline(timeout, clock), CostModel(), window=plan.window)
    with study_lock(storage, study_name), workers(storage, study_name) as crew:
        study, created = open_study(crew, study_name, plan.cfg.training.seed,
                                    study_record(plan),
                                    start=plan.space.start(plan.cfg, window=plan.window))
        for t in study.get_trials(deepcopy=False):  # calibrates the trials' estimates
            if t.state.name == "COMPLETE":
                budget.costs.record(t.user_attrs.get(WORK), t.user_attrs.get(SECONDS))
        objective = objective_for(fold_panels(plan.panel, plan.horizon, plan.folds),
                                  plan.cfg, plan.space, season=plan.season,
                                  horizon=plan.horizon, metric=plan.protocol["metric"],
                                  budget=budget)
        failed = []

        def on_trial(frozen) -> bool:
            if progress is not None:
                progress(_row(frozen), _finished(study), trials)
            failed.extend([frozen.number] if frozen.state.name == "FAIL" else [])
            if frozen.user_attrs.get("pruned"):  # out of time: the search ends with it
                return False
            return len(failed) < max(3, trials)  # else the data take none of the settings

        _search(study, objective, crew, trials=trials, deadline=budget.deadline,
                on_trial=on_trial)
        written_by = crew.claim_best(study, trials, out)
        rows = sorted((_row(t) for t in study.get_trials(deepcopy=False)),
                      key=lambda r: (r["state"] != "COMPLETE", r["value"] if r["value"]
                                     is not None else math.inf, r["number"]))
    result = TuneResult(study=study_name, storage=storage, metric=plan.protocol["metric"],
                        rows=rows, fixed=dict(plan.space.fixed),
                        seconds=time.perf_counter() - started, written_by=written_by,
                        verdict=decide(rows, fold_members(plan.panel, plan.horizon,
                                                          plan.folds)))
    if result.chosen is not None:
        result.best_config = with_settings(plan.cfg, result.best_settings)
    return result


def _finished(study) -> int:
    """Trials that count towards ``trials``: completed or pruned."""
    return sum(t.state.name in ("COMPLETE", "PRUNED") for t in study.get_trials(deepcopy=False))


def _search(study, objective, crew, *, trials: int, deadline: Deadline, on_trial) -> None:
    """Ask, run and tell trials until the study holds ``trials`` finished ones, the
    ``deadline`` passes or ``on_trial(frozen)`` says stop; ``crew``
    (:class:`~forecaster.pipeline.tune_workers.Workers`) hands out the trials and keeps a
    running one's heartbeat.  A trial that another process finished meanwhile is not told
    again (Optuna's own loop dies on it: "Cannot tell a FAIL trial"); an interrupted trial
    is told failed (shared, queued again for the others) and the interrupt goes on."""
    import gc

    import optuna
    from optuna.trial import TrialState

    while (trial := crew.next_trial(study, trials, deadline)) is not None:
        try:
            with crew.running(trial):
                state, value = TrialState.COMPLETE, objective(trial)
        except optuna.TrialPruned:
            state, value = TrialState.PRUNED, None
        except (_TrialFailed, optuna.exceptions.UpdateFinishedTrialError):
            state, value = TrialState.FAIL, None  # the latter: finished elsewhere already
        except BaseException:
            crew.abandon(study, trial)
            raise
        finally:
            gc.collect()
        frozen = study.tell(trial, value, state=state, skip_if_finished=True)
        if not on_trial(frozen):
            break


def _row(trial) -> dict:
    return {"number": trial.number, "state": trial.state.name,
            "value": trial.value if trial.state.name == "COMPLETE" else None,
            "folds": list(trial.user_attrs.get("folds", [])),
            "params": dict(trial.params), "error": trial.user_attrs.get("error"),
            "scores": trial.user_attrs.get(SCORES),
            "incumbent": trial.user_attrs.get(INCUMBENT) is True,
            "estimate": _seconds(trial.user_attrs.get("estimate")),
            "seconds": _seconds(trial.user_attrs.get(SECONDS)),
            "pruned": trial.user_attrs.get("pruned")}


def _seconds(value) -> float | None:
    """A number of seconds read from the study (untrusted): finite and >= 0, else None."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and \
        math.isfinite(value) and value >= 0
    return float(value) if ok else None


def write_best(result: TuneResult, path: Path) -> Path:
    """``best.toml``: the whole resolved config of the recommended trial (the best, or the
    defaults' when they stand: the header says which and why), which ``forecast train
    --config best.toml`` trains; written whole or not at all."""
    from forecaster.runs import artifacts
    path = Path(path)
    if path.exists() and (not path.is_file() or not path.read_bytes().startswith(HEADER)):
        raise ConfigError(f"{str(path)!r} exists and was not written by forecast tune; "
                          "refusing to overwrite it. Choose another --out.")
    best = result.chosen
    why = f"# {result.verdict.reason}\n" if result.verdict is not None else ""
    header = (f"# forecast tune: study {result.study!r} ({result.storage}), recommended of "
              f"{sum(r['state'] == 'COMPLETE' for r in result.rows)} completed trial(s):\n"
              f"# trial {best['number']}, backtest {result.metric} {best['value']:.4f} "
              f"(folds {', '.join(f'{v:.4f}' for v in best['folds'])})\n{why}")
    artifacts.write_text_atomic(path, header + dump_toml(result.best_config))
    return path


# -- from a file to best.toml ----------------------------------------------------------------
@dataclass
class TunePlan:
    """What a search will run, known before any trial."""

    panel: Panel
    cfg: Config
    space: SearchSpace
    season: int
    horizon: int
    folds: int
    holdout: int | None
    protocol: dict
    window: int = 0  # the window the data give by default (the space is sized to it)
    partial: int = 0  # series too short for the earlier folds, scored in the later ones only

    def describe(self) -> str:
        held = f", the last {self.holdout} points held out" if self.holdout else ""
        part = (f" ({self.partial} too short for the earlier folds are scored in the later "
                "ones only)" if self.partial else "")
        return (f"{self.folds} fold(s) × horizon {self.horizon} of {len(self.panel)} "
                f"series{part}{held}; searching " + "; ".join(self.space.describe()))


def plan_tune(data, cfg: Config, *, space_path=None, holdout: int | None = None,
              folds: int | None = None, metric: str = "mase", quick: bool = False) -> TunePlan:
    """Read ``data`` with ``cfg``'s ``[data]`` options, cut off the ``holdout`` tail (never
    seen, not even to find the season) and size the default search to what is left
    (``quick``: the narrow one of ``--quick``)."""
    from forecaster.data.windowing import default_horizon
    from forecaster.models.shape import resolve_shape
    from forecaster.pipeline.inputs import load_panel, season_and_origin
    from forecaster.pipeline.search_space import default_space, quick_space, read_space

    if metric not in METRICS:
        raise ConfigError(f"--metric must be one of {', '.join(METRICS)}. Got {metric!r}.")
    if cfg.training.distribute != "none":
        cfg = cfg.replace("training", distribute="none")
    panel = data if isinstance(data, Panel) else load_panel(data, cfg)
    if holdout is not None:
        if holdout < 1:
            raise ConfigError(f"--holdout must be >= 1. Got {holdout}.")
        if int(panel.lengths.min()) <= holdout:
            raise DataError(f"--holdout {holdout} leaves no training data in the shortest "
                            f"series ({int(panel.lengths.min())} points).")
        panel = panel.cut(holdout)
    season, _ = season_and_origin(panel, cfg)
    season = int(season or 1)
    horizon = int(cfg.model.horizon or holdout or default_horizon(season))
    folds = int(folds or cfg.evaluation.folds)
    if folds < 1:
        raise ConfigError(f"--folds must be >= 1. Got {folds}.")
    members = fold_members(panel, horizon, folds)
    if len(members[-1]) < len(panel):
        raise DataError(f"horizon {horizon} leaves fewer than {min_train(horizon)} points to "
                        f"train on in the shortest series ({int(panel.lengths.min())} "
                        "points); use a shorter --horizon.")
    if not members[0]:
        raise DataError(f"{folds} fold(s) of horizon {horizon} leave no training data in the "
                        f"longest series ({int(panel.lengths.max())} points); use fewer "
                        "--folds or a shorter --horizon.")
    first = panel.select(members[0]).cut(horizon * folds)
    window = resolve_shape(first, window=cfg.model.window, horizon=horizon,
                           validation=cfg.training.validation, season=season).window
    space = (quick_space if quick else default_space)(window, season)
    if space_path is not None:
        space = read_space(space_path, space)
    partial = len(panel) - len(members[0])  # series scored in the later folds only
    protocol = {"data": panel_digest(panel), "metric": metric, "horizon": horizon,
                "folds": folds, "holdout": holdout, "season": season, "series": len(panel),
                "points": int(panel.lengths.sum()), "space": space.describe()}
    if partial:  # only then: studies of panels whose series all fit keep their protocol
        protocol["partial"] = partial
    return TunePlan(panel=panel, cfg=cfg, space=space, season=season, horizon=horizon,
                    folds=folds, holdout=holdout, protocol=protocol, window=window,
                    partial=partial)


def write_trials(result: TuneResult, path: Path) -> Path:
    """``trials.csv``: every trial of the study, best first (state, score, fold scores,
    settings, error)."""
    import pandas as pd

    from forecaster.runs import artifacts
    frame = pd.DataFrame([{"trial": r["number"], "state": r["state"], result.metric: r["value"],
                           "folds": " ".join(f"{v:.6g}" for v in r["folds"]),
                           **{f"param_{k}": v for k, v in sorted(r["params"].items())},
                           "error": r["error"] or ""} for r in result.rows])
    artifacts.write_text_atomic(Path(path), frame.to_csv(index=False))
    return Path(path)


def log_study(uri: str, data, result, *, best=None, client=None) -> str:
    """:func:`~forecaster.runs.tracking.log_tune` with the study's files: ``best`` (the best.toml written, or None:
    one is written for the log when the study has a best trial) and a trials.csv of this
    study, both in a temporary folder; the parent's MLflow run id."""
    import tempfile

    from forecaster.runs.tracking import log_tune

    with tempfile.TemporaryDirectory(prefix="forecast-tune-") as tmp:
        if best is None and result.best is not None:
            best = write_best(result, Path(tmp) / "best.toml")
        trials = write_trials(result, Path(tmp) / "trials.csv")
        files = (trials,) if best is None else (best, trials)
        return log_tune(uri, data, result, files=files, client=client)
