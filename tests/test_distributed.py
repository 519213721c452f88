"""``--distribute``: TF_CONFIG validation, series sharding, the custom loop against Keras's
fit, CLI errors, and two real worker processes on loopback."""

import json
import os
import socket
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pytest

from forecaster.training import cluster as C

from forecaster.training import distributed as D
from forecaster.cli import forecast
from forecaster.errors import ConfigError
from tests import hooked_forecast
from tests.conftest import DATA, FAST, ROOT, forecast_exe, random_walk_windows


def _tf_config(workers, task_type="worker", index=0, chief=None):
    cluster = {"worker": workers}
    if chief is not None:
        cluster["chief"] = chief
    return json.dumps({"cluster": cluster, "task": {"type": task_type, "index": index}})


# -- TF_CONFIG ----------------------------------------------------------------------------
def test_tf_config_workers_only():
    c = C.parse_tf_config(_tf_config(["a:1", "b:2", "c:3"], index=2))
    assert c.addresses == ("a:1", "b:2", "c:3")
    assert (c.task_type, c.task_index, c.rank, c.num_workers) == ("worker", 2, 2, 3)
    assert not c.is_chief
    assert C.parse_tf_config(_tf_config(["a:1", "b:2"], index=0)).is_chief
    assert c.describe() == "worker 2 (rank 2 of 3)"


def test_tf_config_with_chief_ranks_the_chief_first():
    chief = C.parse_tf_config(_tf_config(["w0:1", "w1:1"], "chief", 0, chief=["c:1"]))
    worker0 = C.parse_tf_config(_tf_config(["w0:1", "w1:1"], "worker", 0, chief=["c:1"]))
    assert chief.is_chief and chief.rank == 0 and chief.addresses == ("c:1", "w0:1", "w1:1")
    assert not worker0.is_chief and worker0.rank == 1


def test_tf_config_accepts_ipv6_and_rpc_layer():
    text = json.dumps({"cluster": {"worker": ["[::1]:2222", "host-1.svc:2222"]},
                       "task": {"type": "worker", "index": 1}, "rpc_layer": "grpc"})
    assert C.parse_tf_config(text).rank == 1


def test_missing_tf_config_is_one_clear_error():
    for value in (None, "", "   "):
        with pytest.raises(ConfigError, match=r"^`--distribute multi-worker` needs the "
                                              r"TF_CONFIG environment variable"):
            C.parse_tf_config(value)


@pytest.mark.parametrize("text, message", [
    ("{not json", "TF_CONFIG must be JSON (Expecting property name enclosed in double quotes: "
                  "line 1 column 2 (char 1)). Got '{not json'; see docs/scale-out.md."),
    ("[1, 2]", 'TF_CONFIG must be a JSON object with a "cluster" object. Got \'[1, 2]\'; '
               "see docs/scale-out.md."),
    ('{"task": {"type": "worker", "index": 0}}', 'must be a JSON object with a "cluster"'),
    ('{"cluster": {"worker": ["a:1"], "ps": ["b:1"]}, "task": {"type": "worker"}}',
     '"cluster" may only list "chief" and "worker" jobs for --distribute multi-worker '
     "(no 'ps')"),
    ('{"cluster": {"worker": "a:1"}, "task": {"type": "worker", "index": 0}}',
     '"cluster"."worker" must be a list of "host:port" strings. Got \'"a:1"\''),
    ('{"cluster": {"worker": ["a"]}, "task": {"type": "worker", "index": 0}}',
     '"cluster"."worker" must be a list of "host:port" strings'),
    ('{"cluster": {"worker": ["a:99999"]}, "task": {"type": "worker", "index": 0}}',
     '"host:port" strings'),
    ('{"cluster": {"worker": []}, "task": {"type": "worker", "index": 0}}',
     '"cluster" must list at least one worker'),
    ('{"cluster": {"worker": ["a:1", "a:1"]}, "task": {"type": "worker", "index": 0}}',
     "must not list an address twice"),
    ('{"cluster": {"worker": ["a:1"], "chief": ["b:1", "c:1"]}, "task": {"type": "chief"}}',
     '"cluster"."chief" must hold at most one address'),
    ('{"cluster": {"worker": ["a:1"]}}', 'must have a "task" object'),
    ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "ps", "index": 0}}',
     '"task"."type" must be one of the cluster\'s jobs (worker)'),
    ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "chief", "index": 0}}',
     '"task"."type" must be one of the cluster\'s jobs (worker)'),
    ('{"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 2}}',
     '"task"."index" must be an integer from 0 to 1 (the "worker" list has 2 address(es))'),
    ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": true}}',
     '"task"."index" must be an integer from 0 to 0'),
])
def test_bad_tf_config_messages(text, message):
    with pytest.raises(ConfigError) as info:
        C.parse_tf_config(text)
    assert message in str(info.value)
    assert str(info.value).startswith("TF_CONFIG ")
    assert "\n" not in str(info.value)


