"""``forecast report``: PNG figures and one self-contained HTML page from a finished run.

:func:`write_report` reads only the run directory's files (docs/run-format.md) — it never
trains and never imports TensorFlow, so re-rendering a report takes seconds.
``run.json`` and ``preprocessing.json`` are required (:class:`ArtifactError` otherwise);
every other file is optional: a figure whose input is missing or unreadable is skipped and
the page says why.

Output, in ``out_dir``: ``report.html`` (images inlined, no external resources),
``forecast.png``, ``leaderboard.png``, ``horizon_error.png``, ``training.png``,
``residuals.png``, ``gradients.png`` (those whose inputs exist) and a copy of
``forecast.csv`` that the page links to.
"""

from __future__ import annotations

import os
import shutil
import struct
from datetime import datetime, timezone
from pathlib import Path

from forecaster import artifacts
from forecaster.choices import MODEL_KINDS
from forecaster.errors import ArtifactError, RunNotFoundError

__all__ = ["write_report", "FIGURE_FILES", "FORECAST_ROWS"]

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


# -------------------------------------------------------------------------------- loading


def _read_json(run_dir: Path, name: str):
    """``artifacts.read_json`` (a regular file within the size limit, holding a JSON
    object), with ``FileNotFoundError`` when it is absent."""
    path = run_dir / name
    if not os.path.lexists(path):
        raise FileNotFoundError(path)
    return artifacts.read_json(path)


def _required_json(run_dir: Path, name: str) -> dict:
    try:
        data = _read_json(run_dir, name)
    except FileNotFoundError:
        raise ArtifactError(
            f"run directory {run_dir} must contain {name}. Got no such file "
            "(the run is incomplete or was not written by `forecast train`)."
        ) from None
    if not isinstance(data, dict):
        raise ArtifactError(f"{name} in run directory {run_dir} must hold a JSON object. "
                            f"Got {type(data).__name__}.")
    return data


class _Optional:
    """Optional inputs of the report: each loaded once; a failure becomes a note."""

    def __init__(self, run_dir: Path):
        self.run_dir = run_dir
        self.notes: dict[str, str] = {}
        self._cache: dict[str, object] = {}

    def _missing(self, name: str) -> None:
        self.notes[name] = f"{name} not found in the run directory."
        self._cache[name] = None

    def json(self, name: str):
        if name not in self._cache:
            try:
                data = _read_json(self.run_dir, name)
                if not isinstance(data, dict):
                    raise ArtifactError(f"{name} must hold a JSON object. "
                                        f"Got {type(data).__name__}.")
                self._cache[name] = data
            except FileNotFoundError:
                self._missing(name)
            except ArtifactError as exc:
                self.notes[name] = f"{name} could not be read ({exc})."
                self._cache[name] = None
        return self._cache[name]

    def csv(self, name: str, columns: tuple[str, ...]):
        if name not in self._cache:
            import pandas as pd

            path = self.run_dir / name
            if not path.is_file():
                self._missing(name)
                return None
            try:
                # Series ids are text: "NA" (Namibia) or "null" must not become missing.
                header = pd.read_csv(path, nrows=0).columns
                ids = [c for c in ("series_id",) if c in header]
                frame = pd.read_csv(
                    path, dtype={c: str for c in ids}, keep_default_na=False,
                    na_values={c: ["", "NA", "NaN", "nan", "null", "None"]
                               for c in header if c not in ids})
                for c in ids:  # ids written spreadsheet-safe ('=…) read back as they were
                    frame[c] = artifacts.spreadsheet_unsafe(frame[c])
                missing = [c for c in columns if c not in frame.columns]
                if missing:
                    raise ValueError(f"missing column(s) {', '.join(missing)}; "
                                     f"got {', '.join(map(str, frame.columns))}")
                self._cache[name] = frame
            except (OSError, ValueError) as exc:
                self.notes[name] = f"{name} could not be read ({exc})."
                self._cache[name] = None
        return self._cache[name]

    def text(self, name: str):
        if name not in self._cache:
            try:
                self._cache[name] = (self.run_dir / name).read_text(encoding="utf-8")
            except FileNotFoundError:
                self._missing(name)
            except (OSError, UnicodeDecodeError) as exc:
                self.notes[name] = f"{name} could not be read ({exc})."
                self._cache[name] = None
        return self._cache[name]


def _without_local_paths(config_text):
    """The run's config for a report that may be shared: the runs folder by its name only
    (not the absolute path of the machine it was trained on)."""
    if not config_text:
        return config_text
    import re

    def name_only(match):
        value = match.group(2)
        return f'{match.group(1)}"{Path(value).name or value}"'

    return re.sub(r'(?m)^(runs_dir\s*=\s*)"((?:[^"\\]|\\.)*)"', name_only, config_text)


