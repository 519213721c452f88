"""Covariates end to end: roles read by ingest (past, future, static, calendar, holidays),
carried through cuts, encoded on the training part only, fed to the RNN, saved in the run
and supplied at prediction with `--future` — and the leakage rules: a past covariate after
the origin never reaches a forecast, a future one at step h does."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from forecaster import ConfigError, DataError, load
from forecaster.cli import forecast
from forecaster.data.covariates import (CovariateSpec, calendar_cycles, generated_features,
                                        generated_names)
from forecaster.data.features import CovariateContext, CovariateEncoder
from forecaster.data.ingest import read_panel
from forecaster.data.panel import TimeAxis
from forecaster.data import windowing as W
from forecaster.models.neural import RNNForecaster
from forecaster.runs.forecast_state import Preprocessing
from tests.conftest import DATA

N_DAYS, HORIZON = 150, 7


def _panel_frame(days=N_DAYS, seed=0) -> pd.DataFrame:
    """Two daily series whose sales follow a price (known ahead) and footfall (observed),
    with a categorical and a numeric static column."""
    rng = np.random.default_rng(seed)
    t = pd.date_range("2021-01-01", periods=days, freq="D")
    parts = []
    for sid, region, size in (("a", "north", 10.0), ("b", "south", 30.0)):
        price = 5 + rng.integers(0, 3, days).astype(float)
        footfall = 100 + 10 * np.sin(np.arange(days) / 3) + rng.normal(0, 1, days)
        sales = size * (20 - 2 * price) + 0.1 * footfall + 5 * (t.day_of_week >= 5) \
            + rng.normal(0, 1, days)
        parts.append(pd.DataFrame({"store": sid, "date": t, "sales": sales, "price": price,
                                   "footfall": footfall, "region": region, "size": size,
                                   "note": "x"}))
    return pd.concat(parts, ignore_index=True)


SPEC = CovariateSpec.of(past="footfall", future="price", static="region,size",
                        calendar="auto", holidays="US")


def _read(frame, spec=SPEC, **kw):
    return read_panel(frame, target="sales", id_col="store", covariates=spec, **kw)


# -- the spec ------------------------------------------------------------------------------
def test_spec_accepts_lists_and_comma_strings_and_refuses_two_roles():
    assert CovariateSpec.of(past="a, b,", future=["c"]).past == ("a", "b")
    with pytest.raises(ConfigError, match="two roles"):
        CovariateSpec.of(past="a", future="a")
    with pytest.raises(ConfigError, match="calendar"):
        CovariateSpec.of(calendar="yes")
    with pytest.raises(ConfigError, match="not a country"):
        CovariateSpec.of(holidays="XX")
    assert not CovariateSpec.of()
    assert CovariateSpec.of(calendar="auto")


# -- ingest --------------------------------------------------------------------------------
def test_read_panel_carries_every_role():
    panel = _read(_panel_frame())
    cov = panel.covariates
    assert cov.spec.past == ("footfall",) and cov.spec.future == ("price",)
    assert cov.values[0].shape == (N_DAYS, 2)
    frame = _panel_frame()
    np.testing.assert_array_equal(cov.values[1][:, 1],
                                  frame.loc[frame.store == "b", "price"].to_numpy())
    assert cov.statics == (("north", 10.0), ("south", 30.0))
    assert cov.static_kinds == ("category", "numeric")
    assert all(len(a) == 0 for a in cov.ahead)


def test_unused_numeric_columns_are_named_with_the_flags_that_would_use_them():
    panel = read_panel(_panel_frame(), target="sales", id_col="store")
    note = next(n for n in panel.notes if "no role" in n)
    assert "'price'" in note and "'footfall'" in note and "--future-covariates" in note
    assert "'note'" not in note  # text is not a numeric column
    used = _read(_panel_frame())
    assert not any("no role" in n for n in used.notes)


def test_non_numeric_past_or_future_covariate_is_an_error_naming_it():
    with pytest.raises(DataError, match="covariate 'region' is not numeric"):
        _read(_panel_frame(), CovariateSpec.of(past="region"))


def test_a_static_covariate_that_changes_within_a_series_is_an_error():
    with pytest.raises(DataError, match="static covariate 'price' changes within series 'a'"):
        _read(_panel_frame(), CovariateSpec.of(static="price"))


def test_unknown_covariate_column_is_an_error_listing_the_columns():
    with pytest.raises(DataError, match=r"\(use past_covariates=\)"):  # the API's words
        _read(_panel_frame(), CovariateSpec.of(past="nope"))


def test_covariate_gaps_follow_the_fill_policy_and_say_so():
    frame = _panel_frame()
    frame.loc[5, "price"] = np.nan
    panel = _read(frame)
    assert any(n.startswith("covariate 'price': filled 1 missing value") for n in panel.notes)
    assert panel.covariates.values[0][5, 1] == pytest.approx(
        (frame.loc[4, "price"] + frame.loc[6, "price"]) / 2)
    with pytest.raises(DataError, match="covariate 'price'"):
        _read(frame, fill="error")


def test_a_covariate_missing_at_the_start_of_a_series_is_an_error():
    frame = _panel_frame()
    frame.loc[0, "footfall"] = np.nan
    with pytest.raises(DataError, match="covariate 'footfall' of series 'a' has no value at "
                                        "2021-01-01"):
        _read(frame)


def test_future_values_after_the_target_are_known_ahead():
    frame = _panel_frame()
    frame.loc[frame.date >= frame.date.max() - pd.Timedelta(days=2), "sales"] = np.nan
    panel = _read(frame)
    assert panel.lengths.tolist() == [N_DAYS - 3] * 2
    assert panel.covariates.ahead[0].shape == (3, 1)
    np.testing.assert_array_equal(panel.covariates.ahead[0][:, 0],
                                  frame.loc[frame.store == "a", "price"].to_numpy()[-3:])


def test_a_cut_keeps_future_values_as_known_ahead_and_drops_past_ones():
    panel = _read(_panel_frame())
    fold = panel.cut(10)
    assert fold.covariates.values[0].shape == (N_DAYS - 10, 2)
    np.testing.assert_array_equal(fold.covariates.ahead[0][:, 0],
                                  panel.covariates.values[0][-10:, 1])
    assert fold.covariates.ahead[0].shape == (10, 1)  # the past column is not there
    assert fold.select(["b"]).covariates.statics == (("south", 30.0),)


def test_wide_single_series_file_with_covariates(tmp_path):
    frame = _panel_frame().query("store == 'a'").drop(columns=["store", "region", "size"])
    panel = read_panel(frame, target="sales", covariates=CovariateSpec.of(future="price"))
    assert panel.covariates.values[0].shape == (N_DAYS, 1)


# -- generated features --------------------------------------------------------------------
@pytest.mark.parametrize("freq, cycles", [
    ("h", ("hour_of_day", "day_of_week", "day_of_year")),
    ("D", ("day_of_week", "day_of_month", "day_of_year")),
    ("W-SUN", ("week_of_year",)),
    ("MS", ("month_of_year",)),
    ("QS", ("month_of_year",)),
    ("YS", ()),
])
def test_calendar_cycles_suit_the_frequency(freq, cycles):
    assert calendar_cycles(TimeAxis("datetime", freq)) == cycles
    assert calendar_cycles(TimeAxis("integer")) == ()


def test_calendar_features_are_sin_cos_pairs_of_the_timestamp():
    axis = TimeAxis("datetime", "h")
    spec = CovariateSpec.of(calendar="auto")
    ts = pd.date_range("2024-01-01 06:00", periods=3, freq="h")
    x = generated_features(spec, axis, ts)
    names = generated_names(spec, axis)
    hour = x[:, names.index("hour_of_day_sin")]
    np.testing.assert_allclose(hour, np.sin(2 * np.pi * np.array([6, 7, 8]) / 24))
    np.testing.assert_allclose(x[:, names.index("hour_of_day_cos")] ** 2 + hour ** 2, 1.0)


def test_holiday_indicator_marks_the_days_and_counts_within_longer_steps():
    spec = CovariateSpec.of(holidays="US")
    days = pd.date_range("2021-07-03", periods=3, freq="D")
    np.testing.assert_array_equal(generated_features(spec, TimeAxis("datetime", "D"), days)[:, 0],
                                  [0, 1, 1])  # 4 July 2021 and its observed Monday
    hours = pd.date_range("2021-07-04 22:00", periods=3, freq="h")
    np.testing.assert_array_equal(
        generated_features(spec, TimeAxis("datetime", "h"), hours)[:, 0], [1, 1, 1])
    months = pd.date_range("2021-06-01", periods=3, freq="MS")
    # June: Juneteenth (and its observed day, 18 June); July: 4th and 5th; August: none
    counts = generated_features(spec, TimeAxis("datetime", "MS"), months)[:, 0]
    assert counts[2] == 0 and counts[1] == 2 and counts[0] >= 1


# -- encoding and windows ------------------------------------------------------------------
def test_encoder_sees_the_training_part_only():
    panel = _read(_panel_frame())
    n_train = np.array([100, 100])
    enc = CovariateEncoder.fit(panel, n_train)
    changed = _panel_frame()
    changed.loc[changed.date >= changed.date.min() + pd.Timedelta(days=100),
                ["price", "footfall"]] *= 50
    enc2 = CovariateEncoder.fit(_read(changed), n_train)
    np.testing.assert_array_equal(enc.mean, enc2.mean)
    np.testing.assert_array_equal(enc.scale, enc2.scale)
    layout = enc.layout()
    assert layout.past == ("footfall",) and layout.known[0] == "price"
    assert layout.static == ("region=north", "region=south", "size")
    assert layout.channels == 1 + 1 + len(layout.known) + 3


def test_windows_carry_history_rows_and_known_rows_ahead():
    panel = _read(_panel_frame())
    enc = CovariateEncoder.fit(panel, panel.lengths)
    layout = enc.layout()
    feats = [enc.history(panel, i) for i in range(len(panel))]
    scaled = [np.arange(len(v), dtype=float) for v in panel.values]
    T, H = 14, HORIZON
    ws = W.WindowSet.build(scaled, [0], [20], T, H, 0, features=feats, layout=layout)
    x, y = ws.arrays()
    assert x.shape == (1, T + H, layout.channels)
    np.testing.assert_array_equal(x[0, :T, 0], np.arange(20, 34))
    np.testing.assert_array_equal(y[0], np.arange(34, 41))
    np.testing.assert_allclose(x[0, :T, 1:], feats[0][20:20 + T], rtol=1e-6)
    np.testing.assert_allclose(x[0, T:, 2:], feats[0][20 + T:20 + T + H, 1:], rtol=1e-6)
    assert np.all(x[0, T:, 0] == 0) and np.all(x[0, T:, 1] == 0)  # target, past: unknown


# -- the network: leakage rules ------------------------------------------------------------
@pytest.fixture(scope="module")
def fitted():
    panel = _read(_panel_frame())
    model = RNNForecaster.from_settings(epochs=3, units=8, ensemble=2, horizon=HORIZON,
                                        window=14, patience=2, seed=3,
                                        season=7).fit(panel.cut(HORIZON))
    return panel, model


def test_a_past_covariate_after_the_origin_never_changes_the_forecast(fitted):
    panel, model = fitted
    other = _panel_frame()
    other.loc[other.date > other.date.max() - pd.Timedelta(days=HORIZON), "footfall"] += 500
    a = model.predict(HORIZON, panel=panel.cut(HORIZON))
    b = model.predict(HORIZON, panel=_read(other).cut(HORIZON))
    pd.testing.assert_frame_equal(a, b)


def test_a_future_covariate_at_step_h_changes_the_forecast(fitted):
    panel, model = fitted
    context = panel.cut(HORIZON)
    base = model.predict(HORIZON, panel=context)
    ahead = [a.copy() for a in context.covariates.ahead]
    ahead[0][3, 0] += 3.0
    moved = type(context)(**{**context.__dict__,
                            "covariates": context.covariates.with_ahead(ahead)})
    changed = model.predict(HORIZON, panel=moved)
    diff = np.abs(changed.forecast.to_numpy() - base.forecast.to_numpy())
    assert diff[:HORIZON].max() > 1e-6          # series a moves
    assert diff[HORIZON:].max() == 0            # series b does not


def test_missing_future_values_and_long_horizons_with_past_covariates_are_refused(fitted):
    panel, model = fitted
    with pytest.raises(DataError, match="series 'a' needs the future covariates"):
        model.predict(HORIZON, panel=panel)  # the full panel has nothing known ahead
    with pytest.raises(DataError, match="past covariates"):
        model.predict(HORIZON + 1, panel=panel.cut(HORIZON + 1))


def test_covariate_context_repeats_the_last_known_row_to_a_whole_horizon():
    panel = _read(_panel_frame(), CovariateSpec.of(future="price"))
    enc = CovariateEncoder.fit(panel, panel.lengths)
    ctx = CovariateContext.of(enc, panel.cut(10), window=14, horizon=7, steps=10)
    assert ctx.rows.shape == (2, 14 + 14, 1)
    np.testing.assert_array_equal(ctx.rows[:, -4:], np.repeat(ctx.rows[:, -5:-4], 4, axis=1))


# -- a run: train, predict --future, errors ------------------------------------------------
TINY = ["--epochs", "3", "--units", "4", "--ensemble", "2", "--origins", "4", "--patience",
        "2", "--seed", "1", "--horizon", str(HORIZON), "--window", "14", "--quiet"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    work = tmp_path_factory.mktemp("covariates")
    frame = _panel_frame()
    frame.to_csv(work / "data.csv", index=False)
    future = _panel_frame(N_DAYS + HORIZON, seed=9)
    future = future[future.date > frame.date.max()][["store", "date", "price"]]
    future.to_csv(work / "future.csv", index=False)
    return _train(work / "data.csv", work / "runs")


def _train(data, runs):
    """The CLI training of the run fixture (every role), into ``runs``; its run dir."""
    result = CliRunner().invoke(forecast, [
        "train", str(data), "--target", "sales", "--id-col", "store",
        "--past-covariates", "footfall", "--future-covariates", "price",
        "--static-covariates", "region,size", "--calendar", "auto", "--holidays", "US",
        "--runs-dir", str(runs), *TINY])
    assert result.exit_code == 0, result.output
    return runs / (runs / "latest").read_text().strip()


def _predict(run_dir, *args):
    return CliRunner().invoke(forecast, ["predict", "--runs-dir", str(run_dir.parent),
                                         "--run", run_dir.name, "--quiet", *args])


def test_run_records_the_covariates_and_has_no_forecast_without_future_values(run_dir):
    data = json.loads((run_dir / "data.json").read_text())
    assert data["covariates"]["future"] == ["price"]
    assert not (run_dir / "forecast.csv").exists()
    assert any("--future FILE" in n for n in data["notes"])
    state = Preprocessing.from_json(json.loads((run_dir / "preprocessing.json").read_text()))
    assert state.encoder.spec.static == ("region", "size")
    assert state.series[0].covariates.shape == (len(state.series[0].context), 2)


def test_predict_needs_the_future_file_and_uses_it(run_dir):
    result = _predict(run_dir)
    assert result.exit_code != 0 and "--future FILE" in result.output
    future = run_dir.parent.parent / "future.csv"
    out = run_dir.parent.parent / "f.csv"
    result = _predict(run_dir, "--future", str(future), "--output", str(out))
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out)
    assert len(frame) == 2 * HORIZON and np.isfinite(frame.forecast).all()
    # the Python API loads the same run and gives the same numbers
    api = load(run_dir).predict(HORIZON, future=pd.read_csv(future))
    np.testing.assert_allclose(api.forecast.to_numpy(), frame.forecast.to_numpy(),
                               rtol=1e-6)


@pytest.mark.parametrize("edit, message", [
    (lambda f: f[f.store == "a"], "no rows for series 'b'"),
    (lambda f: f.iloc[1:], "series 'a' are missing from 2021-05-31"),
    (lambda f: f[f.date < f.date.max()], "missing from 2021-06-06"),
    (lambda f: f.assign(price=np.where(np.arange(len(f)) == 3, np.nan, f.price)),
     "every step of the horizon needs a value"),
    (lambda f: f.assign(date=f.date + pd.Timedelta(hours=1)), "not on the run's grid"),
    (lambda f: f.drop(columns=["price"]), "need the columns"),
    (lambda f: pd.concat([f, f.iloc[:1]]), "duplicated timestamps: 2021-05-31 appears at "
                                           "line 2 and line 16 (1 duplicate row(s)); give "
                                           "every step one row."),
])
def test_bad_future_files_are_one_line_errors(run_dir, tmp_path, edit, message):
    future = pd.read_csv(run_dir.parent.parent / "future.csv", parse_dates=["date"])
    edit(future).to_csv(tmp_path / "bad.csv", index=False)
    result = _predict(run_dir, "--future", str(tmp_path / "bad.csv"),
                      "--output", str(tmp_path / "out.csv"))
    assert result.exit_code != 0
    assert message in result.output, result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


def test_same_seed_same_forecast(run_dir, tmp_path):
    """A second identical training gives byte-identical forecasts."""
    work = run_dir.parent.parent
    second = _train(work / "data.csv", tmp_path / "runs")
    outs = []
    for run in (run_dir, second):
        out = tmp_path / f"{run.name}-{len(outs)}.csv"
        assert _predict(run, "--future", str(work / "future.csv"),
                        "--output", str(out)).exit_code == 0
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]


def test_tampered_covariate_state_is_refused(run_dir):
    data = json.loads((run_dir / "preprocessing.json").read_text())
    data["series"][0]["covariates"][0] = [1.0]
    with pytest.raises(Exception, match="covariate"):
        Preprocessing.from_json(data)
    data = json.loads((run_dir / "preprocessing.json").read_text())
    data["covariates"]["scale"][0] = -1.0
    with pytest.raises(Exception, match="covariates"):
        Preprocessing.from_json(data)


def test_bike_sharing_is_bundled_and_reads_with_its_covariates():
    spec = CovariateSpec.of(past="temp,hum,windspeed,weathersit",
                            future="holiday,workingday", calendar="auto")
    panel = read_panel(DATA / "bike_sharing_hourly.csv", target="cnt", max_gap=48,
                       covariates=spec)
    assert panel.n_rows == 17544 and panel.axis.freq == "h"
    assert panel.covariates.values[0].shape == (17544, 6)


# -- baselines and evaluation --------------------------------------------------------------
def test_lag_regressor_takes_the_covariates_without_leakage():
    from forecaster.models.registry import make_baseline

    panel = _read(_panel_frame())
    context = panel.cut(HORIZON)
    model = make_baseline("ridge", season=7).fit(context)
    assert "price" in model._cov_columns and "footfall_lag_1" in model._cov_columns
    base = model.predict(HORIZON)
    other = _panel_frame()
    other.loc[other.date > other.date.max() - pd.Timedelta(days=HORIZON), "footfall"] += 500
    same = model.predict(HORIZON, panel=_read(other).cut(HORIZON))
    pd.testing.assert_frame_equal(base, same)
    ahead = [a.copy() for a in context.covariates.ahead]
    ahead[1][2, 0] += 2.0
    moved = type(context)(**{**context.__dict__,
                            "covariates": context.covariates.with_ahead(ahead)})
    diff = np.abs(model.predict(HORIZON, panel=moved).forecast.to_numpy()
                  - base.forecast.to_numpy())
    assert diff[:HORIZON].max() == 0 and diff[HORIZON + 2] > 0.1  # price drives sales
    # prices explain most of the sales: the covariates make ridge far better
    plain = make_baseline("ridge", season=7).fit(
        type(context)(**{**context.__dict__, "covariates": None}))
    truth = np.concatenate([v[-HORIZON:] for v in panel.values])
    err = lambda f: np.abs(f.forecast.to_numpy() - truth).mean()  # noqa: E731
    assert err(base) < 0.5 * err(plain.predict(HORIZON))


def test_evaluate_shows_the_rnn_with_and_without_covariates():
    from forecaster.evaluation.backtest import BacktestSpec
    from forecaster.pipeline.evaluate import evaluate

    panel = _read(_panel_frame(), CovariateSpec.of(future="price"))
    result = evaluate(panel, models=["rnn", "rnn_without_covariates", "naive"],
                      spec=BacktestSpec(horizon=HORIZON, folds=2, step=HORIZON, refit=False),
                      season=7, rnn_factory=lambda: RNNForecaster.from_settings(
                          epochs=2, units=4, ensemble=1, horizon=HORIZON, window=14,
                          patience=2, seed=1, season=7))
    table = result.to_frame().set_index("model")
    assert {"rnn", "rnn_without_covariates", "naive"} <= set(table.index)
    assert table.loc["rnn", "mae"] != table.loc["rnn_without_covariates", "mae"]
    assert any("actual values of the future covariates (price)" in n for n in result.notes)


# -- importance and the report -------------------------------------------------------------
def test_permutation_importance_finds_the_covariate_the_model_uses():
    from forecaster.evaluation.backtest import BacktestSpec
    from forecaster.evaluation.importance import permutation_importance

    panel = _read(_panel_frame(), CovariateSpec.of(future="price", past="footfall"))
    spec = BacktestSpec(horizon=HORIZON, folds=3, step=1, refit=False)
    model = RNNForecaster.from_settings(epochs=40, units=16, ensemble=1, horizon=HORIZON,
                                        window=14, patience=5, seed=2, season=7,
                                        anchor="level")
    model.fit(panel.cut(spec.cutoff_from_end(1)))
    result = permutation_importance(model, panel, spec, 7, seed=0)
    rows = {r["covariate"]: r for r in result["importance"]}
    assert set(rows) == {"footfall", "price"} and result["origins"] == 3
    # sales move by 2·size per unit of price: shuffling it must hurt, and more than the
    # footfall (worth 0.1 per unit)
    assert rows["price"]["increase"] > 0.05
    assert rows["price"]["increase"] > rows["footfall"]["increase"]
    again = permutation_importance(model, panel, spec, 7, seed=0)
    assert again == result  # seeded: the same figures every time


def test_the_run_and_its_report_show_the_covariates(run_dir, tmp_path):
    record = json.loads((run_dir / "covariates.json").read_text())
    roles = {r["covariate"]: r["role"] for r in record["roles"]}
    assert roles == {"footfall": "past", "price": "future", "day_of_week": "calendar",
                     "day_of_month": "calendar", "day_of_year": "calendar",
                     "holiday_US": "holidays", "region": "static", "size": "static"}
    assert record["importance"]["origins"] == 4
    metrics = json.loads((run_dir / "metrics.json").read_text())
    models = {r["model"] for r in metrics["leaderboard"]}
    assert {"rnn", "rnn_without_covariates", "ridge"} <= models
    result = CliRunner().invoke(forecast, ["report", "--runs-dir", str(run_dir.parent),
                                           "--run", run_dir.name, "--out",
                                           str(tmp_path / "rep"), "--quiet"])
    assert result.exit_code == 0, result.output
    html = (tmp_path / "rep" / "report.html").read_text()
    assert 'id="covariates"' in html and "future (known ahead)" in html
    assert "as if they had been known in advance" in html
    assert "past: footfall; future: price; static: region, size; calendar: auto; " \
           "holidays: US" in html


def test_python_api_fits_and_predicts_with_covariates(tmp_path):
    from forecaster import Forecaster

    frame = _panel_frame()
    model = Forecaster(epochs=2, units=4, ensemble=1, origins=2, patience=2, seed=1,
                       horizon=HORIZON, window=14, future_covariates=["price"],
                       calendar="auto").fit(frame, target="sales", id_col="store")
    future = _panel_frame(N_DAYS + HORIZON, seed=4)
    future = future[future.date > frame.date.max()][["store", "date", "price"]]
    out = model.predict(HORIZON, future=future)
    assert len(out) == 2 * HORIZON and np.isfinite(out.forecast).all()
    with pytest.raises(DataError, match="with future= "):  # the API names its argument
        model.predict(HORIZON)


def test_distributed_training_takes_covariates_and_matches_one_process():
    """One replica of MirroredStrategy trains the covariate network as the plain loop
    does (the distributed feed pads batches of the covariate input shape)."""
    panel = _read(_panel_frame(), CovariateSpec.of(past="footfall", future="price",
                                                   calendar="auto"))
    out = {}
    for mode in ("none", "mirrored"):
        model = RNNForecaster.from_settings(epochs=3, units=4, ensemble=2, horizon=HORIZON,
                                            window=14, patience=2, seed=5, season=7,
                                            distribute=mode, device="cpu")
        out[mode] = model.fit(panel.cut(HORIZON)).predict(HORIZON).forecast.to_numpy()
    np.testing.assert_allclose(out["none"], out["mirrored"], rtol=1e-4, atol=1e-3)


def test_new_data_bring_their_covariates(run_dir, tmp_path):
    """`forecast predict --data NEW --future F`: the new rows carry the covariates; the
    forecast starts after them and reads the future values of the following steps."""
    longer = _panel_frame(N_DAYS + 2 * HORIZON, seed=7)
    end = pd.Timestamp("2021-01-01") + pd.Timedelta(days=N_DAYS - 1)
    new = longer[(longer.date > end) & (longer.date <= end + pd.Timedelta(days=HORIZON))]
    future = longer[longer.date > end + pd.Timedelta(days=HORIZON)][["store", "date", "price"]]
    new.to_csv(tmp_path / "new.csv", index=False)
    future.to_csv(tmp_path / "future.csv", index=False)
    result = _predict(run_dir, "--data", str(tmp_path / "new.csv"), "--future",
                      str(tmp_path / "future.csv"), "--output", str(tmp_path / "out.csv"))
    assert result.exit_code == 0, result.output
    out = pd.read_csv(tmp_path / "out.csv", parse_dates=["timestamp"])
    assert out.timestamp.min() == end + pd.Timedelta(days=HORIZON + 1)
    # without the covariate columns the new data are refused with the columns named
    new.drop(columns=["footfall"]).to_csv(tmp_path / "bare.csv", index=False)
    result = _predict(run_dir, "--data", str(tmp_path / "bare.csv"), "--future",
                      str(tmp_path / "future.csv"), "--output", str(tmp_path / "o2.csv"))
    assert result.exit_code != 0 and "footfall" in result.output, result.output


def test_hostile_covariate_values_get_one_line_answers():
    frame = _panel_frame()
    frame["price"] = np.nan
    with pytest.raises(DataError, match="covariate 'price': series 'a' has no values"):
        _read(frame, CovariateSpec.of(future="price"))
    frame = _panel_frame()
    frame["price"] = frame["price"].astype(object)
    frame.loc[7, "price"] = "abc"
    with pytest.raises(DataError, match="covariate 'price': .*'abc' at row 8"):
        _read(frame, CovariateSpec.of(future="price"))
    frame = _panel_frame()
    frame.loc[3, "price"] = np.inf
    frame["footfall"] *= 1e300  # huge but finite: scaled without overflow
    panel = _read(frame, CovariateSpec.of(future="price", past="footfall"))
    assert any("covariate 'price': 1 infinite value" in n for n in panel.notes)
    enc = CovariateEncoder.fit(panel, panel.lengths)
    assert np.isfinite(enc.history(panel, 0)).all() and np.all(enc.scale > 0)


def test_a_short_series_is_padded_with_its_covariates():
    """A series shorter than the window trains on left-padded windows and is forecast from
    a padded context, covariate rows padded alike (copies of its first row)."""
    frame = _panel_frame()
    frame = frame[(frame.store == "a") | (frame.date > frame.date.max()
                                          - pd.Timedelta(days=20 + HORIZON))]
    panel = _read(frame, CovariateSpec.of(future="price", past="footfall", calendar="auto"))
    assert panel.lengths.tolist() == [N_DAYS, 20 + HORIZON]
    model = RNNForecaster.from_settings(epochs=2, units=4, ensemble=2, horizon=HORIZON,
                                        window=28, patience=2, seed=1,
                                        season=7).fit(panel.cut(HORIZON))
    out = model.predict(HORIZON)
    assert len(out) == 2 * HORIZON and np.isfinite(out.forecast).all()
