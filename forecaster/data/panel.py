"""The in-memory data model: a validated panel of regular time series.

A :class:`Panel` is what :func:`forecaster.data.ingest.read_panel` returns and what every
model, backtest and report consumes.  Ingest establishes these guarantees once; everything
downstream trusts them and does not re-check:

* there is at least one series, and series ids are unique, non-empty strings;
* ``values[i]`` is a 1-D ``float64`` numpy array with every value finite (gaps were filled
  or the file was rejected);
* timestamps are regular: series ``i`` has ``axis.range(starts[i], len(values[i]))``, so
  timestamps are never stored, only the start and the :class:`TimeAxis`;
* ``axis`` is either a calendar axis (``kind="datetime"``, a pandas frequency alias such as
  ``"MS"``, ``"W-SAT"``, ``"D"``, ``"h"``) or an integer step axis (``kind="integer"``,
  ``step`` ≥ 1).

The long-frame view (``series_id, timestamp, value``) is available from :meth:`Panel.to_frame`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Iterator, Literal

import numpy as np
import pandas as pd

from forecaster.data.covariates import Covariates
from forecaster.data.frequencies import season_of_rule


@dataclass(frozen=True)
class TimeAxis:
    """How timestamps are laid out: a calendar frequency or integer steps.

    ``freq`` is a pandas offset alias (``"MS"``, ``"D"``, ``"W-SAT"``…) when ``kind`` is
    ``"datetime"``; ``step`` is the spacing of an integer axis.  ``tz`` is the time zone of a
    zone-aware calendar axis, else ``None``.  ``local_tz`` is the zone of the data's wall
    clock when it differs from ``tz`` (offsets that change at DST were converted to UTC, and
    this zone's rules match them): calendar and holiday features use :attr:`wall_tz`.
    """

    kind: Literal["datetime", "integer"]
    freq: str | None = None
    step: int = 1
    tz: str | None = None
    local_tz: str | None = None

    def __post_init__(self):
        if self.kind not in ("datetime", "integer"):
            raise ValueError(f"kind must be 'datetime' or 'integer'. Got {self.kind!r}.")
        if self.kind == "datetime" and not self.freq:
            raise ValueError("a datetime axis needs a frequency")
        if self.kind == "integer" and int(self.step) < 1:
            raise ValueError(f"step must be >= 1. Got {self.step}.")
        if self.local_tz is not None:
            from forecaster.data.zones import check_zone_name

            check_zone_name(self.local_tz)

    @property
    def offset(self) -> pd.DateOffset:
        return pd.tseries.frequencies.to_offset(self.freq)

    @property
    def wall_tz(self) -> str | None:
        """The zone whose wall clock calendar features read (None: naive timestamps)."""
        return self.local_tz or self.tz

    @property
    def is_datetime(self) -> bool:
        return self.kind == "datetime"

    def range(self, start, periods: int) -> pd.Index:
        """``periods`` regular timestamps beginning at ``start``."""
        if self.kind == "datetime":
            return pd.date_range(start=pd.Timestamp(start), periods=periods, freq=self.freq)
        return pd.Index(int(start) + self.step * np.arange(periods, dtype=np.int64), name=None)

    def shift(self, timestamp, n: int):
        """The timestamp ``n`` steps after ``timestamp`` (n may be negative)."""
        if self.kind == "datetime":
            return pd.Timestamp(timestamp) + n * self.offset
        return int(timestamp) + n * self.step

    def steps(self, a, b) -> int:
        """Steps from timestamp ``a`` to ``b`` (negative when ``b`` is earlier); both on
        the grid."""
        if self.kind != "datetime":
            return (int(b) - int(a)) // int(self.step)
        sign, lo, hi = (1, a, b) if b >= a else (-1, b, a)
        return sign * (len(pd.date_range(lo, hi, freq=self.freq)) - 1)

    def after(self, last, horizon: int) -> pd.Index:
        """The ``horizon`` timestamps that follow ``last``."""
        return self.range(self.shift(last, 1), horizon)[:horizon]

    def season(self) -> int | None:
        """The natural season length of this frequency (12 for monthly), or None if unknown."""
        if self.kind != "datetime":
            return None
        offset = self.offset
        rule = offset.rule_code.split("-")[0]
        base = season_of_rule(rule)
        if base is None:
            return None
        n = getattr(offset, "n", 1) or 1
        if n == 1:
            return base
        # e.g. "2h" → 12 per day; only keep it if it divides evenly.
        return base // n if base % n == 0 and base // n > 1 else None

    def describe(self) -> str:
        if self.kind == "datetime":
            return self.freq + (f" ({self.tz})" if self.tz else "")
        return f"integer steps of {self.step}"

    def to_json(self) -> dict:
        out = {"kind": self.kind, "freq": self.freq, "step": int(self.step), "tz": self.tz}
        return {**out, "local_tz": self.local_tz} if self.local_tz else out

    @classmethod
    def from_json(cls, data: dict) -> "TimeAxis":
        return cls(kind=data["kind"], freq=data.get("freq"), step=int(data.get("step", 1)),
                   tz=data.get("tz"), local_tz=data.get("local_tz"))

    def format(self, timestamp) -> str:
        """A timestamp as an ISO string (dates without a time part when it is midnight)."""
        if self.kind == "integer":
            return str(int(timestamp))
        ts = pd.Timestamp(timestamp)
        if ts == ts.normalize() and ts.tzinfo is None:
            return ts.strftime("%Y-%m-%d")
        return ts.isoformat()

    def format_all(self, timestamps) -> list[str]:
        """:meth:`format` of many timestamps, vectorised for the common cases (integer
        steps; zone-naive datetimes without fractions of a second); the same strings."""
        if self.kind == "integer":
            return [str(v) for v in np.asarray(timestamps, dtype=np.int64).tolist()]
        index = pd.DatetimeIndex(timestamps)
        if index.tz is not None or len(index) == 0 or np.any(index.microsecond) or \
                np.any(index.nanosecond):
            return [self.format(ts) for ts in index]
        midnight = np.asarray(index == index.normalize())
        out = np.asarray(index.strftime("%Y-%m-%dT%H:%M:%S"), dtype=object)
        out[midnight] = np.asarray(index[midnight].strftime("%Y-%m-%d"), dtype=object)
        return out.tolist()

    def parse(self, text):
        """Inverse of :meth:`format`."""
        if self.kind == "integer":
            return int(text)
        ts = pd.Timestamp(text)
        if self.tz and ts.tzinfo is None:
            ts = ts.tz_localize(self.tz)
        return ts


@dataclass(frozen=True)
class Panel:
    """A set of regular, gap-free, finite time series sharing one :class:`TimeAxis`.

    Build one with :func:`forecaster.data.ingest.read_panel` (validated) or
    :meth:`Panel.from_arrays` (trusted; for tests and synthetic data).
    """

    ids: tuple[str, ...]
    starts: tuple
    values: tuple[np.ndarray, ...]
    axis: TimeAxis
    target: str = "value"
    time_col: str = "timestamp"
    id_col: str | None = None
    notes: tuple[str, ...] = field(default=())  # repairs made by ingest, shown as warnings
    covariates: Covariates | None = None  # the other columns with a role (data/covariates)

    @classmethod
    def from_arrays(cls, series: dict, axis: TimeAxis, starts=None, **kwargs) -> "Panel":
        """Build from ``{series_id: values}``; ``starts`` defaults to 2000-01-01 / step 0."""
        ids = tuple(str(k) for k in series)
        vals = tuple(np.asarray(v, dtype=np.float64) for v in series.values())
        if starts is None:
            starts = [pd.Timestamp("2000-01-01", tz=axis.tz) if axis.is_datetime else 0] * len(ids)
        return cls(ids=ids, starts=tuple(starts), values=vals, axis=axis, **kwargs)

    # -- size ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.ids)

    @property
    def n_series(self) -> int:
        return len(self.ids)

    @property
    def lengths(self) -> np.ndarray:
        return np.array([len(v) for v in self.values], dtype=np.int64)

    @property
    def n_rows(self) -> int:
        return int(self.lengths.sum())

    # -- per series ---------------------------------------------------------------------
    def timestamps(self, i: int) -> pd.Index:
        return self.axis.range(self.starts[i], len(self.values[i]))

    def end(self, i: int):
        """Last timestamp of series ``i``."""
        return self.axis.shift(self.starts[i], len(self.values[i]) - 1)

    def future(self, i: int, horizon: int) -> pd.Index:
        """The ``horizon`` timestamps following the end of series ``i``."""
        return self.axis.after(self.end(i), horizon)

    def futures(self, horizon: int) -> pd.Index:
        """:meth:`future` of every series, concatenated (``len(self) * horizon``
        timestamps): one date range per distinct end, not one per series."""
        if not len(self):
            return pd.Index([])
        if not self.axis.is_datetime:
            ends = np.array([self.end(i) for i in range(len(self))], dtype=np.int64)
            steps = self.axis.step * np.arange(1, horizon + 1, dtype=np.int64)
            return pd.Index((ends[:, None] + steps[None, :]).ravel())
        cache: dict = {}
        parts = []
        for i in range(len(self)):
            end = self.end(i)
            if end not in cache:
                cache[end] = self.axis.after(end, horizon)
            parts.append(cache[end])
        return parts[0].append(parts[1:]) if len(parts) > 1 else parts[0]

    def __iter__(self) -> Iterator[tuple[str, np.ndarray]]:
        return iter(zip(self.ids, self.values))

    def time_range(self) -> tuple:
        """(earliest start, latest end) over all series."""
        ends = [self.end(i) for i in range(len(self))]
        return min(self.starts), max(ends)

    # -- slicing in time (used by splits and backtests) ---------------------------------
    def cut(self, drop_last: int = 0, keep_last: int | None = None) -> "Panel":
        """Drop the last ``drop_last`` points of every series, then keep at most the last
        ``keep_last`` points.  Starts move accordingly so timestamps stay correct."""
        if drop_last < 0:
            raise ValueError(f"drop_last must be >= 0. Got {drop_last}.")
        starts, values, spans = [], [], []
        for start, v in zip(self.starts, self.values):
            stop = len(v) - drop_last
            first = 0 if keep_last is None else max(0, stop - keep_last)
            if stop <= first:
                raise ValueError(
                    f"cannot drop {drop_last} points from a series of length {len(v)}")
            starts.append(self.axis.shift(start, first))
            values.append(v[first:stop])
            spans.append((first, stop))
        cov = None if self.covariates is None else self.covariates.sliced(spans)
        return replace(self, starts=tuple(starts), values=tuple(values), covariates=cov)

    def tail(self, n: int) -> "Panel":
        """The last ``n`` points of every series."""
        return self.cut(0, n)

    def select(self, ids) -> "Panel":
        """A panel with only the given series ids, in the given order."""
        index = {sid: i for i, sid in enumerate(self.ids)}
        picked = [index[s] for s in ids]
        return replace(self, ids=tuple(self.ids[i] for i in picked),
                       starts=tuple(self.starts[i] for i in picked),
                       values=tuple(self.values[i] for i in picked),
                       covariates=None if self.covariates is None
                       else self.covariates.picked(picked))

    # -- frames -------------------------------------------------------------------------
    def to_frame(self) -> pd.DataFrame:
        """Long frame with columns ``series_id, timestamp, value``."""
        parts = []
        for i, (sid, v) in enumerate(self):
            parts.append(pd.DataFrame({"series_id": sid, "timestamp": self.timestamps(i),
                                       "value": v}))
        return pd.concat(parts, ignore_index=True)

    def describe(self) -> dict:
        """Facts for summaries and reports (JSON-friendly)."""
        first, last = self.time_range()
        return {
            "rows": self.n_rows,
            "series": self.n_series,
            "frequency": self.axis.describe(),
            "start": self.axis.format(first),
            "end": self.axis.format(last),
            "target": self.target,
            "time_col": self.time_col,
            "id_col": self.id_col,
            "min_length": int(self.lengths.min()),
            "max_length": int(self.lengths.max()),
            **({"covariates": self.covariates.spec.to_json()} if self.covariates else {}),
        }

