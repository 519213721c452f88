"""The reading options of :func:`~forecaster.data.ingest.read_panel`, validated once
(:class:`_Options`), and the gap fill each covariate column gets (:func:`covariate_fill`).

A covariate column's gaps are filled by its own policy when ``fill_covariates`` names one
(``{"holiday": "ffill"}``, ``--fill-covariates holiday=ffill``), else by ``fill`` — except
that a column of flags or categories (every observed value 0 or 1, a boolean or a
categorical column) is carried forward where ``fill`` would interpolate: a holiday flag
interpolated across a gap becomes 0.5, a day that is neither.  The note of such a fill says
which policy was used and why.  Package-private helpers of ``read_panel``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from forecaster.choices import AGGREGATES, READER_FILLS
from forecaster.config import fill_policies
from forecaster.data.columns import _resolve
from forecaster.data.timestamps import _parse_freq
from forecaster.errors import DataError
from forecaster.notes import Note, kind_of

FILLS = READER_FILLS


@dataclass
class _Options:
    """The reading options of :func:`read_panel`, validated."""

    freq: str | None
    offset: object  # the pandas offset of ``freq``, or None to infer one
    dayfirst: bool
    monthfirst: bool
    fill: str
    max_gap: int | None
    aggregate: str | None
    min_length: int
    run_axis: object = None  # the TimeAxis of the run the data are read for, or None
    fill_covariates: dict = field(default_factory=dict)  # {column: fill} as the user named them

    @classmethod
    def check(cls, *, freq, dayfirst, monthfirst, fill, max_gap, aggregate,
              min_length, fill_covariates=None) -> "_Options":
        fill = _check_choice("fill", fill, FILLS)
        if aggregate is not None:
            aggregate = _check_choice("aggregate", aggregate, AGGREGATES)
        if max_gap is not None and (isinstance(max_gap, bool) or not isinstance(
                max_gap, (int, np.integer)) or max_gap < 0):
            raise DataError(f"`max_gap` must be an integer >= 0. Got {max_gap!r}.")
        if isinstance(min_length, bool) or not isinstance(min_length, (int, np.integer)) \
                or min_length < 1:
            raise DataError(f"`min_length` must be an integer >= 1. Got {min_length!r}.")
        if dayfirst and monthfirst:
            raise DataError("`dayfirst` and `monthfirst` cannot both be set.")
        offset = _parse_freq(freq) if freq is not None else None
        return cls(freq=freq, offset=offset, dayfirst=dayfirst, monthfirst=monthfirst,
                   fill=fill, max_gap=max_gap, aggregate=aggregate, min_length=min_length,
                   fill_covariates=fill_policies(fill_covariates))


def _check_choice(name, value, choices):
    v = str(value).strip().lower() if isinstance(value, str) else value
    if v not in choices:
        raise DataError(f"`{name}` must be one of {', '.join(choices)}. Got {value!r}.")
    return v


def chosen_fills(opts: _Options, frame: pd.DataFrame, roles: dict, src) -> dict:
    """``{column: fill}`` of ``fill_covariates``, each name resolved to a column of
    ``frame`` as the covariates' names are; a name that is no past or future covariate is
    an error (a fill would silently do nothing)."""
    out = {}
    for name, fill in opts.fill_covariates.items():
        col = _resolve(frame, name, "fill_covariates", src)
        if roles.get(col) not in ("past", "future"):
            have = [c for c, r in roles.items() if r in ("past", "future")]
            raise DataError(f"`fill_covariates` names {col!r}, which is not a past or future "
                            "covariate (" + (f"those are: {', '.join(map(repr, have))}"
                                             if have else "there are none") + ").")
        out[col] = fill
    return out


def is_flag(column: pd.Series) -> bool:
    """A column of flags or categories: boolean, categorical, or numbers (or number text)
    whose observed values are all 0 or 1."""
    dtype = column.dtype
    if pd.api.types.is_bool_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype):
        return True
    if not pd.api.types.is_numeric_dtype(dtype):
        column = pd.to_numeric(column.astype(str).str.strip(), errors="coerce")
    values = column.to_numpy(dtype=np.float64, na_value=np.nan)
    seen = values[~np.isnan(values)]
    return len(seen) > 0 and bool(np.all((seen == 0) | (seen == 1)))


def covariate_fill(name, column: pd.Series, fill: str, chosen: dict) -> tuple[str, str | None]:
    """``(fill, why)``: the gap fill of covariate ``name`` — the one ``chosen`` gives it,
    else ``fill``, but ``ffill`` for a flag or category column (:func:`is_flag`) where
    ``fill`` is ``interpolate``; ``why`` says so in that case (else None)."""
    if name in chosen:
        return chosen[name], None
    if fill == "interpolate" and is_flag(column):
        return "ffill", ("a column of 0/1 flags or categories is carried forward, never "
                         f"interpolated; --fill-covariates {name}=interpolate to insist")
    return fill, None


def explain_fill(notes, why: str | None) -> tuple:
    """``notes`` with the fill note completed by ``why`` (the policy and its reason)."""
    if why is None:
        return tuple(notes)
    return tuple(Note(f"{str(n).rstrip('.')} ({why}).", kind="fill")
                 if kind_of(n) == "fill" else n for n in notes)
