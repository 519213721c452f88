"""Atomic runs, interruption, concurrency, safe loading, numerics, disk use."""

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecaster.cli import Terminated, forecast
from tests import hooked_forecast
from tests.conftest import DATA, FAST, forecast_exe

SLOW_TRAIN = ["--epochs", "5000", "--patience", "5000", "--no-backtest", "--units", "4"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One complete run to tamper with (copied per test)."""
    from click.testing import CliRunner

    runs = tmp_path_factory.mktemp("base") / "runs"
    result = CliRunner().invoke(forecast, ["train", str(DATA / "air_passengers.csv"),
                                           "--runs-dir", str(runs), *FAST])
    assert result.exit_code == 0, result.output
    return runs


def _copy_runs(trained, tmp_path) -> Path:
    runs = tmp_path / "runs"
    shutil.copytree(trained, runs)
    return runs


def _entries(runs: Path) -> list[str]:
    return sorted(p.name for p in runs.iterdir())


def _start_training(runs: Path, *extra):
    """A slow ``forecast train`` child, returned once its fit loop runs (its first epoch is
    done: past start-up, so a signal lands mid-training)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    child = hooked_forecast.start(["train", str(DATA / "air_passengers.csv"), "--runs-dir",
                                   str(runs), *SLOW_TRAIN, *extra], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        child.wait_for("epoch final 1$")
    except BaseException:
        child.proc.kill()
        raise
    finally:
        child.close()
    return child.proc


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130),
                                       (signal.SIGKILL, -9)])
def test_killed_training_leaves_no_partial_run(trained, tmp_path, sig, code):
    runs = _copy_runs(trained, tmp_path)
    before = _entries(runs)
    latest = (runs / "latest").read_text()
    proc = _start_training(runs)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err[-2000:]
    if sig != signal.SIGKILL:
        lines = [line for line in err.strip().splitlines() if line.strip()]
        assert lines[-1].startswith("Error: ") and "Traceback" not in err
    assert (runs / "latest").read_text() == latest
    leftovers = [n for n in _entries(runs) if n not in before]
    assert all(n.startswith(".tmp-") for n in leftovers)  # never a visible half run
    if sig != signal.SIGKILL:
        assert leftovers == []


def _interrupted_train(monkeypatch, tmp_path, runner, body):
    """``forecast train`` with the pipeline replaced by ``body`` (timing-free)."""
    import forecaster.pipeline.train as pipeline

    monkeypatch.setattr(pipeline, "train", lambda *a, **k: body())
    runs = tmp_path / "runs"
    return runner.invoke(forecast, ["train", str(DATA / "air_passengers.csv"),
                                    "--runs-dir", str(runs), *FAST]), runs


@pytest.mark.parametrize("kind, code, word", [(Terminated, 143, "terminated"),
                                              (KeyboardInterrupt, 130, "interrupted")])
def test_an_interrupt_turned_into_another_error_is_reported_as_the_interrupt(
        monkeypatch, tmp_path, runner, kind, code, word):
    """The signal handler's raise can land inside library code that wraps it in an error of
    its own (seen once in CI as exit 1); the pending interrupt is what gets reported."""
    from forecaster.training.runtime import interrupt, pending_interrupt

    def body():
        interrupt(kind())
        raise RuntimeError("a library wrapped the KeyboardInterrupt")

    result, runs = _interrupted_train(monkeypatch, tmp_path, runner, body)
    assert result.exit_code == code
    assert result.stderr.strip().splitlines()[-1] == (
        f"Error: {word}; nothing was saved and runs/latest is unchanged.")
    assert pending_interrupt() is None  # cleared for whatever runs next in this process
    assert not runs.exists()


def test_an_error_without_a_pending_interrupt_stays_that_error(monkeypatch, tmp_path, runner):
    def body():
        raise RuntimeError("boom")

    result, _ = _interrupted_train(monkeypatch, tmp_path, runner, body)
    assert result.exit_code == 1
    assert "unexpected RuntimeError: boom" in result.stderr


