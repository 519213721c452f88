"""The Python face of forecaster: :class:`Forecaster` and :func:`load`.

``Forecaster(**settings)`` is the RNN exactly as ``forecast train`` builds it — the same
defaults (``default.toml``), the same backtest against the baselines, the same final fit —
with settings named like the command line's flags (``Forecaster(ensemble=1, epochs=5,
units=32)``). A fitted forecaster saves a run in the command line's format, and
:func:`load` reads any run back, so both faces share their runs::

    from forecaster import Forecaster, load
    model = Forecaster(epochs=50).fit(frame)           # a DataFrame or a file path
    model.predict(30)                                  # series_id, timestamp, forecast, lower_80, …
    run_dir = model.save("runs")                       # `forecast predict` forecasts from it
    load(run_dir).predict(12)

``mlflow_uri=URI`` (a setting like the others) logs to MLflow as ``--mlflow URI`` does
(:mod:`forecaster.runs.tracking`): the store is checked when the work starts (``fit``,
``backtest``/``evaluate``, ``tune``: a bad URI or a missing extra is a ``ConfigError``
before any training), and the work is logged once done — a fitted model when it is
saved.  A logging failure then is a :class:`~forecaster.runs.tracking.TrackingWarning`, and
the result is returned all the same.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from forecaster.config import Config, load_config, settings_overrides
from forecaster.errors import ConfigError, RunNotFoundError

__all__ = ["Forecaster", "evaluate", "load", "tune"]

#: ``[data]`` settings that go with the data (``fit``, ``backtest``), not the model
DATA_SETTINGS = ("dayfirst", "monthfirst", "fill", "max_gap", "aggregate", "past_covariates",
                 "future_covariates", "static_covariates", "calendar", "holidays",
                 "fill_covariates", "wide")


class Forecaster:
    """A global RNN forecaster, fitted as ``forecast train`` fits one.

    Parameters are config keys (see ``forecast train --help`` and ``configs/default.toml``):
    ``units``, ``ensemble``, ``epochs``, ``learning_rate``, ``horizon``, ``season``,
    ``origins``, ``backtest``, ``seed``, … ``profile`` picks a named profile
    (``"quick"``), ``config`` a TOML file; keyword settings override both. They are
    validated here, with the command line's messages.

    It follows scikit-learn's estimator conventions: :meth:`get_params` and
    :meth:`set_params` over these arguments, so ``sklearn.base.clone(model)`` gives an
    unfitted forecaster with the same settings (fitting to the same numbers).

    Fitted attributes end in ``_``: ``season_``, ``window_``, ``horizon_``, ``lookbacks_``,
    ``levels_``, ``leaderboard_`` (the backtest, or None), ``deployed_`` (the model that
    forecasts: ``"rnn"``, or the baseline ``select="best"`` chose), ``notes_`` (what the
    data needed),
    ``config_`` (the resolved :class:`~forecaster.config.Config`).

    ``mlflow_uri="sqlite:///mlflow.db"`` logs the run to MLflow as ``forecast train
    --mlflow`` does, when :meth:`save` writes it (``fit`` alone logs nothing: a run not
    saved has no folder to log); ``fit`` checks the store first.  ``mlflow_run_id_``: the
    MLflow run of the last ``save`` (None when not logged).
    """

    def __init__(self, *, profile: str = "default", config: str | Path | None = None,
                 **settings):
        self.profile, self.config, self.settings = profile, config, dict(settings)
        self._resolve({})  # fail now on a bad setting, not at fit time

    # -- scikit-learn's estimator conventions -------------------------------------------
    def get_params(self, deep: bool = True) -> dict:
        """The constructor's arguments, as scikit-learn's ``get_params`` gives them:
        ``profile``, ``config`` and every keyword setting, so ``sklearn.base.clone(model)``
        builds an unfitted forecaster with the same settings (``deep`` is taken for the
        protocol: no setting is itself an estimator)."""
        return {"profile": self.profile, "config": self.config, **self.settings}

    def set_params(self, **params) -> "Forecaster":
        """Change constructor arguments (scikit-learn's ``set_params``) and return
        ``self``: checked at once with the constructor's messages, nothing changed when
        one is bad; a fitted forecaster keeps its fit until the next :meth:`fit`."""
        profile = params.pop("profile", self.profile)
        config = params.pop("config", self.config)
        Forecaster(profile=profile, config=config, **{**self.settings, **params})
        self.profile, self.config = profile, config
        self.settings.update(params)
        return self

    def _resolve(self, data_settings: dict) -> Config:
        return load_config(self.config, settings_overrides({**self.settings,
                                                            **data_settings}),
                           profile=self.profile)

    # -- fitting ----------------------------------------------------------------------
    def fit(self, data, *, target=None, time_col=None, id_col=None, freq=None,
            progress=None, **data_settings) -> "Forecaster":
        """Read ``data`` (a DataFrame, a time-indexed Series, a polars DataFrame, or a
        CSV/Parquet path) as ``forecast train`` does (columns detected unless named; a
        frame with one numeric column per series read wide, or ``wide=True``; other
        ``[data]`` settings such as ``fill``, ``fill_covariates`` or ``aggregate`` by
        keyword), backtest, fit, and return ``self``.  ``progress(stage, epoch, epochs,
        loss, val_loss)`` is called after each epoch of the RNN's fits (stage
        ``"backtest"`` or ``"final"``), as :meth:`backtest` and :func:`tune` take theirs.

        With ``mlflow_uri`` set, the tracking store is opened first (a bad URI or a
        missing extra: a ``ConfigError`` before any training); nothing is logged until
        :meth:`save`."""
        from forecaster.training.runtime import quiet_tensorflow
        from forecaster.runs.tracking import open_tracking

        quiet_tensorflow()  # before anything imports TensorFlow: no C++ logging on stderr
        from forecaster.data.readers import fingerprint
        from forecaster.pipeline.inputs import load_panel
        from forecaster.pipeline.train import fit_run

        _check_data_settings(data_settings)
        cfg = self._resolve({"target": target, "time_col": time_col, "id_col": id_col,
                             "freq": freq, **data_settings})
        if cfg.training.distribute != "none":
            raise ConfigError("`distribute` applies to `forecast train` only; the Python "
                              "API trains in one process.")
        self._tracker = open_tracking(cfg)  # a bad mlflow_uri fails now, not after training
        panel = load_panel(data, cfg)
        self._source = fingerprint(data)
        self._set(fit_run(panel, cfg, progress=progress))
        self.mlflow_run_id_ = None  # set by save() when it logs
        return self

    def _set(self, run) -> None:
        self.run_, self.config_ = run, run.cfg
        self._adopt(run.model.model_ if run.deployed is None else run.deployed, run.state,
                    list(run.model.lookbacks_))
        self.deployed_ = run.deployed_name
        self.leaderboard_ = None if run.evaluation is None else run.evaluation.to_frame()
        self.notes_ = list(run.notes)

    def _adopt(self, network, state, lookbacks) -> None:
        self.model_, self.state_ = network, state
        self.season_, self.window_, self.horizon_ = state.season, state.window, state.horizon
        self.levels_ = list(state.levels) if state.conformal else []
        self.lookbacks_ = list(lookbacks) or [state.window]

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise ConfigError("this Forecaster is not fitted yet: call fit(data) or "
                              "forecaster.load(run_dir) first.")

    # -- forecasting ------------------------------------------------------------------
    def predict(self, horizon: int | None = None, *, levels=None, quantiles=None,
                allow_negative: bool = False, new_data=None, future=None,
                output_format: str = "forecaster") -> pd.DataFrame:
        """Forecast ``horizon`` steps (default: the trained horizon) after the end of every
        series: a long frame ``series_id, timestamp, forecast, lower_80, upper_80, …``
        (intervals of ``levels``: default every calibrated level, any other in (0, 100)
        from the stored calibration residuals), as ``forecast predict`` writes it, with a
        ``q_<p>`` column per predictive quantile of ``quantiles`` (e.g. ``[0.1, 0.5,
        0.9]``).  A model fitted on non-negative data forecasts no negative value or
        bound unless ``allow_negative``.

        ``new_data`` (a DataFrame or a path, in the columns the model was fitted on):
        forecast its series from *its* ends without retraining — the rows after the fitted
        data's end or a whole newer history of known series (saved scalers), or series
        never seen (a window of points at least; scaler fitted on their history). A gap,
        another frequency, or data ending before the fitted end is a ``DataError`` naming
        the series. The fitted state is left as it is.

        ``future`` (a DataFrame or a path): the values of the future covariates over the
        horizon, for a model fitted with ``future_covariates`` (see ``forecast predict
        --future``).  Both may name their columns as Nixtla does (``unique_id``, ``ds``,
        ``y``) where the fitted columns are absent.

        ``output_format="nixtla"``: the same numbers in Nixtla's columns, ``unique_id, ds,
        <model>, <model>-lo-80, <model>-hi-80, …`` (``<model>``: ``deployed_``), as
        ``forecast predict --output-format nixtla`` writes them."""
        from forecaster.pipeline.future import read_future
        from forecaster.pipeline.nixtla import laid_out
        from forecaster.pipeline.predict import forecast_from, moved_state
        from forecaster.runs.record import deploys_network

        self._check_fitted()
        laid_out(pd.DataFrame(), output_format, self.deployed_)  # a bad name fails first
        state, notes = self.state_, []
        data = self.config_.data if self.config_ else None
        if new_data is not None:
            state, notes = moved_state(state, new_data, data,
                                       network=deploys_network(self.deployed_))
        horizon = self.horizon_ if horizon is None else horizon
        ahead, more = read_future(future, state, horizon, data)  # (None, []) without any
        notes = notes + more
        frame, more = forecast_from(self.model_, state, horizon, levels=levels, ahead=ahead,
                                    quantiles=quantiles, allow_negative=allow_negative)
        self.predict_notes_ = notes + more
        return laid_out(frame, output_format, self.deployed_)

    # -- backtesting ------------------------------------------------------------------
    def backtest(self, data, *, models=None, horizon=None, folds=None, step=None,
                 holdout=None, target=None, time_col=None, id_col=None, freq=None,
                 progress=None, **data_settings):
        """Backtest this configuration of the RNN against the baselines on the same
        rolling-origin folds of ``data``, as ``forecast evaluate`` does, and return the
        :class:`~forecaster.pipeline.evaluate.EvaluationResult` (``.to_frame()``: the
        leaderboard; ``.best``; ``.folds``; ``.backtest.frame``: every forecast).

        ``models``: names among ``rnn`` and the baselines (default: all); ``horizon``
        (default: one season), ``folds`` (3) and ``step`` (the horizon) place the origins;
        ``holdout=H`` scores the last ``H`` points once instead. ``progress(model, fold,
        folds, seconds)`` is called after each fold. Nothing is written and ``self`` is
        not fitted by it; with ``mlflow_uri`` set, the evaluation is logged as ``forecast
        evaluate --mlflow`` logs it (its files from a temporary folder), the store
        checked before the backtest."""
        from forecaster.pipeline.evaluate import plan_evaluation
        from forecaster.training.runtime import quiet_tensorflow
        from forecaster.runs.tracking import log_or_warn, open_tracking

        quiet_tensorflow()
        _check_data_settings(data_settings)
        cfg = self._resolve({"target": target, "time_col": time_col, "id_col": id_col,
                             "freq": freq, "horizon": horizon, "folds": folds,
                             **data_settings})
        tracker = open_tracking(cfg)  # a bad mlflow_uri fails before the backtest
        plan = plan_evaluation(data, cfg, models=models, holdout=holdout, step=step)
        result = plan.run(progress=progress)
        log_or_warn(tracker, lambda client: _log_evaluation(client, data, cfg, result),
                    "the evaluation", "returned")
        return result

    # -- runs -------------------------------------------------------------------------
    def save(self, runs_dir: str | Path = "runs", *, name: str | None = None) -> Path:
        """Write the fitted run into ``runs_dir`` in the command line's format (a new
        ``<time>-<name>-<kind>`` folder, pointed at by ``runs_dir/latest``) and return its
        path: ``forecast predict --runs-dir runs_dir`` and ``forecast report`` use it.

        With ``mlflow_uri`` set, the saved run is then logged as ``forecast train
        --mlflow`` logs it (its id in ``mlflow_run_id_``); a logging failure is a
        :class:`~forecaster.runs.tracking.TrackingWarning` and the run is kept."""
        from forecaster.runs import artifacts
        from forecaster.pipeline.train import save_run
        from forecaster.runs.tracking import log_or_warn, log_train

        self._check_fitted()
        if getattr(self, "run_", None) is None:
            raise ConfigError("a loaded run is saved already (it is its run directory); "
                              "fit() to make a new one.")
        run_id = artifacts.run_name(name or Path(self._source["name"]).stem,
                                    self.config_.model.kind)
        run_dir = save_run(self.run_, Path(runs_dir), run_id, self._source)
        self.mlflow_run_id_ = log_or_warn(
            getattr(self, "_tracker", None), lambda client: log_train(
                self.config_.tracking.mlflow_uri, run_dir, self.config_, client=client),
            f"run {run_dir.name}")
        return run_dir

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={v!r}" for k, v in self.settings.items())
        return f"Forecaster({settings})"


def _log_evaluation(client, data, cfg, result) -> str:
    """Log an evaluation as ``forecast evaluate`` does: its files written to a temporary
    folder named as the command's default ``--out`` would be."""
    import tempfile

    from forecaster.runs import artifacts
    from forecaster.runs.tracking import experiment_name, log_evaluate

    with tempfile.TemporaryDirectory(prefix="forecast-evaluate-") as tmp:
        out = Path(tmp) / artifacts.run_name(experiment_name(data))
        result.write(out)
        return log_evaluate(cfg.tracking.mlflow_uri, data, cfg, out, client=client,
                            kept=False)


