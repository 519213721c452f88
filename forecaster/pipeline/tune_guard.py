"""The incumbent guard of ``forecast tune``: the search recommends another configuration
than the defaults only when it beats them on the folds by more than the folds' own noise.

Trial 0 of a new study is the configuration the search starts from (the defaults with
``--config`` and the flags).  Each trial records its score per series and fold
(:data:`SCORES`, a user attribute: one list per fold, oldest first, of the scores of the
series scored in it, in the panel's order; None where the metric is undefined).  The best
trial replaces the defaults only when

* it is better per series: a one-sided Wilcoxon signed-rank test of the pairs (defaults,
  best) gives ``p <`` :data:`ALPHA`; the pairs are the series' weighted scores when the
  panel has at least :data:`SERIES_PAIRS` series, else each (fold, series) cell (one
  series: its folds); and
* it is better by a margin: its weighted score is at least :data:`MARGIN` (relative)
  below the defaults'.

The weighting: fold ``k`` of ``K`` (oldest first) weighs ``k`` — the latest origin, the
one most like a user's next forecast, weighs most — and a series scored in the later folds
only is weighted over those.  Otherwise the defaults stand and the verdict says why.

The scores are read back from a study file, which may come from anywhere: a table of the
wrong shape or holding anything but finite, non-negative numbers counts as missing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

SCORES = "series_scores"  # the trial's user attribute: per fold, per series scores
INCUMBENT = "incumbent"  # the user attribute marking trial 0 (the defaults)
ALPHA = 0.05  # the one-sided significance of the signed-rank test
MARGIN = 0.01  # the least relative gain of the weighted score
SERIES_PAIRS = 6  # panels with fewer series pair (fold, series) cells instead


@dataclass(frozen=True)
class Verdict:
    """Whether the best trial replaces the defaults (``recommended``) and why."""

    recommended: bool
    best: int | None  # trial numbers
    incumbent: int | None
    reason: str
    gain: float | None = None  # relative gain of the weighted score (0.05: 5 % better)
    p: float | None = None
    pairs: int = 0

    @property
    def chosen(self) -> int | None:
        """The trial whose configuration is recommended."""
        return self.best if self.recommended else self.incumbent


def fold_weights(folds: int) -> np.ndarray:
    """Fold ``k`` (1 … ``folds``, oldest first) weighs ``k``: the later origin, the more
    like a user's next forecast."""
    return np.arange(1, folds + 1, dtype=np.float64)


def read_scores(value, members: list[tuple]) -> list[list] | None:
    """``value`` (a trial's :data:`SCORES`) when it fits ``members`` (the ids scored in each
    fold): one list per fold of as many entries, each a finite number >= 0 or None."""
    if not isinstance(value, list) or len(value) != len(members):
        return None
    for fold, ids in zip(value, members):
        if not isinstance(fold, list) or len(fold) != len(ids) or not all(
                v is None or isinstance(v, (int, float)) and not isinstance(v, bool)
                and math.isfinite(v) and v >= 0 for v in fold):
            return None
    return [[None if v is None else float(v) for v in fold] for fold in value]


def weighted_series(scores: list[list], members: list[tuple]) -> dict:
    """``{series id: its weighted score}`` over the folds it was scored in (see the module
    doc); a series with no defined score is left out."""
    weights = fold_weights(len(members))
    cells: dict = {}
    for w, fold, ids in zip(weights, scores, members):
        for sid, v in zip(ids, fold):
            if v is not None:
                cells.setdefault(sid, []).append((w, v))
    return {sid: sum(w * v for w, v in pairs) / sum(w for w, _ in pairs)
            for sid, pairs in cells.items()}


def _pairs(defaults: list[list], best: list[list], members: list[tuple]):
    """``(defaults' values, best's values, unit)`` of the test's pairs (module doc)."""
    if len({sid for ids in members for sid in ids}) >= SERIES_PAIRS:
        a, b = weighted_series(defaults, members), weighted_series(best, members)
        both = [sid for sid in a if sid in b]
        return [a[s] for s in both], [b[s] for s in both], "series"
    cells = [(x, y) for fa, fb in zip(defaults, best) for x, y in zip(fa, fb)
             if x is not None and y is not None]
    return [x for x, _ in cells], [y for _, y in cells], "fold × series cells"


