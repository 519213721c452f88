"""Reading CSV and Parquet files into a validated :class:`~forecaster.data.panel.Panel`.

:func:`read_panel` is the one boundary where user data is checked.  Anything it cannot turn
into a correct panel raises :class:`~forecaster.errors.DataError` with a one-line message
that names the problem (file, column, series, line) and, where there is one, the flag that
fixes it.  It never raises another exception type for bad data.

Guarantees of the returned panel (those of :mod:`forecaster.data.panel`, established here):

* at least one series; ids are unique, non-empty strings, sorted (``str`` order); a table
  without a series id column gives one series named after its target column, a wide one
  (``wide``) one series per column, named after it;
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
    note); other bytes that are still text are read as Windows-1252, else Latin-1 (with a
    note); binary data is rejected.  Excel's ``sep=;`` first line names the separator;
    ``#`` comment lines before the header are skipped (note).  Numbers may have a decimal
    comma and ``.`` thousands (non-comma files), or ``,`` thousands ("1,234.5", note).
    Plain CSVs go through the multi-threaded pyarrow reader; odd ones fall back to pandas'
    C, then Python, parser.  Line numbers in messages are the file's own (the header is
    line 1 unless lines precede it); Parquet messages give 1-based row numbers.

Columns
    ``id_col`` (auto: ``unique_id``, ``series_id``, ``id``), ``time_col`` (auto: by name —
    ``ds, date, datetime, time, timestamp, month, week, year, period, day, t, step,
    time_idx`` — else the first column of dates, else an integer first column that is
    strictly increasing per series), ``target`` (auto: ``y``, else the only numeric column;
    several candidates → error listing them, except that a DataFrame whose other columns
    are all numeric is read wide, one series per column, with a note; ``wide=True`` reads
    any table so).  An auto-detected id column holding a
    different value on every row is a row number and is ignored (note); unnamed columns
    (a saved pandas index) are never target candidates.  Excel workbooks are named as such.

Repair policies
    * Dates: ISO-like formats are read directly, ISO weeks ("2020-W05") and quarters
      ("2020Q1") as their first day (note).  ``dd/mm/yyyy``-style dates need
      ``dayfirst=True`` — even when some day > 12 makes them unambiguous — so the order is
      never guessed; month-first dates are read only when some day > 12 proves the order
      (with a note) or ``monthfirst=True``; ambiguous ones are an error.
    * Time zones: one zone (or one fixed offset) is kept as ``axis.tz``; several offsets
      (a DST change) are converted to UTC with a note, and the zone whose rules give those
      offsets is kept as ``axis.local_tz``: calendar and holiday features use that wall
      clock (:mod:`forecaster.data.zones`); naive mixed with aware is an error.  Data read
      for a run (``run_axis``) take its zone: naive against aware is an error.
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


from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from forecaster.data.columns import (
    _all_finite,
    _counts,
    _looks_numeric,
    _pick_columns,
    _row,
    _series_codes,
    _time_kind,
    _to_float,
)
from forecaster.data.grid import (
    _aggregate,
    _check_extents,
    _datetime_grid,
    _fill,
    _integer_grid,
    _resample,
    _Steps,
)
from forecaster.data.covariate_reader import attach_covariates
from forecaster.data.covariates import CovariateSpec
from forecaster.data.options import (
    AGGREGATES,
    FILLS,
    _Options,
    chosen_fills,
    covariate_fill,
    explain_fill,
)
from forecaster.data.panel import Panel, TimeAxis
from forecaster.data.readers import (
    FRAME_NAME,
    _Source,
    _check_path,
    _frame_source,
    _read_table,
    _release_reader_memory,
    as_frame,
)
from forecaster.data.timestamps import (
    _compact_dates,
    _infer_offset,
    _integer_steps,
    _suggest_freq,
    _to_datetime,
    time_hints_on_error,
)
from forecaster.data.wide import stack_wide
from forecaster.data.zones import align_zone
from forecaster.data import hints
from forecaster.errors import HINT, DataError, Hint
from forecaster.notes import Note

__all__ = ["read_panel", "FILLS", "AGGREGATES"]


def read_panel(source, *, target=None, time_col=None, id_col=None, freq=None,
               dayfirst=False, fill="interpolate", max_gap=None, aggregate=None, min_length=3,
               monthfirst=False, covariates=None, past_covariates=None,
               future_covariates=None, static_covariates=None, calendar="none",
               holidays=None, run_axis=None, wide=None, fill_covariates=None) -> Panel:
    """Read a CSV/Parquet file, or a pandas DataFrame, into a validated :class:`Panel` (see
    the module docstring): the same column detection, checks and messages for both.

    A DataFrame's index joins its columns when it carries data (a ``DatetimeIndex``, named
    levels); the frame itself is never modified.  A pandas ``Series`` indexed by time is
    one series named after it (``"y"`` unnamed); a polars DataFrame is read through its
    ``to_pandas()``.  ``wide=True`` reads one series per column (every column besides the
    time column and the covariates); unset, a DataFrame is read so when it would otherwise
    be refused for its several numeric columns (:func:`~forecaster.data.columns.
    _wide_columns`; a note says so), a file never.  ``fill_covariates`` (``{column: fill}``
    or ``"col=ffill,…"``) gives covariate columns their own gap fill
    (:mod:`forecaster.data.options`: flag columns are carried forward by default).  ``monthfirst=True`` reads ambiguous
    ``mm/dd/yyyy`` dates month-first (the counterpart of ``dayfirst``).  ``covariates`` (a
    :class:`~forecaster.data.covariates.CovariateSpec`) names the other columns' roles;
    they are read onto the panel (:mod:`forecaster.data.covariate_reader`); or name them
    with ``past_covariates``, ``future_covariates``, ``static_covariates`` (lists or
    comma-separated names), ``calendar="auto"`` and ``holidays="US"``.  ``run_axis`` (a
    run's :class:`TimeAxis`) reads data for that run: their timestamps take its time zone
    (:func:`~forecaster.data.zones.align_zone`).  Every problem raises :class:`DataError`.
    """
    if covariates is None:
        covariates = CovariateSpec.of(past_covariates, future_covariates, static_covariates,
                                      calendar, holidays)
    try:
        return _read_panel(source, target=target, time_col=time_col, id_col=id_col, freq=freq,
                           dayfirst=dayfirst, fill=fill, max_gap=max_gap, aggregate=aggregate,
                           min_length=min_length, monthfirst=monthfirst,
                           covariates=covariates or CovariateSpec(), run_axis=run_axis,
                           wide=wide, fill_covariates=fill_covariates)
    finally:
        _release_reader_memory()


def _read_panel(source, *, target, time_col, id_col, freq, dayfirst, fill, max_gap,
                aggregate, min_length, monthfirst, covariates, run_axis, wide,
                fill_covariates) -> Panel:
    """The stages of :func:`read_panel`, each checking what it establishes."""
    opts = _Options.check(freq=freq, dayfirst=dayfirst, monthfirst=monthfirst, fill=fill,
                          max_gap=max_gap, aggregate=aggregate, min_length=min_length,
                          fill_covariates=fill_covariates)
    opts.run_axis = run_axis if run_axis is not None and run_axis.is_datetime else None
    source = as_frame(source)
    if isinstance(source, pd.DataFrame):
        src = _frame_source(source, FRAME_NAME, copy=True)
    else:
        src = _read_table(_check_path(source), id_col)
    cols = _pick_columns(src.frame, src, target=target, time_col=time_col, id_col=id_col,
                         covariates=covariates, wide=bool(wide) if wide is not None
                         else ("auto" if isinstance(source, pd.DataFrame) else False))
    if cols.wide:
        src, cols = stack_wide(src, cols)
    panel = _stages(src, cols, opts)
    if not covariates:
        return panel
    covariates = replace(covariates, **{role: tuple(c for c, r in cols.roles.items()
                                                    if r == role)
                                        for role in ("past", "future", "static")})

    chosen = chosen_fills(opts, src.frame, cols.roles, src)

    def read_column(name):  # a covariate column, read as the target was, on its axis
        sub = _Source(src.frame[[c for c in (cols.time, cols.id, name) if c is not None]],
                      src.name, parquet=src.parquet, reread_time=src.reread_time,
                      fast={k: v for k, v in src.fast.items() if k in (cols.time, cols.id)},
                      skipped=src.skipped, period=src.period)
        fill, why = covariate_fill(name, src.frame[name], opts.fill, chosen)
        copt = replace(opts, min_length=1, fill=fill, offset=panel.axis.offset
                       if panel.axis.is_datetime else None,
                       freq=panel.axis.freq if panel.axis.is_datetime else None)
        col = _stages(sub, replace(cols, target=name), copt)
        col = replace(col, notes=explain_fill(col.notes, why))
        return col if cols.id is not None else replace(col, ids=panel.ids)  # one series

    return attach_covariates(panel, covariates, src.frame, cols.id, read_column,
                             _looks_numeric)


def _stages(src, cols, opts: _Options) -> Panel:
    entries = _entries(src, cols, opts)
    with time_hints_on_error(entries.notes):  # Unix times read as steps: likely the cause
        _sort(entries)
        _combine_duplicates(entries, src, cols, opts)
        return _assemble(entries, _place_on_grid(entries, src, cols, opts), cols, opts)


@dataclass
class _Entries:
    """The rows as flat arrays while they become series: series ``codes``, times ``t``
    (integer steps, or datetime ticks of ``unit`` in zone ``tz``), ``values``, and the
    original row of each entry (``rows``; None while that is the identity)."""

    codes: np.ndarray
    t: np.ndarray
    values: np.ndarray
    ids: list
    integer_time: bool
    unit: str | None
    tz: str | None
    local_tz: str | None  # the wall clock's zone when ``tz`` is UTC for changing offsets
    all_finite: bool  # no NaN or inf among ``values`` (kept current until resampling)
    notes: list
    rows: np.ndarray | None = None
    steps: object = None  # _Steps of (codes, t)

    def stamp(self, k) -> str:
        """A time value as a message shows it."""
        if self.integer_time:
            return str(int(k))
        ts = pd.Timestamp(int(k), unit=self.unit, tz="UTC" if self.tz else None)
        return TimeAxis("datetime", "D", tz=self.tz).format(
            ts.tz_convert(self.tz) if self.tz else ts)


def _entries(src, cols, opts: _Options) -> _Entries:
    """Values as float64 (``inf`` → missing, with a note), times as integers, series ids
    as codes."""
    df = src.frame
    values = src.fast.get(cols.target)
    if not (isinstance(values, np.ndarray) and values.dtype == np.float64):
        values = _to_float(df[cols.target], cols.target, src)
    if cols.id is not None:
        codes, ids = _series_codes(df[cols.id], cols.id, src)
    else:
        codes, ids = np.zeros(len(df), dtype=np.int8), [str(cols.target).strip() or "value"]
    notes = list(src.notes)     # after _to_float and _series_codes, which may add one
    all_finite = _all_finite(values)
    if not all_finite:
        inf = np.isinf(values)
        if inf.any():
            values[inf] = np.nan
            notes.append(Note(f"{int(inf.sum())} infinite value(s) in column {cols.target!r} "
                              "were treated as missing.", kind="infinite"))
    tcol, unit, tz, local = df[cols.time], None, None, None
    if cols.time_kind is None:
        cols.time_kind = _time_kind(tcol)
    compact = _compact_dates(tcol, cols.time, notes) if cols.time_kind == "integer" else None
    if compact is not None:                     # 20200131: a date, not step 20,200,131
        t, unit = compact.asi8, compact.unit
    elif cols.time_kind == "integer":
        t = _integer_steps(tcol, cols.time, src, notes)  # a note if they are dates
        if opts.offset is not None:
            raise DataError(f"`freq` applies to date columns, but time column {cols.time!r} "
                            f"holds integer steps. Got freq={opts.freq!r}.")
    elif isinstance(src.fast.get(cols.time), np.ndarray):
        stamps = src.fast[cols.time]            # naive datetime64 without NaT, from pyarrow
        t, unit = stamps.view(np.int64), np.datetime_data(stamps.dtype)[0]
    else:
        if src.reread_time is not None and isinstance(tcol.dtype, pd.DatetimeTZDtype):
            tcol = src.reread_time(cols.time)   # pyarrow folded offsets into UTC: re-parse
        stamps, tz, local, tnotes = _to_datetime(tcol, cols.time, src, opts.dayfirst,
                                                 opts.monthfirst)
        notes += tnotes
        t, unit = stamps.asi8, stamps.unit
    if opts.run_axis is not None and unit is not None:
        tz = align_zone(tz, opts.run_axis, series=ids[int(codes[0])] if len(codes) else "",
                        example=f"{str(tcol.iloc[0])!r} at {src.where(0)}" if len(tcol)
                        else "none", name=cols.time, notes=notes)
        local = opts.run_axis.local_tz
    return _Entries(codes=codes, t=t, values=values, ids=ids,
                    integer_time=unit is None, unit=unit, tz=tz, local_tz=local,
                    all_finite=all_finite, notes=notes, steps=_Steps.of(codes, t))


def _sort(e: _Entries) -> None:
    """Sort by series, then time (a note unless only the series were interleaved)."""
    if e.steps.sorted:
        return
    if len(e.ids) == 1:
        time_sorted = False
    else:
        o = np.argsort(e.codes, kind="stable")
        cc, tt = e.codes[o], e.t[o]
        time_sorted = bool(np.all((cc[1:] != cc[:-1]) | (tt[1:] >= tt[:-1])))
    order = np.lexsort((e.t, e.codes))
    e.codes, e.t, e.values = e.codes[order], e.t[order], e.values[order]
    e.rows = order if e.rows is None else e.rows[order]
    if not time_sorted:
        e.notes.append(Note("Rows were not in time order; sorted them by time"
                            + (" within each series." if len(e.ids) > 1 else "."), kind="sort"))
    e.steps = _Steps.of(e.codes, e.t)


def _combine_duplicates(e: _Entries, src, cols, opts: _Options) -> None:
    """Duplicated timestamps of a series: an error naming them, or combined with
    ``aggregate`` (a note)."""
    same = None if e.steps.unique else (e.codes[1:] == e.codes[:-1]) & (e.t[1:] == e.t[:-1])
    if same is None or not same.any():
        return
    k = int(np.argmax(same))
    if opts.aggregate is None:
        cand = []
        if cols.id is None:
            df = src.frame
            cand = [c for c in df.columns if c not in (cols.time, cols.target)
                    and not pd.api.types.is_numeric_dtype(df[c].dtype)]
        raise DataError(
            f"series {e.ids[e.codes[k]]!r} has duplicated timestamps: {e.stamp(e.t[k])} "
            f"appears at {src.where(_row(e.rows, k))} and {src.where(_row(e.rows, k + 1))} "
            f"({int(same.sum())} duplicate row(s)){HINT}.",
            hint=hints.combine_duplicates(cand))
    first_row = np.r_[True, ~same]
    gid = np.cumsum(first_row) - 1
    e.values = _aggregate(pd.Series(e.values).groupby(gid, sort=False), opts.aggregate)
    e.codes, e.t = e.codes[first_row], e.t[first_row]
    e.rows = np.flatnonzero(first_row) if e.rows is None else e.rows[first_row]
    e.notes.append(f"Combined {int(same.sum())} row(s) with duplicated timestamps "
                   f"using {opts.aggregate!r}.")
    e.steps, e.all_finite = _Steps.of(e.codes, e.t), False


@dataclass
class _Layout:
    """Where the entries sit on the axis: ``pos`` (None when every series is contiguous
    and complete: then ``contiguous`` holds each series' first position) and
    ``start_of(position)`` the timestamp of a position."""

    axis: TimeAxis
    pos: np.ndarray | None
    start_of: object
    contiguous: np.ndarray | None = None


def _place_on_grid(e: _Entries, src, cols, opts: _Options) -> _Layout:
    """The axis (the integer steps, or the given or inferred frequency) and each entry's
    position on it; off-grid timestamps are an error, or resampled with ``aggregate``
    when ``freq`` is given (a note)."""
    counts = _counts(e.codes)         # rows per series (codes are sorted from here on)
    if e.integer_time:
        axis, pos, start_of = _integer_grid(e.codes, e.t)
        return _Layout(axis, pos, start_of)
    offset = opts.offset
    if offset is None:
        if counts.max() < min(3, opts.min_length):     # too few to infer, and too short
            s = int(np.argmax(counts))
            raise DataError(f"series {e.ids[s]!r} has {int(counts[s])} point(s); at least "
                            f"{opts.min_length} are needed.")
        offset = _infer_offset(e.codes, e.t, e.unit, e.tz, src, cols.time, e.rows, counts)
    grid = _datetime_grid(e.codes, e.t, e.unit, e.tz, offset, counts, e.steps)
    if grid.bad is not None:
        where = f"{e.stamp(e.t[grid.bad])} at {src.where(_row(e.rows, grid.bad))}"
        if opts.freq is None:
            alias = _suggest_freq(e.codes, e.t, e.unit)
            raise DataError(
                f"timestamps in column {cols.time!r} are irregular: {where} is not on a "
                f"regular grid{HINT}.", hint=hints.resample(alias))
        if opts.aggregate is None:
            raise DataError(
                f"timestamps in column {cols.time!r} are not on the regular "
                f"{offset.freqstr!r} grid: {where}{HINT}.", hint=hints.resample_onto_grid())
        e.codes, e.t, e.values = _resample(e.codes, e.t, e.values, e.unit, e.tz, offset,
                                           opts.aggregate)
        e.all_finite = False
        e.rows = np.full(len(e.t), -1, dtype=np.int64)
        e.notes.append(f"Resampled timestamps onto the regular {offset.freqstr!r} grid "
                       f"using {opts.aggregate!r}.")
        grid = _datetime_grid(e.codes, e.t, e.unit, e.tz, offset)
        if grid.bad is not None:     # cannot happen for pandas' own bins; be safe
            raise DataError(f"cannot resample column {cols.time!r} onto the "
                            f"{offset.freqstr!r} grid.")
    pos = grid.pos
    if pos is None and not (grid.contiguous is not None
                            and (e.all_finite or np.all(~np.isnan(e.values)))):
        pos = grid.positions(e.codes)
    return _Layout(TimeAxis("datetime", offset.freqstr, tz=e.tz, local_tz=e.local_tz), pos,
                   grid.start_of, grid.contiguous)


def _assemble(e: _Entries, layout: _Layout, cols, opts: _Options) -> Panel:
    """Each series from its first to its last value: leading and trailing missing values
    trimmed, mostly-missing and too-short series refused, gaps filled by the policy."""
    S, axis, pos = len(e.ids), layout.axis, layout.pos
    valid = None if e.all_finite else ~np.isnan(e.values)
    all_valid = e.all_finite or bool(valid.all())
    count = _counts(e.codes if all_valid else e.codes[valid], S)
    if (count == 0).any():
        s = int(np.argmax(count == 0))
        raise DataError(f"series {e.ids[s]!r} has no values in column {cols.target!r} "
                        f"(all missing).")
    if pos is None:                 # every series contiguous on the grid, nothing missing
        cv, pv, vv = e.codes, None, e.values
        first = layout.contiguous
        length = count.astype(np.int64)
        last = first + length - 1
    else:
        cv, pv, vv = (e.codes, pos, e.values) if all_valid else (
            e.codes[valid], pos[valid], e.values[valid])
        lo = np.searchsorted(cv, np.arange(S, dtype=cv.dtype), "left")
        hi = np.searchsorted(cv, np.arange(S, dtype=cv.dtype), "right") - 1
        first, last = pv[lo], pv[hi]
        length = last - first + 1
    if not all_valid:
        invalid = ~valid
        trimmed = int(np.sum((pos[invalid] < first[e.codes[invalid]])
                             | (pos[invalid] > last[e.codes[invalid]])))
        if trimmed:
            e.notes.append(Note(f"Trimmed {trimmed} leading/trailing missing value(s).",
                                kind="trim"))
    _check_extents(e, layout, opts, first, last, length, count)
    out = _filled(e, layout, opts, first, length, count, cv, pv, vv)
    offs = np.zeros(S, dtype=np.int64)
    np.cumsum(length[:-1], out=offs[1:])
    return Panel(
        ids=tuple(e.ids),
        starts=tuple(layout.start_of(f) for f in first),
        values=tuple(np.split(out, offs[1:])),
        axis=axis,
        target=str(cols.target),
        time_col=str(cols.time),
        id_col=None if cols.id is None else str(cols.id),
        notes=tuple(e.notes),
    )


def _filled(e: _Entries, layout: _Layout, opts: _Options, first, length, count, cv, pv,
            vv) -> np.ndarray:
    """Every series' values laid end to end on the grid, gaps filled by ``fill``."""
    axis, S = layout.axis, len(e.ids)
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
        limit = max(3, season) if opts.max_gap is None else int(opts.max_gap)
        out, note = _fill(out, gaps, offs, e.ids, opts.fill, limit, lambda s, j: axis.format(
            layout.start_of(first[s] + j)))
        e.notes.append(note)
    # without filling, ``out`` holds only the read values, which are finite when all_finite
    if (filled or not e.all_finite) and not np.all(np.isfinite(out)):
        j = int(np.argmax(~np.isfinite(out)))
        s = int(np.searchsorted(offs, j, "right") - 1)
        raise DataError(f"series {e.ids[s]!r}: filling a gap next to huge values overflowed "
                        f"to infinity; fill the gap in the file or use {HINT}.",
                        hint=Hint("fill", "--fill ffill", "fill='ffill'"))
    return out
