"""Integer time columns that look like Unix times or Excel serial dates stay integer steps
(converting would be a guess) but get a note saying how to convert them."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from forecaster.data.ingest import read_panel


def _csv(path: Path, name: str, times) -> Path:
    path.write_text(f"{name},value\n" + "".join(f"{t},{100 + i}\n" for i, t in enumerate(times)),
                    encoding="utf-8")
    return path


JAN_1_2020 = 1_577_836_800  # in seconds since 1970-01-01


@pytest.mark.parametrize("unit, scale, what", [
    ("s", 1, "seconds"), ("ms", 10 ** 3, "milliseconds")])
def test_unix_times_are_steps_with_a_note_saying_how_to_convert(tmp_path, unit, scale, what):
    seconds = [JAN_1_2020 + 86400 * i for i in range(30)]
    panel = read_panel(_csv(tmp_path / "e.csv", "ts", [t * scale for t in seconds]))
    assert panel.axis.kind == "integer"
    notes = [n for n in panel.notes if "Unix times" in n]
    assert notes == [
        f"The integers in time column 'ts' look like Unix times in {what} "
        f"({seconds[0] * scale} is 2020-01-01) and were read as integer steps (steps of "
        f"{86400 * scale:,}); to forecast dates, convert the column first, e.g. "
        f"pd.to_datetime(df['ts'], unit={unit!r})."]


def test_excel_serial_days_are_steps_with_a_note_saying_how_to_convert(tmp_path):
    panel = read_panel(_csv(tmp_path / "x.csv", "date", range(43831, 43861)))
    assert panel.axis.kind == "integer"
    assert [n for n in panel.notes if "Excel" in n] == [
        "The integers in time column 'date' look like Excel serial dates (43831 is "
        "2020-01-01) and were read as integer steps (steps of 1); to forecast dates, convert "
        "the column first, e.g. pd.to_datetime(df['date'], unit='D', origin='1899-12-30')."]
    converted = pd.to_datetime(pd.Series([43831]), unit="D", origin="1899-12-30")
    assert converted[0] == pd.Timestamp("2020-01-01")  # the advice is right


@pytest.mark.parametrize("times", [
    range(1, 31),                      # ordinary steps
    range(0, 300, 10),                 # steps of 10
    range(30000, 30300, 10),           # in Excel's range but not a calendar's steps
    range(1000, 1030),
    range(100_000_000, 100_000_030),   # large, but before 1990 as seconds
])
def test_ordinary_integer_steps_get_no_note(tmp_path, times):
    panel = read_panel(_csv(tmp_path / "s.csv", "t", times))
    assert panel.axis.kind == "integer"
    assert not [n for n in panel.notes if "Unix" in n or "Excel" in n]


def test_a_later_error_repeats_the_hint_that_likely_explains_it(tmp_path):
    """Irregular Unix seconds read as steps of 1 second are 'mostly missing': the error
    says why (the note alone was lost with the failed read)."""
    from forecaster.errors import DataError

    times = [JAN_1_2020 + 3600 * i + (37 if i % 5 == 2 else 0) for i in range(40)]
    with pytest.raises(DataError) as info:
        read_panel(_csv(tmp_path / "u.csv", "ts", times))
    message = str(info.value)
    assert message.startswith("series 'value' is mostly missing: ")
    assert message.endswith(
        f"more than 50% missing cannot be filled reliably. The integers in time column 'ts' "
        f"look like Unix times in seconds ({times[0]} is 2020-01-01) and were read as "
        f"integer steps (steps of 3,600); to forecast dates, convert the column first, "
        f"e.g. pd.to_datetime(df['ts'], unit='s').")
    assert "\n" not in message
    # and an error that no hint explains is left as it was
    with pytest.raises(DataError, match=r"mostly missing.*reliably\.$"):
        read_panel(_csv(tmp_path / "s.csv", "t", [1, 2, 3, 50, 60, 100]))
