"""The budget of ``forecast tune``: ``--timeout`` bounds the whole search, the running
trial included, and each trial's cost is estimated before it starts.

* :class:`Deadline`: the end of the search on a clock (``time.monotonic`` unless another
  is given, as the tests do).  The running trial checks it before each fold and, through
  :func:`~forecaster.training.fit_common.stopping_when`, between the training steps of its
  networks; past it, :class:`DeadlinePassed` stops the trial, which is recorded pruned.
* :func:`trial_work`: what a trial's training costs, in arbitrary units, from its settings
  — members × epochs × training windows an epoch (all folds) × window length × layers ×
  the cell's gates (an LSTM has 4, a GRU 3) — and :class:`CostModel`, the seconds a unit
  took in the study's completed trials, which turns it into seconds.  A trial whose
  estimate exceeds the time left is pruned before it starts.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

#: the attributes a trial records for the cost model (its work and its seconds)
WORK, SECONDS = "work", "seconds"
GATES = {"lstm": 4, "gru": 3}  # other cells: 1


class DeadlinePassed(Exception):
    """The search's time is up: the running trial stops (it is recorded pruned)."""


@dataclass
class Deadline:
    """``seconds`` from now on ``clock`` (None: no deadline)."""

    seconds: float | None
    clock: Callable[[], float] = time.monotonic
    end: float = field(init=False)

    def __post_init__(self):
        self.end = math.inf if self.seconds is None else self.clock() + self.seconds

    def left(self) -> float:
        return self.end - self.clock()

    def passed(self) -> bool:
        return self.left() <= 0

    def check(self) -> None:
        """Raise :class:`DeadlinePassed` once the deadline has passed."""
        if self.passed():
            raise DeadlinePassed(f"the --timeout of {self.seconds:g} s was reached")


def trial_work(settings: dict, cfg, *, lengths, horizon: int, window: int) -> float:
    """The training cost of ``settings`` (over ``cfg``) on series of ``lengths`` (one list
    per fold: the training lengths of the series it scores), in units of one window-step
    of one cell; ``window`` is the default one (what an automatic window resolves to)."""
    def value(key):
        from forecaster.config import SETTINGS

        return settings.get(key, getattr(getattr(cfg, SETTINGS[key]), key))

    width = int(value("window") or window)
    cap = int(cfg.training.max_windows or 0)
    per_epoch = 0
    for fold in lengths:
        windows = sum(max(1, n - width - horizon + 1) for n in fold)
        per_epoch += min(windows, cap) if cap else windows
    return float(value("ensemble") * cfg.training.epochs * per_epoch * width * value("layers")
                 * GATES.get(value("kind"), 1))


@dataclass
class CostModel:
    """Seconds per unit of :func:`trial_work`, from the trials that completed so far."""

    work: float = 0.0
    seconds: float = 0.0

    def record(self, work, seconds) -> None:
        """Add a completed trial (values read from a study are checked: a bad pair is
        ignored)."""
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
               and v > 0 for v in (work, seconds)):
            self.work += float(work)
            self.seconds += float(seconds)

    def estimate(self, work: float) -> float | None:
        """Seconds ``work`` should take; None before any trial completed."""
        return work * self.seconds / self.work if self.work else None
