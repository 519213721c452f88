"""``forecast tune``: search the RNN's configuration with Optuna on the backtest.

Each trial draws settings from a :class:`~forecaster.pipeline.search_space.SearchSpace`
(TPE sampler), trains the RNN on the training part of every fold of a rolling-origin
backtest and scores it there (mean MASE by default); after each fold it reports the
running mean so that a median pruner can stop a weak trial early.  The held-out tail
(``holdout``) is cut off before anything is seen, the season included.

The study lives in a real database (``sqlite:///runs/tune.db`` by default).  Killing the
process at any moment and running the same command again resumes it: completed and
pruned trials are kept and count towards ``trials``, and a trial left running by a killed
process is marked failed (one tuner per study at a time).  A file that is not an SQLite
database, or an SQLite database without Optuna's tables, is refused before Optuna can
touch it.
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
from forecaster.sqlite_files import check_sqlite_file
from forecaster.errors import ConfigError, DataError, ForecastError, TrainingError
from forecaster.pipeline.search_space import SearchSpace

#: Optuna's own tables: a database holding other tables but not these is someone else's
OPTUNA_TABLES = {"studies", "trials", "version_info"}
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

    @property
    def best(self) -> dict | None:
        return self.rows[0] if self.rows and self.rows[0]["state"] == "COMPLETE" else None

    @property
    def best_settings(self) -> dict | None:
        """The best trial's settings with the space's fixed ones: ``Forecaster(**these)``."""
        return None if self.best is None else {**self.fixed, **self.best["params"]}

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


# -- storage ---------------------------------------------------------------------------------
def default_storage(runs_dir) -> str:
    return f"sqlite:///{Path(runs_dir) / 'tune.db'}"


def check_storage(url: str) -> str:
    """``url`` when Optuna may open it.  An SQLite file must be absent (created), empty, or
    an Optuna database; anything else is a :class:`ConfigError` and is left untouched."""
    if not isinstance(url, str) or "://" not in url:
        raise ConfigError(f"--storage must be a database URL such as sqlite:///runs/tune.db. "
                          f"Got {url!r}.")
    if not url.startswith("sqlite:///"):
        return url  # another database server: Optuna checks its own schema
    path = Path(url[len("sqlite:///"):])
    check_sqlite_file(path, OPTUNA_TABLES, f"--storage {str(path)!r}")
    return url


def open_study(storage: str, name: str, seed: int):
    """Create or resume study ``name``; trials a killed process left running are marked
    failed.  The sampler's seed moves on with the number of trials already run, so a
    resumed study does not draw its first settings again."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # failures: our own progress line
    url = check_storage(storage)
    try:
        store = optuna.storages.RDBStorage(url)
        study = optuna.load_study(study_name=name, storage=store) if name in {
            s.study_name for s in optuna.get_all_study_summaries(store)} else None
    except Exception as exc:  # sqlalchemy / optuna schema errors
        raise ConfigError(f"--storage {url}: cannot open the study database "
                          f"({str(exc).splitlines()[0]}).") from None
    created = study is None
    if created:
        study = optuna.create_study(study_name=name, storage=store, direction="minimize")
    stale = [t for t in study.get_trials(deepcopy=False)
             if t.state == optuna.trial.TrialState.RUNNING]
    for t in stale:
        store.set_trial_system_attr(t._trial_id, "fail_reason",
                                    "the tuning process stopped during this trial")
        store.set_trial_state_values(t._trial_id, optuna.trial.TrialState.FAIL)
    startup = 5
    study.sampler = optuna.samplers.TPESampler(seed=seed + len(study.trials),
                                               n_startup_trials=startup)
    study.pruner = optuna.pruners.MedianPruner(n_startup_trials=startup, n_warmup_steps=0)
    return study, created


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
               metric: str) -> float:
    """The RNN of ``cfg`` trained on all but the last ``horizon`` points of ``panel`` and
    scored on them (mean ``metric`` over series)."""
    from forecaster.evaluation.backtest import BacktestSpec
    from forecaster.models.neural import RNNForecaster
    from forecaster.pipeline.evaluate import evaluate

    result = evaluate(panel, models=["rnn"], spec=BacktestSpec.holdout(horizon),
                      levels=cfg.evaluation.levels, season=season, seed=cfg.training.seed,
                      rnn_factory=lambda: RNNForecaster.from_config(
                          cfg, season=season, direct_horizon=horizon))
    value = float(result.to_frame().set_index("model").loc["rnn", metric])
    if not math.isfinite(value):
        raise ForecastError(f"the trial's {metric} is not a finite number.")
    return value


