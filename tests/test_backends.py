"""The JAX backend: ``KERAS_BACKEND=jax`` in fresh subprocesses (the backend is chosen once
per process, when Keras is imported; this test process runs TensorFlow).

CI installs ``jax[cpu]`` through the ``dev`` extra; these tests skip only where JAX is not
installed at all.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from tests.conftest import DATA, FAST, ROOT, forecast_exe

pytestmark = pytest.mark.skipif(importlib.util.find_spec("jax") is None,
                                reason="jax is not installed (pip install -e '.[dev]' adds it)")

#: The TanhCell-vs-SimpleRNN equivalence (outputs and gradients; go_backwards, return_state,
#: masking; safe-mode save/reload) on a subset of tests/models/test_cells.py's shapes — the
#: whole file passes under JAX too, in ~1 min — the gradient diagnostic's exact numbers and
#: the wide ensemble layers (tests/models/test_ensemble.py).
EQUIVALENCE = [
    "tests/models/test_cells.py", "-k",
    "outputs_and_gradients and b3-t5-f4-h6 or go_backwards_state_and_mask or saves_and_reloads",
    "tests/evaluation/test_gradients.py::test_exact_numbers_for_a_one_unit_elman_rnn",
    "tests/models/test_ensemble.py",  # the wide tanh-cell ensemble, every loop
]


def _jax_env() -> dict:
    env = dict(os.environ, KERAS_BACKEND="jax")
    # The installed script must import this checkout's package, whatever is installed.
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    return env


def _run(args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, env=_jax_env(), cwd=ROOT,
                          timeout=600, **kwargs)


def test_tanh_cell_matches_simple_rnn_under_jax():
    code = ("import sys, keras, pytest\n"
            "assert keras.config.backend() == 'jax', keras.config.backend()\n"
            "sys.exit(pytest.main(sys.argv[1:]))\n")
    proc = _run([sys.executable, "-c", code, "-q", "-p", "no:cacheprovider", *EQUIVALENCE])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = proc.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "skipped" not in summary and "failed" not in summary, \
        summary


def _train(runs, *extra) -> subprocess.CompletedProcess:
    return _run([forecast_exe(), "train", str(DATA / "air_passengers.csv"), "--runs-dir",
                 str(runs), *FAST, *extra])


def test_train_and_predict_under_jax_and_same_seed_is_byte_identical(tmp_path):
    exe = forecast_exe()
    proc = _train(tmp_path / "runs0")
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"^backend\s+jax$", proc.stdout, re.M), proc.stdout
    # neither JAX nor TensorFlow (imported by Keras's serialisation) chatters on stderr
    assert "oneDNN" not in proc.stderr and "cuda" not in proc.stderr.lower(), proc.stderr
    run = tmp_path / "runs0" / (tmp_path / "runs0" / "latest").read_text().strip()
    info = json.loads((run / "run.json").read_text())
    assert info["keras_backend"] == "jax" and info["jax_version"] and info["device"] == "CPU"
    grads = json.loads((run / "diagnostics.json").read_text())["gradient_norms"]
    assert len(grads) == info["window"] and np.all(np.isfinite(grads)) and max(grads) > 0

    out = tmp_path / "fc.csv"
    proc = _run([exe, "predict", "--runs-dir", str(tmp_path / "runs0"), "--horizon", "30",
                 "--output", str(out)])
    assert proc.returncode == 0, proc.stderr
    frame = pd.read_csv(out)
    assert frame.shape == (30, 7) and frame["timestamp"].iloc[-1] == "1963-06-01"
    numbers = frame.drop(columns=["series_id", "timestamp"]).to_numpy()
    assert np.all(np.isfinite(numbers))
    assert np.all(frame["lower_95"] <= frame["forecast"])
    assert np.all(frame["forecast"] <= frame["upper_95"])

    # The JAX-trained model loads (safe_mode) and forecasts under TensorFlow, this process's
    # backend, to float32 rounding (other kernels: not byte-identical).
    from click.testing import CliRunner

    from forecaster.cli import forecast

    result = CliRunner().invoke(forecast, ["predict", "--runs-dir", str(tmp_path / "runs0"),
                                           "--horizon", "30", "--output",
                                           str(tmp_path / "tf.csv")])
    assert result.exit_code == 0, result.output
    under_tf = pd.read_csv(tmp_path / "tf.csv")
    np.testing.assert_allclose(under_tf["forecast"], frame["forecast"], rtol=1e-5)

    # Same data + seed => the same bytes, in a separate process (XLA's CPU kernels are
    # deterministic; Keras's initialisers and the window sampler are seeded).
    proc = _train(tmp_path / "runs1")
    assert proc.returncode == 0, proc.stderr
    again = tmp_path / "runs1" / (tmp_path / "runs1" / "latest").read_text().strip()
    assert (again / "forecast.csv").read_bytes() == (run / "forecast.csv").read_bytes()
    assert (again / "backtest.csv").read_bytes() == (run / "backtest.csv").read_bytes()

    # --device gpu: the GPU when JAX sees one, otherwise one clear line.
    proc = _run([exe, "predict", "--runs-dir", str(tmp_path / "runs0"), "--device", "gpu",
                 "--output", str(tmp_path / "gpu.csv")])
    if proc.returncode == 0:  # a machine with a CUDA build of JAX and a GPU
        assert (tmp_path / "gpu.csv").is_file()
    else:
        assert proc.returncode == 1
        assert proc.stderr.strip().splitlines() == [
            "Error: `--device gpu` was requested but JAX sees no GPU. Install a CUDA build of "
            "JAX (pip install 'jax[cuda12]') or use --device cpu."]


def test_train_with_device_gpu_under_jax(tmp_path):
    proc = _train(tmp_path / "runs", "--device", "gpu")
    if proc.returncode == 0:  # a GPU is there: it was used
        run = tmp_path / "runs" / (tmp_path / "runs" / "latest").read_text().strip()
        assert json.loads((run / "run.json").read_text())["device"] == "GPU"
        return
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith(
        "Error: `--device gpu` was requested but JAX sees no GPU.")
    assert "Traceback" not in proc.stderr and "backtest" not in proc.stderr
    assert not (tmp_path / "runs" / "latest").exists()


def test_unsupported_backend_is_one_line(tmp_path):
    env = dict(_jax_env(), KERAS_BACKEND="numpy")
    proc = subprocess.run([forecast_exe(), "predict", "--runs-dir", str(tmp_path)],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "Error: KERAS_BACKEND must be one of tensorflow, jax (default tensorflow). "
        "Got 'numpy'."]


def test_covariate_network_trains_and_forecasts_under_jax():
    """The covariate network (Channels, the covariate head, SeasonalAnchor on the target
    channel) fits and keeps the leakage rules under JAX."""
    code = ("import sys, keras, pytest\n"
            "assert keras.config.backend() == 'jax', keras.config.backend()\n"
            "sys.exit(pytest.main(sys.argv[1:]))\n")
    proc = _run([sys.executable, "-c", code, "-q", "-p", "no:cacheprovider",
                 "tests/test_covariates.py", "-k",
                 "past_covariate_after_the_origin or future_covariate_at_step_h"])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "2 passed" in proc.stdout.strip().splitlines()[-1], proc.stdout[-500:]
