"""Nixtla's column names, read and written (``--output-format nixtla``, ``forecast evaluate
--format nixtla``, new data in ``unique_id, ds, y``).

Nixtla's libraries (StatsForecast, NeuralForecast, utilsforecast) and the tools built on
them read a long frame ``unique_id, ds, y``; their forecasts are ``unique_id, ds, <model>,
<model>-lo-<level>, <model>-hi-<level>`` and their cross-validation adds ``cutoff`` and
the actual ``y``.  Reading: data given to a run in Nixtla's names (new data, future
covariates, server rows) are read with those names standing for the run's series, time
and target columns when the run's own names are absent (:func:`read_with_run_columns`).
Writing: :func:`to_nixtla` renames a forecast frame, :func:`cross_validation` pivots a
backtest's forecasts to one column per model.
"""

from __future__ import annotations

import pandas as pd

from forecaster.choices import FORECAST_LAYOUTS
from forecaster.data.columns import ColumnNotFound
from forecaster.errors import ConfigError, DataError

#: The run's column (by its reading option) that each Nixtla name stands for
NIXTLA_NAMES = {"id_col": "unique_id", "time_col": "ds", "target": "y"}


def read_with_run_columns(read, columns: dict, taken=(), what: str | None = "the new data"):
    """``read(**columns)`` (``columns``: the run's ``target``/``time_col``/``id_col``),
    again with Nixtla's name for each of the run's columns the data lack.

    A Nixtla name that is also another of the run's columns or one of ``taken`` (its
    covariates) could mean either, so it is refused as a :class:`DataError` (its message
    starts with ``what``, when given); a column missing under both names raises the
    reader's :class:`ColumnNotFound` for the run's name."""
    columns, missing = dict(columns), {}
    while True:
        try:
            return read(**columns)
        except ColumnNotFound as exc:
            role = exc.hint.kind if exc.hint is not None else None
            if role in missing:  # under Nixtla's name too: say the run's name
                raise missing[role] from None
            nixtla = NIXTLA_NAMES.get(role)
            if nixtla is None or columns.get(role) in (None, nixtla):
                raise
            own = {c for r, c in columns.items() if r != role and c is not None}
            if nixtla in own or nixtla in set(taken):
                raise DataError(f"{what + ': ' if what else ''}the run's "
                                f"{_ROLE_WORDS[role]} column {columns[role]!r} is missing, "
                                f"and Nixtla's name for it, {nixtla!r}, is another of the "
                                f"run's columns, so it could mean either; name the column "
                                f"{columns[role]!r}.") from None
            missing[role] = exc
            columns[role] = nixtla


_ROLE_WORDS = {"id_col": "series", "time_col": "time", "target": "target"}


def interval_columns(frame: pd.DataFrame) -> list[str]:
    """The level names (``"80"``, ``"97.5"``) of a forecast frame's ``lower_``/``upper_``
    pairs, in their order."""
    return [c[len("lower_"):] for c in frame.columns if str(c).startswith("lower_")]


def to_nixtla(frame: pd.DataFrame, model: str = "rnn") -> pd.DataFrame:
    """A forecast frame (``series_id, timestamp, forecast, lower_80, upper_80, …``) in
    Nixtla's layout: ``unique_id, ds, <model>, <model>-lo-80, <model>-hi-80, …``, the
    values and their order unchanged; ``model`` names the model that forecast (the run's
    deployed one: ``rnn``, ``theta``, …)."""
    names = {"series_id": "unique_id", "timestamp": "ds", "forecast": model}
    for level in interval_columns(frame):
        names[f"lower_{level}"] = f"{model}-lo-{level}"
        names[f"upper_{level}"] = f"{model}-hi-{level}"
    return frame.rename(columns=names)


def laid_out(frame: pd.DataFrame, layout: str, model: str) -> pd.DataFrame:
    """A forecast frame as ``layout`` (``--output-format``) names its columns: as it is
    (``"forecaster"``), or :func:`to_nixtla` with ``model``'s name."""
    if layout not in FORECAST_LAYOUTS:
        raise ConfigError(f"`output_format` must be one of {', '.join(FORECAST_LAYOUTS)}. "
                          f"Got {layout!r:.40}.")
    return to_nixtla(frame, model) if layout == "nixtla" else frame


def cross_validation(frame: pd.DataFrame, models: list, axis=None) -> pd.DataFrame:
    """A backtest frame (``model, fold, series_id, cutoff, timestamp, step, actual,
    forecast``) as Nixtla's cross-validation: ``unique_id, ds, cutoff, y, <model>, …``,
    one row per series, cutoff and timestamp (sorted so), one forecast column per model
    of ``models`` in that order.  ``axis`` (the data's time axis): ``ds`` and ``cutoff``
    formatted as ``backtest.csv`` writes them."""
    keys = ["series_id", "cutoff", "timestamp"]
    wide = frame.pivot(index=keys, columns="model", values="forecast")
    actual = frame.drop_duplicates(keys).set_index(keys)["actual"]
    out = pd.concat([actual, wide[[m for m in models if m in wide.columns]]], axis=1)
    out = out.reset_index().sort_values(keys, kind="stable", ignore_index=True)
    out = out.rename(columns={"series_id": "unique_id", "timestamp": "ds", "actual": "y"})
    out = out[["unique_id", "ds", "cutoff", "y", *out.columns[4:]]]
    out.columns.name = None
    if axis is not None:
        for col in ("ds", "cutoff"):
            out[col] = axis.format_all(out[col])
    return out
