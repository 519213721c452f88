"""read_panel on a pandas DataFrame: the same detection, checks and messages as on a file
(rows are numbered instead of lines), and the caller's frame is never modified."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecaster.data.ingest import FRAME_NAME, read_panel
from forecaster.errors import DataError

ROOT = Path(__file__).resolve().parents[2]
BAD = Path(__file__).resolve().parent / "bad"
CATALOGUE = json.loads((BAD / "catalogue.json").read_text(encoding="utf-8"))
# catalogue files that pandas itself reads as a plain table (no encoding, layout or
# compression trick: those concern files only)
TABLES = [e for e in CATALOGUE if e["file"].endswith(".csv") and e["file"] not in {
    "empty.csv", "header_only.csv", "binary_garbage.csv", "ragged_rows.csv",
    "semicolon_decimal_comma.csv", "utf16.csv", "utf16le_no_bom.csv", "utf16be_no_bom.csv",
    "utf32_bom.csv", "excel_sep_line.csv", "excel_sep_line_text.csv"}]


def _as_rows(message: str, name: str) -> str:
    """A file's message as a DataFrame's: 'line N' (the header is line 1) is row N - 1."""
    message = message.replace(f"'{name}'", f"'{FRAME_NAME}'")
    return re.sub(r"\bline (\d+)", lambda m: f"row {int(m.group(1)) - 1}", message)


def _outcome(source, options):
    try:
        return read_panel(source, **options), None
    except DataError as exc:
        return None, str(exc)


@pytest.mark.parametrize("entry", TABLES, ids=[f"{e['file']}-{e['options']}" for e in TABLES])
def test_a_frame_gets_what_its_file_gets(entry):
    path = BAD / entry["file"]
    frame = pd.read_csv(path, dtype=str)  # every cell as its text: detection does the rest
    before = frame.copy()
    from_file, file_error = _outcome(path, entry["options"])
    from_frame, frame_error = _outcome(frame, entry["options"])
    pd.testing.assert_frame_equal(frame, before)  # never modified
    if file_error is not None:
        assert frame_error == _as_rows(file_error, path.name)
        return
    assert frame_error is None, frame_error
    assert from_frame.ids == from_file.ids and from_frame.starts == from_file.starts
    assert from_frame.axis == from_file.axis
    for a, b in zip(from_frame.values, from_file.values):
        np.testing.assert_array_equal(a, b)


def test_typed_frames_long_and_indexed_by_time():
    t = pd.date_range("2000-01-01", periods=36, freq="MS")
    y = np.arange(36, dtype=float) + 10
    long = pd.DataFrame({"unique_id": np.repeat(["a", "b"], 36), "ds": np.tile(t, 2),
                         "y": np.r_[y, y * 2]})
    panel = read_panel(long)
    assert panel.ids == ("a", "b") and panel.axis.freq == "MS"
    np.testing.assert_array_equal(panel.values[1], y * 2)
    indexed = pd.DataFrame({"sales": y}, index=t)          # time in the index
    panel = read_panel(indexed)
    assert panel.ids == ("sales",) and panel.starts[0] == t[0]
    by_both = long.set_index(["unique_id", "ds"])           # id and time as index levels
    assert read_panel(by_both).ids == ("a", "b")


def test_a_frame_is_never_written_into():
    frame = pd.DataFrame({"ds": pd.date_range("2000-01-01", periods=30, freq="D"),
                          "y": np.r_[np.arange(10.0), np.inf, np.nan, np.arange(18.0)]})
    before = frame.copy()
    panel = read_panel(frame)
    assert np.isfinite(panel.values[0]).all()
    pd.testing.assert_frame_equal(frame, before)


@pytest.mark.parametrize("frame, message", [
    (pd.DataFrame({"ds": [], "y": []}), f"'{FRAME_NAME}' has no data rows."),
    (pd.DataFrame([[1, 2, 3]], columns=["ds", "y", "y"]),
     f"column names in '{FRAME_NAME}' must be unique; 'y' appears twice."),
])
def test_frame_shape_errors(frame, message):
    with pytest.raises(DataError) as info:
        read_panel(frame)
    assert str(info.value) == message


def test_neither_a_path_nor_a_frame_is_named_by_type():
    with pytest.raises(DataError) as info:
        read_panel([1, 2, 3])
    assert str(info.value) == ("the data must be a file path, a pandas DataFrame or Series, "
                               "or a polars DataFrame. Got list.")


def test_the_package_exports_on_first_use_without_loading_pandas():
    import subprocess
    import sys

    code = ("import sys, forecaster; assert 'pandas' not in sys.modules; "
            "names = [n for n in forecaster.__all__ if n != '__version__']; "
            "assert all(getattr(forecaster, n) for n in names); "
            "from forecaster import read_panel, DataError; "
            "assert read_panel.__module__ == 'forecaster.data.ingest'; "
            "assert issubclass(DataError, forecaster.ForecastError); print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr
