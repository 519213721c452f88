"""End-to-end: the CLI through CliRunner and as a real subprocess of the installed script."""

import json
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from forecaster.cli import forecast
from tests.conftest import DATA, FAST, forecast_exe


def _train(runner, runs, data, *extra):
    result = runner.invoke(forecast, ["train", str(data), "--runs-dir", str(runs), *FAST,
                                      *extra])
    assert result.exit_code == 0, result.output + result.stderr
    return result


def _predict(runner, runs, out, *extra):
    result = runner.invoke(forecast, ["predict", "--runs-dir", str(runs), "--output", str(out),
                                      *extra])
    assert result.exit_code == 0, result.output + result.stderr
    return result


def test_help_is_instant_and_imports_no_tensorflow():
    code = ("import sys; from forecaster.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('tensorflow', 'keras', 'pandas', 'sklearn') if m in sys.modules]\n"
            "print('HEAVY', heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert "HEAVY []" in out
    for command in ("train", "predict", "evaluate", "report"):
        assert command in out


def _summary(stdout: str) -> dict:
    """The train summary's ``key   value`` lines (two or more spaces apart) as a dict."""
    rows = (re.fullmatch(r"(\S.*?) {2,}(\S.*)", line) for line in stdout.splitlines())
    return {m.group(1): m.group(2) for m in rows if m}


def test_version(runner):
    result = runner.invoke(forecast, ["--version"])
    assert result.exit_code == 0 and "forecast, version" in result.output


def test_train_and_predict_air_passengers(runner, tmp_path):
    runs = tmp_path / "runs"
    result = _train(runner, runs, DATA / "air_passengers.csv")
    summary = _summary(result.stdout)
    assert {k: summary[k] for k in ("rows", "series", "frequency", "time range", "target",
                                    "horizon", "model", "device", "backend")} == {
        "rows": "144", "series": "1", "frequency": "MS",
        "time range": "1949-01-01 … 1960-12-01", "target": "passengers", "horizon": "12",
        "model": "tanh_cell", "device": "CPU", "backend": "tensorflow"}
    assert re.fullmatch(r"\d+ \(best \d+\)", summary["epochs run"])
    assert float(summary["validation loss"].split()[0]) > 0
    run_id = (runs / "latest").read_text().strip()
    run = runs / run_id
    for name in ("model.keras", "preprocessing.json", "config.toml", "metrics.json",
                 "history.csv", "data.json", "run.json", "forecast.csv", "backtest.csv",
                 "diagnostics.json"):
        assert (run / name).is_file(), name
    data = json.loads((run / "data.json").read_text())
    assert data["rows"] == 144 and len(data["sha256"]) == 64

    out = tmp_path / "fc.csv"
    result = _predict(runner, runs, out, "--horizon", "30")
    frame = pd.read_csv(out)
    assert len(frame) == 30
    expected = pd.date_range("1961-01-01", periods=30, freq="MS").strftime("%Y-%m-%d")
    assert frame["timestamp"].tolist() == expected.tolist()
    assert frame["timestamp"].iloc[-1] == "1963-06-01"
    assert list(frame.columns[:3]) == ["series_id", "timestamp", "forecast"]
    assert {"lower_80", "upper_80", "lower_95", "upper_95"} <= set(frame.columns)
    values = frame["forecast"].to_numpy()
    assert np.all(np.isfinite(values))
    assert 150 < values.mean() < 1500  # passengers (thousands): plausible magnitude
    assert np.all(frame["lower_95"] <= frame["lower_80"])
    assert np.all(frame["lower_80"] <= frame["forecast"])
    assert np.all(frame["forecast"] <= frame["upper_80"])
    assert "1963-06-01" in result.output  # printed too
    assert "recursively" in result.stderr  # 30 > trained horizon 12: says so


def test_default_ensemble_spans_and_anchors_survive_the_saved_run(runner, tmp_path):
    """The shipped ensemble shape through the CLI: members reading 48 down to 24 months,
    the second anchored on the last season; the run reloads (safe mode) and predicts."""
    runs = tmp_path / "runs"
    result = _train(runner, runs, DATA / "air_passengers.csv", "--ensemble", "2",
                    "--no-backtest")
    assert "48 (lookbacks 48 … 24 over 2 networks)" in result.output
    run = runs / (runs / "latest").read_text().strip()
    info = json.loads((run / "run.json").read_text())
    assert info["window"] == 48 and info["lookbacks"] == [48, 24]
    assert info["batch_size"] == 32  # automatic: ~100 windows, small data
    import keras

    model = keras.saving.load_model(run / "model.keras", safe_mode=True)
    assert model.input_shape == (None, 48, 1)
    from forecaster.models.ensemble import EnsembleTanhRNN, SeasonalAnchor

    layers = {type(layer): layer for layer in model.layers}
    assert layers[EnsembleTanhRNN].lookbacks == [48, 24]
    assert layers[SeasonalAnchor].anchored == [False, True]
    out = tmp_path / "fc.csv"
    _predict(runner, runs, out, "--horizon", "12")
    frame = pd.read_csv(out)
    saved = pd.read_csv(run / "forecast.csv")
    np.testing.assert_allclose(frame["forecast"], saved["forecast"], rtol=1e-9)


def test_panel_us_employment(runner, tmp_path):
    runs = tmp_path / "runs"
    _train(runner, runs, DATA / "us_employment.csv", "--id-col", "sector", "--model",
           "simple_rnn")
    out = tmp_path / "fc.csv"
    _predict(runner, runs, out, "--horizon", "30")
    frame = pd.read_csv(out)
    counts = frame.groupby("series_id").size()
    assert len(counts) == 22 and set(counts) == {30}
    assert frame.groupby("series_id")["timestamp"].first().eq("2016-01-01").all()
    assert np.isfinite(frame["forecast"]).all()


def test_integer_step_csv(runner, tmp_path):
    t = np.arange(1, 121)
    y = 10 + np.sin(t / 3) + 0.01 * t
    path = tmp_path / "steps.csv"
    pd.DataFrame({"t": t, "y": y}).to_csv(path, index=False)
    runs = tmp_path / "runs"
    _train(runner, runs, path, "--horizon", "5")
    out = tmp_path / "fc.json"
    _predict(runner, runs, out, "--horizon", "7", "--format", "json")
    records = json.loads(out.read_text())
    assert [r["timestamp"] for r in records] == [str(v) for v in range(121, 128)]


def test_predict_formats_and_refuses_to_overwrite(runner, tmp_path):
    runs = tmp_path / "runs"
    _train(runner, runs, DATA / "air_passengers.csv", "--no-backtest", "--model", "gru")
    pq = tmp_path / "fc.parquet"
    _predict(runner, runs, pq, "--format", "parquet", "--horizon", "3")
    frame = pd.read_parquet(pq)
    assert len(frame) == 3 and "lower_80" not in frame.columns  # no backtest, no intervals
    again = runner.invoke(forecast, ["predict", "--runs-dir", str(runs), "--output", str(pq)])
    assert again.exit_code == 1
    assert "already exists" in again.stderr and "Traceback" not in again.stderr
    assert pd.read_parquet(pq).equals(frame)  # the user's file is untouched


def test_errors_are_one_line(runner, tmp_path):
    result = runner.invoke(forecast, ["predict", "--runs-dir", str(tmp_path / "none")])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: no runs found")
    result = runner.invoke(forecast, ["train", str(tmp_path / "missing.csv"),
                                      "--runs-dir", str(tmp_path / "r")])
    assert result.exit_code == 1 and result.stderr.startswith("Error: ")
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "r" / "latest").exists()


