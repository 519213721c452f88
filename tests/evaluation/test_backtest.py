"""Backtest: the spec's validation, fold arithmetic, no peeking, reference figures."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecaster.data.panel import Panel, TimeAxis
from forecaster.errors import ConfigError, DataError
from forecaster.evaluation.backtest import BACKTEST_COLUMNS, BacktestSpec, run_backtest
from forecaster.evaluation.leaderboard import leaderboard
from forecaster.models.base import Model
from forecaster.models.baselines import NaiveForecaster, SeasonalNaiveForecaster
from forecaster.models.registry import BASELINES

DATA = Path(__file__).resolve().parents[2] / "data"
INT = TimeAxis("integer")


def air_passengers() -> Panel:
    frame = pd.read_csv(DATA / "air_passengers.csv")
    return Panel.from_arrays({"passengers": frame["passengers"].to_numpy(float)},
                             TimeAxis("datetime", "MS"), starts=[pd.Timestamp("1949-01-01")])


# -- spec ----------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, message", [
    (dict(horizon=0), "`horizon` must be >= 1. Got 0."),
    (dict(horizon=3, folds=0), "`folds` must be >= 1. Got 0."),
    (dict(horizon=2.5), "`horizon` must be an integer. Got 2.5."),
    (dict(horizon=3, step=0), "`step` must be an integer >= 1. Got 0."),
    (dict(horizon=3, window="rolling"), "`window` must be 'expanding' or 'sliding'. Got 'rolling'."),
    (dict(horizon=3, window="sliding"), "`train_size` must be given for window='sliding'. Got None."),
    (dict(horizon=3, train_size=10), "`train_size` must be None for window='expanding'. Got 10."),
    (dict(horizon=3, refit=0), "`refit` must be True, False or an integer >= 1. Got 0."),
    (dict(horizon=3, min_train=0), "`min_train` must be an integer >= 1. Got 0."),
])
def test_spec_validation_messages(kwargs, message):
    with pytest.raises(ConfigError) as info:
        BacktestSpec(**kwargs)
    assert str(info.value) == message


def test_spec_defaults_and_holdout():
    spec = BacktestSpec(horizon=12, folds=3)
    assert (spec.step, spec.window, spec.refit, spec.min_train) == (12, "expanding", True, 2)
    assert [spec.cutoff_from_end(k) for k in (1, 2, 3)] == [36, 24, 12]
    hold = BacktestSpec.holdout(36)
    assert (hold.horizon, hold.folds, hold.cutoff_from_end(1)) == (36, 1, 36)
    assert BacktestSpec.from_json(spec.to_json()) == spec
    with pytest.raises(Exception):
        spec.horizon = 3  # frozen


def test_folds_cut_the_panel():
    panel = Panel.from_arrays({"a": np.arange(20.0), "b": np.arange(15.0)}, INT)
    spec = BacktestSpec(horizon=3, folds=3, step=2)
    got = [(k, drop, [len(v) for v in train.values], [v[-1] for v in train.values])
           for k, drop, train in spec.folds_of(panel)]
    assert got == [(1, 7, [13, 8], [12, 7]), (2, 5, [15, 10], [14, 9]),
                   (3, 3, [17, 12], [16, 11])]
    sliding = BacktestSpec(horizon=3, folds=2, window="sliding", train_size=5)
    assert [[len(v) for v in tr.values] for _, _, tr in sliding.folds_of(panel)] == [[5, 5]] * 2
    assert [list(tr.values[0]) for _, _, tr in sliding.folds_of(panel)][0] == [9, 10, 11, 12, 13]


def test_refit_schedule():
    assert [BacktestSpec(1, 5, refit=True).refits_at(k) for k in range(1, 6)] == [True] * 5
    assert [BacktestSpec(1, 5, refit=False).refits_at(k) for k in range(1, 6)] == [True] + [False] * 4
    assert [BacktestSpec(1, 5, refit=2).refits_at(k) for k in range(1, 6)] == [
        True, False, True, False, True]


def test_short_series_error_names_series_and_sizes():
    panel = Panel.from_arrays({"long": np.arange(50.0), "tiny": np.arange(10.0),
                               "small": np.arange(30.0)}, INT)
    with pytest.raises(DataError) as info:
        run_backtest(panel, {"naive": NaiveForecaster}, BacktestSpec(horizon=12, folds=2))
    assert str(info.value) == (
        "series 'tiny' has only 10 points; 2 fold(s) of horizon 12, 12 steps apart, need at "
        "least 26 points in every series (2 to train on before the first fold). Use fewer "
        "--folds, a shorter --horizon or drop that series from the data.")


def test_short_series_errors_say_what_to_change():
    panel = Panel.from_arrays({"long": np.arange(50.0), "tiny": np.arange(10.0),
                               "small": np.arange(20.0)}, INT)
    with pytest.raises(DataError) as info:
        BacktestSpec(horizon=12, folds=2).check(panel)
    assert str(info.value).startswith("2 series are too short ('tiny' has 10, 'small' has "
                                      "20); 2 fold(s) of horizon 12")
    assert str(info.value).endswith("drop those series from the data.")
    with pytest.raises(DataError) as info:  # every series short: dropping them is no help
        BacktestSpec(horizon=12, folds=5).check(panel)
    assert str(info.value).endswith("Use fewer --folds or a shorter --horizon.")
    with pytest.raises(DataError) as info:  # one fold: fewer folds is no help
        BacktestSpec.holdout(60).check(panel)
    assert str(info.value).startswith("3 series are too short")
    assert str(info.value).endswith("Use a shorter --horizon (or --holdout).")


# -- no peeking ----------------------------------------------------------------------------

class Spy(Model):
    """Records everything it is shown; forecasts the last value."""

    log: list = []

    def _fit(self, panel):
        Spy.log.append(("fit", panel))

    def _predict(self, panel, horizon):
        Spy.log.append(("predict", panel))
        return np.array([np.full(horizon, v[-1]) for v in panel.values])


@pytest.mark.parametrize("refit, fits", [(True, 4), (False, 1), (3, 2)])
def test_models_never_see_values_after_the_cutoff(refit, fits):
    Spy.log = []
    rng = np.random.default_rng(1)
    panel = Panel.from_arrays({"a": rng.normal(size=40), "b": rng.normal(size=33)}, INT,
                              starts=[0, 100])
    spec = BacktestSpec(horizon=5, folds=4, step=3, refit=refit)
    result = run_backtest(panel, {"spy": Spy}, spec)
    assert sum(kind == "fit" for kind, _ in Spy.log) == fits
    shown = [p for kind, p in Spy.log]
    frame = result.frame
    for fold in range(1, 5):
        drop = spec.cutoff_from_end(fold)
        for i, sid in enumerate(panel.ids):
            rows = frame[(frame.fold == fold) & (frame.series_id == sid)]
            cutoff = rows["cutoff"].iloc[0]
            assert cutoff == panel.timestamps(i)[len(panel.values[i]) - drop - 1]
            assert (rows["timestamp"] > cutoff).all()
            # the values shown in this fold are exactly the history up to the cutoff
            seen = [p for p in shown if p.end(i) == cutoff]
            assert seen, f"fold {fold} never shown"
            for p in seen:
                np.testing.assert_array_equal(p.values[i], panel.values[i][: len(panel.values[i]) - drop])
    # nothing ever shown ends after the last cutoff
    last_cutoffs = [panel.timestamps(i)[len(panel.values[i]) - spec.horizon - 1]
                    for i in range(len(panel))]
    for p in shown:
        assert all(p.end(i) <= last_cutoffs[i] for i in range(len(panel)))


def test_frame_layout_and_same_folds_for_every_model():
    panel = Panel.from_arrays({"a": np.arange(30.0)}, INT)
    result = run_backtest(panel, {"naive": NaiveForecaster, "drift": BASELINES["drift"]},
                          BacktestSpec(horizon=4, folds=2))
    frame = result.frame
    assert list(frame.columns) == BACKTEST_COLUMNS
    assert len(frame) == 2 * 2 * 4
    naive, drift = result.for_model("naive"), result.for_model("drift")
    for col in ("fold", "series_id", "cutoff", "timestamp", "step", "actual"):
        assert list(naive[col]) == list(drift[col])
    assert list(naive["actual"]) == [22, 23, 24, 25, 26, 27, 28, 29]
    assert list(naive["forecast"]) == [21] * 4 + [25] * 4
    assert set(result.timings) == {"naive", "drift"}


def test_progress_is_called_per_fold():
    calls = []
    panel = Panel.from_arrays({"a": np.arange(30.0)}, INT)
    run_backtest(panel, {"naive": NaiveForecaster}, BacktestSpec(horizon=4, folds=3),
                 progress=lambda m, k, n, s: calls.append((m, k, n)))
    assert calls == [("naive", 1, 3), ("naive", 2, 3), ("naive", 3, 3)]


@pytest.mark.parametrize("refit, fold", [(False, 1), (True, 3)])
def test_the_models_named_in_keep_are_handed_back_fitted(refit, fold):
    """``keep`` hands back a model by its name (fit_run takes the backtest's RNN so, never
    by the order its factory was called in): the instance fitted last, here the one whose
    context is the last fold's training panel; the models not named are not kept."""
    built = []

    def naive():
        built.append(NaiveForecaster())
        return built[-1]

    panel = Panel.from_arrays({"a": np.arange(30.0)}, INT)
    spec = BacktestSpec(horizon=4, folds=3, refit=refit)
    result = run_backtest(panel, {"drift": BASELINES["drift"], "naive": naive}, spec,
                          keep=("naive",))
    assert list(result.fitted) == ["naive"] and result.fitted["naive"] is built[-1]
    assert len(built) == (3 if refit else 1)
    cut = dict((k, p) for k, _, p in spec.folds_of(panel))[fold]
    assert result.fitted["naive"].panel_.lengths.tolist() == cut.lengths.tolist()
    assert run_backtest(panel, {"naive": naive}, spec).fitted == {}


