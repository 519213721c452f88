"""Forecasts from new data without retraining: `forecast predict --data NEW.csv` and
`Forecaster.predict(new_data=…)` — rows after the run's end, a whole newer history,
unseen series, and each refusal (gap, frequency change, data ending too early, too short
a new series); non-positive values on the log scale fall back to the standard scale with a
note; the run is never modified."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from forecaster import DataError, Forecaster, load
from forecaster.cli import forecast
from forecaster.runs.forecast_state import Preprocessing
from forecaster.data.panel import Panel, TimeAxis
from tests.conftest import DATA, FAST

AIR = pd.read_csv(DATA / "air_passengers.csv")
CUT = 120  # the run sees 1949-01 … 1958-12; the new data go on to 1960-12
TINY = dict(epochs=3, units=4, ensemble=1, origins=20, patience=2, seed=1)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A run trained by the CLI on the first 120 months of air_passengers."""
    work = tmp_path_factory.mktemp("newdata")
    AIR.iloc[:CUT].to_csv(work / "old.csv", index=False)
    AIR.iloc[CUT:].to_csv(work / "after.csv", index=False)
    AIR.to_csv(work / "history.csv", index=False)
    runs = work / "runs"
    result = CliRunner().invoke(forecast, ["train", str(work / "old.csv"), "--runs-dir",
                                           str(runs), *FAST])
    assert result.exit_code == 0, result.output
    return runs / (runs / "latest").read_text().strip()


@pytest.fixture(scope="module")
def model(run_dir):
    return load(run_dir)


def _digest(folder) -> dict:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _cli(run_dir, *args):
    return CliRunner().invoke(forecast, ["predict", "--runs-dir", str(run_dir.parent),
                                         "--run", run_dir.name, *args])


def test_rows_after_the_end_and_the_whole_history_forecast_the_same(model):
    after = model.predict(12, new_data=AIR.iloc[CUT:])
    history = model.predict(12, new_data=AIR)
    assert after["timestamp"].iloc[0] == pd.Timestamp("1961-01-01")
    assert after["timestamp"].iloc[-1] == pd.Timestamp("1961-12-01")
    pd.testing.assert_frame_equal(after, history)
    # the run's own end: the forecast made at training time, number for number
    pd.testing.assert_frame_equal(model.predict(12, new_data=AIR.iloc[100:CUT]),
                                  model.predict(12))
    # the fitted state is left as it was
    assert model.predict(1)["timestamp"].iloc[0] == pd.Timestamp("1959-01-01")


def test_new_data_move_the_forecast_with_the_saved_scaler_and_calibrated_widths(model):
    base, moved = model.predict(12), model.predict(12, new_data=AIR.iloc[CUT:])
    assert not np.allclose(base["forecast"], moved["forecast"])
    # the widths are the run's calibrated ones: the same saved scale, the same quantiles
    for level in ("80", "95"):
        if f"lower_{level}" in base:
            np.testing.assert_allclose(base[f"upper_{level}"] - base["forecast"],
                                       moved[f"upper_{level}"] - moved["forecast"])
    # the moved state is what a forecast from the stored context would be, had the run
    # been trained to 1960-12 with the same scaler: check the context it forecasts from
    state, _ = model.state_.with_history(_panel(AIR.iloc[CUT:]))
    assert state.series[0].context[-1] == AIR["passengers"].iloc[-1]
    assert state.axis.format(state.series[0].context_start) == \
        AIR["month"].iloc[-len(state.series[0].context)]
    assert state.series[0].length == 144
    assert (state.series[0].mean, state.series[0].scale) == \
        (model.state_.series[0].mean, model.state_.series[0].scale)


def _panel(frame) -> Panel:
    from forecaster import read_panel

    return read_panel(frame, freq="MS", min_length=1)


def test_revised_values_are_used_and_counted(model):
    revised = AIR.copy()
    revised.loc[CUT - 1, "passengers"] += 100  # the run's last point, revised
    frame = model.predict(12, new_data=revised.iloc[:CUT + 5])  # inside the window
    assert any("1 value(s) of the new data differ" in n for n in model.predict_notes_)
    assert not np.allclose(frame["forecast"],
                           model.predict(12, new_data=AIR.iloc[:CUT + 5])["forecast"])