def test_check_modes_and_backend():
    assert C.check("none", {}) is None
    assert C.check("mirrored", {"KERAS_BACKEND": "tensorflow"}) is None
    cluster = C.check("multi-worker", {"TF_CONFIG": _tf_config(["a:1", "b:1"], index=1)})
    assert cluster.rank == 1
    assert not C.is_chief("multi-worker", {"TF_CONFIG": _tf_config(["a:1", "b:1"], index=1)})
    assert C.is_chief("mirrored", {})
    with pytest.raises(ConfigError, match=r"^`training.distribute` must be one of none, "
                                          r"mirrored, multi-worker. Got 'ring'.$"):
        C.check("ring", {})


# -- sharding -----------------------------------------------------------------------------
def test_shard_series_balances_window_counts():
    # largest first, each to the least-loaded shard (loads after each step in brackets):
    # s1 (9) → 0 [9, 0]; s3 (7) → 1 [9, 7]; s4 (5) → 1 [9, 12]; s2 (4) → 0 [13, 12];
    # s0 (3) → 1 [13, 15]
    counts = [3, 9, 4, 7, 5]
    shard = D.shard_series(counts, 2)
    assert shard.tolist() == [1, 0, 0, 1, 1]
    loads = np.bincount(shard, weights=counts)
    assert loads.tolist() == [13.0, 15.0]


def test_shard_series_is_deterministic_and_covers_every_shard():
    counts = [50] * 22
    shard = D.shard_series(counts, 4)
    assert shard.tolist() == D.shard_series(counts, 4).tolist()
    assert shard.tolist() == [i % 4 for i in range(22)]  # equal sizes: round robin
    assert D.shard_series([10], 1).tolist() == [0]


def test_shard_series_needs_a_series_per_replica():
    with pytest.raises(ConfigError, match=r"^distributed training shards the data by series "
                                          r"and needs at least one series per replica: 3 "
                                          r"replicas, 2 series with training windows\."):
        D.shard_series([5, 0, 7], 3)


def test_subset_and_series_of():
    from forecaster.data import windowing as W

    scaled = [np.arange(10.0), np.arange(8.0), np.arange(12.0)]
    series, starts = W.window_starts([10, 8, 12], 3, 2)
    ws = W.WindowSet.build(scaled, series, starts, 3, 2, False)
    assert D.series_of(ws).tolist() == series.tolist()
    part = D.subset(ws, series == 1)
    x, y = part.arrays()
    assert len(part) == 4 and x[0, :, 0].tolist() == [0, 1, 2] and y[-1].tolist() == [6, 7]


def test_weights_digest_is_bit_exact():
    a = [np.ones((2, 2), np.float32), np.zeros(3, np.float32)]
    b = [np.ones((2, 2), np.float32), np.zeros(3, np.float32)]
    assert D.weights_digest(a) == D.weights_digest(b)
    b[1][0] = np.nextafter(np.float32(0), np.float32(1))
    assert D.weights_digest(a) != D.weights_digest(b)


# -- the custom loop against Keras's fit ----------------------------------------------------
def _windows(n_series=6, length=120, window=24, horizon=12):
    return random_walk_windows(n_series, length, window, horizon)


