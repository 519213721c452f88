"""Leaderboards: one row per model, one column per metric, from a backtest.

**Aggregation.** Every metric is computed per series on all of that series' backtest
points (pooled over folds), then averaged over series with equal weight — the
M-competition convention (mean sMAPE, mean MASE).  MASE scales each error by the in-sample
seasonal-naive MAE of the history before *its own* fold's cutoff.  A series where a
metric is undefined (MAPE with a zero actual, MASE with a zero scale) is left out of that
metric's mean and named in ``notes``; a metric undefined for every series is ``None``.

**Intervals.** Coverage and width are measured honestly, sequentially: the intervals of
fold ``k`` are split-conformal intervals (:class:`~forecaster.evaluation.intervals.
ConformalIntervals`) calibrated on the same model's residuals from folds ``1 … k−1`` whose
actuals were observed by fold ``k``'s cutoff, with each series scaled by its in-sample
seasonal-naive MAE before the first cutoff.  Fold 1 has nothing to calibrate on, so
coverage needs at least two folds; folds with too few calibration residuals for a level
(95 % needs 19 per step, 80 % needs 4) are not scored at that level, and a level never
scored is ``None``.

The same intervals are scored as forecasts of quantiles: ``msis_<L>`` is the M4 mean
scaled interval score (:func:`~forecaster.evaluation.metrics.msis`, scaled like MASE) and
``pinball`` the pinball loss averaged over every level's two bounds (the ``(1 − L)/2`` and
``(1 + L)/2`` quantiles; :func:`~forecaster.evaluation.metrics.interval_pinball`), in the
series' units.

Columns: ``model, mae, rmse, mape, smape, mase, coverage_<L>, width_<L>, msis_<L>`` for
each level ``L`` (coverage as a fraction, width in the series' units), then ``pinball``,
sorted by MASE; the frame's ``attrs`` hold ``best`` (the first model) and ``notes``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from forecaster.data.panel import Panel
from forecaster.evaluation import metrics as M
from forecaster.evaluation.backtest import BacktestResult
from forecaster.evaluation.intervals import ConformalIntervals, interval_columns, level_name

__all__ = ["leaderboard", "fold_table", "series_scales", "add_backtest_intervals",
           "interval_metrics",
           "leaderboard_to_json", "format_table", "finite_or_none", "POINT_METRICS"]

POINT_METRICS = ["mae", "rmse", "mape", "smape", "mase"]


def series_scale(values, season: int | None) -> float:
    """A positive scale of one series for conformal scores, in its own units: the in-sample
    seasonal-naive MAE (the MASE denominator), else the standard deviation, else 1."""
    s = M.mase_scale(values, season or 1)
    if not s or not np.isfinite(s):
        s = float(np.std(values))
    return s if s > 0 and np.isfinite(s) else 1.0


def series_scales(panel: Panel, season: int | None) -> dict[str, float]:
    """:func:`series_scale` of every series of ``panel``."""
    return {sid: series_scale(v, season) for sid, v in panel}


def add_backtest_intervals(result: BacktestResult, panel: Panel, season: int | None,
                           levels=None) -> tuple[pd.DataFrame, list[str]]:
    """The backtest frame with ``lower_<L>``/``upper_<L>`` columns.

    The intervals of fold ``k`` are calibrated on the same model's earlier residuals whose
    actual lies at or before fold ``k``'s cutoff (with ``step < horizon`` the last steps of
    recent folds are still in the future and are not used).  Rows with nothing to calibrate
    on are NaN; a level with too few residuals gives ``±inf`` bounds.
    """
    levels = tuple(levels or result.levels)
    spec = result.spec
    frame = result.frame.copy()
    notes: list[str] = []
    for level in levels:
        for col in interval_columns(level):
            frame[col] = np.nan
    if spec.folds < 2:
        notes.append("interval coverage needs at least 2 folds (intervals of fold k are "
                     "calibrated on folds before k); not measured")
        return frame, notes
    scales = series_scales(panel.cut(spec.cutoff_from_end(1)), season)
    # how many points before the end of its series each actual lies (0 = last point)
    drop = np.array([spec.cutoff_from_end(int(f)) for f in frame["fold"]])
    from_end = drop - frame["step"].to_numpy(np.int64)
    short = {level: math.inf for level in levels}
    for model in result.models:
        rows = (frame["model"] == model).to_numpy()
        for fold in range(2, spec.folds + 1):
            calib = rows & (frame["fold"].to_numpy() < fold) & (
                from_end >= spec.cutoff_from_end(fold))
            if not calib.any():
                continue
            conformal = ConformalIntervals(levels).fit(frame[calib], scales)
            # only steps with their own calibration residuals (no sqrt(h/H) extrapolation)
            target = rows & (frame["fold"].to_numpy() == fold) & (
                frame["step"].to_numpy() <= conformal.horizon_)
            bounded = conformal.predict(frame.loc[target, ["series_id", "step", "forecast"]],
                                        scales)
            for level in levels:
                lo, hi = interval_columns(level)
                if not np.all(np.isfinite(conformal.quantiles_[level])):
                    short[level] = min(short[level], int(conformal.n_.min()))
                frame.loc[target, lo] = bounded[lo].to_numpy()
                frame.loc[target, hi] = bounded[hi].to_numpy()
    for level, n in short.items():
        if n < math.inf:
            need = math.ceil(level / (100 - level))
            notes.append(f"{level}% intervals need at least {need} calibration residuals per "
                         f"step (some folds had only {n}); coverage_{level} and width_{level} "
                         "score only the folds with enough")
    return frame, notes


def _series_metrics(y: np.ndarray, f: np.ndarray, scale: np.ndarray, bounds: dict,
                    levels) -> dict:
    """Metrics of one series: its actuals ``y`` and forecasts ``f`` of one model (any
    number of folds), each point's MASE scale (its fold's; NaN where undefined) and
    ``bounds`` ``{level: (lower, upper)}`` (NaN where a point has no interval)."""
    out = {"mae": M.mae(y, f), "rmse": M.rmse(y, f), "mape": M.mape(y, f),
           "smape": M.smape(y, f)}
    if np.any(np.isnan(scale)):
        out["mase"] = None
    else:
        out["mase"] = float(np.mean(np.abs(y - f) / scale))
    losses = []
    for level in levels:
        name = level_name(level)
        lower, upper = bounds.get(level, (None, None))
        if lower is not None:
            keep = np.isfinite(lower) & np.isfinite(upper)
            if keep.any():
                y_in, lo, hi = y[keep], lower[keep], upper[keep]
                out[f"coverage_{name}"] = M.coverage(y_in, lo, hi)
                out[f"width_{name}"] = M.mean_width(lo, hi)
                out[f"msis_{name}"] = M.msis(y_in, lo, hi, level, scale[keep])
                losses.append(M.interval_pinball(y_in, lo, hi, level))
                continue
        out[f"coverage_{name}"] = None
        out[f"width_{name}"] = None
        out[f"msis_{name}"] = None
    # the mean over every level's two quantiles (each level's pair weighs the same)
    out["pinball"] = float(np.mean(losses)) if losses else None
    return out


def interval_metrics(levels) -> list[str]:
    """The interval columns of a table at ``levels``: per level its coverage, mean width
    and MSIS, then the pinball loss over all of them."""
    return [c for level in levels for c in (
        f"coverage_{level_name(level)}", f"width_{level_name(level)}",
        f"msis_{level_name(level)}")] + ["pinball"]


def _groups(frame: pd.DataFrame, keys: list[str]) -> list[tuple[tuple, np.ndarray]]:
    """``(key, row positions)`` of every group of ``keys``, in order of first appearance
    (``groupby(sort=False)`` without building a frame per group)."""
    codes = np.zeros(len(frame), dtype=np.int64)
    for key in keys:
        k, u = pd.factorize(frame[key], sort=False)
        codes = codes * len(u) + k
    order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    groups = np.split(order, bounds) if len(order) else []
    groups.sort(key=lambda rows: rows[0])
    columns = [frame[k].to_numpy() for k in keys]
    return [(tuple(c[rows[0]] for c in columns), rows) for rows in groups]


def _mase_scales(result: BacktestResult, panel: Panel, season) -> dict:
    """``{(fold, series_id): in-sample seasonal-naive MAE before the fold's cutoff}``."""
    scales = {}
    for fold in range(1, result.spec.folds + 1):
        drop = result.spec.cutoff_from_end(fold)
        for sid, v in panel:
            scales[(fold, sid)] = M.mase_scale(v[: len(v) - drop], season or 1)
    return scales


def _table(frame: pd.DataFrame, keys: list[str], scales, levels) -> tuple[pd.DataFrame, dict]:
    columns = POINT_METRICS + interval_metrics(levels)
    y, f = frame["actual"].to_numpy(float), frame["forecast"].to_numpy(float)
    point_scale = np.array([scales[k] for k in zip(frame["fold"], frame["series_id"])],
                           dtype=object)
    point_scale = np.array([np.nan if s is None or s == 0 else float(s) for s in point_scale],
                           dtype=np.float64)
    bounds = {}
    for level in levels:
        lo, hi = interval_columns(level)
        if lo in frame:
            bounds[level] = (frame[lo].to_numpy(float), frame[hi].to_numpy(float))
    rows, undefined = [], {}
    for key, group in _groups(frame, keys):
        per_series = []
        for (sid,), idx in _groups(frame.iloc[group][["series_id"]], ["series_id"]):
            at = group[idx]
            per_series.append((sid, _series_metrics(
                y[at], f[at], point_scale[at],
                {lv: (lo[at], hi[at]) for lv, (lo, hi) in bounds.items()}, levels)))
        row = dict(zip(keys, key))
        for col in columns:
            values = [m[col] for _, m in per_series if m[col] is not None]
            missing = [sid for sid, m in per_series if m[col] is None]
            row[col] = float(np.mean(values)) if values else None
            if missing and col in ("mape", "mase"):
                undefined.setdefault(col, set()).update(missing)
        rows.append(row)
    table = pd.DataFrame(rows, columns=keys + columns).astype(object)
    table = table.where(table.notna(), None)
    return table, undefined


def _undefined_notes(undefined: dict, n_series: int) -> list[str]:
    notes = []
    for col, sids in sorted(undefined.items()):
        sids = sorted(sids)
        listed = ", ".join(sids[:5]) + (" …" if len(sids) > 5 else "")
        what = ("left out of the mean" if len(sids) < n_series else "so it is not reported")
        notes.append(f"{M.undefined_reason(col)}: {len(sids)} of {n_series} series ({listed}) "
                     f"{what}")
    return notes


def _sort_key(row):
    mase, smape = row["mase"], row["smape"]
    return (mase is None, mase if mase is not None else 0.0,
            smape if smape is not None else math.inf)


def leaderboard(result: BacktestResult, panel: Panel, season: int | None,
                levels=None, *, scored=None) -> pd.DataFrame:
    """Model × metric table of ``result`` (see the module docstring), sorted by MASE.

    ``panel`` is the full panel the backtest ran on (its history before each cutoff gives
    the MASE scales).  ``df.attrs["best"]`` is the best model, ``df.attrs["notes"]`` the
    notes (undefined metrics, interval caveats, the models' own notes).  ``scored`` is the
    output of :func:`add_backtest_intervals`, to reuse it between tables.
    """
    levels = tuple(levels or result.levels)
    frame, notes = scored or add_backtest_intervals(result, panel, season, levels)
    scales = _mase_scales(result, panel, season)
    table, undefined = _table(frame, ["model"], scales, levels)
    records = sorted(table.to_dict("records"), key=_sort_key)
    table = pd.DataFrame(records, columns=table.columns).astype(object)
    table = table.where(table.notna(), None).reset_index(drop=True)
    table.attrs["best"] = table["model"].iloc[0] if len(table) else None
    table.attrs["notes"] = list(result.notes) + _undefined_notes(undefined, len(panel)) + notes
    table.attrs["levels"] = list(levels)
    table.attrs["season"] = season
    return table


def numeric_table(rows) -> pd.DataFrame:
    """A leaderboard (the JSON-safe table, or metrics.json's list of rows) for users: the
    ``model`` column and every metric as float64 (``None`` → NaN), ``attrs`` kept."""
    table = pd.DataFrame(rows).copy()
    for col in table.columns:
        if col != "model":
            table[col] = pd.to_numeric(table[col]).astype("float64")
    table.attrs = dict(getattr(rows, "attrs", {}))
    return table


def fold_table(result: BacktestResult, panel: Panel, season: int | None,
               levels=None, *, scored=None) -> pd.DataFrame:
    """Per-fold table (``folds.csv``): one row per model and fold (from 1), the same
    metrics averaged over series within the fold, plus ``cutoff_from_end``."""
    levels = tuple(levels or result.levels)
    frame, _ = scored or add_backtest_intervals(result, panel, season, levels)
    scales = _mase_scales(result, panel, season)
    table, _ = _table(frame, ["model", "fold"], scales, levels)
    table["fold"] = [int(f) for f in table["fold"]]
    table.insert(2, "cutoff_from_end", [result.spec.cutoff_from_end(f) for f in table["fold"]])
    return table


def finite_or_none(value):
    """A JSON-safe number: numpy scalars as Python ones, NaN and ±inf as ``None``."""
    if value is None:
        return None
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    return value


def leaderboard_to_json(table: pd.DataFrame, *, protocol: dict, season, levels,
                        notes=None, extra: dict | None = None) -> dict:
    """``metrics.json`` content (see docs/run-format.md): protocol, season, levels, the
    leaderboard records (``null`` for undefined metrics), best model and notes."""
    data = {
        "protocol": protocol,
        "season": season,
        "levels": [int(v) if float(v).is_integer() else float(v) for v in levels],
        "leaderboard": [{k: finite_or_none(v) for k, v in row.items()}
                        for row in table.to_dict("records")],
        "best": table.attrs.get("best"),
        "notes": list(notes if notes is not None else table.attrs.get("notes", [])),
    }
    if extra:
        data.update(extra)
    return data


def format_number(value, decimals: int = 3) -> str:
    """``1,234.568``; in scientific notation where that would be unreadable (a magnitude
    of 1e12 or more: hundreds of digits for data in 1e300) or show only zeros (below
    ``10**-decimals``: data in 1e-300 would read 0.000 everywhere)."""
    size = abs(value)
    if size >= 1e12 or 0 < size < 10.0 ** -decimals:
        return f"{value:.4g}"
    return f"{value:,.{decimals}f}"


def _fmt(col: str, value) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "n/a"
    if col in ("mae", "rmse", "pinball") or col.startswith("width_"):
        return format_number(value)
    return f"{value:.4f}"


def format_table(table: pd.DataFrame, best: str | None = None) -> str:
    """A plain-text table for stdout: ``n/a`` for undefined values, the best model marked
    with ``*``; columns right-aligned.  Interval columns that are ``n/a`` for every model
    (e.g. a single holdout fold, see the notes) are left out to keep the table narrow."""
    best = best if best is not None else table.attrs.get("best")
    cols = [c for c in table.columns if c != "model" and not (
        c.startswith(("coverage_", "width_", "msis_", "pinball")) and all(v is None or v != v for v in table[c]))]
    header = ["model"] + cols
    body = []
    for row in table.to_dict("records"):
        name = str(row["model"]) + (" *" if row["model"] == best else "")
        body.append([name] + [_fmt(c, row[c]) if c not in ("fold", "cutoff_from_end")
                              else str(row[c]) for c in cols])
    widths = [max(len(h), *(len(r[i]) for r in body)) if body else len(h)
              for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(widths[0]) if i == 0 else h.rjust(widths[i])
                       for i, h in enumerate(header))]
    for r in body:
        lines.append("  ".join(v.ljust(widths[0]) if i == 0 else v.rjust(widths[i])
                               for i, v in enumerate(r)))
    return "\n".join(lines)


def series_table(result: BacktestResult, panel: Panel, season: int | None) -> pd.DataFrame:
    """One row per model and series (``model, series_id`` and the point metrics over all of
    the series' folds, None where undefined): what the leaderboard's means average."""
    table, _ = _table(result.frame, ["model", "series_id"], _mase_scales(result, panel, season),
                      ())
    return table
