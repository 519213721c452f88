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
from dataclasses import dataclass, field
from pathlib import Path

from forecaster.runs import artifacts
from forecaster.errors import ArtifactError, RunNotFoundError
from forecaster.reports.view import (CAPTIONS, FIGURE_FILES, FORECAST_ROWS, covariates_view,
                                     evaluation_summary,
                                     forecast_table, leaderboard, rnn_model_name, summary)
from forecaster.runs.record import DataInfo, RunInfo, RunRecord

__all__ = ["write_report", "FIGURE_FILES", "FORECAST_ROWS", "rnn_model_name"]


# -------------------------------------------------------------------------------- loading


def _read_json(run_dir: Path, name: str):
    """``artifacts.read_json`` (a regular file within the size limit, holding a JSON
    object), with ``FileNotFoundError`` when it is absent."""
    path = run_dir / name
    if not os.path.lexists(path):
        raise FileNotFoundError(path)
    return artifacts.read_json(path)


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


# --------------------------------------------------------------------------------- main


def write_report(run_dir: Path, out_dir: Path) -> Path:
    """Write the figures and ``report.html`` for the run in ``run_dir`` into ``out_dir``.

    Everything is rendered into a temporary folder first and moved in only once complete
    (a full disk or an interrupt leaves the earlier report, or nothing, never a half-written
    one); files of ``out_dir`` that the report does not write are left alone, so ``out_dir``
    may be the run directory itself. Returns the path of ``report.html``.

    Raises :class:`RunNotFoundError` if ``run_dir`` is not a directory and
    :class:`ArtifactError` if ``run.json`` or ``preprocessing.json`` is missing or invalid
    (:meth:`RunRecord.load`); any other missing file only skips what needs it.  An
    *evaluation* directory (``forecast evaluate`` output: ``metrics.json`` and
    ``backtest.csv`` but neither ``run.json`` nor ``preprocessing.json``) gets an
    evaluation-only report: leaderboard, error by horizon and residuals."""
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    if not run_dir.is_dir():
        raise RunNotFoundError(f"run directory must exist. Got {run_dir} (no such directory).")
    into_run = out_dir.is_dir() and os.path.samefile(out_dir, run_dir)
    figures = tuple(filename for filename, *_ in FIGURE_FILES.values())
    inputs = _Inputs.load(run_dir)  # before anything is staged: a bad run writes nothing
    with artifacts.staged_files(out_dir, owned=figures) as stage:
        _render_into(inputs, stage)
        if into_run:  # the run's own forecast.csv stays the original
            (stage / "forecast.csv").unlink(missing_ok=True)
    return out_dir / "report.html"


def _data_info(opt: _Optional) -> DataInfo | None:
    """data.json, checked field by field; a note in its place when it cannot be read."""
    raw = opt.json("data.json")
    try:
        return None if raw is None else DataInfo.from_json(raw)
    except ArtifactError as exc:
        opt.notes["data.json"] = f"data.json could not be read ({exc})."
        return None


@dataclass
class _Inputs:
    """Everything a report reads from a run (or evaluation) directory."""

    run_dir: Path
    evaluation_only: bool
    run: RunInfo
    pre: dict  # preprocessing.json as validated, in its JSON form (the figures' input)
    opt: _Optional
    data: DataInfo | None = None
    forecast: object = None
    metrics: dict | None = None
    backtest: object = None
    history: object = None
    diagnostics: dict | None = None
    config_text: str | None = None
    covariates: dict | None = None
    leaderboard_models: list = field(default_factory=list)
    backtest_models: list = field(default_factory=list)

    @classmethod
    def load(cls, run_dir: Path) -> "_Inputs":
        evaluation_only = is_evaluation_dir(run_dir)
        if evaluation_only:
            run, pre = RunInfo(), {}
        else:
            record = RunRecord.load(run_dir)  # every field checked, as forecast predict does
            run, pre = record.info, record.state.to_json()
        opt = _Optional(run_dir)
        self = cls(run_dir=run_dir, evaluation_only=evaluation_only, run=run, pre=pre,
                   opt=opt, data=_data_info(opt),
                   forecast=opt.csv("forecast.csv", ("series_id", "timestamp", "forecast")),
                   metrics=opt.json("metrics.json"),
                   backtest=opt.csv("backtest.csv", ("model", "series_id", "step", "actual",
                                                     "forecast")),
                   history=opt.csv("history.csv", ("epoch", "loss")),
                   diagnostics=opt.json("diagnostics.json"),
                   config_text=_without_local_paths(opt.text("config.toml")),
                   covariates=opt.json("covariates.json") if (
                       run_dir / "covariates.json").is_file() else None)
        self.leaderboard_models = [r.get("model") for r in (self.metrics or {}).get(
            "leaderboard") or [] if isinstance(r, dict)]
        if self.backtest is not None:
            self.backtest_models = list(dict.fromkeys(self.backtest["model"].astype(str)))
        if evaluation_only:
            for name in ("forecast.csv", "history.csv", "diagnostics.json", "config.toml"):
                opt.notes[name] = ("not part of an evaluation (this directory holds a "
                                   "backtest, not a trained run).")
            self.forecast = self.history = self.diagnostics = self.config_text = None
        return self

    @property
    def target(self) -> str:
        return self.pre.get("target") or (self.data or DataInfo()).target or "value"

    @property
    def n_series(self) -> int:
        if not self.evaluation_only:
            return len(self.pre["series"])
        return ((self.metrics or {}).get("protocol") or {}).get("series") or (
            self.backtest["series_id"].nunique() if self.backtest is not None else 0)

    @property
    def rnn(self) -> str | None:
        return rnn_model_name(self.run.model, self.leaderboard_models or self.backtest_models)

    @property
    def trained_loss(self) -> str | None:
        """``training.loss`` of the run's config.toml (None when it cannot be read)."""
        import tomllib

        try:
            loss = tomllib.loads(self.config_text or "").get("training", {}).get("loss")
        except (tomllib.TOMLDecodeError, AttributeError):
            return None
        return loss if isinstance(loss, str) else None

    def of(self, name: str):
        """The loaded input file ``name`` (None when missing or unreadable)."""
        return {"forecast.csv": self.forecast, "metrics.json": self.metrics,
                "backtest.csv": self.backtest, "history.csv": self.history,
                "diagnostics.json": self.diagnostics}[name]


