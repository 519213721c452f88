"""The M-competition scores every benchmark reports, with numpy only (the reference
scripts run in the peers' interpreter, which has neither the product nor its pandas)."""

from __future__ import annotations

import numpy as np


def scores(train: dict, test: dict, forecasts: dict, season: int) -> tuple[float, float]:
    """Mean over series of sMAPE (%) ``200 |y - f| / (|y| + |f|)`` and MASE
    ``mean |y - f| / mean |x_t - x_{t-m}|`` (in-sample seasonal-naive scale, ``m = 1``
    when the training part is no longer than a season) — as ``forecast evaluate``
    computes them.  Each argument maps a series id to its values."""
    smape, mase = [], []
    for uid, y in test.items():
        f, x = np.asarray(forecasts[uid], float), np.asarray(train[uid], float)
        y = np.asarray(y, float)
        smape.append(np.mean(200 * np.abs(y - f) / (np.abs(y) + np.abs(f))))
        lag = season if len(x) > season else 1
        mase.append(np.mean(np.abs(y - f)) / np.mean(np.abs(x[lag:] - x[:-lag])))
    return float(np.mean(smape)), float(np.mean(mase))
