"""Reading the covariate columns of a file onto the target's panel (a stage of
:func:`~forecaster.data.ingest.read_panel`).

Each past or future column is read exactly as the target is — the same rows, timestamps,
grid and gap policy (``read_column`` runs ingest's stages with that column as the value) —
and then laid on the target's span: it must have a value at every point of each series
(gaps inside are filled by the fill policy, with a note naming the column).  A future
column's values *after* a series' last target value (rows where the target is empty, as a
file prepared for prediction has) are kept as known-ahead values.  A static column must
hold one value per series.  Non-numeric past or future columns are an error naming them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecaster.data.covariates import Covariates, CovariateSpec, calendar_cycles
from forecaster.errors import HINT, DataError, Hint
from forecaster.notes import Note, kind_of


def attach_covariates(panel, spec: CovariateSpec, frame: pd.DataFrame, id_col,
                      read_column, looks_numeric):
    """``panel`` with the covariates of ``spec`` read from ``frame``.

    ``read_column(name)`` returns the column as a panel on the same axis;
    ``looks_numeric(series)`` tells numbers from text (ingest's own test)."""
    if not spec:
        return panel
    if spec.holidays and not panel.axis.is_datetime:
        raise DataError(f"--holidays needs dates, but the time column {panel.time_col!r} "
                        "holds integer steps.")
    notes = list(panel.notes)
    if spec.calendar == "auto" and not calendar_cycles(panel.axis):
        notes.append("--calendar auto adds nothing: "
                     + ("the time column holds integer steps." if not panel.axis.is_datetime
                        else f"no calendar cycle turns within the data's {panel.axis.freq!r} "
                             "steps."))
    for name in spec.past + spec.future:
        col = frame[name]
        if not looks_numeric(col):
            sample = col.dropna()
            shown = repr(str(sample.iloc[0])) if len(sample) else "no values"
            raise DataError(
                f"covariate {name!r} is not numeric (e.g. {shown}); past and future "
                "covariates must be numbers (encode categories as numbers, or pass a "
                f"per-series constant with {HINT}).",
                hint=Hint("static_covariates", "--static-covariates", "static_covariates="))
    columns = spec.past + spec.future
    values = [np.zeros((n, len(columns))) for n in panel.lengths]
    ahead = [np.zeros((0, len(spec.future))) for _ in panel.ids]
    for j, name in enumerate(columns):
        try:
            col = read_column(name)
        except DataError as exc:
            raise DataError(f"covariate {name!r}: {exc}") from None
        notes += [Note(f"covariate {name!r}: {note[0].lower()}{note[1:]}", kind=note.kind)
                  for note in col.notes if kind_of(note) in ("fill", "infinite")]
        _place(panel, col, name, j, values, ahead, future=j >= len(spec.past),
               k=j - len(spec.past))
    statics, kinds = _statics(panel, spec.static, frame, id_col, looks_numeric)
    cov = Covariates(spec=spec, values=tuple(values), ahead=tuple(ahead),
                     statics=statics, static_kinds=kinds)
    from dataclasses import replace

    return replace(panel, covariates=cov, notes=tuple(notes))


def _place(panel, col, name, j, values, ahead, *, future: bool, k: int) -> None:
    """Column ``j`` of every series from ``col`` (the column read as a panel)."""
    index = {sid: i for i, sid in enumerate(col.ids)}
    axis, fmt = panel.axis, panel.axis.format
    for i, sid in enumerate(panel.ids):
        c = index.get(sid)
        if c is None:
            raise DataError(f"covariate {name!r} has no values for series {sid!r}.")
        lead = axis.steps(col.starts[c], panel.starts[i])    # column points before the series
        if lead < 0:
            raise DataError(f"covariate {name!r} of series {sid!r} has no value at "
                            f"{fmt(panel.starts[i])}, the series' first point (it starts at "
                            f"{fmt(col.starts[c])}); give it a value there.")
        n = len(panel.values[i])
        have = col.values[c][lead:]
        if len(have) < n:
            missing = axis.shift(panel.starts[i], len(have))
            raise DataError(f"covariate {name!r} of series {sid!r} has no value from "
                            f"{fmt(missing)} on, within the series (it ends at "
                            f"{fmt(panel.end(i))}); give it a value there.")
        values[i][:, j] = have[:n]
        if future and len(have) > n:
            extra = have[n:]
            if ahead[i].shape[0] < len(extra):
                grown = np.full((len(extra), ahead[i].shape[1]), np.nan)
                grown[:ahead[i].shape[0]] = ahead[i]
                ahead[i] = grown
            ahead[i][:len(extra), k] = extra
    for i in range(len(ahead)):  # keep the steps every future column knows
        a = ahead[i]
        if len(a):
            known = np.all(np.isfinite(a), axis=1)
            ahead[i] = a[:int(np.argmin(known)) if not known.all() else len(a)]


def _statics(panel, names, frame, id_col, looks_numeric):
    """One value per series and static column: a float for a numeric column, a string for
    a categorical one; a series with none, or several, is an error naming it."""
    if not names:
        return (), ()
    kinds, table = [], []
    ids = frame[id_col].astype(str) if id_col is not None else pd.Series(
        panel.ids[0], index=frame.index)
    for name in names:
        col = frame[name]
        numeric = looks_numeric(col)
        kinds.append("numeric" if numeric else "category")
        if numeric:
            col = pd.to_numeric(col, errors="coerce")
        else:
            col = col.where(col.isna(), col.astype(str).str.strip())
        grouped = col.groupby(ids.to_numpy(), sort=False).agg(lambda s: s.dropna().unique())
        per = {}
        for sid in panel.ids:
            found = grouped.get(sid, np.array([]))
            if len(found) == 0:
                raise DataError(f"static covariate {name!r} has no value for series {sid!r}.")
            if len(found) > 1:
                raise DataError(
                    f"static covariate {name!r} changes within series {sid!r} ("
                    f"{_plain(found[0])!r}, {_plain(found[1])!r} …); a static covariate holds one value per "
                    f"series (pass a changing column with {HINT}).",
                    hint=Hint("past_covariates", "--past-covariates or --future-covariates",
                              "past_covariates= or future_covariates="))
            value = found[0]
            if numeric and not np.isfinite(float(value)):
                raise DataError(f"static covariate {name!r} of series {sid!r} is not a finite "
                                f"number. Got {value!r}.")
            per[sid] = float(value) if numeric else str(value)
        table.append(per)
    statics = tuple(tuple(t[sid] for t in table) for sid in panel.ids)
    return statics, tuple(kinds)


def _plain(value):
    """A NumPy scalar as the Python value it holds (for messages)."""
    return value.item() if isinstance(value, np.generic) else value

