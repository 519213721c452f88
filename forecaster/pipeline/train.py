"""``forecast train``: read data, backtest the RNN against the baselines, fit, save a run.

Order of work (each step uses only what the step before produced):

1. ingest → validated :class:`~forecaster.data.panel.Panel`;
2. window and horizon resolved so that the backtest's first fold still fits;
3. rolling-origin backtest (``evaluation.origins`` origins one step apart, models fitted
   once on the data before the first origin, never on anything after it) of the RNN and
   the baselines — the evidence for the leaderboard and the calibration set of the
   split-conformal intervals.  The RNN is fitted there as any fit is: early stopping on
   a validation tail picks the epoch count, then every window trains that many epochs;
4. the final RNN trains every window of all the data for the epoch count the backtest's
   early stopping chose (the procedure the backtest measured; without a backtest it early-
   stops on its own validation tail first);
5. intervals, a forecast of the trained horizon, the gradient diagnostic;
6. everything written to a temporary run directory that is renamed into place at the end.

With ``[training] distribute`` (:mod:`forecaster.training.distributed`) every RNN fit — the
backtest's and the final one — is data-parallel.  Under ``multi-worker`` every worker runs
this same pipeline on the same file in lockstep; only the chief runs the baselines and
steps 5–6, the other workers stop after the final fit (``TrainResult.run_dir`` is None).
"""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass, field, replace
from functools import partial
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from forecaster._version import __version__
from forecaster.runs import artifacts
from forecaster.training import distributed
from forecaster.training.cluster import check as check_cluster
from forecaster.config import Config, dump_toml
from forecaster.data.readers import fingerprint
from forecaster.data.panel import Panel
from forecaster.data.windowing import scale_kind
from forecaster.errors import ConfigError, DataError
from forecaster.notes import Note
from forecaster.evaluation.backtest import BacktestSpec, counted
from forecaster.pipeline.evaluate import WITHOUT
from forecaster.models.registry import TRAIN_BACKTEST
from forecaster.models.scales import describe_scaling
from forecaster.pipeline.inputs import load_panel, season_and_origin
from forecaster.models.neural import FitPolicy, RNNForecaster
from forecaster.models.shape import resolve_shape
from forecaster.pipeline.predict import clip_nonnegative, drop_unbounded
from forecaster.runs.forecast_state import Preprocessing
from forecaster.runs.record import DataInfo, RunInfo
from forecaster.training.runtime import backend_version, check_interrupt, import_backend, select_device

#: The baselines train backtests beside the RNN (the registry's quick ones).
TRAIN_BASELINES = list(TRAIN_BACKTEST)


@dataclass
class TrainResult:
    """What a training run produced (for the CLI summary)."""

    run_dir: Path
    panel: Panel
    window: int
    horizon: int
    model: str
    device: str
    epochs_run: int
    best_epoch: int
    val_loss: float
    seconds: float
    leaderboard: pd.DataFrame | None = None
    notes: list = field(default_factory=list)
    backend: str = "tensorflow"
    distribute: str = "none"
    replicas: int = 1
    worker: str | None = None  # a non-chief multi-worker task: "worker 1 (rank 1 of 2)"
    lookbacks: tuple = ()  # each ensemble member's input steps, longest (= window) first
    season: int | None = None
    season_origin: str = "none"
    scaling: str = ""  # how each series was scaled (describe_scaling)
    deployed: str = "rnn"  # the model the run forecasts with (--select)
    deployed_reason: str = ""


def backtest_spec(horizon: int, origins: int) -> BacktestSpec:
    """The backtest of ``forecast train``: ``origins`` origins one step apart, every model
    fitted once, on the data before the first."""
    return BacktestSpec(horizon=horizon, folds=origins, step=1, refit=False)


def _plan_backtest(panel: Panel, cfg: Config, season):
    """Window/horizon and the number of origins such that the first fold still trains:
    the configured number, halved until every series is long enough for the backtest and
    the longest leaves the RNN a fold to train on.

    Returns ``(shape, origins)``; ``origins`` is 0 when no backtest fits in the data."""
    m, t = cfg.model, cfg.training
    if cfg.evaluation.select == "best" and not cfg.evaluation.backtest:
        raise ConfigError("`--select best` deploys the backtest's winner, so it needs the "
                          "backtest; drop --no-backtest.")
    shape = resolve_shape(panel, window=m.window, horizon=m.horizon,
                          validation=t.validation, season=season)
    if not cfg.evaluation.backtest:
        return shape, 0
    origins = cfg.evaluation.origins
    while origins >= 1:
        spec = backtest_spec(shape.horizon, origins)
        if int(panel.lengths.min()) >= spec.required_length:
            try:
                fold_shape = resolve_shape(panel.cut(spec.cutoff_from_end(1)),
                                           window=m.window,
                                           horizon=m.horizon or shape.horizon,
                                           validation=t.validation, season=season)
                return fold_shape, origins
            except DataError:
                pass
        origins = origins // 2 if origins > 1 else 0
    return shape, 0


