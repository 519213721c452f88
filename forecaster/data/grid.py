"""From sorted entries to regular series: steps between rows, duplicates combined,
positions on the datetime or integer grid, resampling onto a grid, and the gap filling
policies.  Package-private helpers of :func:`~forecaster.data.ingest.read_panel`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecaster.data.columns import _BLOCK, _counts, _nondecreasing
from forecaster.data.panel import TimeAxis
from forecaster.data.timestamps import _average_freq, _index
from forecaster.errors import HINT, DataError, Hint
from forecaster.notes import Note


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








def _aggregate(groups, how) -> np.ndarray:
    res = groups.sum(min_count=1) if how == "sum" else getattr(groups, how)()
    return res.to_numpy(dtype=np.float64)


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


def _off_grid_row(t, delta, offset, unit) -> int:
    """The first entry off the grid of spacing ``delta`` that most timestamps share (their
    most common phase modulo ``delta``), not one measured from an arbitrary first row: a
    single shifted first row is the one named, not its on-grid neighbour.  When the shared
    phase itself is off ``offset`` (every Sunday for ``W-SAT``), its first entry."""
    phase = np.mod(t, delta)
    values, counts = np.unique(phase, return_counts=True)
    common = values[int(np.argmax(counts))]
    first = int(np.argmax(phase == common))
    if not offset.is_on_offset(pd.Timestamp(int(t[first]), unit=unit)):
        return first
    return int(np.argmax(phase != common))


def _datetime_grid(codes, t, unit, tz, offset, counts=None, steps=None) -> _Grid:
    step = _fixed_step(offset, tz)
    if step is not None:
        if counts is None:
            counts = _counts(codes)
        delta = int(step // pd.Timedelta(1, unit=unit))
        k0 = int(np.searchsorted(codes, codes.dtype.type(np.argmax(counts)))) if len(t) else 0
        anchor = int(t[k0]) if len(t) else 0
        if not offset.is_on_offset(pd.Timestamp(anchor, unit=unit)):
            return _Grid(None, None, _off_grid_row(t, delta, offset, unit))
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
                return _Grid(None, None, _off_grid_row(t, delta, offset, unit))
            return _Grid(None, start_of, contiguous=first)
        rel = t - anchor
        pos = rel // delta                       # (np.divmod is ~10x slower)
        off_grid = pos * delta != rel
        if off_grid.any():
            return _Grid(None, None, _off_grid_row(t, delta, offset, unit))
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
                        f"{stamp_at(s0, starts[0] - offs[s0])}){HINT}.",
                        hint=Hint("fill", "; pass --fill interpolate, ffill or zero to fill them",
                                  "; pass fill='interpolate', 'ffill' or 'zero' to fill them"))
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
    return out, Note(f"Filled {n_missing} missing value(s) in {len(names)} series ({shown}) "
                     f"with {how}; longest gap {int(runs.max())} point(s).", kind="fill")


def _check_extents(e, layout, opts, first, last, length,
                   count) -> None:
    """No series more than half missing between its first and last value (with a hint
    when mixed month starts and ends made it look so), none shorter than ``min_length``."""
    axis = layout.axis
    missing = length - count
    frac = missing / length
    if (frac > 0.5).any():
        s = int(np.argmax(frac))
        hint = None
        if opts.freq is None and not e.integer_time:
            alias = _average_freq(e.codes, e.t, e.unit)
            if alias != axis.freq:
                periods = (f"; if the timestamps belong to {alias!r} periods (month starts "
                           f"and ends mixed, say), pass ")
                hint = Hint("resample", f"{periods}--freq {alias} --aggregate mean",
                            f"{periods}freq={alias!r}, aggregate='mean'")
        raise DataError(
            f"series {e.ids[s]!r} is mostly missing: {int(missing[s])} of {int(length[s])} "
            f"points between {axis.format(layout.start_of(first[s]))} and "
            f"{axis.format(layout.start_of(last[s]))} have no value ({frac[s]:.0%}); more "
            f"than 50% missing cannot be filled reliably{HINT if hint else ''}.", hint=hint)
    if (length < opts.min_length).any():
        s = int(np.argmin(length))
        raise DataError(f"series {e.ids[s]!r} has {int(length[s])} point(s); at least "
                        f"{opts.min_length} are needed.")