@pytest.mark.parametrize("clipnorm, max_windows", [(0.1, 128), (1.0, 0)])
def test_one_replica_reproduces_fit_model(clipnorm, max_windows):
    """MirroredStrategy on the CPU (one replica) takes the same steps as Keras's fit:
    same batches, same loss, same clipping, same early stopping."""
    from forecaster.data import windowing as W
    from forecaster.models.rnn import build_model
    from forecaster.training.runtime import configure_runtime
    from forecaster.training.loops import fit_model

    train, val = _windows()
    runs = {}
    for mode in ("none", "mirrored"):
        configure_runtime(1, "cpu")
        with D.scope(mode, "cpu") as strategy:
            model = build_model("tanh_cell", window=24, horizon=12, units=8, seed=1)
        sampler = W.WindowSampler(train, 32, seed=1, max_windows=max_windows)
        fit = fit_model(model, sampler, val.arrays(), epochs=6, learning_rate=1e-2,
                        clipnorm=clipnorm, patience=2, strategy=strategy)
        runs[mode] = (fit, model.get_weights())
    (a, wa), (b, wb) = runs["none"], runs["mirrored"]
    assert a.epochs_run == b.epochs_run and a.best_epoch == b.best_epoch
    np.testing.assert_allclose(a.loss, b.loss, rtol=1e-5)
    np.testing.assert_allclose(a.val_loss, b.val_loss, rtol=1e-5)
    for x, y in zip(wa, wb):
        np.testing.assert_allclose(x, y, atol=1e-5)


def test_one_replica_reproduces_the_averaged_fixed_epoch_fit():
    """The refit (no validation, ``average=True``) ends on the weights' moving average in
    both loops, and that average is not the last iterate."""
    from forecaster.data import windowing as W
    from forecaster.models.rnn import build_model
    from forecaster.training.runtime import configure_runtime
    from forecaster.training.loops import fit_model

    train, _ = _windows()
    runs = {}
    for mode, average in (("none", True), ("mirrored", True), ("none", False)):
        configure_runtime(1, "cpu")
        with D.scope(mode, "cpu") as strategy:
            model = build_model("tanh_cell", window=24, horizon=12, units=8, seed=1)
        fit = fit_model(model, W.WindowSampler(train, 32, seed=1), None, epochs=3,
                        learning_rate=1e-2, clipnorm=1.0, patience=2, strategy=strategy,
                        average=average)
        runs[mode, average] = (fit, model.get_weights())
    (a, wa), (b, wb) = runs["none", True], runs["mirrored", True]
    np.testing.assert_allclose(a.loss, b.loss, rtol=1e-5)
    for x, y in zip(wa, wb):
        np.testing.assert_allclose(x, y, atol=1e-5)
    last, w_last = runs["none", False]
    np.testing.assert_allclose(a.loss, last.loss, rtol=1e-5)  # the same steps were taken
    assert max(np.max(np.abs(x - y)) for x, y in zip(wa, w_last)) > 1e-4


def test_divergence_is_the_same_training_error():
    from forecaster.data import windowing as W
    from forecaster.errors import TrainingError
    from forecaster.models.rnn import build_model
    from forecaster.training.runtime import configure_runtime
    from forecaster.training.loops import fit_model

    train, val = _windows()
    train.flat[:] = np.random.default_rng(0).normal(size=train.flat.shape) * 1e30
    # (squared errors overflow float32: the loss is infinite from the first batch)
    messages = []
    for mode in ("none", "mirrored"):
        configure_runtime(1, "cpu")
        with D.scope(mode, "cpu") as strategy:
            model = build_model("simple_rnn", window=24, horizon=12, units=4, seed=1)
        with pytest.raises(TrainingError) as info:
            fit_model(model, W.WindowSampler(train, 32, seed=1), val.arrays(), epochs=3,
                      learning_rate=1e-3, clipnorm=1.0, patience=2, strategy=strategy)
        messages.append(str(info.value))
    assert messages[0] == messages[1]
    assert messages[0].startswith("training diverged: the loss became NaN or infinite at "
                                  "epoch 1.")


