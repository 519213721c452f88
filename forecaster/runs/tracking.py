"""MLflow tracking of ``forecast train``, ``evaluate`` and ``tune`` (``--mlflow URI`` or
``[tracking] mlflow_uri``).

Each command logs one MLflow run into the experiment named after its data (the file's
stem; ``dataframe`` for a frame): the resolved config flattened as parameters
(``model.units``, ``training.learning_rate`` …), every number of the backtest
leaderboard as a metric ``<model>.<metric>`` (``rnn.mase``, ``seasonal_naive.mase`` …),
and its files as artifacts (the run folder under ``run/``, an evaluation's folder under
``evaluation/``, the report under ``report/``).  ``tune`` logs one parent run holding
the best trial's config, score, ``best.toml`` and ``trials.csv``, with one nested run per
trial of the study (its settings, score, fold scores and state), so that MLflow's UI can
chart the search.

Why the split of errors: :func:`connect` runs before the command's work, so a missing
package (:data:`INSTALL_HINT`), an unknown scheme, an unreachable server or a database
that is not MLflow's fails in a second, as one line, before any training.  Logging runs
after the work is saved; the CLI then turns a failure into a warning (the run, the
evaluation or best.toml is kept either way), the Python API (:mod:`forecaster.api`) into
a :class:`TrackingWarning`.  Both open the store with :func:`open_tracking` and log with
the functions below.  MLflow is imported here only, lazily: it is an optional extra
(``pip install 'forecaster[mlflow]'``, mlflow-skinny).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from forecaster.errors import ConfigError, ForecastError
from forecaster.storage.sqlite import check_sqlite_file

INSTALL_HINT = "--mlflow needs the mlflow extra: pip install 'forecaster[mlflow]'"
#: MLflow's limits (mlflow.utils.validation): longer values are cut, longer keys hashed away
MAX_PARAM_VALUE = 6000
MAX_KEY = 250
BATCH = 100  # parameters and tags per log_batch call (metrics may be 1000)
#: tables every MLflow tracking database has: an SQLite file with other tables but not
#: these (an Optuna study, anything else) is refused untouched
MLFLOW_TABLES = {"experiments", "runs", "metrics", "params"}
#: tracking store schemes MLflow opens (a bare folder is MLflow's retired file store)
SCHEMES = ("sqlite", "http", "https", "postgresql", "mysql", "mssql", "databricks", "file")


class TrackingError(ForecastError):
    """The MLflow tracking store could not be reached or refused what was logged."""


class TrackingWarning(UserWarning):
    """The Python API's ``warning: MLflow logging failed``: logging after the work was
    saved failed; the work (the run, the study) is kept and returned all the same."""


def experiment_name(data) -> str:
    """The experiment a command on ``data`` logs to: the file's stem, or ``dataframe``."""
    if isinstance(data, (str, os.PathLike)):
        return Path(data).stem or "data"
    return "dataframe"


def shown(uri: str) -> str:
    """``uri`` with any password replaced by ``***`` (for messages and parameters)."""
    try:
        parts = urlsplit(uri)
        if parts.password:
            host = parts.netloc.rsplit("@", 1)[1]
            return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))
    except ValueError:
        pass
    return uri


def _import_mlflow():
    try:
        import mlflow  # noqa: F401
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise ConfigError(INSTALL_HINT + ".") from None
    import logging

    # "Creating initial MLflow database tables…" and alembic's migrations: not our output
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return MlflowClient


def _check_sqlite(uri: str) -> None:
    """A local SQLite store must be absent (created), empty or MLflow's own database."""
    path = Path(uri[len("sqlite:///"):].split("?", 1)[0])
    if not str(path) or str(path) == ":memory:":
        raise ConfigError(f"MLflow tracking URI {uri!r} names no database file.")
    check_sqlite_file(path, MLFLOW_TABLES, f"MLflow tracking URI {uri!r}: {str(path)!r}")


