"""Section ``memory``: peak RSS of ``forecast train`` on a big CSV, and ingest time.

A synthetic long panel ``unique_id, ds, y`` (hourly, 1,000 series × 10,000 points =
10,000,000 rows; quick mode: 100 × 10,000 = 1,000,000 rows) is written once to a cache
directory (``$FORECASTER_BENCH_CACHE``, default ``/tmp/forecaster-bench``) and reused.

* ingest: ``forecaster.data.ingest.read_panel(path)`` against
  ``pandas.read_csv(path, engine="pyarrow")``, each read in a fresh process (imports not
  timed), alternated, median.
* train: ``forecast train PATH --window 168 --epochs 1 --no-backtest --max-windows N`` in a
  subprocess (a fresh wrapper process, so ``RUSAGE_CHILDREN.ru_maxrss`` is that command's
  peak RSS alone). ``--max-windows`` subsamples the training windows of the single epoch
  (there are ~10M of them; all of them would take tens of minutes on 2 cores) — it bounds
  time, not the data read, scaled, or held for validation. Target: peak RSS ≤ 2 GB.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import Section, median

POINTS_PER_SERIES = 10_000
RSS_TARGET_MB = 2048


def cache_dir() -> Path:
    d = Path(os.environ.get("FORECASTER_BENCH_CACHE", Path(tempfile.gettempdir()) /
                            "forecaster-bench"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def make_panel_csv(n_series: int, n_points: int, path: Path, seed: int = 0) -> Path:
    """Write an hourly long panel (random walks with a daily cycle) unless it exists."""
    if path.exists():
        return path
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rng = np.random.default_rng(seed)
    stamps = np.datetime64("2020-01-01T00:00:00") + np.arange(n_points).astype("timedelta64[h]")
    stamps = np.datetime_as_string(stamps, unit="s")
    tmp = path.with_suffix(".partial")
    daily = 5 * np.sin(2 * np.pi * np.arange(n_points) / 24)
    with pacsv.CSVWriter(tmp, pa.schema([("unique_id", pa.string()), ("ds", pa.string()),
                                         ("y", pa.float64())])) as writer:
        for start in range(0, n_series, 50):
            ids, values = [], []
            for s in range(start, min(start + 50, n_series)):
                walk = np.cumsum(rng.standard_normal(n_points)) + 100 + daily
                ids.append(np.full(n_points, f"s{s:05d}"))
                values.append(np.round(walk, 3))
            k = len(ids)
            writer.write_table(pa.table({
                "unique_id": pa.array(np.concatenate(ids)),
                "ds": pa.array(np.tile(stamps, k)),
                "y": pa.array(np.concatenate(values)),
            }))
    tmp.rename(path)
    return path


def forecast_command() -> list[str] | None:
    exe = shutil.which("forecast", path=str(Path(sys.executable).parent)) or shutil.which("forecast")
    return [exe] if exe else None


_PEAK = ("import resource, subprocess, sys; "
         "rc = subprocess.run(sys.argv[1:]).returncode; "
         "print('PEAK_KB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, rc)")


def peak_rss(cmd: list[str], timeout: float, cwd=None):
    """Run ``cmd`` under a fresh wrapper; returns ``(peak_mb, seconds, returncode, stderr)``."""
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _PEAK, *cmd], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    seconds = time.perf_counter() - t
    for line in proc.stdout.splitlines():
        if line.startswith("PEAK_KB"):
            _, kb, rc = line.split()
            return int(kb) / 1024, seconds, int(rc), proc.stderr
    return float("nan"), seconds, proc.returncode, proc.stderr


def run(quick: bool, **_) -> Section:
    n_series = 100 if quick else 1000
    rows = n_series * POINTS_PER_SERIES
    try:
        from forecaster.data.ingest import read_panel
    except ImportError as exc:
        read_panel = None
        ingest_missing = str(exc)
    section = Section("memory")
    t = time.perf_counter()
    path = make_panel_csv(n_series, POINTS_PER_SERIES, cache_dir() / f"panel-{rows}.csv")
    section.notes.append(f"{rows:,}-row CSV ({path.stat().st_size / 1e6:.0f} MB, {n_series} "
                         f"hourly series) at {path}; ready in {time.perf_counter() - t:.1f} s")

    if read_panel is None:
        section.notes.append(f"ingest: not available: forecaster.data.ingest ({ingest_missing})")
    else:
        # Each read in a fresh process, as the CLI reads (a warm allocator pool from an
        # earlier read in the same process favours whichever reader keeps its buffers);
        # imports are excluded from the timed span.
        timed = {
            "read_panel": "from forecaster.data.ingest import read_panel as read",
            "pandas.read_csv(pyarrow)": ("import pandas as pd\n"
                                         "read = lambda p: pd.read_csv(p, engine='pyarrow')"),
        }

        def fresh(setup):
            code = (f"import sys, time\n{setup}\nt = time.perf_counter()\n"
                    "read(sys.argv[1])\nprint(time.perf_counter() - t)")
            out = subprocess.run([sys.executable, "-c", code, str(path)], check=True,
                                 capture_output=True, text=True).stdout
            return float(out.strip().splitlines()[-1])

        times = {name: [] for name in timed}
        for r in range(2 if quick else 3):
            for name in (list(timed) if r % 2 == 0 else list(timed)[::-1]):
                times[name].append(fresh(timed[name]))
        base = median(times["pandas.read_csv(pyarrow)"])
        for name, ts in times.items():
            section.rows.append({"measure": f"ingest {name}", "value": median(ts), "unit": "s",
                                 "x pandas": median(ts) / base})

    # Where the memory goes: each reader alone, in a fresh process (includes the interpreter
    # and the imports: pandas/pyarrow, not TensorFlow).
    readers = {"pandas.read_csv(pyarrow)": "import pandas as pd, sys; "
                                           "pd.read_csv(sys.argv[1], engine='pyarrow')"}
    if read_panel is not None:
        readers["read_panel"] = ("import sys; from forecaster.data.ingest import read_panel; "
                                 "read_panel(sys.argv[1])")
    for name, code in readers.items():
        mb, _, rc, _ = peak_rss([sys.executable, "-c", code, str(path)], timeout=1800)
        section.rows.append({"measure": f"peak RSS {name} alone", "value": mb, "unit": "MB",
                             "x pandas": None})

    cmd = forecast_command()
    if cmd is None:
        section.notes.append("train: not available: no `forecast` executable")
        return section
    max_windows = 10_000 if quick else 50_000
    with tempfile.TemporaryDirectory() as runs:
        args = cmd + ["train", str(path), "--window", "168", "--epochs", "1", "--no-backtest",
                      "--max-windows", str(max_windows), "--runs-dir", runs, "--quiet"]
        mb, seconds, rc, err = peak_rss(args, timeout=600 if quick else 1800)
    if rc != 0:
        tail = err.strip().splitlines()[-1:] or ["(no message)"]
        section.notes.append(f"train: not available: `forecast train` exited {rc}: {tail[0]}")
    section.rows.append({"measure": "forecast train peak RSS", "value": mb, "unit": "MB",
                         "x pandas": None})
    section.rows.append({"measure": "forecast train wall time", "value": seconds, "unit": "s",
                         "x pandas": None})
    section.notes.append(
        f"train: --window 168 --epochs 1 --no-backtest --max-windows {max_windows} "
        f"(subsampled windows; see module docstring); target peak RSS <= {RSS_TARGET_MB} MB: "
        f"{'met' if mb <= RSS_TARGET_MB and rc == 0 else 'NOT met'}")
    return section
