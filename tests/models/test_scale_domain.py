"""A series' scale and the domain of its values (issue 31): the log and Box-Cox scales need
strictly positive values, so whether a series *can* be logged is decided from every value
of it the run sees (not from a training part that happens to be positive), and a context
that still leaves its scale's domain (a backtest fold, ``predict --data``, an unseen
series) is forecast on the standard scale fitted on that context, with a note, instead of
ending the run.

Panels: four growing monthly series whose seasonal swing grows with the level (``auto``
puts them on the log scale), with zeros only late, only in one series, only in the last
context of the backtest, or only in the last point of new data."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from forecaster import Forecaster
from forecaster.data import windowing as W
from forecaster.models import neural

N = 72
# origins 4 with the automatic monthly horizon 12: fold 1 trains on points 0..56 and the
# later folds forecast from contexts ending at points 57, 58 and 59
TINY = dict(epochs=2, units=4, ensemble=1, origins=4, patience=1, seed=1)
COLUMNS = dict(target="y", time_col="ds", id_col="unique_id")
NOTE = "standard scale"


def _panel(zeros: dict | None = None, n: int = N, start: str = "2000-01-01") -> pd.DataFrame:
    """Four positive series (multiplicative seasonality, growth), then ``zeros`` ({id:
    positions}) set to 0."""
    rng = np.random.default_rng(3)
    t = np.arange(n)
    frames = []
    for k, sid in enumerate("abcd"):
        y = (50 + 30 * k) * 1.015 ** t * (1 + 0.35 * np.sin(2 * np.pi * t / 12 + k))
        y = y * np.exp(rng.normal(0, 0.03, n))
        for i in (zeros or {}).get(sid, []):
            y[i] = 0.0
        frames.append(pd.DataFrame({"unique_id": sid, "y": y, "ds": pd.date_range(
            start, periods=n, freq="MS")}))
    return pd.concat(frames, ignore_index=True)


def _lams(model) -> dict:
    return {s.id: s.lam for s in model.state_.series}


def _finite(frame) -> bool:
    return bool(np.all(np.isfinite(frame["forecast"].to_numpy(dtype=float))))


# -- training: the domain decision sees every value ----------------------------------------
@pytest.mark.parametrize("zeros, touched", [
    ({"a": [58, 61, 66], "b": [58, 60, 70], "d": [64]}, ["a", "b", "d"]),  # only late
    ({"c": [58, 59]}, ["c"]),                                                # one series
    ({"b": [59]}, ["b"]),                                    # the backtest's last context
])
def test_training_with_zeros_late_completes_on_the_standard_scale(zeros, touched):
    model = Forecaster(**TINY).fit(_panel(zeros), **COLUMNS)
    lams = _lams(model)
    assert [sid for sid, lam in lams.items() if lam == 1.0] == touched
    assert all(lams[sid] < 1 for sid in "abcd" if sid not in touched)  # the others: logs
    assert _finite(model.predict())
    board = model.leaderboard_
    # the backtest's point errors (its 4 origins calibrate no 95 % interval)
    assert np.isfinite(board.loc[board["model"] == "rnn", ["mae", "rmse"]]
                       .to_numpy(dtype=float)).all()
    # said once, naming the series
    said = [n for n in model.notes_ if NOTE in n and "zeros" in n]
    assert len(said) == 1 and all(repr(sid) in said[0] for sid in touched), model.notes_


def test_the_scale_family_uses_every_value_but_lambda_only_the_training_part():
    t = np.arange(96)
    grows = 100 * 1.02 ** t * (1 + 0.3 * np.sin(2 * np.pi * t / 12))
    late_zero = grows.copy()
    late_zero[90] = 0.0
    fit_parts = [grows[:72], late_zero[:72]]
    # λ from the training part, the domain from the whole series: the late zero rules
    # out the log for that series only
    got = neural.resolve_scaling("auto", [grows, late_zero], fit_parts, season=12)
    assert got[0] == neural.resolve_scaling("auto", [grows[:72]], season=12)[0] < 1
    assert got[1] == 1.0
    # a domain known from elsewhere (the whole panel of a backtest) overrides what the
    # fitted part shows
    both = neural.resolve_scaling("auto", fit_parts, season=12, positive=[True, False])
    assert both.tolist() == got.tolist()


def test_a_backtest_fold_model_learns_the_domain_of_the_whole_panel():
    from forecaster.data.ingest import read_panel
    from forecaster.evaluation.backtest import BacktestSpec, run_backtest

    panel = read_panel(_panel({"c": [59]}), freq="MS", **COLUMNS)
    made = []

    def rnn():
        made.append(neural.RNNForecaster.from_settings(epochs=1, units=4, ensemble=1,
                                                       patience=1, seed=1, season=12))
        return made[-1]

    result = run_backtest(panel, {"rnn": rnn}, BacktestSpec(horizon=12, folds=4, step=1,
                                                              refit=False))
    assert np.isfinite(result.frame["forecast"]).all()
    lams = dict(zip(panel.ids, made[0].scaler_.lam))
    assert lams["c"] == 1.0 and all(lams[s] < 1 for s in "abd")
    assert any("'c'" in n and NOTE in n for n in result.notes), result.notes


# -- forecasting from a context outside the scale's domain -------------------------------
def _one_up(x, training=False):
    """A "network" that forecasts the level-relative value +1 (scaled units)."""
    return np.ones((len(x), 1))


def test_a_context_outside_the_log_domain_falls_back_to_its_own_standard_scale():
    positive = np.array([1.0, 2, 4, 8, 16, 32])
    scaler = W.SeriesScaler.fit([positive, positive], lam=0.0)
    touched = np.array([4.0, 3, 5, 0, 6, 7])  # a zero in the last window of 3
    notes = []
    got = neural.forecast_values(_one_up, scaler, [0, 1], [positive, touched], window=3,
                                 model_horizon=1, steps=2, level=1, ids=["p", "z"],
                                 notes=notes, season=0)
    assert np.isfinite(got).all()
    # the positive context keeps the log scale: +1 scaled is the same ratio each step
    np.testing.assert_allclose(got[0], neural.forecast_values(
        _one_up, scaler, [0], [positive], window=3, model_horizon=1, steps=2, level=1)[0])
    # the other is forecast on the standard scale fitted on its own context
    own = W.SeriesScaler.fit([touched], lam=1.0)
    np.testing.assert_allclose(got[1], [7 + own.scale[0], 7 + 2 * own.scale[0]])
    assert len(notes) == 1 and "'z'" in notes[0] and "'p'" not in notes[0]
    assert NOTE in notes[0] and "log scale" in notes[0]
    # deterministic: the same inputs, the same numbers and note
    again = []
    np.testing.assert_array_equal(got, neural.forecast_values(
        _one_up, scaler, [0, 1], [positive, touched], window=3, model_horizon=1, steps=2,
        level=1, ids=["p", "z"], notes=again, season=0))
    assert again == notes


def test_zeros_before_the_window_need_no_fallback():
    positive = np.array([1.0, 2, 4, 8, 16, 32])
    scaler = W.SeriesScaler.fit([positive], lam=0.0)
    early = np.array([0.0, 2, 4, 8, 16, 32])  # the zero is outside the last window of 3
    notes = []
    got = neural.forecast_values(_one_up, scaler, [0], [early], window=3, model_horizon=1,
                                 steps=1, level=1, notes=notes)
    np.testing.assert_allclose(got, neural.forecast_values(
        _one_up, scaler, [0], [positive], window=3, model_horizon=1, steps=1, level=1))
    assert notes == []


@pytest.fixture(scope="module")
def log_model():
    """A run on the log scale (every series), trained on the first 60 months."""
    return Forecaster(**{**TINY, "backtest": False, "scaling": "log"}).fit(
        _panel(n=60), **COLUMNS)


def test_new_data_with_a_zero_in_the_last_context_forecast_with_a_note(log_model):
    assert all(lam == 0.0 for lam in _lams(log_model).values())
    new = _panel({"a": [N - 1]})  # the first 60 months again, 12 more, the last one 0
    frame = log_model.predict(6, new_data=new)
    assert _finite(frame) and sorted(frame["series_id"].unique()) == list("abcd")
    said = [n for n in log_model.predict_notes_ if NOTE in n]
    assert len(said) == 1 and "'a'" in said[0] and "'b'" not in said[0]
    # the other series forecast exactly as without the zero
    clean = log_model.predict(6, new_data=_panel())
    same = frame["series_id"] != "a"
    np.testing.assert_array_equal(frame.loc[same, "forecast"], clean.loc[same, "forecast"])
    assert not any(NOTE in n for n in log_model.predict_notes_)
    # deterministic
    pd.testing.assert_frame_equal(frame, log_model.predict(6, new_data=new))


def test_an_unseen_series_with_zeros_on_a_log_run_is_forecast_with_a_note(log_model):
    new = _panel({"a": [40, 65]}).replace({"unique_id": {"a": "fresh"}})
    frame = log_model.predict(6, new_data=new)
    assert _finite(frame) and "fresh" in set(frame["series_id"])
    assert any("'fresh'" in n and NOTE in n for n in log_model.predict_notes_), \
        log_model.predict_notes_


def test_the_cli_predicts_new_data_with_zeros_and_prints_the_note(log_model, tmp_path):
    from click.testing import CliRunner

    from forecaster.cli import forecast

    run_dir = log_model.save(tmp_path / "runs")
    runs, name = run_dir.parent, run_dir.name
    _panel({"c": [N - 2]}).to_csv(tmp_path / "new.csv", index=False)
    result = CliRunner().invoke(forecast, [
        "predict", "--runs-dir", str(runs), "--run", name, "--data", str(tmp_path / "new.csv"),
        "--output", str(tmp_path / "f.csv")])
    assert result.exit_code == 0, result.output
    out = pd.read_csv(tmp_path / "f.csv")
    assert np.isfinite(out["forecast"]).all() and set(out["series_id"]) == set("abcd")
    try:  # click < 8.2 mixes stderr into the output unless told otherwise
        said = result.output + result.stderr
    except ValueError:
        said = result.output
    assert "'c'" in said and NOTE in said


def test_forecast_train_with_zeros_late_completes_and_says_why(tmp_path):
    from click.testing import CliRunner

    from forecaster.cli import forecast

    _panel({"b": [58, 63]}).to_csv(tmp_path / "late.csv", index=False)
    result = CliRunner().invoke(forecast, [
        "train", str(tmp_path / "late.csv"), "--runs-dir", str(tmp_path / "runs"),
        "--epochs", "2", "--units", "4", "--ensemble", "1", "--origins", "4",
        "--patience", "1", "--seed", "1", "--verbose"])
    assert result.exit_code == 0, result.output
    try:  # click < 8.2 mixes stderr into the output unless told otherwise
        said = result.output + result.stderr
    except ValueError:
        said = result.output
    why = "1 series ('b') have zeros or negative values after their first part"
    assert f"note: {why}" in said
    runs = tmp_path / "runs"
    run_dir = runs / (runs / "latest").read_text().strip()
    assert any(why in n for n in json.loads((run_dir / "data.json").read_text())["notes"])
    assert np.isfinite(pd.read_csv(run_dir / "forecast.csv")["forecast"]).all()