def connect(uri: str):
    """An ``MlflowClient`` on ``uri`` that has answered once; a :class:`ConfigError`
    naming the problem otherwise.  Called before a command's work."""
    client_class = _import_mlflow()
    # a dead server: a few seconds, not MLflow's seven retries over four minutes; and no
    # usage telemetry from a command line tool (each only when the user has not chosen)
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    scheme = urlsplit(uri).scheme.split("+")[0].lower() if "://" in uri else ""
    if uri == "databricks" or scheme == "databricks":
        # the workspace of the default or a named profile: checked by MLflow on first use
        # (it needs the user's credentials), not by a connection made up front
        return client_class(tracking_uri=uri)
    if scheme not in SCHEMES:
        raise ConfigError(f"MLflow tracking URI {shown(uri)!r} must be a tracking store URI: "
                          "sqlite:///mlflow.db, http(s)://host:port, postgresql://… "
                          f"(schemes: {', '.join(SCHEMES)}).")
    if uri.startswith("sqlite:///"):
        _check_sqlite(uri)
    elif uri.startswith("sqlite:"):
        raise ConfigError(f"MLflow tracking URI {shown(uri)!r}: an SQLite store is "
                          "sqlite:///relative/path.db or sqlite:////absolute/path.db.")
    try:
        with _creating(uri):
            client = client_class(tracking_uri=uri)
            client.search_experiments(max_results=1)
    except ForecastError:
        raise
    except Exception as exc:  # MlflowException, OSError, sqlalchemy's errors
        raise ConfigError(f"MLflow tracking URI {shown(uri)!r}: cannot open the tracking "
                          f"store ({_first_line(exc)}).") from None
    return client


def open_tracking(cfg):
    """The MLflow client of ``cfg``'s tracking URI, checked before a command's work (a
    missing extra or a bad store: one line, nothing done), or None without one.  Used by
    the command line and the Python API alike."""
    return connect(cfg.tracking.mlflow_uri) if cfg.tracking.mlflow_uri else None


def failure_message(exc: BaseException, kept: str, how: str = "saved") -> str:
    """``MLflow logging failed: <why>; <kept> is <how> all the same.`` (one line)."""
    text = " ".join(str(exc).split())[:400] or type(exc).__name__
    return f"MLflow logging failed: {text}; {kept} is {how} all the same."


def log_or_warn(client, log, kept: str, how: str = "saved") -> str | None:
    """The Python API's way to log: ``log(client)`` after the work is done; its MLflow
    run id, or None without a ``client`` or when logging failed, which is a
    :class:`TrackingWarning` (``kept`` is not lost for it)."""
    if client is None:
        return None
    try:
        return log(client)
    except Exception as exc:
        import warnings

        warnings.warn(failure_message(exc, kept, how), TrackingWarning, stacklevel=3)
        return None


@contextlib.contextmanager
def _creating(uri: str):
    """For a local SQLite store, hold an exclusive ``flock`` on the database file while
    MLflow creates or migrates its tables: two commands starting on a new database at
    once would otherwise both run the migrations and one fail half way.  (SQLite's own
    locks are POSIX record locks, independent of ``flock``.)"""
    if not uri.startswith("sqlite:///"):
        yield
        return
    import fcntl

    path = Path(uri[len("sqlite:///"):].split("?", 1)[0])
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # empty: SQLite makes it a db
    except OSError as exc:
        raise ConfigError(f"MLflow tracking URI {uri!r}: cannot open {str(path)!r} "
                          f"({exc.strerror or exc}).") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:300].rstrip(".")


# -- what is logged --------------------------------------------------------------------------
def _key(text: str) -> str:
    """A valid MLflow key: letters, digits, ``_ - . /`` and spaces; at most 250 chars."""
    key = re.sub(r"[^A-Za-z0-9_\-. /]", "_", str(text))
    return key if len(key) <= MAX_KEY else key[:MAX_KEY - 9] + "~" + _digest(key)