def _draw(inputs: _Inputs, key: str, path: Path) -> Path:
    """Draw figure ``key`` into ``path`` (an :class:`ArtifactError` says why it cannot)."""
    from forecaster.reports import diagnostics as D, figures as F

    i, model = inputs, inputs.run.model
    if key == "forecast":
        frame = i.forecast.copy()
        frame["timestamp"] = _parse_times(frame["timestamp"], i.pre.get("axis") or {})
        deployed = model if i.run.network_deployed else i.run.deployed
        return F.forecast_figure(i.pre, frame, path, model=deployed, target=i.target,
                                 time_col=i.pre.get("time_col") or (i.data or DataInfo()).time_col)
    if key == "leaderboard":
        if not (i.metrics.get("leaderboard") or []):
            raise ArtifactError("metrics.json has an empty leaderboard.")
        return F.leaderboard_figure(i.metrics, path, rnn_model=i.rnn)
    if key == "horizon_error":
        return F.horizon_error_figure(i.backtest, path, rnn_model=rnn_model_name(
            model, i.backtest_models), target=i.target, order=i.leaderboard_models)
    if key == "training":
        return D.training_figure(i.history, path, best_epoch=i.run.best_epoch, model=model,
                                 loss=i.trained_loss)
    if key == "residuals":
        name = rnn_model_name(model, i.backtest_models) or i.backtest_models[0]
        label = (f"the RNN, {F.model_label(model)}" if name == "rnn" and model
                 else F.model_label(name))
        return D.residuals_figure(i.backtest, path, model=name, target=i.target, label=label)
    if key == "gradients":
        if not i.diagnostics.get("gradient_norms"):
            note = i.diagnostics.get("note")
            raise ArtifactError(str(note) if isinstance(note, str) and note
                                else "diagnostics.json has no gradient_norms.")
        return D.gradients_figure(i.diagnostics, path)
    raise KeyError(key)


def _figures(inputs: _Inputs, out_dir: Path) -> list[dict]:
    """Every figure of :data:`FIGURE_FILES` drawn into ``out_dir``, or a note saying why
    not (a malformed optional input costs one figure, not the whole report)."""
    from forecaster.reports import figures as F
    from forecaster.reports.html import data_uri

    figures = []
    for key, (filename, title, needs) in FIGURE_FILES.items():
        entry = {"key": key, "title": title, "caption": CAPTIONS[key], "src": None,
                 "note": None, "alt": title, "file": filename, "width": 0, "height": 0}
        missing = [name for name in needs if inputs.of(name) is None]
        if missing:
            entry["note"] = " ".join(inputs.opt.notes.get(name, f"{name} not available.")
                                     for name in missing)
        else:
            try:
                path = _draw(inputs, key, out_dir / filename)
            except ArtifactError as exc:
                entry["note"] = str(exc)
            except (KeyError, ValueError, TypeError, IndexError) as exc:
                entry["note"] = (f"its input ({', '.join(needs)}) could not be drawn: "
                                 f"{type(exc).__name__}: {exc}")
            else:
                entry["src"] = data_uri(path)
                entry["width"], entry["height"] = _png_size(path)
        if entry["src"] is None:
            (out_dir / filename).unlink(missing_ok=True)  # no stale figure from an older report
        if entry["src"] and key == "gradients":
            entry["alt"] = ("Gradient norm per time step, "
                            f"{F.model_label(inputs.diagnostics.get('cell'))}")
        figures.append(entry)
    n = inputs.n_series
    if n > 1:
        figures[0]["caption"] = (f"Showing {min(n, F.MAX_PANEL_SERIES)} of {n} series (the "
                                 "largest by mean level"
                                 + ("; every series has its own figure under “Every "
                                    "series” below" if n > F.MAX_PANEL_SERIES else "")
                                 + "). " + figures[0]["caption"])
    return figures