def _check_data_settings(settings: dict) -> None:
    for key in settings:
        if key not in DATA_SETTINGS:
            raise ConfigError(f"only data settings go with the data; {key!r} belongs to "
                              f"Forecaster({key}=…).")


def evaluate(data, *, models=None, horizon=None, folds=None, step=None, holdout=None,
             profile: str = "default", config: str | Path | None = None, progress=None,
             target=None, time_col=None, id_col=None, freq=None, **settings):
    """``forecast evaluate`` from Python: backtest ``models`` (default: the RNN and every
    baseline) on the same folds of ``data`` (a DataFrame or a path) and return the
    leaderboard object (``.to_frame()``, ``.best``, ``.folds``). Settings are named like
    the flags (``ensemble=1``, ``epochs=20``, ``season=12``, ``fill="zero"`` …); see
    :meth:`Forecaster.backtest` for the fold arguments; ``mlflow_uri=URI`` logs the
    evaluation as ``forecast evaluate --mlflow URI`` does."""
    data_settings = {k: settings.pop(k) for k in list(settings) if k in DATA_SETTINGS}
    return Forecaster(profile=profile, config=config, **settings).backtest(
        data, models=models, horizon=horizon, folds=folds, step=step, holdout=holdout,
        target=target, time_col=time_col, id_col=id_col, freq=freq, progress=progress,
        **data_settings)


