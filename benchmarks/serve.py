"""`forecast serve` under load: latency and throughput over HTTP against the same forecast
made in-process with ``forecaster.load(run).predict``.

    python -m benchmarks.serve                          # 8 clients x 50 requests, horizon 12
    python -m benchmarks.serve --clients 4 --requests 100 --horizon 30
    make bench-serve

Trains one small run on ``data/air_passengers.csv`` in a temporary folder (``--epochs 5
--ensemble 1``; the numbers measure serving, not the model's accuracy), starts a real
``forecast serve --port 0`` process on loopback, and measures four contenders side by
side, in ``--rounds`` rounds whose order alternates (forwards, then backwards), so that
other processes on the machine disturb them alike:

- ``direct x1``: ``Forecaster.predict(horizon, levels=[80, 95])`` on the loaded run, one
  call after another in this process (the floor: no HTTP, no JSON);
- ``http x1``: one client posting ``{"horizon": H, "levels": [80, 95]}`` to
  ``/runs/latest/forecast`` (keep-alive connection), one request after another;
- ``direct xN``: ``--clients`` threads calling ``predict`` through one lock, as the server
  serialises the forecasts of one run;
- ``http xN``: ``--clients`` concurrent clients.

Each reports p50/p95 latency (ms), requests/s and ``x direct``, its p50 over the direct
contender's with the same concurrency. Every HTTP answer is checked against the direct
forecast (an unequal or failed answer counts as an error). The server is stopped however
the run ends.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from benchmarks.common import load1, quiet_tensorflow

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data" / "air_passengers.csv"
TRAIN = ["--epochs", "5", "--ensemble", "1", "--seed", "1", "--quiet"]


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.serve", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--requests", type=int, default=50,
                   help="per client, over all rounds (default 50)")
    p.add_argument("--single", type=int, default=100,
                   help="one-at-a-time calls per contender, over all rounds (default 100)")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--horizon", type=int, default=12)
    p.add_argument("--json", type=Path, help="also write the rows here")
    return p.parse_args(argv)


def stats(name: str, seconds: list[float], wall: float, errors: int = 0) -> dict:
    ordered = sorted(seconds)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"contender": name, "requests": len(seconds), "errors": errors,
            "p50 ms": round(1000 * statistics.median(ordered), 1),
            "p95 ms": round(1000 * p95, 1), "req/s": round(len(seconds) / wall, 1)}


def concurrently(call, clients: int, calls: int) -> tuple[list[float], float, list[str]]:
    """``clients`` threads each making ``calls`` calls of ``call(state)`` (``state``: a
    per-thread dict): ``(latencies, wall seconds, problems)``."""
    latencies, problems, lock = [], [], threading.Lock()

    def work():
        state = {}
        for _ in range(calls):
            start = time.perf_counter()
            try:
                problem = call(state)
            except Exception as exc:  # noqa: BLE001  (counted as an error)
                problem = repr(exc)
                state.clear()
            took = time.perf_counter() - start
            with lock:
                latencies.append(took)
                if problem:
                    problems.append(problem)

    threads = [threading.Thread(target=work) for _ in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, time.perf_counter() - start, problems


class Client:
    """One keep-alive HTTP connection posting forecasts."""

    def __init__(self, url: str):
        parts = urlsplit(url)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)

    def forecast(self, body: bytes) -> dict:
        self.conn.request("POST", "/runs/latest/forecast", body=body,
                          headers={"content-type": "application/json"})
        answer = self.conn.getresponse()
        data = answer.read()
        if answer.status != 200:
            raise RuntimeError(f"HTTP {answer.status}: {data[:200]!r}")
        return json.loads(data)


def http_call(url: str, body: bytes, expected: list):
    def call(state):
        client = state.setdefault("client", Client(url))
        return None if client.forecast(body)["forecast"] == expected else "unequal answer"
    return call


def direct_call(model, horizon: int, levels: list):
    lock = threading.Lock()  # the server's per-run lock

    def call(state):
        with lock:
            model.predict(horizon, levels=levels)
    return call


def measure(contenders: dict, rounds: int) -> list[dict]:
    """Run every ``contenders[name] = (call, clients, calls per round)`` once per round,
    forwards on even rounds and backwards on odd ones; one row per contender."""
    pooled = {name: ([], 0.0, []) for name in contenders}
    names = list(contenders)
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            call, clients, calls = contenders[name]
            lat, wall, problems = concurrently(call, clients, calls)
            done = pooled[name]
            pooled[name] = (done[0] + lat, done[1] + wall, done[2] + problems)
    rows = [stats(name, lat, wall, len(problems)) for name, (lat, wall, problems)
            in pooled.items()]
    for row in rows:
        base = next(b for b in rows if b["contender"] == "direct " + row["contender"]
                    .split()[-1])
        row["x direct"] = round(row["p50 ms"] / base["p50 ms"], 2) if base["p50 ms"] \
            else None
    return rows


@contextmanager
def serving(exe: str, runs: Path, log, timeout: float = 120):
    """``forecast serve --port 0 --quiet`` on loopback over ``runs`` (stderr to ``log``):
    yields its URL once ``/health`` answers, and stops it (terminate, then kill) when the
    block ends.  A server that exits or stays silent for ``timeout`` s is a
    :class:`RuntimeError`.  The load test in tests/test_serve.py starts its server here
    too."""
    server = subprocess.Popen([exe, "serve", "--runs-dir", str(runs), "--port", "0",
                               "--quiet"], stdout=subprocess.PIPE, stderr=log, text=True,
                              env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    try:
        url = server.stdout.readline().strip()  # printed once the socket is bound
        if not url.startswith("http://"):
            raise RuntimeError("forecast serve did not start; see its log.")
        _wait_for_health(server, url, timeout)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _wait_for_health(server: subprocess.Popen, url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"forecast serve exited with {server.returncode}; see its log.")
        try:
            conn = http.client.HTTPConnection(urlsplit(url).hostname, urlsplit(url).port,
                                              timeout=5)
            conn.request("GET", "/health")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"forecast serve did not answer /health within {timeout:.0f} s.")


def main(argv=None) -> int:
    args = parse_args(argv)
    quiet_tensorflow()
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")
    exe = str(Path(sys.executable).with_name("forecast"))
    with tempfile.TemporaryDirectory(prefix="forecaster-serve-") as tmp:
        runs = Path(tmp) / "runs"
        subprocess.run([exe, "train", str(DATA), "--runs-dir", str(runs), *TRAIN],
                       check=True, capture_output=True)
        import forecaster
        from forecaster.pipeline.predict import format_frame
        from forecaster.serve.app import records

        model = forecaster.load(runs)
        levels = [80, 95]
        expected = records(format_frame(model.predict(args.horizon, levels=levels),
                                        model.state_))
        body = json.dumps({"horizon": args.horizon, "levels": levels}).encode()
        single, each = args.single // args.rounds, args.requests // args.rounds
        with open(Path(tmp) / "server.log", "w") as log:
            with serving(exe, runs, log) as url:
                concurrently(http_call(url, body, expected), 1, 5)  # the first one loads
                n = args.clients
                rows = measure({
                    "direct x1": (direct_call(model, args.horizon, levels), 1, single),
                    "http x1": (http_call(url, body, expected), 1, single),
                    f"direct x{n}": (direct_call(model, args.horizon, levels), n, each),
                    f"http x{n}": (http_call(url, body, expected), n, each),
                }, args.rounds)
    print(f"horizon {args.horizon}, levels 80/95, {os.cpu_count()} cores, "
          f"load {load1()} at the end")
    keys = list(rows[0])
    print("  ".join(f"{k:>10}" for k in keys))
    for row in rows:
        print("  ".join(f"{row[k]:>10}" for k in keys))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 1 if any(row["errors"] for row in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
