"""The future covariates of a prediction (``forecast predict --future FILE``).

A run trained with future covariates needs their values for every series and every step of
the horizon.  The file is long (or wide for a single series) like the training data: the
run's time column (and series column), and one column per future covariate.  It may hold
more than the horizon, and rows before the forecast origin (they are skipped), but every
series of the forecast needs a value at every step from the one after its end: a missing
series, a missing step, a timestamp off the run's grid, timestamps with a time zone for a
naive run (or none for a zone-aware one), or an empty or non-finite value is a one-line
:class:`~forecaster.errors.DataError` naming the series and the first bad timestamp; the
timestamps are read in the run's zone (``read_panel(run_axis=…)``), and its messages suggest
no flag ``predict`` lacks (``--aggregate``).
Calendar and holiday features are generated, never read.
"""

from __future__ import annotations

import numpy as np

from forecaster.config import DataConfig
from forecaster.data.columns import ColumnNotFound
from forecaster.data.covariates import CovariateSpec
from forecaster.data.ingest import read_panel
from forecaster.errors import HINT, DataError, Hint
from forecaster.notes import kind_of
from forecaster.pipeline.inputs import repair_options
from forecaster.pipeline.nixtla import read_with_run_columns


def read_future(source, state, horizon: int, data: DataConfig | None = None):
    """``(ahead, notes)``: per series of ``state`` (in its order), the ``(horizon, k)``
    future-covariate values after its end, read from ``source`` (a path or a DataFrame);
    ``ahead`` is None when the run needs none."""
    encoder = state.encoder
    future = () if encoder is None else tuple(encoder.spec.future)
    if not future:
        if source is not None:
            return None, ["the run has no future covariates from a file, so --future was "
                          "not read" + (" (calendar and holiday features are generated)"
                                        if encoder is not None and encoder.generated else "")
                          + "."]
        return None, []
    if source is None:
        raise DataError(
            f"the run uses future covariates ({', '.join(future)}): pass their values for "
            f"the {horizon} step(s) after each series' end with {HINT} (columns: "
            f"{_columns(state, future)}).", hint=Hint("future", "--future FILE", "future="))
    panel = _read(source, state, future, data)
    index = {sid: i for i, sid in enumerate(panel.ids)}
    if state.id_col is None and len(panel) == 1 and len(state.series) == 1:
        index = {state.series[0].id: 0}  # a wide file names its series after a column
    axis, fmt = state.axis, state.axis.format
    ahead = []
    for s in state.series:
        i = index.get(s.id)
        if i is None:
            raise DataError(f"the future covariates have no rows for series {s.id!r}; every "
                            "series of the forecast needs them.")
        first = axis.shift(s.context_start, len(s.context))  # the step after the end
        skip = axis.steps(panel.starts[i], first)
        rows = np.column_stack([panel.values[i], *(panel.covariates.values[i].T)]) \
            if panel.covariates is not None and panel.covariates.values[i].shape[1] \
            else panel.values[i][:, None]
        if axis.shift(panel.starts[i], skip) != first:
            raise DataError(f"the future covariates of series {s.id!r} are not on the run's "
                            f"grid: {fmt(panel.starts[i])} is not a step of {axis.describe()} "
                            f"from the series' end ({fmt(axis.shift(first, -1))}).")
        if skip < 0:
            raise DataError(f"the future covariates of series {s.id!r} are missing from "
                            f"{fmt(first)} (they start at {fmt(panel.starts[i])}).")
        have = rows[skip:skip + horizon]
        if len(have) < horizon:
            raise DataError(f"the future covariates of series {s.id!r} are missing from "
                            f"{fmt(axis.shift(first, len(have)))}: the forecast needs "
                            f"{horizon} step(s), up to {fmt(axis.shift(first, horizon - 1))}.")
        ahead.append(np.asarray(have, dtype=np.float64))
    notes = [n for n in panel.notes if kind_of(n) not in ("trim", "sort")]
    extra = sorted(set(panel.ids) - {s.id for s in state.series})
    if extra and state.id_col is not None:
        notes.append(f"the future covariates of {len(extra)} series not forecast were not "
                     "used.")
    return ahead, notes


def _columns(state, future) -> str:
    cols = [repr(state.time_col)] + ([repr(state.id_col)] if state.id_col else [])
    return ", ".join(cols + [repr(c) for c in future])


def _read(source, state, future, data):
    """The file as a panel: the first future column as its values, the others as its
    covariates; gaps are errors (a future value cannot be interpolated into being).  Its
    time and series columns may be named as Nixtla names them (``ds``, ``unique_id``)."""
    options = repair_options(data) if data is not None else {}
    options.update(fill="error", max_gap=None)
    axis = state.axis
    try:  # the run's time and series columns, else Nixtla's (ds, unique_id)
        return read_with_run_columns(
            lambda **cols: read_panel(source, target=future[0], **cols,
                                      freq=axis.freq if axis.is_datetime else None,
                                      min_length=1,
                                      covariates=CovariateSpec.of(future=future[1:]),
                                      run_axis=axis, **options),
            {"time_col": state.time_col, "id_col": state.id_col}, taken=future,
            what=None)  # the caller's message names the future covariates
    except ColumnNotFound as exc:
        raise DataError(f"the future covariates need the columns {_columns(state, future)}: "
                        + exc.said("")) from None
    except DataError as exc:
        # a future value cannot be filled or resampled into being: say what the file needs
        fixes = {"fill": "; every step of the horizon needs a value",
                 "aggregate": "; give every step one row",
                 "resample": f"; give one row per step of the run's {axis.freq!r} grid"}
        fix = fixes.get(exc.hint.kind) if exc.hint is not None else None
        text, hint = (exc.said(fix), None) if fix is not None else (exc.template, exc.hint)
        if state.id_col is None and len(state.series) == 1:  # a wide file: the run's series
            text = text.replace(f"series {future[0]!r}", f"series {state.series[0].id!r}")
        raise DataError(f"the future covariates: {text}", hint=hint) from None
