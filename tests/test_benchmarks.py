"""Smoke test of the benchmark runner (opt-in: ``pytest -m slow``). No timing is asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_quick_cells_benchmark_on_tiny_shapes(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--quick", "--only", "cells",
         "--shapes", "6x4x8", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "== cells ==" in proc.stdout and "tanh_cell" in proc.stdout
    result = json.loads(out.read_text())
    assert result["mode"] == "quick" and result["machine"]["cores"] >= 1
    (cells,) = result["sections"]
    assert cells["name"] == "cells" and cells["skipped"] is None
    layers = {row["layer"] for row in cells["rows"]}
    assert layers == {"simple_rnn", "tanh_cell", "tanh_cell_plain", "lstm", "gru"}
    for row in cells["rows"]:
        assert row["T,H,B"] == "6,4,8"
        assert row["train/s"] > 0 and row["infer/s"] > 0
    base = next(r for r in cells["rows"] if r["layer"] == "simple_rnn")
    for key in ("train x", "infer x", "train x cpu", "infer x cpu"):
        assert base[key] == pytest.approx(1.0)


def test_unknown_section_is_a_usage_error():
    proc = subprocess.run([sys.executable, "-m", "benchmarks.run", "--only", "nope"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "invalid choice: 'nope'" in proc.stderr


def test_accuracy_rows_and_reference_scores():
    """benchmarks/accuracy.py reads the product's metrics.json; stats_reference scores
    forecasts with the M-competition sMAPE (%) and MASE — checked on hand-made numbers."""
    import numpy as np

    from benchmarks.accuracy import format_rows, rows_from_metrics
    from benchmarks.scoring import scores

    metrics = {"leaderboard": [{"model": "rnn", "smape": 0.1459, "mase": 1.053},
                               {"model": "naive", "smape": 0.1922, "mase": 1.468}],
               "timings": {"rnn": {"fit_seconds": 10.0, "predict_seconds": 0.5},
                           "naive": {"fit_seconds": 0.0, "predict_seconds": 0.25}}}
    rows = rows_from_metrics(metrics, {"rnn": "rnn (tanh_cell, default)"})
    assert rows[0] == {"model": "rnn (tanh_cell, default)", "smape": 14.59, "mase": 1.053,
                       "seconds": 10.5}
    assert "rnn (tanh_cell, default)" in format_rows("m1", rows)

    train = {"a": np.array([1.0, 2.0, 3.0, 4.0, 5.0])}   # seasonal (m=2) naive error: 2
    test = {"a": np.array([6.0, 8.0])}
    fc = {"a": np.array([6.0, 6.0])}
    smape, mase = scores(train, test, fc, season=2)
    assert mase == (0 + 2) / 2 / 2
    assert abs(smape - np.mean([0.0, 200 * 2 / 14])) < 1e-12


def test_speed_benchmark_holds_out_the_last_points_of_every_series(tmp_path):
    import numpy as np
    import pandas as pd

    from benchmarks.speed import Measure, format_rows, split_csv

    frame = pd.DataFrame({"unique_id": ["a"] * 5 + ["b"] * 4,
                          "ds": list(range(5)) + list(range(4)),
                          "y": [1.0, 2, 3, 4, 5, 10, 20, 30, 40]})
    path, train, test = split_csv(frame, 2, tmp_path, "p")
    assert pd.read_csv(path)["y"].tolist() == [1.0, 2, 3, 10, 20]
    np.testing.assert_array_equal(train["a"], [1, 2, 3])
    np.testing.assert_array_equal(test["b"], [30, 40])
    row = Measure("new: forecast train", wall=12.5, cpu=20.0, rss_mb=900, smape=10.0,
                  mase=0.5, load=(1.0, 2.0))
    assert "new: forecast train" in format_rows("air", [row])
    assert "   12.5    20.0     900    10.00  0.500  1.0->2.0" in format_rows("air", [row])


def test_combination_scores_the_weighted_forecast_of_two_models():
    import numpy as np
    import pandas as pd
    import pytest

    from benchmarks.combination import combination_table

    data = pd.DataFrame({"unique_id": ["a"] * 6, "ds": range(6),
                         "y": [1.0, 2.0, 3.0, 4.0, 6.0, 8.0]})  # naive scale 1 on 1…4
    rows = [("rnn", [7.0, 9.0]), ("theta", [5.0, 7.0])]
    backtest = pd.DataFrame([{"model": m, "fold": 1, "series_id": "a", "timestamp": t,
                              "actual": [6.0, 8.0][t - 4], "forecast": f[t - 4]}
                             for m, f in rows for t in (4, 5)])
    table = combination_table(data, backtest, 1, weights=(0, 0.5, 1))
    assert [w for w, _, _ in table] == [0, 0.5, 1]
    assert [mase for _, _, mase in table] == pytest.approx([1.0, 0.0, 1.0])
    assert table[1][1] == 0.0 and table[0][1] == pytest.approx(
        np.mean([200 / 13, 200 / 17]))
    with pytest.raises(ValueError, match="both 'rnn' and 'ridge'"):
        combination_table(data, backtest, 1, models=("rnn", "ridge"))
