"""`forecast serve`: the HTTP API answers what `forecast predict` writes (also from new
data), lists and describes runs, serves a new run without a restart, keeps a bounded cache,
refuses every bad request with a one-line 4xx (never a traceback), and a real server
process answers 8 concurrent clients × 50 requests without an error."""

from __future__ import annotations

import json
import math
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import click
import pytest
from click.testing import CliRunner

pytest.importorskip("fastapi")
with warnings.catch_warnings():  # starlette prefers httpx2; httpx still works
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from forecaster.runs import artifacts  # noqa: E402
from forecaster.cli import forecast  # noqa: E402
from forecaster.errors import RunNotFoundError  # noqa: E402
from forecaster.serve.app import MAX_BODY_BYTES, MAX_HORIZON, create_app  # noqa: E402
from forecaster.serve.run_cache import BadRunId, RunCache, locate  # noqa: E402
from benchmarks.serve import serving  # noqa: E402
from tests.conftest import DATA, FAST, forecast_exe  # noqa: E402

AIR = pd.read_csv(DATA / "air_passengers.csv")
CUT = 120  # the run sees 1949-01 … 1958-12; the new data go on to 1960-12


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A runs folder with one tiny run on the first 120 months of air_passengers (a short
    window: one eager pass of the network takes ~15 ms instead of ~50, which keeps the
    load test's 400 forecasts quick)."""
    work = tmp_path_factory.mktemp("serve")
    AIR.iloc[:CUT].to_csv(work / "old.csv", index=False)
    AIR.iloc[CUT:].to_csv(work / "after.csv", index=False)
    result = CliRunner().invoke(forecast, ["train", str(work / "old.csv"), "--runs-dir",
                                           str(work / "runs"), *FAST, "--window", "6"])
    assert result.exit_code == 0, result.output
    return work


@pytest.fixture(scope="module")
def runs(work) -> Path:
    return work / "runs"


@pytest.fixture(scope="module")
def run_id(runs) -> str:
    return (runs / "latest").read_text().strip()


@pytest.fixture(scope="module")
def client(runs):
    return TestClient(create_app(runs), raise_server_exceptions=False)


def cli_predict(runs: Path, *args) -> pd.DataFrame:
    """What `forecast predict` writes (CSV, read back with timestamps as text)."""
    out = runs.parent / f"fc-{time.monotonic_ns()}.csv"
    result = CliRunner().invoke(forecast, ["predict", "--runs-dir", str(runs), "-o",
                                           str(out), *args])
    assert result.exit_code == 0, result.output
    return pd.read_csv(out, dtype={"timestamp": str, "series_id": str})


def assert_same(answer: dict, expected: pd.DataFrame) -> None:
    got = pd.DataFrame.from_records(answer["forecast"])
    assert list(got.columns) == list(expected.columns)
    assert got["timestamp"].tolist() == expected["timestamp"].tolist()
    assert got["series_id"].tolist() == expected["series_id"].tolist()
    for col in expected.columns[2:]:
        np.testing.assert_allclose(got[col].to_numpy(float), expected[col].to_numpy(float),
                                   rtol=1e-12, err_msg=col)


def same_records(got: list, expected: list) -> bool:
    """Cheap check for the load test's threads: the same rows, numbers to 1e-12."""
    return len(got) == len(expected) and all(
        a.keys() == b.keys() and all(
            a[k] == b[k] if isinstance(b[k], str) else math.isclose(a[k], b[k], rel_tol=1e-12)
            for k in b) for a, b in zip(got, expected))


def after_rows(**rename) -> list[dict]:
    frame = AIR.iloc[CUT:].rename(columns=rename)
    return frame.to_dict(orient="records")


# -- answers ---------------------------------------------------------------------------------
def test_forecast_is_what_forecast_predict_writes(client, runs, run_id):
    answer = client.post("/runs/latest/forecast", json={"horizon": 30, "levels": [80, 95]})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["run"] == run_id and body["horizon"] == 30 and len(body["forecast"]) == 30
    assert any("recursively" in note for note in body["notes"])  # beyond the trained 12
    assert_same(body, cli_predict(runs, "--horizon", "30"))
    assert body["forecast"][0]["timestamp"] == "1959-01-01"  # as --format json writes it
    by_id = client.post(f"/runs/{run_id}/forecast", json={"horizon": 30}).json()
    assert by_id["forecast"] == body["forecast"]
    default = client.post("/runs/latest/forecast", json={}).json()  # the trained horizon
    assert default["horizon"] == 12 and default["forecast"] == body["forecast"][:12]
    future = client.post("/runs/latest/forecast", json={
        "horizon": 12, "future": [{"timestamp": "1959-01-01", "x": 1.0}]}).json()
    assert future["forecast"] == default["forecast"]  # as forecast predict --future does:
    assert any("--future was not read" in note for note in future["notes"])  # a note
    only = client.post("/runs/latest/forecast", json={"horizon": 3, "levels": [80]}).json()
    assert list(only["forecast"][0]) == ["series_id", "timestamp", "forecast", "lower_80",
                                         "upper_80"]
    ninety = client.post("/runs/latest/forecast", json={"horizon": 3, "levels": [90]}).json()
    assert_same(ninety, cli_predict(runs, "--horizon", "3", "--level", "90"))


def test_new_data_forecast_as_forecast_predict_data(client, runs, work):
    expected = cli_predict(runs, "--horizon", "12", "--data", str(work / "after.csv"))
    assert expected["timestamp"].iloc[0] == "1961-01-01"
    for rows in (after_rows(month="timestamp", passengers="value"),  # the long names
                 after_rows(),                                         # the run's own
                 [dict(r, series_id="passengers") for r in after_rows()]):
        answer = client.post("/runs/latest/forecast", json={"horizon": 12, "data": rows})
        assert answer.status_code == 200, answer.text
        assert_same(answer.json(), expected)


def test_runs_are_listed_and_described(client, runs, run_id):
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["version"]
    listing = client.get("/runs").json()
    assert listing["latest"] == run_id
    (row,) = listing["runs"]
    metrics = json.loads((runs / run_id / "metrics.json").read_text())
    rnn = next(r for r in metrics["leaderboard"] if r["model"] == "rnn")
    assert row["id"] == run_id and row["model"] == "tanh_cell" and row["created"]
    assert row["data"]["rows"] == CUT and row["data"]["end"] == "1958-12-01"
    assert "path" not in row["data"]  # no server path leaks
    assert row["backtest"]["mase"] == pytest.approx(rnn["mase"])
    details = client.get("/runs/latest").json()
    assert details == client.get(f"/runs/{run_id}").json()
    assert details["columns"]["time"] == "month" and details["levels"] == [80, 95]
    assert details["series"] == ["passengers"] and details["frequency"] == "MS"
    docs = client.get("/openapi.json").json()
    assert "/runs/{run_id}/forecast" in docs["paths"]
    assert client.get("/docs").status_code == 200


def test_a_new_run_is_served_without_a_restart_and_loaded_once(runs, run_id, tmp_path):
    folder = tmp_path / "runs"
    shutil.copytree(runs / run_id, folder / run_id)
    artifacts.set_latest(folder, run_id)
    app = create_app(folder)
    client = TestClient(app, raise_server_exceptions=False)
    first = client.post("/runs/latest/forecast", json={"horizon": 5}).json()
    for _ in range(3):
        assert client.post(f"/runs/{run_id}/forecast", json={"horizon": 5}).status_code == 200
    assert app.state.cache.loads == 1

    newer = "29991231-000000-newer-tanh_cell"  # written while the server serves
    shutil.copytree(runs / run_id, folder / newer)
    artifacts.set_latest(folder, newer)
    assert client.get("/runs").json()["latest"] == newer
    answer = client.post("/runs/latest/forecast", json={"horizon": 5}).json()
    assert answer["run"] == newer and answer["forecast"] == first["forecast"]
    assert app.state.cache.loads == 2

    record = folder / newer / "run.json"  # the run replaced under the same name: reloaded
    record.write_text(record.read_text().replace('"seed": 1', '"seed": 2'))
    assert client.post(f"/runs/{newer}/forecast", json={"horizon": 5}).status_code == 200
    assert app.state.cache.loads == 3


def test_a_run_deploying_a_baseline_is_served_as_forecast_predict_serves_it(work, tmp_path):
    runs = tmp_path / "runs"  # a cheap run: --select best needs only some backtest
    result = CliRunner().invoke(forecast, [
        "train", str(work / "old.csv"), "--runs-dir", str(runs), "--select", "best",
        "--epochs", "1", "--units", "4", "--ensemble", "1", "--origins", "3", "--seed", "1"])
    assert result.exit_code == 0, result.output
    info = json.loads((runs / (runs / "latest").read_text().strip() / "run.json").read_text())
    assert info["deployed"] not in (None, "rnn")  # a baseline won this backtest
    client = TestClient(create_app(runs), raise_server_exceptions=False)
    (row,) = client.get("/runs").json()["runs"]
    assert row["model"] == row["backtest"]["model"] == info["deployed"]
    answer = client.post("/runs/latest/forecast", json={"horizon": 15}).json()
    assert answer["model"] == info["deployed"]
    assert_same(answer, cli_predict(runs, "--horizon", "15"))
    answer = client.post("/runs/latest/forecast", json={"horizon": 4, "data": after_rows()})
    assert_same(answer.json(), cli_predict(runs, "--horizon", "4", "--data",
                                           str(work / "after.csv")))


# -- the cache -------------------------------------------------------------------------------
def _fake_runs(tmp_path, n):
    dirs = []
    for i in range(n):
        d = tmp_path / f"run{i}"
        d.mkdir()
        (d / "run.json").write_text(json.dumps({"id": d.name}))
        dirs.append(d)
    return dirs


def test_the_cache_is_bounded_and_loads_each_run_once_under_concurrency(tmp_path):
    a, b, c = _fake_runs(tmp_path, 3)
    loaded, asked, all_asked = [], [], threading.Event()

    def loader(path):
        # the first load ends only once all 8 requests are made: they come during it
        assert all_asked.wait(60), "the 8 requests were not all made"
        loaded.append(path.name)
        return path.name

    cache = RunCache(2, loader=loader)

    def use(path):
        with cache.use(path) as got:
            assert got == path.name

    def request(path):
        asked.append(path)  # list.append is atomic
        if len(asked) == 8:
            all_asked.set()
        use(path)

    threads = [threading.Thread(target=request, args=(a,)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert loaded == ["run0"]
    for path in (b, c, a):  # a was least recently used when c came: dropped, loaded again
        use(path)
    assert loaded == ["run0", "run1", "run2", "run0"] and len(cache) == 2

    def failing(path):
        raise RunNotFoundError("gone")

    broken = RunCache(2, loader=failing)
    with pytest.raises(RunNotFoundError):
        with broken.use(a):
            pass
    assert len(broken) == 0  # a failed load is not cached


# -- bad requests ----------------------------------------------------------------------------
def _refused(answer, status: int, *words: str) -> str:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    detail = answer.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail and "Traceback" not in detail
    for word in words:
        assert word in detail, detail
    return detail


@pytest.mark.parametrize("body, status, words", [
    ({"horizon": 0}, 422, ["between 1 and 1,000"]),
    ({"horizon": -5}, 422, ["between 1 and"]),
    ({"horizon": MAX_HORIZON + 1}, 422, ["server's cap"]),
    ({"horizon": 10 ** 30}, 422, ["horizon"]),
    ({"horizon": "30"}, 422, ["`horizon`", "valid integer"]),
    ({"horizon": True}, 422, ["`horizon`"]),
    ({"horizon": 1.5}, 422, ["`horizon`"]),
    # any level from the run's calibration residuals: 20 origins give 20 per step, 99 %
    # needs 99 (issue 36)
    ({"levels": [99]}, 422, ["99% intervals need at least 99", "--origins 99"]),
    ({"levels": [0]}, 422, ["between 1 and 99"]),
    ({"levels": [100]}, 422, ["between 1 and 99"]),
    ({"levels": "80"}, 422, ["`levels`"]),
    ({"levels": [80.5]}, 422, ["`levels.0`"]),
    ({"levels": list(range(1, 30))}, 422, ["`levels`"]),
    ({"horizon": 3, "extra": 1}, 422, ["`extra`", "not permitted"]),
    ([1, 2], 422, ["`body`"]),
    ({"data": []}, 422, ["at least one row"]),
    ({"data": "x"}, 422, ["`data`"]),
    ({"data": [{"x": 1}]}, 422, ["the run's columns", "'month'"]),
    ({"data": [{"timestamp": "1959-03-01", "value": 1}]}, 422, ["missing"]),  # a gap
    ({"data": [{"timestamp": "1959-01-07", "value": 1},
               {"timestamp": "1959-01-14", "value": 2}]}, 422, ["'MS'"]),  # weekly
    ({"data": [{"timestamp": "1959-01-01", "value": 1, "series_id": "other"}]}, 422,
     ["series_id", "'passengers'"]),
    ({"data": [{"timestamp": "1959-01-01", "value": 1, "month": "1959-01-01"}]}, 422,
     ["both"]),
    ({"data": [{"timestamp": "not a date", "value": 1}]}, 422, []),
    ({"data": [{"timestamp": "1959-01-01", "value": True}]}, 422, ["`data.0.value` must be text, a number or null. Got True."]),
])
def test_bad_requests_get_a_one_line_4xx(client, body, status, words):
    _refused(client.post("/runs/latest/forecast", json=body), status, *words)


@pytest.mark.parametrize("content, headers, status, words", [
    (b"{", {"content-type": "application/json"}, 400, ["not valid JSON"]),
    (b"{'horizon': 3}", {"content-type": "application/json"}, 400, ["not valid JSON"]),
    (b"", {"content-type": "application/json"}, 400, ["needs a JSON body"]),
    (b"[" * 200_000 + b"]" * 200_000, {"content-type": "application/json"}, 400, []),
    (b'{"horizon": 3}', {"content-type": "text/plain"}, 415, ["Content-Type"]),
    (b'{"horizon": 3}', {"content-type": "application/json", "content-length": "x"}, 400,
     ["Content-Length"]),
])
def test_malformed_bodies_are_refused(client, content, headers, status, words):
    _refused(client.post("/runs/latest/forecast", content=content, headers=headers),
             status, *words)


def test_oversized_bodies_are_refused_before_they_are_read(client):
    big = b'{"data": [' + b" " * MAX_BODY_BYTES + b"]}"
    _refused(client.post("/runs/latest/forecast", content=big,
                         headers={"content-type": "application/json"}), 413, "10,485,760")

    def chunks():  # no Content-Length: counted while it streams in
        yield b'{"data": ['
        for _ in range(11):
            yield b" " * (1 << 20)
        yield b"]}"

    _refused(client.post("/runs/latest/forecast", content=chunks(),
                         headers={"content-type": "application/json"}), 413, "at most")


def test_run_ids_that_leave_the_runs_dir_are_refused(client, runs, run_id, tmp_path):
    for path, status in (("/runs/nope", 404), ("/runs/%2e%2e", 400), ("/runs/.hidden", 400),
                         ("/runs/a%20b", 400), ("/runs/..%2F..%2Fetc", 404),
                         ("/runs/%2Fetc%2Fpasswd", 404), ("/runs/%00", 400)):
        assert client.get(path).status_code == status, path
        _refused(client.post(path + "/forecast", json={}), status)
    for bad in ("../x", "/etc", f"../{runs.name}/{run_id}", "", "a/b", "..", "~"):
        with pytest.raises(BadRunId):
            locate(runs, bad)

    outside = tmp_path / "elsewhere" / "run"  # a complete run, outside the runs dir
    shutil.copytree(runs / run_id, outside)
    folder = tmp_path / "runs"
    folder.mkdir()
    (folder / "linked").symlink_to(outside, target_is_directory=True)
    other = TestClient(create_app(folder), raise_server_exceptions=False)
    _refused(other.post("/runs/linked/forecast", json={}), 403, "leaves the runs directory")
    _refused(other.get("/runs/linked"), 403)
    artifacts.set_latest(folder, "linked")
    _refused(other.post("/runs/latest/forecast", json={}), 403)
    assert other.get("/runs").json()["runs"] == []  # not listed either

    cwd = os.getcwd()  # a run of that name in the working folder is not a run of the dir
    try:
        os.chdir(outside.parent)
        _refused(other.post("/runs/run/forecast", json={}), 404, "does not exist")
    finally:
        os.chdir(cwd)


def test_damaged_runs_are_409_and_no_runs_404(runs, run_id, tmp_path):
    folder = tmp_path / "runs"
    shutil.copytree(runs / run_id, folder / run_id)
    client = TestClient(create_app(folder), raise_server_exceptions=False)
    _refused(client.post("/runs/latest/forecast", json={}), 404, "no runs found")
    listing = client.get("/runs").json()  # no latest yet: listed all the same
    assert listing["latest"] is None and [r["id"] for r in listing["runs"]] == [run_id]
    prep = folder / run_id / "preprocessing.json"
    prep.write_text(prep.read_text() + " ")
    _refused(client.post(f"/runs/{run_id}/forecast", json={}), 409, "sha256")
    _refused(client.get(f"/runs/{run_id}"), 409)
    (folder / run_id / "model.keras").unlink()
    _refused(client.post(f"/runs/{run_id}/forecast", json={}), 404, "incomplete")


def test_a_bug_is_a_500_without_traceback(runs):
    app = create_app(runs)

    class Broken:
        loads = 0

        def use(self, run_dir):
            raise RuntimeError("secret internals\nTraceback (most recent call last)")

        def __len__(self):
            return 0

    app.state.cache = Broken()
    answer = TestClient(app, raise_server_exceptions=False).post(
        "/runs/latest/forecast", json={})
    assert answer.status_code == 500
    assert answer.json() == {"detail": "internal error (RuntimeError); see the server's log."}


# -- the command -----------------------------------------------------------------------------
def test_serve_needs_the_extra_and_warns_off_loopback(runner, monkeypatch, tmp_path):
    from forecaster.cli import serve as cli_serve
    assert cli_serve.is_loopback("127.0.0.1") and cli_serve.is_loopback("localhost")
    assert cli_serve.is_loopback("::1") and not cli_serve.is_loopback("0.0.0.0")
    assert not cli_serve.is_loopback("example.org")

    monkeypatch.setitem(sys.modules, "uvicorn", None)  # `import uvicorn` fails
    result = runner.invoke(forecast, ["serve", "--runs-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert result.stderr.strip() == ("Error: forecast serve needs the serve extra: pip "
                                     "install 'forecaster[serve]'")
    monkeypatch.undo()

    def bind(host, port):  # stop before listening: nothing is exposed by the test
        raise click.ClickException(f"would bind {host}:{port}")

    monkeypatch.setattr(cli_serve, "bind", bind)
    result = runner.invoke(forecast, ["serve", "--host", "0.0.0.0", "--runs-dir",
                                      str(tmp_path)])
    assert "no authentication" in result.stderr and "would bind 0.0.0.0:8000" in \
        result.stderr
    result = runner.invoke(forecast, ["serve", "--runs-dir", str(tmp_path)])
    assert "would bind 127.0.0.1:8000" in result.stderr
    assert "authentication" not in result.stderr


def test_the_command_line_loads_neither_fastapi_nor_numpy_for_help():
    code = ("import sys, forecaster.cli; loaded = [m for m in ('fastapi', 'uvicorn', "
            "'numpy', 'pandas') if m in sys.modules]; assert not loaded, loaded")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr[-500:]


def test_a_port_in_use_is_a_one_line_error(runner, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner.invoke(forecast, ["serve", "--runs-dir", str(tmp_path), "--port",
                                          str(port)])
    assert result.exit_code == 1
    assert result.stderr.strip().startswith(f"Error: cannot listen on 127.0.0.1:{port}")


def test_the_serve_benchmark_pools_its_rounds():
    from benchmarks.serve import measure

    def wait(state):
        time.sleep(0.002)

    rows = measure({"direct x1": (wait, 1, 3), "http x1": (wait, 1, 3),
                    "direct x2": (wait, 2, 2), "http x2": (lambda state: "unequal", 2, 2)},
                   rounds=2)
    assert [(r["contender"], r["requests"], r["errors"]) for r in rows] == [
        ("direct x1", 6, 0), ("http x1", 6, 0), ("direct x2", 8, 0), ("http x2", 8, 8)]
    assert rows[0]["x direct"] == 1 and rows[0]["p95 ms"] >= rows[0]["p50 ms"] >= 2


# -- a real server under load ----------------------------------------------------------------
CLIENTS, REQUESTS = 8, 50


def _post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert answer.status == 200
        return json.loads(answer.read())


@pytest.mark.timeout(150)
def test_a_real_server_answers_8_clients_x_50_requests(runs, work, tmp_path):
    # horizons within the trained 12: one pass of the network each
    bodies = [{"horizon": 12}, {"horizon": 6, "levels": [80]},
              {"horizon": 3, "data": after_rows()}]
    expected = [cli_predict(runs, "--horizon", "12"),
                cli_predict(runs, "--horizon", "6").drop(columns=["lower_95", "upper_95"]),
                cli_predict(runs, "--horizon", "3", "--data", str(work / "after.csv"))]
    expected = [frame.to_dict(orient="records") for frame in expected]
    errors, answered = [], [0] * CLIENTS
    with open(tmp_path / "server.log", "w") as log, serving(forecast_exe(), runs, log,
                                                             timeout=60) as url:
        def client(k):
            for i in range(REQUESTS):
                which = (k + i) % len(bodies)
                try:
                    answer = _post(url + "/runs/latest/forecast", bodies[which])
                    assert same_records(answer["forecast"], expected[which])
                    answered[k] += 1
                except Exception as exc:  # noqa: BLE001  (counted, reported below)
                    errors.append(f"client {k} request {i}: {exc!r}"[:300])

        threads = [threading.Thread(target=client, args=(k,)) for k in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        health = json.loads(urllib.request.urlopen(url + "/health", timeout=5).read())
    assert not errors, errors[:5]
    assert sum(answered) == CLIENTS * REQUESTS
    assert health["loads"] == 1  # loaded once for all 400 answers
