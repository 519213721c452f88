"""The report's figures: one function per PNG, each drawing from already-loaded run data.

Every function takes plain data (dicts from the run's JSON files, frames from its CSVs)
and returns the :class:`~matplotlib.figure.Figure`, or, given a ``path``, writes one PNG and
returns its path (the report); :mod:`forecaster.reports.plots` draws them from Python objects. Figures are drawn on a :class:`matplotlib.figure.Figure`
with the Agg canvas — pyplot is never imported, so no window can open and no global state is
touched. Sizes are fixed (:data:`FIGSIZE`, :data:`PANEL_FIGSIZE` at :data:`DPI`) so the PNGs
have predictable pixel sizes.

Strings that come from the data (target name, series ids, model names) are passed through
:func:`plain` before they reach matplotlib, so a ``$`` in a column name is drawn as a dollar
sign instead of starting mathtext.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from forecaster.data.frequencies import word as freq_word

DPI = 100
FIGSIZE = (10, 5)  # inches → 1000 × 500 px
PANEL_FIGSIZE = (12, 8)  # forecast grid of a panel → 1200 × 800 px
MAX_PANEL_SERIES = 9

RNN_COLOR = "#d62728"
BASELINE_COLOR = "#9aa5b1"
HISTORY_COLOR = "#333333"
FORECAST_COLOR = "#1f77b4"

MODEL_LABELS = {
    "rnn": "RNN",
    "simple_rnn": "SimpleRNN",
    "tanh_cell": "TanhCell (Elman RNN)",
    "lstm": "LSTM",
    "gru": "GRU",
}

def plain(text, limit: int = 60) -> str:
    """``text`` made safe for a matplotlib label: ``$`` escaped, long strings shortened."""
    text = str(text)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text.replace("$", r"\$")


def model_label(name) -> str:
    """Human name of a model kind (``tanh_cell`` → ``TanhCell (Elman RNN)``)."""
    return MODEL_LABELS.get(str(name), str(name))


def rnn_legend(name) -> str:
    """Legend entry of the RNN: ``RNN: TanhCell (Elman RNN)``, or just ``RNN``."""
    name = str(name)
    return "RNN" if name == "rnn" else f"RNN: {plain(model_label(name), 30)}"


def _new_figure(figsize=FIGSIZE) -> Figure:
    fig = Figure(figsize=figsize, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path) -> Figure | Path:
    """The figure itself when ``path`` is None (a notebook shows it), else its PNG at
    ``path``: every ``*_figure`` function serves the Python API and the report alike."""
    if path is None:
        return fig
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, format="png", facecolor="white")
    return path


def _format_time_axis(ax, datetime_axis: bool) -> None:
    if datetime_axis:
        import matplotlib.dates as mdates

        locator = mdates.AutoDateLocator(minticks=4, maxticks=9)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    else:
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(nbins=8, integer=True))


# ----------------------------------------------------------------------------- forecast


def history_index(series: dict, axis: dict):
    """Time stamps of a series' stored context (``context_start`` + one step per value)."""
    n = len(series.get("context") or [])
    if axis.get("kind") == "datetime":
        freq = axis.get("freq")
        # context_start is checked with the rest of preprocessing.json before any figure
        return pd.date_range(start=pd.Timestamp(series["context_start"]), periods=n, freq=freq)
    step = axis.get("step") or 1
    start = float(series.get("context_start", 0))
    values = start + step * np.arange(n)
    if float(start).is_integer() and float(step).is_integer():
        values = values.astype("int64")
    return pd.Index(values)


def select_series(preprocessing: dict, limit: int = MAX_PANEL_SERIES) -> list[dict]:
    """The ``limit`` series with the largest mean level of their context, largest first."""
    series = list(preprocessing.get("series") or [])

    def level(s):
        values = np.asarray(s.get("context") or [], dtype="float64")
        values = values[np.isfinite(values)]
        return float(np.mean(values)) if values.size else -np.inf

    if len(series) <= limit:
        return series
    return sorted(series, key=level, reverse=True)[:limit]


