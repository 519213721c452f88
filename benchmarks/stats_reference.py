"""Reference rows for :mod:`benchmarks.accuracy`: statsforecast's AutoETS and Theta.

    python -m benchmarks.stats_reference CSV H SEASON   # prints a JSON list of rows

Run in an interpreter that has statsforecast (``make bench-accuracy`` makes
``.venv-bench``); it needs only numpy and pandas besides, and imports nothing from the
product, so it works with the older pandas statsforecast pins.  Each series is fitted on
all but its last ``H`` rows and scored on them with the same sMAPE (%) and MASE
(in-sample seasonal-naive scale) as ``forecast evaluate``, averaged over series.
"""

from __future__ import annotations

import json
import sys
import time

import pandas as pd

from benchmarks.scoring import scores


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    path, horizon, season = argv[0], int(argv[1]), int(argv[2])
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS, Theta

    df = pd.read_csv(path, parse_dates=["ds"])
    train_df = df.groupby("unique_id", sort=False, group_keys=False).apply(
        lambda g: g.iloc[:-horizon])
    train = {u: g.y.to_numpy(float) for u, g in train_df.groupby("unique_id", sort=False)}
    test = {u: g.y.to_numpy(float)[-horizon:] for u, g in df.groupby("unique_id", sort=False)}
    freq = pd.infer_freq(df[df.unique_id == df.unique_id.iloc[0]].ds) or "MS"
    rows = []
    for name, model in [("AutoETS", AutoETS(season_length=season)),
                        ("Theta", Theta(season_length=season))]:
        started = time.perf_counter()
        fc = StatsForecast(models=[model], freq=freq, n_jobs=1).forecast(df=train_df,
                                                                          h=horizon)
        col = [c for c in fc.columns if c not in ("unique_id", "ds")][0]
        forecasts = {u: g[col].to_numpy(float) for u, g in fc.groupby("unique_id", sort=False)}
        smape, mase = scores(train, test, forecasts, season)
        rows.append({"model": f"statsforecast {name} (reference)", "smape": smape,
                     "mase": mase, "seconds": time.perf_counter() - started})
    print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    import warnings

    warnings.filterwarnings("ignore")
    sys.exit(main())