@dataclass
class FittedRun:
    """Everything a run directory holds, in memory: what :func:`fit_run` trained and
    :func:`save_run` writes (the CLI saves it at once, the Python API when asked)."""

    cfg: Config
    panel: Panel
    model: RNNForecaster            # the final fit
    fit: object                     # the early-stopped fit (the backtest's, if one ran)
    state: Preprocessing | None     # None on a non-chief worker
    forecast: pd.DataFrame | None   # the trained horizon, with calibrated intervals
    evaluation: object | None       # the backtest (leaderboard, residuals)
    gradients: list = field(default_factory=list)  # norms through time, one network
    gradient_batch: int = 0
    notes: list = field(default_factory=list)
    season: int | None = None
    season_origin: str = "none"  # given | frequency | detected | none
    mode: str = "none"
    replicas: int = 1
    cluster: object = None
    seconds: float = 0.0  # reading to forecast: the one "time" (CLI summary, run.json, report)
    importance: dict | None = None  # covariates' permutation importance on the backtest
    selection: object = None        # pipeline.select.Selection under --select best
    deployed: object = None         # the DeployedBaseline when a baseline won it

    @property
    def deployed_name(self) -> str:
        return "rnn" if self.deployed is None else self.deployed.name

    @property
    def chief(self) -> bool:
        return self.cluster is None or self.cluster.is_chief


def train(data_path, cfg: Config, *, runs_dir=None, name=None, progress=None,
          fold_progress=None, log=lambda msg: None, warn=lambda note: None) -> TrainResult:
    """Run the whole training pipeline and return where the run was saved.

    ``warn(note)``: each of the data's warnings (the panel's notes), once the data is read
    and before any fitting, so that a long training does not hold them back to its end.
    ``progress`` and ``fold_progress``: see :func:`fit_run`."""
    started = time.perf_counter()
    data_path = Path(data_path)
    cluster = check_cluster(cfg.training.distribute)  # a bad TF_CONFIG: before any work
    runs_dir = Path(runs_dir or cfg.output.runs_dir)
    if cluster is None or cluster.is_chief:  # a read-only runs dir fails now, not after
        artifacts.check_writable(runs_dir, "runs")
    panel = load_panel(data_path, cfg)
    for note in panel.notes:
        warn(note)
    fitted = fit_run(panel, cfg, progress=progress, fold_progress=fold_progress, log=log,
                     cluster=cluster, started=started)
    run_dir = None
    if fitted.chief:
        run_dir = save_run(fitted, runs_dir, artifacts.run_name(name or data_path.stem,
                                                                cfg.model.kind),
                           fingerprint(data_path))
    return result_of(fitted, run_dir)


def result_of(fitted: FittedRun, run_dir: Path | None) -> TrainResult:
    """The CLI's summary of a fitted (and possibly saved) run."""
    model, fit, shape = fitted.model, fitted.fit, fitted.model.shape_
    return TrainResult(run_dir=run_dir, panel=fitted.panel, window=shape.window,
                       horizon=shape.horizon, model=fitted.cfg.model.kind,
                       device=model.device_, epochs_run=fit.epochs_run,
                       best_epoch=fit.best_epoch, val_loss=fit.best_val_loss,
                       seconds=fitted.seconds,
                       leaderboard=None if fitted.evaluation is None or not fitted.chief
                       else fitted.evaluation.table,
                       notes=fitted.notes, backend=_backend(), distribute=fitted.mode,
                       replicas=fitted.replicas,
                       worker=None if fitted.chief else fitted.cluster.describe(),
                       lookbacks=tuple(model.lookbacks_), season=fitted.season,
                       season_origin=fitted.season_origin,
                       scaling=describe_scaling(model.scaling, fitted.panel.ids,
                                                model.scaler_.lam),  # rows in panel order
                       deployed=fitted.deployed_name,
                       deployed_reason="" if fitted.selection is None
                       else fitted.selection.reason)


