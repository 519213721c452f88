"""Time zones: calendar and holiday features on the data's local wall time (also when the
timestamps' offsets change at DST and were converted to UTC), the zone recorded for
prediction, and one zone policy for every path that reads timestamps (training data, new
data, ``--future`` files, server rows)."""

from __future__ import annotations

import json

import holidays
import numpy as np
import pandas as pd
import pytest

from forecaster import DataError
from forecaster.data.covariates import CovariateSpec, generated_features, generated_names
from forecaster.data.ingest import read_panel
from forecaster.data.panel import TimeAxis

MEL = "Australia/Melbourne"


def _melbourne(start="2015-03-28", end="2015-04-12", freq="h") -> pd.DataFrame:
    """Hourly Melbourne data written with their offsets (+11:00, then +10:00 from the DST
    end on 2015-04-05): pandas reads them as mixed offsets."""
    idx = pd.date_range(start, end, freq=freq, tz=MEL, inclusive="left")
    rng = np.random.default_rng(0)
    return pd.DataFrame({"timestamp": [t.isoformat() for t in idx],
                         "y": 10 + np.sin(np.arange(len(idx)) / 4) + rng.normal(0, .1, len(idx)),
                         "price": rng.integers(1, 4, len(idx)).astype(float)})


def _features(panel, stamps):
    spec = panel.covariates.spec
    names = generated_names(spec, panel.axis)
    return pd.DataFrame(generated_features(spec, panel.axis, stamps), columns=names,
                        index=stamps)


SPEC = CovariateSpec.of(calendar="auto", holidays="AU-VIC")


def test_mixed_offsets_keep_a_utc_grid_but_features_use_local_time():
    panel = read_panel(_melbourne(), covariates=SPEC)
    assert panel.axis.tz == "UTC"                       # the documented convention
    assert any(MEL.split("/")[0] in n and "local time" in n for n in panel.notes), panel.notes
    stamps = panel.timestamps(0)
    f = _features(panel, stamps)
    local = stamps.tz_convert(MEL)
    holiday = f["holiday_AU-VIC"].to_numpy() == 1
    good_friday = np.asarray(local.normalize().tz_localize(None) == "2015-04-03")
    days = holidays.country_holidays("AU", subdiv="VIC", years=2015)   # Easter's days
    easter = np.asarray([d.date() in days for d in local.tz_localize(None)])
    assert easter.sum() >= 3 * 24
    np.testing.assert_array_equal(holiday, easter)
    assert holiday[good_friday].all() and good_friday.sum() == 24
    midnight = np.asarray((local.hour == 0) & (local.minute == 0))
    np.testing.assert_allclose(f.loc[midnight, "hour_of_day_sin"], 0, atol=1e-12)
    np.testing.assert_allclose(f.loc[midnight, "hour_of_day_cos"], 1)


@pytest.mark.parametrize("day, hours", [("2015-04-05", 25), ("2015-10-04", 23)])
def test_dst_days_have_their_local_hours(day, hours):
    d = pd.Timestamp(day)
    panel = read_panel(_melbourne(str((d - pd.Timedelta(days=3)).date()),
                                  str((d + pd.Timedelta(days=3)).date())), covariates=SPEC)
    stamps = panel.timestamps(0)
    local = stamps.tz_convert(MEL).tz_localize(None)
    on_day = np.asarray(local.normalize() == d)
    assert on_day.sum() == hours
    f = _features(panel, stamps)
    angle = 2 * np.pi * (local.hour + local.minute / 60) / 24
    np.testing.assert_allclose(f["hour_of_day_sin"], np.sin(angle), atol=1e-12)
    dow = 2 * np.pi * (local.day_of_week + local.hour / 24) / 7
    np.testing.assert_allclose(f["day_of_week_cos"], np.cos(dow), atol=1e-12)


def test_the_local_zone_is_recorded_and_used_for_future_steps():
    panel = read_panel(_melbourne(end="2015-04-02"), covariates=SPEC)
    axis = TimeAxis.from_json(json.loads(json.dumps(panel.axis.to_json())))
    assert axis == panel.axis
    ahead = axis.after(panel.end(0), 72)      # 2015-04-02 .. 04-04 local: Good Friday ahead
    f = pd.DataFrame(generated_features(panel.covariates.spec, axis, ahead),
                     columns=generated_names(panel.covariates.spec, axis), index=ahead)
    local = ahead.tz_convert(MEL).tz_localize(None)
    np.testing.assert_array_equal(f["holiday_AU-VIC"].to_numpy() == 1,
                                  np.asarray(local.normalize() >= pd.Timestamp("2015-04-03")))
    with pytest.raises(ValueError, match="zone"):
        TimeAxis.from_json({**panel.axis.to_json(), "local_tz": "Mars/Olympus"})


def test_a_zone_that_no_offsets_match_keeps_utc_features_with_a_note():
    frame = pd.DataFrame({"timestamp": ["2020-01-01T00:00:00+05:45", "2020-01-01T01:00:00+05:45",
                                        "2020-01-01T03:00:00+06:45", "2020-01-01T04:00:00+06:45"],
                          "y": [1.0, 2, 3, 4]})
    panel = read_panel(frame, covariates=CovariateSpec.of(calendar="auto"))
    assert panel.axis.tz == "UTC"
    assert any("UTC" in n and "no time zone" in n for n in panel.notes), panel.notes


# -- one zone policy for every path that reads timestamps ------------------------------------
NAIVE = TimeAxis("datetime", "h")
UTC = TimeAxis("datetime", "h", tz="UTC", local_tz=MEL)


def test_zone_aware_timestamps_for_a_naive_run_are_a_one_line_error_naming_the_series():
    frame = _melbourne(end="2015-03-30").assign(store="s1")
    with pytest.raises(DataError, match=r"series 's1'.*time zone.*naive") as err:
        read_panel(frame, id_col="store", target="y", freq="h", min_length=1, run_axis=NAIVE)
    assert "\n" not in str(err.value)


def test_naive_timestamps_for_a_zone_aware_run_are_a_one_line_error():
    frame = pd.DataFrame({"timestamp": pd.date_range("2015-01-01", periods=5, freq="h"),
                          "y": 1.0})
    with pytest.raises(DataError, match=r"series 'y'.*no time zone.*UTC"):
        read_panel(frame, freq="h", min_length=1, run_axis=UTC)


def test_one_offset_is_converted_to_the_runs_zone():
    frame = _melbourne(start="2015-01-01", end="2015-01-03")        # all +11:00
    panel = read_panel(frame, target="y", freq="h", min_length=1, run_axis=UTC)
    assert panel.axis == UTC
    assert panel.starts[0] == pd.Timestamp("2014-12-31T13:00:00", tz="UTC")
