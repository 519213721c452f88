"""Progress and the data's warnings on a non-terminal stderr (issue 36, item 2): plain
lines from the one reporter, no stray bar label, the warnings before the work."""

from __future__ import annotations

import re

import pandas as pd

from forecaster.cli import progress as P
from forecaster.cli.commands import forecast
from tests.conftest import DATA, FAST


def test_evaluate_prints_no_stray_backtest_line(runner, tmp_path):
    result = runner.invoke(forecast, ["evaluate", str(DATA / "air_passengers.csv"),
                                      "--models", "naive,mean", "--folds", "2",
                                      "--out", str(tmp_path / "eval")])
    assert result.exit_code == 0, result.stderr
    lines = result.stderr.splitlines()
    assert not [line for line in lines if line.startswith("backtest")], lines  # < 30 s


def test_evaluate_reports_every_origin_when_the_throttle_allows(runner, tmp_path, monkeypatch):
    monkeypatch.setattr(P, "EVERY", 0.0)  # every report becomes a line
    result = runner.invoke(forecast, ["evaluate", str(DATA / "air_passengers.csv"),
                                      "--models", "naive,mean", "--folds", "2",
                                      "--out", str(tmp_path / "eval")])
    assert result.exit_code == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("backtest")]
    assert [line.split(",")[0] for line in lines] == [
        "backtest: 1/4 (naive fold 1/2)", "backtest: 2/4 (naive fold 2/2)",
        "backtest: 3/4 (mean fold 1/2)", "backtest: 4/4 (mean fold 2/2)"]
    assert all("\r" not in line and "elapsed" in line for line in lines)
    assert "left" in lines[0] and "left" not in lines[-1]


def test_train_warns_about_the_data_before_training(runner, tmp_path, monkeypatch):
    monkeypatch.setattr(P, "EVERY", 0.0)
    frame = pd.read_csv(DATA / "air_passengers.csv")
    frame.loc[[30, 31, 70], "passengers"] = None
    data = tmp_path / "gappy.csv"
    frame.to_csv(data, index=False)
    result = runner.invoke(forecast, ["train", str(data), "--runs-dir", str(tmp_path / "runs"),
                                      *FAST, "--origins", "2"])
    assert result.exit_code == 0, result.stderr
    lines = result.stderr.splitlines()
    warnings = [i for i, line in enumerate(lines) if line.startswith("warning:")]
    work = [i for i, line in enumerate(lines) if line.startswith(("backtest", "training "))]
    assert warnings and work and max(warnings) < min(work), lines
    assert any(line.startswith("backtest: 1/") and "fold 1/2" in line for line in lines)
    final = [line for line in lines if re.match(r"\S+ \(final\): \d+/\d+ \(loss ", line)]
    assert final and "elapsed" in final[-1], lines
