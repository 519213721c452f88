"""The runs behind ``forecast serve``: finding one safely, describing it, and keeping the
loaded ones in a bounded cache.

Nothing here knows HTTP (:mod:`forecaster.serve.app` maps the errors to status codes) or
loads a network itself: a run is loaded with :func:`forecaster.load` and forecast with
:meth:`Forecaster.predict`, exactly as a notebook would, so the server answers what
``forecast predict`` writes whatever model a run deploys.

Safety: a run id from a request is a single file-name component (no ``/``, no leading
dot) or ``latest``, re-read on every request so that a new run is served without a
restart; the run's real path (symbolic links followed) must lie inside the runs
directory. Ids are resolved and runs listed by :mod:`forecaster.runs.ids`, as on the
command line (one resolver, one listing for both). A cached model is keyed by its run's real path *and* the size, times and inode
of every file a forecast reads (:func:`fingerprint`), so a run replaced or edited under
the same name is checked and loaded again; both routes check a run by :func:`verify`.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from forecaster.runs import artifacts
from forecaster.runs.ids import (BadRunId, OutsideRunsDir,  # noqa: F401 (serve.py's statuses)
                                 resolve_run, run_ids)
from forecaster.errors import ForecastError
from forecaster.runs.listing import deployed_mase

#: Loaded runs kept in memory by default (least recently used dropped first).
CACHE_SIZE = 4
#: At most this many series ids in ``GET /runs/{id}`` (the count is always given).
MAX_LISTED_SERIES = 1000


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def locate(runs_dir, run_id: str) -> Path:
    """The directory of run ``run_id`` (a run's name or ``latest``, never a path) in
    ``runs_dir``, by :func:`forecaster.runs.ids.resolve_run`, the command line's own
    resolver: :class:`BadRunId`, :class:`RunNotFoundError` or :class:`OutsideRunsDir`
    otherwise."""
    if not isinstance(run_id, str):
        raise BadRunId(f"run id must be text. Got {type(run_id).__name__}.")
    return resolve_run(Path(runs_dir), run_id, paths=False)


# -- descriptions (TensorFlow-free) -------------------------------------------------------
def _data_facts(run_dir: Path) -> dict | None:
    """What ``data.json`` says of the training data, without its path on the server."""
    from forecaster.runs.record import DataInfo

    data = DataInfo.read(run_dir)
    if data is None:
        return None
    return {k: getattr(data, k) for k in ("name", "rows", "series", "frequency", "start",
                                          "end")}


def _backtest(info, metrics: dict | None) -> dict | None:
    """The deployed model's backtest MASE (the ``rnn`` row unless run.json names another
    as ``deployed``, as ``forecast runs`` reads it) and the leaderboard's best model."""
    if not isinstance((metrics or {}).get("leaderboard"), list):
        return None
    return {"model": info.deployed or "rnn", "mase": deployed_mase(metrics, info.deployed),
            "best": metrics.get("best")}


def summary(run_dir: Path) -> dict:
    """One run as ``GET /runs`` lists it: id, created, data, the model it forecasts with
    (the deployed baseline, else the RNN's kind), backtest MASE."""
    from forecaster.runs.record import RunInfo  # numpy and pandas: not for `forecast --help`

    run_dir = Path(run_dir)
    info = RunInfo.from_json(artifacts.read_json(run_dir / "run.json"),
                             f"run.json in run {run_dir.name!r}")
    metrics_path = run_dir / "metrics.json"
    metrics = artifacts.read_json(metrics_path) if os.path.lexists(metrics_path) else None
    return {"id": run_dir.name, "created": info.created, "model": info.forecasts_with,
            "horizon": info.horizon, "data": _data_facts(run_dir),
            "backtest": _backtest(info, metrics)}


def list_runs(runs_dir) -> dict:
    """Every complete run in ``runs_dir``, newest first, and which one ``latest`` is; a
    run whose records cannot be read is listed with its ``error``."""
    root = Path(runs_dir)
    try:
        latest = locate(root, artifacts.LATEST).name
    except ForecastError:
        latest = None
    runs = []
    for run_id in reversed(run_ids(root)):  # the ids an unknown id's hint names
        entry = root / run_id
        try:
            runs.append(summary(entry))
        except ForecastError as exc:
            runs.append({"id": entry.name, "error": one_line(exc)})
    return {"latest": latest, "runs": runs}


def details(run_dir: Path) -> dict:
    """``GET /runs/{id}``: the summary, the checked records (columns a request's new data
    must have, frequency, levels, series) and the backtest leaderboard."""
    record = verify(run_dir)  # what a forecast from the run would check, too
    state = record.state
    spec = state.encoder.spec if state.encoder is not None else None
    ids = [s.id for s in state.series]
    out = summary(run_dir)
    out.update({
        "window": state.window, "season": state.season,
        "frequency": state.axis.describe(),
        "levels": list(state.levels) if state.conformal else [],
        "columns": {"time": state.time_col, "target": state.target,
                    "series": state.id_col,
                    "past_covariates": list(spec.past) if spec else [],
                    "future_covariates": list(spec.future) if spec else [],
                    "static_covariates": list(spec.static) if spec else []},
        "series_count": len(ids), "series": ids[:MAX_LISTED_SERIES],
        "versions": dict(record.info.versions),
        "leaderboard": (record.metrics() or {}).get("leaderboard"),
    })
    return out


