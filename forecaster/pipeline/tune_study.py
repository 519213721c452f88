"""The study behind ``forecast tune``: where it is stored, who may write to it, and what
it records.

* Storage: ``sqlite:///runs/tune.db`` by default.  A file that is not an SQLite database,
  or an SQLite database without Optuna's tables, is refused before Optuna can touch it.
* One tuner per study: with SQLite storage, a lock file beside the database
  (:func:`study_lock`) is held for the whole search; a second tuner is refused with the
  first's PID and host.  The kernel releases the lock with its process (kill -9 too), so a
  trial still RUNNING when the lock is taken was left by a dead process and is failed.
  With a database server (``postgresql://…``) several workers share a study instead
  (:mod:`~forecaster.pipeline.tune_workers`).
* The record: a study stores, at creation, everything its scores depend on — the digest of
  the data it scores, the protocol (metric, horizon, season, folds, holdout), the search
  space and every resolved setting that changes a score (epochs, patience, covariates and
  their roles, scaling … from the defaults, the profile, the config file and the flags).
  Resuming it with anything else is a one-line :class:`ConfigError` naming what differs,
  and a record read from a study file is checked before it is compared (the file may come
  from anywhere).
"""

from __future__ import annotations

import hashlib
import json
import math
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from forecaster.config import SETTINGS
from forecaster.errors import ConfigError
from forecaster.pipeline.tune_guard import INCUMBENT
from forecaster.storage.sqlite import check_sqlite_file, exclusive, lock_path

#: Optuna's own tables: a database holding other tables but not these is someone else's
OPTUNA_TABLES = {"studies", "trials", "version_info"}
RECORD = "record"  # the study's user attribute holding what its scores depend on
#: config keys that change no score: where it runs, what a run deploys or logs, interval
#: levels (the search scores points), and the keys the protocol holds resolved
NOT_SCORED = {"device", "distribute", "backtest", "origins", "select", "levels",
              "runs_dir", "mlflow_uri", "horizon", "season", "folds"}
PROTOCOL = ("data", "metric", "horizon", "folds", "holdout", "season", "series", "points",
            "partial", "space")


# -- storage ---------------------------------------------------------------------------------
def default_storage(runs_dir) -> str:
    return f"sqlite:///{Path(runs_dir) / 'tune.db'}"


def sqlite_path(url: str) -> Path | None:
    """The database file of an ``sqlite:///`` URL, else None (a database server)."""
    return Path(url[len("sqlite:///"):]) if url.startswith("sqlite:///") else None


def check_storage(url: str) -> str:
    """``url`` when Optuna may open it.  An SQLite file must be absent (created), empty, or
    an Optuna database; anything else is a :class:`ConfigError` and is left untouched."""
    if not isinstance(url, str) or "://" not in url:
        raise ConfigError(f"--storage must be a database URL such as sqlite:///runs/tune.db. "
                          f"Got {url!r}.")
    path = sqlite_path(url)
    if path is not None:  # a database server checks its own schema
        check_sqlite_file(path, OPTUNA_TABLES, f"--storage {str(path)!r}")
    return url


@contextmanager
def study_lock(storage: str, name: str):
    """Hold study ``name`` of an SQLite ``storage`` for the block (see the module doc);
    a database server is not locked: there several workers share a study
    (:mod:`~forecaster.pipeline.tune_workers`)."""
    path = sqlite_path(check_storage(storage))
    if path is None:
        yield None
        return
    busy = (f"the study {name!r} is being tuned by {{holder}} (lock {lock_path(path, name)}); "
            "wait for it to finish or use another --study name.")
    with exclusive(lock_path(path, name), busy) as held:
        yield held


def open_study(crew, name: str, seed: int, record: dict, start: dict | None = None):
    """Create study ``name`` with ``record`` and queue ``start`` (trial 0: the defaults),
    or resume it when it was scored under the same one, in one turn of ``crew`` (the
    :class:`~forecaster.pipeline.tune_workers.Workers` of its storage: with a database
    server, the first of several workers creates it and the others join).  Alone (SQLite,
    holding :func:`study_lock`), trials a dead process left running are marked failed;
    shared, their heartbeats say so.  The sampler's seed moves on with the number of
    trials already run (:meth:`~forecaster.pipeline.tune_workers.Workers.join`), so a
    resumed study does not draw its first settings again."""
    import optuna

    with crew.turn():
        try:
            study = optuna.create_study(study_name=name, storage=crew.storage,
                                        direction="minimize", load_if_exists=True)
        except Exception as exc:  # sqlalchemy / optuna schema errors
            raise storage_error(crew.url, exc) from None
        created = not study.trials and RECORD not in study.user_attrs
        check_resume(study, name, record)
        if created and start:
            study.enqueue_trial(start, user_attrs={INCUMBENT: True})
        if not crew.shared:
            store = crew.storage
            for t in study.get_trials(deepcopy=False,
                                      states=(optuna.trial.TrialState.RUNNING,)):
                store.set_trial_system_attr(t._trial_id, "fail_reason",
                                            "the tuning process stopped during this trial")
                store.set_trial_state_values(t._trial_id, optuna.trial.TrialState.FAIL)
        seed = crew.join(study, seed)
    startup = 5
    study.sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup)
    study.pruner = optuna.pruners.MedianPruner(n_startup_trials=startup, n_warmup_steps=0)
    return study, created


