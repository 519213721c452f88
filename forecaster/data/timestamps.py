"""Time columns to integer steps or datetimes (ISO, day-first and month-first dates —
never guessed —, time zones and UTC offsets), the frequency alias of ``--freq`` and the
frequency inferred from the data, with the alias a message should suggest.
Package-private helpers of :func:`~forecaster.data.ingest.read_panel`.
"""

from __future__ import annotations

import re
import warnings
from collections import Counter
from contextlib import contextmanager

import numpy as np
import pandas as pd

from forecaster.data.columns import _DATEISH, _counts
from forecaster.data.frequencies import LEGACY_ALIASES, SUGGESTED
from forecaster.data.readers import _first_line
from forecaster.data.zones import describe_zones, recover_zone
from forecaster.errors import HINT, DataError, Hint
from forecaster.notes import Note, kind_of

_DMY = re.compile(r"^\s*(\d{1,2})([/.-])(\d{1,2})\2(\d{4}|\d{2})(?!\d)(.*)$")
_TZ_SUFFIX = r"(?:Z|[+-]\d{2}(?::?\d{2})?)\s*$"


def _parse_freq(freq):
    text = str(freq).strip()
    m = re.fullmatch(r"(\d*)([A-Za-z]+)(-[A-Za-z]+)?", text)
    tries = [text]
    if m and m.group(2) in LEGACY_ALIASES:
        tries.append(m.group(1) + LEGACY_ALIASES[m.group(2)] + (m.group(3) or ""))
    for cand in tries:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                off = pd.tseries.frequencies.to_offset(cand)
            pd.date_range("2000-01-01", periods=2, freq=off)
            if off is not None and getattr(off, "n", 1) >= 1:
                return off
        except (ValueError, TypeError, OverflowError):
            continue
    raise DataError(f"`freq` must be a pandas frequency alias such as 'D', 'W-SAT', 'MS', "
                    f"'h'. Got {freq!r}.")


def _to_int_steps(s: pd.Series, name, src) -> np.ndarray:
    if pd.api.types.is_integer_dtype(s.dtype) and not s.isna().any():
        return s.to_numpy(dtype=np.int64)
    num = pd.to_numeric(s.astype("str").str.strip(), errors="coerce") \
        if not pd.api.types.is_numeric_dtype(s.dtype) else s.astype(np.float64)
    arr = num.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(arr) | (arr != np.round(arr)) | (np.abs(arr) > 2 ** 53)
    if bad.any():
        i = int(np.argmax(bad))
        got = s.iloc[i]
        what = "no timestamp" if pd.isna(got) else f"{str(got)!r}"
        raise DataError(f"time column {name!r} must hold integer steps or dates. Got {what} "
                        f"at {src.where(i)}.")
    return arr.astype(np.int64)


#: integer time columns that look like Unix times: (unit, as a message names it, smallest,
#: largest) — 1990-01-01 to 2100-01-01 in that unit
_EPOCHS = tuple((unit, what, 631_152_000 * scale, 4_102_444_800 * scale)
                for unit, what, scale in (("s", "seconds", 1), ("ms", "milliseconds", 10 ** 3),
                                          ("us", "microseconds", 10 ** 6),
                                          ("ns", "nanoseconds", 10 ** 9)))
#: Excel serial days (1982 to 2064) and the steps between them that a calendar gives
_EXCEL = (30_000, 60_000)
_EXCEL_STEPS = {1, 7, 28, 29, 30, 31}


def _integer_steps(s: pd.Series, name, src, notes) -> np.ndarray:
    """:func:`_to_int_steps`, with a note when the integers look like Unix times or Excel
    serial dates: they stay integer steps (converting would be a guess), but the note says
    how to convert them."""
    t = _to_int_steps(s, name, src)
    note = _epoch_note(t, name)
    if note:
        notes.append(note)
    return t


@contextmanager
def time_hints_on_error(notes):
    """Re-raise a :class:`DataError` of the block with the ``time_hint`` notes among
    ``notes`` (the time column may be misread: Unix times or Excel serial dates read as
    integer steps) appended to its one line: they are likely the cause (e.g. "mostly
    missing" between irregular Unix seconds)."""
    try:
        yield
    except DataError as exc:
        hints = [n for n in notes if kind_of(n) == "time_hint"]
        if not hints:
            raise
        raise DataError(" ".join([str(exc), *hints])) from exc