def test_a_swallowed_interrupt_still_stops_before_the_run_is_saved(monkeypatch, tmp_path):
    """A SIGTERM whose raise was dropped (e.g. inside a gc callback) after the last batch:
    the pipeline checks once more before it writes anything."""
    from forecaster.config import load_config
    from forecaster.evaluation import gradients
    from forecaster.pipeline import train as pipeline
    from forecaster.training.runtime import clear_interrupts, interrupt

    real = gradients.gradient_norms

    def norms_then_sigterm(*args):  # runs after the fit, just before the run is staged
        interrupt(Terminated())
        return real(*args)

    monkeypatch.setattr(gradients, "gradient_norms", norms_then_sigterm)
    runs = tmp_path / "runs"
    cfg = load_config(overrides={
        "model": {"units": 4, "ensemble": 1},
        "training": {"epochs": 2, "patience": 1},
        "evaluation": {"backtest": False}, "output": {"runs_dir": str(runs)}})
    try:
        with pytest.raises(Terminated):
            pipeline.train(DATA / "air_passengers.csv", cfg)
    finally:
        clear_interrupts()
    assert not runs.exists() or _entries(runs) == []


def test_two_trainings_at_once_get_distinct_complete_runs(tmp_path):
    runs = tmp_path / "runs"
    args = ["train", str(DATA / "air_passengers.csv"), "--runs-dir", str(runs), "--name",
            "same", "--quiet", *FAST, "--no-backtest"]
    procs = [subprocess.Popen([forecast_exe(), *args], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    paths = {Path(o[0].strip()) for o in outs}
    assert len(paths) == 2
    for path in paths:
        assert (path / "model.keras").is_file() and (path / "run.json").is_file()
    assert (runs / "latest").read_text().strip() in {p.name for p in paths}
    assert not [n for n in _entries(runs) if n.startswith(".tmp-")]


def _predict(runner, runs):
    return runner.invoke(forecast, ["predict", "--runs-dir", str(runs), "--horizon", "3",
                                    "--output", str(runs.parent / "fc.csv")])


def test_refuses_a_model_with_a_lambda_layer(trained, tmp_path, runner):
    import keras

    runs = _copy_runs(trained, tmp_path)
    run = runs / (runs / "latest").read_text().strip()
    state = json.loads((run / "preprocessing.json").read_text())
    inputs = keras.Input((state["window"], 1))
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Lambda(lambda t: t * 2.0)(x)
    keras.Model(inputs, keras.layers.Dense(state["horizon"])(x)).save(run / "model.keras")
    _rehash(run)  # past the integrity check: safe loading must refuse it on its own
    result = _predict(runner, runs)
    assert result.exit_code == 1
    assert "Lambda" in result.stderr and "refusing to load" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_refuses_unknown_custom_objects(trained, tmp_path):
    runs = _copy_runs(trained, tmp_path)
    run = runs / (runs / "latest").read_text().strip()
    state = json.loads((run / "preprocessing.json").read_text())
    code = f"""
import keras
@keras.saving.register_keras_serializable(package="evil")
class Sneaky(keras.layers.Layer):
    def call(self, x):
        return x
inputs = keras.Input(({state['window']}, 1))
x = Sneaky()(keras.layers.Flatten()(inputs))
keras.Model(inputs, keras.layers.Dense({state['horizon']})(x)).save(r"{run / 'model.keras'}")
"""
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    _rehash(run)
    proc = subprocess.run([forecast_exe(), "predict", "--runs-dir", str(runs)],
                          capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stderr.startswith("Error: refusing to load model")
    assert "Traceback" not in proc.stderr


def _rehash(run: Path) -> None:
    """Record the current files' sha256 in run.json, as a careful tamperer would: the
    validation of each field must hold on its own."""
    from forecaster.runs import artifacts
    info = json.loads((run / "run.json").read_text())
    info["sha256"] = artifacts.integrity(run)
    (run / "run.json").write_text(json.dumps(info))


def _write_rehashed(path: Path, text: str) -> None:
    path.write_text(text)
    _rehash(path.parent)


@pytest.mark.parametrize("tamper, message", [
    (lambda d: d.update(window=-3), "`window` must be a positive integer"),
    (lambda d: d["series"][0].update(context=["1", "2"]), "finite numeric `context`"),
    (lambda d: d["series"][0].update(scale=0.0), "non-positive `scale`"),
    (lambda d: d.update(format=99), "unsupported format 99"),
    (lambda d: d["axis"].update(freq="bogus"), "preprocessing.json failed validation"),
    (lambda d: d["series"][0].update(context=d["series"][0]["context"][-5:]),
     "5 context values, fewer than the window"),
    (lambda d: d["conformal"].update({"80": [-abs(v) for v in d["conformal"]["80"]]}),
     "`conformal` level 80 must hold finite, non-negative widths"),
    (lambda d: d["conformal"].update({"90": d["conformal"].pop("80")}),
     "`conformal` must hold the levels ['80', '95'], got ['90', '95']"),
    (lambda d: d["conformal"].update({"95": d["conformal"]["95"][:3]}),
     "`conformal` level 95 must list 12 widths"),
    (lambda d: d["series"][0].update(length=3), "needs an integer `length` of at least"),
    (lambda d: d["series"][0].update(interval_scale=-1.0),
     "needs a positive finite `interval_scale`"),
    (lambda d: d.update(window=d["window"] - 1, relative=1),  # disagrees with run.json
     "says window 23, run.json says 24"),
])
def test_refuses_invalid_preprocessing(trained, tmp_path, runner, tamper, message):
    runs = _copy_runs(trained, tmp_path)
    run = runs / (runs / "latest").read_text().strip()
    data = json.loads((run / "preprocessing.json").read_text())
    tamper(data)
    (run / "preprocessing.json").write_text(json.dumps(data))
    _rehash(run)
    result = _predict(runner, runs)
    assert result.exit_code == 1 and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_changed_run_file_is_refused_by_its_hash(trained, tmp_path, runner):
    """Any edit of preprocessing.json, or a model.keras from another run with the same
    shapes, no longer matches the sha256 that run.json recorded."""
    runs = _copy_runs(trained, tmp_path)
    run = runs / (runs / "latest").read_text().strip()
    info = json.loads((run / "run.json").read_text())
    assert set(info["sha256"]) == {"model.keras", "preprocessing.json"}
    text = (run / "preprocessing.json").read_text()
    (run / "preprocessing.json").write_text(text.replace('"scale": ', '"scale": 1e3 * ', 0)
                                            + " ")
    result = _predict(runner, runs)
    assert result.exit_code == 1
    assert "preprocessing.json in run" in result.stderr and "has changed since the run " \
        "was written" in result.stderr
    (run / "preprocessing.json").write_text(text)
    other = tmp_path / "other"
    subprocess.run([forecast_exe(), "--quiet", "train", str(DATA / "air_passengers.csv"),
                    "--runs-dir", str(other), *FAST, "--seed", "7"], check=True,
                   capture_output=True)
    shutil.copy(other / (other / "latest").read_text().strip() / "model.keras",
                run / "model.keras")
    result = _predict(runner, runs)
    assert result.exit_code == 1 and "model.keras in run" in result.stderr
    assert "has changed since the run was written" in result.stderr


@pytest.mark.parametrize("make, message", [
    (lambda run, runs: (run / "model.keras").unlink() or os.symlink("/dev/zero",
                                                                    run / "model.keras"),
     "model.keras in run '{run}' is a symbolic link"),
    (lambda run, runs: _write_rehashed(run / "preprocessing.json", "[1, 2]"),
     "preprocessing.json in run '{run}' must hold a JSON object. Got a JSON list."),
    (lambda run, runs: _write_rehashed(run / "preprocessing.json",
                                       "[" * 100_000 + "]" * 100_000),
     "preprocessing.json in run '{run}' is not valid JSON: nested too deeply."),
    (lambda run, runs: (runs / "latest").unlink() or os.symlink(run / "config.toml",
                                                                runs / "latest"),
     "it is a symbolic link"),
    (lambda run, runs: (runs / "latest").unlink() or (runs / "latest").mkdir(),
     "it is a directory"),
    (lambda run, runs: (runs / "latest").write_bytes(b"\xff\xfe\x00binary"),
     "it holds binary data"),
])
def test_hostile_run_files_get_one_line_naming_them(trained, tmp_path, runner, make, message):
    runs = _copy_runs(trained, tmp_path)
    run = runs / (runs / "latest").read_text().strip()
    make(run, runs)
    result = _predict(runner, runs)
    assert result.exit_code == 1, result.stderr
    assert message.format(run=run.name) in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "[tool]" not in result.stderr
    assert "unexpected" not in result.stderr


def test_truncated_preprocessing_is_refused(trained, tmp_path, runner):
    runs = _copy_runs(trained, tmp_path)
    path = runs / (runs / "latest").read_text().strip() / "preprocessing.json"
    path.write_text(path.read_text()[:50])
    result = _predict(runner, runs)
    assert result.exit_code == 1 and "has changed since the run was written" in result.stderr
    _rehash(path.parent)
    result = _predict(runner, runs)
    assert result.exit_code == 1 and "not valid JSON" in result.stderr


def test_nan_loss_is_a_training_error_not_a_saved_model():
    from forecaster.data import windowing as W
    from forecaster.errors import TrainingError
    from forecaster.models.rnn import build_model
    from forecaster.training.runtime import configure_runtime
    from forecaster.training.loops import fit_model

    configure_runtime(0, "cpu")
    values = np.arange(60, dtype=float)
    values[20] = np.nan  # corrupt data reaching the network
    s, st = W.window_starts([60], 5, 2)
    ws = W.WindowSet.build([values], s, st, 5, 2, level=False)
    model = build_model("simple_rnn", window=5, horizon=2, units=3)
    with pytest.raises(TrainingError, match=r"loss became NaN.*learning rate"):
        fit_model(model, W.WindowSampler(ws, 8), ws.arrays(), epochs=3, learning_rate=0.01,
                  clipnorm=1.0, patience=2)


def test_huge_values_train_to_finite_forecasts(tmp_path, runner):
    import pandas as pd

    t = pd.date_range("2000-01-01", periods=80, freq="MS")
    y = 1e300 * (1 + 0.1 * np.sin(np.arange(80) / 2))
    path = tmp_path / "huge.csv"
    pd.DataFrame({"month": t, "value": y}).to_csv(path, index=False)
    runs = tmp_path / "runs"
    result = runner.invoke(forecast, ["train", str(path), "--runs-dir", str(runs), *FAST])
    assert result.exit_code == 0, result.stderr
    out = tmp_path / "fc.csv"
    result = runner.invoke(forecast, ["predict", "--runs-dir", str(runs), "-o", str(out)])
    assert result.exit_code == 0, result.stderr
    fc = pd.read_csv(out)["forecast"].to_numpy()
    assert np.all(np.isfinite(fc)) and 5e299 < fc.mean() < 2e300


def test_run_directory_holds_no_copy_of_the_data(tmp_path, runner):
    import pandas as pd

    n = 20_000
    t = pd.date_range("2000-01-01", periods=n, freq="h")
    y = np.sin(np.arange(n) * 2 * np.pi / 24) + np.random.default_rng(0).normal(0, .1, n)
    path = tmp_path / "long.csv"
    pd.DataFrame({"time": t, "load": y}).to_csv(path, index=False)
    runs = tmp_path / "runs"
    result = runner.invoke(forecast, ["train", str(path), "--runs-dir", str(runs), *FAST,
                                      "--max-windows", "256"])
    assert result.exit_code == 0, result.stderr
    run = runs / (runs / "latest").read_text().strip()
    state = json.loads((run / "preprocessing.json").read_text())
    assert len(state["series"][0]["context"]) < 200
    # no file holds anything like a row per input point: sizes depend on the backtest
    # (models × origins × horizon) and the window, not on the length of the data
    backtest = pd.read_csv(run / "backtest.csv")
    n_models = backtest["model"].nunique()
    assert len(backtest) == n_models * 20 * state["horizon"]
    for csv in run.glob("*.csv"):
        assert len(pd.read_csv(csv)) < n / 4, csv.name
    assert (run / "model.keras").stat().st_size < 1_000_000


def test_a_forecast_beyond_float64_is_an_error_naming_the_series():
    """The log scale turned a forecast past 1.8e308 into exactly the largest float (clipped)
    and exit 0; now it is not finite, and that is an error naming the series."""
    from forecaster.data import windowing as W
    from forecaster.errors import ForecastError
    from forecaster.models.neural import forecast_values

    scaler = W.SeriesScaler(np.array([0.0, 0.0]), np.array([1.0, 1.0]), lam=0.0)
    contexts = [np.exp(np.arange(3.0)), np.exp(np.array([700.0, 703.0, 706.0]))]
    up = lambda x, training=False: np.full((len(x), 2), 4.0)  # noqa: E731 - "+4 a step"
    with pytest.raises(ForecastError, match=r"1 series \('grows'\) is not a finite number"):
        forecast_values(up, scaler, [0, 1], contexts, window=3, model_horizon=2, steps=2,
                        level=1, ids=["calm", "grows"])
    fine = forecast_values(up, scaler, [0], contexts[:1], window=3, model_horizon=2,
                           steps=2, level=1, ids=["calm"])
    np.testing.assert_allclose(fine, [[np.exp(6.0), np.exp(6.0)]])  # log 2 + 4


def test_values_near_the_largest_float_stay_finite_in_the_baselines():
    from forecaster.data.panel import Panel, TimeAxis
    from forecaster.models.baselines import DriftForecaster, MeanForecaster

    panel = Panel.from_arrays({"top": [1.7e308] * 6, "swing": [-1.7e308, 0.0, 1.7e308]},
                              TimeAxis("integer"))
    mean = MeanForecaster().fit(panel).predict(2)
    np.testing.assert_allclose(mean.forecast, [1.7e308] * 2 + [0.0] * 2)
    drift = DriftForecaster().fit(panel)
    np.testing.assert_allclose(drift.slope_, [0.0, 1.7e308])


def test_a_constant_series_at_the_largest_floats_evaluates_to_json(tmp_path, runner):
    """metrics.json used to fail on 'Out of range float values are not JSON compliant'."""
    import pandas as pd

    path = tmp_path / "top.csv"
    pd.DataFrame({"t": np.arange(60), "y": [1.7e308] * 60}).to_csv(path, index=False)
    result = runner.invoke(forecast, ["evaluate", str(path), "--folds", "2", "--models",
                                      "naive,mean,drift,seasonal_naive", "--season", "4",
                                      "--out", str(tmp_path / "ev")])
    assert result.exit_code == 0, result.stderr
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert {row["model"] for row in metrics["leaderboard"]} == {"naive", "mean", "drift",
                                                                "seasonal_naive"}
    assert all(row["mae"] == 0.0 for row in metrics["leaderboard"])


def test_a_ramp_across_the_float_range_ranks_the_models_it_should(tmp_path, runner):
    """MASE and sMAPE overflowed to 0 for every model there, and naive came out best."""
    import pandas as pd

    path = tmp_path / "ramp.csv"
    pd.DataFrame({"t": np.arange(60), "y": np.linspace(-1, 1, 60) * 1.7e308}).to_csv(
        path, index=False)
    result = runner.invoke(forecast, ["evaluate", str(path), "--folds", "2", "--models",
                                      "naive,drift", "--season", "4", "--format", "json",
                                      "--out", str(tmp_path / "ev")])
    assert result.exit_code == 0, result.stderr
    board = json.loads((tmp_path / "ev" / "metrics.json").read_text())["leaderboard"]
    assert [row["model"] for row in board] == ["drift", "naive"]
    naive = board[1]
    # the naive's error is 2.5 steps of the ramp on average over the 4-step horizon; the
    # in-sample seasonal naive errs by 4 steps
    assert naive["mase"] == pytest.approx(2.5 / 4, rel=1e-6)
    assert naive["smape"] > 0.05


def test_predict_output_format_follows_the_extension(trained, tmp_path, runner):
    import pandas as pd

    runs = _copy_runs(trained, tmp_path)
    out = tmp_path / "fc.parquet"
    result = runner.invoke(forecast, ["predict", "--runs-dir", str(runs), "-o", str(out)])
    assert result.exit_code == 0, result.stderr
    frame = pd.read_parquet(out)  # a real Parquet file, timestamps typed
    assert pd.api.types.is_datetime64_any_dtype(frame["timestamp"])
    bad = runner.invoke(forecast, ["predict", "--runs-dir", str(runs), "-o",
                                   str(tmp_path / "fc.json"), "--format", "csv"])
    assert bad.exit_code == 1 and "`--format csv` contradicts the extension of" in bad.stderr
    assert not (tmp_path / "fc.json").exists()


def test_predict_never_replaces_its_default_file_without_overwrite(trained, tmp_path, runner):
    runs = _copy_runs(trained, tmp_path)
    run = runs / (runs / "latest").read_text().strip()
    args = ["predict", "--runs-dir", str(runs), "--horizon", "5"]
    assert runner.invoke(forecast, args).exit_code == 0
    path = run / "predictions" / "forecast-h5.csv"
    path.write_text("mine")
    again = runner.invoke(forecast, args)
    assert again.exit_code == 1 and "already exists; pass --overwrite" in again.stderr
    assert path.read_text() == "mine"
    assert runner.invoke(forecast, [*args, "--overwrite"]).exit_code == 0
    assert path.read_text() != "mine"
    shutil.rmtree(run / "predictions")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.symlink(elsewhere, run / "predictions")
    linked = runner.invoke(forecast, args)
    assert linked.exit_code == 1 and "refusing to write through it" in linked.stderr
    assert list(elsewhere.iterdir()) == []


def test_predict_horizon_is_bounded_before_any_work(trained, tmp_path, runner):
    runs = _copy_runs(trained, tmp_path)
    args = ["predict", "--runs-dir", str(runs), "-o", str(tmp_path / "fc.csv")]
    result = runner.invoke(forecast, [*args, "--horizon", "1000000000"])
    assert result.exit_code == 1, result.output
    assert "`--horizon` must be between 1 and 10,000. Got 1000000000." in result.stderr
    assert not (tmp_path / "fc.csv").exists()

    run = runs / (runs / "latest").read_text().strip()
    state = json.loads((run / "preprocessing.json").read_text())
    state["series"][0]["context_start"] = "9990-01-01"  # a context that ends near 9999
    _write_rehashed(run / "preprocessing.json", json.dumps(state))
    result = runner.invoke(forecast, [*args, "--horizon", "200"])
    assert result.exit_code == 1, result.output
    assert "`--horizon` 200 runs past 9999-12-31 for series 'passengers'" in result.stderr
    assert not (tmp_path / "fc.csv").exists()


def test_predict_far_past_2262_keeps_exact_dates(trained, tmp_path, runner):
    """Monthly data from 1949 forecast 10,000 steps ahead reaches 2794: past pandas'
    nanosecond range, within what files carry; every date must still be the right month."""
    runs = _copy_runs(trained, tmp_path)
    out = tmp_path / "fc.csv"
    result = runner.invoke(forecast, ["predict", "--runs-dir", str(runs), "--horizon",
                                      "10000", "-o", str(out)])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out)
    assert frame["timestamp"].iloc[0] == "1961-01-01"
    assert frame["timestamp"].iloc[-1] == "2794-04-01"
    assert np.isfinite(frame["forecast"]).all()


def test_train_into_a_runs_dir_that_cannot_exist_fails_before_reading(tmp_path, runner):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = runner.invoke(forecast, ["train", str(DATA / "air_passengers.csv"),
                                      "--runs-dir", str(blocker / "runs"), *FAST])
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: cannot write runs to ")
    assert "backtest" not in result.stderr  # nothing was trained


def test_evaluate_checks_its_output_folder_before_any_work(tmp_path, runner):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    args = ["evaluate", str(DATA / "air_passengers.csv"), "--models", "naive,rnn", "--epochs",
            "2", "--units", "4", "--ensemble", "1"]
    result = runner.invoke(forecast, [*args, "--out", str(blocker / "ev")])
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("Error: cannot write the evaluation to ")
    assert "evaluate:" not in result.stderr  # nothing was evaluated
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep")
    result = runner.invoke(forecast, [*args, "--out", str(foreign)])
    assert result.exit_code == 1 and "refusing to write into it" in result.stderr
    assert "evaluate:" not in result.stderr
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]


def test_formula_ids_are_quoted_in_csv_files_and_shown_plain_in_the_report(tmp_path, runner):
    import pandas as pd

    t = pd.date_range("2000-01-01", periods=60, freq="MS")
    frames = [pd.DataFrame({"unique_id": sid, "ds": t, "y": 50 + np.arange(60) + k})
              for k, sid in enumerate(["=HYPERLINK(\"http://evil\")", "plain"])]
    path = tmp_path / "ids.csv"
    pd.concat(frames).to_csv(path, index=False)
    runs = tmp_path / "runs"
    result = runner.invoke(forecast, ["train", str(path), "--runs-dir", str(runs), *FAST,
                                      "--origins", "2"])
    assert result.exit_code == 0, result.stderr
    run = runs / (runs / "latest").read_text().strip()
    for name in ("forecast.csv", "backtest.csv"):
        ids = set(pd.read_csv(run / name)["series_id"])
        assert ids == {"'=HYPERLINK(\"http://evil\")", "plain"}, name
    out = tmp_path / "fc.csv"
    assert runner.invoke(forecast, ["predict", "--runs-dir", str(runs), "-o",
                                    str(out)]).exit_code == 0
    assert set(pd.read_csv(out)["series_id"]) == {"'=HYPERLINK(\"http://evil\")", "plain"}
    from forecaster.pipeline.report import write_report

    html = write_report(run, tmp_path / "report").read_text()
    assert "=HYPERLINK(&#34;http://evil&#34;)" in html and "&#39;=HYPERLINK" not in html


def test_an_interrupt_landing_in_a_finalizer_is_quiet_and_still_stops():
    """A signal whose raise lands in a ``__del__`` or weakref callback (SQLAlchemy's
    registry during `forecast tune`) cannot propagate: Python would print "Exception
    ignored in …" with a traceback. It is kept quiet and raised when the block ends; other
    unraisable errors still reach the hook that was there before."""
    import sys

    from forecaster.cli.signals import interruptible as _interruptible
    from forecaster.training.runtime import interrupt

    class Dying:
        def __del__(self):
            exc = Terminated()
            interrupt(exc)  # as the signal handler does before raising
            raise exc

    class Other:
        def __del__(self):
            raise ValueError("still shown")

    seen, before = [], sys.unraisablehook
    sys.unraisablehook = seen.append  # stands for Python's default (prints the traceback)
    try:
        with pytest.raises(Terminated):
            with _interruptible():
                Dying()  # collected at once: its raise is "unraisable"
        assert seen == []
        with _interruptible():
            Other()
        assert [type(u.exc_value) for u in seen] == [ValueError]
        assert sys.unraisablehook == seen.append  # restored after each block
    finally:
        sys.unraisablehook = before