def _grid(k: int) -> tuple[int, int]:
    if k <= 1:
        return 1, 1
    if k == 2:
        return 1, 2
    if k <= 4:
        return 2, 2
    if k <= 6:
        return 2, 3
    return 3, 3


def forecast_figure(preprocessing: dict, forecast: pd.DataFrame, path=None, *, model=None,
                    target=None, time_col=None) -> Figure | Path:
    """History (stored context tail) + point forecast + 80/95 % bands, per series.

    A panel gets a grid of its largest series (by mean level, at most
    :data:`MAX_PANEL_SERIES`) and a title saying how many of the series are shown.
    """
    axis = preprocessing.get("axis") or {}
    datetime_axis = axis.get("kind") == "datetime"
    chosen = select_series(preprocessing)
    n, k = len(preprocessing.get("series") or []), len(chosen)
    target = target or preprocessing.get("target") or "value"
    levels = sorted(int(v) for v in (preprocessing.get("levels") or [80, 95]))
    rows, cols = _grid(k)
    fig = _new_figure(FIGSIZE if k <= 1 else PANEL_FIGSIZE)
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False).ravel())
    by_id = {str(key): frame for key, frame in forecast.groupby("series_id", sort=False)}
    bands = _Bands(levels)
    for ax, series in zip(axes, chosen):
        sid = str(series.get("id"))
        _draw_series(ax, series, by_id.get(sid), axis, bands)
        if k > 1:
            ax.set_title(plain(sid, 40), fontsize=10)
        _format_time_axis(ax, datetime_axis)
        _thousands(ax)
        ax.grid(True, alpha=0.3)
        ax.tick_params(labelsize=8 if k > 1 else 10)
    for ax in axes[k:]:
        ax.set_visible(False)

    xlabel = plain(time_col or preprocessing.get("time_col") or "time step")
    if datetime_axis:
        xlabel += f" ({freq_word(axis.get('freq'))})"
    legend = bands.legend()
    horizon = preprocessing.get("horizon") or (
        int(forecast["step"].max()) if "step" in forecast and len(forecast) else None)
    what = f"{horizon}-step forecast" if horizon else "forecast"
    by = f" by {plain(model_label(model))}" if model else ""
    if k <= 1:
        ax = axes[0]
        name = chosen[0].get("id") if chosen else target
        title = f"{plain(target, 40)}: history and {what}{by}"
        if chosen and str(chosen[0].get("id")) != str(target):
            title = f"{plain(target, 40)} — {plain(name, 30)}: history and {what}{by}"
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(plain(target, 40))
        if legend:
            ax.legend(*zip(*legend), loc="upper left", frameon=False)
    else:
        fig.suptitle(f"{plain(target, 40)}: history and {what}{by}\n"
                     f"showing {k} of {n} series (the largest by mean level)")
        for index, ax in enumerate(axes[:k]):
            if index + cols >= k:  # nothing drawn below this one
                ax.set_xlabel(xlabel, fontsize=9)
        fig.supylabel(plain(target, 40))
        if legend:
            fig.legend(*zip(*legend), loc="outside lower center", ncol=len(legend),
                       frameon=False)
    return _save(fig, path)


class _Bands:
    """The interval levels drawn, the legend's handles, and how many band points were
    unbounded (too few calibration residuals), which the legend then says."""

    def __init__(self, levels):
        self.levels = levels
        self.alpha = {levels[-1]: 0.18, levels[0]: 0.35} if levels else {}
        self.handles, self.unbounded, self.drawn = {}, {}, {}

    def legend(self) -> list:
        order = ["history", "forecast"] + [f"{lv}% interval" for lv in self.levels]
        legend = [(self.handles[key], key) for key in order if key in self.handles]
        for i, (handle, label) in enumerate(legend):
            if label.endswith("% interval"):
                level = int(label.split("%")[0])
                if self.unbounded.get(level) and self.unbounded[level] == self.drawn.get(level):
                    legend[i] = (handle, f"{label}: unbounded (too few calibration residuals)")
                elif self.unbounded.get(level):
                    legend[i] = (handle, f"{label} (unbounded at some steps)")
        return legend


