"""Reading CSV and Parquet files into a validated :class:`~forecaster.data.panel.Panel`.

:func:`read_panel` is the one boundary where user data is checked.  Anything it cannot turn
into a correct panel raises :class:`~forecaster.errors.DataError` with a one-line message
that names the problem (file, column, series, line) and, where there is one, the flag that
fixes it.  It never raises another exception type for bad data.

Guarantees of the returned panel (those of :mod:`forecaster.data.panel`, established here):

* at least one series; ids are unique, non-empty strings, sorted (``str`` order); a wide
  file gives one series named after its target column;
* every ``values[i]`` is a 1-D ``float64`` array of finite numbers, at least ``min_length``
  long, beginning and ending with an observed (not filled) value;
* timestamps are regular on ``axis``: series ``i`` covers ``axis.range(starts[i], n_i)``;
  ``axis`` is a calendar axis (pandas alias such as ``"MS"``, ``"W-SAT"``, ``"D"``, ``"h"``,
  with ``tz`` set when the file's timestamps carry a zone) or an integer step axis;
* ``notes`` holds one human sentence per repair made (sorting, aggregating, filling,
  trimming, UTC conversion…); nothing is repaired silently.

Reading
    CSV (comma, semicolon with decimal comma, tab or pipe; sniffed), compressed CSV
    (gzip, bz2, xz, zip, zstd; detected from the file's magic bytes), Parquet
    (``.parquet``/``.pq`` or the ``PAR1`` magic).  UTF-8 with or without BOM, UTF-16 and
    UTF-32 with BOM, UTF-16/32 without one (told by the zero bytes of ASCII text, with a
    note); other bytes that are still text are read as Latin-1 (with a note); binary data
    is rejected.  Excel's ``sep=;`` first line names the separator.  Plain CSVs go through
    the multi-threaded pyarrow reader; odd ones fall back to pandas' C, then Python,
    parser.  Line numbers in messages count the header as line 1 (after a ``sep=`` line:
    2); Parquet messages give 1-based row numbers.

Columns
    ``id_col`` (auto: ``unique_id``, ``series_id``, ``id``), ``time_col`` (auto: by name —
    ``ds, date, datetime, time, timestamp, month, week, year, period, day, t, step,
    time_idx`` — else the first column of dates, else an integer first column that is
    strictly increasing per series), ``target`` (auto: ``y``, else the only numeric column;
    several candidates → error listing them).  An auto-detected id column holding a
    different value on every row is a row number and is ignored (note); unnamed columns
    (a saved pandas index) are never target candidates.  Excel workbooks are named as such.

Repair policies
    * Dates: ISO-like formats are read directly.  ``dd/mm/yyyy``-style dates need
      ``dayfirst=True`` — even when some day > 12 makes them unambiguous — so the order is
      never guessed; month-first dates are read only when some day > 12 proves the order
      (with a note) or ``monthfirst=True``; ambiguous ones are an error.
    * Time zones: one zone (or one fixed offset) is kept as ``axis.tz``; several offsets
      (a DST change) are converted to UTC with a note; naive mixed with aware is an error.
    * Values: text in the target column is an error naming the first bad line;
      ``inf``/``-inf`` are treated as missing (note) and then filled like any gap.
    * Unsorted rows are sorted by time within each series (note).
    * Duplicated timestamps within a series are an error unless ``aggregate`` is one of
      ``mean, sum, last, first, max, min`` (note).  A repeated hour at a DST change is a
      duplicate like any other.
    * Frequency: ``pd.infer_freq`` on the longest series (falling back to short windows and
      then to the most common spacing); ``freq`` forces one.  Timestamps off the grid are an
      error, or — with both ``freq`` and ``aggregate`` — are resampled onto it (note).
    * Leading and trailing missing values are trimmed (note).  A series with no values, or
      with more than half of the points between its first and last value missing, is an
      error naming it.  Shorter than ``min_length`` → error naming it.
    * Interior gaps (missing timestamps or values) are filled by ``fill``: ``interpolate``
      (linear) or ``ffill`` only for gaps of at most ``max_gap`` consecutive points (default
      ``max(3, season length)``: 12 monthly, 52 weekly, 7 daily, 24 hourly, 3 for integer
      steps); a longer gap is an error.  ``zero`` fills any gap with 0.  ``none``/``error``
      reject any gap.
"""

from __future__ import annotations

import bz2
import codecs
import csv
import gzip
import hashlib
import io
import lzma
import re
import warnings
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from forecaster.choices import AGGREGATES, READER_FILLS
from forecaster.data.panel import Panel, TimeAxis
from forecaster.errors import DataError

__all__ = ["read_panel", "fingerprint", "FILLS", "AGGREGATES"]

FILLS = READER_FILLS
TIME_NAMES = ("ds", "date", "datetime", "time", "timestamp", "month", "week", "year",
              "period", "day", "t", "step", "time_idx")
ID_NAMES = ("unique_id", "series_id", "id")

_HEAD_BYTES = 1 << 16
_NULLS = ["", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND",
          "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"]
_NULL_TOKENS = {s.lower() for s in _NULLS} | {"nat", "none"}
_MAGIC = [(b"\x1f\x8b", "gzip"), (b"BZh", "bz2"), (b"\xfd7zXZ\x00", "xz"),
          (b"PK\x03\x04", "zip"), (b"\x28\xb5\x2f\xfd", "zstd")]
_LEGACY_FREQ = {"M": "ME", "H": "h", "T": "min", "S": "s", "L": "ms", "U": "us", "N": "ns",
                "A": "YE", "Y": "YE", "Q": "QE", "BM": "BME", "BQ": "BQE", "BA": "BYE",
                "BY": "BYE", "AS": "YS", "BAS": "BYS", "CBM": "CBME"}
_DMY = re.compile(r"^\s*(\d{1,2})([/.-])(\d{1,2})\2(\d{4}|\d{2})(?!\d)(.*)$")
_DATEISH = re.compile(
    r"^\s*(\d{4}[-/.]\d{1,2}([-/.]\d{1,2})?([ T].*)?"
    r"|\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}([ T].*)?"
    r"|.*\b(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\b.*\d{4}.*"
    r"|\d{4}-W\d{2}.*)\s*$", re.IGNORECASE)
_TZ_SUFFIX = r"(?:Z|[+-]\d{2}(?::?\d{2})?)\s*$"
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")    # control characters but \t \n \r


# ---------------------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------------------
def fingerprint(path) -> dict:
    """``{"path", "name", "sha256", "bytes"}`` of a file, hashed in 1 MiB chunks; of a
    DataFrame: no path, and the sha256 of its values and index (pandas' row hashes)."""
    if isinstance(path, pd.DataFrame):
        rows = pd.util.hash_pandas_object(path, index=True).to_numpy()
        return {"path": None, "name": FRAME_NAME, "sha256": hashlib.sha256(
            rows.tobytes()).hexdigest(), "bytes": int(path.memory_usage(deep=True).sum())}
    from forecaster.artifacts import file_sha256

    p = _check_path(path)
    return {"path": str(p.resolve()), "name": p.name, "sha256": file_sha256(p),
            "bytes": p.stat().st_size}


def read_panel(source, *, target=None, time_col=None, id_col=None, freq=None,
               dayfirst=False, fill="interpolate", max_gap=None, aggregate=None, min_length=3,
               monthfirst=False) -> Panel:
    """Read a CSV/Parquet file, or a pandas DataFrame, into a validated :class:`Panel` (see
    the module docstring): the same column detection, checks and messages for both.

    A DataFrame's index joins its columns when it carries data (a ``DatetimeIndex``, named
    levels); the frame itself is never modified.  ``monthfirst=True`` reads ambiguous
    ``mm/dd/yyyy`` dates month-first (the counterpart of ``dayfirst``).  Every problem
    raises :class:`DataError`.
    """
    try:
        return _read_panel(source, target=target, time_col=time_col, id_col=id_col, freq=freq,
                           dayfirst=dayfirst, fill=fill, max_gap=max_gap, aggregate=aggregate,
                           min_length=min_length, monthfirst=monthfirst)
    finally:
        _release_reader_memory()