@pytest.mark.parametrize("rows, message", [
    (slice(CUT + 3, None), "series 'passengers': the new data start at 1959-04-01, but the "
                           "run ends at 1958-12-01; the points in between are missing. Pass "
                           "the rows from 1959-01-01 on, or the whole history."),
    (slice(0, CUT - 10), "series 'passengers': the new data end at 1958-02-01, before the "
                         "run's end 1958-12-01; pass data up to 1958-12-01 or later."),
])
def test_gaps_and_stale_data_are_refused_naming_the_series(model, rows, message):
    with pytest.raises(DataError) as err:
        model.predict(12, new_data=AIR.iloc[rows])
    assert str(err.value) == message


def test_a_frequency_change_is_refused(model):
    daily = pd.DataFrame({"month": pd.date_range("1959-01-01", periods=60, freq="D"),
                          "passengers": np.arange(60.0) + 300})
    with pytest.raises(DataError, match=r"^the new data have frequency D; the run was "
                                        r"trained on MS\.$"):
        model.predict(12, new_data=daily)
    steps = pd.DataFrame({"month": np.arange(30), "passengers": np.arange(30.0) + 300})
    with pytest.raises(DataError, match="the run was trained on MS"):
        model.predict(12, new_data=steps)


def test_unseen_series_are_forecast_from_their_own_history(model):
    double = AIR.assign(unique_id="double", passengers=AIR["passengers"] * 2)
    copy = AIR.assign(unique_id="copy")
    mine = AIR.iloc[CUT:].assign(unique_id="passengers")
    frame = model.predict(6, new_data=pd.concat([double, copy, mine]))
    assert frame["series_id"].unique().tolist() == ["copy", "double", "passengers"]
    assert any("2 series the run has not seen ('copy', 'double')" in n
               for n in model.predict_notes_)
    by_id = {k: g["forecast"].to_numpy() for k, g in frame.groupby("series_id")}
    # each with a scaler of its own: on the log scale a doubled history scales to the
    # same windows, so its forecast is exactly twice the copy's
    np.testing.assert_allclose(by_id["double"], 2 * by_id["copy"], rtol=1e-9)
    # and so is its band: interval scales are in each series' own units
    halves = {k: (g["upper_80"] - g["forecast"]).to_numpy() for k, g in frame.groupby(
        "series_id")}
    np.testing.assert_allclose(halves["double"], 2 * halves["copy"], rtol=1e-9)
    # the known series keeps the run's scaler (fitted on the training part only), so the
    # same history as an unseen series forecasts close to it but not from the same scale
    np.testing.assert_allclose(by_id["copy"], by_id["passengers"], rtol=0.05)
    np.testing.assert_allclose(by_id["passengers"],
                               model.predict(6, new_data=mine)["forecast"], rtol=1e-12)


def test_new_data_need_the_runs_columns(model):
    renamed = AIR.iloc[CUT:].rename(columns={"month": "date"})
    with pytest.raises(DataError) as err:
        model.predict(6, new_data=renamed)
    assert str(err.value) == (
        "the new data need the run's columns (time 'month', target 'passengers'): "
        "`time_col` must name a column of 'DataFrame'. Got 'month'; the columns are: "
        "'date', 'passengers'.")


def test_an_unseen_series_needs_a_window_of_points(model):
    short = AIR.iloc[:10].assign(unique_id="new")
    with pytest.raises(DataError, match=r"^series 'new' is not in the run and has 10 "
                                        r"point\(s\); the model needs at least a window of "
                                        rf"{model.window_} to forecast a new series\.$"):
        model.predict(6, new_data=short)


def test_non_positive_new_values_on_the_log_scale_fall_back_with_a_note(model):
    assert all(s.lam < 1 for s in model.state_.series)  # air's spread grows with its level
    bad = AIR.copy()
    bad.loc[len(AIR) - 2, "passengers"] = 0.0  # in the last window: outside its scale
    frame = model.predict(6, new_data=bad)  # issue 31: a forecast, not an error
    assert np.isfinite(frame["forecast"]).all()
    assert any("1 series ('passengers') have zeros or negative values" in n
               and "standard scale" in n for n in model.predict_notes_)


