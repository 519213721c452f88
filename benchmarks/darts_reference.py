"""Reference row for :mod:`benchmarks.speed`: Darts' global Elman RNN on the same panel.

    python -m benchmarks.darts_reference CSV H SEASON WINDOW [--epochs 30]   # prints JSON

Run in an interpreter that has Darts (``.venv-bench``; ``make bench`` installs it with the
CPU build of PyTorch); it imports nothing from the product.  Darts' ``RNNModel`` with
``model="RNN"`` (``torch.nn.RNN``, tanh), ``hidden_dim=64``, ``input_chunk_length=WINDOW``
(the product's shortest lookback; Darts cannot forecast a series shorter than its input
chunk, where the product pads), ``training_length = min(WINDOW + H, shortest training
part - 1)`` (so that every series gives a training sample) is trained for ``--epochs``
epochs on every series but its last ``H`` points (each scaled to [0, 1] on its training
part by Darts' ``Scaler``, as Darts' examples do) and forecasts those ``H`` points, which
are scored with the same sMAPE (%) and MASE (in-sample seasonal-naive scale) as
``forecast evaluate``.  Wall and CPU seconds cover scaling, fit and predict; the peak RSS
is this process's.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time

import numpy as np
import pandas as pd

from benchmarks.scoring import scores


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.darts_reference")
    p.add_argument("csv")
    p.add_argument("horizon", type=int)
    p.add_argument("season", type=int)
    p.add_argument("window", type=int)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--seed", type=int, default=42)
    args = p.parse_args(argv)

    import torch
    from darts import TimeSeries
    from darts.dataprocessing.transformers import Scaler
    from darts.models import RNNModel

    torch.set_num_threads(max(1, torch.get_num_threads()))
    df = pd.read_csv(args.csv)
    H = args.horizon
    ids, train, test = [], {}, {}
    for uid, g in df.groupby("unique_id", sort=False):
        y = g["y"].to_numpy(float)
        ids.append(uid)
        train[uid], test[uid] = y[:-H], y[-H:]
    started, cpu = time.perf_counter(), time.process_time()
    series = [TimeSeries.from_values(train[u].astype(np.float32)) for u in ids]
    scaler = Scaler()
    scaled = scaler.fit_transform(series)
    shortest = min(len(v) for v in train.values())
    model = RNNModel(model="RNN", hidden_dim=64, input_chunk_length=args.window,
                     training_length=max(args.window + 1, min(args.window + H, shortest - 1)), n_epochs=args.epochs,
                     random_state=args.seed, batch_size=32,
                     pl_trainer_kwargs={"accelerator": "cpu", "enable_progress_bar": False,
                                        "enable_model_summary": False, "logger": False,
                                        "enable_checkpointing": False})
    model.fit(scaled, verbose=False)
    predicted = scaler.inverse_transform(model.predict(H, series=scaled, verbose=False))
    forecasts = {u: p.values()[:, 0].astype(float) for u, p in zip(ids, predicted)}
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    smape, mase = scores(train, test, forecasts, args.season)
    print(json.dumps([{
        "model": f"Darts RNNModel (RNN, hidden 64, window {args.window}, {args.epochs} epochs)",
        "smape": smape, "mase": mase, "seconds": seconds, "cpu_seconds": cpu,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}]))
    return 0


if __name__ == "__main__":
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    sys.exit(main())
