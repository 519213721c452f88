"""What the report page shows, as plain data for its template: the summary tables, the
leaderboard table, the forecast table, the figures' titles and captions.  Typed run
records in (:mod:`forecaster.runs.record`), dicts of strings out; the HTML is
:mod:`forecaster.reports.html`'s, the drawing :mod:`forecaster.reports.figures`'.
"""

from __future__ import annotations

from pathlib import Path

from forecaster.choices import MODEL_KINDS
from forecaster.runs.record import DataInfo, RunInfo

FORECAST_ROWS = 20

#: figure key → (file name, title, input files it needs)
FIGURE_FILES = {
    "forecast": ("forecast.png", "Forecast with prediction intervals", ("forecast.csv",)),
    "leaderboard": ("leaderboard.png", "Leaderboard: RNN vs baselines", ("metrics.json",)),
    "horizon_error": ("horizon_error.png", "Error by horizon step", ("backtest.csv",)),
    "training": ("training.png", "Training curves", ("history.csv",)),
    "residuals": ("residuals.png", "Residual diagnostics", ("backtest.csv",)),
    "gradients": ("gradients.png", "Gradient norms through time", ("diagnostics.json",)),
}

CAPTIONS = {
    "forecast": "Dark line: the last observed values; blue line: the forecast; shaded bands: "
                "80 % (darker) and 95 % (lighter) prediction intervals — the actual values "
                "should fall inside a band about that often.",
    "leaderboard": "Backtest error of every model on the same rolling-origin folds: shorter "
                   "bars are better; MASE below 1 (dashed line) beats the in-sample seasonal "
                   "naive forecast; the RNN is red and the best model is starred.",
    "horizon_error": "Mean absolute error at each step ahead of the forecast origin (for a "
                     "panel, in percent of each series' level so that every series counts "
                     "the same): error normally grows with the horizon; the lowest line is "
                     "the best model at that range (the RNN is the thick red line).",
    "training": "Loss per epoch on the training windows and on the time-ordered validation "
                "tail; the dashed green line marks the epoch whose weights were kept (early "
                "stopping) — a widening gap between the curves means overfitting.",
    "residuals": "Left: backtest errors should centre on 0 (an offset is bias); right: "
                 "autocorrelation along each forecast path — bars outside the grey band are "
                 "structure the model left unexplained (errors of neighbouring steps of one "
                 "multi-step forecast are often positively correlated).",
    "gradients": "How strongly the loss reacts to the hidden state at each input step: a line "
                 "falling steeply towards the older steps (left) means vanishing gradients — "
                 "the model barely learns from the start of the window; a rising one means "
                 "exploding gradients.",
}

LEADERBOARD_COLUMNS = {  # key → (label, kind, help)
    "mase": ("MASE", "num", "mean absolute scaled error; < 1 beats in-sample seasonal naive"),
    "smape": ("sMAPE", "pct", "symmetric mean absolute percentage error"),
    "mae": ("MAE", "num", "mean absolute error, target units"),
    "rmse": ("RMSE", "num", "root mean squared error, target units"),
    "mape": ("MAPE", "pct", "mean absolute percentage error (n/a with zero actuals)"),
}

RNN_NAMES = ("rnn",) + MODEL_KINDS


def rnn_model_name(run_model, names) -> str | None:
    """The RNN's name among ``names`` (leaderboard or backtest models): the run's model kind,
    else ``rnn``, else any name mentioning a recurrent kind; ``None`` if there is none."""
    names = [str(n) for n in names]
    if run_model is not None and str(run_model) in names:
        return str(run_model)
    if "rnn" in names:
        return "rnn"
    for name in names:
        if any(kind in name.lower() for kind in RNN_NAMES):
            return name
    return None