def _release_reader_memory() -> None:
    """Hand the parser's freed buffers back to the OS.  Arrow's allocator keeps them
    otherwise: after a 10M-row CSV that is ~0.8 GB of resident memory the panel (80 MB)
    no longer uses, which would stack on top of TensorFlow during training."""
    try:
        import pyarrow as pa

        pa.default_memory_pool().release_unused()
    except Exception:  # pragma: no cover - pyarrow missing or an old version
        pass


def _read_panel(source, *, target, time_col, id_col, freq, dayfirst, fill, max_gap,
                aggregate, min_length, monthfirst) -> Panel:
    fill = _check_choice("fill", fill, FILLS)
    if aggregate is not None:
        aggregate = _check_choice("aggregate", aggregate, AGGREGATES)
    if max_gap is not None and (isinstance(max_gap, bool) or not isinstance(max_gap, (int, np.integer))
                                or max_gap < 0):
        raise DataError(f"`max_gap` must be an integer >= 0. Got {max_gap!r}.")
    if isinstance(min_length, bool) or not isinstance(min_length, (int, np.integer)) or min_length < 1:
        raise DataError(f"`min_length` must be an integer >= 1. Got {min_length!r}.")
    if dayfirst and monthfirst:
        raise DataError("`dayfirst` and `monthfirst` cannot both be set.")
    offset = _parse_freq(freq) if freq is not None else None

    if isinstance(source, pd.DataFrame):
        src = _frame_source(source, FRAME_NAME, copy=True)
    else:
        src = _read_table(_check_path(source), id_col)
    df = src.frame
    cols = _pick_columns(df, src, target=target, time_col=time_col, id_col=id_col)
    notes = list(src.notes)
    n = len(df)

    # values ---------------------------------------------------------------------------
    values = src.fast.get(cols.target)
    if not (isinstance(values, np.ndarray) and values.dtype == np.float64):
        values = _to_float(df[cols.target], cols.target, src)
    all_finite = _all_finite(values)    # no inf, nothing missing (kept current until the
    if not all_finite:                  # values are aggregated or resampled)
        inf = np.isinf(values)
        if inf.any():
            values[inf] = np.nan
            notes.append(f"{int(inf.sum())} infinite value(s) in column {cols.target!r} were "
                         f"treated as missing.")

    # time -----------------------------------------------------------------------------
    tcol = df[cols.time]
    if cols.time_kind is None:
        cols.time_kind = _time_kind(tcol)
    if cols.time_kind == "integer":
        t = _to_int_steps(tcol, cols.time, src)
        tz = None
        if offset is not None:
            raise DataError(f"`freq` applies to date columns, but time column {cols.time!r} "
                            f"holds integer steps. Got freq={freq!r}.")
    elif isinstance(src.fast.get(cols.time), np.ndarray):
        stamps = src.fast[cols.time]            # naive datetime64 without NaT, from pyarrow
        t, unit, tz = stamps.view(np.int64), np.datetime_data(stamps.dtype)[0], None
    else:
        if src.reread_time is not None and isinstance(tcol.dtype, pd.DatetimeTZDtype):
            tcol = src.reread_time(cols.time)   # pyarrow folded offsets into UTC: re-parse
        stamps, tz, tnotes = _to_datetime(tcol, cols.time, src, dayfirst, monthfirst)
        notes += tnotes
        t = stamps.asi8
        unit = stamps.unit

    # series ids -----------------------------------------------------------------------
    if cols.id is not None:
        codes, ids = _series_codes(df[cols.id], cols.id, src)
    else:
        codes, ids = np.zeros(n, dtype=np.int8), [str(cols.target) or "value"]
    rows = None     # original row of each entry; None while that is the identity

    # sort -----------------------------------------------------------------------------
    steps = _Steps.of(codes, t)
    if not steps.sorted:
        if len(ids) == 1:
            time_sorted = False
        else:
            o = np.argsort(codes, kind="stable")
            cc, tt = codes[o], t[o]
            time_sorted = bool(np.all((cc[1:] != cc[:-1]) | (tt[1:] >= tt[:-1])))
        order = np.lexsort((t, codes))
        codes, t, values = codes[order], t[order], values[order]
        rows = order if rows is None else rows[order]
        if not time_sorted:
            notes.append("Rows were not in time order; sorted them by time"
                         + (" within each series." if len(ids) > 1 else "."))
        steps = _Steps.of(codes, t)

    def stamp(k):
        if cols.time_kind == "integer":
            return str(int(k))
        ts = pd.Timestamp(int(k), unit=unit, tz="UTC" if tz else None)
        return TimeAxis("datetime", "D", tz=tz).format(ts.tz_convert(tz) if tz else ts)

    # duplicates -----------------------------------------------------------------------
    same = None if steps.unique else (codes[1:] == codes[:-1]) & (t[1:] == t[:-1])
    if same is not None and same.any():
        k = int(np.argmax(same))
        if aggregate is None:
            hint = ""
            if cols.id is None:
                cand = [c for c in df.columns if c not in (cols.time, cols.target)
                        and not pd.api.types.is_numeric_dtype(df[c].dtype)]
                if cand:
                    hint = (" — or --id-col if the file holds several series (e.g. "
                            + ", ".join(repr(c) for c in cand[:3]) + ")")
            raise DataError(
                f"series {ids[codes[k]]!r} has duplicated timestamps: {stamp(t[k])} appears at "
                f"{src.where(_row(rows, k))} and {src.where(_row(rows, k + 1))} ({int(same.sum())} "
                f"duplicate row(s)); pass --aggregate mean|sum|last|first|max|min to "
                f"combine them{hint}.")
        first_row = np.r_[True, ~same]
        gid = np.cumsum(first_row) - 1
        values = _aggregate(pd.Series(values).groupby(gid, sort=False), aggregate)
        codes, t = codes[first_row], t[first_row]
        rows = np.flatnonzero(first_row) if rows is None else rows[first_row]
        notes.append(f"Combined {int(same.sum())} row(s) with duplicated timestamps "
                     f"using {aggregate!r}.")
        steps, all_finite = _Steps.of(codes, t), False
    counts = _counts(codes)         # rows per series (codes are sorted from here on)

    # grid -----------------------------------------------------------------------------
    if cols.time_kind == "integer":
        axis, pos, start_of = _integer_grid(codes, t)
    else:
        if offset is None:
            if counts.max() < min(3, min_length):     # too few to infer, and too short
                s = int(np.argmax(counts))
                raise DataError(f"series {ids[s]!r} has {int(counts[s])} point(s); at least "
                                f"{min_length} are needed.")
            offset = _infer_offset(codes, t, unit, tz, src, cols.time, rows, counts)
        grid = _datetime_grid(codes, t, unit, tz, offset, counts, steps)
        if grid.bad is not None:
            k = grid.bad
            if freq is None:
                alias = _suggest_freq(codes, t, unit)
                raise DataError(
                    f"timestamps in column {cols.time!r} are irregular: {stamp(t[k])} at "
                    f"{src.where(_row(rows, k))} is not on a regular grid; pass --freq {alias} "
                    f"--aggregate mean (or another frequency) to resample onto one.")
            if aggregate is None:
                raise DataError(
                    f"timestamps in column {cols.time!r} are not on the regular "
                    f"{offset.freqstr!r} grid: {stamp(t[k])} at {src.where(_row(rows, k))}; add "
                    f"--aggregate mean (or sum, last, …) to resample them onto it.")
            codes, t, values = _resample(codes, t, values, unit, tz, offset, aggregate)
            all_finite = False
            rows = np.full(len(t), -1, dtype=np.int64)
            notes.append(f"Resampled timestamps onto the regular {offset.freqstr!r} grid "
                         f"using {aggregate!r}.")
            grid = _datetime_grid(codes, t, unit, tz, offset)
            if grid.bad is not None:     # cannot happen for pandas' own bins; be safe
                raise DataError(f"cannot resample column {cols.time!r} onto the "
                                f"{offset.freqstr!r} grid.")
        axis = TimeAxis("datetime", offset.freqstr, tz=tz)
        pos, start_of = grid.pos, grid.start_of
        if pos is None and not (grid.contiguous is not None
                                and (all_finite or np.all(~np.isnan(values)))):
            pos = grid.positions(codes)

    # extents, missing, trimming -------------------------------------------------------
    S = len(ids)
    valid = None if all_finite else ~np.isnan(values)
    all_valid = all_finite or bool(valid.all())
    count = _counts(codes if all_valid else codes[valid], S)
    if (count == 0).any():
        s = int(np.argmax(count == 0))
        raise DataError(f"series {ids[s]!r} has no values in column {cols.target!r} "
                        f"(all missing).")
    if pos is None:                 # every series contiguous on the grid, nothing missing
        cv, vv = codes, values
        first = grid.contiguous
        length = count.astype(np.int64)
        last = first + length - 1
    else:
        cv, pv, vv = (codes, pos, values) if all_valid else (codes[valid], pos[valid], values[valid])
        lo = np.searchsorted(cv, np.arange(S, dtype=cv.dtype), "left")
        hi = np.searchsorted(cv, np.arange(S, dtype=cv.dtype), "right") - 1
        first, last = pv[lo], pv[hi]
        length = last - first + 1
    if all_valid:
        trimmed = 0
    else:
        invalid = ~valid
        trimmed = int(np.sum((pos[invalid] < first[codes[invalid]])
                             | (pos[invalid] > last[codes[invalid]])))
    if trimmed:
        notes.append(f"Trimmed {trimmed} leading/trailing missing value(s).")
    missing = length - count
    frac = missing / length
    if (frac > 0.5).any():
        s = int(np.argmax(frac))
        hint = ""
        if freq is None and cols.time_kind != "integer":
            alias = _average_freq(codes, t, unit)
            if alias != axis.freq:
                hint = (f"; if the timestamps belong to {alias!r} periods (month starts and "
                        f"ends mixed, say), pass --freq {alias} --aggregate mean")
        raise DataError(
            f"series {ids[s]!r} is mostly missing: {int(missing[s])} of {int(length[s])} points "
            f"between {axis.format(start_of(first[s]))} and {axis.format(start_of(last[s]))} "
            f"have no value ({frac[s]:.0%}); more than 50% missing cannot be filled "
            f"reliably{hint}.")
    if (length < min_length).any():
        s = int(np.argmin(length))
        raise DataError(f"series {ids[s]!r} has {int(length[s])} point(s); at least "
                        f"{min_length} are needed.")

    # reindex and fill -----------------------------------------------------------------
    offs = np.zeros(S, dtype=np.int64)
    np.cumsum(length[:-1], out=offs[1:])
    if np.array_equal(length, count):      # no gaps: values are already in place
        out, gaps = vv, None
    else:
        out = np.full(int(length.sum()), np.nan)
        out[offs[cv] + pv - first[cv]] = vv
        gaps = np.isnan(out)
    filled = gaps is not None and gaps.any()
    if filled:
        season = axis.season() or 1
        limit = max(3, season) if max_gap is None else int(max_gap)
        out, note = _fill(out, gaps, offs, ids, fill, limit, lambda s, j: axis.format(
            start_of(first[s] + j)))
        notes.append(note)
    # without filling, ``out`` holds only the read values, which are finite when all_finite
    if (filled or not all_finite) and not np.all(np.isfinite(out)):
        j = int(np.argmax(~np.isfinite(out)))
        s = int(np.searchsorted(offs, j, "right") - 1)
        raise DataError(f"series {ids[s]!r}: filling a gap next to huge values overflowed to "
                        f"infinity; fill the gap in the file or use --fill ffill.")

    return Panel(
        ids=tuple(ids),
        starts=tuple(start_of(f) for f in first),
        values=tuple(np.split(out, offs[1:])),
        axis=axis,
        target=str(cols.target),
        time_col=str(cols.time),
        id_col=None if cols.id is None else str(cols.id),
        notes=tuple(notes),
    )


