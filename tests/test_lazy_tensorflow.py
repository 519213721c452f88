"""TensorFlow (and Keras, JAX) is imported only where a network is built or loaded: a
baseline-only ``forecast evaluate``, a file refused for its data, ``forecast predict`` of a
run that deploys a baseline and ``forecast serve`` until a network is used never import it
(it costs seconds per command). Each check runs in a fresh interpreter and reads
``sys.modules`` there; training, and a network's forecast, still import it (quietly)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import DATA, FAST

HEAVY = ("tensorflow", "keras", "jax")

# Runs `forecast ARGS...` in-process, then prints the exit code and the heavy modules loaded.
CLI = textwrap.dedent("""
    import json, sys
    from forecaster.cli import main
    try:
        main(sys.argv[1:])
        code = 0
    except SystemExit as exc:
        code = exc.code
    print(json.dumps({"code": code,
                      "heavy": [m for m in %r if m in sys.modules]}))
""" % (HEAVY,))


def _child(code: str, *args) -> tuple[dict, subprocess.CompletedProcess]:
    done = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1]), done


def _forecast(*args) -> tuple[dict, subprocess.CompletedProcess]:
    return _child(CLI, *args)


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """Two tiny runs trained in one child: ``rnn`` deploys the network, ``best`` the
    backtest's winner (a baseline: the tiny network loses on air passengers); a file with a
    duplicated timestamp. Training itself must import TensorFlow."""
    work = tmp_path_factory.mktemp("lazy")
    air = str(DATA / "air_passengers.csv")
    code = textwrap.dedent("""
        import json, sys
        from forecaster.cli import forecast
        for runs, extra in (("rnn", ["--no-backtest"]), ("best", ["--select", "best"])):
            forecast.main(["train", %r, "--runs-dir", %r + "/" + runs, *%r, *extra,
                           "--origins", "12"], standalone_mode=False)
        print(json.dumps({"code": 0, "heavy": [m for m in %r if m in sys.modules]}))
    """ % (air, str(work), FAST, HEAVY))
    found, _ = _child(code)
    assert found["code"] == 0 and "tensorflow" in found["heavy"], found
    (work / "dup.csv").write_text(  # the runs' columns: predict --data reads it too
        "month,passengers\n1960-01,417\n1960-01,391\n1960-02,419\n")
    return work


def test_training_imports_tensorflow(work):
    deployed = json.loads((work / "best" / (work / "best" / "latest").read_text().strip()
                           / "run.json").read_text())["deployed"]
    assert deployed != "rnn"  # the second run deploys a baseline (what the tests below need)


def test_a_baseline_only_evaluation_never_imports_tensorflow(tmp_path):
    found, done = _forecast("evaluate", DATA / "air_passengers.csv", "--models",
                            "naive,theta", "--holdout", "12", "--out", tmp_path / "ev")
    assert found == {"code": 0, "heavy": []}, done.stderr
    assert (tmp_path / "ev" / "metrics.json").is_file()


@pytest.mark.parametrize("command", [
    ["evaluate", "{dup}", "--models", "naive"],
    ["evaluate", "{dup}"],  # the RNN among the models: the file is refused first
    ["train", "{dup}", "--runs-dir", "{work}/never"],
    ["predict", "--runs-dir", "{work}/rnn", "--data", "{dup}", "--output", "{work}/no.csv"],
])
def test_a_refused_file_fails_before_tensorflow(work, command):
    args = [a.format(dup=work / "dup.csv", work=work) for a in command]
    found, done = _forecast(*args)
    assert found == {"code": 1, "heavy": []}, done.stderr
    assert "duplicated timestamps" in done.stderr and "Traceback" not in done.stderr


def test_predict_of_a_deployed_baseline_never_imports_tensorflow(work):
    found, done = _forecast("predict", "--runs-dir", work / "best", "--output",
                            work / "best.csv", "--overwrite")
    assert found == {"code": 0, "heavy": []}, done.stderr
    assert len((work / "best.csv").read_text().splitlines()) > 1


def test_predict_of_a_network_imports_it_quietly(work):
    found, done = _forecast("predict", "--runs-dir", work / "rnn", "--output",
                            work / "rnn.csv", "--overwrite")
    assert found["code"] == 0 and "tensorflow" in found["heavy"], done.stderr
    # TensorFlow's start-up chatter stays silenced when it is imported at the model's load
    assert not [line for line in done.stderr.splitlines()
                if "tensorflow" in line.lower() or "cuda" in line.lower()], done.stderr


SERVE = textwrap.dedent("""
    import json, sys, warnings
    from pathlib import Path
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient
    from forecaster.serve.app import create_app
    client = TestClient(create_app(Path(sys.argv[1])), raise_server_exceptions=False)
    health = client.get("/health").json()
    listed = client.get("/runs").status_code
    baseline = (client.post("/runs/latest/forecast", json={"horizon": 3}).status_code
                if len(sys.argv) > 2 else None)
    print(json.dumps({"health": health, "listed": listed, "baseline": baseline,
                      "heavy": [m for m in %r if m in sys.modules]}))
""" % (HEAVY,))


def test_serve_answers_health_and_baselines_without_tensorflow(work):
    pytest.importorskip("fastapi")
    found, done = _child(SERVE, work / "rnn")
    assert found["health"]["status"] == "ok" and found["health"]["loaded_runs"] == 0
    assert found["listed"] == 200 and found["heavy"] == [], done.stderr
    found, done = _child(SERVE, work / "best", "forecast")
    assert found["baseline"] == 200 and found["heavy"] == [], done.stderr


def test_serve_start_up_imports_no_tensorflow(monkeypatch):
    """``forecast serve``'s runtime set-up quiets TensorFlow and picks the device without
    importing it (the models are loaded on first use)."""
    code = textwrap.dedent("""
        import json, sys, click
        from forecaster.cli.serve import _start_runtime
        with click.Context(click.Command("serve")) as ctx:
            _start_runtime(ctx, "cpu")
        print(json.dumps({"heavy": [m for m in %r if m in sys.modules]}))
    """ % (HEAVY,))
    found, done = _child(code)
    assert found["heavy"] == [], done.stderr