def fit_run(panel: Panel, cfg: Config, *, progress=None, fold_progress=None,
            log=lambda msg: None, cluster=None, started: float | None = None) -> FittedRun:
    """Steps 2-5 of the module docstring on a validated ``panel``: plan, backtest, final
    fit, intervals and forecast of the trained horizon; nothing is written.

    ``progress(stage, epoch, epochs, loss, val_loss)`` after each RNN epoch (stage
    ``"backtest"`` or ``"final"``); ``fold_progress(done, total, detail)`` after each
    (model, origin) fit of the backtest, ``detail`` naming them."""
    started = time.perf_counter() if started is None else started
    mode = cfg.training.distribute
    chief = cluster is None or cluster.is_chief
    replicas = _start_runtime(cfg, cluster, log)
    notes = list(panel.notes)
    season, season_origin = season_and_origin(panel, cfg)
    if season_origin == "detected":
        notes.append(f"season {season} was detected in the data's autocorrelation (the "
                     "timestamps give none); --season N overrides it, --season 0 turns it "
                     "off.")
    shape, origins = _plan_backtest(panel, cfg, season)
    levels = tuple(cfg.evaluation.levels)

    planned = replace(cfg.model, window=shape.window, horizon=shape.horizon)

    def rnn(progress_fn=None, fixed_epochs=0):
        """The configured RNN with the planned window and horizon (backtest and final fit
        alike; an ensemble's longer lookbacks are fitted to each fold's data)."""
        return RNNForecaster(planned, cfg.training, FitPolicy(fixed_epochs=fixed_epochs),
                             season=season, progress=progress_fn)

    evaluation = importance = backtest_rnn = None
    networks = f"{cfg.model.ensemble} network(s)"
    if origins:
        evaluation, importance = _backtest(
            panel, cfg, shape, origins, season, chief, log=log,
            rnn_factory=lambda: rnn(progress and partial(progress, "backtest")),
            fold_progress=fold_progress)
        # the backtest's RNN (fitted once, before the first origin): its early stopping
        # picks the final fit's epochs
        backtest_rnn = evaluation.backtest.fitted["rnn"]
        notes += [n for n in evaluation.notes if n not in notes]
    else:
        notes.append("the series is too short for a backtest: no leaderboard and no "
                     "prediction intervals (add data or lower --horizon)" + (
                         "; nothing to select from: the RNN is deployed." if
                         cfg.evaluation.select == "best" else "."))

    # The backtest fitted the RNN as the final fit would be (early stopping on its
    # validation tail, then every window for the chosen epochs): the final fit reuses
    # that epoch count instead of early-stopping a second time.
    chosen = backtest_rnn.fit_ if backtest_rnn is not None else None
    epochs = chosen.best_epoch if chosen is not None else 0
    log(f"training {cfg.model.kind} on all data (horizon {shape.horizon}, {networks}, "
        + (f"{epochs} epochs as chosen in the backtest)" if epochs else
           f"early stopping within {cfg.training.epochs} epochs)"))
    model = rnn(progress and partial(progress, "final"), fixed_epochs=epochs).fit(panel)
    fit = chosen if chosen is not None else model.fit_  # the early-stopped fit
    run = FittedRun(cfg=cfg, panel=panel, model=model, fit=fit, state=None, forecast=None,
                    evaluation=evaluation, notes=notes, season=season,
                    season_origin=season_origin, mode=mode, replicas=replicas,
                    cluster=cluster, importance=importance,
                    selection=_selection(cfg, evaluation if chief else None, log))
    if chief:
        _finish(run, levels)
    run.seconds = round(time.perf_counter() - started, 3)
    return run


def _backtest(panel: Panel, cfg: Config, shape, origins: int, season, chief: bool, *, log,
              rnn_factory, fold_progress):
    """Step 2: the RNN (and, on the chief, the baselines) over ``origins`` rolling
    origins, and with covariates their permutation importance; returns the evaluation
    and the importance (None without covariates)."""
    from forecaster.pipeline.evaluate import evaluate

    networks = f"{cfg.model.ensemble} network(s)"
    log(f"backtest: {origins} origins × horizon {shape.horizon} "
        + (f"(RNN: {networks}, early stopping within {cfg.training.epochs} epochs"
           + (", with and without the covariates" if panel.covariates is not None
              else "") + f"; {len(TRAIN_BASELINES)} baselines)" if chief else
           "(the RNN only; the chief runs the baselines)"))
    spec = backtest_spec(shape.horizon, origins)
    # a non-chief worker only trains along (the RNN fit is collective); the chief
    # alone runs the baselines and keeps the leaderboard; with covariates, the RNN on
    # the target alone runs beside the RNN with them (what the covariates bought)
    alone = [WITHOUT] if panel.covariates is not None else []
    models = ["rnn"] + alone + (TRAIN_BASELINES if chief else [])
    evaluation = evaluate(panel, models=models, spec=spec,
                          levels=tuple(cfg.evaluation.levels), season=season,
                          seed=cfg.training.seed, keep=("rnn",), rnn_factory=rnn_factory,
                          progress=counted(fold_progress, len(models) * spec.folds))
    importance = None
    if panel.covariates is not None and chief:
        from forecaster.evaluation.importance import permutation_importance

        log("covariates: permutation importance on the backtest")
        importance = permutation_importance(evaluation.backtest.fitted["rnn"], panel, spec,
                                            season, seed=cfg.training.seed)
    return evaluation, importance