def with_settings(cfg: Config, settings: dict) -> Config:
    """``cfg`` with ``settings`` (``{key: value}``) applied and validated."""
    data = cfg.to_dict()
    for section, values in settings_overrides(settings).items():
        data[section].update(values)
    return load_config(overrides=data)


def objective_for(folds: list[Panel], cfg: Config, space: SearchSpace, *, season: int,
                  horizon: int, metric: str):
    import optuna

    def objective(trial):
        try:
            return run_trial(trial)
        finally:  # the trial's networks and traced functions go before the next one
            import keras

            keras.backend.clear_session()

    def run_trial(trial):
        settings = space.suggest(trial)
        trial_cfg = with_settings(cfg, settings)
        scores = []
        for step, fold in enumerate(folds):
            try:
                scores.append(score_fold(fold, trial_cfg, season=season, horizon=horizon,
                                         metric=metric))
            except (DataError, ConfigError, TrainingError, ForecastError) as exc:
                # settings the data cannot take (a window longer than the series …):
                # a failed trial, not a failed search
                trial.set_user_attr("error", str(exc).splitlines()[0][:300])
                raise _TrialFailed(str(exc)) from None
            trial.set_user_attr("folds", scores)
            if step + 1 < len(folds):  # after the last fold the trial is complete anyway
                trial.report(float(np.mean(scores)), step)
                if trial.should_prune():
                    raise optuna.TrialPruned()
        return float(np.mean(scores))

    return objective


class _TrialFailed(Exception):
    """A trial whose settings the data cannot take; Optuna records it as failed."""


# -- the search ------------------------------------------------------------------------------
def tune(plan: "TunePlan", *, trials: int, storage: str, study_name: str,
         timeout: float | None = None, progress: Callable | None = None) -> TuneResult:
    """Run the study until it holds ``trials`` finished (completed or pruned) trials or
    ``timeout`` seconds pass; ``progress(row, done, trials)`` after each trial.  A study
    searched under another protocol (metric, horizon, folds, holdout, data size, space)
    is refused: its scores would not compare."""
    import optuna
    from optuna.trial import TrialState

    if trials < 1:
        raise ConfigError(f"--trials must be >= 1. Got {trials}.")
    if timeout is not None and timeout <= 0:
        raise ConfigError(f"--timeout must be > 0 seconds. Got {timeout}.")
    started = time.perf_counter()
    study, created = open_study(storage, study_name, plan.cfg.training.seed)
    if created:  # trial 0: the configuration the search starts from, as a reference
        start = plan.space.start(plan.cfg, window=plan.window)
        if start:
            study.enqueue_trial(start)
    known = study.user_attrs.get("protocol")
    protocol = _jsonable(plan.protocol)
    if known is not None and known != protocol:
        changed = sorted(k for k in set(known) | set(protocol)
                         if known.get(k) != protocol.get(k))
        raise ConfigError(f"study {study_name!r} was searched with other settings "
                          f"({', '.join(changed)} differ); its scores would not compare. "
                          "Use another --study name.")
    study.set_user_attr("protocol", protocol)
    objective = objective_for(fold_panels(plan.panel, plan.horizon, plan.folds), plan.cfg,
                              plan.space, season=plan.season, horizon=plan.horizon,
                              metric=plan.protocol["metric"])
    finished = (TrialState.COMPLETE, TrialState.PRUNED)

    def count():
        return sum(t.state in finished for t in study.get_trials(deepcopy=False))

    before = count()

    failed = []

    def callback(study, frozen):
        if progress is not None:
            progress(_row(frozen), count(), trials)
        if frozen.state == TrialState.FAIL:
            failed.append(frozen.number)
            if len(failed) >= max(3, trials):  # the data take none of the settings drawn
                study.stop()

    if trials > before:
        study.optimize(objective, n_trials=None, timeout=timeout, catch=(_TrialFailed,),
                       callbacks=[optuna.study.MaxTrialsCallback(trials, states=finished),
                                  callback], gc_after_trial=True)
    rows = sorted((_row(t) for t in study.get_trials(deepcopy=False)),
                  key=lambda r: (r["state"] != "COMPLETE", r["value"] if r["value"]
                                 is not None else math.inf, r["number"]))
    result = TuneResult(study=study_name, storage=storage, metric=plan.protocol["metric"],
                        rows=rows, fixed=dict(plan.space.fixed),
                        seconds=time.perf_counter() - started)
    if result.best is not None:
        result.best_config = with_settings(plan.cfg, result.best_settings)
    return result


