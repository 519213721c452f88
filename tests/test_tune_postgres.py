"""Several ``forecast tune`` workers on one study in PostgreSQL (``--storage
postgresql://…``): against a throwaway server this test starts, three workers share a
study, one is killed mid-trial, and the study still ends with exactly ``--trials``
finished trials, the killed one failed and queued again, and one best.toml."""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import DATA, forecast_exe
from tests.test_tune import SPACE, TINY

TRIALS = 4
WAIT = 240  # seconds: the failure guard of each poll below, never a wait in itself


def _server_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if found:
        return Path(found[-1]).parent
    pg_ctl = shutil.which("pg_ctl")
    return Path(os.path.realpath(pg_ctl)).parent if pg_ctl else None


@pytest.fixture
def postgres_url():
    """A PostgreSQL cluster of its own in a temporary folder, listening on a unix socket
    there only, with an empty database ``tune``; its URL."""
    pytest.importorskip("psycopg", reason="the postgres extra: pip install -e '.[postgres]'")
    bin_dir = _server_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL's server binaries are missing: `make postgres` (as root, "
                    "with apt-get) installs Debian's postgresql")
    root = Path(tempfile.mkdtemp(prefix="forecast-pg-"))
    as_user = []
    if os.getuid() == 0:  # initdb refuses root: the cluster belongs to user postgres
        shutil.chown(root, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]

    def pg(*args):
        return subprocess.run([*as_user, *args], capture_output=True, text=True, timeout=120)

    done = pg(str(bin_dir / "initdb"), "-D", str(root / "data"), "-U", "postgres",
              "-A", "trust", "-E", "UTF8")
    assert done.returncode == 0, done.stderr
    options = f"-k {root} -c listen_addresses='' -p 5432"
    done = pg(str(bin_dir / "pg_ctl"), "-D", str(root / "data"), "-o", options, "-l",
              str(root / "log"), "-w", "start")  # -w: returns once it accepts connections
    assert done.returncode == 0, done.stderr + (root / "log").read_text()
    try:
        import psycopg

        with psycopg.connect(host=str(root), port=5432, user="postgres", dbname="postgres",
                             autocommit=True) as con:
            con.execute("CREATE DATABASE tune")
        yield f"postgresql://postgres@/tune?host={root}&port=5432"
    finally:
        pg(str(bin_dir / "pg_ctl"), "-D", str(root / "data"), "-m", "immediate", "stop")
        shutil.rmtree(root, ignore_errors=True)


def _query(url: str, sql: str) -> list[tuple]:
    import psycopg

    host = url.split("host=")[1].split("&")[0]
    with psycopg.connect(host=host, port=5432, user="postgres", dbname="tune") as con:
        try:
            return con.execute(sql).fetchall()
        except psycopg.errors.UndefinedTable:  # Optuna is still creating its tables
            return []


def _poll(condition, what: str):
    """``condition()``'s first true value, looked at again until WAIT seconds pass."""
    stop = time.monotonic() + WAIT
    while time.monotonic() < stop:
        found = condition()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"no {what} within {WAIT} s")


