"""`forecast train --select best`: the backtest's winner deployed whatever its kind, saved
without pickle (JSON + skops), forecast by predict / report / the Python API, and refused
when tampered with."""

import json
import os
import shutil
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from forecaster.runs import artifacts
from forecaster.cli import forecast
from forecaster.data.ingest import read_panel
from forecaster.errors import ArtifactError, ConfigError
from forecaster.models.baseline_state import DeployedBaseline, from_state, to_state
from forecaster.models.registry import BASELINES, make_baseline
from forecaster.pipeline.select import choose
from tests.conftest import DATA, FAST


def _panel(n_series=2, length=60, covariate=False):
    rng = np.random.default_rng(3)
    t = np.arange(length)
    rows = []
    for i in range(n_series):
        y = 100 + 10 * i + 0.5 * t + 8 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 1, length)
        rows.append(pd.DataFrame({
            "series_id": f"s{i}", "ds": pd.date_range("2000-01-01", periods=length, freq="MS"),
            "y": y, **({"promo": rng.normal(size=length)} if covariate else {})}))
    frame = pd.concat(rows, ignore_index=True)
    return read_panel(frame, past_covariates=["promo"] if covariate else None), frame


def _round_trip(model, axis):
    state, blob = to_state(model)
    state = json.loads(json.dumps(state, allow_nan=False))  # what baseline.json holds
    return from_state(state, blob, axis)


@pytest.mark.parametrize("name", list(BASELINES))
def test_every_baseline_round_trips_to_the_same_forecast(name):
    panel, _ = _panel()
    model = make_baseline(name, season=12, seed=0).fit(panel)
    restored = _round_trip(model, panel.axis)
    expected = model.predict(7)
    got = restored.predict(7, panel)
    pd.testing.assert_frame_equal(got, expected)
    assert restored.name == name and restored.fitted_ids_ == ("s0", "s1")


def test_a_lag_regressor_with_covariates_round_trips():
    panel, _ = _panel(covariate=True)
    model = make_baseline("ridge", season=12).fit(panel)
    assert model.encoder_ is not None
    restored = _round_trip(model, panel.axis)
    pd.testing.assert_frame_equal(restored.predict(5, panel), model.predict(5))


def test_a_new_series_is_adopted_by_a_copy():
    panel, frame = _panel()
    deployed = DeployedBaseline(make_baseline("drift").fit(panel))
    other = frame[frame.series_id == "s1"].assign(series_id="new", y=lambda d: d.y * 2)
    context = read_panel(pd.concat([frame, other], ignore_index=True))
    values, notes = deployed.forecast(context, 3)
    assert deployed.model.fitted_ids_ == ("s0", "s1")  # the deployed model is unchanged
    assert "1 series the deployed drift was not fitted on (new)" in notes[0]
    # the new series' slope comes from its own history: twice s1's
    new, s1 = context.ids.index("new"), context.ids.index("s1")
    np.testing.assert_allclose(values[new] - values[new][0],
                               2 * (values[s1] - values[s1][0]), rtol=1e-12)


def test_malformed_or_untrusted_states_are_refused():
    import skops.io
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    panel, _ = _panel()
    model = make_baseline("ridge", season=12).fit(panel)
    state, blob = to_state(model)
    for broken, match in [({**state, "format": 2}, "format"),
                          ({**state, "name": "os.system"}, "name"),
                          ({**state, "lags": [3, 1]}, "lags"),
                          ({**state, "lags": state["lags"][:-1]}, "features do not match"),
                          ({**state, "scalers": {**state["scalers"], "scale": [1.0, 0.0]}},
                           "positive scales")]:
        with pytest.raises(ArtifactError, match=match):
            from_state(broken, blob, panel.axis)
    with pytest.raises(ArtifactError, match="cannot be read"):
        from_state(state, b"not a zip archive", panel.axis)
    evil = skops.io.dumps(Pipeline([("run", FunctionTransformer(os.system))]))
    with pytest.raises(ArtifactError, match="does not trust"):
        from_state(state, evil, panel.axis)
    drift, _ = to_state(make_baseline("drift").fit(panel))
    with pytest.raises(ArtifactError, match="slope"):
        from_state({**drift, "slope": [1.0]}, None, panel.axis)
    with pytest.raises(ArtifactError, match="no fitted scikit-learn model"):
        from_state(drift, blob, panel.axis)


def _evaluation(rows):
    cols = ["model", "mase", "smape"]
    return SimpleNamespace(table=pd.DataFrame(rows, columns=cols).astype(object))