def test_cli_predict_data_matches_the_api_and_leaves_the_run_unmodified(run_dir, model):
    before = _digest(run_dir)
    data = run_dir.parents[1] / "after.csv"
    result = _cli(run_dir, "--data", str(data), "--horizon", "12")
    assert result.exit_code == 0, result.output
    written = run_dir / "predictions" / "forecast-h12-after.csv"
    cli = pd.read_csv(written)
    api = model.predict(12, new_data=data)
    assert cli["timestamp"].tolist() == [t.strftime("%Y-%m-%d") for t in api["timestamp"]]
    np.testing.assert_allclose(cli["forecast"], api["forecast"], rtol=1e-12)
    after = _digest(run_dir)
    assert after.pop("predictions/forecast-h12-after.csv")
    assert after == before
    # DATA as an argument is --data
    result = _cli(run_dir, str(data), "--horizon", "12", "-o", str(run_dir.parents[1] / "a.csv"))
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(pd.read_csv(run_dir.parents[1] / "a.csv")["forecast"],
                               cli["forecast"], rtol=1e-12)
    result = _cli(run_dir, str(data), "--data", str(run_dir.parents[1] / "history.csv"))
    assert result.exit_code == 2 and "give the new data once" in result.output
    # the whole newer history gives the same file's numbers
    result = _cli(run_dir, "--data", str(run_dir.parents[1] / "history.csv"), "--horizon",
                  "12", "-o", str(run_dir.parents[1] / "h.csv"))
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(pd.read_csv(run_dir.parents[1] / "h.csv")["forecast"],
                               cli["forecast"], rtol=1e-12)


def test_cli_refusals_are_one_line(run_dir, tmp_path):
    AIR.iloc[CUT + 3:].to_csv(tmp_path / "gap.csv", index=False)
    result = _cli(run_dir, "--data", str(tmp_path / "gap.csv"))
    assert result.exit_code != 0
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert lines == ["Error: series 'passengers': the new data start at 1959-04-01, but the "
                     "run ends at 1958-12-01; the points in between are missing. Pass the "
                     "rows from 1959-01-01 on, or the whole history."]
    result = _cli(run_dir, "--data", str(tmp_path / "missing.csv"))
    assert result.exit_code != 0 and "missing.csv" in result.output
    assert "Traceback" not in result.output


def test_a_fitted_forecaster_predicts_from_new_data_too():
    model = Forecaster(**TINY).fit(AIR.iloc[:CUT])
    loaded_like = model.predict(12, new_data=AIR.iloc[CUT:])
    assert loaded_like["timestamp"].iloc[0] == pd.Timestamp("1961-01-01")
    pd.testing.assert_frame_equal(loaded_like, model.predict(12, new_data=AIR))


def _state(values: dict, axis: TimeAxis, window=3, lam=1.0) -> Preprocessing:
    from forecaster.runs.forecast_state import SeriesState

    series = [SeriesState(id=k, mean=0.0, scale=1.0, length=len(v), context_start=0,
                          context=np.asarray(v, float), lam=lam) for k, v in values.items()]
    return Preprocessing(axis=axis, target="y", time_col="t", id_col="id", window=window,
                         horizon=2, season=None, level=1, levels=[], series=series,
                         scaling="log" if lam == 0 else "standard")


def test_with_history_on_integer_steps():
    axis = TimeAxis("integer", step=1)
    state = _state({"a": [1, 2, 3, 4, 5]}, axis)
    panel = Panel.from_arrays({"a": np.array([6.0, 7.0])}, axis, starts=[5])
    moved, notes = state.with_history(panel)
    np.testing.assert_array_equal(moved.series[0].context, [1, 2, 3, 4, 5, 6, 7])
    assert moved.series[0].context_start == 0 and moved.series[0].length == 7
    assert notes == [] and len(state.series[0].context) == 5  # the original is untouched
    # an overlapping history from before the stored context replaces it
    panel = Panel.from_arrays({"a": np.arange(-2.0, 8.0)}, axis, starts=[-2])
    moved, _ = state.with_history(panel)
    np.testing.assert_array_equal(moved.series[0].context, np.arange(-2.0, 8.0))
    assert moved.series[0].context_start == -2
    with pytest.raises(DataError, match="start at 7, but the run ends at 4"):
        state.with_history(Panel.from_arrays({"a": np.array([1.0])}, axis, starts=[7]))