def storage_error(url: str, exc: Exception) -> ConfigError:
    """The one-line error of a study database that cannot be opened (a server's driver
    not installed: the extra that brings it)."""
    if isinstance(exc, ModuleNotFoundError) or "DB access module" in str(exc):  # Optuna's
        return ConfigError(f"--storage {url}: PostgreSQL needs its driver: "
                           "pip install 'forecaster[postgres]'.")
    return ConfigError(f"--storage {url}: cannot open the study database "
                       f"({str(exc).splitlines()[0]}).")


# -- the record ------------------------------------------------------------------------------
def panel_digest(panel) -> str:
    """``sha256:…`` of what a search scores: series ids, timestamps, values and the
    covariates with their roles; equal data give equal digests whatever file held them."""
    h = hashlib.sha256()
    cov = panel.covariates
    head = {"ids": list(panel.ids), "axis": panel.axis.to_json(), "target": panel.target,
            "starts": [panel.axis.format(s) for s in panel.starts],
            "covariates": cov.spec.to_json() if cov is not None else None,
            "statics": [list(s) for s in cov.statics] if cov is not None else None,
            "static_kinds": list(cov.static_kinds) if cov is not None else None}
    h.update(json.dumps(head, default=str, sort_keys=True).encode())
    arrays = [*panel.values, *((*cov.values, *cov.ahead) if cov is not None else ())]
    for a in arrays:
        a = np.ascontiguousarray(a, dtype="<f8")
        h.update(repr(a.shape).encode() + a.tobytes())
    return "sha256:" + h.hexdigest()


def study_record(plan) -> dict:
    """What ``plan``'s scores depend on (the module doc), flat and JSON-able: the
    protocol, the space, and each resolved config setting that the space does not set."""
    searched = {p.name for p in plan.space.params} | dict(plan.space.fixed).keys()
    settings = {key: value for section, values in plan.cfg.to_dict().items()
                for key, value in values.items()
                if key not in NOT_SCORED | searched and section not in ("output", "tracking")}
    record = {**plan.protocol, **settings, "space": plan.space.describe()}
    return json.loads(json.dumps(record))


def check_resume(study, name: str, record: dict) -> None:
    """Keep ``record`` in a new study; refuse to resume one recorded otherwise (a
    one-line :class:`ConfigError` naming what differs) or one holding no valid record."""
    attrs = study.user_attrs
    if RECORD not in attrs and not study.trials:  # new, or created by a process that died
        study.set_user_attr(RECORD, record)
        return
    known = attrs.get(RECORD)
    if not _valid(known):
        raise ConfigError(f"the study {name!r} holds no valid record of its data and "
                          "settings (a study file from elsewhere, or from an older forecast "
                          "tune); use a new --study name.")
    changed = sorted(k for k in known.keys() | record.keys() if known.get(k) != record.get(k))
    if changed:
        shown = changed[:4]
        more = f" and {len(changed) - 4} more" if len(changed) > 4 else ""
        raise ConfigError(
            f"the study {name!r} was scored with {_settings(known, shown)}{more}; this call "
            f"asks for {_settings(record, shown)}: use a new --study name or the same "
            "settings.")


def _settings(record: dict, keys) -> str:
    return ", ".join(f"{k} = {_show(record.get(k, '(not set)'))}" for k in keys)


def _show(value) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        text = "[" + ", ".join(_show(v) for v in value) + "]"
    else:
        text = str(value)
    if isinstance(value, str) and value.startswith("sha256:"):
        text = value[:19] + "…"
    return text if len(text) <= 80 else text[:79] + "…"


def _valid(record) -> bool:
    """A record as :func:`study_record` writes it: known keys, JSON scalars (or lists of
    them), printable strings of reasonable size, a ``sha256:`` data digest."""
    if not isinstance(record, dict) or len(record) > 200:
        return False
    data = record.get("data")
    if not isinstance(data, str) or len(data) != 71 or not data.startswith("sha256:") or \
            not all(c in "0123456789abcdef" for c in data[7:]):
        return False
    return all(isinstance(k, str) and (k in PROTOCOL or k in SETTINGS) and (
        _scalar(v) or isinstance(v, list) and len(v) <= 200 and all(map(_scalar, v)))
        for k, v in record.items())


def _scalar(value) -> bool:
    if isinstance(value, str):
        return len(value) <= 1000 and value.isprintable()
    if isinstance(value, float):
        return math.isfinite(value)
    return value is None or isinstance(value, (bool, int))
