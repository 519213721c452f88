"""An off-grid timestamp is named as itself: a shifted first row is not reported as its
on-grid neighbour (the grid is the phase most timestamps share, not the first row's)."""

from __future__ import annotations

import pandas as pd
import pytest

from forecaster import DataError
from forecaster.data.ingest import read_panel


@pytest.mark.parametrize("freq, shift, shown", [
    ("h", pd.Timedelta(minutes=30), "2021-01-01T00:30:00 at row 1"),
    ("D", pd.Timedelta(hours=1), "2021-01-01T01:00:00 at row 1"),
    ("h", pd.Timedelta(0), None),
])
def test_the_off_grid_row_is_the_one_named(freq, shift, shown):
    frame = pd.DataFrame({"date": pd.date_range("2021-01-01", periods=6, freq=freq),
                          "y": 1.0})
    frame.loc[0, "date"] += shift
    if shown is None:
        assert read_panel(frame, freq=freq, min_length=1).axis.freq == freq
        return
    with pytest.raises(DataError, match="not on the regular") as err:
        read_panel(frame, freq=freq, min_length=1)
    assert shown in str(err.value)


def test_a_shifted_row_in_the_middle_is_named():
    frame = pd.DataFrame({"date": pd.date_range("2021-01-01", periods=6, freq="h"), "y": 1.0})
    frame.loc[3, "date"] += pd.Timedelta(minutes=30)
    with pytest.raises(DataError, match=r"2021-01-01T03:30:00 at row 4"):
        read_panel(frame, freq="h", min_length=1)