# ---------------------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------------------
@dataclass
class _Source:
    frame: pd.DataFrame
    name: str
    parquet: bool = False
    notes: list = field(default_factory=list)
    reread_time: object = None     # callable(col) -> str Series, for the pyarrow path
    fast: dict = field(default_factory=dict)   # column -> NumPy data (see _arrow_frame)
    skipped: int = 0               # lines before the header (Excel's "sep=," line)

    def where(self, i) -> str:
        i = int(i)
        if i < 0:
            return "a resampled point"
        return f"row {i + 1}" if self.parquet else f"line {i + 2 + self.skipped}"


def _check_choice(name, value, choices):
    v = str(value).strip().lower() if isinstance(value, str) else value
    if v not in choices:
        raise DataError(f"`{name}` must be one of {', '.join(choices)}. Got {value!r}.")
    return v


def _check_path(path) -> Path:
    try:
        p = Path(path)
    except TypeError:
        raise DataError(f"the data must be a file path or a pandas DataFrame. Got "
                        f"{type(path).__name__}.") from None
    if not p.exists():
        raise DataError(f"file not found: '{p}'.")
    if p.is_dir():
        raise DataError(f"'{p}' is a directory, not a data file.")
    if not p.is_file():
        raise DataError(f"'{p}' is not a regular file (a device, a pipe or a socket); save "
                        "the data to a file first.")
    return p


def _parse_freq(freq):
    text = str(freq).strip()
    m = re.fullmatch(r"(\d*)([A-Za-z]+)(-[A-Za-z]+)?", text)
    tries = [text]
    if m and m.group(2) in _LEGACY_FREQ:
        tries.append(m.group(1) + _LEGACY_FREQ[m.group(2)] + (m.group(3) or ""))
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


def _read_table(p: Path, id_col=None) -> _Source:
    size = p.stat().st_size
    if size == 0:
        raise DataError(f"'{p.name}' is empty (0 bytes).")
    with open(p, "rb") as fh:
        magic = fh.read(8)
    if magic.startswith(b"PAR1") or p.suffix.lower() in (".parquet", ".pq"):
        return _read_parquet(p)
    compression = next((c for m, c in _MAGIC if magic.startswith(m)), None)
    if compression:
        _check_expansion(p, compression, size)
    head, truncated = _head(p, compression)
    if not head.strip():
        raise DataError(f"'{p.name}' is empty (no header, no data).")
    encoding, text, notes = _decode(head, p.name)
    return _read_csv(p, compression, encoding, text, truncated, notes, id_col)


#: A compressed file may expand this many times (CSV compresses 3-15x; a decompression
#: bomb thousands of times) once it is larger than EXPANSION_FREE, and never beyond
#: MAX_DECOMPRESSED.
MAX_EXPANSION = 100
EXPANSION_FREE = 256 << 20
MAX_DECOMPRESSED = 8 << 30


def _open_compressed(p: Path, compression):
    """A binary stream of the decompressed content of ``p``."""
    if compression == "zip":
        zf = zipfile.ZipFile(p)
        names = [n for n in zf.namelist() if not n.endswith("/")]
        return zf.open(names[0]) if names else io.BytesIO()
    if compression == "zstd":
        import pyarrow as pa

        return pa.input_stream(str(p), compression="zstd")
    return {"gzip": gzip.open, "bz2": bz2.open, "xz": lzma.open}[compression](p, "rb")