def signed_rank_p(differences) -> float:
    """One-sided Wilcoxon signed-rank p-value that ``differences`` (defaults − best) lie
    above 0; 1 when every difference is 0 or there are none."""
    from scipy.stats import wilcoxon

    d = np.asarray(differences, dtype=np.float64)
    if not np.any(d != 0):
        return 1.0
    return float(wilcoxon(d, alternative="greater", zero_method="wilcox").pvalue)


def judge(defaults: list[list], best: list[list], members: list[tuple], *, best_trial: int,
          incumbent: int, alpha: float = ALPHA, margin: float = MARGIN) -> Verdict:
    """The verdict on ``best`` (a trial's score table, :func:`read_scores`) against the
    defaults' table: recommended only when significantly and sufficiently better."""
    a, b, unit = _pairs(defaults, best, members)
    stand = dict(recommended=False, best=best_trial, incumbent=incumbent)
    if not a:
        return Verdict(**stand, reason="the defaults stand: no series was scored by both "
                                       f"trial {best_trial} and trial {incumbent}")
    base = float(np.mean(list(weighted_series(defaults, members).values())))
    score = float(np.mean(list(weighted_series(best, members).values())))
    gain = 1.0 - score / base if base > 0 else 0.0
    p = signed_rank_p(np.subtract(a, b))
    told = dict(gain=gain, p=p, pairs=len(a))
    over = f"p = {p:.2g} over {len(a)} {unit}"
    if p < alpha and gain >= margin:
        return Verdict(recommended=True, best=best_trial, incumbent=incumbent, **told,
                       reason=f"trial {best_trial} replaces the defaults (trial "
                              f"{incumbent}): {100 * gain:.1f} % better on the folds "
                              f"({over})")
    why = (f"within their noise ({over}; needs p < {alpha:g})" if p >= alpha else
           f"below the {100 * margin:g} % margin ({over})")
    return Verdict(**stand, **told,
                   reason=f"the defaults stand: the best trial ({best_trial}) was "
                          f"{100 * gain:.1f} % better on the folds, {why}")


def decide(rows: list[dict], members: list[tuple]) -> Verdict | None:
    """The verdict on a study's ``rows`` (best first, as :class:`TuneResult` holds them:
    ``number, state, scores, incumbent``); None when no trial completed."""
    done = [r for r in rows if r["state"] == "COMPLETE"]
    if not done:
        return None
    best = done[0]
    incumbent = next((r for r in rows if r.get("incumbent")), None)
    if incumbent is None:
        return Verdict(recommended=True, best=best["number"], incumbent=None,
                       reason=f"trial {best['number']} is recommended unguarded: the "
                              "defaults lie outside the search space, so no trial scored "
                              "them")
    if incumbent["state"] != "COMPLETE":
        return Verdict(recommended=True, best=best["number"], incumbent=incumbent["number"],
                       reason=f"trial {best['number']} is recommended unguarded: the "
                              f"defaults (trial {incumbent['number']}) were "
                              f"{incumbent['state'].lower()}, not scored")
    if best["number"] == incumbent["number"]:
        return Verdict(recommended=False, best=best["number"], incumbent=best["number"],
                       reason=f"the defaults stand: they scored best (trial {best['number']})")
    a, b = (read_scores(r.get("scores"), members) for r in (incumbent, best))
    if a is None or b is None:
        return Verdict(recommended=False, best=best["number"],
                       incumbent=incumbent["number"],
                       reason="the defaults stand: the per-series scores of trial "
                              f"{incumbent['number'] if a is None else best['number']} are "
                              "missing or invalid, so the gain cannot be tested")
    return judge(a, b, members, best_trial=best["number"], incumbent=incumbent["number"])
