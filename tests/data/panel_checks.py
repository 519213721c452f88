"""The guarantees of ``forecaster.data.panel`` as one assertion helper (shared by the ingest tests)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecaster.data.panel import Panel


def check_guarantees(panel: Panel, *, min_length: int = 1) -> None:
    """Assert every guarantee listed in panel.py's (and ingest.py's) module docstring."""
    assert isinstance(panel, Panel)
    assert len(panel.ids) >= 1
    assert len(set(panel.ids)) == len(panel.ids)
    assert all(isinstance(s, str) and s for s in panel.ids)
    assert list(panel.ids) == sorted(panel.ids)
    assert len(panel.starts) == len(panel.values) == len(panel.ids)
    axis = panel.axis
    assert axis.kind in ("datetime", "integer")
    if axis.is_datetime:
        assert axis.freq and pd.tseries.frequencies.to_offset(axis.freq) is not None
    else:
        assert int(axis.step) >= 1
    assert all(isinstance(n, str) and n for n in panel.notes)
    for i, v in enumerate(panel.values):
        assert isinstance(v, np.ndarray) and v.ndim == 1 and v.dtype == np.float64
        assert len(v) >= min_length
        assert np.isfinite(v).all()
        ts = panel.timestamps(i)
        assert len(ts) == len(v)
        assert ts.is_unique and ts.is_monotonic_increasing
        if axis.is_datetime:
            start = pd.Timestamp(panel.starts[i])
            assert (start.tzinfo is None) == (axis.tz is None)
            assert ts[0] == start
            assert ts.equals(pd.date_range(start, periods=len(v), freq=axis.freq))
        else:
            assert isinstance(panel.starts[i], (int, np.integer))
            assert (np.diff(np.asarray(ts)) == axis.step).all()
    frame = panel.to_frame()
    assert list(frame.columns) == ["series_id", "timestamp", "value"]
    assert len(frame) == panel.n_rows
