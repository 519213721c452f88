"""A saved run as typed objects, TensorFlow-free: ``run.json`` (:class:`RunInfo`),
``data.json`` (:class:`DataInfo`), ``preprocessing.json``
(:class:`~forecaster.runs.forecast_state.Preprocessing`) and the optional
``metrics.json``, read and checked once in :meth:`RunRecord.load` — by ``forecast
predict``, ``forecast report`` and :func:`forecaster.load` alike.

Each of these files has one schema: its record's fields, written only by its ``to_json``
(``forecast train``) and read only by its ``from_json`` (every reader), so that
docs/run-format.md, which ``tests/test_run_format_doc.py`` checks against a real run,
describes one thing.

Checks on load: both files are regular JSON objects within the size limits; the model and
preprocessing files still have the sha256 that run.json recorded; every field has the
right type; preprocessing.json is valid field by field and agrees with run.json on the
window and horizon.  Any problem is an :class:`~forecaster.errors.ArtifactError` naming
the file and the field.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, fields
from pathlib import Path

from forecaster.runs import artifacts
from forecaster.errors import ArtifactError
from forecaster.runs.forecast_state import Preprocessing

#: how a report names the version fields of run.json; ``backend_version`` is written
#: under ``<keras_backend>_version`` (``tensorflow_version`` or ``jax_version``)
BACKEND_LABELS = {"tensorflow": "TensorFlow", "jax": "JAX"}


def deploys_network(deployed: str | None) -> bool:
    """Whether a run's ``deployed`` model (run.json's field, or a fitted
    :class:`~forecaster.Forecaster`'s ``deployed_``) is its network rather than a baseline
    that ``--select best`` deployed; runs written before ``deployed`` was recorded (None)
    always forecast with the network."""
    return deployed in (None, "rnn")


class _Fields:
    """Typed reads of one JSON object's keys (``None`` where the key is absent or null);
    a value of the wrong type is an :class:`ArtifactError` naming the file and the key.
    Files from elsewhere are untrusted: every reader goes through these checks."""

    def __init__(self, data: dict, where: str):
        if not isinstance(data, dict):
            raise ArtifactError(f"{where} must hold a JSON object. Got {type(data).__name__}.")
        self.data, self.where = data, where

    def bad(self, key: str, expected: str):
        raise ArtifactError(f"{self.where}: `{key}` must be {expected}. "
                            f"Got {self.data[key]!r:.60}.")

    def text(self, key: str) -> str | None:
        value = self.data.get(key)
        if value is not None and not isinstance(value, str):
            self.bad(key, "a string")
        return value

    def integer(self, key: str, low: int = 0) -> int | None:
        value = self.data.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value < low):
            self.bad(key, f"an integer >= {low}")
        return value

    def number(self, key: str) -> float | None:
        """A number as a float; a non-finite one (NaN, infinity) reads as None."""
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.bad(key, "a number")
        return float(value) if math.isfinite(value) else None

    def mapping(self, key: str) -> dict | None:
        value = self.data.get(key)
        if value is not None and not isinstance(value, dict):
            self.bad(key, "an object")
        return value

    def texts(self, key: str) -> tuple:
        value = self.data.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.bad(key, "a list of strings")
        return tuple(value)

    def lengths(self, key: str) -> tuple:
        value = self.data.get(key) or []
        if not isinstance(value, list) or not all(
                isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value):
            self.bad(key, "a list of positive integers")
        return tuple(value)


@dataclass(frozen=True)
class RunInfo:
    """``run.json``, one field per key in the order written (``None`` where a run written
    by an older version lacks one): what trained, how, on which libraries, and the sha256
    of the files a forecast reads."""

    id: str | None = None
    created: str | None = None  # ISO time, UTC
    forecaster_version: str | None = None
    model: str | None = None  # the network's kind
    deployed: str | None = None  # what forecasts: "rnn" or a baseline (--select best)
    selection: dict | None = None  # --select best's choice (Selection.to_json), or None
    device: str | None = None
    seed: int | None = None
    window: int | None = None
    lookbacks: tuple = ()
    horizon: int | None = None
    season: int | None = None
    season_origin: str | None = None
    scaling: str | None = None
    log_scale_series: int | None = None
    box_cox_series: int | None = None
    batch_size: int | None = None
    epochs_run: int | None = None
    best_epoch: int | None = None
    val_loss: float | None = None
    final_epochs: int | None = None
    train_seconds: float | None = None
    total_seconds: float | None = None
    train_windows: int | None = None
    distribute: str | None = None
    replicas: int | None = None
    workers: int | None = None
    keras_backend: str | None = None
    backend_version: str | None = None  # written as "<keras_backend>_version"
    keras_version: str | None = None
    python: str | None = None
    sha256: dict | None = None  # {file: sha256}, checked whenever the run is loaded

    @property
    def network_deployed(self) -> bool:
        """Whether the run forecasts with its network (not a baseline ``--select best``
        deployed); runs written before ``deployed`` was recorded always did."""
        return deploys_network(self.deployed)

    @property
    def forecasts_with(self) -> str | None:
        """What the run forecasts with: the deployed baseline (``--select best``), else
        the network's kind (``tanh_cell``, ``lstm`` …) rather than a bare ``rnn``."""
        return self.deployed if not self.network_deployed else self.model or self.deployed

    @property
    def selection_reason(self) -> str | None:
        """Why ``--select best`` deployed what it did (None without a selection)."""
        reason = (self.selection or {}).get("reason")
        return reason if isinstance(reason, str) and reason else None

    @property
    def versions(self) -> tuple:
        """``((label, version), …)`` of the libraries that trained the run; runs written
        before ``keras_backend`` was recorded ran TensorFlow."""
        backend = BACKEND_LABELS.get(self.keras_backend or "tensorflow")
        pairs = (("forecaster", self.forecaster_version), (backend, self.backend_version),
                 ("Keras", self.keras_version), ("Keras backend", self.keras_backend))
        return tuple((label, value) for label, value in pairs if label and value)

    def to_json(self) -> dict:
        """run.json as ``forecast train`` writes it: every key, in the fields' order."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            key = f"{self.keras_backend}_version" if f.name == "backend_version" else f.name
            out[key] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_json(cls, data: dict, where: str = "run.json") -> "RunInfo":
        """run.json checked key by key (an :class:`ArtifactError` naming the key)."""
        f = _Fields(data, where)
        deployed = f.text("deployed")
        if deployed is not None and deployed != "rnn":
            from forecaster.models.registry import NAMES

            if deployed not in NAMES:
                f.bad("deployed", "rnn or a baseline (" + ", ".join(NAMES) + ")")
        backend = f.text("keras_backend")
        return cls(
            id=f.text("id"), created=f.text("created"),
            forecaster_version=f.text("forecaster_version"), model=f.text("model"),
            deployed=deployed, selection=f.mapping("selection"), device=f.text("device"),
            seed=f.integer("seed"), window=f.integer("window", 1),
            lookbacks=f.lengths("lookbacks"), horizon=f.integer("horizon", 1),
            season=f.integer("season", 1), season_origin=f.text("season_origin"),
            scaling=f.text("scaling"), log_scale_series=f.integer("log_scale_series"),
            box_cox_series=f.integer("box_cox_series"),
            batch_size=f.integer("batch_size", 1), epochs_run=f.integer("epochs_run"),
            best_epoch=f.integer("best_epoch"), val_loss=f.number("val_loss"),
            final_epochs=f.integer("final_epochs"), train_seconds=f.number("train_seconds"),
            total_seconds=f.number("total_seconds"),
            train_windows=f.integer("train_windows"), distribute=f.text("distribute"),
            replicas=f.integer("replicas", 1), workers=f.integer("workers", 1),
            keras_backend=backend,
            backend_version=f.text(f"{backend or 'tensorflow'}_version"),
            keras_version=f.text("keras_version"), python=f.text("python"),
            sha256=f.mapping("sha256"))


@dataclass(frozen=True)
class DataInfo:
    """``data.json``: the training data's file (:func:`forecaster.data.readers.fingerprint`),
    what was read from it (:meth:`forecaster.data.panel.Panel.describe`) and the run's
    notes, one field per key in the order written."""

    path: str | None = None  # None for a DataFrame
    name: str | None = None
    sha256: str | None = None
    bytes: int | None = None
    rows: int | None = None
    series: int | None = None
    frequency: str | None = None
    start: str | None = None
    end: str | None = None
    target: str | None = None
    time_col: str | None = None
    id_col: str | None = None
    min_length: int | None = None
    max_length: int | None = None
    covariates: dict | None = None  # the covariate spec; the key is written only with one
    notes: tuple = ()

    @property
    def file_name(self) -> str | None:
        """The data file's name (its path's last part where ``name`` is missing)."""
        return self.name or (Path(self.path).name if self.path else None)

    def to_json(self) -> dict:
        """data.json as ``forecast train`` writes it."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        if out["covariates"] is None:
            del out["covariates"]
        out["notes"] = list(self.notes)
        return out

    @classmethod
    def from_json(cls, data: dict, where: str = "data.json") -> "DataInfo":
        """data.json checked key by key (an :class:`ArtifactError` naming the key)."""
        f = _Fields(data, where)
        return cls(path=f.text("path"), name=f.text("name"), sha256=f.text("sha256"),
                   bytes=f.integer("bytes"), rows=f.integer("rows"),
                   series=f.integer("series"), frequency=f.text("frequency"),
                   start=f.text("start"), end=f.text("end"), target=f.text("target"),
                   time_col=f.text("time_col"), id_col=f.text("id_col"),
                   min_length=f.integer("min_length"), max_length=f.integer("max_length"),
                   covariates=f.mapping("covariates"), notes=f.texts("notes"))

    @classmethod
    def read(cls, run_dir) -> "DataInfo | None":
        """``run_dir``'s data.json, checked; None when the run has none."""
        path = Path(run_dir) / "data.json"
        if not os.path.lexists(path):
            return None
        return cls.from_json(artifacts.read_json(path),
                             f"data.json in run {Path(run_dir).name!r}")


