"""The report's figures from Python objects, as matplotlib ``Figure``s (a notebook shows
them; ``fig.savefig(path)`` writes them).  Each is drawn by the same function of
:mod:`forecaster.reports.figures` that writes the report's PNG, so the two never differ.

    from forecaster import Forecaster, evaluate, plot_forecast, plot_leaderboard
    model = Forecaster().fit(frame)
    plot_forecast(model)                      # history, forecast, 80/95 % bands
    result = evaluate(frame, models=["rnn", "seasonal_naive"])
    plot_leaderboard(result)                  # backtest MASE and sMAPE per model
"""

from __future__ import annotations

import pandas as pd

from forecaster.errors import ConfigError
from forecaster.reports import diagnostics as D, figures as F

__all__ = ["plot_forecast", "plot_leaderboard", "plot_horizon_error", "plot_residuals",
           "plot_training"]


def plot_forecast(model, forecast: pd.DataFrame | None = None, *, levels=None):
    """History (the last context of each series), forecast and interval bands of a fitted
    or loaded :class:`~forecaster.Forecaster`; ``forecast`` defaults to
    ``model.predict(levels=levels)``.  Every band the forecast holds is drawn (whole-number
    levels), not only the calibrated ones: ``levels=[50]`` shows a band where a short
    backtest could not calibrate 80 %.  A panel shows its largest series (at most nine)."""
    model._check_fitted()
    frame = model.predict(levels=levels) if forecast is None else forecast
    kind = model.config_.model.kind if model.config_ is not None else None
    state = model.state_.to_json()
    shown = [c[len("lower_"):] for c in frame.columns
             if c.startswith("lower_") and f"upper_{c[len('lower_'):]}" in frame]
    if any(name.isdigit() for name in shown):
        state["levels"] = [int(name) for name in shown if name.isdigit()]
    return F.forecast_figure(state, frame, model=kind)


def plot_leaderboard(result):
    """Backtest MASE and sMAPE per model of an evaluation
    (:func:`~forecaster.evaluate` or :meth:`Forecaster.backtest`); the best starred."""
    return F.leaderboard_figure(result.to_json(), rnn_model="rnn")


def plot_horizon_error(result):
    """Backtest MAE by horizon step, one line per model of an evaluation."""
    return F.horizon_error_figure(result.backtest.frame, rnn_model=_rnn(result),
                                  target=result.panel.target,
                                  order=list(result.to_frame()["model"]))


def plot_residuals(result, model: str | None = None):
    """Histogram and autocorrelation of one model's backtest residuals (default: the
    RNN if it was evaluated, else the best model)."""
    models = list(result.backtest.models)
    model = model or _rnn(result) or result.best
    if model not in models:
        raise ConfigError(f"`model` must be one of the evaluated models "
                          f"({', '.join(models)}). Got {model!r}.")
    return D.residuals_figure(result.backtest.frame, model=model, target=result.panel.target,
                              label=F.model_label(model))


def plot_training(model):
    """Training and validation loss per epoch of a model fitted in this session (the
    early-stopped fit whose epoch count the final fit used)."""
    model._check_fitted()
    run = getattr(model, "run_", None)
    if run is None:
        raise ConfigError("plot_training needs a model fitted in this session; a loaded "
                          "run's curve is in its history.csv (`forecast report` draws it).")
    return D.training_figure(run.fit.history(), best_epoch=run.fit.best_epoch,
                             model=run.cfg.model.kind)


def _rnn(result) -> str | None:
    return "rnn" if "rnn" in result.backtest.models else None