def _check_expansion(p: Path, compression, size: int) -> None:
    """Refuse a compressed file that expands beyond :data:`MAX_EXPANSION` times its size
    (past :data:`EXPANSION_FREE`) or :data:`MAX_DECOMPRESSED`, by decompressing it once
    up to the limit (never holding it): a 580 KB file expanding to 300 MB used 3.4 GB."""
    limit = min(MAX_DECOMPRESSED, max(EXPANSION_FREE, MAX_EXPANSION * size))
    total = 0
    try:
        with _open_compressed(p, compression) as fh:
            while True:
                chunk = fh.read(1 << 20)
                if not chunk:
                    return
                total += len(chunk)
                if total > limit:
                    break
    except DataError:
        raise
    except Exception:  # corrupt archive: _head reports it with the decompressor's words
        return
    raise DataError(f"'{p.name}' expands to more than {limit >> 20:,} MB from {size:,} bytes "
                    f"({compression}); refusing a likely decompression bomb. Decompress it "
                    "yourself if the data are genuine.")


def _head(p: Path, compression):
    try:
        if compression == "zip":
            with zipfile.ZipFile(p) as zf:
                names = [n for n in zf.namelist() if not n.endswith("/")]
                if "[Content_Types].xml" in names:
                    raise DataError(f"'{p.name}' is an Excel/Office file; save the sheet as CSV "
                                    f"first.")
                if not names:
                    raise DataError(f"'{p.name}' is an empty zip archive.")
                with zf.open(names[0]) as fh:
                    data = fh.read(_HEAD_BYTES + 1)
        elif compression == "zstd":
            import pyarrow as pa
            with pa.input_stream(str(p), compression="zstd") as fh:
                data = fh.read(_HEAD_BYTES + 1)
        else:
            opener = {"gzip": gzip.open, "bz2": bz2.open, "xz": lzma.open}.get(compression, open)
            with opener(p, "rb") as fh:
                data = fh.read(_HEAD_BYTES + 1)
    except DataError:
        raise
    except Exception as exc:  # corrupt archive: any decompressor error
        raise DataError(f"cannot decompress '{p.name}' ({compression}): "
                        f"{_first_line(exc)}.") from None
    return data[:_HEAD_BYTES], len(data) > _HEAD_BYTES