def _validate_preprocessing(pre: dict, run_dir: Path) -> None:
    series = pre.get("series")
    if not isinstance(series, list) or not series:
        raise ArtifactError(f"preprocessing.json in run directory {run_dir} must list at least "
                            f"one series under 'series'. Got {series!r:.60}.")
    for i, s in enumerate(series):
        if not isinstance(s, dict) or "id" not in s or not isinstance(s.get("context"), list):
            raise ArtifactError(f"preprocessing.json series {i} must have 'id' and a 'context' "
                                f"list. Got keys {sorted(s) if isinstance(s, dict) else s!r}.")
    if not isinstance(pre.get("axis", {}), dict):
        raise ArtifactError(f"preprocessing.json 'axis' must be an object. Got {pre['axis']!r}.")


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


def is_evaluation_dir(run_dir: Path) -> bool:
    """``forecast evaluate`` output: metrics and backtest, but no trained run's files."""
    run_dir = Path(run_dir)
    return (not (run_dir / "run.json").exists() and not (run_dir / "preprocessing.json").exists()
            and (run_dir / "metrics.json").is_file() and (run_dir / "backtest.csv").is_file())


def _png_size(path: Path) -> tuple[int, int]:
    with open(path, "rb") as fh:
        head = fh.read(24)
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def _parse_times(values, axis: dict):
    import pandas as pd

    if axis.get("kind") == "datetime":
        return pd.to_datetime(values, format="ISO8601")
    return pd.to_numeric(values)


# ------------------------------------------------------------------------------- context


def _summary(run: dict, pre: dict, data: dict | None, run_dir: Path) -> list[dict]:
    from forecaster.reports.figures import freq_word, model_label

    data = data or {}
    axis = pre.get("axis") or {}
    freq = data.get("frequency") or axis.get("freq")
    series = data.get("series", len(pre.get("series") or []))
    start, end = data.get("start"), data.get("end")  # data.json (Panel.describe)
    name = data.get("name") or (Path(str(data["path"])).name if data.get("path") else None)

    def row(label, value, code=False):
        return {"label": label, "value": "n/a" if value in (None, "") else value, "code": code}

    from forecaster.reports.html import fmt_number, fmt_seconds

    data_rows = [
        row("file", name),
        row("sha256", data.get("sha256"), code=True),
        row("size", f"{fmt_number(data['bytes'])} bytes" if data.get("bytes") is not None else None),
        row("rows", fmt_number(data.get("rows")) if data.get("rows") is not None else None),
        row("series", fmt_number(series)),
        row("frequency", f"{freq_word(freq)} ({freq})" if freq else
            ("integer steps" if axis.get("kind") not in (None, "datetime") else None)),
        row("time range", f"{start} – {end}" if start is not None and end is not None else None),
        row("target", data.get("target") or pre.get("target")),
        row("time column", data.get("time_col") or pre.get("time_col")),
        row("id column", data.get("id_col") or pre.get("id_col") or "— (single series)"),
    ]
    epochs = run.get("epochs_run")
    best = run.get("best_epoch")
    versions = ", ".join(
        f"{k} {run[key]}" for k, key in (("forecaster", "forecaster_version"),
                                         ("TensorFlow", "tensorflow_version"),
                                         ("JAX", "jax_version"),
                                         ("Keras", "keras_version"),
                                         ("Keras backend", "keras_backend")) if run.get(key))
    model_rows = [
        row("model", f"{model_label(run.get('model'))} ({run.get('model')})"
            if run.get("model") else None),
        row("window → horizon", f"{run.get('window', pre.get('window'))} → "
            f"{run.get('horizon', pre.get('horizon'))} steps"),
        row("epochs", f"{epochs} run, best {best}" if epochs is not None else None),
        row("validation loss", fmt_number(run.get("val_loss")) if run.get("val_loss") is not None
            else None),
        row("training time", fmt_seconds(run.get("train_seconds"))
            if run.get("train_seconds") is not None else None),
        row("device", run.get("device")),
        row("seed", run.get("seed")),
        row("created", run.get("created")),
        row("run id", run.get("id") or run_dir.name, code=True),
        row("versions", versions or None),
    ]
    return [{"title": "Data", "rows": data_rows}, {"title": "Model and training", "rows": model_rows}]


def _evaluation_summary(metrics: dict, backtest, run_dir: Path) -> list[dict]:
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


