"""Property-based tests for read_panel: any CSV either gives a Panel meeting every guarantee
or raises DataError — never another exception; clean data round-trips exactly."""

from __future__ import annotations

import os
import string

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forecaster.data.ingest import read_panel
from forecaster.errors import DataError
from panel_checks import check_guarantees

SETTINGS = settings(max_examples=int(os.environ.get("INGEST_EXAMPLES", 50)), deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])

names = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                min_size=0, max_size=12)
floats = st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                   st.floats(min_value=-1e6, max_value=1e6))


@st.composite
def columns(draw, n):
    kind = draw(st.sampled_from(["float", "int", "text", "dates", "datetimes", "mixed", "const"]))
    if kind == "float":
        return [draw(floats) for _ in range(n)]
    if kind == "int":
        return draw(st.lists(st.integers(-10**6, 10**6), min_size=n, max_size=n))
    if kind == "text":
        return draw(st.lists(st.text(string.ascii_letters + " <>&\"';,", max_size=6),
                             min_size=n, max_size=n))
    if kind == "dates":
        start = draw(st.dates(min_value=pd.Timestamp("1990-01-01").date(),
                              max_value=pd.Timestamp("2030-01-01").date()))
        step = draw(st.sampled_from(["D", "h", "MS", "W-SUN", "7D"]))
        stamps = list(pd.date_range(start, periods=n, freq=step).astype(str))
        return draw(st.permutations(stamps)) if draw(st.booleans()) else stamps
    if kind == "datetimes":
        return [str(draw(st.datetimes(min_value=pd.Timestamp("1990-01-01").to_pydatetime(),
                                      max_value=pd.Timestamp("2030-01-01").to_pydatetime())))
                for _ in range(n)]
    if kind == "mixed":
        return [draw(st.one_of(floats, st.text(string.ascii_letters, max_size=3), st.none()))
                for _ in range(n)]
    return [draw(st.sampled_from([0, 1.5, -2]))] * n


@st.composite
def frames(draw):
    n = draw(st.integers(0, 30))
    k = draw(st.integers(1, 4))
    cols = draw(st.lists(names, min_size=k, max_size=k, unique_by=lambda s: s.strip().lower()))
    data = {c: draw(columns(n)) for c in cols}
    frame = pd.DataFrame(data, columns=cols)
    if draw(st.booleans()) and n:
        # a recognisable time column and/or a series column, sometimes with duplicates
        # (a drawn name may already be taken: a duplicated header is hostile input too)
        frame.insert(0, draw(st.sampled_from(["ds", "date", "t", "timestamp"])),
                     draw(columns(n)), allow_duplicates=True)
    if draw(st.booleans()) and n:
        frame.insert(0, "unique_id", draw(st.lists(st.sampled_from(["a", "b", "<c&d>"]),
                                                   min_size=n, max_size=n)),
                     allow_duplicates=True)
    if draw(st.booleans()) and n > 1:
        frame = pd.concat([frame, frame.iloc[: draw(st.integers(1, n))]], ignore_index=True)
    if draw(st.booleans()):
        frame = frame.sample(frac=1, random_state=draw(st.integers(0, 100)))
    return frame


options = st.fixed_dictionaries({}, optional={
    "aggregate": st.sampled_from(["mean", "sum", "last", "first", "max", "min"]),
    "fill": st.sampled_from(["interpolate", "ffill", "zero", "none"]),
    "max_gap": st.integers(0, 10),
    "dayfirst": st.booleans(),
    "freq": st.sampled_from(["D", "h", "MS", "bogus"]),
    "min_length": st.integers(1, 5),
})


@SETTINGS
@given(frame=frames(), opts=options, sep=st.sampled_from([",", ";", "\t"]))
def test_any_csv_gives_a_valid_panel_or_a_data_error(tmp_path_factory, frame, opts, sep):
    path = tmp_path_factory.mktemp("prop") / "frame.csv"
    frame.to_csv(path, index=False, sep=sep)
    try:
        panel = read_panel(path, **opts)
    except DataError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    check_guarantees(panel, min_length=opts.get("min_length", 3))


@st.composite
def clean_panels(draw):
    n_series = draw(st.integers(1, 3))
    freq = draw(st.sampled_from(["D", "h", "MS", "W-SAT"]))
    rows = []
    for s in range(n_series):
        n = draw(st.integers(5, 25))
        start = pd.Timestamp("2001-01-01") + draw(st.integers(0, 20)) * pd.tseries.frequencies.to_offset(freq)
        stamps = pd.date_range(start, periods=n, freq=freq)
        values = draw(st.lists(st.floats(-1e9, 1e9), min_size=n, max_size=n))
        keep = [0, n - 1] + [i for i in range(1, n - 1) if draw(st.integers(0, 4))]  # ~20% gaps
        for i in sorted(set(keep)):
            rows.append((f"s{s}", stamps[i].strftime("%Y-%m-%d %H:%M:%S"), values[i]))
    frame = pd.DataFrame(rows, columns=["unique_id", "ds", "y"])
    return frame.sample(frac=1, random_state=draw(st.integers(0, 100))), freq


@SETTINGS
@given(data=clean_panels())
def test_observed_values_round_trip(tmp_path_factory, data):
    frame, freq = data
    path = tmp_path_factory.mktemp("clean") / "panel.csv"
    frame.to_csv(path, index=False)
    try:
        panel = read_panel(path, max_gap=25, freq=freq)  # sparse data cannot reveal it
    except DataError as exc:           # only allowed reason: a mostly-missing series
        assert "mostly missing" in str(exc)
        return
    check_guarantees(panel)
    assert panel.axis.freq == freq
    got = panel.to_frame()
    merged = frame.assign(ds=pd.to_datetime(frame.ds)).merge(
        got, left_on=["unique_id", "ds"], right_on=["series_id", "timestamp"], how="left")
    np.testing.assert_array_equal(merged.value.to_numpy(), merged.y.to_numpy())