def tune(data, *, trials: int = 20, timeout: float | None = None, metric: str = "mase",
         storage: str | None = None, study: str = "forecaster", space=None,
         holdout: int | None = None, folds: int | None = None, horizon: int | None = None,
         runs_dir: str | Path = "runs", profile: str = "default",
         config: str | Path | None = None, progress=None, target=None, time_col=None,
         id_col=None, freq=None, **settings):
    """``forecast tune`` from Python: search the RNN's configuration on the backtest of
    ``data`` and return the study's result (``.rows`` best first, ``.best``,
    ``.best_settings``, ``.table()``, ``.best_config``).  Train the winner with
    ``Forecaster(**result.best_settings, …)``.  ``space``: a ``--space`` TOML path or a
    dict in the same form; ``storage`` defaults to ``sqlite:///<runs_dir>/tune.db`` and the
    same ``study`` name resumes; ``progress(row, finished, trials)`` after each trial.
    ``mlflow_uri=URI`` logs the study as ``forecast tune --mlflow URI`` does (a parent
    run with best.toml and trials.csv, a nested run per trial; the store checked before
    the first trial); a logging failure is a warning, the result returned all the same."""
    from forecaster.pipeline.search_space import parse_space
    from forecaster.pipeline.tune import default_storage, plan_tune, tune as run_tune
    from forecaster.pipeline.tune import log_study
    from forecaster.runs.tracking import log_or_warn, open_tracking

    data_settings = {k: settings.pop(k) for k in list(settings) if k in DATA_SETTINGS}
    model = Forecaster(profile=profile, config=config, horizon=horizon, **settings)
    cfg = model._resolve({**data_settings, **{k: v for k, v in dict(
        target=target, time_col=time_col, id_col=id_col, freq=freq).items() if v is not None}})
    tracker = open_tracking(cfg)  # a bad mlflow_uri fails before the first trial
    plan = plan_tune(data, cfg, space_path=space if isinstance(space, (str, Path)) else None,
                     holdout=holdout, folds=folds, metric=metric, quick=profile == "quick")
    if isinstance(space, dict):
        from dataclasses import replace

        plan = replace(plan, space=parse_space(dict(space), plan.space))
        plan.protocol["space"] = plan.space.describe()
    result = run_tune(plan, trials=trials, timeout=timeout, study_name=study,
                      storage=storage or default_storage(Path(runs_dir)), progress=progress)
    log_or_warn(tracker, lambda client: log_study(cfg.tracking.mlflow_uri, data, result,
                                                  client=client), f"study {study!r}")
    return result