def _selection(cfg: Config, evaluation, log):
    """Under ``--select best``, the deployable model the backtest ranks first and why
    (:func:`forecaster.pipeline.select.choose`); None otherwise or without a backtest."""
    if evaluation is None or cfg.evaluation.select != "best":
        return None
    from forecaster.pipeline.select import choose

    selection = choose(evaluation, ["rnn"] + TRAIN_BASELINES)
    log(f"selected for deployment: {selection.model} ({selection.reason})")
    return selection


def _start_runtime(cfg: Config, cluster, log) -> int:
    """Import the backend and check the device (before any work); under ``distribute``
    set up the strategy first (collectives before TensorFlow runs anything). Returns the
    number of replicas in sync."""
    import_backend()  # only now: the reader's transient memory is released first
    select_device(cfg.training.device)  # `--device gpu` without one: fail before work
    mode = cfg.training.distribute
    if mode == "none":
        return 1
    from forecaster.training.runtime import configure_runtime

    configure_runtime(cfg.training.seed, cfg.training.device)
    if cluster is not None:
        log(f"multi-worker: this is {cluster.describe()}; waiting for the cluster")
    replicas = distributed.get_strategy(mode, cfg.training.device).num_replicas_in_sync
    log(f"distribute: {mode}, {replicas} replica(s) in sync")
    return replicas


def _finish(run: FittedRun, levels) -> None:
    """Step 5 (the chief's): the baseline that ``--select best`` deploys (fitted on all the
    data), the deployed model's forecast of the trained horizon with split-conformal
    intervals calibrated on its backtest residuals, the preprocessing state, and the
    gradient diagnostic of one network."""
    from forecaster.evaluation.gradients import gradient_norms
    from forecaster.evaluation.intervals import ConformalIntervals

    from forecaster.evaluation.leaderboard import series_scales

    model, evaluation = run.model, run.evaluation
    # residuals are in the series' units: scale them by each series' typical seasonal
    # change in those units (not the network's scaler, which on the log scale is a
    # ratio and would give a series at ten times the level the same absolute band)
    scales = series_scales(run.panel, run.season)
    rnn_bands = None if evaluation is None else ConformalIntervals(levels).fit(
        evaluation.backtest.for_model("rnn"), scales)
    conformal = None if rnn_bands is None else rnn_bands.to_json()
    residuals = None if rnn_bands is None else rnn_bands.residuals_json()
    bands = rnn_bands
    if run.selection is not None and run.selection.model != "rnn":
        from forecaster.pipeline.select import deploy_baseline

        run.deployed = deploy_baseline(run.selection.model, run.panel, evaluation,
                                       season=run.season, seed=run.cfg.training.seed,
                                       levels=levels, scales=scales)
        bands = ConformalIntervals.from_json(run.deployed.conformal)
    H = model.shape_.horizon
    cov = run.panel.covariates
    if cov is not None and cov.n_future and min(len(a) for a in cov.ahead) < H:
        forecast = None  # the horizon's future covariates are not in the training data
        run.notes.append(Note(f"no forecast was made at training time: it needs the future "
                              f"covariates ({', '.join(cov.spec.future)}) over the {H} steps "
                              "after the data; forecast with `forecast predict --future FILE`.",
                              kind="no_forecast"))
    else:  # the deployed model's forecast of the trained horizon
        forecast = (model if run.deployed is None else run.deployed.model).predict(H)
        if bands is not None:
            forecast, dropped = drop_unbounded(bands.predict(forecast, scales))
            run.notes += dropped
    run.state = Preprocessing.from_fit(run.panel, model, season=run.season,
                                       levels=list(levels), conformal=conformal,
                                       interval_scales=scales, residuals=residuals)
    run.forecast = forecast if forecast is None or not run.state.nonnegative else \
        clip_nonnegative(forecast)
    x_val, y_val = model.validation_batch_
    if model.member_ is not None:  # none: covariates, or every member anchored
        run.gradients = [float(g) for g in gradient_norms(model.member_, x_val, y_val)]
        run.gradient_batch = int(len(x_val))


