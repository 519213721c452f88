"""Covariates: the other columns of the data, each with a role, and the features made of them.

Three roles, as Darts and neuralforecast name them:

* **past** — observed up to the forecast origin only (footfall, a competitor's sales): they
  enter the model's input beside the target and are never read after the origin;
* **future** — known over the horizon too (planned prices, promotions, a weather forecast):
  they enter the input beside the target *and* reach every forecast step, so a prediction
  needs their values for the horizon (``forecast predict --future FILE``);
* **static** — one value per series (a store's region, its size): numbers or categories.

Two more kinds of future covariate are generated from the timestamps, so they need no file
at prediction time: calendar features suited to the frequency (``calendar="auto"``: hour of
day, day of week, day of year, month … as sin/cos pairs) and a public-holiday indicator from
the ``holidays`` package (``holidays="US"``, ``"US-DC"`` for a subdivision).

:class:`CovariateSpec` is what the user asked for; :class:`Covariates` holds the values a
:class:`~forecaster.data.panel.Panel` carries: per series, the file's past and future columns
over the series' own span, the future columns' values *after* its end that are already known
(``ahead``: a backtest fold keeps the actual future values of the points it cut off; a
prediction takes them from ``--future``), and the static values.  The model-facing matrices
come from :func:`history_features` and :func:`horizon_features`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from forecaster.config import covariate_roles, holiday_calendar



@dataclass(frozen=True)
class CovariateSpec:
    """The covariates a user asked for: file columns by role, generated calendar features
    (``calendar``: ``"none"`` or ``"auto"``) and a holiday country (``holidays``)."""

    past: tuple[str, ...] = ()
    future: tuple[str, ...] = ()
    static: tuple[str, ...] = ()
    calendar: str = "none"
    holidays: str | None = None

    @classmethod
    def of(cls, past=None, future=None, static=None, calendar="none",
           holidays=None) -> "CovariateSpec":
        """Validated: names as lists or comma-separated strings, no column in two roles, a
        known calendar mode and holiday country."""
        return cls(*covariate_roles(past, future, static, calendar, holidays))

    @property
    def columns(self) -> tuple[str, ...]:
        """Every file column with a role."""
        return self.past + self.future + self.static

    @property
    def generated(self) -> bool:
        return self.calendar != "none" or self.holidays is not None

    def __bool__(self) -> bool:
        return bool(self.columns) or self.generated

    def to_json(self) -> dict:
        return {"past": list(self.past), "future": list(self.future),
                "static": list(self.static), "calendar": self.calendar,
                "holidays": self.holidays}

    @classmethod
    def from_json(cls, data) -> "CovariateSpec":
        if not isinstance(data, dict):
            raise ValueError("covariates must be an object")
        return cls.of(data.get("past"), data.get("future"), data.get("static"),
                      data.get("calendar", "none"), data.get("holidays"))

    def describe(self) -> list[str]:
        """One phrase per role, for summaries: ``["past: footfall", "calendar: auto"]``."""
        out = [f"{role}: {', '.join(names)}" for role, names in
               (("past", self.past), ("future", self.future), ("static", self.static))
               if names]
        if self.calendar != "none":
            out.append(f"calendar: {self.calendar}")
        if self.holidays:
            out.append(f"holidays: {self.holidays}")
        return out


@dataclass(frozen=True)
class Covariates:
    """The covariate values a panel carries (one entry per series, in the panel's order).

    ``values[i]``: ``(n_i, len(past) + len(future))`` float64, finite, aligned with the
    series' values; ``ahead[i]``: ``(a_i, len(future))``, the future columns' known values
    for the ``a_i`` steps after the series' end; ``statics[i]``: one value per static column
    (a float, or a string for a categorical column, as ``static_kinds`` says)."""

    spec: CovariateSpec
    values: tuple[np.ndarray, ...] = ()
    ahead: tuple[np.ndarray, ...] = ()
    statics: tuple[tuple, ...] = ()
    static_kinds: tuple[str, ...] = ()

    @property
    def n_past(self) -> int:
        return len(self.spec.past)

    @property
    def n_future(self) -> int:
        return len(self.spec.future)

    def sliced(self, spans) -> "Covariates":
        """The covariates of series cut to ``spans`` ``[(first, stop), …]``: the future
        columns of the points after ``stop`` become known-ahead values; the past columns
        after it are dropped (unknown at that origin)."""
        values, ahead = [], []
        for v, a, (first, stop) in zip(self.values, self.ahead, spans):
            values.append(v[first:stop])
            ahead.append(np.concatenate([v[stop:, self.n_past:], a]) if stop < len(v) else a)
        return _replace(self, values=tuple(values), ahead=tuple(ahead))

    def picked(self, index) -> "Covariates":
        """The covariates of the series at positions ``index``, in that order."""
        return _replace(self, values=tuple(self.values[i] for i in index),
                        ahead=tuple(self.ahead[i] for i in index),
                        statics=tuple(self.statics[i] for i in index) if self.statics else ())

    def with_ahead(self, ahead) -> "Covariates":
        """The same covariates with the known future values replaced by ``ahead``."""
        return _replace(self, ahead=tuple(np.asarray(a, dtype=np.float64) for a in ahead))


def _replace(obj, **changes):
    from dataclasses import replace

    return replace(obj, **changes)


# -- generated features ---------------------------------------------------------------------
# (name, period, what) — a cycle and the timestamp field it is measured in
_CYCLES = {
    "minute_of_hour": 60, "hour_of_day": 24, "day_of_week": 7, "day_of_month": 31,
    "day_of_year": 365.25, "week_of_year": 52.18, "month_of_year": 12, "quarter_of_year": 4,
}


def calendar_cycles(axis) -> tuple[str, ...]:
    """The calendar cycles that vary within the data's frequency: a step must be shorter
    than the cycle's unit (no hour of day for daily data) and the cycle must have more than
    two steps (no month of year for yearly data).  None for integer steps."""
    if not axis.is_datetime:
        return ()
    offset = axis.offset
    try:
        step = pd.Timedelta(offset)  # fixed frequencies: h, min, D, W …
    except (ValueError, TypeError):
        rule = offset.rule_code.split("-")[0].upper()
        n = getattr(offset, "n", 1) or 1
        months = {"MS": 1, "ME": 1, "M": 1, "BMS": 1, "BME": 1, "BM": 1, "SM": 0.5,
                  "SMS": 0.5, "QS": 3, "QE": 3, "Q": 3, "BQS": 3, "BQE": 3, "BQ": 3,
                  "YS": 12, "YE": 12, "Y": 12, "A": 12, "AS": 12, "BYS": 12, "BA": 12,
                  "BYE": 12, "BAS": 12}.get(rule)
        if rule in ("B", "C"):
            step = pd.Timedelta(days=n)
        elif rule == "W":
            step = pd.Timedelta(days=7 * n)
        elif months is None:
            return ()
        else:
            step = pd.Timedelta(days=30.44 * months * n)
    hours = step / pd.Timedelta(hours=1)
    out = []
    if hours < 1 / 60 * 30:
        out.append("minute_of_hour")
    if hours < 24 / 2:
        out.append("hour_of_day")
    if hours < 24 * 7 / 2:
        out.append("day_of_week")
    if 24 <= hours <= 48:
        out.append("day_of_month")
    if hours < 24 * 7:
        out.append("day_of_year")
    elif hours < 24 * 28:
        out.append("week_of_year")
    elif hours < 24 * 365 / 2:
        out.append("month_of_year")
    return tuple(out)


def _cycle_position(index: pd.DatetimeIndex, cycle: str) -> np.ndarray:
    if cycle == "minute_of_hour":
        return index.minute.to_numpy(np.float64)
    if cycle == "hour_of_day":
        return (index.hour + index.minute / 60.0).to_numpy(np.float64)
    if cycle == "day_of_week":
        return (index.day_of_week + index.hour / 24.0).to_numpy(np.float64)
    if cycle == "day_of_month":
        return (index.day - 1).to_numpy(np.float64)
    if cycle == "day_of_year":
        return (index.day_of_year - 1 + index.hour / 24.0).to_numpy(np.float64)
    if cycle == "week_of_year":
        return (index.day_of_year - 1).to_numpy(np.float64) / 7.0
    if cycle == "month_of_year":
        return (index.month - 1).to_numpy(np.float64)
    raise ValueError(f"unknown calendar cycle {cycle!r}")


def generated_names(spec: CovariateSpec, axis) -> tuple[str, ...]:
    """Names of the generated features, in matrix order."""
    names = []
    if spec.calendar == "auto":
        for cycle in calendar_cycles(axis):
            names += [f"{cycle}_sin", f"{cycle}_cos"]
    if spec.holidays:
        names.append(f"holiday_{spec.holidays}")
    return tuple(names)


def wall_clock(axis, timestamps) -> pd.DatetimeIndex:
    """``timestamps`` as naive wall times of the data's local zone (``axis.wall_tz``): the
    clock calendar features and holidays read, also when the grid itself is UTC."""
    index = pd.DatetimeIndex(timestamps)
    if index.tz is None:
        return index
    return index.tz_convert(axis.wall_tz or index.tz).tz_localize(None)


def generated_features(spec: CovariateSpec, axis, timestamps) -> np.ndarray:
    """The calendar and holiday features of ``timestamps``, ``(n, k)`` float64, on the
    data's local wall clock (:func:`wall_clock`).  A holiday marks a step of a day or
    shorter falling on one; a longer step counts its holidays."""
    n = len(timestamps)
    cols = []
    if axis.is_datetime and (spec.calendar == "auto" or spec.holidays):
        index = wall_clock(axis, timestamps)
    if spec.calendar == "auto":
        for cycle in calendar_cycles(axis):
            angle = 2 * math.pi * _cycle_position(index, cycle) / _CYCLES[cycle]
            cols += [np.sin(angle), np.cos(angle)]
    if spec.holidays:
        if not axis.is_datetime:
            cols.append(np.zeros(n))
        else:
            days = index.normalize()
            step_end = wall_clock(axis, axis.range(timestamps[-1], 2))[1] if n else None
            years = range(days.min().year, step_end.year + 1) if n else [2000]
            cal = holiday_calendar(spec.holidays, years)
            marked = pd.DatetimeIndex(sorted(pd.Timestamp(d) for d in cal))
            cycles = calendar_cycles(axis)
            if "hour_of_day" in cycles or "day_of_week" in cycles:
                cols.append(days.isin(marked).astype(np.float64))
            else:  # weeks, months …: holidays in [t, next t)
                bounds = index.append(pd.DatetimeIndex([step_end])) if n else index
                counts = np.diff(np.searchsorted(marked.to_numpy(), bounds.to_numpy()))
                cols.append(counts.astype(np.float64))
    return np.stack(cols, axis=1) if cols else np.zeros((n, 0))


@dataclass
class FeatureLayout:
    """How a model sees a panel's covariates: the channels of its input rows.

    Every input row is ``[target, past…, known…, static…]`` where *known* are the file's
    future columns and then the generated features.  History rows hold all of them; the
    ``horizon`` rows that follow (when anything is known ahead or static) hold only the
    known and static channels (target and past zero)."""

    past: tuple[str, ...]
    known: tuple[str, ...]
    static: tuple[str, ...]  # encoded static channels (``region=north``, ``size``)
    horizon_rows: bool = field(default=False)

    @property
    def channels(self) -> int:
        return 1 + len(self.past) + len(self.known) + len(self.static)

    @property
    def first_ahead(self) -> int:
        """The first channel that horizon rows carry."""
        return 1 + len(self.past)
