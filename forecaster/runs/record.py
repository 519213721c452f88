"""A saved run as typed objects, TensorFlow-free: ``run.json`` (:class:`RunInfo`),
``preprocessing.json`` (:class:`~forecaster.runs.forecast_state.Preprocessing`) and the optional
``metrics.json``, read and checked once in :meth:`RunRecord.load` — by ``forecast
predict``, ``forecast report`` and :func:`forecaster.load` alike.

Checks on load: both files are regular JSON objects within the size limits; the model and
preprocessing files still have the sha256 that run.json recorded; every field that is
used has the right type; preprocessing.json is valid field by field and agrees with
run.json on the window and horizon.  Any problem is an
:class:`~forecaster.errors.ArtifactError` naming the file and the field.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from forecaster.runs import artifacts
from forecaster.errors import ArtifactError
from forecaster.runs.forecast_state import Preprocessing

#: version fields of run.json and how a report names them
VERSIONS = (("forecaster", "forecaster_version"), ("TensorFlow", "tensorflow_version"),
            ("JAX", "jax_version"), ("Keras", "keras_version"),
            ("Keras backend", "keras_backend"))


def deploys_network(deployed: str | None) -> bool:
    """Whether a run's ``deployed`` model (run.json's field, or a fitted
    :class:`~forecaster.Forecaster`'s ``deployed_``) is its network rather than a baseline
    that ``--select best`` deployed; runs written before ``deployed`` was recorded (None)
    always forecast with the network."""
    return deployed in (None, "rnn")


@dataclass(frozen=True)
class RunInfo:
    """The fields of ``run.json`` that forecaster reads (``None`` where a run written by an
    older version lacks one); ``raw`` keeps the whole object."""

    id: str | None = None
    created: str | None = None
    model: str | None = None
    deployed: str | None = None  # what forecasts: "rnn" or a baseline (--select best)
    device: str | None = None
    window: int | None = None
    horizon: int | None = None
    season: int | None = None
    seed: int | None = None
    epochs_run: int | None = None
    best_epoch: int | None = None
    val_loss: float | None = None
    train_seconds: float | None = None
    lookbacks: tuple = ()
    versions: tuple = ()  # ((label, version), …) of the libraries that trained it
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def network_deployed(self) -> bool:
        """Whether the run forecasts with its network (not a baseline ``--select best``
        deployed); runs written before ``deployed`` was recorded always did."""
        return deploys_network(self.deployed)

    @classmethod
    def from_json(cls, data: dict, where: str = "run.json") -> "RunInfo":
        def bad(key, expected):
            raise ArtifactError(f"{where}: `{key}` must be {expected}. Got {data[key]!r:.60}.")

        def text(key):
            value = data.get(key)
            if value is not None and not isinstance(value, str):
                bad(key, "a string")
            return value

        def integer(key, low=0):
            value = data.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < low):
                bad(key, f"an integer >= {low}")
            return value

        def number(key):
            value = data.get(key)
            if value is None:
                return None
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                bad(key, "a number")
            return float(value) if math.isfinite(value) else None

        lookbacks = data.get("lookbacks") or []
        if not isinstance(lookbacks, list) or not all(
                isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in lookbacks):
            bad("lookbacks", "a list of positive integers")
        deployed = text("deployed")
        if deployed is not None and deployed != "rnn":
            from forecaster.models.registry import NAMES

            if deployed not in NAMES:
                bad("deployed", "rnn or a baseline (" + ", ".join(NAMES) + ")")
        versions = tuple((label, str(data[key])) for label, key in VERSIONS if data.get(key))
        return cls(id=text("id"), created=text("created"), model=text("model"),
                   deployed=deployed,
                   device=text("device"), window=integer("window", 1),
                   horizon=integer("horizon", 1), season=integer("season", 1),
                   seed=integer("seed"), epochs_run=integer("epochs_run"),
                   best_epoch=integer("best_epoch"), val_loss=number("val_loss"),
                   train_seconds=number("train_seconds"), lookbacks=tuple(lookbacks),
                   versions=versions, raw=dict(data))


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
