"""The report's diagnostic figures of the model itself: its training curves, its backtest
residuals (histogram and autocorrelation along the forecast paths) and its gradient norms
through time.  Drawn with the helpers and styles of :mod:`forecaster.reports.figures`;
each returns the ``Figure``, or writes a PNG given a ``path``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from forecaster.reports.figures import (RNN_COLOR, _new_figure, _save, model_label, plain)


# ----------------------------------------------------------------------------- training


LOSS_NAMES = {"huber": "Huber", "mse": "MSE", "mae": "MAE"}


def loss_label(loss: str | None) -> str:
    """The y axis of the training curves, named after the loss the run trained with
    (``training.loss``); a bare "loss" when the run does not say."""
    name = LOSS_NAMES.get(str(loss).lower(), plain(loss, 20)) if loss else None
    return f"{name} loss, scaled units" if name else "loss, scaled units"


def training_figure(history: pd.DataFrame, path=None, *, best_epoch=None,
                    model=None, loss: str | None = None) -> Figure | Path:
    """Training and validation loss per epoch (the axis named after ``loss``, the
    config's ``training.loss``); log y when they span two decades or more."""
    fig = _new_figure()
    ax = fig.subplots()
    epochs = history["epoch"].to_numpy()
    curves = [("loss", "training loss", "#1f77b4"), ("val_loss", "validation loss", "#ff7f0e")]
    positive = []
    for column, label, color in curves:
        if column in history and history[column].notna().any():
            values = history[column].to_numpy(dtype="float64")
            ax.plot(epochs, values, lw=1.6, color=color, label=label)
            positive.append(values[np.isfinite(values) & (values > 0)])
    positive = np.concatenate(positive) if positive else np.array([])
    log = positive.size > 1 and positive.max() / positive.min() >= 100
    if log:
        ax.set_yscale("log")
    if best_epoch:
        ax.axvline(best_epoch, color="#2ca02c", ls="--", lw=1.2,
                   label=f"best epoch {best_epoch} (weights restored)")
        row = history.loc[history["epoch"] == best_epoch]
        if len(row) and "val_loss" in row and np.isfinite(row["val_loss"].iloc[0]):
            ax.plot([best_epoch], [row["val_loss"].iloc[0]], marker="o", color="#2ca02c", ms=7)
    if len(epochs) and best_epoch and int(epochs.max()) > int(best_epoch):
        ax.axvspan(best_epoch, epochs.max(), color="#2ca02c", alpha=0.06, lw=0)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel(loss_label(loss) + (" (log scale)" if log else ""))
    stopped = f", stopped after {int(epochs.max())} epochs" if len(epochs) else ""
    ax.set_title(f"Training curves{' — ' + plain(model_label(model)) if model else ''}{stopped}")
    ax.grid(True, which="both" if log else "major", alpha=0.3)
    ax.legend(frameon=True, framealpha=0.9, loc="best")
    return _save(fig, path)


# ---------------------------------------------------------------------------- residuals


def residuals(backtest: pd.DataFrame, model) -> pd.DataFrame:
    """The model's backtest rows with ``residual = actual − forecast``, ordered along each
    forecast path (series, fold, step)."""
    rows = backtest.loc[backtest["model"] == model].copy()
    rows["residual"] = rows["actual"] - rows["forecast"]
    keys = [c for c in ("series_id", "fold", "step") if c in rows]
    return rows.sort_values(keys).reset_index(drop=True)


def pooled_acf(values: np.ndarray, groups: np.ndarray, max_lag: int) -> np.ndarray:
    """Autocorrelation at lags 1..max_lag, pairs taken only within a group (one forecast
    path), normalised by the pooled variance: ``Σ (e_t − ē)(e_{t+k} − ē) / Σ (e_t − ē)²``."""
    values = np.asarray(values, dtype="float64")
    centred = values - values.mean()
    denom = float(np.sum(centred**2))
    acf = np.zeros(max_lag)
    if denom == 0:
        return acf
    same = np.asarray(groups)
    for lag in range(1, max_lag + 1):
        if lag >= len(values):
            break
        mask = same[lag:] == same[:-lag]
        acf[lag - 1] = float(np.sum(centred[lag:][mask] * centred[:-lag][mask])) / denom
    return acf


def residuals_figure(backtest: pd.DataFrame, path=None, *, model, target=None,
                     label=None) -> Figure | Path:
    """Histogram and autocorrelation of the model's backtest residuals.

    A single series is shown in target units; a panel in percent of each series' mean
    absolute actual value, so large series do not swamp the rest.
    """
    rows = residuals(backtest, model)
    n_series = rows["series_id"].nunique() if "series_id" in rows else 1
    values = rows["residual"].to_numpy(dtype="float64")
    unit = f"{plain(target or 'target', 40)} units"
    if n_series > 1:
        level = rows.groupby("series_id")["actual"].transform(lambda a: a.abs().mean())
        values = 100.0 * values / level.replace(0, np.nan).to_numpy(dtype="float64")
        unit = "% of the series' mean level"
    finite = np.isfinite(values)
    values = values[finite]
    group_cols = [c for c in ("series_id", "fold") if c in rows]
    groups = (rows.loc[finite, group_cols].astype(str).agg("|".join, axis=1).to_numpy()
              if group_cols else np.zeros(values.size))

    fig = _new_figure()
    left, right = fig.subplots(1, 2)
    bins = int(np.clip(np.sqrt(values.size) * 1.5, 10, 50)) if values.size else 10
    hist_range, outside = None, 0
    if values.size >= 50:  # keep a few extreme errors from squashing the histogram
        q1, q3 = np.percentile(values, [25, 75])
        lo, hi = max(values.min(), q1 - 4 * (q3 - q1)), min(values.max(), q3 + 4 * (q3 - q1))
        if hi > lo:
            hist_range = (lo, hi)
            outside = int(((values < lo) | (values > hi)).sum())
    left.hist(values, bins=bins, range=hist_range, color="#1f77b4", alpha=0.8,
              edgecolor="white")
    clipped = f" ({outside} extreme value{'s' if outside > 1 else ''} not shown)" if outside else ""
    left.axvline(0, color="black", lw=0.9)
    if values.size:
        left.axvline(values.mean(), color=RNN_COLOR, ls="--", lw=1.2,
                     label=f"mean {values.mean():.3g} (bias)")
        left.legend(frameon=False, fontsize=9, loc="upper right")
    left.set_xlabel(f"residual = actual − forecast ({unit})")
    left.set_ylabel("count")
    left.set_title(f"Residual distribution{clipped}")
    left.grid(True, alpha=0.3)

    steps = int(rows["step"].max()) if "step" in rows and len(rows) else 12
    max_lag = int(max(1, min(max(steps - 1, 1), 40, values.size - 1 if values.size > 1 else 1)))
    acf = pooled_acf(values, groups, max_lag)
    lags = np.arange(1, max_lag + 1)
    band = 1.96 / np.sqrt(values.size) if values.size else 0.0
    right.bar(lags, acf, width=0.6, color="#1f77b4")
    right.axhspan(-band, band, color="#888888", alpha=0.2, lw=0,
                  label=f"±1.96/√n (n = {values.size})")
    right.axhline(0, color="black", lw=0.8)
    from matplotlib.ticker import MaxNLocator

    right.xaxis.set_major_locator(MaxNLocator(integer=True))
    right.set_xlabel("lag (steps along a forecast path)")
    right.set_ylabel("autocorrelation")
    right.set_title("Residual autocorrelation (ACF)")
    right.set_ylim(min(-0.3, acf.min() * 1.2 - band), max(0.3, acf.max() * 1.2 + band))
    right.legend(frameon=False, fontsize=9, loc="upper right")
    right.grid(True, alpha=0.3)
    pooled = f", pooled over {n_series} series" if n_series > 1 else ""
    fig.suptitle(f"Backtest residuals of {plain(label or model_label(model))}{pooled}")
    return _save(fig, path)


# ---------------------------------------------------------------------------- gradients


def gradient_verdict(ratio: float) -> str:
    """Words for ``‖∂loss/∂h_1‖ / ‖∂loss/∂h_T‖``: vanishing < 0.01 ≤ decaying < 0.2 ≤ stable
    ≤ 5 < growing ≤ 100 < exploding."""
    if ratio < 1e-2:
        return "vanishing"
    if ratio < 0.2:
        return "decaying"
    if ratio <= 5:
        return "stable"
    if ratio <= 100:
        return "growing"
    return "exploding"


def gradients_figure(diagnostics: dict, path=None) -> Figure | Path:
    """‖∂loss/∂h_t‖ for each step of the input window, log scale, oldest step on the left."""
    norms = np.asarray(diagnostics.get("gradient_norms") or [], dtype="float64")
    cell = diagnostics.get("cell")
    t = np.arange(1, norms.size + 1)
    fig = _new_figure()
    ax = fig.subplots()
    ok = np.isfinite(norms) & (norms > 0)
    batch = diagnostics.get("batch_size")
    ax.plot(t[ok], norms[ok], marker="o" if norms.size <= 48 else None, ms=3.5, lw=1.6,
            color=RNN_COLOR,
            label="‖∂loss/∂h_t‖" + (f" (batch of {batch} windows)" if batch else ""))
    if np.any(~ok):
        ax.plot(t[~ok], np.full((~ok).sum(), norms[ok].min() if ok.any() else 1.0), "x",
                color="black", label="zero or non-finite")
    ax.set_yscale("log")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlim(0.5, max(norms.size, 1) + 0.5)
    ax.set_xlabel("time step t in the input window (older ←   → recent)")
    ax.set_ylabel("gradient norm ‖∂loss/∂h_t‖ (log scale)")
    ratio = ""
    if ok.any() and ok[0] and ok[-1]:
        r = norms[0] / norms[-1]
        ratio = f": oldest/recent = {r:.2g} ({gradient_verdict(r)})"
    ax.set_title(f"Gradient flow through time — {plain(model_label(cell))}, "
                 f"window T = {norms.size}{ratio}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(frameon=False)
    return _save(fig, path)