def _leaderboard(metrics: dict, rnn: str | None, run_model=None) -> dict | None:
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


def _forecast_table(forecast) -> dict:
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


# --------------------------------------------------------------------------------- main


def write_report(run_dir: Path, out_dir: Path) -> Path:
    """Write the figures and ``report.html`` for the run in ``run_dir`` into ``out_dir``.

    Everything is rendered into a temporary folder first and moved in only once complete
    (a full disk or an interrupt leaves the earlier report, or nothing, never a half-written
    one); files of ``out_dir`` that the report does not write are left alone, so ``out_dir``
    may be the run directory itself. Returns the path of ``report.html``; see
    :func:`_render_into` for the rest."""
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    if not run_dir.is_dir():
        raise RunNotFoundError(f"run directory must exist. Got {run_dir} (no such directory).")
    into_run = out_dir.is_dir() and os.path.samefile(out_dir, run_dir)
    figures = tuple(filename for filename, *_ in FIGURE_FILES.values())
    with artifacts.staged_files(out_dir, owned=figures) as stage:
        _render_into(run_dir, stage)
        if into_run:  # the run's own forecast.csv stays the original
            (stage / "forecast.csv").unlink(missing_ok=True)
    return out_dir / "report.html"


def _render_into(run_dir: Path, out_dir: Path) -> Path:
    """Write the figures and ``report.html`` for the run in ``run_dir`` into ``out_dir``.

    Returns the path of ``report.html``. Raises :class:`RunNotFoundError` if ``run_dir`` is
    not a directory and :class:`ArtifactError` if ``run.json`` or ``preprocessing.json`` is
    missing or invalid; any other missing file only skips what needs it.

    An *evaluation* directory (``forecast evaluate`` output: ``metrics.json`` and
    ``backtest.csv`` but neither ``run.json`` nor ``preprocessing.json``) gets an
    evaluation-only report: leaderboard, error by horizon and residuals.
    """
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    if not run_dir.is_dir():
        raise RunNotFoundError(f"run directory must exist. Got {run_dir} (no such directory).")
    evaluation_only = is_evaluation_dir(run_dir)
    if evaluation_only:
        run, pre = {}, {}
    else:
        run = _required_json(run_dir, "run.json")
        artifacts.check_integrity(run_dir, run)
        pre = _required_json(run_dir, "preprocessing.json")
        _validate_preprocessing(pre, run_dir)
        from forecaster.preprocessing import Preprocessing

        Preprocessing.from_json(pre)  # every field checked, as forecast predict checks it

    from forecaster import __version__
    from forecaster.reports import figures as F
    from forecaster.reports.html import data_uri, render_report

    opt = _Optional(run_dir)
    data = opt.json("data.json")
    axis = pre.get("axis") or {}
    target = pre.get("target") or (data or {}).get("target") or "value"
    time_col = pre.get("time_col") or (data or {}).get("time_col")
    run_model = run.get("model")
    out_dir.mkdir(parents=True, exist_ok=True)

    forecast = opt.csv("forecast.csv", ("series_id", "timestamp", "forecast"))
    metrics = opt.json("metrics.json")
    backtest = opt.csv("backtest.csv", ("model", "series_id", "step", "actual", "forecast"))
    history = opt.csv("history.csv", ("epoch", "loss"))
    diagnostics = opt.json("diagnostics.json")
    config_text = _without_local_paths(opt.text("config.toml"))

    leaderboard_models = [r.get("model") for r in (metrics or {}).get("leaderboard") or []
                          if isinstance(r, dict)]
    backtest_models = list(dict.fromkeys(backtest["model"].astype(str))) if backtest is not None else []
    rnn = rnn_model_name(run_model, leaderboard_models or backtest_models)
    if evaluation_only:
        n_series = ((metrics or {}).get("protocol") or {}).get("series") or (
            backtest["series_id"].nunique() if backtest is not None else 0)
        for name in ("forecast.csv", "history.csv", "diagnostics.json", "config.toml"):
            opt.notes[name] = ("not part of an evaluation (this directory holds a backtest, not "
                               "a trained run).")
        forecast = history = diagnostics = config_text = None
    else:
        n_series = len(pre["series"])
    shown = min(n_series, F.MAX_PANEL_SERIES)

    def draw(key):
        path = out_dir / FIGURE_FILES[key][0]
        if key == "forecast":
            frame = forecast.copy()
            frame["timestamp"] = _parse_times(frame["timestamp"], axis)
            return F.forecast_figure(pre, frame, path, model=run_model, target=target,
                                     time_col=time_col)
        if key == "leaderboard":
            if not (metrics.get("leaderboard") or []):
                raise ArtifactError("metrics.json has an empty leaderboard.")
            return F.leaderboard_figure(metrics, path, rnn_model=rnn)
        if key == "horizon_error":
            return F.horizon_error_figure(backtest, path, rnn_model=rnn_model_name(
                run_model, backtest_models), target=target, order=leaderboard_models)
        if key == "training":
            return F.training_figure(history, path, best_epoch=run.get("best_epoch"),
                                     model=run_model)
        if key == "residuals":
            model = rnn_model_name(run_model, backtest_models) or backtest_models[0]
            label = (f"the RNN, {F.model_label(run_model)}" if model == "rnn" and run_model
                     else F.model_label(model))
            return F.residuals_figure(backtest, path, model=model, target=target, label=label)
        if key == "gradients":
            if not diagnostics.get("gradient_norms"):
                raise ArtifactError("diagnostics.json has no gradient_norms.")
            return F.gradients_figure(diagnostics, path)
        raise KeyError(key)

    inputs = {"forecast.csv": forecast, "metrics.json": metrics, "backtest.csv": backtest,
              "history.csv": history, "diagnostics.json": diagnostics}
    figures = []
    for key, (filename, title, needs) in FIGURE_FILES.items():
        entry = {"key": key, "title": title, "caption": CAPTIONS[key], "src": None,
                 "note": None, "alt": title, "file": filename, "width": 0, "height": 0}
        missing = [name for name in needs if inputs[name] is None]
        if missing:
            entry["note"] = " ".join(opt.notes.get(name, f"{name} not available.")
                                     for name in missing)
        else:
            try:
                path = draw(key)
            except ArtifactError as exc:
                entry["note"] = str(exc)
            except (KeyError, ValueError, TypeError, IndexError) as exc:
                # A malformed optional input costs one figure, not the whole report.
                entry["note"] = (f"its input ({', '.join(needs)}) could not be drawn: "
                                 f"{type(exc).__name__}: {exc}")
            else:
                entry["src"] = data_uri(path)
                entry["width"], entry["height"] = _png_size(path)
        if entry["src"] is None:
            (out_dir / filename).unlink(missing_ok=True)  # no stale figure from an older report
        figures.append(entry)
    forecast_fig = figures[0]
    if n_series > 1:
        forecast_fig["caption"] = (f"Showing {shown} of {n_series} series (the largest by mean "
                                   "level). " + forecast_fig["caption"])
    for figure in figures:
        if figure["src"] and figure["key"] == "gradients":
            figure["alt"] = f"Gradient norm per time step, {F.model_label(diagnostics.get('cell'))}"

    leaderboard = _leaderboard(metrics, rnn, run_model) if metrics else None
    leaderboard_note = (opt.notes.get("metrics.json") if metrics is None
                        else "metrics.json has an empty leaderboard.")
    notes = list(dict.fromkeys(
        str(n) for n in ((data or {}).get("notes") or []) + ((metrics or {}).get("notes") or [])))

    forecast_table = None
    if forecast is not None:
        forecast_table = _forecast_table(forecast)
        source, copy = run_dir / "forecast.csv", out_dir / "forecast.csv"
        if not (copy.exists() and os.path.samefile(source, copy)):
            shutil.copyfile(source, copy)

    name = (data or {}).get("name") or target
    if evaluation_only:
        title = f"Evaluation report — {run_dir.name}"
        subtitle = f"Backtest of {len(leaderboard_models)} models · {n_series} series"
    else:
        title = f"Forecast report — {name}"
        subtitle = (f"Run {run.get('id') or run_dir.name} · {F.model_label(run_model)} · "
                    f"target {target} · {n_series} series")
    context = {
        "title": title,
        "subtitle": subtitle,
        "summary": (_evaluation_summary(metrics or {}, backtest, run_dir) if evaluation_only
                    else _summary(run, pre, data, run_dir)),
        "notes": notes,
        "leaderboard": leaderboard,
        "leaderboard_note": leaderboard_note,
        "figures": figures,
        "forecast": forecast_table,
        "forecast_note": opt.notes.get("forecast.csv", "forecast.csv not available."),
        "config_text": config_text,
        "config_note": opt.notes.get("config.toml", "config.toml not available."),
        "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "version": __version__,
        "run_dir_name": run_dir.name,
    }
    html = render_report(context)
    target_path = out_dir / "report.html"
    tmp = out_dir / ".report.html.tmp"
    tmp.write_text(html, encoding="utf-8")
    os.replace(tmp, target_path)
    return target_path
