"""Section ``cli``: start-up latency of the command line.

``forecast --help``, ``forecast predict --horizon 30`` (on a run trained once in a temp dir
from ``data/air_passengers.csv`` with ``--epochs 1 --no-backtest``) and the bare
``python -c "import tensorflow"`` as the yardstick, each a fresh subprocess, alternated,
median. Targets: help < 0.5 s; predict ≤ 1.5× the bare TensorFlow import.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.common import Section, alternate, median, not_available
from benchmarks.memory import forecast_command

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data" / "air_passengers.csv"


def _runner(cmd, env, cwd):
    def go():
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd[:3])}… exited {proc.returncode}: "
                               f"{(proc.stderr.strip().splitlines() or [''])[-1]}")
    return go


def run(quick: bool, **_) -> Section:
    cmd = forecast_command()
    if cmd is None:
        return not_available("cli", "no `forecast` executable")
    repeats = 3 if quick else 7
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    section = Section("cli")
    with tempfile.TemporaryDirectory() as tmp:
        contenders = {
            "forecast --help": _runner(cmd + ["--help"], env, tmp),
            'python -c "import tensorflow"': _runner([sys.executable, "-c", "import tensorflow"],
                                                     env, tmp),
        }
        train = subprocess.run(cmd + ["train", str(DATA), "--epochs", "1", "--no-backtest",
                                      "--runs-dir", tmp, "--quiet"],
                               capture_output=True, text=True, env=env, cwd=tmp)
        if train.returncode == 0:
            out = Path(tmp) / "forecast.csv"
            contenders["forecast predict --horizon 30"] = _runner(
                cmd + ["predict", "--horizon", "30", "--runs-dir", tmp, "--output", str(out),
                       "--overwrite", "--quiet"], env, tmp)
        else:
            last = (train.stderr.strip().splitlines() or ["(no message)"])[-1]
            section.notes.append(f"predict: not available: training the run failed: {last}")
        contenders["forecast --help"]()  # warm the file cache (the others are warm by now)
        times = alternate(contenders, repeats)
    base = median(times['python -c "import tensorflow"'])
    for name, ts in times.items():
        section.rows.append({"command": name, "seconds": median(ts), "x tf import": median(ts) / base})
    helps = median(times["forecast --help"])
    section.notes.append(f"median of {repeats} alternated runs; help < 0.5 s: "
                         f"{'met' if helps < 0.5 else 'NOT met'} ({helps:.2f} s)")
    if "forecast predict --horizon 30" in times:
        r = median(times["forecast predict --horizon 30"]) / base
        section.notes.append(f"predict <= 1.5x tf import: {'met' if r <= 1.5 else 'NOT met'} "
                             f"({r:.2f}x)")
    return section
