"""A wide table — a time column and one column per series — as the long table the rest of
:func:`~forecaster.data.ingest.read_panel` reads: the series columns stacked into one
value column, with a series id column naming each row's column.  The time column and the
covariate columns are repeated for every series (a covariate of a wide table drives every
series).  Which tables are wide is decided by :func:`forecaster.data.columns._wide_columns`.

Messages stay the table's own: each series column is converted to numbers first (a bad
value names its column and line), and the stacked rows map back to the table's lines.
Package-private.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from forecaster.data.columns import _Columns, _to_float
from forecaster.data.readers import _code_dtype, _Source

#: Names the stacked columns take: the first free one of each (the long reading's own)
ID_NAMES = ("unique_id", "series_id", "series")
VALUE_NAMES = ("y", "value", "target")


def stack_wide(src: _Source, cols: _Columns) -> tuple[_Source, _Columns]:
    """``src`` with its series columns ``cols.wide`` stacked (series in column order, rows
    in the table's order within each) and the columns of the stacked table."""
    df, series, n = src.frame, cols.wide, len(src.frame)
    k = len(series)
    taken = set(df.columns)
    id_name = next(c for c in ID_NAMES + ("_series",) if c not in taken)
    value_name = next(c for c in VALUE_NAMES + ("_value",) if c not in taken)
    values = np.concatenate([_series_values(src, c) for c in series])
    codes = np.repeat(np.arange(k, dtype=_code_dtype(k)), n)
    labels = pd.Index([str(c) for c in series], dtype=object)
    kept = [cols.time, *cols.roles]
    out = {c: pd.concat([df[c]] * k, ignore_index=True) for c in kept}
    out[id_name] = pd.Series(pd.Categorical.from_codes(codes, categories=labels,
                                                       validate=False))
    out[value_name] = pd.Series(values, copy=False)
    frame = pd.DataFrame(out, copy=False)[[cols.time, id_name, value_name, *cols.roles]]
    fast = {c: np.tile(a, k) for c, a in src.fast.items()
            if c in kept and isinstance(a, np.ndarray)}
    fast[id_name], fast[value_name] = (codes, labels), values
    reread = src.reread_time

    def reread_time(col):    # the file's time column, re-read, repeated like the rest
        return pd.concat([reread(col)] * k, ignore_index=True)

    stacked = _Source(frame, src.name, parquet=src.parquet, notes=src.notes,
                      reread_time=reread_time if reread is not None else None, fast=fast,
                      skipped=src.skipped, period=n)
    return stacked, replace(cols, target=value_name, id=id_name, wide=())


def _series_values(src: _Source, column) -> np.ndarray:
    """A series column as float64 (the pyarrow reader's array when it has one)."""
    values = src.fast.get(column)
    if isinstance(values, np.ndarray) and values.dtype == np.float64:
        return values
    return _to_float(src.frame[column], column, src)
