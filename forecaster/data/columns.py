"""Which columns hold the time, the series ids and the target (detected by name, type
and content unless named), and their conversion to numbers and series codes, with messages
that name the line of a bad value.  Package-private helpers of
:func:`~forecaster.data.ingest.read_panel`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from forecaster.data.conventions import _NULL_TOKENS, ID_NAMES, TIME_NAMES
from forecaster.data.hints import name_a_column
from forecaster.errors import HINT, DataError, Hint

_BLOCK = 1 << 16     # rows per block of a scan: its temporaries stay in cache











def _row(rows, k) -> int:
    return int(k) if rows is None else int(rows[k])


def _all_finite(values) -> bool:
    for a in range(0, len(values), _BLOCK * 4):
        if not np.isfinite(values[a:a + _BLOCK * 4]).all():
            return False
    return True


def _nondecreasing(codes) -> bool:
    for a in range(0, len(codes) - 1, _BLOCK * 4):      # codes are narrow: bigger blocks
        b = min(a + _BLOCK * 4, len(codes) - 1)
        if (codes[a + 1:b + 1] < codes[a:b]).any():
            return False
    return True


def _counts(codes, minlength=0) -> np.ndarray:
    """``np.bincount(codes, minlength=minlength)`` for sorted codes, without a pass."""
    size = max(int(codes[-1]) + 1 if len(codes) else 0, minlength)
    return np.diff(np.searchsorted(codes, np.arange(size + 1, dtype=codes.dtype)))


#: a number with thousands separators, "1,234.5" (commas every three digits)
_GROUPED = re.compile(r"[+-]?\d{1,3}(,\d{3})+(\.\d*)?")

_DATEISH = re.compile(
    r"^\s*(\d{4}[-/.]\d{1,2}([-/.]\d{1,2})?([ T].*)?"
    r"|\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}([ T].*)?"
    r"|.*\b(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\b.*\d{4}.*"
    r"|\d{4}-?W\d{2}.*"
    r"|\d{4}\s*[-/ ]?\s*Q[1-4]|Q[1-4]\s*[-/ ]?\s*\d{4})\s*$", re.IGNORECASE)


@dataclass
class _Columns:
    time: str
    target: str
    id: str | None
    time_kind: str | None = None
    roles: dict = field(default_factory=dict)  # covariate column -> past | future | static
    wide: tuple = ()  # the value columns of a wide table, one series each (target: None)


class ColumnNotFound(DataError):
    """An option names a column the data lack (a caller reading with a run's columns says
    which it needs instead of the option's hint)."""


def _resolve(df, name, what, src):
    """The column of ``df`` that option ``what`` (``target``, ``id_col``, …) names:
    exactly, else the one equal up to case and spaces."""
    cols = list(df.columns)
    if name in cols:
        return name
    folded = [c for c in cols if str(c).strip().lower() == str(name).strip().lower()]
    if len(folded) == 1:
        return folded[0]
    flag = "--" + what.replace("_", "-")
    raise ColumnNotFound(f"`{what}` must name a column of '{src.name}'. Got {name!r}; the "
                         f"columns are: {', '.join(repr(c) for c in cols)}{HINT}.",
                         hint=Hint(what, f" (use {flag})", f" (use {what}=)"))


def _guess_target(df, src, rest, cols, tc):
    """The target when none is named: a column ``y``, else the only value column, else the
    only numeric one; several numeric columns, or none, is an error asking for one."""
    if "y" in rest:
        return "y"
    if len(rest) == 1:
        return rest[0]
    numeric = [c for c in rest if _looks_numeric(df[c])]
    if len(numeric) == 1:
        return numeric[0]
    if numeric:
        raise DataError(f"'{src.name}' has {len(numeric)} numeric columns; pass {HINT} "
                        f"with one of: {', '.join(repr(c) for c in numeric)}.",
                        hint=Hint("target", "--target", "target="))
    if rest:
        raise DataError(f"'{src.name}' has no numeric value column (columns: "
                        f"{', '.join(repr(c) for c in cols)}); pass {HINT}.",
                        hint=name_a_column("target"))
    raise DataError(f"'{src.name}' has no value column besides the time column {tc!r}.")


def _pick_columns(df, src, *, target, time_col, id_col, covariates=None,
                  wide=False) -> _Columns:
    """The time, id, target and covariate columns; ``wide`` (True, False or ``"auto"``:
    :func:`_wide_columns`) reads every value column as a series instead of a target."""
    cols = list(df.columns)
    low = {}
    for c in cols:
        low.setdefault(str(c).strip().lower(), c)

    if id_col is not None:
        idc = _resolve(df, id_col, "id_col", src)
    else:
        idc = next((low[k] for k in ID_NAMES if k in low), None)
        head = df[idc].iloc[:1000] if idc is not None else None
        if (idc is not None and len(df) >= 3 and head.nunique(dropna=False) == len(head)
                and df[idc].nunique(dropna=False) == len(df)):
            # a different value on every row: a row number, not a series id
            src.notes.append(f"Ignored column {idc!r}: every row has a different value, so "
                             f"it is a row id, not a series id (use --id-col to insist).")
            df = df.drop(columns=[idc])
            cols = list(df.columns)
            idc = None

    kind = None
    if time_col is not None:
        tc = _resolve(df, time_col, "time_col", src)
    else:
        tc = next((low[k] for k in TIME_NAMES if k in low and low[k] != idc), None)
        if tc is None:
            tc = next((c for c in cols if c != idc and _looks_like_dates(df[c])), None)
            kind = "datetime" if tc is not None else None
        if tc is None:
            first = next((c for c in cols if c != idc), None)
            if first is not None and _increasing_ints(df[first], df[idc] if idc else None):
                tc, kind = first, "integer"
        if tc is None:
            raise DataError(f"no time column found in '{src.name}' (columns: "
                            f"{', '.join(repr(c) for c in cols)}); pass {HINT}.",
                            hint=name_a_column("time_col"))
    if idc is not None and idc == tc:
        raise DataError(f"the series id column and the time column must differ. Got "
                        f"{idc!r} for both.")

    roles = _covariate_columns(df, src, covariates, (tc, idc))
    rest = [c for c in cols if c not in (tc, idc) and c not in roles]
    named = [c for c in rest if not re.fullmatch(r"\s*|Unnamed: \d+", str(c))]
    if named:
        rest = named            # an unnamed column is a saved index, not a value column
    if wide:
        series = _wide_columns(df, src, rest, wide, named=target is not None or
                               id_col is not None, idc=idc)
        if series:
            return _Columns(time=tc, target=None, id=None, time_kind=kind, roles=roles,
                            wide=series)
    if target is not None:
        tg = _resolve(df, target, "target", src)
        if tg in (tc, idc):
            raise DataError(f"`target` must be a value column, not the "
                            f"{'time' if tg == tc else 'series id'} column. Got {tg!r}.")
        if tg in roles:
            raise DataError(f"column {tg!r} cannot be both the target and a "
                            f"{roles[tg]} covariate.")
    else:
        tg = _guess_target(df, src, rest, cols, tc)
    unused = [c for c in rest if c != tg and _looks_numeric(df[c])]
    if unused:  # never dropped without a word
        listed = ", ".join(repr(c) for c in unused[:5]) + (" …" if len(unused) > 5 else "")
        src.notes.append(f"{len(unused)} numeric column(s) have no role and are not used "
                         f"({listed}); pass them with --past-covariates (observed up to the "
                         "forecast origin), --future-covariates (known over the horizon) or "
                         "--static-covariates (one value per series) to use them.")
    if covariates is not None and covariates.static and idc is None:
        src.notes.append("static covariates of a single series cannot be told from its "
                         "level; they are kept but carry no information.")
    return _Columns(time=tc, target=tg, id=idc, time_kind=kind, roles=roles)


def _wide_columns(df, src, rest, wide, *, named: bool, idc) -> tuple:
    """The series columns of a wide table: every value column ``rest`` (besides the time
    column and the covariates), each a number.  ``wide=True`` insists (a target or id
    column named or found, or a column of text, is an error); ``"auto"`` (a DataFrame
    handed over in Python) reads a table as wide only where it would otherwise be refused
    for its several numeric columns: no target or id column named or found, no ``y``
    column, and two or more columns all of a numeric dtype (a note says so)."""
    if wide == "auto":
        if named or idc is not None or "y" in rest or len(rest) < 2 or not all(
                pd.api.types.is_numeric_dtype(df[c].dtype) for c in rest):
            return ()
    elif named:
        raise DataError("`wide` reads every column as a series; it takes no `target` or "
                        "`id_col`.")
    elif idc is not None:
        raise DataError(f"`wide` reads every column as a series, but '{src.name}' has a "
                        f"series id column ({idc!r}); drop it, or read the table long "
                        "without `wide`.")
    if not rest:
        raise DataError(f"'{src.name}' has no value column besides the time column.")
    text = next((c for c in rest if not _looks_numeric(df[c])), None)
    if text is not None:
        raise DataError(f"`wide` reads every column as a series, but column {text!r} of "
                        f"'{src.name}' is not numeric; name it as a static covariate or drop "
                        "it.")
    shown = ", ".join(repr(c) for c in rest[:5]) + (" …" if len(rest) > 5 else "")
    src.notes.append(f"Read '{src.name}' as {len(rest)} series, one per column ({shown})"
                     + (", as every column besides the time column is numeric (pass "
                        "target= to forecast one column)." if wide == "auto" else "."))
    return tuple(rest)


def _covariate_columns(df, src, covariates, reserved) -> dict:
    """``{column: role}`` of the covariates, each resolved to a column of ``df`` (names
    case-insensitively, as the target's) and none the time or id column."""
    if not covariates:
        return {}
    out = {}
    for role, names in (("past", covariates.past), ("future", covariates.future),
                        ("static", covariates.static)):
        for name in names:
            col = _resolve(df, name, f"{role}_covariates", src)
            if col in reserved:
                raise DataError(f"covariate {col!r} is the {'time' if col == reserved[0] else 'series id'} "
                                "column; name a value column.")
            out[col] = role
    return out


def _looks_numeric(s: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(s.dtype) or pd.api.types.is_numeric_dtype(s.dtype):
        return True
    if not (pd.api.types.is_string_dtype(s.dtype) or s.dtype == object):
        return False
    sample = s.dropna().head(200)
    if sample.empty:
        return False
    text = sample.astype(str).str.strip()
    text = text.where(~text.str.fullmatch(_GROUPED), text.str.replace(",", "", regex=False))
    return pd.to_numeric(text, errors="coerce").notna().mean() >= 0.5


def _looks_like_dates(s: pd.Series) -> bool:
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        return True
    if not (pd.api.types.is_string_dtype(s.dtype) or s.dtype == object):
        return False
    sample = s.dropna().head(50).astype(str)
    if sample.empty:
        return False
    return bool(sample.str.match(_DATEISH).mean() >= 0.9)


def _increasing_ints(s: pd.Series, ids) -> bool:
    if not pd.api.types.is_integer_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype):
        return False
    v = s.to_numpy(dtype=np.int64)
    if len(v) < 2:
        return False
    if ids is None:
        return bool(np.all(np.diff(v) > 0))
    codes = pd.factorize(ids)[0]
    o = np.argsort(codes, kind="stable")
    same = codes[o][1:] == codes[o][:-1]
    return bool(np.all(np.diff(v[o])[same] > 0))


def _time_kind(s: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(s.dtype):
        return "datetime"       # will fail to parse with a clear message
    if pd.api.types.is_integer_dtype(s.dtype):
        return "integer"
    if pd.api.types.is_float_dtype(s.dtype):
        return "integer"
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        return "datetime"
    sample = s.dropna().astype(str).str.strip()
    if len(sample) and sample.str.fullmatch(r"[+-]?\d+").all():
        return "integer"
    return "datetime"


def _to_float(s: pd.Series, name, src) -> np.ndarray:
    if pd.api.types.is_bool_dtype(s.dtype):     # a forecast of it is a share of true
        src.notes.append(f"Read the true/false values of column {name!r} as 1/0.")
    if pd.api.types.is_bool_dtype(s.dtype) or pd.api.types.is_numeric_dtype(s.dtype):
        out = s.to_numpy(dtype=np.float64, na_value=np.nan)
        return out if out.flags.writeable else out.copy()
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        raise DataError(f"values in column {name!r} must be numbers. Got dates "
                        f"(e.g. {str(s.iloc[0])!r}).")
    text = s.astype("str")
    num = pd.to_numeric(text.str.strip(), errors="coerce")
    bad = num.isna() & s.notna() & ~text.str.strip().str.lower().isin(_NULL_TOKENS)
    grouped = bad & text.str.strip().str.fullmatch(_GROUPED).fillna(False)
    if bad.any() and not (bad & ~grouped).any():
        # "1,234.5": quoted numbers with thousands separators, as Excel saves them
        num[bad] = pd.to_numeric(text[bad].str.strip().str.replace(",", "", regex=False))
        i = int(np.argmax(bad.to_numpy()))
        src.notes.append(f"Read numbers like {text.iloc[i].strip()!r} in column {name!r} "
                         f"with ',' as the thousands separator.")
        bad[:] = False
    bad &= ~grouped     # the message names a cell that is no number in any format
    if bad.any():
        i = int(np.argmax(bad.to_numpy()))
        raise DataError(f"values in column {name!r} must be numbers. Got {str(s.iloc[i])!r} "
                        f"at {src.where(i)} (text mixed into the value column).")
    out = num.to_numpy(dtype=np.float64, na_value=np.nan)
    return out if out.flags.writeable else out.copy()


def _series_codes(s: pd.Series, name, src):
    """Integer codes of the series ids, numbered in sorted order of the id strings."""
    if isinstance(src.fast.get(name), tuple):
        codes, labels = src.fast[name]         # codes straight from pyarrow
    elif isinstance(s.dtype, pd.CategoricalDtype):
        codes, labels = s.cat.codes.to_numpy(), s.cat.categories
    else:
        codes, labels = pd.factorize(s)
    text = [str(x) for x in labels]
    labels = np.array([x.strip() for x in text] + [""], dtype=object)   # code -1 -> ""
    padded = next((x for x, y in zip(text, labels) if x != y and y), None)
    if padded is not None:      # "A " and "A" are one series, not two
        src.notes.append(f"Removed spaces around series ids in column {name!r} (e.g. "
                         f"{padded!r}).")
    blank = np.array([not x.strip() for x in labels], dtype=bool)
    ordered = len(codes) > 0 and _nondecreasing(codes)     # rows grouped by id, ids in order
    if blank[:-1].any() or (codes[0] < 0 if ordered else (codes < 0).any()):
        i = int(np.argmax(blank[codes]))
        raise DataError(f"series ids in column {name!r} must be non-empty. Got an empty id at "
                        f"{src.where(i)}.")
    if ordered:
        used = np.r_[_counts(codes, len(labels) - 1), 0] > 0
    else:
        used = np.zeros(len(labels), dtype=bool)
        used[codes] = True      # (np.bincount would cast narrow codes to intp: 8x the memory)
    uniq, inverse = np.unique(labels[used], return_inverse=True)   # also merges 1 and "1"
    if used[:-1].all() and np.array_equal(inverse, np.arange(len(labels) - 1)):
        return codes, [str(u) for u in uniq]      # already in sorted order
    mapping = np.full(len(labels), -1, dtype=codes.dtype)
    mapping[used] = inverse
    return mapping[codes], [str(u) for u in uniq]
