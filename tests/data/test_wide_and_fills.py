"""Frames users pass every day (issue 36, item 4) — a wide frame with one column per series,
a pandas Series, a polars frame — and a gap fill per covariate column (item 7): 0/1 flags
are carried forward across a gap, never interpolated into fractions, unless told."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecaster.config import load_config
from forecaster.data.ingest import FRAME_NAME, read_panel
from forecaster.data.readers import fingerprint
from forecaster.errors import ConfigError, DataError

DAYS = pd.date_range("2021-01-01", periods=120, freq="D")


def _wide(n_series=22):
    rng = np.random.default_rng(0)
    return pd.DataFrame({f"store_{i:02d}": 100 + rng.normal(size=len(DAYS)).cumsum() + i
                         for i in range(n_series)}, index=DAYS.rename("date"))


# -- item 4: a wide frame ---------------------------------------------------------------------
def test_a_wide_frame_is_read_as_one_series_per_column_with_a_note():
    frame = _wide()
    before = frame.copy()
    panel = read_panel(frame)
    pd.testing.assert_frame_equal(frame, before)          # never modified
    assert panel.ids == tuple(sorted(frame.columns)) and len(panel.ids) == 22
    for sid in panel.ids:
        np.testing.assert_array_equal(panel.values[panel.ids.index(sid)],
                                      frame[sid].to_numpy())
    assert panel.axis.freq == "D" and set(panel.starts) == {DAYS[0]}
    assert panel.notes == (
        f"Read '{FRAME_NAME}' as 22 series, one per column ('store_00', 'store_01', "
        "'store_02', 'store_03', 'store_04' …), as every column besides the time column is "
        "numeric (pass target= to forecast one column).",)


def test_a_wide_frame_with_its_time_as_a_column_gaps_and_ragged_ends():
    frame = _wide(3).reset_index()
    frame.loc[10, "store_01"] = np.nan                    # a gap, interpolated
    frame.loc[:4, "store_02"] = np.nan                    # a later start, trimmed
    panel = read_panel(frame)
    assert panel.ids == ("store_00", "store_01", "store_02")
    assert panel.starts[2] == DAYS[5] and len(panel.values[2]) == len(DAYS) - 5
    assert any("Filled 1 missing value(s) in 1 series ('store_01')" in n for n in panel.notes)


def test_wide_true_insists_and_a_named_target_still_picks_one_column():
    frame = _wide(3)
    assert read_panel(frame, target="store_01").ids == ("store_01",)
    assert read_panel(frame, wide=True).ids == ("store_00", "store_01", "store_02")
    assert read_panel(frame, wide=False, target="store_00").ids == ("store_00",)
    with pytest.raises(DataError, match="several|3 numeric columns"):
        read_panel(frame, wide=False)
    with pytest.raises(DataError, match="takes no `target` or `id_col`"):
        read_panel(frame, wide=True, target="store_00")


def test_wide_covariates_drive_every_series():
    frame = _wide(2).reset_index()
    frame["price"] = np.linspace(1, 2, len(frame))
    panel = read_panel(frame, wide=True, future_covariates="price")
    assert panel.ids == ("store_00", "store_01")
    for i in range(2):
        np.testing.assert_array_equal(panel.covariates.values[i][:, 0], frame.price)


def test_a_wide_frame_is_detected_only_where_it_would_be_refused():
    frame = _wide(3)
    # a `y` column is the target, as before: the other columns stay unused (a note)
    assert read_panel(frame.rename(columns={"store_00": "y"})).ids == ("y",)
    # an id column makes it long; text columns are never series
    with pytest.raises(DataError, match="numeric columns; pass target="):
        read_panel(frame.astype(str))
    # a bad value names its column and the frame's own row
    bad = frame.reset_index().astype({"store_01": object})
    bad.loc[6, "store_01"] = "n/a?"
    with pytest.raises(DataError) as info:
        read_panel(bad, wide=True)
    assert str(info.value) == ("values in column 'store_01' must be numbers. Got 'n/a?' at "
                               "row 7 (text mixed into the value column).")


def test_a_wide_file_needs_wide_and_keeps_the_documented_error(tmp_path):
    path = tmp_path / "stores.csv"
    _wide(3).to_csv(path)
    with pytest.raises(DataError, match="has 3 numeric columns; pass target= with one of"):
        read_panel(path)
    panel = read_panel(path, wide=True)
    assert panel.ids == ("store_00", "store_01", "store_02")
    assert panel.notes == ("Read 'stores.csv' as 3 series, one per column ('store_00', "
                           "'store_01', 'store_02').",)
    lines = path.read_text().splitlines()
    lines[9] = lines[9].rsplit(",", 1)[0] + ",oops"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"column 'store_02' must be numbers. Got 'oops' at "
                                        r"line 10 "):
        read_panel(path, wide=True)


def test_wide_config_key_and_flag():
    assert load_config().data.wide is False
    assert load_config(overrides={"data": {"wide": True}}).data.wide is True


# -- item 4: a pandas Series, a polars frame ----------------------------------------------------
def test_a_series_is_one_series_named_after_it():
    values = np.arange(len(DAYS), dtype=float) + 1
    panel = read_panel(pd.Series(values, index=DAYS, name="sales"))
    assert panel.ids == ("sales",) and panel.axis.freq == "D"
    np.testing.assert_array_equal(panel.values[0], values)
    unnamed = read_panel(pd.Series(values, index=DAYS))
    assert unnamed.ids == ("y",) and unnamed.target == "y"
    assert fingerprint(pd.Series(values, index=DAYS))["name"] == FRAME_NAME


def test_a_series_without_timestamps_is_refused_in_one_line():
    with pytest.raises(DataError) as info:
        read_panel(pd.Series([1.0, 2.0, 3.0]))
    assert str(info.value) == ("a pandas Series needs its timestamps as its index (a "
                               "DatetimeIndex, or integer steps in a named index). Got a "
                               "RangeIndex.")


def test_neither_a_path_nor_a_frame_names_what_is_read():
    with pytest.raises(DataError) as info:
        read_panel({"y": [1, 2]})
    assert str(info.value) == ("the data must be a file path, a pandas DataFrame or Series, "
                               "or a polars DataFrame. Got dict.")


def test_a_polars_frame_is_read_through_pandas():
    pl = pytest.importorskip("polars")
    frame = _wide(3).reset_index()
    panel = read_panel(pl.from_pandas(frame))
    assert panel.ids == ("store_00", "store_01", "store_02")
    np.testing.assert_array_equal(panel.values[1], frame.store_01.to_numpy())


# -- item 7: a fill per covariate column ---------------------------------------------------------
def _with_gap():
    """A series with a 6-day gap (rows missing), a 0/1 holiday flag, a category code
    and a temperature."""
    n = len(DAYS)
    frame = pd.DataFrame({"date": DAYS, "y": 50 + np.sin(np.arange(n)),
                          "holiday": (np.arange(n) % 7 == 0).astype(int),
                          "weather": pd.Categorical(np.arange(n) % 3 + 1),
                          "temp": np.linspace(0, 10, n)})
    frame.loc[40, "holiday"] = 1                   # the flag is 1 before the gap, 0 after
    return frame.drop(index=range(41, 47)).reset_index(drop=True)


def test_a_binary_covariate_across_a_gap_stays_in_0_1_with_a_note():
    panel = read_panel(_with_gap(), past_covariates="holiday,temp", max_gap=7)
    holiday, temp = panel.covariates.values[0][:, 0], panel.covariates.values[0][:, 1]
    assert set(np.unique(holiday)) == {0.0, 1.0}
    np.testing.assert_array_equal(holiday[41:47], 1.0)      # carried forward
    np.testing.assert_allclose(temp, np.linspace(0, 10, len(DAYS)))   # interpolated
    note = next(n for n in panel.notes if n.startswith("covariate 'holiday'"))
    assert note.endswith("with carrying the last value forward; longest gap 6 point(s) (a "
                         "column of 0/1 flags or categories is carried forward, never "
                         "interpolated; --fill-covariates holiday=interpolate to insist).")
    assert not any("flags" in n for n in panel.notes if n.startswith("covariate 'temp'"))


def test_a_boolean_covariate_is_carried_forward_and_codes_on_request():
    frame = _with_gap().assign(open=lambda f: f.holiday == 0)
    panel = read_panel(frame, past_covariates="open", max_gap=7)
    assert set(np.unique(panel.covariates.values[0][:, 0])) == {0.0, 1.0}
    # codes beyond 0/1 are numbers to the reader: their fill is named per column
    frame["weather"] = frame.weather.astype(int)
    panel = read_panel(frame, past_covariates="weather", max_gap=7,
                       fill_covariates="weather=ffill")
    assert set(np.unique(panel.covariates.values[0][:, 0])) == {1.0, 2.0, 3.0}


def test_fill_covariates_overrides_each_column():
    panel = read_panel(_with_gap(), past_covariates="holiday,temp", max_gap=7,
                       fill_covariates="holiday=interpolate,temp=ffill")
    holiday, temp = panel.covariates.values[0][:, 0], panel.covariates.values[0][:, 1]
    assert 0 < holiday[43] < 1                                   # interpolated, as asked
    np.testing.assert_array_equal(temp[41:47], temp[40])         # carried forward, as asked
    zero = read_panel(_with_gap(), past_covariates="holiday", max_gap=7,
                      fill_covariates={"HOLIDAY": "zero"})        # names as the columns'
    np.testing.assert_array_equal(zero.covariates.values[0][41:47, 0], 0.0)


def test_fill_covariates_errors_are_one_line():
    with pytest.raises(DataError, match="`fill_covariates` names 'temp', which is not a past "
                                        r"or future covariate \(those are: 'holiday'\)"):
        read_panel(_with_gap(), past_covariates="holiday", fill_covariates="temp=ffill")
    with pytest.raises(ConfigError, match="entries must be COLUMN=FILL"):
        read_panel(_with_gap(), past_covariates="holiday", fill_covariates="holiday")
    with pytest.raises(ConfigError, match="two fills"):
        load_config(overrides={"data": {"fill_covariates": "a=ffill,a=zero"}})


def test_fill_covariates_config_key_takes_a_table_a_list_or_text():
    assert load_config().data.fill_covariates == []
    for value in ({"holiday": "ffill"}, ["holiday=ffill"], "holiday=ffill"):
        cfg = load_config(overrides={"data": {"fill_covariates": value}})
        assert cfg.data.fill_covariates == ["holiday=ffill"]


def test_a_polars_like_frame_goes_through_its_to_pandas():
    frame = _wide(2).reset_index()

    class DataFrame:   # as read_panel sees a polars frame: its module and to_pandas()
        __module__ = "polars.dataframe.frame"
        columns = list(frame.columns)

        def to_pandas(self):
            return frame

    assert read_panel(DataFrame()).ids == ("store_00", "store_01")


# -- the faces: the Python API and the command line ------------------------------------------
def test_fit_takes_a_series_and_evaluate_a_wide_frame():
    from forecaster import Forecaster, evaluate

    series = pd.Series(_wide(1)["store_00"].to_numpy(), index=DAYS, name="sales")
    model = Forecaster(epochs=1, units=4, ensemble=1, backtest=False, seed=1,
                       horizon=7).fit(series)
    assert model.predict()["series_id"].unique().tolist() == ["sales"]
    result = evaluate(_wide(3), models=["naive"], folds=1, horizon=7)
    assert result.to_frame()["model"].tolist() == ["naive"]
    assert any(n.startswith(f"Read '{FRAME_NAME}' as 3 series") for n in result.notes)


def test_cli_wide_and_fill_covariates(tmp_path):
    import json

    from click.testing import CliRunner

    from forecaster.cli import forecast

    frame = _wide(3)
    frame["holiday"] = (np.arange(len(frame)) % 7 == 0).astype(int)
    path = tmp_path / "stores.csv"
    frame.drop(index=DAYS[41:47]).to_csv(path)
    args = ["evaluate", str(path), "--past-covariates", "holiday", "--models", "naive",
            "--folds", "1", "--horizon", "7", "--format", "json"]
    refused = CliRunner().invoke(forecast, args + ["--out", str(tmp_path / "a")])
    assert refused.exit_code != 0
    assert "has 3 numeric columns; pass --target with one of" in refused.output
    for extra, fill in (([], "carrying the last value forward"),
                        (["--fill-covariates", "holiday=zero"], "zeros")):
        out = tmp_path / fill[:4]
        ran = CliRunner().invoke(forecast, args + ["--wide", "--out", str(out), *extra])
        assert ran.exit_code == 0, ran.output
        notes = json.loads((out / "metrics.json").read_text())["notes"]
        assert notes[0] == ("Read 'stores.csv' as 3 series, one per column ('store_00', "
                            "'store_01', 'store_02').")
        assert any(n.startswith("covariate 'holiday': filled 18 missing value(s)")
                   and f"with {fill};" in n for n in notes), notes