@dataclass
class RunRecord:
    """A run directory's records (not its network: see
    :func:`forecaster.pipeline.predict.load_run_model`)."""

    path: Path
    info: RunInfo
    state: Preprocessing

    @classmethod
    def load(cls, run_dir) -> "RunRecord":
        """Read and check ``run.json`` and ``preprocessing.json`` (see the module doc)."""
        run_dir = Path(run_dir)
        raw = _required(run_dir, "run.json")
        artifacts.check_integrity(run_dir, raw)
        info = RunInfo.from_json(raw, f"run.json in run {run_dir.name!r}")
        if not info.network_deployed:  # the baseline it forecasts with must be there
            _required(run_dir, "baseline.json")
            from forecaster.models.sklearn_checks import ESTIMATORS

            if info.deployed in ESTIMATORS and not os.path.lexists(
                    run_dir / "baseline.skops"):
                raise ArtifactError(f"run {run_dir.name!r} deploys {info.deployed} but has "
                                    "no baseline.skops (its fitted scikit-learn model).")
        state = Preprocessing.from_json(_required(run_dir, "preprocessing.json"))
        for key in ("window", "horizon"):
            if getattr(info, key) is not None and getattr(info, key) != getattr(state, key):
                raise ArtifactError(
                    f"preprocessing.json in run {run_dir.name!r} says {key} "
                    f"{getattr(state, key)}, run.json says {getattr(info, key)!r}.")
        return cls(path=run_dir, info=info, state=state)

    def metrics(self) -> dict | None:
        """``metrics.json`` (the backtest), or None when the run has none."""
        path = self.path / "metrics.json"
        return artifacts.read_json(path) if os.path.lexists(path) else None

    def leaderboard(self):
        """The backtest leaderboard as a numeric DataFrame, or None."""
        from forecaster.evaluation.leaderboard import numeric_table

        rows = (self.metrics() or {}).get("leaderboard")
        return numeric_table(rows) if isinstance(rows, list) and rows else None


def _required(run_dir: Path, name: str) -> dict:
    path = run_dir / name
    if not os.path.lexists(path):
        raise ArtifactError(
            f"run directory {run_dir} must contain {name}. Got no such file (the run is "
            "incomplete or was not written by `forecast train`).")
    return artifacts.read_json(path)
