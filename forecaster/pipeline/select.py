"""``forecast train --select best``: deploy the backtest's winner, whatever its kind.

The training backtest scores the RNN and the baselines on the same rolling origins;
:func:`choose` reads its leaderboard (sorted by mean MASE, then sMAPE) and names the best
of the deployable models — the RNN and every baseline, not the RNN without covariates
(a diagnostic, not a model the run keeps) — with the reason a user reads in the train
summary, ``run.json`` and the report.  :func:`deploy_baseline` fits a winning baseline on
all the data, as the final RNN is fitted, with split-conformal intervals calibrated on
its own backtest residuals.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from forecaster.data.panel import Panel
from forecaster.models.baseline_state import DeployedBaseline
from forecaster.models.registry import make_baseline

__all__ = ["Selection", "choose", "deploy_baseline"]


@dataclass(frozen=True)
class Selection:
    """Which model a run deploys and why (``run.json`` ``deployed``)."""

    model: str
    reason: str
    metric: str = "mase"
    score: float | None = None
    rnn_score: float | None = None

    def to_json(self) -> dict:
        return {"model": self.model, "reason": self.reason, "metric": self.metric,
                "score": self.score, "rnn_score": self.rnn_score}


def _score(row, metric: str) -> float | None:
    value = row.get(metric)
    return float(value) if value is not None and math.isfinite(float(value)) else None


def choose(evaluation, candidates) -> Selection:
    """The best of ``candidates`` on ``evaluation``'s leaderboard (its order: mean MASE,
    then sMAPE), with a one-line reason naming the margin over the RNN."""
    rows = [r for r in evaluation.table.to_dict("records") if r["model"] in candidates]
    if not rows:  # cannot happen with the training backtest: the RNN is always in it
        return Selection("rnn", "no other model was backtested")
    metric = "mase" if any(_score(r, "mase") is not None for r in rows) else "smape"
    best = rows[0]
    score = _score(best, metric)
    rnn = next((r for r in rows if r["model"] == "rnn"), None)
    rnn_score = None if rnn is None else _score(rnn, metric)
    name = metric.upper() if metric == "mase" else "sMAPE"
    reason = f"lowest backtest {name} of {len(rows)} models: {_fmt(score)}"
    if best["model"] != "rnn":
        reason += f" vs the RNN's {_fmt(rnn_score)}" if rnn is not None else ""
    elif len(rows) > 1:
        reason += f" (next: {rows[1]['model']} {_fmt(_score(rows[1], metric))})"
    return Selection(best["model"], reason, metric, score, rnn_score)


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def deploy_baseline(name: str, panel: Panel, evaluation, *, season, seed: int, levels,
                    scales: dict) -> DeployedBaseline:
    """Baseline ``name`` fitted on all of ``panel`` as the backtest fitted it (same season
    and seed), with intervals calibrated on its backtest residuals (``scales``: each
    series' interval scale, as the RNN's intervals use)."""
    from forecaster.evaluation.intervals import ConformalIntervals

    model = make_baseline(name, season=season, seed=seed).fit(panel)
    bands = ConformalIntervals(levels).fit(evaluation.backtest.for_model(name), scales)
    return DeployedBaseline(model, bands.to_json(), bands.residuals_json())
