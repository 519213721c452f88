"""forecaster from Python: fit on a DataFrame, forecast with intervals, forecast again
from newer data without retraining, save a run that the command line reads, load it back.

    .venv/bin/python examples/quickstart.py [runs-dir]

Uses the quick profile (3 networks, a 6-origin backtest): about half a minute on 2 cores.
"""

import sys
from pathlib import Path

import pandas as pd

from forecaster import Forecaster, load, read_panel

ROOT = Path(__file__).resolve().parents[1]
runs_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "runs"

frame = pd.read_csv(ROOT / "data" / "air_passengers.csv")   # columns: month, passengers
panel = read_panel(frame)                                    # what `forecast train` would see
print(f"{len(panel)} series, frequency {panel.axis.freq}, {int(panel.lengths[0])} points")

history, newer = frame.iloc[:-12], frame.iloc[-12:]           # the last year arrives later
model = Forecaster(profile="quick", seed=42).fit(history)
print(f"season {model.season_}, window {model.window_}, horizon {model.horizon_}, "
      f"lookbacks {model.lookbacks_}")
print(model.leaderboard_[["model", "mase", "smape"]].round(3).to_string(index=False))

forecast = model.predict(24, new_data=newer)                 # from 1960-12, no retraining
print(forecast.head(3).round({"forecast": 1, "lower_80": 1, "upper_80": 1, "lower_95": 1,
                              "upper_95": 1}).to_string(index=False))

run_dir = model.save(runs_dir)                               # `forecast predict --runs-dir` reads it
again = load(run_dir).predict(24, new_data=newer)
assert (again["forecast"] - forecast["forecast"]).abs().max() < 1e-9
print(f"saved {run_dir}; `forecast predict --runs-dir {runs_dir} --horizon 24 --data NEW.csv` "
      "forecasts from it")