def test_choose_takes_the_best_deployable_model_and_says_why():
    table = [("rnn_without_covariates", 0.7, 10.0), ("ridge", 0.8, 11.0), ("rnn", 0.9, 12.0),
             ("naive", 1.2, 15.0)]
    picked = choose(_evaluation(table), ["rnn", "ridge", "naive"])
    assert (picked.model, picked.score, picked.rnn_score) == ("ridge", 0.8, 0.9)
    assert picked.reason == "lowest backtest MASE of 3 models: 0.800 vs the RNN's 0.900"
    picked = choose(_evaluation(table[2:]), ["rnn", "ridge", "naive"])
    assert picked.model == "rnn"
    assert picked.reason == "lowest backtest MASE of 2 models: 0.900 (next: naive 1.200)"
    undefined = [("drift", None, 9.0), ("rnn", None, 10.0)]  # MASE undefined: sMAPE decides
    picked = choose(_evaluation(undefined), ["rnn", "drift"])
    assert picked.model == "drift" and picked.metric == "smape"


def test_select_is_validated(runner, tmp_path):
    from forecaster.config import load_config

    with pytest.raises(ConfigError, match="evaluation.select"):
        load_config(overrides={"evaluation": {"select": "worst"}})
    result = runner.invoke(forecast, ["train", str(DATA / "air_passengers.csv"), "--runs-dir",
                                      str(tmp_path), "--select", "best", "--no-backtest"])
    assert result.exit_code != 0 and "needs the backtest" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "latest").exists()


# -- end to end: a tiny RNN loses to a baseline on air passengers ---------------------------
@pytest.fixture(scope="module")
def selected(tmp_path_factory):
    from click.testing import CliRunner

    runs = tmp_path_factory.mktemp("select") / "runs"
    result = CliRunner().invoke(forecast, ["train", str(DATA / "air_passengers.csv"),
                                           "--runs-dir", str(runs), *FAST, "--origins", "12",
                                           "--select", "best"])
    assert result.exit_code == 0, result.output
    run = runs / (runs / "latest").read_text().strip()
    return SimpleNamespace(runs=runs, run=run, stdout=result.stdout,
                           info=json.loads((run / "run.json").read_text()),
                           metrics=json.loads((run / "metrics.json").read_text()))


def test_select_best_deploys_the_backtest_winner(selected):
    board = [r["model"] for r in selected.metrics["leaderboard"]]
    winner = next(m for m in board if m != "rnn_without_covariates")
    info = selected.info
    assert info["deployed"] == winner == info["selection"]["model"] != "rnn"
    assert f"deployed          {winner} — lowest backtest MASE of 8 models" in selected.stdout
    stored = json.loads((selected.run / "baseline.json").read_text())
    assert stored["model"]["name"] == winner and set(stored["conformal"]) == {"80", "95"}
    assert "baseline.json" in info["sha256"]
    assert ("baseline.skops" in info["sha256"]) == (stored["model"]["kind"] == "lag_regression")


def test_predict_and_the_api_forecast_with_the_deployed_baseline(selected, runner, tmp_path):
    import forecaster as fc

    out = tmp_path / "f.csv"
    result = runner.invoke(forecast, ["predict", "--runs-dir", str(selected.runs), "--horizon",
                                      "12", "--output", str(out)])
    assert result.exit_code == 0, result.output + result.stderr
    trained = pd.read_csv(selected.run / "forecast.csv").drop(columns="step")
    predicted = pd.read_csv(out)
    pd.testing.assert_frame_equal(predicted, trained, rtol=1e-12)
    model = fc.load(selected.runs)
    assert model.deployed_ == selected.info["deployed"]
    frame = model.predict(12)
    np.testing.assert_allclose(frame["forecast"], trained["forecast"], rtol=1e-12)
    # new data: one more year, forecast from its end without retraining
    data = pd.read_csv(DATA / "air_passengers.csv")
    more = data.tail(12).assign(month=pd.date_range("1961-01-01", periods=12, freq="MS")
                                .strftime("%Y-%m"), passengers=lambda d: d.passengers + 40)
    moved = model.predict(3, new_data=pd.concat([data, more], ignore_index=True))
    assert str(moved["timestamp"].iloc[0])[:10] == "1962-01-01"
    assert np.all(np.isfinite(moved["forecast"])) and model.predict(12).equals(frame)


