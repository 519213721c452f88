"""Every closed set of choices a setting, flag or argument takes, in one place.

The config validates against these, the command line offers them (``click.Choice``), and
the modules that act on a choice check it with the same tuple, so a new choice is added
here once.  Plain tuples; importing this module loads nothing else.
"""

MODEL_KINDS = ("simple_rnn", "tanh_cell", "lstm", "gru")  # the recurrent layer
ANCHORS = ("level", "season", "mixed")  # what a member's forecast is a change from
SCALINGS = ("auto", "log", "standard")
LOSSES = ("mse", "mae", "huber")
DEVICES = ("cpu", "gpu", "auto")
DISTRIBUTE = ("none", "mirrored", "multi-worker")
#: How gaps are filled (``data.fill``); ``read_panel`` also takes ``"none"``, which says
#: "refuse gaps" like ``"error"`` but with the reader's own message.
FILLS = ("interpolate", "ffill", "zero", "error")
READER_FILLS = FILLS[:3] + ("none",) + FILLS[3:]
#: Duplicated timestamps resampled with (``data.aggregate``; "" = refuse duplicates).
AGGREGATES = ("mean", "sum", "last", "first", "max", "min")
FORECAST_FORMATS = ("csv", "json", "parquet")  # `forecast predict --format`
#: The columns of a forecast (`forecast predict --output-format`, ``output_format=``):
#: forecaster's own, or Nixtla's (``unique_id, ds, <model>, <model>-lo-80, …``).
FORECAST_LAYOUTS = ("forecaster", "nixtla")
#: `forecast evaluate --format`: the leaderboard as a table or JSON, or the backtest's
#: forecasts as Nixtla's cross-validation rows.
EVALUATE_FORMATS = ("table", "json", "nixtla")
TUNE_METRICS = ("mase", "smape", "mae", "rmse", "mape")  # `forecast tune --metric`
#: What a run deploys (``evaluation.select``, `forecast train --select`): the RNN, or the
#: backtest's winner among the RNN and the baselines.
SELECTS = ("rnn", "best")
#: The models' public names are listed once, in ``forecaster.models.registry``.
