"""The train pipeline: how many backtest origins fit, and the final fit reusing the
backtest's epoch count."""

import json

import numpy as np
import pandas as pd
import pytest

from forecaster.config import load_config
from forecaster.pipeline import train as T

TINY = {"model": {"units": 4, "ensemble": 2}, "training": {"epochs": 6, "patience": 2,
                                                          "seed": 1}}


def _panel(tmp_path, lengths, season=4):
    from forecaster.data.ingest import read_panel

    rng = np.random.default_rng(0)
    frames = []
    for i, n in enumerate(lengths):
        t = np.arange(n)
        y = 50 + t + 5 * np.sin(2 * np.pi * t / season) + rng.normal(0, 1, n)
        ds = pd.date_range("2000-01-01", periods=max(lengths), freq="QS")[-n:]
        frames.append(pd.DataFrame({"unique_id": f"s{i}", "ds": ds, "y": y}))
    path = tmp_path / "panel.csv"
    pd.concat(frames).to_csv(path, index=False)
    return read_panel(path), path


@pytest.mark.parametrize("shortest,origins", [(31, 12), (30, 6), (25, 6), (24, 3), (22, 3), (21, 1), (19, 0)])
def test_origins_halve_until_every_series_has_a_first_fold(tmp_path, shortest, origins):
    """Horizon 18 needs 18 + (origins - 1) + 2 points in every series (the backtest's
    own rule): 12 origins need 31; one point less used to pass the plan and then fail."""
    panel, _ = _panel(tmp_path, [120, shortest])
    cfg = load_config(overrides={"model": {"horizon": 18}, "evaluation": {"origins": 12}})
    shape, planned = T._plan_backtest(panel, cfg, 4)
    assert planned == origins
    if planned:
        T.backtest_spec(shape.horizon, planned).check(panel)  # the backtest accepts it


def test_final_fit_trains_the_epochs_the_backtest_chose(tmp_path):
    _, path = _panel(tmp_path, [60, 48, 40])
    cfg = load_config(overrides={**TINY, "evaluation": {"origins": 3}})
    result = T.train(path, cfg, runs_dir=tmp_path / "runs")
    info = json.loads((result.run_dir / "run.json").read_text())
    history = pd.read_csv(result.run_dir / "history.csv")
    # history and best epoch: the backtest's early-stopped fit; the final fit trained every
    # window for that many epochs and early-stopped nothing itself
    assert info["final_epochs"] == info["best_epoch"] == result.best_epoch
    assert len(history) == info["epochs_run"] and history["val_loss"].notna().all()
    assert int(history["val_loss"].idxmin()) + 1 == info["best_epoch"]
    assert info["best_epoch"] <= info["epochs_run"] <= 6


def test_without_a_backtest_the_final_fit_stops_early_itself(tmp_path):
    _, path = _panel(tmp_path, [60, 48, 40])
    cfg = load_config(overrides={**TINY, "evaluation": {"backtest": False}})
    result = T.train(path, cfg, runs_dir=tmp_path / "runs")
    info = json.loads((result.run_dir / "run.json").read_text())
    assert not (result.run_dir / "metrics.json").exists()
    assert info["final_epochs"] == info["best_epoch"]  # the refit after its own stopping
    assert len(pd.read_csv(result.run_dir / "history.csv")) == info["epochs_run"]


def test_interval_bands_scale_with_their_series(tmp_path):
    """On the log scale the network's scaler is a ratio, the same for a series and ten
    times that series; the bands are not: each is the calibrated quantile times the
    series' own in-sample seasonal-naive MAE, so the larger series' band is ten times
    wider (it was as wide as the smaller one's)."""
    from forecaster.data.ingest import read_panel

    rng = np.random.default_rng(3)
    t = np.arange(60)
    base = 100 + t + 8 * np.sin(2 * np.pi * t / 4) + rng.normal(0, 2, 60)
    ds = pd.date_range("2000-01-01", periods=60, freq="QS")
    frame = pd.concat([pd.DataFrame({"unique_id": sid, "ds": ds, "y": base * k})
                       for sid, k in (("small", 1.0), ("large", 10.0))])
    frame.to_csv(tmp_path / "p.csv", index=False)
    cfg = load_config(overrides={**TINY, "model": {**TINY["model"], "scaling": "log"},
                                 "evaluation": {"origins": 8}})
    run = T.fit_run(read_panel(tmp_path / "p.csv"), cfg)
    assert (run.model.scaler_.lam == 0).all()
    by_id = {sid: g for sid, g in run.forecast.groupby("series_id")}
    np.testing.assert_allclose(by_id["large"]["forecast"], 10 * by_id["small"]["forecast"],
                               rtol=1e-6)
    half = {sid: (g["upper_80"] - g["forecast"]).to_numpy() for sid, g in by_id.items()}
    np.testing.assert_allclose(half["large"], 10 * half["small"], rtol=1e-6)
    bands = {s.id: s.interval_scale for s in run.state.series}
    assert bands["large"] == pytest.approx(10 * bands["small"])
    # saved with the run, and a run written before (no interval_scale) keeps its meaning
    data = run.state.to_json()
    assert [s["interval_scale"] for s in data["series"]] == [bands["large"], bands["small"]]
    from forecaster.runs.forecast_state import Preprocessing

    old = Preprocessing.from_json({**data, "series": [
        {k: v for k, v in s.items() if k != "interval_scale"} for s in data["series"]]})
    assert [s.band_scale for s in old.series] == [s.scale for s in old.series]