def save_run(run: FittedRun, runs_dir: Path, run_id: str, source: dict) -> Path:
    """Write ``run`` as the run directory ``runs_dir/run_id`` (staged, then renamed into
    place and pointed at by ``latest``; see :func:`forecaster.runs.artifacts.staging`).
    ``source`` describes the data (:func:`~forecaster.data.readers.fingerprint`)."""
    cfg, panel, model, fit = run.cfg, run.panel, run.model, run.fit
    shape = model.shape_
    backend = _backend()
    check_interrupt()  # a Ctrl-C or SIGTERM whose raise was swallowed: nothing is saved
    with artifacts.staging(runs_dir, run_id) as stage:
        out = stage.path
        model.model_.save(out / "model.keras")
        artifacts.write_json(out / "preprocessing.json", run.state.to_json())
        (out / "config.toml").write_text(dump_toml(cfg), encoding="utf-8")
        fit.history().to_csv(out / "history.csv", index=False)
        artifacts.write_json(out / "data.json", DataInfo(
            **source, **panel.describe(), notes=tuple(run.notes)).to_json())
        if run.evaluation is not None:
            run.evaluation.write(out)
        if panel.covariates is not None:
            artifacts.write_json(out / "covariates.json", covariates_record(run))
        if run.deployed is not None:
            _write_deployed(run.deployed, out)
        if run.forecast is not None:
            frame = run.forecast.copy()
            frame["timestamp"] = panel.axis.format_all(frame["timestamp"])
            artifacts.spreadsheet_safe(frame).to_csv(out / "forecast.csv", index=False)
        artifacts.write_json(out / "diagnostics.json", {
            "cell": cfg.model.kind, "window": shape.window,
            "gradient_norms": run.gradients, "batch_size": run.gradient_batch,
            **({} if model.member_ is not None else {
                "note": ("a network with covariates is not a plain recurrent stack"
                         if model.encoder_ is not None else "every member is anchored on the "
                         "last season (--anchor season), so none is a plain recurrent stack")
                        + ", so it has no gradient diagnostic."})})
        artifacts.write_json(out / "run.json", RunInfo(
            id=run_id, created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            forecaster_version=__version__, model=cfg.model.kind, deployed=run.deployed_name,
            selection=None if run.selection is None else run.selection.to_json(),
            device=model.device_, seed=cfg.training.seed, window=shape.window,
            lookbacks=tuple(model.lookbacks_), horizon=shape.horizon, season=run.season,
            season_origin=run.season_origin, scaling=cfg.model.scaling,
            log_scale_series=sum(scale_kind(x) == "log" for x in model.scaler_.lam),
            box_cox_series=sum(scale_kind(x) == "box-cox" for x in model.scaler_.lam),
            batch_size=model.batch_size_, epochs_run=fit.epochs_run,
            best_epoch=fit.best_epoch, val_loss=fit.best_val_loss,
            final_epochs=model.fit_.epochs_run, train_seconds=round(model.fit_.seconds, 3),
            total_seconds=run.seconds,
            train_windows=int(model.n_train_windows_), distribute=run.mode,
            replicas=run.replicas,
            workers=1 if run.cluster is None else run.cluster.num_workers,
            keras_backend=backend, backend_version=backend_version(backend),
            keras_version=_keras_version(), python=platform.python_version(),
            sha256=artifacts.integrity(out),  # checked whenever the run is loaded
        ).to_json())
    return stage.final


def _write_deployed(deployed, out: Path) -> None:
    """``baseline.json`` (what the baseline learned, its interval quantiles) and, for the
    lag regressors, ``baseline.skops`` (the scikit-learn pipeline; no pickle)."""
    from forecaster.models.baseline_state import to_state

    state, blob = to_state(deployed.model)
    artifacts.write_json(out / "baseline.json", {
        "model": state, "conformal": deployed.conformal,
        **({} if deployed.residuals is None else {"residuals": deployed.residuals})})
    if blob is not None:
        (out / "baseline.skops").write_bytes(blob)


def covariates_record(run: FittedRun) -> dict:
    """``covariates.json``: each covariate's role, the model's input channels, and the
    permutation importance on the backtest (None without one)."""
    encoder = run.model.encoder_
    return {"roles": [{"covariate": name, "role": role, "channels": len(channels)}
                      for name, role, channels in encoder.groups()],
            "spec": encoder.spec.to_json(),
            "backtest_assumed_known": list(encoder.spec.future),
            "importance": run.importance}


def _backend() -> str:
    import keras

    return keras.config.backend()


def _keras_version() -> str:
    import keras

    return keras.__version__
