"""(Re)generate the hostile-input catalogue: one small file per case + ``catalogue.json``.

Run from anywhere: ``python tests/data/bad/make_catalogue.py``.  The output is deterministic
(fixed seeds, no timestamps), so regenerating gives the committed files byte for byte.

Each catalogue entry says what ``read_panel(file, **options)`` must do:
``"expect": "ok"`` (with ``"note"``: a substring of one of ``Panel.notes``, or null) or
``"expect": "error"`` (with ``"message"``: a substring of the ``DataError`` message).
``"cli"`` (optional) overrides the expectation for ``forecast train`` when it differs from
the ingest-level one (e.g. a 5-row series ingests but is too short to train on) or says
it in other words (a hint names ``--target`` where ``read_panel`` names ``target=``).
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
RNG = np.random.default_rng(20240607)


def daily(n=120, start="2020-01-01"):
    return pd.date_range(start, periods=n, freq="D").strftime("%Y-%m-%d")


def wave(n=120, level=100.0):
    t = np.arange(n)
    return np.round(level + 10 * np.sin(2 * np.pi * t / 7) + 0.2 * t, 3)


def write_text(name, text, encoding="utf-8"):
    (HERE / name).write_bytes(text.encode(encoding))


def csv_text(header, rows, sep=","):
    return "\n".join([sep.join(header)] + [sep.join(str(x) for x in r) for r in rows]) + "\n"


def build() -> list[dict]:
    cat = []

    def add(file, expect, text=None, options=None, cli=None, what=""):
        entry = {"file": file, "options": options or {}, "expect": expect, "what": what}
        if expect == "ok":
            entry["note"] = text
        else:
            entry["message"] = text
        if cli:
            entry["cli"] = cli
        cat.append(entry)

    d, v = daily(), wave()
    base_rows = list(zip(d, v))

    # 1. empty file, header only
    write_text("empty.csv", "")
    add("empty.csv", "error", "is empty", what="empty file (0 bytes)")
    write_text("header_only.csv", "date,value\n")
    add("header_only.csv", "error", "has a header but no data rows", what="header only")

    # 2. semicolon-separated with decimal commas
    rows = [(a, f"{b:.3f}".replace(".", ",")) for a, b in base_rows]
    write_text("semicolon_decimal_comma.csv", csv_text(["date", "value"], rows, sep=";"))
    add("semicolon_decimal_comma.csv", "ok", None,
        what="semicolon-separated, decimal commas (`1,5`)")

    # 3. tab-separated, UTF-8 with BOM
    write_text("tab_separated.tsv", csv_text(["date", "value"], base_rows, sep="\t"))
    add("tab_separated.tsv", "ok", None, what="tab-separated")
    write_text("utf8_bom.csv", "\ufeff" + csv_text(["date", "value"], base_rows))
    add("utf8_bom.csv", "ok", None, what="UTF-8 with a byte-order mark")

    # 4. duplicated timestamps
    rows = base_rows[:50] + [(base_rows[49][0], 999.0)] + base_rows[50:]
    write_text("duplicated_timestamps.csv", csv_text(["date", "value"], rows))
    add("duplicated_timestamps.csv", "error",
        "has duplicated timestamps: 2020-02-19 appears at line 51 and line 52",
        what="duplicated timestamps")
    add("duplicated_timestamps.csv", "ok", "Combined 1 row(s) with duplicated timestamps",
        options={"aggregate": "mean"}, what="duplicated timestamps, `--aggregate mean`")

    # 5. unsorted rows
    order = RNG.permutation(len(base_rows))
    write_text("unsorted_rows.csv", csv_text(["date", "value"], [base_rows[i] for i in order]))
    add("unsorted_rows.csv", "ok", "not in time order; sorted", what="rows not in time order")

    # 6. text mixed into the value column
    rows = [list(r) for r in base_rows]
    rows[3][1] = "abc"
    write_text("text_in_values.csv", csv_text(["date", "value"], rows))
    add("text_in_values.csv", "error",
        "values in column 'value' must be numbers. Got 'abc' at line 5",
        what="text mixed into the value column")

    # 7. inf values
    rows = [list(r) for r in base_rows]
    rows[10][1], rows[20][1] = "inf", "-inf"
    write_text("inf_values.csv", csv_text(["date", "value"], rows))
    add("inf_values.csv", "ok", "2 infinite value(s) in column 'value' were treated as missing",
        what="`inf` / `-inf` values")

    # 8. constant series, all zeros, huge values
    write_text("constant_series.csv", csv_text(["date", "value"], [(a, 42) for a in d]))
    add("constant_series.csv", "ok", None, what="a constant series")
    write_text("all_zeros.csv", csv_text(["date", "value"], [(a, 0) for a in d]))
    add("all_zeros.csv", "ok", None, what="all zeros")
    write_text("huge_values.csv", csv_text(["date", "value"],
                                           [(a, f"{b:.3f}e300") for a, b in base_rows]))
    add("huge_values.csv", "ok", None, what="values around 1e300 (finite)")

    # 9. too short
    write_text("too_short.csv", csv_text(["date", "value"], base_rows[:5]))
    add("too_short.csv", "error", "series 'value' has 5 point(s); at least 10 are needed",
        options={"min_length": 10},
        cli={"expect": "ok"}, what="a series of 5 rows (`min_length=10`; the CLI shrinks "
        "the window to fit)")

    # 10. unparseable dates
    rows = [list(r) for r in base_rows]
    rows[2][0] = "not a date"
    write_text("unparseable_dates.csv", csv_text(["date", "value"], rows))
    add("unparseable_dates.csv", "error",
        "cannot parse 'not a date' at line 4 as a date (time column 'date')",
        what="an unparseable date")

    # 11. HTML / quotes / ampersands / non-ASCII in names and ids
    col = '<script>alert("x&y")</script>'
    ids = ['<b>A&B</b>', 'say "hi"', "café ü €"]
    frame = pd.DataFrame({"unique_id": np.repeat(ids, 60),
                          "ds": np.tile(daily(60), 3),
                          col: np.tile(wave(60), 3)})
    (HERE / "html_names.csv").write_text(frame.to_csv(index=False), encoding="utf-8")
    add("html_names.csv", "ok", None,
        what="HTML `<script>`, quotes, `&`, non-ASCII in column names and series ids")

    # 12. binary garbage
    (HERE / "binary_garbage.csv").write_bytes(RNG.integers(0, 256, 2048, dtype=np.uint8).tobytes())
    add("binary_garbage.csv", "error", "contains binary data", what="binary garbage")

    # 13. no recognisable time column
    write_text("no_time_column.csv",
               csv_text(["name", "value"], [(f"item{i}", b) for i, b in enumerate(v[:20])]))
    add("no_time_column.csv", "error", "no time column found", what="no recognisable time column")

    # 14. ragged rows
    rows = [list(r) for r in base_rows]
    rows[7].append("extra")
    write_text("ragged_rows.csv", csv_text(["date", "value"], rows))
    add("ragged_rows.csv", "error", "line 9 has 3 fields but the header has 2 (ragged rows)",
        what="a row with more fields than the header")

    # 15. irregular timestamps
    stamps = pd.Timestamp("2020-01-01") + pd.to_timedelta(
        np.sort(RNG.uniform(0, 120 * 24, 300)), unit="h")
    write_text("irregular_timestamps.csv", csv_text(
        ["timestamp", "value"],
        [(s.strftime("%Y-%m-%d %H:%M:%S"), round(float(x), 3))
         for s, x in zip(stamps, RNG.normal(10, 1, 300))]))
    add("irregular_timestamps.csv", "error", "are irregular", what="irregular timestamps")
    add("irregular_timestamps.csv", "ok", "Resampled timestamps onto the regular 'D' grid",
        options={"freq": "D", "aggregate": "mean"},
        what="irregular timestamps, `--freq D --aggregate mean`")

    # 16. DST: repeated local hour (naive), mixed offsets, naive mixed with aware
    local = pd.date_range("2020-10-20", periods=240, freq="h", tz="Europe/Paris")
    naive = local.tz_localize(None)        # 2020-10-25 02:00 appears twice
    hv = np.round(20 + 5 * np.sin(2 * np.pi * np.arange(240) / 24), 3)
    write_text("dst_repeated_hour.csv", csv_text(
        ["timestamp", "value"], zip(naive.strftime("%Y-%m-%d %H:%M:%S"), hv)))
    add("dst_repeated_hour.csv", "error",
        "2020-10-25T02:00:00 appears at line", what="a repeated hour at a DST change (naive)")
    add("dst_repeated_hour.csv", "ok", "Combined 1 row(s) with duplicated timestamps",
        options={"aggregate": "mean"}, what="repeated DST hour, `--aggregate mean`")
    iso = [ts.isoformat() for ts in local]
    write_text("mixed_timezones.csv", csv_text(["timestamp", "value"], zip(iso, hv)))
    add("mixed_timezones.csv", "ok", "several UTC offsets (+01:00, +02:00); converted them to UTC",
        what="offsets +02:00 and +01:00 across a DST change")
    write_text("naive_and_aware.csv", csv_text(
        ["timestamp", "value"],
        [(s if i % 2 else s[:-6], x) for i, (s, x) in enumerate(zip(iso, hv))]))
    add("naive_and_aware.csv", "error", "mixes time-zone-aware and naive timestamps",
        what="naive and zone-aware timestamps mixed")
    write_text("uniform_offset.csv", csv_text(
        ["timestamp", "value"],
        [(ts.isoformat(), x) for ts, x in zip(pd.date_range(
            "2020-01-01", periods=240, freq="h", tz="UTC+05:30"), hv)]))
    add("uniform_offset.csv", "ok", None, what="one fixed UTC offset (+05:30), kept as the zone")

    # 17. UTF-16
    write_text("utf16.csv", csv_text(["date", "valeur €"], base_rows), encoding="utf-16")
    add("utf16.csv", "ok", None, what="UTF-16 with BOM")

    # 18. all missing, mostly missing, gaps
    write_text("all_missing.csv", csv_text(["date", "value"], [(a, "") for a in d]))
    add("all_missing.csv", "error", "series 'value' has no values in column 'value' (all missing)",
        what="target all missing")
    rows = [(a, b if i % 3 == 0 else "") for i, (a, b) in enumerate(base_rows)]
    write_text("mostly_missing.csv", csv_text(["date", "value"], rows))
    add("mostly_missing.csv", "error", "series 'value' is mostly missing",
        what="target mostly missing (2 of 3 empty)")
    rows = [r for i, r in enumerate(base_rows) if i not in (30, 31, 60)]
    rows = [(a, "" if i == 80 else b) for i, (a, b) in enumerate(rows)]
    write_text("gaps.csv", csv_text(["date", "value"], rows))
    add("gaps.csv", "ok", "Filled 4 missing value(s) in 1 series ('value') with linear "
        "interpolation; longest gap 2 point(s)", what="missing dates and an empty value")
    add("gaps.csv", "error", "has 4 missing point(s) (first at 2020-01-31)",
        options={"fill": "error"}, what="gaps with `--fill error`")
    add("gaps.csv", "error", "gaps longer than max_gap=1 are not filled",
        options={"max_gap": 1}, what="gaps with `--max-gap 1`")
    rows = [(a, "" if i < 10 or i > 110 else b) for i, (a, b) in enumerate(base_rows)]
    write_text("leading_trailing_missing.csv", csv_text(["date", "value"], rows))
    add("leading_trailing_missing.csv", "ok", "Trimmed 19 leading/trailing missing value(s)",
        what="empty values at both ends")

    # 19. compressed, parquet, file name
    with gzip.GzipFile(HERE / "compressed.csv.gz", "wb", mtime=0) as fh:
        fh.write(csv_text(["date", "value"], base_rows).encode())
    add("compressed.csv.gz", "ok", None, what="gzip-compressed CSV")
    pd.DataFrame({"ds": pd.to_datetime(list(d)), "y": v}).to_parquet(
        HERE / "series.parquet", index=False)
    add("series.parquet", "ok", None, what="Parquet")
    write_text("données série été.csv", csv_text(["date", "valeur"], base_rows))
    add("données série été.csv", "ok", None, what="non-ASCII file name with spaces")

    # 20. day/month order
    dd = pd.date_range("2020-01-01", periods=120, freq="D")
    write_text("dayfirst_dates.csv", csv_text(["date", "value"],
                                              zip(dd.strftime("%d/%m/%Y"), v)))
    add("dayfirst_dates.csv", "error", "are day-first (e.g. '13/01/2020' at line 14); pass "
        "dayfirst=True", what="day-first dates (`31/01/2020`)",
        cli={"expect": "error", "message": "are day-first (e.g. '13/01/2020' at line 14); "
             "pass --dayfirst"})
    add("dayfirst_dates.csv", "ok", None, options={"dayfirst": True},
        what="day-first dates with `--dayfirst`")
    mm = pd.date_range("2020-01-01", periods=120, freq="MS")
    write_text("ambiguous_dates.csv", csv_text(["date", "value"],
                                               zip(mm.strftime("%d/%m/%Y"), wave(120))))
    add("ambiguous_dates.csv", "error", "are ambiguous: '01/01/2020' at line 2",
        what="ambiguous dates (`03/04/2020`: every day ≤ 12)")
    add("ambiguous_dates.csv", "ok", None, options={"dayfirst": True},
        what="ambiguous dates with `--dayfirst`")

    # 21. column selection
    write_text("two_values.csv", csv_text(["date", "sales", "price"],
                                          [(a, b, 3) for a, b in base_rows]))
    add("two_values.csv", "error", "has 2 numeric columns; pass target= with one of: 'sales', "
        "'price'", what="several numeric columns, no `--target`",
        cli={"expect": "error", "message": "has 2 numeric columns; pass --target with one of: "
             "'sales', 'price'"})
    add("two_values.csv", "error", "Got 'nope'; the columns are: 'date', 'sales', 'price'",
        options={"target": "nope"}, what="`--target` naming a missing column")
    add("two_values.csv", "ok", "1 numeric column(s) have no role and are not used ('price'); pass them with --past-covariates", options={"target": "sales"},
        what="`--target sales`")
    add("two_values.csv", "error", "`freq` must be a pandas frequency alias",
        options={"target": "sales", "freq": "fortnightly"}, what="a bad `--freq`")

    # 22. Nixtla long format, integer steps
    frame = pd.DataFrame({"unique_id": np.repeat(["b", "a"], 100),
                          "ds": np.tile(daily(100), 2), "y": np.tile(wave(100), 2)})
    (HERE / "nixtla_long.csv").write_text(frame.to_csv(index=False))
    add("nixtla_long.csv", "ok", None, what="Nixtla `unique_id, ds, y` (no flags)")
    write_text("integer_steps.csv", csv_text(["step", "value"],
                                             [(i, b) for i, b in enumerate(v)]))
    add("integer_steps.csv", "ok", None, what="integer time steps")

    # 23. encodings without a byte-order mark or with a UTF-32 one; Excel's "sep=" line
    text = csv_text(["date", "valeur €"], base_rows)
    write_text("utf16le_no_bom.csv", text, encoding="utf-16-le")
    add("utf16le_no_bom.csv", "ok", "has no byte-order mark; read it as UTF-16-LE",
        what="UTF-16 (little-endian) without a byte-order mark")
    write_text("utf16be_no_bom.csv", text, encoding="utf-16-be")
    add("utf16be_no_bom.csv", "ok", "has no byte-order mark; read it as UTF-16-BE",
        what="UTF-16 (big-endian) without a byte-order mark")
    write_text("utf32_bom.csv", text, encoding="utf-32")
    add("utf32_bom.csv", "ok", None, what="UTF-32 with a byte-order mark")
    rows = [(a, f"{b:.3f}".replace(".", ",")) for a, b in base_rows]
    write_text("excel_sep_line.csv", "sep=;\r\n" + csv_text(["date", "value"], rows, sep=";"))
    add("excel_sep_line.csv", "ok", None,
        what="Excel's `sep=;` first line, then semicolons and decimal commas")
    rows = [(a, "x" if i == 40 else b) for i, (a, b) in enumerate(base_rows)]
    write_text("excel_sep_line_text.csv", "sep=,\n" + csv_text(["date", "value"], rows))
    add("excel_sep_line_text.csv", "error", "Got 'x' at line 43",
        what="Excel's `sep=,` line: line numbers still count it")

    # 24. month starts and ends mixed; dates past 9999
    months = pd.date_range("2000-01-01", periods=60, freq="MS")
    mixed = [m if i % 2 == 0 else m + pd.offsets.MonthEnd(0) for i, m in enumerate(months)]
    write_text("month_start_end_mixed.csv", csv_text(
        ["date", "value"], zip(pd.DatetimeIndex(mixed).strftime("%Y-%m-%d"), wave(60))))
    add("month_start_end_mixed.csv", "error", "pass freq='MS', aggregate='mean'",
        what="month starts and month ends mixed",
        cli={"expect": "error", "message": "pass --freq MS --aggregate mean"})
    add("month_start_end_mixed.csv", "ok", "Resampled timestamps onto the regular 'MS' grid",
        options={"freq": "MS", "aggregate": "mean"},
        what="month starts and ends mixed, with `--freq MS --aggregate mean`")
    years = [f"{9995 + i // 12}-{i % 12 + 1:02d}-01" for i in range(72)]
    write_text("dates_past_9999.csv", csv_text(["date", "value"], zip(years, wave(72))))
    add("dates_past_9999.csv", "error", "cannot parse '10000-01-01' at line 62 as a date",
        what="dates past the year 9999")

    (HERE / "catalogue.json").write_text(json.dumps(cat, indent=1, ensure_ascii=False) + "\n",
                                         encoding="utf-8")
    return cat


if __name__ == "__main__":
    print(f"wrote {len(build())} catalogue entries to {HERE}")
