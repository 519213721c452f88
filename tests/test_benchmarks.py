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
