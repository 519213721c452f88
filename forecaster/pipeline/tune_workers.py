"""Several ``forecast tune`` processes on one study: how they share it.

With SQLite storage one tuner holds a study (:func:`~forecaster.pipeline.tune_study.study_lock`)
and :class:`Workers` only counts its trials.  With a database server
(``--storage postgresql://…``) any number of workers, on one machine or many, run the same
command on the same study:

* Turns: what must see the study and change it in one step — creating the study, keeping
  its record and queuing trial 0 (the defaults) once; deciding whether another trial is
  wanted and asking for it; claiming best.toml — is done holding a PostgreSQL advisory
  lock of the study (:meth:`Workers.turn`), so two workers never both act on what they
  both saw.
* Trials: a worker asks for a trial only while the finished (completed or pruned) and
  running trials are fewer than ``--trials``, so the study ends with exactly that many
  finished; while the rest are running it waits for them, since one may fail and be
  queued again.
* Heartbeats: a running trial's worker records a heartbeat every :data:`HEARTBEAT`
  seconds; a trial without one for :data:`GRACE` seconds (its worker was killed, or its
  machine lost) is marked failed by the next worker that looks and queued again with the
  same settings (Optuna's ``RetryHeartbeatStaleTrialCallback``; the copy names the failed
  trial); so is the trial of a worker interrupted (Ctrl-C, SIGTERM) during it.
* best.toml: the worker that finds the study finished, with nothing running, claims it
  (:meth:`Workers.claim_best`, the study's ``best.toml`` attribute: who and where) and
  writes it; the others say where it is.  A study given more trials later is claimed
  again when they have finished.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
import warnings
from contextlib import contextmanager, nullcontext

import numpy as np

HEARTBEAT = 5  # seconds between a running trial's heartbeats (server storage)
GRACE = 20  # seconds without a heartbeat after which a running trial is failed and re-queued
RETRIES = 3  # times one trial's settings are queued again after their worker died
POLL = 1.0  # seconds a worker waits before looking again at trials others are running
CLAIM = "best.toml"  # the study's user attribute naming the worker that wrote best.toml
JOINED = "workers"  # the study's user attribute counting the workers that joined it
WORKER = "worker"  # the trial's user attribute naming the worker (host:pid) running it


def worker_name() -> str:
    """``host:pid`` of this process: what a trial and a best.toml claim say ran them."""
    return f"{socket.gethostname()}:{os.getpid()}"


def engine_url(url: str) -> str:
    """``url`` as SQLAlchemy should open it: a bare ``postgresql://`` with the postgres
    extra's driver (psycopg 3), whichever one SQLAlchemy defaults to."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def rdb_storage(url: str, retry=None):
    """Optuna's storage of ``url``; for a database server with heartbeats, a stale trial
    failed after :data:`GRACE` seconds and handed to ``retry`` (the module doc)."""
    import inspect

    import optuna
    from optuna.storages import RDBStorage

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # failures: our own progress line
    if url.startswith("sqlite:///"):
        return RDBStorage(url)
    _quiet()
    named = ("heartbeat_stale_trial_callback"  # Optuna >= 4.9; before, failed_trial_callback
             if "heartbeat_stale_trial_callback" in inspect.signature(RDBStorage).parameters
             else "failed_trial_callback")
    return RDBStorage(engine_url(url), heartbeat_interval=HEARTBEAT, grace_period=GRACE,
                      **{named: retry})


def _quiet() -> None:
    """Heartbeats and retries are marked experimental, and meant for Study.optimize's
    loop: what this module does with them is said once, here and in the docs."""
    import optuna

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")