def _unicode_width(head: bytes) -> str | None:
    """The UTF-16/32 encoding of a text without a byte-order mark, told by its zero bytes
    (ASCII characters, as CSV punctuation and digits are, leave 1 or 3 zeros in 2 or 4
    bytes, always at the same positions); None when the text is not laid out like that."""
    n = len(head) // 4 * 4
    if n < 8:
        return None
    lanes = [head[k:n:4].count(0) / (n // 4) for k in range(4)]
    zero, text = [v > 0.9 for v in lanes], [v < 0.1 for v in lanes]
    if zero[1] and zero[2] and zero[3] and text[0]:
        return "utf-32-le"
    if zero[0] and zero[1] and zero[2] and text[3]:
        return "utf-32-be"
    if zero[1] and zero[3] and text[0] and text[2]:
        return "utf-16-le"
    if zero[0] and zero[2] and text[1] and text[3]:
        return "utf-16-be"
    return None


def _decode(head: bytes, name: str):
    notes = []
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        encoding = "utf-32"   # before UTF-16: the UTF-32-LE mark starts with UTF-16-LE's
    elif head.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"
    elif head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    else:
        encoding = _unicode_width(head) or "utf-8"
        if encoding != "utf-8":
            notes.append(f"'{name}' has no byte-order mark; read it as "
                         f"{encoding.upper()}.")
    try:
        text = codecs.getincrementaldecoder(encoding)().decode(head, final=False)
    except UnicodeDecodeError:
        encoding, text = None, head.decode("latin-1")
    control = len(_CONTROL.findall(text))
    if "\x00" in text or control > max(2, len(text) // 100):
        raise DataError(f"'{name}' does not look like a CSV or Parquet file (it contains "
                        f"binary data).")
    if encoding is None:
        encoding = "latin-1"
        notes.append(f"'{name}' is not valid UTF-8; read it as Latin-1.")
    return encoding, text.lstrip("\ufeff"), notes


def _sniff(text: str, truncated: bool, candidates=(",", ";", "\t", "|")):
    rows_by = {}
    best = None
    for sep in candidates:
        try:
            if sep != ",":      # a header of one field rules the separator out: skip the rest
                first = next((r for r in csv.reader(io.StringIO(text), delimiter=sep) if r),
                             None)
                if first is None or len(first) < 2:
                    continue
            rows = [r for r in csv.reader(io.StringIO(text), delimiter=sep) if r]
        except csv.Error:
            continue
        if truncated and len(rows) > 1:
            rows = rows[:-1]
        rows_by[sep] = rows
        if not rows or len(rows[0]) < 2:
            continue
        width = len(rows[0])
        body = rows[1:]
        consistent = (sum(len(r) == width for r in body) / len(body)) if body else 1.0
        score = (consistent, width)
        if best is None or score > best[0]:
            best = (score, sep)
    sep = best[1] if best else ","
    return sep, rows_by.get(sep, [])


#: Excel's first line naming the separator ("sep=;"), before the header
_SEP_LINE = re.compile(r"sep=([^\r\n\w\"'])[ \t]*(\r\n|\r|\n)")


def _read_csv(p, compression, encoding, text, truncated, notes, id_col=None) -> _Source:
    name = p.name
    hint = _SEP_LINE.match(text)
    skip = 1 if hint else 0
    if hint:
        text = text[hint.end():]
    sep, rows = _sniff(text, truncated, (hint.group(1),) if hint else (",", ";", "\t", "|"))
    header = rows[0] if rows else []
    dupes = [c for c, k in Counter(header).items() if k > 1]
    if dupes:
        raise DataError(f"column names in '{name}' must be unique; {dupes[0]!r} appears "
                        f"{header.count(dupes[0])} times.")
    # a row wider than the header (checked here for the sampled lines; the parsers report
    # the rest, but pandas silently drops extra fields on the very first data row)
    if rows:
        physical = _line_numbers(text, sep)
        for k, r in enumerate(rows[1:], start=1):
            if len(r) > len(header):
                line = (physical[k] if k < len(physical) else k + 1) + skip
                raise DataError(f"'{name}' line {line} has {len(r)} fields but the header has "
                                f"{len(header)} (ragged rows); every row needs the same "
                                f"number of fields.")
    decimal, thousands = ".", None
    if sep != ",":
        cells = [c.strip() for r in rows[1:200] for c in r]
        if any(re.fullmatch(r"[+-]?\d+,\d+", c) for c in cells):
            decimal = ","
            if any(re.fullmatch(r"[+-]?\d{1,3}(\.\d{3})+(,\d+)?", c) for c in cells):
                thousands = "."
    string_cols = [c for c in header if c.strip().lower() in ID_NAMES or c == id_col]

    if encoding in ("utf-8", "utf-8-sig") and decimal == "." and compression in (None, "gzip", "bz2", "zstd"):
        multiline = any("\n" in c or "\r" in c for r in rows for c in r)
        fast = {}
        frame = _read_pyarrow(p, compression, sep, string_cols, quoted=multiline,
                              dictionary=True, fast=fast, skip=skip)
        if frame is not None:
            if len(frame) == 0:
                raise DataError(f"'{name}' has a header but no data rows.")

            def reread(col):
                return _read_pyarrow(p, compression, sep, [col], quoted=multiline,
                                     only=col, skip=skip)[col]
            return _Source(frame, name, notes=notes, reread_time=reread, fast=fast,
                           skipped=skip)
    frame = _read_pandas(p, compression, encoding, sep, decimal, thousands, string_cols,
                         skip)
    if len(frame) == 0:
        raise DataError(f"'{name}' has a header but no data rows.")
    return _Source(frame, name, notes=notes, skipped=skip)


def _line_numbers(text, sep):
    """Physical line number (1-based) of each non-empty CSV record in ``text``."""
    out, reader = [], csv.reader(io.StringIO(text), delimiter=sep)
    prev = 0
    try:
        for r in reader:
            if r:
                out.append(prev + 1)
            prev = reader.line_num
    except csv.Error:
        pass
    return out


def _read_pyarrow(p, compression, sep, string_cols, quoted, only=None, dictionary=False,
                  fast=None, skip=0):
    import pyarrow as pa
    import pyarrow.csv as pacsv

    try:
        # the compression the magic bytes named (None: plain), never one guessed from the
        # file name: a plain CSV named .csv.gz is plain
        source = pa.input_stream(str(p), compression=compression)
        convert = pacsv.ConvertOptions(
            # series ids arrive dictionary-encoded (a Categorical): factorised for free
            column_types={c: pa.dictionary(pa.int32(), pa.string()) if dictionary
                          else pa.string() for c in string_cols},
            null_values=_NULLS, strings_can_be_null=True, quoted_strings_can_be_null=True,
            include_columns=[only] if only else None)
        table = pacsv.read_csv(
            source,
            read_options=pacsv.ReadOptions(block_size=_block_size(p), skip_rows=skip),
            parse_options=pacsv.ParseOptions(delimiter=sep, newlines_in_values=quoted),
            convert_options=convert)
        mapping = {pa.string(): pd.StringDtype(na_value=np.nan),
                   pa.large_string(): pd.StringDtype(na_value=np.nan)}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if fast is None or len(set(table.column_names)) < table.num_columns:
                return table.to_pandas(date_as_object=False, types_mapper=mapping.get)
            return _arrow_frame(table, fast, mapping)
    except (pa.ArrowException, ValueError, TypeError, OverflowError):
        return None     # odd file: let pandas' parsers read it and explain what is wrong


def _block_size(p) -> int:
    """Bytes per parsing block: ~24 blocks keep both threads busy on a mid-size file, while
    16 MiB blocks on a big one cost less CPU and memory than many small ones."""
    try:
        size = p.stat().st_size
    except OSError:
        size = 0
    return int(min(1 << 24, max(1 << 20, size // 24)))


def _arrow_frame(table, fast, mapping) -> pd.DataFrame:
    """``table.to_pandas()``, column by column, keeping what the panel needs as plain NumPy.

    Float and naive timestamp columns become one writeable array each (the frame's column
    is a view of it, so the values need no further copy); dictionary-encoded string columns
    become a Categorical whose codes (nulls -1) and labels are kept too.  ``fast`` receives
    ``{column: array}`` and ``{column: (codes, labels)}``.  Each Arrow column is dropped as
    soon as it is converted, so the table and the frame never coexist in full.
    """
    import pyarrow as pa

    names, columns = table.column_names, table.columns
    del table
    out = {}
    for i, name in enumerate(names):
        col, columns[i] = columns[i], None
        typ = col.type
        if not len(col):
            pass
        elif typ == pa.float64():
            if col.null_count:
                col = col.fill_null(np.nan)         # as to_pandas gives them
            arr = fast[name] = _pool_numpy(col, np.float64)
            out[name] = pd.Series(arr, name=name, copy=False)
        elif pa.types.is_timestamp(typ) and typ.tz is None and not col.null_count:
            arr = fast[name] = _pool_numpy(col, np.int64).view(f"M8[{typ.unit}]")
            out[name] = pd.Series(arr, name=name, copy=False)
        elif pa.types.is_dictionary(typ) and pa.types.is_string(typ.value_type):
            col = col.unify_dictionaries()
            # plain object labels: building pandas' Arrow-backed strings costs ~5 ms up front
            labels = pd.Index(col.chunks[0].dictionary.to_pylist(), dtype=object)
            dtype = np.dtype(_code_dtype(len(labels)))
            idx = pa.chunked_array([chunk.indices for chunk in col.chunks])
            if idx.null_count:
                idx = idx.fill_null(-1)
            codes = _pool_numpy(idx.cast(pa.from_numpy_dtype(dtype)), dtype)
            fast[name] = (codes, labels)     # shared with the Categorical (same dtype)
            out[name] = pd.Series(pd.Categorical.from_codes(codes, categories=labels,
                                                            validate=False),
                                  name=name, copy=False)
        if name not in out:
            out[name] = pa.table({name: col}).to_pandas(
                date_as_object=False, types_mapper=mapping.get)[name]
        del col
    # object column labels: a str Index would build pandas' Arrow strings (~5 ms up front)
    frame = pd.DataFrame(dict(enumerate(out[name] for name in names)), copy=False)
    frame.columns = pd.Index(names, dtype=object)
    return frame


def _pool_numpy(col, dtype) -> np.ndarray:
    """The chunks of ``col`` (no nulls, fixed width) as one writeable NumPy array of
    ``dtype``, concatenated in Arrow's memory pool: that reuses the pages the CSV parser has
    just freed, where a new 80 MB NumPy array faults in every page afresh (several times
    slower in a fresh process)."""
    import pyarrow as pa

    arr = col.chunk(0) if col.num_chunks == 1 else pa.concat_arrays(col.chunks)
    dtype = np.dtype(dtype)
    out = np.frombuffer(arr.buffers()[1], dtype=dtype, count=len(arr),
                        offset=arr.offset * dtype.itemsize)
    return out if out.flags.writeable else out.copy()


def _code_dtype(n_labels):
    """The integer type pandas gives the codes of a Categorical with ``n_labels``
    categories (so that it can share them): int8 below 127, int16 below 32767, …"""
    for dtype in (np.int8, np.int16, np.int32):
        if n_labels < np.iinfo(dtype).max:
            return dtype
    return np.int64


def _read_pandas(p, compression, encoding, sep, decimal, thousands, string_cols, skip=0):
    name = p.name
    kwargs = dict(sep=sep, decimal=decimal, thousands=thousands, encoding=encoding,
                  skiprows=skip,
                  compression=compression, dtype={c: str for c in string_cols},
                  index_col=False, on_bad_lines="error", skipinitialspace=False)
    last = None
    for engine in ("c", "python"):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return pd.read_csv(p, engine=engine, **kwargs)
        except pd.errors.EmptyDataError:
            raise DataError(f"'{name}' is empty (no header, no data).") from None
        except UnicodeError as exc:
            raise DataError(f"cannot decode '{name}' as {encoding}: {_first_line(exc)}.") from None
        except (pd.errors.ParserError, ValueError, csv.Error, OverflowError) as exc:
            m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
            if m:
                raise DataError(f"'{name}' line {m.group(2)} has {m.group(3)} fields but the "
                                f"header has {m.group(1)} (ragged rows); every row needs the "
                                f"same number of fields.") from None
            last = exc
        except Exception as exc:  # decompression and I/O errors from inside pandas
            last = exc
    raise DataError(f"cannot parse '{name}' as CSV: {_first_line(last)}.")


def _read_parquet(p: Path) -> _Source:
    try:
        frame = pd.read_parquet(p)
    except Exception as exc:  # pyarrow raises many types for a broken file
        raise DataError(f"cannot read '{p.name}' as Parquet: {_first_line(exc)}.") from None
    return _frame_source(frame, p.name, copy=False)


#: How messages name a DataFrame handed to :func:`read_panel`.
FRAME_NAME = "DataFrame"


def _frame_source(frame: pd.DataFrame, name: str, copy: bool) -> _Source:
    """A table already in memory (read from Parquet, or handed over from Python): an index
    that carries data (a ``DatetimeIndex``, named levels, as a wide frame indexed by time
    has) becomes columns, names become strings and must be unique, one row at least.
    ``copy``: the frame is someone else's, so later steps must not write into it."""
    index = frame.index
    plain = isinstance(index, pd.RangeIndex) or (
        index.nlevels == 1 and index.name is None and not isinstance(index, pd.DatetimeIndex))
    frame = frame.reset_index(drop=plain)
    if copy:
        frame = frame.copy(deep=True)
    frame.columns = [str(c) for c in frame.columns]
    if frame.columns.duplicated().any():
        c = frame.columns[frame.columns.duplicated()][0]
        raise DataError(f"column names in '{name}' must be unique; {c!r} appears twice.")
    if len(frame) == 0:
        raise DataError(f"'{name}' has no data rows.")
    return _Source(frame, name, parquet=True)


def _first_line(exc) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


# ---------------------------------------------------------------------------------------
# columns
# ---------------------------------------------------------------------------------------
@dataclass
class _Columns:
    time: str
    target: str
    id: str | None
    time_kind: str | None = None


def _resolve(df, name, what, flag, src):
    cols = list(df.columns)
    if name in cols:
        return name
    folded = [c for c in cols if str(c).strip().lower() == str(name).strip().lower()]
    if len(folded) == 1:
        return folded[0]
    raise DataError(f"`{what}` must name a column of '{src.name}'. Got {name!r}; the columns "
                    f"are: {', '.join(repr(c) for c in cols)} (use {flag}).")


def _pick_columns(df, src, *, target, time_col, id_col) -> _Columns:
    cols = list(df.columns)
    low = {}
    for c in cols:
        low.setdefault(str(c).strip().lower(), c)

    if id_col is not None:
        idc = _resolve(df, id_col, "id_col", "--id-col", src)
    else:
        idc = next((low[k] for k in ID_NAMES if k in low), None)
        head = df[idc].iloc[:1000] if idc is not None else None
        if (idc is not None and len(df) >= 3 and head.nunique(dropna=False) == len(head)
                and df[idc].nunique(dropna=False) == len(df)):
            # a different value on every row: a row number, not a series id
            src.notes.append(f"Ignored column {idc!r}: every row has a different value, so "
                             f"it is a row id, not a series id (use --id-col to insist).")
            df = df.drop(columns=[idc])
            cols = list(df.columns)
            idc = None

    kind = None
    if time_col is not None:
        tc = _resolve(df, time_col, "time_col", "--time-col", src)
    else:
        tc = next((low[k] for k in TIME_NAMES if k in low and low[k] != idc), None)
        if tc is None:
            tc = next((c for c in cols if c != idc and _looks_like_dates(df[c])), None)
            kind = "datetime" if tc is not None else None
        if tc is None:
            first = next((c for c in cols if c != idc), None)
            if first is not None and _increasing_ints(df[first], df[idc] if idc else None):
                tc, kind = first, "integer"
        if tc is None:
            raise DataError(f"no time column found in '{src.name}' (columns: "
                            f"{', '.join(repr(c) for c in cols)}); pass --time-col NAME.")
    if idc is not None and idc == tc:
        raise DataError(f"the series id column and the time column must differ. Got "
                        f"{idc!r} for both.")

    rest = [c for c in cols if c not in (tc, idc)]
    named = [c for c in rest if not re.fullmatch(r"\s*|Unnamed: \d+", str(c))]
    if named:
        rest = named            # an unnamed column is a saved index, not a value column
    if target is not None:
        tg = _resolve(df, target, "target", "--target", src)
        if tg in (tc, idc):
            raise DataError(f"`target` must be a value column, not the "
                            f"{'time' if tg == tc else 'series id'} column. Got {tg!r}.")
    elif "y" in rest:
        tg = "y"
    elif len(rest) == 1:
        tg = rest[0]
    else:
        numeric = [c for c in rest if _looks_numeric(df[c])]
        if len(numeric) == 1:
            tg = numeric[0]
        elif numeric:
            raise DataError(f"'{src.name}' has {len(numeric)} numeric columns; pass --target "
                            f"with one of: {', '.join(repr(c) for c in numeric)}.")
        elif rest:
            raise DataError(f"'{src.name}' has no numeric value column (columns: "
                            f"{', '.join(repr(c) for c in cols)}); pass --target NAME.")
        else:
            raise DataError(f"'{src.name}' has no value column besides the time column "
                            f"{tc!r}.")
    return _Columns(time=tc, target=tg, id=idc, time_kind=kind)


def _looks_numeric(s: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(s.dtype) or pd.api.types.is_numeric_dtype(s.dtype):
        return True
    if not (pd.api.types.is_string_dtype(s.dtype) or s.dtype == object):
        return False
    sample = s.dropna().head(200)
    if sample.empty:
        return False
    return pd.to_numeric(sample.astype(str), errors="coerce").notna().mean() >= 0.5


def _looks_like_dates(s: pd.Series) -> bool:
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        return True
    if not (pd.api.types.is_string_dtype(s.dtype) or s.dtype == object):
        return False
    sample = s.dropna().head(50).astype(str)
    if sample.empty:
        return False
    return bool(sample.str.match(_DATEISH).mean() >= 0.9)


def _increasing_ints(s: pd.Series, ids) -> bool:
    if not pd.api.types.is_integer_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype):
        return False
    v = s.to_numpy(dtype=np.int64)
    if len(v) < 2:
        return False
    if ids is None:
        return bool(np.all(np.diff(v) > 0))
    codes = pd.factorize(ids)[0]
    o = np.argsort(codes, kind="stable")
    same = codes[o][1:] == codes[o][:-1]
    return bool(np.all(np.diff(v[o])[same] > 0))


def _time_kind(s: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(s.dtype):
        return "datetime"       # will fail to parse with a clear message
    if pd.api.types.is_integer_dtype(s.dtype):
        return "integer"
    if pd.api.types.is_float_dtype(s.dtype):
        return "integer"
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        return "datetime"
    sample = s.dropna().astype(str).str.strip()
    if len(sample) and sample.str.fullmatch(r"[+-]?\d+").all():
        return "integer"
    return "datetime"


# ---------------------------------------------------------------------------------------
# values, ids, timestamps
# ---------------------------------------------------------------------------------------
def _to_float(s: pd.Series, name, src) -> np.ndarray:
    if pd.api.types.is_bool_dtype(s.dtype) or pd.api.types.is_numeric_dtype(s.dtype):
        out = s.to_numpy(dtype=np.float64, na_value=np.nan)
        return out if out.flags.writeable else out.copy()
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        raise DataError(f"values in column {name!r} must be numbers. Got dates "
                        f"(e.g. {str(s.iloc[0])!r}).")
    text = s.astype("str")
    num = pd.to_numeric(text.str.strip(), errors="coerce")
    bad = num.isna() & s.notna() & ~text.str.strip().str.lower().isin(_NULL_TOKENS)
    if bad.any():
        i = int(np.argmax(bad.to_numpy()))
        raise DataError(f"values in column {name!r} must be numbers. Got {str(s.iloc[i])!r} "
                        f"at {src.where(i)} (text mixed into the value column).")
    out = num.to_numpy(dtype=np.float64, na_value=np.nan)
    return out if out.flags.writeable else out.copy()


def _series_codes(s: pd.Series, name, src):
    """Integer codes of the series ids, numbered in sorted order of the id strings."""
    if isinstance(src.fast.get(name), tuple):
        codes, labels = src.fast[name]         # codes straight from pyarrow
    elif isinstance(s.dtype, pd.CategoricalDtype):
        codes, labels = s.cat.codes.to_numpy(), s.cat.categories
    else:
        codes, labels = pd.factorize(s)
    labels = np.array([str(x) for x in labels] + [""], dtype=object)   # code -1 -> ""
    blank = np.array([not x.strip() for x in labels], dtype=bool)
    ordered = len(codes) > 0 and _nondecreasing(codes)     # rows grouped by id, ids in order
    if blank[:-1].any() or (codes[0] < 0 if ordered else (codes < 0).any()):
        i = int(np.argmax(blank[codes]))
        raise DataError(f"series ids in column {name!r} must be non-empty. Got an empty id at "
                        f"{src.where(i)}.")
    if ordered:
        used = np.r_[_counts(codes, len(labels) - 1), 0] > 0
    else:
        used = np.zeros(len(labels), dtype=bool)
        used[codes] = True      # (np.bincount would cast narrow codes to intp: 8x the memory)
    uniq, inverse = np.unique(labels[used], return_inverse=True)   # also merges 1 and "1"
    if used[:-1].all() and np.array_equal(inverse, np.arange(len(labels) - 1)):
        return codes, [str(u) for u in uniq]      # already in sorted order
    mapping = np.full(len(labels), -1, dtype=codes.dtype)
    mapping[used] = inverse
    return mapping[codes], [str(u) for u in uniq]


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


def _to_datetime(s: pd.Series, name, src, dayfirst, monthfirst):
    """Parse the time column; returns (DatetimeIndex, tz name or None, notes)."""
    notes = []
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        idx = pd.DatetimeIndex(s)
        if idx.isna().any():
            i = int(np.argmax(idx.isna()))
            raise DataError(f"time column {name!r} has no timestamp at {src.where(i)}.")
        tz = None if idx.tz is None else str(idx.tz)
        return idx, tz, notes
    text = s.astype("str").str.strip()
    empty = (s.isna() | (text == "")).to_numpy()
    if empty.any():
        i = int(np.argmax(empty))
        raise DataError(f"time column {name!r} has no timestamp at {src.where(i)}.")
    looks_dmy = text.iloc[:2000].str.match(_DMY).mean() > 0.5     # decide on a sample
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if looks_dmy:
                ex = text.str.extract(_DMY)
                dmy = ex[0].notna().to_numpy()
                parsed = _parse_dmy(text, ex, dmy, name, src, dayfirst, monthfirst, notes)
            else:
                parsed = _parse_iso(text, name, src, notes)
    except (ValueError, OverflowError, TypeError) as exc:
        raise DataError(f"cannot parse the dates in column {name!r}: {_first_line(exc)}.") \
            from None
    bad = parsed.isna().to_numpy()
    if bad.any():
        i = int(np.argmax(bad))
        raise DataError(f"cannot parse {str(s.iloc[i])!r} at {src.where(i)} as a date (time "
                        f"column {name!r}).")
    idx = pd.DatetimeIndex(parsed)
    return idx, (None if idx.tz is None else str(idx.tz)), notes


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
                        f"{src.where(i)}); pass --dayfirst to read them as day/month/year.")
    elif (b > 12).any():
        i = int(np.argmax(b > 12))
        first = "month"
        notes.append(f"Read dates in column {name!r} as month/day/year (e.g. "
                     f"{text.iloc[i]!r}).")
    else:
        raise DataError(f"dates in column {name!r} are ambiguous: {text.iloc[0]!r} at "
                        f"{src.where(0)} could be day/month or month/day; pass --dayfirst if "
                        f"the day comes first, --monthfirst if the month does, or write "
                        f"dates as YYYY-MM-DD.")
    sep = ex[1].iloc[0]
    year = "%Y" if len(ex[3].iloc[0]) == 4 else "%y"
    fmt = (f"%d{sep}%m{sep}{year}" if first == "day" else f"%m{sep}%d{sep}{year}")
    if (ex[4].str.strip() == "").all():
        return pd.to_datetime(text, format=fmt, errors="coerce")
    return pd.to_datetime(text, format="mixed", dayfirst=first == "day", errors="coerce")


def _parse_iso(text, name, src, notes):
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
        notes.append(f"Timestamps in column {name!r} had several UTC offsets "
                     f"({', '.join(offsets[:4])}); converted them to UTC.")
        return parsed
    bad = parsed.isna().to_numpy()
    if bad.all() and text.str.match(_DATEISH).mean() >= 0.9:
        parsed = pd.to_datetime(text, format="mixed", errors="coerce")
    return parsed


# ---------------------------------------------------------------------------------------
# sorting, frequency, grid
# ---------------------------------------------------------------------------------------
def _row(rows, k) -> int:
    return int(k) if rows is None else int(rows[k])


_BLOCK = 1 << 16     # rows per block of a scan: its temporaries stay in cache


@dataclass
class _Steps:
    """Whether rows are sorted by series, then time, and the smallest and largest step
    between consecutive timestamps of one series; computed in blocks that stay in cache."""
    sorted: bool
    lo: int | None = None      # None: no two rows of the same series (or not sorted)
    hi: int | None = None

    @classmethod
    def of(cls, codes, t) -> "_Steps":
        n = len(t)
        if not _nondecreasing(codes):
            return cls(False)
        if n < 2:
            return cls(True)
        if int(t.max()) - int(t.min()) > np.iinfo(np.int64).max:
            return cls._wrapping(codes, t)
        # pairs (k, k + 1) that cross from one series to the next
        ends = np.unique(np.searchsorted(codes, np.arange(int(codes[0]) + 1, int(codes[-1]) + 1,
                                                          dtype=codes.dtype)) - 1)
        if len(ends) == n - 1:
            return cls(True)                         # every series has one row
        lo = hi = None
        for a in range(0, n - 1, _BLOCK):
            b = min(a + _BLOCK, n - 1)
            d = t[a + 1:b + 1] - t[a:b]              # exact: the span fits in int64
            cut = ends[np.searchsorted(ends, a):np.searchsorted(ends, b)] - a
            if len(cut):
                if len(cut) == len(d):
                    continue
                free = np.flatnonzero(cut != np.arange(len(cut)))
                d[cut] = d[free[0] if len(free) else len(cut)]   # some step within a series
            dlo, dhi = int(d.min()), int(d.max())
            if dlo < 0:
                return cls(False)
            lo = dlo if lo is None else min(lo, dlo)
            hi = dhi if hi is None else max(hi, dhi)
        return cls(True, lo, hi)

    @classmethod
    def _wrapping(cls, codes, t) -> "_Steps":
        """:meth:`of` for codes known to be sorted, when timestamps span more than int64 can
        hold: the steps are then what ``np.diff`` gives (wrapped), compared exactly."""
        lo = hi = None
        n = len(t)
        for a in range(0, n - 1, _BLOCK):
            b = min(a + _BLOCK, n - 1)
            same = codes[a + 1:b + 1] == codes[a:b]
            t0, t1 = t[a:b][same], t[a + 1:b + 1][same]
            if not len(t0):
                continue
            if (t1 < t0).any():
                return cls(False)
            d = t1 - t0
            dlo, dhi = int(d.min()), int(d.max())
            lo = dlo if lo is None else min(lo, dlo)
            hi = dhi if hi is None else max(hi, dhi)
        return cls(True, lo, hi)

    @property
    def unique(self) -> bool:
        """Sorted, and no timestamp repeats within a series."""
        return self.sorted and (self.lo is None or self.lo > 0)

    def constant(self, delta) -> bool:
        """Every series steps exactly ``delta`` from one row to the next."""
        return self.sorted and (self.lo is None or self.lo == self.hi == delta)


def _all_finite(values) -> bool:
    for a in range(0, len(values), _BLOCK * 4):
        if not np.isfinite(values[a:a + _BLOCK * 4]).all():
            return False
    return True


def _nondecreasing(codes) -> bool:
    for a in range(0, len(codes) - 1, _BLOCK * 4):      # codes are narrow: bigger blocks
        b = min(a + _BLOCK * 4, len(codes) - 1)
        if (codes[a + 1:b + 1] < codes[a:b]).any():
            return False
    return True


def _counts(codes, minlength=0) -> np.ndarray:
    """``np.bincount(codes, minlength=minlength)`` for sorted codes, without a pass."""
    size = max(int(codes[-1]) + 1 if len(codes) else 0, minlength)
    return np.diff(np.searchsorted(codes, np.arange(size + 1, dtype=codes.dtype)))


def _aggregate(groups, how) -> np.ndarray:
    res = groups.sum(min_count=1) if how == "sum" else getattr(groups, how)()
    return res.to_numpy(dtype=np.float64)


def _index(t, unit, tz) -> pd.DatetimeIndex:
    idx = pd.DatetimeIndex(np.asarray(t).astype(f"datetime64[{unit}]"))
    return idx.tz_localize("UTC").tz_convert(tz) if tz else idx


def _infer_offset(codes, t, unit, tz, src, name, rows, counts):
    rep = int(np.argmax(counts))
    lo, hi = np.searchsorted(codes, np.array([rep, rep + 1], dtype=codes.dtype))
    ts = t[lo:hi]
    if len(ts) < 3:
        raise DataError(f"cannot infer the frequency from {len(ts)} timestamp(s); pass --freq "
                        f"(e.g. --freq D).")
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


_NICE = ("s", "min", "5min", "15min", "30min", "h", "D", "W", "MS", "QS", "YS")


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
    """The finest of :data:`_NICE` whose longest period holds ``median``."""
    for alias in _NICE:
        span = pd.Timedelta(days={"MS": 31, "QS": 92, "YS": 366}[alias]) \
            if alias in ("MS", "QS", "YS") else pd.Timedelta(pd.tseries.frequencies.to_offset(
                "7D" if alias == "W" else alias))
        if span >= median * 0.99:
            return alias
    return "YS"


@dataclass
class _Grid:
    pos: np.ndarray | None          # grid position of every row (None: see contiguous)
    start_of: object                # grid position -> timestamp
    bad: int | None = None          # index of the first off-grid timestamp
    contiguous: np.ndarray | None = None   # first position per series when every series
                                           # steps exactly one grid point at a time

    def positions(self, codes) -> np.ndarray:
        if self.pos is None:
            counts = _counts(codes)
            lo = np.r_[0, np.cumsum(counts)[:-1]]
            self.pos = np.repeat(self.contiguous - lo, counts) + np.arange(len(codes))
        return self.pos


def _fixed_step(offset, tz):
    """The constant spacing of ``offset`` as a Timedelta, or None if it varies (months,
    business days, calendar days in a zone with DST)."""
    if isinstance(offset, pd.offsets.Tick):
        return pd.Timedelta(offset)
    if tz is None and isinstance(offset, pd.offsets.Day):
        return pd.Timedelta(days=offset.n)
    if tz is None and isinstance(offset, pd.offsets.Week) and offset.weekday is not None:
        return pd.Timedelta(days=7 * offset.n)
    return None


def _datetime_grid(codes, t, unit, tz, offset, counts=None, steps=None) -> _Grid:
    step = _fixed_step(offset, tz)
    if step is not None:
        if counts is None:
            counts = _counts(codes)
        delta = int(step // pd.Timedelta(1, unit=unit))
        k0 = int(np.searchsorted(codes, codes.dtype.type(np.argmax(counts)))) if len(t) else 0
        anchor = int(t[k0]) if len(t) else 0
        if not offset.is_on_offset(pd.Timestamp(anchor, unit=unit)):
            return _Grid(None, None, k0)
        def start_of(k, anchor=anchor, delta=delta):
            ts = pd.Timestamp(anchor + int(k) * delta, unit=unit)
            return ts.tz_localize("UTC").tz_convert(tz) if tz else ts

        # common case first: each series moves one step at a time (no division needed)
        if steps is None:
            steps = _Steps.of(codes, t)
        if steps.constant(delta):
            lo = np.searchsorted(codes, np.arange(int(codes[-1]) + 1, dtype=codes.dtype))
            rel = t[lo] - anchor
            first = rel // delta
            off_grid = first * delta != rel
            if off_grid.any():
                return _Grid(None, None, int(lo[np.argmax(off_grid)]))
            return _Grid(None, start_of, contiguous=first)
        rel = t - anchor
        pos = rel // delta                       # (np.divmod is ~10x slower)
        off_grid = pos * delta != rel
        if off_grid.any():
            return _Grid(None, None, int(np.argmax(off_grid)))
        return _Grid(pos, start_of)
    if len(t) > 1 and codes[-1] == codes[0]:      # one series, sorted and unique
        uniq, inverse = t, np.arange(len(t))
    else:
        first_seen, uniq = pd.factorize(t)
        order = np.argsort(uniq, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        uniq, inverse = uniq[order], rank[first_seen]
    u_idx = _index(uniq, unit, tz)
    grid = pd.date_range(start=u_idx[0], end=u_idx[-1], freq=offset)
    where = grid.get_indexer(u_idx)
    if (where < 0).any():
        k = int(np.argmax(where < 0))
        return _Grid(None, None, int(np.argmax(inverse == k)))

    def start_of(k, grid=grid):
        k = int(k)
        return grid[k] if 0 <= k < len(grid) else grid[0] + k * offset
    return _Grid(where[inverse].astype(np.int64), start_of)


def _resample(codes, t, values, unit, tz, offset, how):
    frame = pd.DataFrame({"c": codes, "ts": _index(t, unit, tz), "v": values})
    groups = frame.groupby(["c", pd.Grouper(key="ts", freq=offset)], sort=True)["v"]
    res = groups.sum(min_count=1) if how == "sum" else getattr(groups, how)()
    c = res.index.get_level_values(0).to_numpy(dtype=np.int64)
    ts = pd.DatetimeIndex(res.index.get_level_values(1)).as_unit(unit)
    return c, ts.asi8, res.to_numpy(dtype=np.float64)


def _integer_grid(codes, t):
    d = np.diff(t)
    d = d[(codes[1:] == codes[:-1]) & (d > 0)]
    step = int(np.gcd.reduce(d)) if len(d) else 1
    base = int(t.min())
    axis = TimeAxis("integer", step=step)
    return axis, (t - base) // step, (lambda k, base=base, step=step: base + int(k) * step)


def _fill(out, gaps, offs, ids, fill, limit, stamp_at):
    edges = np.diff(np.r_[0, gaps.view(np.int8), 0])
    starts = np.flatnonzero(edges == 1)
    runs = np.flatnonzero(edges == -1) - starts
    series = np.searchsorted(offs, starts, "right") - 1
    n_missing = int(gaps.sum())
    k0 = int(np.argmax(runs)) if fill in ("interpolate", "ffill") else 0
    s0 = int(series[k0])
    if fill in ("none", "error"):
        raise DataError(f"series {ids[s0]!r} has {n_missing} missing point(s) (first at "
                        f"{stamp_at(s0, starts[0] - offs[s0])}); pass --fill interpolate, "
                        f"ffill or zero to fill them.")
    if fill in ("interpolate", "ffill") and runs[k0] > limit:
        raise DataError(f"series {ids[s0]!r} has a gap of {int(runs[k0])} consecutive missing "
                        f"points from {stamp_at(s0, starts[k0] - offs[s0])}; gaps longer than "
                        f"max_gap={limit} are not filled (pass a larger --max-gap or "
                        f"--fill zero).")
    idx = np.arange(len(out))
    if fill == "interpolate":
        with np.errstate(over="ignore", invalid="ignore"):
            out[gaps] = np.interp(idx[gaps], idx[~gaps], out[~gaps])
        how = "linear interpolation"
    elif fill == "ffill":
        out = out[np.maximum.accumulate(np.where(gaps, 0, idx))]
        how = "carrying the last value forward"
    else:
        out[gaps] = 0.0
        how = "zeros"
    names = sorted({ids[s] for s in series})
    shown = ", ".join(repr(s) for s in names[:5]) + (" …" if len(names) > 5 else "")
    return out, (f"Filled {n_missing} missing value(s) in {len(names)} series ({shown}) with "
                 f"{how}; longest gap {int(runs.max())} point(s).")
