"""Evaluation: rolling-origin backtests, accuracy metrics, conformal intervals, leaderboards.

* :mod:`~forecaster.evaluation.metrics` — pure metric functions (MAE, RMSE, MAPE, sMAPE,
  MASE, interval coverage and width), formula in each docstring;
* :mod:`~forecaster.evaluation.backtest` — :class:`BacktestSpec` and :func:`run_backtest`:
  every model on the same folds, fitted inside each fold only;
* :mod:`~forecaster.evaluation.intervals` — split-conformal intervals per horizon step;
* :mod:`~forecaster.evaluation.leaderboard` — model × metric tables and ``metrics.json``.

Nothing is imported here so that importing one module stays cheap.
"""
