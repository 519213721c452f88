"""forecaster: time-series forecasting with recurrent neural networks.

The command line (``forecast``) is one face; these names are the Python one::

    from forecaster import Forecaster, evaluate, load, plot_forecast, read_panel
    model = Forecaster(epochs=50).fit(frame_or_path)   # what `forecast train` trains
    model.predict(30)                                  # a long DataFrame with intervals
    run_dir = model.save("runs")                       # `forecast predict` reads it
    panel = read_panel(frame_or_path)                  # the checks of `forecast train`
    model.predict(30, new_data=newer_frame)            # from newer data, no retraining
    evaluate(frame).to_frame()                         # `forecast evaluate`'s leaderboard
    plot_forecast(model)                               # the report's figures, as Figures

Names are imported on first use, so ``import forecaster`` (and ``forecast --help``) stays
fast and loads neither pandas nor TensorFlow.
"""

from __future__ import annotations

import importlib

from forecaster._version import __version__

#: public name -> module that defines it
_EXPORTS = {
    "Forecaster": "forecaster.api",
    "load": "forecaster.api",
    "evaluate": "forecaster.api",
    "tune": "forecaster.api",
    "plot_forecast": "forecaster.reports.plots",
    "plot_leaderboard": "forecaster.reports.plots",
    "plot_horizon_error": "forecaster.reports.plots",
    "plot_residuals": "forecaster.reports.plots",
    "plot_training": "forecaster.reports.plots",
    "read_panel": "forecaster.data.ingest",
    "Panel": "forecaster.data.panel",
    "TimeAxis": "forecaster.data.panel",
    "ForecastError": "forecaster.errors",
    "DataError": "forecaster.errors",
    "ConfigError": "forecaster.errors",
    "RunNotFoundError": "forecaster.errors",
    "ArtifactError": "forecaster.errors",
    "TrainingError": "forecaster.errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'forecaster' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