def test_a_deployed_baseline_forecasts_new_data_the_log_scale_would_refuse(selected, runner,
                                                                           tmp_path):
    """The RNN of this run forecasts air passengers on the log scale; a deployed baseline
    does not, so new data with a zero (through the API) or negative values (through
    ``forecast predict --data``) are forecast, where an RNN-deployed run refuses them."""
    import forecaster as fc

    data = pd.read_csv(DATA / "air_passengers.csv")
    assert json.loads((selected.run / "preprocessing.json").read_text())["series"][0][
        "scaling"] == "log"
    more = data.tail(12).assign(month=pd.date_range("1961-01-01", periods=12, freq="MS")
                                .strftime("%Y-%m"))
    more.loc[more.index[3], "passengers"] = 0.0
    new = pd.concat([data, more], ignore_index=True)
    frame = fc.load(selected.runs).predict(6, new_data=new)
    assert len(frame) == 6 and np.all(np.isfinite(frame["forecast"]))
    path = tmp_path / "new.csv"
    new.assign(passengers=lambda d: d.passengers - 200).to_csv(path, index=False)
    result = runner.invoke(forecast, ["predict", "--runs-dir", str(selected.runs), "--horizon",
                                      "6", "--data", str(path)])
    assert result.exit_code == 0, result.output + result.stderr
    assert "log scale" not in result.stderr


def test_the_report_says_which_model_was_deployed_and_why(selected, runner, tmp_path):
    result = runner.invoke(forecast, ["report", "--runs-dir", str(selected.runs), "--out",
                                      str(tmp_path / "rep")])
    assert result.exit_code == 0, result.output + result.stderr
    html = (tmp_path / "rep" / "report.html").read_text()
    assert "deployed</th>" in html and "--select best: lowest backtest MASE" in html


def _copy(selected, tmp_path):
    runs = tmp_path / "runs"
    shutil.copytree(selected.run, runs / selected.run.name)
    (runs / "latest").write_text(selected.run.name)
    return runs, runs / selected.run.name


def _rehash(run):
    info = json.loads((run / "run.json").read_text())
    info["sha256"] = artifacts.integrity(run)
    (run / "run.json").write_text(json.dumps(info))


def _refused(runner, runs, match):
    result = runner.invoke(forecast, ["predict", "--runs-dir", str(runs), "--horizon", "3"])
    assert result.exit_code != 0, result.output
    assert match in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_tampered_baseline_files_are_refused(selected, runner, tmp_path):
    import skops.io
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    runs, run = _copy(selected, tmp_path)
    stored = json.loads((run / "baseline.json").read_text())
    # a changed file: its hash no longer matches run.json's
    (run / "baseline.json").write_text(json.dumps({**stored, "conformal": None}))
    _refused(runner, runs, "baseline.json in run")
    # … re-hashed by whoever changed it: the content is checked too
    other = "naive" if stored["model"]["name"] != "naive" else "mean"
    (run / "baseline.json").write_text(json.dumps(
        {**stored, "model": {**stored["model"], "name": other}}))
    _rehash(run)
    _refused(runner, runs, "run.json deploys")
    if stored["model"]["kind"] == "lag_regression":
        (run / "baseline.json").write_text(json.dumps(stored))
        (run / "baseline.skops").write_bytes(
            skops.io.dumps(Pipeline([("run", FunctionTransformer(os.system))])))
        _rehash(run)
        _refused(runner, runs, "does not trust")
    (run / "baseline.json").unlink()  # a deleted file whose hash run.json records
    _refused(runner, runs, "baseline.json is missing")


@pytest.mark.parametrize("name", ["naive", "seasonal_naive", "drift", "mean", "theta",
                                  "hist_gradient_boosting"])
def test_every_deployable_baseline_saves_loads_and_forecasts(name, monkeypatch, tmp_path):
    """Whatever wins is deployed: each kind through the Python API, saved, loaded back and
    forecast (the winner is forced; the choice itself is tested above)."""
    import forecaster as fc
    from forecaster.pipeline import select

    monkeypatch.setattr(select, "choose", lambda evaluation, candidates: select.Selection(
        name, "forced by the test"))
    model = fc.Forecaster(select="best", epochs=1, units=2, ensemble=1, origins=6,
                          seed=1).fit(DATA / "air_passengers.csv")
    assert model.deployed_ == name
    fitted = model.predict(12)
    loaded = fc.load(model.save(tmp_path / "runs"))
    assert loaded.deployed_ == name
    # (timestamps may differ in resolution: ms from the file, us from run.json)
    pd.testing.assert_frame_equal(loaded.predict(12), fitted, rtol=1e-12, check_dtype=False)
    trained = pd.read_csv(loaded.run_dir_ / "forecast.csv")
    np.testing.assert_allclose(trained["forecast"], fitted["forecast"], rtol=1e-12)
    assert {"lower_80", "upper_80"} <= set(fitted.columns)