MAX_SERIES_FIGURES = 100  # a page past this size stops being one page to scroll


def _series_figures(inputs: _Inputs, out_dir: Path) -> dict | None:
    """A panel larger than the forecast grid: one figure per series (at most
    :data:`MAX_SERIES_FIGURES`, in the run's order, with a note past it), so that every
    series the grid leaves out is reachable in the page; None for a smaller panel or
    without a forecast."""
    from forecaster.reports import figures as F
    from forecaster.reports.html import data_uri

    series = list(inputs.pre.get("series") or [])
    if len(series) <= F.MAX_PANEL_SERIES or inputs.forecast is None:
        return None
    frame = inputs.forecast.copy()
    frame["timestamp"] = _parse_times(frame["timestamp"], inputs.pre.get("axis") or {})
    folder = out_dir / "series"
    shutil.rmtree(folder, ignore_errors=True)  # no stale figure from an older report
    entries = []
    for index, one in enumerate(series[:MAX_SERIES_FIGURES], start=1):
        sid = str(one.get("id"))
        try:
            path = F.forecast_figure({**inputs.pre, "series": [one]},
                                     frame[frame["series_id"].astype(str) == sid],
                                     folder / f"{index:04d}.png", target=inputs.target)
        except (KeyError, ValueError, TypeError, IndexError) as exc:
            entries.append({"id": sid, "src": None, "note": f"{type(exc).__name__}: {exc}"})
            continue
        width, height = _png_size(path)
        entries.append({"id": sid, "src": data_uri(path), "note": None, "width": width,
                        "height": height})
    note = (f"The first {MAX_SERIES_FIGURES} of {len(series)} series; forecast.csv holds "
            "every series." if len(series) > MAX_SERIES_FIGURES else None)
    return {"series": entries, "note": note}


def _render_into(inputs: _Inputs, out_dir: Path) -> Path:
    """Write the figures, the forecast.csv copy and ``report.html`` into ``out_dir``."""
    from forecaster._version import __version__
    from forecaster.reports.figures import model_label
    from forecaster.reports.html import render_report

    i, run_dir = inputs, inputs.run_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    figures = _figures(i, out_dir)
    notes = list(dict.fromkeys(str(n) for n in list((i.data or DataInfo()).notes)
                               + ((i.metrics or {}).get("notes") or [])))
    table = None
    if i.forecast is not None:
        table = forecast_table(i.forecast)
        source, copy = run_dir / "forecast.csv", out_dir / "forecast.csv"
        if not (copy.exists() and os.path.samefile(source, copy)):
            shutil.copyfile(source, copy)
    if i.evaluation_only:
        title = f"Evaluation report — {run_dir.name}"
        subtitle = f"Backtest of {len(i.leaderboard_models)} models · {i.n_series} series"
        tables = evaluation_summary(i.metrics or {}, i.backtest, run_dir)
    else:
        title = f"Forecast report — {(i.data or DataInfo()).name or i.target}"
        subtitle = (f"Run {i.run.id or run_dir.name} · {model_label(i.run.model)} · "
                    f"target {i.target} · {i.n_series} series")
        tables = summary(i.run, i.pre, i.data, run_dir)
    context = {
        "title": title,
        "subtitle": subtitle,
        "summary": tables,
        "notes": notes,
        "leaderboard": leaderboard(i.metrics, i.rnn, i.run.model) if i.metrics else None,
        "leaderboard_note": (i.opt.notes.get("metrics.json") if i.metrics is None
                             else "metrics.json has an empty leaderboard."),
        "figures": figures,
        "series_figures": _series_figures(i, out_dir) if not i.evaluation_only else None,
        "covariates": covariates_view(i.covariates),
        "forecast": table,
        "forecast_note": i.opt.notes.get("forecast.csv", "forecast.csv not available."),
        "config_text": i.config_text,
        "config_note": i.opt.notes.get("config.toml", "config.toml not available."),
        "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "version": __version__,
        "run_dir_name": run_dir.name,
    }
    target_path = out_dir / "report.html"
    artifacts.write_text_atomic(target_path, render_report(context))
    return target_path