def summary(run: RunInfo, pre: dict, data: DataInfo | None, run_dir: Path) -> list[dict]:
    """The two summary tables of a trained run's report: the data, the model and training."""
    from forecaster.reports.figures import freq_word, model_label

    data = data or DataInfo()
    axis = pre.get("axis") or {}
    freq = data.frequency or axis.get("freq")
    series = data.series if data.series is not None else len(pre.get("series") or [])
    start, end = data.start, data.end

    def row(label, value, code=False):
        return {"label": label, "value": "n/a" if value in (None, "") else value, "code": code}

    from forecaster.reports.html import fmt_number

    data_rows = [
        row("file", data.file_name),
        row("sha256", data.sha256, code=True),
        row("size", f"{fmt_number(data.bytes)} bytes" if data.bytes is not None else None),
        row("rows", fmt_number(data.rows) if data.rows is not None else None),
        row("series", fmt_number(series)),
        row("frequency", f"{freq_word(freq)} ({freq})" if freq else
            ("integer steps" if axis.get("kind") not in (None, "datetime") else None)),
        row("time range", f"{start} – {end}" if start is not None and end is not None else None),
        row("target", data.target or pre.get("target")),
        row("time column", data.time_col or pre.get("time_col")),
        row("id column", data.id_col or pre.get("id_col") or "— (single series)"),
        *([row("covariates", _covariate_summary(data.covariates))]
          if data.covariates is not None else []),
    ]
    epochs, best = run.epochs_run, run.best_epoch
    versions = ", ".join(f"{label} {version}" for label, version in run.versions)
    model_rows = [
        row("model", f"{model_label(run.model)} ({run.model})" if run.model else None),
        *([row("deployed", _deployed_text(run))] if _deployed_text(run) else []),
        row("window → horizon", f"{run.window or pre.get('window')} → "
            f"{run.horizon or pre.get('horizon')} steps"),
        row("season", _season_text(run.season or pre.get("season"), run.season_origin)),
        row("scale", _scaling_text(pre)),
        row("epochs", f"{epochs} run, best {best}" if epochs is not None else None),
        row("validation loss", fmt_number(run.val_loss) if run.val_loss is not None
            else None),
        row(*_time_row(run)),
        row("device", run.device),
        row("seed", run.seed),
        row("created", run.created),
        row("run id", run.id or run_dir.name, code=True),
        row("versions", versions or None),
    ]
    return [{"title": "Data", "rows": data_rows}, {"title": "Model and training", "rows": model_rows}]


def evaluation_summary(metrics: dict, backtest, run_dir: Path) -> list[dict]:
    """The summary table of an evaluation's report (the backtest protocol)."""
    from forecaster.reports.html import fmt_number

    protocol = metrics.get("protocol") or {}
    rows = [{"label": "directory", "value": run_dir.name, "code": True}]
    for key, label in (("series", "series"), ("folds", "folds"), ("horizon", "horizon"),
                       ("step", "step between origins"), ("window", "training window"),
                       ("refit", "refit"), ("points", "backtest points")):
        if protocol.get(key) is not None:
            rows.append({"label": label, "value": fmt_number(protocol[key]), "code": False})
    if metrics.get("season"):
        rows.append({"label": "season", "value": fmt_number(metrics["season"]), "code": False})
    if backtest is not None and "timestamp" in backtest and len(backtest):
        rows.append({"label": "scored range", "code": False, "value":
                     f"{backtest['timestamp'].min()} – {backtest['timestamp'].max()}"})
    if metrics.get("seconds") is not None:
        from forecaster.reports.html import fmt_seconds

        rows.append({"label": "run time", "value": fmt_seconds(metrics["seconds"]),
                     "code": False})
    return [{"title": "Evaluation (no trained run)", "rows": rows}]