def _epoch_note(t: np.ndarray, name) -> str | None:
    """The note for integer steps ``t`` that look like dates in disguise, else None."""
    if not len(t):
        return None
    lo, hi = int(t.min()), int(t.max())
    distinct = np.unique(t)
    diffs = np.diff(distinct)
    step = int(Counter(diffs.tolist()).most_common(1)[0][0]) if len(diffs) else None
    steps = f" (steps of {step:,})" if step else ""
    for unit, what, first, last in _EPOCHS:
        if first <= lo and hi <= last:
            day = pd.Timestamp(lo, unit=unit).strftime("%Y-%m-%d")
            return Note(
                f"The integers in time column {name!r} look like Unix times in {what} "
                f"({lo} is {day}) and were read as integer steps{steps}; to forecast "
                f"dates, convert the column first, e.g. pd.to_datetime(df[{name!r}], "
                f"unit={unit!r}).", kind="time_hint")
    if _EXCEL[0] <= lo and hi <= _EXCEL[1] and step in _EXCEL_STEPS:
        day = (pd.Timestamp("1899-12-30") + pd.Timedelta(days=lo)).strftime("%Y-%m-%d")
        return Note(
            f"The integers in time column {name!r} look like Excel serial dates ({lo} is "
            f"{day}) and were read as integer steps{steps}; to forecast dates, convert "
            f"the column first, e.g. pd.to_datetime(df[{name!r}], unit='D', "
            f"origin='1899-12-30').", kind="time_hint")
    return None


#: integers that are dates: (digits, format, as a message names it, smallest, largest)
_COMPACT = ((8, "%Y%m%d", "yyyymmdd", 18000101, 22001231),
            (6, "%Y%m", "yyyymm", 180001, 220012))


def _compact_dates(s: pd.Series, name, notes):
    """Integers written as dates, yyyymmdd (20200131) or yyyymm (202001), as a
    DatetimeIndex (with a note): as integer steps they would have gaps of 70 or 88 at
    month and year ends.  None for other integers, which stay steps."""
    if not pd.api.types.is_integer_dtype(s.dtype) or s.isna().any() or not len(s):
        return None
    v = s.to_numpy(dtype=np.int64)
    lo, hi = int(v.min()), int(v.max())
    for digits, fmt, what, first, last in _COMPACT:
        if first <= lo and hi <= last:
            parsed = pd.to_datetime(pd.Series(v).astype(str), format=fmt, errors="coerce")
            if parsed.notna().all():
                notes.append(f"Read the integers in time column {name!r} as dates written "
                             f"{what} (e.g. {int(v[0])}).")
                return pd.DatetimeIndex(parsed)
    return None


def _to_datetime(s: pd.Series, name, src, dayfirst, monthfirst):
    """Parse the time column; returns (DatetimeIndex, tz name or None, local zone or None,
    notes): the local zone is the one whose wall clock offsets that changed (and became
    UTC) were read in (:func:`~forecaster.data.zones.recover_zone`)."""
    notes = []
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        idx = pd.DatetimeIndex(s)
        if idx.isna().any():
            i = int(np.argmax(idx.isna()))
            raise DataError(f"time column {name!r} has no timestamp at {src.where(i)}.")
        tz = None if idx.tz is None else str(idx.tz)
        return idx, tz, None, notes
    text = s.astype("str").str.strip()
    empty = (s.isna() | (text == "")).to_numpy()
    if empty.any():
        i = int(np.argmax(empty))
        raise DataError(f"time column {name!r} has no timestamp at {src.where(i)}.")
    looks_dmy = text.iloc[:2000].str.match(_DMY).mean() > 0.5     # decide on a sample
    local = []  # the zone _parse_iso recovers behind changing offsets
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if looks_dmy:
                ex = text.str.extract(_DMY)
                dmy = ex[0].notna().to_numpy()
                parsed = _parse_dmy(text, ex, dmy, name, src, dayfirst, monthfirst, notes)
            else:
                parsed = _parse_iso(text, name, src, notes, local)
    except (ValueError, OverflowError, TypeError) as exc:
        raise DataError(f"cannot parse the dates in column {name!r}: {_first_line(exc)}.") \
            from None
    bad = parsed.isna().to_numpy()
    if bad.any():
        i = int(np.argmax(bad))
        raise DataError(f"cannot parse {str(s.iloc[i])!r} at {src.where(i)} as a date (time "
                        f"column {name!r}).")
    idx = pd.DatetimeIndex(parsed)
    return idx, (None if idx.tz is None else str(idx.tz)), (local or [None])[0], notes