def test_each_series_keeps_its_own_scale_through_json_and_new_data():
    """Under ``auto`` each series carries its scale in preprocessing.json; a series the
    run has not seen is scaled by the same rule, on its own history."""
    from forecaster.errors import ArtifactError

    axis = TimeAxis("integer", step=1)
    state = _state({"grows": [1.0, 2, 3, 4, 5], "flat": [-1.0, 0, 1, 0, -1],
                    "some": [1.0, 3, 2, 4, 3]}, axis)
    state.series[0].lam = 0.0
    state.series[2].lam = 0.35
    state = Preprocessing(**{**state.__dict__, "scaling": "auto", "season": 12})
    data = state.to_json()
    assert [s["scaling"] for s in data["series"]] == ["log", "standard", "box-cox"]
    assert data["series"][2]["lambda"] == 0.35 and "lambda" not in data["series"][0]
    back = Preprocessing.from_json(data)
    assert [s.lam for s in back.series] == [0.0, 1.0, 0.35]
    assert back.scaler().lam.tolist() == [0.0, 1.0, 0.35]
    # an unseen series: multiplicative seasonality -> log; additive -> standard; one
    # with zeros -> standard
    t = np.arange(96)
    season = np.sin(2 * np.pi * t / 12)
    new = Panel.from_arrays({"mult": 100 * 1.02 ** t * (1 + 0.2 * season),
                             "add": 100 + 3 * t + 20 * season,
                             "zeros": np.maximum(season, 0)}, axis, starts=[0, 0, 0])
    moved, _ = back.with_history(new)
    lams = {s.id: s.lam for s in moved.series}
    assert lams["mult"] <= 0.05 and lams["add"] >= 0.95 and lams["zeros"] == 1.0
    # tampering: an auto run needs each series' scale; a forced run allows only its own
    for edit in ({"scaling": "cube"}, {"scaling": None}):
        broken = {**data, "series": [{**data["series"][0], **edit}, *data["series"][1:]]}
        if edit["scaling"] is None:
            del broken["series"][0]["scaling"]
        with pytest.raises(ArtifactError, match="series 'grows' needs a `scaling` of 'log', "
                                                "'standard' or 'box-cox'"):
            Preprocessing.from_json(broken)
    for lam in (None, 0, 1, 1.5, True, "0.3"):
        broken = {**data, "series": [*data["series"][:2], {**data["series"][2], "lambda": lam}]}
        with pytest.raises(ArtifactError, match="series 'some' needs a `lambda` strictly "
                                                "between 0 and 1"):
            Preprocessing.from_json(broken)
    # a Box-Cox series with a zero in its context is refused, as on the log scale
    broken = {**data, "series": [*data["series"][:2], {**data["series"][2],
                                                       "context": [1.0, 0, 2, 3, 4]}]}
    with pytest.raises(ArtifactError, match="series 'some' has a non-positive `context` "
                                            "value on a Box-Cox power of 0.35"):
        Preprocessing.from_json(broken)
    data["series"] = data["series"][:2]
    forced = {**data, "scaling": "standard"}
    with pytest.raises(ArtifactError, match="series 'grows' needs a `scaling` of 'standard', "
                                            "got 'log'"):
        Preprocessing.from_json(forced)
    # runs written before per-series scales: every series has the run's scale
    old = {**data, "scaling": "log",
           "series": [{k: v for k, v in s.items() if k != "scaling"} for s in data["series"]]}
    with pytest.raises(ArtifactError, match="series 'flat' has a non-positive `context` "
                                            "value on the log scale"):
        Preprocessing.from_json(old)
    old["series"][1]["context"] = [1.0, 2, 3, 4, 5]
    assert [s.lam for s in Preprocessing.from_json(old).series] == [0.0, 0.0]
