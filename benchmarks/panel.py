"""Section ``panel``: a global model on many short series.

1,000 synthetic daily series × 150 points (weekly cycle + trend + noise; quick mode: 100
series, and ``evaluate --folds 1``) written once to the benchmark cache as a long ``unique_id, ds, y`` CSV.

* seconds per epoch: ``RNNForecaster`` (the model ``forecast train`` fits; defaults but
  ``epochs``) on the panel read by ``read_panel``, for ``simple_rnn`` and ``tanh_cell``;
  the first epoch (which includes tracing) is reported apart from the median of the later
  ones.
* ``forecast evaluate PATH --models <every baseline>`` wall time (a subprocess, so it
  includes start-up); the RNN is left out so the number is the baselines' cost.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path

from benchmarks.common import Section, median, not_available, quiet_tensorflow
from benchmarks.memory import cache_dir, forecast_command


def make_short_panel_csv(n_series: int, n_points: int, path: Path, seed: int = 0) -> Path:
    if path.exists():
        return path
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    t = np.arange(n_points)
    days = pd.date_range("2023-01-01", periods=n_points, freq="D").strftime("%Y-%m-%d")
    frames = []
    for s in range(n_series):
        level, slope, amp = rng.uniform(50, 150), rng.normal(0, 0.1), rng.uniform(1, 10)
        y = level + slope * t + amp * np.sin(2 * np.pi * t / 7 + rng.uniform(0, 7)) \
            + rng.normal(0, 1, n_points)
        frames.append(pd.DataFrame({"unique_id": f"s{s:04d}", "ds": days, "y": y.round(3)}))
    tmp = path.with_suffix(".partial")
    pd.concat(frames).to_csv(tmp, index=False)
    tmp.rename(path)
    return path


def run(quick: bool, **_) -> Section:
    n_series, n_points = (100 if quick else 1000), 150
    epochs = 2 if quick else 5
    try:
        from forecaster.data.ingest import read_panel
        from forecaster.models.neural import RNNForecaster
    except ImportError as exc:
        return not_available("panel", str(exc))
    quiet_tensorflow()
    path = make_short_panel_csv(n_series, n_points,
                                cache_dir() / f"short-panel-{n_series}x{n_points}.csv")
    section = Section("panel")
    panel = read_panel(path)
    per_epoch, windows, batch = {}, None, None
    for kind in ("simple_rnn", "tanh_cell"):
        stamps = []
        model = RNNForecaster.from_settings(
            kind=kind, epochs=epochs, patience=epochs + 1, ensemble=1, units=32,
            batch_size=32, loss="mse", learning_rate=3e-3, anchor="level",
            progress=lambda *a, stamps=stamps: stamps.append(time.perf_counter()))
        started = time.perf_counter()
        model.fit(panel)
        total = time.perf_counter() - started
        windows, batch = getattr(model, "n_train_windows_", None), model.batch_size
        if len(stamps) >= 2:
            per_epoch[kind] = median([b - a for a, b in zip(stamps, stamps[1:])])
            section.rows.append({"measure": f"{kind}: epoch 2+ (median)",
                                 "seconds": per_epoch[kind],
                                 "windows/s": windows / per_epoch[kind] if windows else None,
                                 "x simple_rnn": per_epoch.get("simple_rnn", float("nan"))
                                 / per_epoch[kind]})
        section.rows.append({"measure": f"{kind}: fit total ({len(stamps)} epochs, with tracing)",
                             "seconds": total, "windows/s": None, "x simple_rnn": None})
    section.notes.append(f"{n_series} series x {n_points} daily points, {windows} training "
                         f"windows per epoch, batch {batch} (the product's fit path: "
                         "RNNForecaster with a PyDataset); the two kinds run one after the "
                         "other, not interleaved")

    cmd = forecast_command()
    if cmd is None:
        section.notes.append("evaluate: not available: no `forecast` executable")
        return section
    try:
        from forecaster.models.registry import BASELINES
        names = list(BASELINES)
    except ImportError:
        names = ["naive", "seasonal_naive", "drift", "mean", "ridge", "random_forest",
                 "hist_gradient_boosting", "knn"]
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        folds = ["--folds", "1"] if quick else []
        proc = subprocess.run(cmd + ["evaluate", str(path), "--models", ",".join(names),
                                     *folds, "--out", tmp, "--quiet"],
                              capture_output=True, text=True,
                              env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}, timeout=1800)
        seconds = time.perf_counter() - t
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["(no message)"])[-1]
        section.notes.append(f"evaluate: not available: exited {proc.returncode}: {last}")
    else:
        section.rows.append({"measure": f"forecast evaluate ({len(names)} baselines"
                                        f"{', 1 fold' if quick else ''})",
                             "seconds": seconds, "windows/s": None, "x simple_rnn": None})
    return section