class Workers:
    """The workers of study ``name`` as this one sees them: one alone (SQLite) or any
    number sharing a database server (the module doc).  The first to come creates
    Optuna's tables, in a turn: two creating them at once would collide."""

    def __init__(self, url: str, name: str):
        self.url, self.name = url, name
        self.shared = not url.startswith("sqlite:///")
        self.me = worker_name()
        self._connection = None
        if url.startswith(("postgresql://", "postgresql+")):
            import sqlalchemy

            engine = sqlalchemy.create_engine(engine_url(url), poolclass=sqlalchemy.NullPool)
            self._connection = engine.connect().execution_options(
                isolation_level="AUTOCOMMIT")
            self._key = _lock_key(f"forecast tune:{name}")
        self.retry = None
        if self.shared:
            import optuna.storages as storages

            _quiet()  # Optuna >= 4.9 names it RetryHeartbeatStaleTrialCallback
            retry = getattr(storages, "RetryHeartbeatStaleTrialCallback", None)
            self.retry = (retry or storages.RetryFailedTrialCallback)(max_retry=RETRIES)
        with self.turn(_lock_key("forecast tune: Optuna's tables")):  # one per database
            self.storage = rdb_storage(url, self.retry)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()

    @contextmanager
    def turn(self, key: int | None = None):
        """Hold the study's advisory lock (or ``key``'s) for the block (PostgreSQL;
        elsewhere nothing to hold): one worker at a time sees and changes the study in one
        step.  The server drops it with a killed worker's connection."""
        if self._connection is None:
            yield
            return
        from sqlalchemy import text

        key = self._key if key is None else key
        self._connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
        try:
            yield
        finally:
            self._connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})

    def join(self, study, seed: int) -> int:
        """The sampler's seed of this worker: ``seed`` moved on with the trials the study
        holds; a server's later workers get seeds of their own, so that no two draw the
        same settings.  Call it in a :meth:`turn`."""
        done = len(study.trials)
        if not self.shared:
            return seed + done
        joined = study.user_attrs.get(JOINED, 0)
        joined = joined if isinstance(joined, int) and joined >= 0 else 0
        study.set_user_attr(JOINED, joined + 1)
        if not joined:
            return seed + done
        return int(np.random.SeedSequence([seed, done, joined]).generate_state(1)[0])

    def next_trial(self, study, trials: int, deadline):
        """A trial to run (asked in a :meth:`turn`), or None once the study holds
        ``trials`` finished ones or the ``deadline`` passed; waits while the rest are
        running elsewhere (one may fail and be queued again)."""
        while not deadline.passed():
            with self.turn():
                finished, running = self._counts(study)
                if finished >= trials:
                    return None
                if finished + running < trials:
                    trial = study.ask()
                    if self.shared:  # a trial without a heartbeat is never failed
                        self.storage.record_heartbeat(trial._trial_id)
                        trial.set_user_attr(WORKER, self.me)
                    return trial
            time.sleep(POLL)  # other workers' trials: look again in a while
        return None

    def running(self, trial):
        """The block runs ``trial``: its heartbeat is recorded meanwhile (server)."""
        if not self.shared:
            return nullcontext()
        from optuna.storages._heartbeat import get_heartbeat_thread  # Optuna's own loop's

        return get_heartbeat_thread(trial._trial_id, self.storage)

    def abandon(self, study, trial) -> None:
        """Tell ``trial`` failed: this worker was interrupted during it.  Shared, its
        settings are queued again for the others, as a dead worker's are."""
        from optuna.trial import TrialState

        frozen = study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
        if self.retry is not None and frozen.state == TrialState.FAIL:
            self.retry(study, frozen)

    def claim_best(self, study, trials: int, out) -> str | None:
        """None when this worker writes best.toml to ``out`` (alone; or the first to find
        the study finished with nothing running), else who wrote it or why none is
        written here, in words."""
        if not self.shared:
            return None
        with self.turn():
            finished, running = self._counts(study)
            if running:
                return f"left to the worker(s) still running {running} trial(s)"
            claim = study.user_attrs.get(CLAIM)
            if isinstance(claim, dict) and claim.get("finished") == finished:
                where = f" as {claim['path']}" if claim.get("path") else ""
                return f"written by {claim.get('by')}{where}"
            study.set_user_attr(CLAIM, {"finished": finished, "by": self.me,
                                        "path": None if out is None else str(out)})
        return None

    def _counts(self, study) -> tuple[int, int]:
        """``(finished, running)`` trials of the study, stale ones failed first (server);
        the waiting ones (trial 0, a retry) count as neither: the next ask runs them."""
        import optuna

        if self.shared:
            optuna.storages.fail_stale_trials(study)
        states = [t.state.name for t in study.get_trials(deepcopy=False)]
        return (sum(s in ("COMPLETE", "PRUNED") for s in states),
                sum(s == "RUNNING" for s in states))


def _lock_key(name: str) -> int:
    """The 64-bit advisory lock key of ``name``."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


@contextmanager
def workers(url: str, name: str):
    """The :class:`Workers` of study ``name`` in the database at ``url`` for the block
    (a database that cannot be opened: a one-line :class:`ConfigError`)."""
    from forecaster.pipeline.tune_study import storage_error

    try:
        crew = Workers(url, name)
    except Exception as exc:  # sqlalchemy: no driver, no server, refused …
        raise storage_error(url, exc) from None
    try:
        yield crew
    finally:
        crew.close()
