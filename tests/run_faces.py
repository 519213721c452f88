"""Helpers of the run-file content tests: small ``--select best`` runs with a forced
winner, re-hashing a changed run, and a driver that forecasts many runs through the three
faces (``forecast predict``, :func:`forecaster.load`, ``forecast serve``) in a child
process, so that a crash (a segfault in compiled code) is a failed test, not a dead
pytest."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import DATA, ROOT


def make_run(name: str, runs_dir: Path) -> Path:
    """A tiny run of air passengers that deploys the baseline ``name`` (forced winner)."""
    import pytest

    import forecaster as fc
    from forecaster.pipeline import select

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(select, "choose", lambda evaluation, candidates: select.Selection(
            name, "forced by the test"))
        model = fc.Forecaster(select="best", epochs=1, units=2, ensemble=1, origins=6,
                              seed=1).fit(DATA / "air_passengers.csv")
        return Path(model.save(runs_dir))


def copy_run(run: Path, runs_dir: Path) -> Path:
    """A copy of ``run`` as the only (and latest) run of a new ``runs_dir``."""
    target = Path(runs_dir) / run.name
    shutil.copytree(run, target)
    (Path(runs_dir) / "latest").write_text(run.name + "\n")
    return target


def rehash(run: Path) -> None:
    """Record the current sha256 of the run's files in run.json, as a forger would."""
    from forecaster.runs import artifacts
    info = json.loads((run / "run.json").read_text())
    info["sha256"] = artifacts.integrity(run)
    (run / "run.json").write_text(json.dumps(info))


DRIVER = r'''
import json, os, sys, warnings
warnings.simplefilter("ignore")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
face, horizon, runs = sys.argv[1], int(sys.argv[2]), sys.argv[3:]

def say(**kw):
    print(json.dumps(kw), flush=True)

if face == "cli":
    from click.testing import CliRunner
    from forecaster.cli import forecast
    try:
        runner = CliRunner(mix_stderr=False)
    except TypeError:
        runner = CliRunner()
    for runs_dir in runs:
        say(start=runs_dir)
        out = os.path.join(runs_dir, "forecast.json")
        res = runner.invoke(forecast, ["predict", "--runs-dir", runs_dir, "--horizon",
                                       str(horizon), "--output", out, "--format", "json"])
        values = json.load(open(out)) if res.exit_code == 0 else None
        say(run=runs_dir, code=res.exit_code, stderr=res.stderr, values=values)
elif face == "api":
    import forecaster
    from forecaster.errors import ForecastError
    for runs_dir in runs:
        say(start=runs_dir)
        try:
            frame = forecaster.load(runs_dir).predict(horizon)
            values = json.loads(frame.assign(timestamp=frame.timestamp.astype(str))
                                .to_json(orient="records", double_precision=15))
            say(run=runs_dir, code=0, stderr="", values=values)
        except ForecastError as exc:
            say(run=runs_dir, code=1, stderr="Error: " + str(exc), values=None)
elif face == "serve":
    from fastapi.testclient import TestClient
    from forecaster.serve.app import create_app
    for runs_dir in runs:
        say(start=runs_dir)
        client = TestClient(create_app(runs_dir), raise_server_exceptions=False)
        res = client.post("/runs/latest/forecast", json={"horizon": horizon})
        body = res.json()
        values = body.get("forecast") if res.status_code == 200 else None
        say(run=runs_dir, code=0 if res.status_code == 200 else 1, status=res.status_code,
            stderr="" if res.status_code == 200 else "Error: " + str(body.get("detail")),
            values=values)
'''


def forecast_all(face: str, runs_dirs: list, horizon: int = 3, timeout: int = 600) -> dict:
    """``{runs_dir: {"code", "stderr", "values"}}`` of forecasting each runs folder's latest
    run through ``face`` ("cli", "api" or "serve") in one child process; a child that dies
    (a signal) fails with the run it was forecasting."""
    proc = subprocess.run([sys.executable, "-c", DRIVER, face, str(horizon),
                           *map(str, runs_dirs)], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)
    results, started = {}, None
    for line in proc.stdout.splitlines():
        if not line.startswith("{"):
            continue
        item = json.loads(line)
        if "start" in item:
            started = item["start"]
        else:
            results[item["run"]] = item
    assert proc.returncode == 0, (f"the {face} driver died with {proc.returncode} while "
                                  f"forecasting {started}: {proc.stderr[-2000:]}")
    return results


def one_line_refusal(result: dict) -> bool:
    """Whether a face refused with one ``Error:`` line (exit code 1)."""
    lines = result["stderr"].strip().splitlines()
    return result["code"] == 1 and len(lines) == 1 and lines[0].startswith("Error:")