def _parse_dmy(text, ex, dmy, name, src, dayfirst, monthfirst, notes):
    if not dmy.all():
        i = int(np.argmax(~dmy))
        raise DataError(f"cannot parse {text.iloc[i]!r} at {src.where(i)} as a date (time "
                        f"column {name!r}); the other dates look like dd/mm/yyyy or "
                        f"mm/dd/yyyy.")
    a = ex[0].astype(int).to_numpy()
    b = ex[2].astype(int).to_numpy()
    if dayfirst:
        if (b > 12).any():
            i = int(np.argmax(b > 12))
            raise DataError(f"--dayfirst was given but {text.iloc[i]!r} at {src.where(i)} is "
                            f"not day/month/year (month {b[i]} > 12).")
        first = "day"
    elif monthfirst:
        if (a > 12).any():
            i = int(np.argmax(a > 12))
            raise DataError(f"--monthfirst was given but {text.iloc[i]!r} at {src.where(i)} is "
                            f"not month/day/year (month {a[i]} > 12).")
        first = "month"
    elif (a > 12).any():
        i = int(np.argmax(a > 12))
        raise DataError(f"dates in column {name!r} are day-first (e.g. {text.iloc[i]!r} at "
                        f"{src.where(i)}); pass {HINT} to read them as day/month/year.",
                        hint=Hint("dayfirst", "--dayfirst", "dayfirst=True"))
    elif (b > 12).any():
        i = int(np.argmax(b > 12))
        first = "month"
        notes.append(f"Read dates in column {name!r} as month/day/year (e.g. "
                     f"{text.iloc[i]!r}).")
    else:
        raise DataError(f"dates in column {name!r} are ambiguous: {text.iloc[0]!r} at "
                        f"{src.where(0)} could be day/month or month/day; pass {HINT}, or "
                        f"write dates as YYYY-MM-DD.",
                        hint=Hint("dayfirst", "--dayfirst if the day comes first, --monthfirst "
                                  "if the month does", "dayfirst=True if the day comes first, "
                                  "monthfirst=True if the month does"))
    sep = ex[1].iloc[0]
    year = "%Y" if len(ex[3].iloc[0]) == 4 else "%y"
    fmt = (f"%d{sep}%m{sep}{year}" if first == "day" else f"%m{sep}%d{sep}{year}")
    if (ex[4].str.strip() == "").all():
        return pd.to_datetime(text, format=fmt, errors="coerce")
    return pd.to_datetime(text, format="mixed", dayfirst=first == "day", errors="coerce")


_WEEK = re.compile(r"(\d{4})-?W(\d{2})(?:-?([1-7]))?", re.IGNORECASE)
_QUARTER = re.compile(r"(?:(\d{4})\s*[-/ ]?\s*Q([1-4])|Q([1-4])\s*[-/ ]?\s*(\d{4}))",
                      re.IGNORECASE)


def _parse_periods(text, name, notes):
    """ISO weeks ("2020-W05", "2020W05-3") as the day they name (the week's Monday when
    no day is given) and quarters ("2020Q1", "2020-Q1", "Q1 2020") as their first day,
    with a note; None when the column holds other text."""
    week = text.str.fullmatch(_WEEK)
    if week.all():
        ex = text.str.extract(_WEEK)
        iso = ex[0] + "-W" + ex[1] + "-" + ex[2].fillna("1")
        parsed = pd.to_datetime(iso, format="%G-W%V-%u", errors="coerce")
        bad = parsed.isna() | (parsed.dt.isocalendar().week != ex[1].astype(int))
        if bad.any():       # week 53 of a year that has 52: %V rolls it over silently
            return pd.Series(pd.NaT, index=text.index).where(bad, parsed)
        days = "the days they name" if ex[2].notna().any() else "the Monday of each week"
        notes.append(f"Read the ISO weeks in column {name!r} (e.g. {text.iloc[0]!r}) as "
                     f"{days}.")
        return parsed
    if text.str.fullmatch(_QUARTER).all():
        ex = text.str.extract(_QUARTER)
        year, q = ex[0].fillna(ex[3]).astype(int), ex[1].fillna(ex[2]).astype(int)
        parsed = pd.to_datetime(pd.DataFrame({"year": year, "month": 3 * q - 2, "day": 1}))
        notes.append(f"Read the quarters in column {name!r} (e.g. {text.iloc[0]!r}) as the "
                     f"first day of each.")
        return parsed
    return None