def leaderboard(metrics: dict, rnn: str | None, run_model=None) -> dict | None:
    """The leaderboard table of ``metrics.json``: columns with labels and help, one row per
    model (the best and the RNN marked), and the sentence that describes the protocol."""
    from forecaster.reports.figures import model_label
    from forecaster.reports.html import fmt_number, fmt_percent

    board = [r for r in (metrics.get("leaderboard") or []) if isinstance(r, dict)]
    if not board:
        return None
    present = {k for r in board for k in r if k != "model"}
    keys = [k for k in LEADERBOARD_COLUMNS if k in present]
    for level in metrics.get("levels") or []:
        for stem in ("coverage", "width"):
            key = f"{stem}_{level}"
            if key in present and key not in keys:
                keys.append(key)
    keys += sorted(k for k in present if k not in keys and not isinstance(
        next((r.get(k) for r in board if r.get(k) is not None), 0), (dict, list)))
    columns = []
    for key in keys:
        if key in LEADERBOARD_COLUMNS:
            label, kind, help_ = LEADERBOARD_COLUMNS[key]
        elif key.startswith("coverage_"):
            level = key.split("_", 1)[1]
            label, kind, help_ = (f"coverage {level} %", "pct",
                                  f"share of actuals inside the {level} % interval")
        elif key.startswith("width_"):
            level = key.split("_", 1)[1]
            label, kind, help_ = (f"width {level} %", "num",
                                  f"mean width of the {level} % interval, target units")
        else:
            label, kind, help_ = key, "num", key
        columns.append({"key": key, "label": label, "kind": kind, "help": help_})
    best = metrics.get("best") or board[0].get("model")
    rows = []
    for r in board:
        name = str(r.get("model"))
        cells = [fmt_percent(r.get(c["key"])) if c["kind"] == "pct" else fmt_number(r.get(c["key"]))
                 for c in columns]
        label = (f"RNN ({model_label(run_model)})" if name == "rnn" and run_model
                 else model_label(name))
        rows.append({"model": name, "label": label,
                     "cells": cells, "best": name == str(best), "rnn": name == rnn})
    protocol = metrics.get("protocol") or {}
    parts = []
    if protocol.get("folds"):
        parts.append(f"{protocol['folds']} rolling-origin folds")
    if protocol.get("horizon"):
        parts.append(f"{protocol['horizon']} steps ahead")
    if metrics.get("season"):
        parts.append(f"season m = {metrics['season']}")
    spec = f" ({', '.join(parts)})" if parts else ""
    description = (f"Every model forecast the same backtest folds{spec}; metrics are averaged "
                   "over series, sorted by MASE (lower is better).")
    return {"columns": columns, "rows": rows, "description": description, "best": best}


def _decimals(values) -> int:
    """Decimals that show about four significant digits of a column's typical value."""
    import numpy as np

    finite = np.abs(values.to_numpy(dtype="float64"))
    finite = finite[np.isfinite(finite) & (finite > 0)]
    if not finite.size:
        return 2
    return int(np.clip(3 - np.floor(np.log10(np.median(finite))), 0, 6))


def forecast_table(forecast) -> dict:
    """The first :data:`FORECAST_ROWS` rows of the forecast, formatted, and a link to all."""
    from forecaster.reports.html import fmt_number
    import pandas as pd

    head = forecast.head(FORECAST_ROWS)
    columns = [{"name": str(c), "numeric": pd.api.types.is_numeric_dtype(head[c])
                and c not in ("step",)} for c in head.columns]
    decimals = {c: _decimals(head[c]) for c in head.columns
                if pd.api.types.is_float_dtype(head[c])}
    rows = []
    for record in head.itertuples(index=False):
        cells = []
        for column, value in zip(head.columns, record):
            if column in decimals:
                if pd.isna(value):
                    cells.append("n/a")
                elif value in (float("inf"), float("-inf")):
                    cells.append("+∞" if value > 0 else "−∞")
                else:
                    cells.append(f"{value:,.{decimals[column]}f}")
            elif pd.api.types.is_numeric_dtype(head[column]):
                cells.append(fmt_number(value))
            else:
                cells.append("" if pd.isna(value) else str(value))
        rows.append(cells)
    return {"columns": columns, "rows": rows, "total": len(forecast), "shown": len(head),
            "link": "forecast.csv"}


ROLE_TEXT = {"past": "past (observed up to the origin)", "future": "future (known ahead)",
             "calendar": "calendar (generated)", "holidays": "holidays (generated)",
             "static": "static (per series)"}