def test_three_workers_share_a_study_and_one_is_killed_mid_trial(tmp_path, postgres_url):
    """--units 8: the defaults lie in the space, so trial 0 (the incumbent) is queued."""
    space = tmp_path / "space.toml"
    space.write_text(SPACE)
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "-1"}
    workers = {}
    for k in range(3):  # each its own runs folder: three machines
        cmd = [forecast_exe(), "tune", str(DATA / "air_passengers.csv"), "--runs-dir",
               str(tmp_path / f"runs{k}"), "--space", str(space), "--trials", str(TRIALS),
               *TINY, "--units", "8", "--storage", postgres_url, "--study", "shared"]
        log = open(tmp_path / f"worker{k}.log", "w")
        workers[k] = (subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT), log)
    try:
        pids = {proc.pid: k for k, (proc, _) in workers.items()}
        # a trial mid-run: its worker named, all its settings drawn (their cost recorded)
        running = """SELECT t.number, a.value_json FROM trials t JOIN trial_user_attributes a
                     USING (trial_id) WHERE t.state = 'RUNNING' AND a.key = 'worker' AND
                     EXISTS (SELECT 1 FROM trial_user_attributes w
                             WHERE w.trial_id = t.trial_id AND w.key = 'work')"""
        number, who = _poll(lambda: next(
            (row for row in _query(postgres_url, running)
             if int(json.loads(row[1]).rsplit(":", 1)[1]) in pids), None),
            "running trial of a worker")
        killed = pids[int(json.loads(who).rsplit(":", 1)[1])]
        os.kill(workers[killed][0].pid, signal.SIGKILL)
        codes = {k: proc.wait(timeout=WAIT) for k, (proc, _) in workers.items()}
    finally:
        for proc, log in workers.values():
            if proc.poll() is None:
                proc.kill()
            log.close()
    logs = {k: (tmp_path / f"worker{k}.log").read_text() for k in workers}
    assert codes[killed] == -signal.SIGKILL
    assert all(code == 0 for k, code in codes.items() if k != killed), logs
    states = dict(_query(postgres_url, "SELECT number, state FROM trials"))
    # the killed worker's trial failed and was queued again once, with its settings
    assert states[number] == "FAIL"
    retries = _query(postgres_url, """SELECT t.number FROM trials t JOIN trial_system_attributes
                     a USING (trial_id) WHERE a.key = 'failed_trial'""")
    assert [n for (n,) in retries] and all(states[n] in ("COMPLETE", "PRUNED")
                                          for (n,) in retries)
    assert len(retries) == 1
    params = _query(postgres_url, "SELECT t.number, p.param_name, p.param_value FROM trials t "
                                  "JOIN trial_params p USING (trial_id)")
    by_trial = {}
    for n, name, value in params:
        by_trial.setdefault(n, {})[name] = value
    assert by_trial[retries[0][0]] == by_trial[number]
    # exactly --trials finished, each run by one worker: its line in one log only
    finished = sorted(n for n, s in states.items() if s in ("COMPLETE", "PRUNED"))
    assert len(finished) == TRIALS and set(states.values()) <= {"COMPLETE", "PRUNED", "FAIL"}
    for n in finished:
        assert sum(f"trial {n} (" in text for text in logs.values()) == 1, (n, logs)
    # one best.toml, written by the worker that found the study finished; the other says so
    written = [k for k in workers if (tmp_path / f"runs{k}/tune/shared/best.toml").exists()]
    assert len(written) == 1 and written[0] != killed, logs
    other = ({0, 1, 2} - {killed, written[0]}).pop()
    best = tmp_path / f"runs{written[0]}/tune/shared/best.toml"
    assert "best.toml written by " in logs[other] and f" as {best}" in logs[other]
    text = best.read_text()
    assert text.startswith("# forecast tune: study 'shared'") and "recommended of" in text
    # the record and the guard's incumbent (trial 0, the defaults) are intact
    attrs = dict(_query(postgres_url, "SELECT key, value_json FROM study_user_attributes"))
    assert json.loads(attrs["record"])["data"].startswith("sha256:")
    assert json.loads(attrs["best.toml"])["finished"] == TRIALS
    incumbents = [n for (n,) in _query(postgres_url, """SELECT t.number FROM trials t JOIN
                  trial_user_attributes a USING (trial_id) WHERE a.key = 'incumbent'""")]
    assert 0 in incumbents and len(incumbents) == 1 + (number == 0)  # queued once (again)
    assert any(states[n] == "COMPLETE" for n in incumbents)
    assert "trial 0 (" in "".join(logs.values()) or number == 0


def test_best_toml_is_claimed_once_and_an_interrupted_trial_is_queued_again(postgres_url):
    import optuna

    from forecaster.pipeline.tune_workers import workers

    with workers(postgres_url, "s") as first, workers(postgres_url, "s") as second:
        study = optuna.create_study(study_name="s", storage=first.storage)
        study.add_trial(optuna.create_trial(params={"x": 1.0}, value=1.0, distributions={
            "x": optuna.distributions.FloatDistribution(0, 2)}))
        trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 2)})
        assert first.claim_best(study, 1, "a/best.toml") == (
            "left to the worker(s) still running 1 trial(s)")
        first.abandon(study, trial)  # Ctrl-C in the trial: failed, and queued again
        states = [t.state.name for t in study.get_trials(deepcopy=False)]
        assert states == ["COMPLETE", "FAIL", "WAITING"]
        queued = study.get_trials(deepcopy=False)[2]
        assert queued.system_attrs["failed_trial"] == 1 and queued.params == trial.params
        assert first.claim_best(study, 1, "a/best.toml") is None  # the first to claim writes
        other = optuna.load_study(study_name="s", storage=second.storage)
        assert second.claim_best(other, 1, "b/best.toml") == (
            f"written by {first.me} as a/best.toml")
        assert first.claim_best(study, 1, "a/best.toml") is not None  # once, even for itself