def _draw_series(ax, series: dict, frame, axis: dict, bands: _Bands) -> None:
    """One series: its history, its interval bands and its forecast joined to the last
    observed point."""
    handles = bands.handles
    hist_x = history_index(series, axis)
    hist_y = np.asarray(series.get("context") or [], dtype="float64")
    (h,) = ax.plot(hist_x, hist_y, color=HISTORY_COLOR, lw=1.4, label="history")
    handles.setdefault("history", h)
    if frame is None or not len(frame):
        return
    frame = frame.sort_values("step") if "step" in frame else frame
    fx = frame["timestamp"]
    for level in reversed(bands.levels):
        lo, hi = f"lower_{level}", f"upper_{level}"
        if lo in frame and hi in frame:
            lower = frame[lo].to_numpy(dtype="float64")
            upper = frame[hi].to_numpy(dtype="float64")
            finite = np.isfinite(lower) & np.isfinite(upper)
            bands.drawn[level] = bands.drawn.get(level, 0) + finite.size
            bands.unbounded[level] = bands.unbounded.get(level, 0) + int((~finite).sum())
            band = ax.fill_between(fx, np.where(finite, lower, np.nan),
                                   np.where(finite, upper, np.nan), where=finite,
                                   color=FORECAST_COLOR,
                                   alpha=bands.alpha.get(level, 0.25), lw=0)
            handles.setdefault(f"{level}% interval", band)
    # Join the forecast to the last observed point so the line reads as a continuation.
    if len(hist_x):
        jx = [hist_x[-1], *list(fx)]
        jy = [hist_y[-1], *list(frame["forecast"])]
    else:
        jx, jy = list(fx), list(frame["forecast"])
    (f,) = ax.plot(jx, jy, color=FORECAST_COLOR, lw=1.8, label="forecast")
    handles.setdefault("forecast", f)
    if len(hist_x):
        ax.axvline(hist_x[-1], color="#888888", lw=0.8, ls=":")


# -------------------------------------------------------------------------- leaderboard


def _metric_values(leaderboard, key):
    out = []
    for row in leaderboard:
        value = row.get(key)
        try:
            value = float(value)
        except (TypeError, ValueError):
            value = np.nan
        out.append(value)
    return np.asarray(out, dtype="float64")


def leaderboard_figure(metrics: dict, path=None, *, rnn_model=None) -> Figure | Path:
    """Horizontal bars of backtest MASE and sMAPE per model; the RNN in red, the best starred."""
    board = list(metrics.get("leaderboard") or [])
    best = metrics.get("best")
    names = [str(row.get("model")) for row in board]
    panels = [("mase", "MASE (lower is better; 1 = in-sample seasonal naive)"),
              ("smape", "sMAPE, % (lower is better)")]
    panels = [(key, label) for key, label in panels if any(key in row for row in board)]
    fig = _new_figure()
    axes = fig.subplots(1, max(len(panels), 1), sharey=True, squeeze=False)[0]
    y = np.arange(len(board))[::-1]  # first (best) row on top
    labels = [plain(model_label(name), 30) + ("  ★" if name == best else "") for name in names]
    for ax, (key, label) in zip(axes, panels):
        values = _metric_values(board, key) * (100.0 if key == "smape" else 1.0)
        colors = [RNN_COLOR if name == rnn_model else BASELINE_COLOR for name in names]
        shown = np.where(np.isfinite(values), values, 0.0)
        bars = ax.barh(y, shown, color=colors, edgecolor=["black" if nm == best else "none"
                                                          for nm in names], linewidth=1.2)
        finite = values[np.isfinite(values)]
        span = float(finite.max()) if finite.size else 1.0
        for bar, value in zip(bars, values):
            text = "n/a" if not np.isfinite(value) else f"{value:.3g}"
            ax.text(bar.get_width() + 0.01 * span, bar.get_y() + bar.get_height() / 2, text,
                    va="center", fontsize=9)
        if key == "mase":
            ax.axvline(1.0, color="#555555", ls="--", lw=0.9)
        ax.set_xlim(0, span * 1.18 if span > 0 else 1)
        ax.set_xlabel(label)
        ax.grid(True, axis="x", alpha=0.3)
    axes[0].set_yticks(y, labels)
    for tick, name in zip(axes[0].get_yticklabels(), names):
        if name == rnn_model:
            tick.set_color(RNN_COLOR)
            tick.set_fontweight("bold")
    from matplotlib.patches import Patch

    legend = [Patch(color=BASELINE_COLOR, label="baseline"),
              Patch(facecolor="white", edgecolor="black",
                    label="★ best by MASE" if np.isfinite(_metric_values(board, "mase")).any()
                    else "★ best")]
    if rnn_model is not None:
        legend.insert(0, Patch(color=RNN_COLOR, label=rnn_legend(rnn_model)))
    fig.legend(handles=legend, loc="outside lower center", ncol=len(legend), fontsize=9,
               frameon=False)
    folds = (metrics.get("protocol") or {}).get("folds")
    suffix = f" ({folds} rolling-origin folds)" if folds else ""
    fig.suptitle(f"Backtest leaderboard: RNN vs baselines{suffix}")
    return _save(fig, path)


