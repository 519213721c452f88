"""Panel and TimeAxis helpers that work on many series or timestamps at once."""

import numpy as np
import pandas as pd
import pytest

from forecaster.data.panel import Panel, TimeAxis


@pytest.mark.parametrize("axis,stamps", [
    (TimeAxis("datetime", "MS"), pd.date_range("2020-01-01", periods=5, freq="MS")),
    (TimeAxis("datetime", "h"), pd.date_range("2020-01-01 22:00", periods=5, freq="h")),
    (TimeAxis("datetime", "D", tz="Europe/Paris"),
     pd.date_range("2020-03-28", periods=4, freq="D", tz="Europe/Paris")),
    (TimeAxis("datetime", "ms"), pd.date_range("2020-01-01", periods=3, freq="250ms")),
    (TimeAxis("integer", step=3), pd.Index([0, 3, 6, 9])),
])
def test_format_all_gives_format_of_each(axis, stamps):
    assert axis.format_all(stamps) == [axis.format(ts) for ts in stamps]


def test_futures_follow_every_series_end():
    axis = TimeAxis("datetime", "MS")
    panel = Panel.from_arrays({"a": np.arange(3.0), "b": np.arange(5.0), "c": np.arange(3.0)},
                              axis)
    stamps = panel.futures(2)
    expected = [ts for i in range(3) for ts in panel.future(i, 2)]
    assert list(stamps) == expected and str(stamps[0].date()) == "2000-04-01"
    steps = Panel.from_arrays({"a": np.arange(3.0), "b": np.arange(4.0)},
                              TimeAxis("integer", step=2), starts=[10, 0])
    assert list(steps.futures(3)) == [16, 18, 20, 8, 10, 12]