# -- the cache of loaded runs -------------------------------------------------------------
@dataclass
class LoadedRun:
    """A run loaded for forecasting: its checked records and its :class:`Forecaster`."""

    run_dir: Path
    record: object  # forecaster.runs.record.RunRecord
    model: object  # forecaster.api.Forecaster


@dataclass
class _Slot:
    lock: threading.Lock = field(default_factory=threading.Lock)
    loaded: LoadedRun | None = None


#: The files a forecast from a run reads: a change to any of them (its size, times or
#: inode) gives the run a new cache key, so the run is checked and loaded again.
RUN_FILES = ("run.json", "preprocessing.json", "model.keras", "config.toml",
             *artifacts.DEPLOYED)


def verify(run_dir: Path):
    """The one check of a run that both ``GET /runs/{id}`` and ``POST
    /runs/{id}/forecast`` pass, so the two agree: its records
    (:meth:`~forecaster.runs.record.RunRecord.load`: every hashed file unchanged, the
    deployed model's files present) and a deployed baseline's content
    (:func:`~forecaster.pipeline.predict.load_baseline`, which checks every array before
    anything runs); returns the :class:`~forecaster.runs.record.RunRecord`."""
    from forecaster.runs.record import RunRecord

    record = RunRecord.load(run_dir)
    if not record.info.network_deployed:
        from forecaster.pipeline.predict import load_baseline

        load_baseline(record)
    return record


def fingerprint(run_dir: Path) -> tuple:
    """The cache key of a run: its real path, the size, mtime, ctime and inode of each of
    :data:`RUN_FILES` (None when absent) and its run.json's sha256.  The ctime changes on
    every write, even one that puts the mtime back."""
    run_dir = Path(run_dir)
    artifacts.check_regular(run_dir / "run.json")
    stamps = []
    for name in RUN_FILES:
        try:
            info = os.lstat(run_dir / name)
        except FileNotFoundError:
            stamps.append((name, None))
            continue
        stamps.append((name, info.st_size, info.st_mtime_ns, info.st_ctime_ns,
                       info.st_ino))
    return (str(run_dir.resolve()), tuple(stamps), artifacts.file_sha256(run_dir / "run.json"))


def _load(run_dir: Path) -> LoadedRun:
    from forecaster.api import load

    record = verify(run_dir)
    return LoadedRun(run_dir=Path(run_dir), record=record, model=load(run_dir))


class RunCache:
    """At most ``size`` loaded runs, least recently used dropped first; thread-safe.

    :meth:`use` holds the run's own lock while the caller forecasts: one forecast per
    model at a time (a :class:`Forecaster` keeps the notes of its last predict), while
    other runs forecast in parallel. A run is loaded once however many requests ask for
    it at the same moment; loading is serialised across runs (Keras builds models in
    shared global state). A run that fails to load is not cached."""

    def __init__(self, size: int = CACHE_SIZE, loader=_load):
        if size < 1:
            raise ValueError(f"cache size must be at least 1. Got {size}.")
        self.size, self._loader = size, loader
        self._lock, self._load_lock = threading.Lock(), threading.Lock()
        self._slots: OrderedDict[tuple, _Slot] = OrderedDict()
        self.loads = 0  # models loaded so far (a test's and /health's evidence)

    def __len__(self) -> int:
        with self._lock:
            return sum(slot.loaded is not None for slot in self._slots.values())

    def _slot(self, key: tuple) -> _Slot:
        with self._lock:
            slot = self._slots.get(key)
            if slot is None:
                for old in [k for k in self._slots if k[0] == key[0]]:
                    del self._slots[old]  # the same run dir, replaced: drop the old model
                slot = self._slots[key] = _Slot()
                while len(self._slots) > self.size:
                    self._slots.popitem(last=False)
            else:
                self._slots.move_to_end(key)
            return slot

    def _forget(self, key: tuple, slot: _Slot) -> None:
        with self._lock:
            if self._slots.get(key) is slot:
                del self._slots[key]

    @contextlib.contextmanager
    def use(self, run_dir: Path):
        """Yield the :class:`LoadedRun` of ``run_dir`` (loading it if needed) while
        holding its lock."""
        key = fingerprint(run_dir)
        slot = self._slot(key)
        with slot.lock:
            if slot.loaded is None:
                try:
                    with self._load_lock:
                        slot.loaded = self._loader(Path(run_dir))
                        self.loads += 1
                except BaseException:
                    self._forget(key, slot)
                    raise
            yield slot.loaded