# ------------------------------------------------------------------------ horizon error


def horizon_mae(backtest: pd.DataFrame, *, relative: bool = False) -> pd.DataFrame:
    """MAE per model (columns) and horizon step (index), over folds and series.

    ``relative=True`` (panels): each series' absolute errors are divided by its mean
    absolute actual value and expressed in percent, so every series weighs the same
    whatever its scale; otherwise errors are in target units, pooled.
    """
    err = (backtest["actual"] - backtest["forecast"]).abs()
    if relative:
        level = backtest["actual"].abs().groupby(backtest["series_id"]).transform("mean")
        err = 100.0 * err / level.replace(0, np.nan)
    table = err.groupby([backtest["step"], backtest["model"]]).mean().unstack("model")
    return table.sort_index()


def _thousands(ax) -> None:
    """Thousands separators on the y axis when the values are large (150,000 not 150000)."""
    low, high = ax.get_ylim()
    if max(abs(low), abs(high)) >= 10_000:
        from matplotlib.ticker import StrMethodFormatter

        ax.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))


def horizon_error_figure(backtest: pd.DataFrame, path=None, *, rnn_model=None, target=None,
                         order=None) -> Figure | Path:
    """Backtest MAE by horizon step, one line per model; the RNN drawn thick and red."""
    n_series = backtest["series_id"].nunique() if "series_id" in backtest else 1
    relative = n_series > 1
    table = horizon_mae(backtest, relative=relative)
    models = [m for m in (order or []) if m in table.columns]
    models += [m for m in table.columns if m not in models]
    fig = _new_figure()
    ax = fig.subplots()
    palette = ["#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
               "#bcbd22", "#17becf"]
    others = iter(palette * 4)
    for model in models:
        is_rnn = model == rnn_model
        ax.plot(table.index, table[model], marker="o", ms=4 if not is_rnn else 5,
                lw=2.6 if is_rnn else 1.3, color=RNN_COLOR if is_rnn else next(others),
                label=rnn_legend(model) if is_rnn else plain(model_label(model), 30),
                zorder=3 if is_rnn else 2)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("horizon step (steps after the forecast origin)")
    if relative:
        ax.set_ylabel("MAE, % of the series' mean level")
        ax.set_title(f"Backtest error by horizon step (relative MAE, averaged over folds and "
                     f"{n_series} series)")
    else:
        ax.set_ylabel(f"MAE ({plain(target or 'target', 40)} units)")
        ax.set_title("Backtest error by horizon step (mean absolute error over folds)")
    ax.set_ylim(bottom=0)
    _thousands(ax)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=9, ncol=2 if len(models) > 5 else 1, frameon=False)
    return _save(fig, path)
