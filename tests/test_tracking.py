"""`--mlflow URI` / `[tracking] mlflow_uri` against a real local MLflow store (SQLite):
what train, evaluate and tune log (read back with MlflowClient), the missing extra, bad
URIs refused before any work, and a logging failure after the work (a warning, exit 0)."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys

import pytest
from click.testing import CliRunner

from forecaster.cli import forecast
from tests.conftest import DATA, FAST

mlflow = pytest.importorskip("mlflow", reason="the mlflow extra is not installed")

AIR = DATA / "air_passengers.csv"
SPACE = 'only = true\nunits = [4, 8]\nlearning_rate = {low = 1e-3, high = 1e-2, log = true}\n'
TINY_TUNE = ["--epochs", "2", "--ensemble", "1", "--patience", "2", "--seed", "1",
             "--folds", "1", "--trials", "2"]


def _invoke(args):
    result = CliRunner().invoke(forecast, [str(a) for a in args])
    return result


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One SQLite store holding a tiny train (with --report) and a tiny tune of
    air_passengers; MLflow's artifacts go to ./mlruns of the folder the commands run in."""
    root = tmp_path_factory.mktemp("tracking")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    cwd = os.getcwd()
    os.chdir(root)
    try:
        train = _invoke(["train", AIR, "--runs-dir", root / "runs", *FAST, "--report",
                         "--reports-dir", root / "reports", "--mlflow", uri])
        assert train.exit_code == 0, train.output + train.stderr
        (root / "space.toml").write_text(SPACE)
        tune = _invoke(["tune", AIR, "--runs-dir", root / "runs", "--space",
                        root / "space.toml", *TINY_TUNE, "--mlflow", uri])
        assert tune.exit_code == 0, tune.output + tune.stderr
    finally:
        os.chdir(cwd)
    run_dir = root / "runs" / (root / "runs" / "latest").read_text().strip()
    return {"root": root, "uri": uri, "train": train, "tune": tune, "run_dir": run_dir,
            "client": mlflow.tracking.MlflowClient(tracking_uri=uri)}


def _runs(client, experiment="air_passengers", command=None):
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None, [e.name for e in client.search_experiments()]
    found = client.search_runs([exp.experiment_id], max_results=1000)
    return [r for r in found if command is None
            or r.data.tags.get("forecaster.command") == command]


def _artifacts(client, run_id, path=None) -> set[str]:
    return {a.path for a in client.list_artifacts(run_id, path)}


def test_train_logs_config_leaderboard_run_folder_and_report(store):
    client, run_dir = store["client"], store["run_dir"]
    (run,) = _runs(client, command="train")
    assert run.info.status == "FINISHED"
    assert run.data.tags["mlflow.runName"] == run_dir.name
    assert run.data.tags["forecaster.run_id"] == run_dir.name
    params = run.data.params
    assert params["model.units"] == "4" and params["training.epochs"] == "3"
    assert params["model.kind"] == "tanh_cell" and params["evaluation.levels"] == "[80, 95]"
    assert params["run.window"] == "24" and params["run.horizon"] == "12"
    assert params["tracking.mlflow_uri"] == store["uri"]
    board = json.loads((run_dir / "metrics.json").read_text())["leaderboard"]
    by_model = {row["model"]: row for row in board}
    metrics = run.data.metrics
    for model in ("rnn", "seasonal_naive", "ridge"):
        assert metrics[f"{model}.mase"] == pytest.approx(by_model[model]["mase"])
        assert metrics[f"{model}.smape"] == pytest.approx(by_model[model]["smape"])
    assert "train.val_loss" in metrics
    assert {"run", "report"} <= _artifacts(client, run.info.run_id)
    files = _artifacts(client, run.info.run_id, "run")
    assert {f"run/{name}" for name in ("model.keras", "run.json", "config.toml",
                                       "metrics.json", "preprocessing.json")} <= files
    report = _artifacts(client, run.info.run_id, "report")
    assert "report/report.html" in report and any(p.endswith(".png") for p in report)
    # the logged model file is the run's, byte for byte
    local = client.download_artifacts(run.info.run_id, "run/model.keras",
                                      str(store["root"] / "download"))
    assert _sha(local) == _sha(run_dir / "model.keras")
    assert "mlflow: logged run" in store["train"].stderr


