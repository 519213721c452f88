"""What a forecast combination of two models would score, from one `forecast evaluate` run.

    python -m benchmarks.combination DATA.csv EVALUATION_DIR SEASON [--models rnn theta]
                                     [--weights 0 0.1 0.2 0.3 0.4 0.5 1]

Reads the run's ``backtest.csv`` (every model's forecasts of the same folds) and the long
CSV it evaluated (``unique_id, ds, y``), and prints the MASE and sMAPE (%) of ``(1 − w) ·
first + w · second`` for each weight ``w`` — scored as ``forecast evaluate`` scores them
(:func:`benchmarks.scoring.scores`, the scale from each series' part before its fold).  No
training: it measures what combining would buy before the product ships it
(benchmarks/README.md, issue 19).  Single-fold runs (``--holdout``) only.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import pandas as pd

from benchmarks.scoring import scores


def combination_table(data: pd.DataFrame, backtest: pd.DataFrame, season: int,
                      models=("rnn", "theta"), weights=(0, 0.1, 0.2, 0.3, 0.4, 0.5, 1)):
    """``[(w, sMAPE %, MASE)]`` of ``(1 − w) · models[0] + w · models[1]``."""
    if backtest["fold"].nunique() != 1:
        raise ValueError("combination_table needs a single-fold (--holdout) evaluation.")
    first, second = (backtest[backtest["model"] == m].sort_values(["series_id", "timestamp"])
                     for m in models)
    if len(first) == 0 or len(second) == 0 or not np.array_equal(
            first["series_id"].to_numpy(), second["series_id"].to_numpy()):
        raise ValueError(f"the evaluation must hold forecasts of both {models[0]!r} and "
                         f"{models[1]!r} for the same points.")
    horizon = first.groupby("series_id").size()
    series = {str(k): g["y"].to_numpy(float) for k, g in data.groupby("unique_id", sort=False)}
    train = {k: series[k][:-int(horizon[k])] for k in horizon.index}
    test = {k: g["actual"].to_numpy(float) for k, g in first.groupby("series_id")}
    a = {k: g["forecast"].to_numpy(float) for k, g in first.groupby("series_id")}
    b = {k: g["forecast"].to_numpy(float) for k, g in second.groupby("series_id")}
    rows = []
    for w in weights:
        mixed = {k: (1 - w) * a[k] + w * b[k] for k in a}
        smape, mase = scores(train, test, mixed, season)
        rows.append((float(w), smape, mase))
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.combination",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("data")
    parser.add_argument("evaluation")
    parser.add_argument("season", type=int)
    parser.add_argument("--models", nargs=2, default=["rnn", "theta"])
    parser.add_argument("--weights", nargs="+", type=float,
                        default=[0, 0.1, 0.2, 0.3, 0.4, 0.5, 1])
    args = parser.parse_args(argv)
    data = pd.read_csv(args.data, dtype={"unique_id": str})
    backtest = pd.read_csv(f"{args.evaluation}/backtest.csv", dtype={"series_id": str})
    rows = combination_table(data, backtest, args.season, args.models, args.weights)
    print(f"| (1 − w) · {args.models[0]} + w · {args.models[1]} | sMAPE % | MASE |")
    print("| --- | ---: | ---: |")
    for w, smape, mase in rows:
        print(f"| w {w:g} | {smape:.2f} | {mase:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