def load(path: str | Path) -> Forecaster:
    """A :class:`Forecaster` from a run directory (or a runs directory: its ``latest``),
    written by ``forecast train`` or :meth:`Forecaster.save`; the model is loaded safely
    and the run's integrity checked, as ``forecast predict`` does."""
    from forecaster.runs import artifacts
    from forecaster.pipeline.predict import load_run_model
    from forecaster.runs.ids import resolve_run
    from forecaster.runs.record import RunRecord

    path = Path(path)
    if not path.is_dir():
        raise RunNotFoundError(f"run directory must exist. Got {path} (no such directory).")
    if (path / "run.json").exists():
        path = resolve_run(path.parent, str(path))
    else:  # a runs directory: its latest run
        path = resolve_run(path, artifacts.LATEST)
    record = RunRecord.load(path)
    network = load_run_model(record)  # a network imports the backend as it loads
    config = path / "config.toml"
    out = Forecaster.__new__(Forecaster)
    out.profile, out.config, out.settings = "default", None, {}
    out.run_, out.run_dir_ = None, path
    out.config_ = load_config(config) if config.is_file() else None
    out._adopt(network, record.state, list(record.info.lookbacks))
    out.deployed_ = record.info.deployed or "rnn"
    out.leaderboard_ = record.leaderboard()
    out.notes_ = list(record.state.notes)
    return out
