"""Leaderboard: per-series-then-mean aggregation, ordering, n/a handling, JSON, table."""

import json

import numpy as np
import pytest

from forecaster.data.panel import Panel, TimeAxis
from forecaster.evaluation.backtest import BacktestSpec, run_backtest
from forecaster.evaluation.leaderboard import (fold_table, format_number, format_table,
                                               leaderboard, leaderboard_to_json)
from forecaster.models.baselines import MeanForecaster, NaiveForecaster
from forecaster.models.registry import BASELINES

INT = TimeAxis("integer")


def test_per_series_then_mean_over_series():
    # a: 0..9 (naive error at step h of the holdout is h), b: constant 5 then jump
    panel = Panel.from_arrays({"a": np.arange(10.0), "b": [5.0] * 8 + [6.0, 8.0]}, INT)
    result = run_backtest(panel, {"naive": NaiveForecaster}, BacktestSpec.holdout(2))
    row = leaderboard(result, panel, 1).iloc[0]
    # a: errors 1, 2 → MAE 1.5, RMSE sqrt(2.5), MAPE (1/8 + 2/9)/2; b: errors 1, 3
    assert row["mae"] == pytest.approx((1.5 + 2.0) / 2)
    assert row["rmse"] == pytest.approx((np.sqrt(2.5) + np.sqrt(5.0)) / 2)
    assert row["mape"] == pytest.approx(((1 / 8 + 2 / 9) / 2 + (1 / 6 + 3 / 8) / 2) / 2)
    # MASE: a has in-sample naive scale 1 → 1.5; b's scale is 0 → left out, with a note
    assert row["mase"] == pytest.approx(1.5)
    assert any("MASE is undefined" in n and "1 of 2 series (b)" in n
               for n in leaderboard(result, panel, 1).attrs["notes"])


def test_zero_actual_gives_na_mape_and_table_never_shows_nan():
    panel = Panel.from_arrays({"z": [3.0, 2.0, 1.0, 1.0, 0.0, 2.0]}, INT)
    result = run_backtest(panel, {"naive": NaiveForecaster, "mean": MeanForecaster},
                          BacktestSpec.holdout(2))
    table = leaderboard(result, panel, 1)
    assert table["mape"].tolist() == [None, None]
    assert any("MAPE is undefined" in n for n in table.attrs["notes"])
    text = format_table(table)
    assert "n/a" in text and "nan" not in text.lower() and "inf" not in text.lower()
    data = leaderboard_to_json(table, protocol={}, season=1, levels=[80, 95])
    json.dumps(data, allow_nan=False)
    assert data["leaderboard"][0]["mape"] is None


@pytest.mark.parametrize("scale, shown", [(1e298, "e+2"), (1e-302, "e-3")])
def test_table_of_huge_or_tiny_data_stays_readable(scale, shown):
    """Errors of data in 1e300 were printed with ~300 digits and commas, of data in 1e-300
    as 0.000: scientific notation then, as the forecast table does."""
    panel = Panel.from_arrays({"v": scale * np.array([3.0, 2.0, 5.0, 1.0, 4.0, 2.0])}, INT)
    result = run_backtest(panel, {"naive": NaiveForecaster}, BacktestSpec.holdout(2))
    row = format_table(leaderboard(result, panel, 1)).splitlines()[1]
    assert len(row) < 80 and row.split()[2].count(shown) == 1, row   # naive * MAE …
    assert format_number(1234.5678) == "1,234.568" and format_number(0.0) == "0.000"


def test_sorted_by_mase_with_best_marked():
    t = np.arange(80)
    panel = Panel.from_arrays({"a": 50 + 0.5 * t + np.sin(t)}, INT)
    result = run_backtest(panel, {m: BASELINES[m] for m in ("mean", "naive", "drift")},
                          BacktestSpec(horizon=6, folds=6))
    table = leaderboard(result, panel, 1)
    assert list(table["mase"]) == sorted(table["mase"])
    assert table.attrs["best"] == table["model"].iloc[0] == "drift"
    assert list(table.columns) == ["model", "mae", "rmse", "mape", "smape", "mase",
                                   "coverage_80", "width_80", "msis_80", "coverage_95",
                                   "width_95", "msis_95", "pinball"]
    lines = format_table(table).splitlines()
    assert lines[0].split()[:3] == ["model", "mae", "rmse"]
    assert lines[1].startswith("drift *") and "*" not in "".join(lines[2:])
    # 80% intervals from folds 2…6 (calibrated on earlier folds only) are scored
    assert table["coverage_80"].notna().all() and table["width_80"].notna().all()
    # 95% needs 19 residuals per step: never available with one series and 5 earlier folds
    assert table["coverage_95"].isna().all()
    folds = fold_table(result, panel, 1)
    assert len(folds) == 18 and list(folds.columns[:3]) == ["model", "fold", "cutoff_from_end"]
    assert folds.loc[folds.fold == 1, "coverage_80"].isna().all()


def test_interval_calibration_uses_only_observed_residuals():
    # step 1 < horizon 4: fold k may only use residuals whose actuals precede its cutoff
    rng = np.random.default_rng(0)
    panel = Panel.from_arrays({f"s{i}": rng.normal(size=60).cumsum() for i in range(10)}, INT)
    spec = BacktestSpec(horizon=4, folds=8, step=1)
    result = run_backtest(panel, {"naive": NaiveForecaster}, spec)
    from forecaster.evaluation.leaderboard import add_backtest_intervals
    frame, _ = add_backtest_intervals(result, panel, 1, (80,))
    # fold 2 can calibrate step 1 only on fold 1's step-1 residuals (observed at its cutoff);
    # for steps ≥ 2 there is nothing observed yet, so no interval
    f2 = frame[frame.fold == 2]
    assert f2.loc[f2.step == 1, "lower_80"].notna().all()
    assert f2.loc[f2.step > 1, "lower_80"].isna().all()
    # from fold 5 on, fold 1 step 4 has been observed → every step has an interval
    assert frame.loc[frame.fold == 4, "lower_80"].isna().any()
    assert frame.loc[frame.fold >= 5, "lower_80"].notna().all()


def test_holdout_has_no_coverage_with_a_note():
    panel = Panel.from_arrays({"a": np.arange(30.0)}, INT)
    result = run_backtest(panel, {"naive": NaiveForecaster}, BacktestSpec.holdout(5))
    table = leaderboard(result, panel, 1)
    assert table["coverage_80"].iloc[0] is None
    assert any("at least 2 folds" in n for n in table.attrs["notes"])
    assert "coverage_80" not in format_table(table)  # all n/a: left out of the text table