def covariates_view(record: dict | None) -> dict | None:
    """The report's covariates section from ``covariates.json``: each covariate's role and
    its permutation importance on the backtest (None without covariates)."""
    if not isinstance(record, dict) or not isinstance(record.get("roles"), list):
        return None
    importance = record.get("importance") if isinstance(record.get("importance"),
                                                        dict) else None
    scores = {}
    if importance:
        scores = {str(r.get("covariate")): r for r in importance.get("importance") or []
                  if isinstance(r, dict)}
    rows = []
    for r in record["roles"]:
        if not isinstance(r, dict):
            continue
        name = str(r.get("covariate"))
        score = scores.get(name, {})
        rows.append({"covariate": name,
                     "role": ROLE_TEXT.get(str(r.get("role")), str(r.get("role"))),
                     "mase": _num(score.get("mase")), "increase": _num(score.get("increase"),
                                                                        signed=True),
                     "order": -(score.get("increase") or 0.0)})
    rows.sort(key=lambda r: r["order"])
    known = [str(c) for c in record.get("backtest_assumed_known") or []]
    parts = []
    if importance:
        parts.append(
            f"Permutation importance: the backtest's RNN forecasts its "
            f"{importance.get('origins')} origins again with one covariate shuffled across "
            f"series and time; the increase of the mean MASE (from "
            f"{_num(importance.get('baseline_mase'))}) is how much the forecasts lean on it "
            "(about zero: not used; below zero: shuffling it by chance helped).")
    else:
        parts.append("No backtest, so no permutation importance.")
    if known:
        parts.append(f"The backtest used the actual values of the future covariates "
                     f"({', '.join(known)}) over each fold's horizon, as if they had been "
                     "known in advance.")
    return {"rows": rows, "description": " ".join(parts), "scored": bool(importance)}


def _time_row(run: RunInfo) -> tuple[str, str | None]:
    """``("time", …)``: the run's ``total_seconds``, the figure `forecast train` printed,
    with the final fit's share; runs that recorded only the final fit say so."""
    from forecaster.reports.html import fmt_seconds

    if run.total_seconds is None:
        return "training time", (fmt_seconds(run.train_seconds)
                                 if run.train_seconds is not None else None)
    fit = (f" (final fit {fmt_seconds(run.train_seconds)})"
           if run.train_seconds is not None else "")
    return "time", fmt_seconds(run.total_seconds) + fit


def _deployed_text(run: RunInfo) -> str | None:
    """Which model the run forecasts with and why, when ``--select best`` chose it (or
    when a baseline is deployed); None for a run that simply deploys its RNN."""
    from forecaster.reports.figures import model_label

    reason = run.selection_reason
    if run.network_deployed and not reason:
        return None
    name = "the RNN" if run.network_deployed else model_label(run.deployed)
    return f"{name} (--select best: {reason})" if reason else name


def _season_text(season, origin) -> str:
    """``12 (detected)``; runs before ``season_origin`` show the number alone."""
    if not isinstance(season, int) or season <= 1:
        return "none"
    return f"{season} ({origin})" if origin in ("given", "frequency", "detected") \
        else str(season)


def _scaling_text(pre: dict) -> str | None:
    """Each series' scale from preprocessing.json (runs before per-series scales: the
    run's one); None (shown as n/a) when a series' scale is malformed, which the report
    only describes, never refuses."""
    from forecaster.choices import SCALINGS
    from forecaster.data.windowing import lambda_of
    from forecaster.models.scales import describe_scaling

    mode = pre.get("scaling")
    series = [s for s in pre.get("series") or [] if isinstance(s, dict)]
    if mode not in SCALINGS:
        return None
    lams = [lambda_of(s, default=mode) for s in series]
    if None in lams:
        return None
    return describe_scaling(mode, [s.get("id") for s in series], lams)


def _covariate_summary(spec: dict) -> str:
    """``past: a, b; future: c; calendar: auto`` from data.json's covariate spec."""
    parts = [f"{role}: {', '.join(map(str, spec.get(role) or []))}"
             for role in ("past", "future", "static") if spec.get(role)]
    if spec.get("calendar") not in (None, "none"):
        parts.append(f"calendar: {spec['calendar']}")
    if spec.get("holidays"):
        parts.append(f"holidays: {spec['holidays']}")
    return "; ".join(parts) or None


def _num(value, signed: bool = False) -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "n/a"
    return f"{value:+.3f}" if signed else f"{value:.3f}"