TWO_REPLICAS = textwrap.dedent("""
    # Two replicas in one process (two logical CPUs): one step of the distributed loop
    # must equal one Keras step on the two replicas' batches concatenated — the mean over
    # the global batch, the global gradient clipped.
    import os, sys
    sys.path.insert(0, {root!r})
    from forecaster.training.runtime import import_tensorflow
    from forecaster.training.loops import fit_model
    tf = import_tensorflow()
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras, numpy as np
    from forecaster.training import distributed as D
    from forecaster.data import windowing as W
    from forecaster.models.rnn import build_model
    from tests.test_distributed import _windows

    train, val = _windows()
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    keras.utils.set_random_seed(1)
    with strategy.scope():
        model = build_model("tanh_cell", window=24, horizon=12, units=8, seed=1)
    reference = build_model("tanh_cell", window=24, horizon=12, units=8, seed=1)
    sampler = W.WindowSampler(train, 8, seed=5, max_windows=16)  # 8 windows per replica
    fit = fit_model(model, sampler, val.arrays(), epochs=1, learning_rate=0.05,
                    clipnorm=0.05, patience=1, strategy=strategy)
    # the batches each replica drew: its shard's sampler, advanced once as Keras does
    series = D.series_of(train)
    shard = D.shard_series(np.bincount(series), 2)
    batches = []
    for r in range(2):
        s = W.WindowSampler(D.subset(train, shard[series] == r), 8, seed=5 + r, max_windows=8)
        s.on_epoch_end()
        batches.append(s[0])
    x = np.concatenate([b[0] for b in batches]); y = np.concatenate([b[1] for b in batches])
    reference.compile(optimizer=keras.optimizers.Adam(0.05, clipnorm=0.05), loss="mse")
    loss = reference.train_on_batch(x, y)
    np.testing.assert_allclose(fit.loss[0], loss, rtol=1e-5)
    for a, b in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-6)
    print("OK", fit.loss[0], loss)
""")


def test_two_replicas_equal_one_step_on_the_global_batch():
    code = TWO_REPLICAS.format(root=str(ROOT))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, timeout=240, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0 and "OK" in out.stdout, out.stdout + out.stderr[-3000:]


# -- CLI errors ---------------------------------------------------------------------------
def test_cli_multi_worker_without_tf_config(runner, tmp_path, monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    result = runner.invoke(forecast, ["train", str(DATA / "air_passengers.csv"), "--runs-dir",
                                      str(tmp_path / "runs"), "--distribute", "multi-worker"])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "Error: `--distribute multi-worker` needs the TF_CONFIG environment variable")
    assert not (tmp_path / "runs").exists()


def test_cli_malformed_tf_config(runner, tmp_path, monkeypatch):
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"worker": ["localhost:2222"]}, "task": ')
    result = runner.invoke(forecast, ["train", str(DATA / "air_passengers.csv"), "--runs-dir",
                                      str(tmp_path / "runs"), "--distribute", "multi-worker"])
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "Error: TF_CONFIG must be JSON (Expecting value: line 1 column 53 (char 52)). Got "
        "'{\"cluster\": {\"worker\": [\"localhost:2222\"]}, \"task\": '; see docs/scale-out.md."]


def test_cli_unknown_distribute_mode(runner, tmp_path):
    result = runner.invoke(forecast, ["train", str(DATA / "air_passengers.csv"),
                                      "--distribute", "horovod"])
    assert result.exit_code == 2 and "'horovod' is not one of" in result.stderr