# -- reference figures ---------------------------------------------------------------------

@pytest.mark.parametrize("holdout, mape, mae, rmse", [
    (36, 0.13189, 60.083, 73.612),
    (12, 0.09988, 47.833, 50.708),
])
def test_air_passengers_seasonal_naive_reference(holdout, mape, mae, rmse):
    panel = air_passengers()
    result = run_backtest(panel, {"snaive": lambda: SeasonalNaiveForecaster(12)},
                          BacktestSpec.holdout(holdout))
    row = leaderboard(result, panel, 12).iloc[0]
    assert row["mape"] == pytest.approx(mape, abs=5e-6)
    assert row["mae"] == pytest.approx(mae, abs=5e-4)
    assert row["rmse"] == pytest.approx(rmse, abs=5e-4)
    if holdout == 36:  # the last observed season, repeated three times
        forecast = result.frame["forecast"].to_numpy()
        np.testing.assert_array_equal(forecast, np.tile(panel.values[0][-48:-36], 3))


def test_co2_weekly_seasonal_naive_reference_with_linear_interpolation():
    frame = pd.read_csv(DATA / "co2_weekly.csv", parse_dates=["week"])
    assert frame["co2_ppm"].isna().sum() == 59
    assert (frame["week"].diff().dropna() == pd.Timedelta(days=7)).all()
    values = frame["co2_ppm"].interpolate(method="linear").to_numpy()
    panel = Panel.from_arrays({"co2": values}, TimeAxis("datetime", "W-SAT"),
                              starts=[frame["week"].iloc[0]])
    assert panel.axis.season() == 52
    result = run_backtest(panel, {"snaive": BASELINES["seasonal_naive"]},
                          BacktestSpec.holdout(104))
    row = leaderboard(result, panel, 52).iloc[0]
    assert 100 * row["mape"] == pytest.approx(0.506, abs=5e-4)  # 0.506 %