def test_subprocess_train_predict_and_same_seed_is_byte_identical(tmp_path):
    """The installed script, in separate processes: same data + seed ⇒ same bytes.  Two
    networks: the wide ensemble's layers must load in a process that never built one."""
    exe = forecast_exe()
    outputs = []
    for k in range(2):
        runs = tmp_path / f"runs{k}"
        subprocess.run([exe, "--quiet", "train", str(DATA / "air_passengers.csv"),
                        "--runs-dir", str(runs), *FAST, "--ensemble", "2"], check=True,
                       capture_output=True, text=True)
        out = tmp_path / f"fc{k}.csv"
        proc = subprocess.run([exe, "predict", "--runs-dir", str(runs), "--horizon", "30",
                               "--output", str(out)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        assert "1963-06-01" in proc.stdout
        # TensorFlow's start-up chatter is silenced
        assert "oneDNN" not in proc.stderr and "cuda" not in proc.stderr.lower()
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]


def test_evaluate_and_report_never_write_into_a_foreign_folder(runner, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    result = runner.invoke(forecast, ["evaluate", str(DATA / "air_passengers.csv"),
                                      "--models", "naive", "--out", str(mine)])
    assert result.exit_code == 1 and "refusing to write into it" in result.stderr
    result = runner.invoke(forecast, ["report", "--runs-dir", str(tmp_path / "runs"),
                                      "--run", "x", "--out", str(mine)])
    assert result.exit_code == 1
    assert (mine / "notes.txt").read_text() == "keep me"
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]
    # an earlier evaluation folder of ours may be refreshed
    out = tmp_path / "eval"
    for _ in range(2):
        result = runner.invoke(forecast, ["evaluate", str(DATA / "air_passengers.csv"),
                                          "--models", "naive,mean", "--folds", "2",
                                          "--out", str(out)])
        assert result.exit_code == 0, result.stderr
    assert (out / "metrics.json").is_file()


def test_gpu_requested_without_a_gpu_is_a_clear_error(runner, tmp_path):
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        pytest.skip("this machine has a GPU")
    result = runner.invoke(forecast, ["train", str(DATA / "air_passengers.csv"),
                                      "--runs-dir", str(tmp_path / "runs"), *FAST,
                                      "--device", "gpu"])
    assert result.exit_code == 1
    assert "TensorFlow sees no GPU" in result.stderr and "--device cpu" in result.stderr
    assert not (tmp_path / "runs" / "latest").exists()


def test_predict_on_gpu_without_a_gpu_is_a_clear_error(runner, tmp_path):
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        pytest.skip("this machine has a GPU")
    result = runner.invoke(forecast, ["predict", "--runs-dir", str(tmp_path), "--device", "gpu"])
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "Error: `--device gpu` was requested but TensorFlow sees no GPU. Install the gpu extra "
        "(pip install 'forecaster[gpu]') or use --device cpu."]


def test_quick_profile_sits_under_the_flags(runner, tmp_path):
    runs = tmp_path / "runs"
    result = runner.invoke(forecast, ["train", str(DATA / "air_passengers.csv"), "--runs-dir",
                                      str(runs), "--quick", "--epochs", "2", "--units", "4"])
    assert result.exit_code == 0, result.output + result.stderr
    assert "backtest: 6 origins × horizon 12 (RNN: 3 network(s), early stopping within 2 " \
           "epochs; 7 baselines)" in result.stderr
    run = runs / (runs / "latest").read_text().strip()
    config = (run / "config.toml").read_text()
    for line in ("ensemble = 3", "patience = 5", "origins = 6", "epochs = 2", "units = 4"):
        assert f"\n{line}\n" in config, line
    bad = runner.invoke(forecast, ["train", str(DATA / "air_passengers.csv"), "--quick",
                                   "--profile", "default"])
    assert bad.exit_code == 2
    assert "--quick and --profile default contradict each other." in bad.stderr