def _parse_iso(text, name, src, notes, local):
    """ISO-like dates (and ISO weeks, quarters); timestamps with several UTC offsets become
    UTC, and the zone whose rules give them those offsets is appended to ``local``."""
    periods = _parse_periods(text, name, notes)
    if periods is not None:
        return periods
    try:
        parsed = pd.to_datetime(text, format="ISO8601", errors="coerce")
    except ValueError as exc:
        if "Mixed timezones" not in str(exc) and "mixed time" not in str(exc).lower():
            raise
        aware = text.str.contains(_TZ_SUFFIX, regex=True).to_numpy()
        if not aware.all():
            i, j = int(np.argmax(aware)), int(np.argmax(~aware))
            raise DataError(f"time column {name!r} mixes time-zone-aware and naive timestamps "
                            f"({text.iloc[i]!r} at {src.where(i)}, {text.iloc[j]!r} at "
                            f"{src.where(j)}); give every timestamp an offset or none.") \
                from None
        parsed = pd.to_datetime(text, format="ISO8601", errors="coerce", utc=True)
        offsets = sorted(set(text.str.extract(f"({_TZ_SUFFIX[:-4]})\\s*$")[0].dropna()))
        zones = _local_zones(text, parsed)
        local.extend(zones[:1])
        clock = (f"; calendar and holiday features use their local time, whose offsets are "
                 f"those of {describe_zones(zones)}" if zones else
                 "; no time zone has these offsets, so calendar and holiday features use UTC")
        notes.append(f"Timestamps in column {name!r} had several UTC offsets "
                     f"({', '.join(offsets[:4])}); converted them to UTC{clock}.")
        return parsed
    bad = parsed.isna().to_numpy()
    if bad.all() and text.str.match(_DATEISH).mean() >= 0.9:
        parsed = pd.to_datetime(text, format="mixed", errors="coerce")
    return parsed


def _local_zones(text, instants) -> list[str]:
    """The zones whose rules give the parsed ``instants`` (UTC) the wall times ``text``
    shows (:func:`~forecaster.data.zones.recover_zone`); empty if some row did not parse."""
    wall = pd.to_datetime(text.str.replace(_TZ_SUFFIX, "", regex=True), format="ISO8601",
                          errors="coerce")
    if instants.isna().any() or wall.isna().any():
        return []
    instants = pd.DatetimeIndex(instants)
    return recover_zone(instants, pd.DatetimeIndex(wall).as_unit(instants.unit))


def _index(t, unit, tz) -> pd.DatetimeIndex:
    idx = pd.DatetimeIndex(np.asarray(t).astype(f"datetime64[{unit}]"))
    return idx.tz_localize("UTC").tz_convert(tz) if tz else idx


def _infer_offset(codes, t, unit, tz, src, name, rows, counts):
    rep = int(np.argmax(counts))
    lo, hi = np.searchsorted(codes, np.array([rep, rep + 1], dtype=codes.dtype))
    ts = t[lo:hi]
    if len(ts) < 3:
        raise DataError(f"cannot infer the frequency from {len(ts)} timestamp(s); pass {HINT}.",
                        hint=Hint("freq", "--freq (e.g. --freq D)", "freq= (e.g. freq='D')"))
    found = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            f = pd.infer_freq(_index(ts[:2000], unit, tz))
        except (ValueError, TypeError):
            f = None
        if f is None:
            starts = np.unique(np.linspace(0, len(ts) - 5, num=min(25, max(1, len(ts) - 4)),
                                           dtype=np.int64)) if len(ts) >= 5 else []
            for s0 in starts:
                try:
                    g = pd.infer_freq(_index(ts[s0:s0 + 5], unit, tz))
                except (ValueError, TypeError):
                    g = None
                if g is not None:
                    found.append(getattr(g, "freqstr", g))
            if found:
                f = Counter(found).most_common(1)[0][0]
    if f is not None:
        return pd.tseries.frequencies.to_offset(getattr(f, "freqstr", f))
    diffs = np.diff(ts)
    diffs = diffs[diffs > 0]
    step = int(Counter(diffs.tolist()).most_common(1)[0][0])
    td = pd.Timedelta(step, unit=unit)
    if td % pd.Timedelta(days=1) == pd.Timedelta(0):
        return pd.tseries.frequencies.to_offset(f"{td.days}D")
    return pd.tseries.frequencies.to_offset(td)




def _suggest_freq(codes, t, unit) -> str:
    """A round frequency alias at least as coarse as the median spacing (for messages)."""
    d = np.diff(t)[(codes[1:] == codes[:-1])]
    d = d[d > 0]
    if not len(d):
        return "D"
    return _nice_alias(pd.Timedelta(int(np.median(d)), unit=unit))


def _average_freq(codes, t, unit) -> str:
    """A round frequency alias at least as coarse as the average spacing of the series
    (their span over their points, the median over series): the grid that timestamps at
    uneven places within each period (month starts and ends mixed) belong on."""
    counts = _counts(codes)
    ends = np.cumsum(counts) - 1
    starts = ends - counts + 1
    several = counts > 1
    if not several.any():
        return "D"
    spans = (t[ends] - t[starts])[several] / (counts[several] - 1)
    return _nice_alias(pd.Timedelta(int(np.median(spans)), unit=unit))


def _nice_alias(median: pd.Timedelta) -> str:
    """The finest suggestion (:data:`~forecaster.data.frequencies.SUGGESTED`) whose longest
    period holds ``median``."""
    for alias, days in SUGGESTED:
        if pd.Timedelta(days=days) >= median * 0.99:
            return alias
    return "YS"
