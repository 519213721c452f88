"""Time zones of user timestamps: the local zone behind offsets that change at DST, and the
one policy for timestamps read against a run's zone.

Timestamps whose UTC offsets change (``+11:00`` then ``+10:00``: a DST end) are placed on a
UTC grid (regular steps, the documented output convention), but their calendar — the hour
of day, the day a holiday falls on — is the local one: :func:`recover_zone` finds the IANA
zone whose rules give every row its offset, and the axis records it as ``local_tz`` so that
a prediction computes the future steps' features on the same wall clock.

:func:`align_zone` is the one check of timestamps read for an existing run (new data,
``--future`` files, server rows): zone-aware against naive, either way round, is a one-line
:class:`~forecaster.errors.DataError` naming the series; zone-aware timestamps in another
zone or offset are the same instants, converted to the run's zone (with a note).
"""

from __future__ import annotations

import zoneinfo
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from forecaster.errors import DataError

#: areas of zones that no one's local wall clock is likely named after
_REMOTE = ("Antarctica/", "Arctic/", "Etc/")
_AREAS = ("Africa/", "America/", "Antarctica/", "Arctic/", "Asia/", "Atlantic/",
          "Australia/", "Europe/", "Indian/", "Pacific/")


def check_zone_name(name) -> None:
    """A ``ValueError`` unless ``name`` is an IANA zone this machine knows (a zone read
    from a run file is checked before any feature uses it)."""
    try:
        zoneinfo.ZoneInfo(str(name))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError, OSError):
        raise ValueError(f"{name!r} is not a known time zone") from None


@lru_cache(maxsize=1)
def _candidates() -> tuple[str, ...]:
    """The zones a recovery tries, in the order it prefers them: canonical zones
    (``zone1970.tab``, else every area/city name), inhabited areas first, then by name."""
    names: set[str] = set()
    for root in zoneinfo.TZPATH:
        tab = Path(root) / "zone1970.tab"
        if tab.is_file():
            for line in tab.read_text(encoding="utf-8", errors="replace").splitlines():
                parts = line.split("\t")
                if not line.startswith("#") and len(parts) >= 3:
                    names.add(parts[2].strip())
            break
    known = zoneinfo.available_timezones()
    names = {n for n in names if n in known} or {n for n in known if n.startswith(_AREAS)}
    return tuple(sorted(names, key=lambda n: (n.startswith(_REMOTE), n)))


def _offsets(instants: pd.DatetimeIndex, zone: str) -> np.ndarray:
    """The UTC offset (in ticks) of ``zone`` at every UTC instant."""
    local = instants.tz_convert(zone).tz_localize(None)
    return (local.asi8 - instants.tz_localize(None).asi8)


def recover_zone(instants: pd.DatetimeIndex, wall: pd.DatetimeIndex) -> list[str]:
    """The zones (preferred first, see :func:`_candidates`) whose rules give every UTC
    instant of ``instants`` the wall time ``wall`` (naive, same unit): empty when none does
    (offsets no zone has, or one instant with two offsets: series from several zones)."""
    frame = pd.DataFrame({"t": instants.tz_localize(None).asi8,
                          "off": wall.asi8 - instants.tz_localize(None).asi8})
    frame = frame.drop_duplicates().sort_values("t", kind="stable")
    if frame["t"].duplicated().any():
        return []
    t, off = frame["t"].to_numpy(), frame["off"].to_numpy()
    change = np.flatnonzero(np.diff(off) != 0)
    probe = np.unique(np.r_[0, len(t) - 1, change, change + 1])    # each side of a change
    unit = instants.unit
    sample = pd.DatetimeIndex(t[probe].astype(f"datetime64[{unit}]")).tz_localize("UTC")
    every = pd.DatetimeIndex(t.astype(f"datetime64[{unit}]")).tz_localize("UTC")
    return [z for z in _candidates()
            if np.array_equal(_offsets(sample, z), off[probe])
            and np.array_equal(_offsets(every, z), off)]


def describe_zones(zones: list[str]) -> str:
    """How a note names the recovered zone: ``Australia/Hobart (also Australia/Melbourne,
    Australia/Sydney)``; the others have the same offsets over the data."""
    if len(zones) == 1:
        return zones[0]
    more = ", ".join(zones[1:4]) + (", …" if len(zones) > 4 else "")
    return f"{zones[0]} (also {more})"


def align_zone(tz, run_axis, *, series, example, name, notes) -> str | None:
    """The zone timestamps read with zone ``tz`` (None: naive) take for a run on
    ``run_axis``: the run's.  Zone-aware against naive (either way) is a
    :class:`DataError` naming ``series`` and ``example`` (a timestamp and where it is);
    aware timestamps in another zone are the same instants, shown in the run's zone (a
    note).  Every path that reads timestamps for a run goes through here."""
    want = run_axis.tz
    if (tz is None) != (want is None):
        have = "have no time zone" if tz is None else f"carry a time zone ({tz})"
        run = f"in {want}" if want is not None else "naive (no time zone)"
        fix = ("give them the run's offsets or zone" if want is not None
               else "give them without an offset, as the training data were")
        raise DataError(f"series {series!r}: the timestamps in column {name!r} {have} "
                        f"(e.g. {example}), but the run's timestamps are {run}; {fix}.")
    if tz is not None and str(tz) != str(want):
        notes.append(f"Converted the timestamps in column {name!r} from {tz} to the run's "
                     f"time zone ({want}).")
    return want
