"""Permutation importance of the covariates on the backtest.

For a network fitted once before the first origin of a rolling-origin backtest (the
train-time backtest's RNN), each covariate's values are shuffled across series and time
(one seeded permutation per origin; a calendar cycle's sin and cos together, a categorical
static column's one-hot channels together) and the backtest's forecasts are made again:
the increase of the mean MASE is how much the forecasts lean on that covariate.  A
covariate that only adds noise scores about zero (or below: shuffling it by chance helped);
nothing is refitted, so the figure says what *this* model uses, not what the data hold.
"""

from __future__ import annotations

import numpy as np

from forecaster.evaluation.leaderboard import series_scales


def permutation_importance(model, panel, spec, season, *, seed: int = 0) -> dict:
    """``{"baseline_mase", "origins", "importance": [{"covariate", "role", "mase",
    "increase"}, …]}`` (most important first) for ``model`` (a fitted
    :class:`~forecaster.models.neural.RNNForecaster` with covariates) on the folds of
    ``spec`` over ``panel``; MASE is scaled per series by its in-sample seasonal-naive MAE."""
    from forecaster.data.features import CovariateContext

    encoder, H = model.encoder_, spec.horizon
    scales = series_scales(panel, season)
    folds = []
    for _, drop, context in spec.folds_of(panel):
        truth = np.stack([v[len(v) - drop:len(v) - drop + H] for v in panel.values])
        base = CovariateContext.of(encoder, context, window=model.shape_.window,
                                   horizon=model.shape_.horizon, steps=H)
        folds.append((context, truth, base))
    scale = np.array([scales[sid] for sid in panel.ids])[:, None]

    def mase(permute=None) -> float:
        errors = []
        for k, (context, truth, base) in enumerate(folds):
            cov = base if permute is None else base.permuted(
                permute, np.random.default_rng([seed, k, *permute]))
            forecast = model._predict(context, H, covariates=cov)
            errors.append(np.abs(forecast - truth) / scale)
        return float(np.mean(errors))

    baseline = mase()
    rows = []
    for name, role, channels in encoder.groups():
        score = mase(channels)
        rows.append({"covariate": name, "role": role, "mase": score,
                     "increase": score - baseline})
    rows.sort(key=lambda r: -r["increase"])
    return {"baseline_mase": baseline, "origins": len(folds), "horizon": H,
            "importance": rows}
