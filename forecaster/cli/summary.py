"""The lines of `forecast train`'s summary, from its :class:`~forecaster.pipeline.train.TrainResult`
(kept out of :mod:`forecaster.cli`, which prints them)."""

from __future__ import annotations

from forecaster.models.registry import NAMES, TRAIN_BACKTEST
from forecaster.pipeline.inputs import describe_season


def window_text(r) -> str:
    """``48`` or, for an ensemble whose members read different spans, ``48 (lookbacks
    48 … 24 over 10 networks)``."""
    spans = sorted(set(r.lookbacks or ()))
    if len(spans) < 2:
        return str(r.window)
    return f"{r.window} (lookbacks {spans[-1]} … {spans[0]} over {len(r.lookbacks)} networks)"


def baselines_text() -> str:
    """The baselines ``forecast train`` backtests, and why the others are not among them
    (``forecast evaluate`` compares every model): ``7 (random_forest and knn are left to
    forecast evaluate: slow to fit at every origin)``."""
    left = [name for name in NAMES if name not in TRAIN_BACKTEST]
    if not left:
        return f"{len(TRAIN_BACKTEST)} (every model forecast evaluate compares)"
    names = " and ".join([", ".join(left[:-1]), left[-1]] if len(left) > 1 else left)
    return (f"{len(TRAIN_BACKTEST)} ({names} {'are' if len(left) > 1 else 'is'} left to "
            "forecast evaluate: slow to fit at every origin)")


def train_summary(r) -> list[tuple[str, str]]:
    """``(label, value)`` rows: the data, the model, the training, the backtest's verdict
    and where the run is."""
    from forecaster.reports.html import fmt_seconds

    info = r.panel.describe()
    lines = [
        ("rows", f"{info['rows']:,}"), ("series", f"{info['series']:,}"),
        ("frequency", info["frequency"]), ("time range", f"{info['start']} … {info['end']}"),
        ("target", info["target"]),
        *([("covariates", "; ".join(r.panel.covariates.spec.describe()))]
          if r.panel.covariates is not None else []),
        ("season", describe_season(r.season, r.season_origin)),
        *([("scale", r.scaling)] if r.scaling else []),
        ("window", window_text(r)), ("horizon", r.horizon),
        ("model", r.model), ("device", r.device), ("backend", r.backend),
        *([("distribute", f"{r.distribute} ({r.replicas} replica(s))")]
          if r.distribute != "none" else []),
        ("epochs run", f"{r.epochs_run} (best {r.best_epoch})"),
        ("validation loss", f"{r.val_loss:.4g} (scaled units)"),
        ("time", fmt_seconds(r.seconds)),  # run.json's total_seconds, as the report says
    ]
    if r.leaderboard is not None and len(r.leaderboard):
        table = r.leaderboard.set_index("model")
        rnn = table.loc["rnn"] if "rnn" in table.index else None
        snaive = table.loc["seasonal_naive"] if "seasonal_naive" in table.index else None
        if rnn is not None and snaive is not None and rnn["mase"] is not None \
                and snaive["mase"] is not None:
            verdict = "beats" if rnn["mase"] < snaive["mase"] else "does NOT beat"
            lines.append(("backtest MASE", f"RNN {rnn['mase']:.3f} vs seasonal naive "
                                           f"{snaive['mase']:.3f} — the RNN {verdict} "
                                           "seasonal naive"))
        lines.append(("baselines", baselines_text()))
        best = table.attrs.get("best")
        if best:
            lines.append(("best in backtest", best))
    if r.deployed_reason:
        lines.append(("deployed", f"{r.deployed} — {r.deployed_reason}"))
    lines.append(("run", str(r.run_dir)))
    return lines