def test_cli_distribute_needs_the_tensorflow_backend(tmp_path):
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(ROOT)}
    out = subprocess.run([forecast_exe(), "train", str(DATA / "air_passengers.csv"),
                          "--runs-dir", str(tmp_path / "runs"), "--distribute", "mirrored"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == [
        "Error: `--distribute mirrored` needs the TensorFlow backend (it uses tf.distribute). "
        "Got KERAS_BACKEND='jax'; unset it or use --distribute none."]


def test_config_file_distribute_is_validated(tmp_path):
    from forecaster.config import load_config

    path = tmp_path / "c.toml"
    path.write_text('[training]\ndistribute = "all"\n')
    with pytest.raises(ConfigError, match=r"^`training.distribute` must be one of none, "
                                          r"mirrored, multi-worker. Got 'all'.$"):
        load_config(path)
    path.write_text('[training]\ndistribute = "mirrored"\n')
    assert load_config(path).training.distribute == "mirrored"


# -- two worker processes on loopback ------------------------------------------------------
def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _start_workers(tmp_path, n, extra, name="workers", logs=None, hooked=None):
    """Start ``n`` `forecast train --distribute multi-worker` processes; returns
    ``(processes, runs_dir, digest_dir)``.  Output is piped, or written to
    ``logs/<index>.out|err`` when ``logs`` is given.  Worker ``hooked`` (an index) runs
    through tests/hooked_forecast.py: its process is a ``Hooked`` that says how far it is."""
    addresses = [f"127.0.0.1:{p}" for p in _free_ports(n)]
    runs, digests = tmp_path / name / "runs", tmp_path / name / "digests"
    procs = []
    for i in range(n):
        env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CONFIG": _tf_config(addresses, index=i),
               D.DIGEST_ENV: str(digests)}
        out = err = subprocess.PIPE
        if logs is not None:
            logs.mkdir(parents=True, exist_ok=True)
            out, err = open(logs / f"{i}.out", "w"), open(logs / f"{i}.err", "w")
        args = ["train", str(DATA / "us_employment.csv"), "--id-col", "sector",
                "--runs-dir", str(runs), "--distribute", "multi-worker", *extra]
        popen = {"stdout": out, "stderr": err, "text": True, "env": env, "cwd": tmp_path}
        procs.append(hooked_forecast.start(args, **popen) if i == hooked
                     else subprocess.Popen([forecast_exe(), *args], **popen))
    return procs, runs, digests


def _finish(procs, timeout=400):
    outs = []
    try:
        for p in procs:
            out, err = p.communicate(timeout=timeout)
            outs.append((p.returncode, out, err))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    return outs


def _predict_frame(runs, tmp_path, name):
    out = tmp_path / f"{name}.csv"
    result = subprocess.run([forecast_exe(), "predict", "--runs-dir", str(runs), "--output",
                             str(out)], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    return pd.read_csv(out)


def test_two_workers_on_loopback(tmp_path):
    """Two `forecast train --distribute multi-worker` processes on 127.0.0.1: both exit 0,
    end with bit-identical weights (equal to the chief's saved model), one run is written
    and `forecast predict` reads it like any run."""
    started = time.perf_counter()
    procs, runs, digests = _start_workers(tmp_path, 2, FAST)
    (rc0, out0, err0), (rc1, out1, err1) = _finish(procs)
    assert rc0 == 0, err0[-3000:]
    assert rc1 == 0, err1[-3000:]
    assert "distribute        multi-worker (2 replica(s))" in out0
    assert out1.strip() == ("worker 1 (rank 1 of 2): trained in sync (3 epochs, best "
                            f"{json.loads((digests / 'worker-1.json').read_text())['best_epoch']}"
                            "); the chief writes the run.")
    assert "the chief runs the baselines" in err1

    w0 = json.loads((digests / "worker-0.json").read_text())
    w1 = json.loads((digests / "worker-1.json").read_text())
    assert w0 == w1  # same digest, same loss/val_loss history on both workers

    entries = sorted(p.name for p in runs.iterdir())
    assert len(entries) == 2 and "latest" in entries, entries  # one run + the pointer
    run = runs / (runs / "latest").read_text().strip()
    info = json.loads((run / "run.json").read_text())
    assert (info["distribute"], info["replicas"], info["workers"]) == ("multi-worker", 2, 2)
    history = pd.read_csv(run / "history.csv")
    np.testing.assert_allclose(history["loss"], w0["loss"])

    from forecaster.runs.artifacts import load_model

    assert D.weights_digest(load_model(run / "model.keras").get_weights()) == w0["digest"]

    frame = _predict_frame(runs, tmp_path, "distributed")
    sectors = sorted(pd.read_csv(DATA / "us_employment.csv")["sector"].unique())
    assert list(frame.columns) == ["series_id", "timestamp", "forecast", "lower_80",
                                   "upper_80", "lower_95", "upper_95"]
    assert sorted(frame["series_id"].unique()) == sectors
    assert frame.groupby("series_id").size().eq(12).all()
    assert frame.groupby("series_id")["timestamp"].first().eq("2016-01-01").all()
    assert np.isfinite(frame[["forecast", "lower_95", "upper_95"]].to_numpy()).all()
    print(f"two workers + predict: {time.perf_counter() - started:.1f} s")


@pytest.mark.slow
def test_two_workers_match_the_format_of_a_single_process_run(tmp_path):
    """The same data and flags in one process: `forecast predict` gives the same columns,
    series and timestamps (values differ: two replicas draw other batches)."""
    procs, runs, _ = _start_workers(tmp_path, 2, FAST)
    assert [rc for rc, _, _ in _finish(procs)] == [0, 0]
    single = tmp_path / "single"
    out = subprocess.run([forecast_exe(), "train", str(DATA / "us_employment.csv"),
                          "--id-col", "sector", "--runs-dir", str(single), *FAST],
                         capture_output=True, text=True, timeout=400,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    a = _predict_frame(runs, tmp_path, "distributed")
    b = _predict_frame(single, tmp_path, "single")
    assert list(a.columns) == list(b.columns)
    assert a[["series_id", "timestamp"]].equals(b[["series_id", "timestamp"]])
    rel = np.abs(a["forecast"] - b["forecast"]) / np.abs(b["forecast"])
    assert rel.median() < 0.05  # the same model class on the same data: close forecasts


@pytest.mark.slow
def test_a_terminated_worker_stops_the_cluster_cleanly(tmp_path):
    """SIGTERM to a worker mid-training: it exits 143 (TensorFlow's preemption notifier does
    not swallow the signal), the chief fails with one line, and no run is written."""
    import signal

    logs = tmp_path / "logs"
    procs, runs, _ = _start_workers(tmp_path, 2, ["--no-backtest", "--epochs", "5000",
                                                  "--patience", "5000", "--units", "4"],
                                    logs=logs, hooked=1)
    try:  # past start-up: the cluster formed and the workers finished an epoch together
        procs[1].wait_for("epoch final 1$")
        procs[1].send_signal(signal.SIGTERM)
        rc1, rc0 = procs[1].wait(timeout=60), procs[0].wait(timeout=120)
    finally:
        procs[1].close()
        for p in procs:
            if p.poll() is None:
                p.kill()
    err0, err1 = (logs / "0.err").read_text(), (logs / "1.err").read_text()
    assert rc1 == 143, err1[-2000:]
    assert err1.strip().splitlines()[-1] == ("Error: terminated; nothing was saved and "
                                             "runs/latest is unchanged.")
    assert rc0 == 1, err0[-2000:]
    assert err0.strip().splitlines()[-1].startswith(
        "Error: distributed training lost a worker: TensorFlow reported ")
    assert not runs.exists() or [p.name for p in runs.iterdir()] == []


def test_evaluate_ignores_distribute_with_a_note(runner, tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('[training]\ndistribute = "multi-worker"\n')  # no TF_CONFIG needed
    result = runner.invoke(forecast, ["evaluate", str(DATA / "air_passengers.csv"),
                                      "--config", str(config), "--models", "naive",
                                      "--folds", "1", "--out", str(tmp_path / "ev")])
    assert result.exit_code == 0, result.output + result.stderr
    assert ('note: `training.distribute = "multi-worker"` applies to `forecast train` only; '
            "evaluate trains in one process.") in result.stderr