def test_tune_logs_a_parent_with_the_best_and_a_nested_run_per_trial(store):
    client = store["client"]
    runs = _runs(client, command="tune")
    (parent,) = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(children) == 2
    best = store["root"] / "runs" / "tune" / "air_passengers" / "best.toml"
    header = best.read_text().splitlines()[1]  # "# trial N, backtest mase 1.2345 (folds …)"
    assert parent.data.params["tune.metric"] == "mase"
    assert f"{parent.data.metrics['best.mase']:.4f}" in header
    assert {"tune/best.toml", "tune/trials.csv"} <= _artifacts(client, parent.info.run_id,
                                                               "tune")
    scores = sorted(r.data.metrics["mase"] for r in children)
    assert scores[0] == pytest.approx(parent.data.metrics["best.mase"])
    for child in children:
        assert child.data.params["units"] in ("4", "8")
        assert "learning_rate" in child.data.params
        assert child.data.tags["forecaster.trial_state"] == "COMPLETE"
        history = client.get_metric_history(child.info.run_id, "mase.fold")
        assert len(history) == 1  # one fold


def test_evaluate_logs_from_the_config_file_s_tracking_uri(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'ml.db'}"
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(f'[tracking]\nmlflow_uri = "{uri}"\n')
    out = tmp_path / "evaluation"
    result = _invoke(["evaluate", AIR, "--models", "naive,seasonal_naive", "--config", cfg,
                      "--out", out, "--quiet"])
    assert result.exit_code == 0, result.output + result.stderr
    client = mlflow.tracking.MlflowClient(tracking_uri=uri)
    (run,) = _runs(client, command="evaluate")
    assert run.data.params["models"] == "seasonal_naive,naive" or \
        set(run.data.params["models"].split(",")) == {"naive", "seasonal_naive"}
    assert run.data.params["protocol.folds"] == "3"
    board = {r["model"]: r for r in json.loads((out / "metrics.json").read_text())["leaderboard"]}
    assert run.data.metrics["naive.mase"] == pytest.approx(board["naive"]["mase"])
    assert {"evaluation/metrics.json", "evaluation/folds.csv", "evaluation/backtest.csv"} \
        <= _artifacts(client, run.info.run_id, "evaluation")
    # `--mlflow ""` turns the config's tracking off
    again = _invoke(["evaluate", AIR, "--models", "naive", "--config", cfg, "--out",
                     tmp_path / "again", "--quiet", "--mlflow", ""])
    assert again.exit_code == 0 and again.stderr == "", again.stderr
    assert len(_runs(client, command="evaluate")) == 1