def _jsonable(value):
    import json

    return json.loads(json.dumps(value))


def _row(trial) -> dict:
    return {"number": trial.number, "state": trial.state.name,
            "value": trial.value if trial.state.name == "COMPLETE" else None,
            "folds": list(trial.user_attrs.get("folds", [])),
            "params": dict(trial.params), "error": trial.user_attrs.get("error")}


def write_best(result: TuneResult, path: Path) -> Path:
    """``best.toml``: the whole resolved config of the best trial, which ``forecast train
    --config best.toml`` trains; written whole or not at all."""
    from forecaster import artifacts

    path = Path(path)
    if path.exists() and (not path.is_file() or not path.read_bytes().startswith(HEADER)):
        raise ConfigError(f"{str(path)!r} exists and was not written by forecast tune; "
                          "refusing to overwrite it. Choose another --out.")
    best = result.best
    header = (f"# forecast tune: study {result.study!r} ({result.storage}), best of "
              f"{sum(r['state'] == 'COMPLETE' for r in result.rows)} completed trial(s):\n"
              f"# trial {best['number']}, backtest {result.metric} {best['value']:.4f} "
              f"(folds {', '.join(f'{v:.4f}' for v in best['folds'])})\n")
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
              folds: int | None = None, metric: str = "mase") -> TunePlan:
    """Read ``data`` with ``cfg``'s ``[data]`` options, cut off the ``holdout`` tail (never
    seen, not even to find the season) and size the default search to what is left."""
    from forecaster.data.windowing import default_horizon
    from forecaster.models.neural import resolve_shape
    from forecaster.pipeline.inputs import load_panel, season_and_origin
    from forecaster.pipeline.search_space import default_space, read_space

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
    space = default_space(window, season)
    if space_path is not None:
        space = read_space(space_path, space)
    partial = len(panel) - len(members[0])  # series scored in the later folds only
    protocol = {"metric": metric, "horizon": horizon, "folds": folds, "holdout": holdout,
                "season": season, "series": len(panel), "points": int(panel.lengths.sum()),
                "space": space.describe()}
    if partial:  # only then: studies of panels whose series all fit keep their protocol
        protocol["partial"] = partial
    return TunePlan(panel=panel, cfg=cfg, space=space, season=season, horizon=horizon,
                    folds=folds, holdout=holdout, protocol=protocol, window=window,
                    partial=partial)


def write_trials(result: TuneResult, path: Path) -> Path:
    """``trials.csv``: every trial of the study, best first (state, score, fold scores,
    settings, error)."""
    import pandas as pd

    from forecaster import artifacts

    frame = pd.DataFrame([{"trial": r["number"], "state": r["state"], result.metric: r["value"],
                           "folds": " ".join(f"{v:.6g}" for v in r["folds"]),
                           **{f"param_{k}": v for k, v in sorted(r["params"].items())},
                           "error": r["error"] or ""} for r in result.rows])
    artifacts.write_text_atomic(Path(path), frame.to_csv(index=False))
    return Path(path)