def _digest(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()[:8]


def _value(value) -> str:
    """A parameter value as text (JSON for numbers, booleans and lists), cut to MLflow's
    6000 characters with a marker saying so."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if len(text) > MAX_PARAM_VALUE:
        text = text[:MAX_PARAM_VALUE - 20] + f"… ({len(text)} chars)"
    return text


def config_params(cfg) -> dict:
    """The resolved config (a :class:`~forecaster.config.Config`, or its dict as a run's
    config.toml holds it) flattened: ``{"model.units": "64", …}`` (the tracking URI's
    password, if any, masked)."""
    params = {}
    for section, values in (cfg if isinstance(cfg, dict) else cfg.to_dict()).items():
        if not isinstance(values, dict):
            continue
        for key, value in values.items():
            if section == "tracking" and isinstance(value, str):
                value = shown(value)
            params[_key(f"{section}.{key}")] = _value(value)
    return params


def leaderboard_metrics(rows) -> dict:
    """``{"<model>.<metric>": value}`` of a ``metrics.json`` leaderboard (finite numbers
    only: an undefined metric, such as a MAPE over zeros, is left out)."""
    out = {}
    for row in rows or []:
        if not isinstance(row, dict) or not isinstance(row.get("model"), str):
            continue
        for name, value in row.items():
            if (name != "model" and isinstance(value, (int, float))
                    and not isinstance(value, bool) and math.isfinite(value)):
                out[_key(f"{row['model']}.{name}")] = float(value)
    return out


def _leaderboard(folder: Path) -> list:
    path = Path(folder) / "metrics.json"
    if not path.is_file():
        return []
    from forecaster.runs import artifacts
    rows = artifacts.read_json(path).get("leaderboard")
    return rows if isinstance(rows, list) else []


def _log_run(client, experiment: str, *, name: str, params: dict, metrics: dict,
             tags: dict, artifacts: dict, parent: str | None = None,
             steps: dict | None = None, status: str = "FINISHED") -> str:
    """Create one MLflow run and log everything into it; its id."""
    import time

    from mlflow.entities import Metric, Param

    experiment_id = _experiment(client, experiment)
    tags = {"mlflow.runName": name, **tags}
    if parent is not None:
        tags["mlflow.parentRunId"] = parent
    run = client.create_run(experiment_id, run_name=name, tags={
        _key(k): str(v)[:8000] for k, v in tags.items()})
    run_id = run.info.run_id
    try:
        now = int(time.time() * 1000)
        entries = [Metric(k, v, now, 0) for k, v in metrics.items()]
        entries += [Metric(_key(k), float(v), now, step)
                    for k, values in (steps or {}).items() for step, v in enumerate(values)]
        items = [Param(k, v) for k, v in params.items()]
        for start in range(0, max(len(items), len(entries)), BATCH):
            client.log_batch(run_id, metrics=entries[start:start + BATCH],
                             params=items[start:start + BATCH])
        for where, paths in artifacts.items():
            for path in paths if isinstance(paths, (list, tuple)) else [paths]:
                if path is not None and Path(path).is_dir():
                    client.log_artifacts(run_id, str(path), artifact_path=where)
                elif path is not None and Path(path).is_file():
                    client.log_artifact(run_id, str(path), artifact_path=where)
        client.set_terminated(run_id, status)
    except BaseException:
        with contextlib.suppress(Exception):  # the store may be what failed
            client.set_terminated(run_id, "FAILED")
        raise
    return run_id


def _experiment(client, name: str) -> str:
    name = name[:500]
    found = client.get_experiment_by_name(name)
    if found is None:
        try:
            return client.create_experiment(name)
        except Exception:  # another command created it meanwhile
            found = client.get_experiment_by_name(name)
            if found is None:
                raise
    if found.lifecycle_stage == "deleted":  # deleted in the UI: bring it back, not fail
        client.restore_experiment(found.experiment_id)
    return found.experiment_id


def _guard(uri: str, what: str):
    """Run ``what()`` (logging); any failure becomes one :class:`TrackingError`."""
    try:
        return what()
    except ForecastError:
        raise
    except Exception as exc:
        raise TrackingError(f"MLflow ({shown(uri)}): {_first_line(exc)}") from None


# -- one function per command ----------------------------------------------------------------
def log_train(uri: str, run_dir, cfg=None, *, data=None, report_dir=None,
              client=None) -> str:
    """Log a saved run of ``forecast train`` on ``data`` (default: the file data.json
    names) with its config ``cfg`` (default: the run's config.toml as written, so that a
    run whose logging failed, or an older one, can be logged later); the MLflow run id."""
    from forecaster.runs import artifacts
    from forecaster.runs.record import DataInfo, RunInfo

    run_dir = Path(run_dir)
    info = RunInfo.from_json(artifacts.read_json(run_dir / "run.json"),
                             f"run.json in run {run_dir.name!r}")
    if cfg is None:
        cfg = _run_config(run_dir)
    source = DataInfo.read(run_dir) or DataInfo()
    params = config_params(cfg)
    for key in ("window", "horizon", "season", "lookbacks", "batch_size", "best_epoch",
                "deployed", "keras_backend", "forecaster_version"):
        if getattr(info, key) not in (None, ()):  # () : a run written before lookbacks
            params[f"run.{key}"] = _value(getattr(info, key))
    metrics = leaderboard_metrics(_leaderboard(run_dir))
    for key in ("val_loss", "epochs_run", "total_seconds"):
        if getattr(info, key) is not None:  # RunInfo reads a non-finite number as None
            metrics[f"train.{key}"] = float(getattr(info, key))
    tags = {"forecaster.command": "train", "forecaster.run_id": run_dir.name,
            "forecaster.run_dir": str(run_dir.resolve()),
            "forecaster.data": source.path or "",
            "forecaster.data_sha256": source.sha256 or "",
            "forecaster.model": (info.model if info.network_deployed else info.deployed)
            or ""}
    experiment = experiment_name(data if data is not None else source.path)
    return _guard(uri, lambda: _log_run(
        client or connect(uri), experiment, name=run_dir.name,
        params=params, metrics=metrics, tags=tags,
        artifacts={"run": run_dir, "report": report_dir}))


def _run_config(run_dir: Path) -> dict:
    import tomllib

    from forecaster.runs import artifacts
    from forecaster.errors import ArtifactError

    path = run_dir / "config.toml"
    artifacts.check_regular(path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"config.toml in run {run_dir.name!r} is not valid TOML: "
                            f"{exc}.") from None


def log_evaluate(uri: str, data, cfg, out_dir, *, report_dir=None, client=None,
                 kept: bool = True) -> str:
    """Log a ``forecast evaluate`` written to ``out_dir`` (metrics.json, folds.csv,
    backtest.csv); the MLflow run id.  ``kept=False``: ``out_dir`` is a temporary folder
    (the Python API's), so no ``forecaster.evaluation`` path is recorded."""
    from forecaster.runs import artifacts
    out_dir = Path(out_dir)
    params = config_params(cfg)
    metrics_json = artifacts.read_json(out_dir / "metrics.json")
    for key, value in (metrics_json.get("protocol") or {}).items():
        params[_key(f"protocol.{key}")] = _value(value)
    rows = metrics_json.get("leaderboard") or []
    params["models"] = _value(",".join(str(r.get("model")) for r in rows
                                       if isinstance(r, dict)))
    tags = {"forecaster.command": "evaluate",
            "forecaster.evaluation": str(out_dir.resolve()) if kept else "",
            "forecaster.data": str(data) if isinstance(data, (str, os.PathLike)) else "",
            "forecaster.best": str(metrics_json.get("best") or "")}
    return _guard(uri, lambda: _log_run(
        client or connect(uri), experiment_name(data), name=f"evaluate {out_dir.name}",
        params=params, metrics=leaderboard_metrics(rows), tags=tags,
        artifacts={"evaluation": out_dir, "report": report_dir}))


def log_tune(uri: str, data, result, *, files=(), client=None) -> str:
    """Log a ``forecast tune`` study (:class:`~forecaster.pipeline.tune.TuneResult`): a
    parent run with the best configuration and ``files`` (best.toml, trials.csv), then one
    nested run per trial of the study, oldest first; the parent's MLflow run id."""

    def log():
        mlflow_client = client or connect(uri)
        experiment = experiment_name(data)
        best = result.best
        params = config_params(result.best_config) if result.best_config else {}
        params.update({"tune.study": _value(result.study),
                       "tune.storage": _value(shown(result.storage)),
                       "tune.metric": result.metric, "tune.trials": str(len(result.rows))})
        metrics = {} if best is None else {f"best.{result.metric}": float(best["value"]),
                                           "best.trial": float(best["number"])}
        parent = _log_run(mlflow_client, experiment, name=f"tune {result.study}",
                          params=params, metrics=metrics,
                          tags={"forecaster.command": "tune",
                                "forecaster.study": result.study},
                          artifacts={"tune": list(files)})
        for row in sorted(result.rows, key=lambda r: r["number"]):
            _log_trial(mlflow_client, experiment, result, row, parent)
        return parent

    return _guard(uri, log)


def _log_trial(client, experiment: str, result, row: dict, parent: str) -> None:
    params = {**{_key(k): _value(v) for k, v in result.fixed.items()},
              **{_key(k): _value(v) for k, v in row["params"].items()}}
    value = row.get("value")
    metrics = {result.metric: float(value)} if isinstance(value, (int, float)) else {}
    _log_run(client, experiment, name=f"trial {row['number']}", params=params,
             metrics=metrics, steps={f"{result.metric}.fold": row.get("folds") or []},
             tags={"forecaster.command": "tune", "forecaster.trial": row["number"],
                   "forecaster.trial_state": row["state"],
                   **({"forecaster.error": row["error"]} if row.get("error") else {})},
             artifacts={}, parent=parent,
             status="FAILED" if row["state"] == "FAIL" else "FINISHED")