def test_without_the_extra_it_is_one_line_before_any_work(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # `import mlflow` raises ImportError
    result = _invoke(["train", AIR, "--runs-dir", tmp_path / "runs", *FAST,
                      "--mlflow", f"sqlite:///{tmp_path / 'ml.db'}"])
    assert result.exit_code == 1
    assert result.stderr == ("Error: --mlflow needs the mlflow extra: pip install "
                             "'forecaster[mlflow]'.\n")
    assert not (tmp_path / "runs").exists() and not (tmp_path / "ml.db").exists()


def _foreign_sqlite(path):
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE studies (id INTEGER)")
    con.commit()
    con.close()
    return path


@pytest.mark.parametrize("make_uri, message", [
    (lambda p: "nonsense://somewhere", "must be a tracking store URI"),
    (lambda p: "mlflow.db", "must be a tracking store URI"),
    (lambda p: f"sqlite:///{_foreign_sqlite(p / 'optuna.db')}",
     "is an SQLite database of something else (tables: studies); it was left as it is"),
    (lambda p: f"sqlite:///{AIR}",
     "is not an SQLite database (corrupt or another kind of file); it was left as it is"),
    (lambda p: "http://127.0.0.1:9", "cannot open the tracking store"),
])
def test_bad_uris_are_one_line_errors_before_any_work(tmp_path, monkeypatch, make_uri,
                                                      message):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    uri = make_uri(tmp_path)
    before = {p: _sha(p) for p in tmp_path.glob("*.db")}
    for command in (["train", AIR, *FAST], ["evaluate", AIR, "--models", "naive"],
                    ["tune", AIR, *TINY_TUNE]):
        result = _invoke([*command, "--runs-dir", tmp_path / "runs", "--mlflow", uri])
        assert result.exit_code == 1, result.output
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: MLflow tracking URI"), lines
        assert message in lines[0]
    assert not (tmp_path / "runs").exists()
    assert {p: _sha(p) for p in tmp_path.glob("*.db")} == before


def test_a_config_uri_with_spaces_is_a_config_error(tmp_path):
    cfg = tmp_path / "cfg.toml"
    cfg.write_text('[tracking]\nmlflow_uri = " sqlite:///x.db"\n')
    result = _invoke(["evaluate", AIR, "--config", cfg, "--models", "naive"])
    assert result.exit_code == 1
    assert "`tracking.mlflow_uri` must be an MLflow tracking URI" in result.stderr


def _blocked_store(tmp_path):
    """A store that answers but whose experiment's artifact folder cannot be written (a
    file stands where the folder should be): ``(uri, client)``."""
    uri = f"sqlite:///{tmp_path / 'ml.db'}"
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    client = mlflow.tracking.MlflowClient(tracking_uri=uri)
    client.create_experiment("air_passengers", artifact_location=str(blocker / "artifacts"))
    return uri, client


def test_a_logging_failure_after_the_work_warns_and_keeps_the_result(tmp_path, monkeypatch):
    """The store answers, but its experiment's artifact folder cannot be written (a file
    stands where a folder should be): the evaluation is kept, exit 0, a warning, and the
    MLflow run is marked FAILED."""
    monkeypatch.chdir(tmp_path)
    uri, client = _blocked_store(tmp_path)
    out = tmp_path / "evaluation"
    result = _invoke(["evaluate", AIR, "--models", "naive", "--out", out, "--quiet",
                      "--mlflow", uri])
    assert result.exit_code == 0, result.output + result.stderr
    assert (out / "metrics.json").is_file()
    (warning,) = result.stderr.splitlines()
    assert warning.startswith("warning: MLflow logging failed: MLflow (")
    assert warning.endswith(f"the evaluation in {out} is saved all the same.")
    (run,) = _runs(client, command="evaluate")
    assert run.info.status == "FAILED"


def test_an_interrupt_while_logging_says_the_work_is_saved(tmp_path, monkeypatch):
    import forecaster.runs.tracking

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(forecaster.runs.tracking, "log_evaluate", interrupted)
    out = tmp_path / "evaluation"
    result = _invoke(["evaluate", AIR, "--models", "naive", "--out", out, "--quiet",
                      "--mlflow", f"sqlite:///{tmp_path / 'ml.db'}"])
    assert result.exit_code == 130
    assert result.stderr == (f"Error: interrupted while logging to MLflow; the evaluation "
                             f"in {out} is saved all the same.\n")
    assert (out / "metrics.json").is_file()


def test_commands_starting_at_once_on_a_new_store_all_log(store, tmp_path):
    """MLflow creates its tables on first use; three processes doing that at once must
    not trip over each other's migrations.  (They log the saved run from Python, its
    config read from config.toml: how a run whose logging failed is logged later.)"""
    code = ("import sys; from forecaster.runs import tracking; run, uri = sys.argv[1:]; "
            "print(tracking.log_train(uri, run, client=tracking.connect(uri)))")
    uri = f"sqlite:///{tmp_path / 'new.db'}"
    procs = [subprocess.Popen([sys.executable, "-c", code, str(store["run_dir"]), uri],
                              cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(3)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outs
    client = mlflow.tracking.MlflowClient(tracking_uri=uri)
    logged = _runs(client, command="train")
    assert len(logged) == 3
    assert {r.data.params["model.units"] for r in logged} == {"4"}
    assert {r.data.params["training.epochs"] for r in logged} == {"3"}


# -- the Python API: mlflow_uri=URI logs as --mlflow URI does ---------------------------------
TINY = dict(epochs=3, units=4, ensemble=1, origins=20, patience=2, seed=1)  # FAST's flags
assert FAST == [x for k, v in TINY.items() for x in (f"--{k}", str(v))]


def test_api_fit_logs_nothing_and_save_logs_the_run_as_train_does(store, tmp_path,
                                                                   monkeypatch):
    from forecaster import Forecaster

    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'api.db'}"
    model = Forecaster(mlflow_uri=uri, **TINY).fit(AIR)
    client = mlflow.tracking.MlflowClient(tracking_uri=uri)
    assert client.get_experiment_by_name("air_passengers") is None  # fit alone: nothing
    run_dir = model.save(tmp_path / "runs")
    (run,) = _runs(client, command="train")
    assert run.info.run_id == model.mlflow_run_id_ and run.info.status == "FINISHED"
    assert run.data.tags["forecaster.run_id"] == run_dir.name
    assert run.data.tags["forecaster.run_dir"] == str(run_dir.resolve())
    assert run.data.params["tracking.mlflow_uri"] == uri
    assert run.data.params["model.units"] == "4" and run.data.params["run.window"] == "24"
    board = {row["model"]: row for row in json.loads(
        (run_dir / "metrics.json").read_text())["leaderboard"]}
    assert run.data.metrics["rnn.mase"] == pytest.approx(board["rnn"]["mase"])
    # the same keys as `forecast train --mlflow` logged (store: FAST, with --report)
    (cli,) = _runs(store["client"], command="train")
    assert set(run.data.params) == set(cli.data.params)
    assert set(run.data.metrics) == set(cli.data.metrics)
    assert set(run.data.tags) == set(cli.data.tags)
    assert _artifacts(client, run.info.run_id) == {"run"}  # no report: save() writes none
    assert _artifacts(client, run.info.run_id, "run") == _artifacts(store["client"],
                                                                    cli.info.run_id, "run")


@pytest.mark.parametrize("uri, message", [
    ("nonsense://somewhere", "must be a tracking store URI"),
    ("http://127.0.0.1:9", "cannot open the tracking store"),
])
def test_api_bad_uris_fail_when_the_work_starts_not_after_it(tmp_path, monkeypatch, uri,
                                                              message):
    import forecaster.pipeline.train
    from forecaster import ConfigError, Forecaster, evaluate, tune

    def no_training(*args, **kwargs):
        raise AssertionError("trained despite a bad tracking URI")

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setattr(forecaster.pipeline.train, "fit_run", no_training)
    model = Forecaster(mlflow_uri=uri, **TINY)
    for work in (lambda: model.fit(AIR), lambda: model.backtest(AIR, models=["naive"]),
                 lambda: evaluate(AIR, models=["naive"], mlflow_uri=uri),
                 lambda: tune(AIR, trials=1, runs_dir=tmp_path / "runs", mlflow_uri=uri)):
        with pytest.raises(ConfigError, match=message) as caught:
            work()
        assert str(caught.value).startswith("MLflow tracking URI")
        assert len(str(caught.value).splitlines()) == 1
    assert not (tmp_path / "runs").exists() and not hasattr(model, "model_")


def test_api_without_the_extra_fails_at_fit_with_the_install_hint(tmp_path, monkeypatch):
    from forecaster import ConfigError, Forecaster

    monkeypatch.setitem(sys.modules, "mlflow", None)
    with pytest.raises(ConfigError, match=r"^--mlflow needs the mlflow extra: pip install"):
        Forecaster(mlflow_uri=f"sqlite:///{tmp_path / 'ml.db'}", **TINY).fit(AIR)
    assert not (tmp_path / "ml.db").exists()


def test_api_evaluate_logs_what_forecast_evaluate_logs(tmp_path, monkeypatch):
    from forecaster import evaluate

    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'ml.db'}"
    result = evaluate(AIR, models=["naive", "seasonal_naive"], mlflow_uri=uri)
    cli = _invoke(["evaluate", AIR, "--models", "naive,seasonal_naive", "--out",
                   tmp_path / "evaluation", "--quiet", "--mlflow", uri])
    assert cli.exit_code == 0, cli.output + cli.stderr
    client = mlflow.tracking.MlflowClient(tracking_uri=uri)
    runs = _runs(client, command="evaluate")
    assert len(runs) == 2
    (api,) = [r for r in runs if r.data.tags["forecaster.evaluation"] == ""]  # a temp folder
    (ours,) = [r for r in runs if r is not api]
    assert api.info.status == "FINISHED"
    assert api.data.tags["mlflow.runName"].startswith("evaluate ")
    board = result.to_frame().set_index("model")
    assert api.data.metrics["naive.mase"] == pytest.approx(board.loc["naive", "mase"])
    assert api.data.metrics == pytest.approx(ours.data.metrics)  # the same backtest
    assert api.data.params == ours.data.params
    assert _artifacts(client, api.info.run_id, "evaluation") == {
        "evaluation/metrics.json", "evaluation/folds.csv", "evaluation/backtest.csv"}


def test_api_logging_failure_warns_and_returns_the_result(tmp_path, monkeypatch):
    """As the command's warning and exit 0: the work is returned, the MLflow run FAILED."""
    from forecaster import evaluate
    from forecaster.runs.tracking import TrackingWarning

    monkeypatch.chdir(tmp_path)
    uri, client = _blocked_store(tmp_path)
    with pytest.warns(TrackingWarning, match=r"^MLflow logging failed: MLflow \(.*; the "
                      r"evaluation is returned all the same\.$"):
        result = evaluate(AIR, models=["naive"], mlflow_uri=uri)
    assert list(result.to_frame()["model"]) == ["naive"]
    (run,) = _runs(client, command="evaluate")
    assert run.info.status == "FAILED"


def test_api_tune_logs_the_study_with_best_toml_and_its_trials(tmp_path, monkeypatch):
    from forecaster import tune

    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'ml.db'}"
    space = {"only": True, "units": [4, 8]}
    result = tune(AIR, trials=1, folds=1, space=space, runs_dir=tmp_path / "runs",
                  mlflow_uri=uri, epochs=2, ensemble=1, patience=2, seed=1)
    client = mlflow.tracking.MlflowClient(tracking_uri=uri)
    runs = _runs(client, command="tune")
    (parent,) = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    (trial,) = [r for r in runs if r is not parent]
    assert trial.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert parent.data.metrics["best.mase"] == pytest.approx(result.best["value"])
    assert parent.data.params["tune.study"] == "forecaster"
    assert _artifacts(client, parent.info.run_id, "tune") == {"tune/best.toml",
                                                              "tune/trials.csv"}
    assert not list(tmp_path.glob("runs/tune/**/best.toml"))  # the API writes no best.toml


def _sha(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


@pytest.mark.parametrize("uri", ["databricks", "databricks://my-profile"])
def test_databricks_is_accepted_without_a_live_connection(uri, monkeypatch):
    """Databricks' tracking URI (the workspace of the default or a named profile) is
    accepted as the docs and the error message say; no connection is tried up front (it
    needs the user's credentials, which a test has none of)."""
    from forecaster.runs import tracking
    def no_call(*args, **kwargs):
        raise AssertionError("connected to Databricks up front")

    monkeypatch.setattr(mlflow.tracking.MlflowClient, "search_experiments", no_call)
    client = tracking.connect(uri)
    assert client is not None and client.tracking_uri == uri
    with pytest.raises(tracking.ConfigError, match="must be a tracking store URI"):
        tracking.connect("databricksx")
