"""The RNN's window, horizon and lookbacks, planned from the data before any fit.

:func:`resolve_shape` picks the input window and the direct horizon from the seasonality
within what the longest series allows (:class:`Shape`, with each ensemble member's
lookback); :func:`level_span` and :func:`default_min_context` say how a window is
anchored and how much real history a left-padded window must hold.  Shared by the RNN's
fit (:mod:`forecaster.models.neural`) and the pipelines that plan a backtest's folds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from forecaster.data import windowing as W
from forecaster.data.panel import Panel
from forecaster.errors import DataError

MIN_TRAIN_WINDOWS = 4  # fewer training windows per series than this is no model at all


@dataclass(frozen=True)
class Shape:
    """``window``: the model's input steps, the longest lookback of an ensemble's members;
    ``shortest``: the shortest (0 = ``window``, stored as such); ``horizon``: the direct
    output steps."""

    window: int
    horizon: int
    shortest: int = 0

    def __post_init__(self):
        if not self.shortest:
            object.__setattr__(self, "shortest", self.window)

    def lookbacks(self, members: int) -> list[int]:
        """Each member's lookback, longest first (member 0 reads the whole window), spread
        evenly down to ``shortest``: ``window=48, shortest=24`` and 5 members give
        48, 42, 36, 30, 24.  One network reads the whole window."""
        if members == 1:
            return [self.window]
        return [int(round(self.window - (self.window - self.shortest) * j / (members - 1)))
                for j in range(members)]


def resolve_shape(panel: Panel, *, window: int, horizon: int, validation: float,
                  season: int | None, max_lookback: int | None = None,
                  seasonal: bool = True) -> Shape:
    """Pick window and horizon (0 = automatic) from the seasonality, within the data.

    ``max_lookback`` widens the input for ensemble members that read from ``window`` up to
    that many steps (:meth:`Shape.lookbacks`), as far as the longest series allows:
    ``None`` = no widening, 0 = automatic: four seasons when the data are ``seasonal``
    (:func:`default_max_lookback`).
    ``window`` is then the shortest lookback.

    The *longest* series must give ``MIN_TRAIN_WINDOWS`` full training windows besides its
    validation tail (``window + horizon + validation + MIN_TRAIN_WINDOWS - 1`` points);
    automatic values shrink to fit it, explicit values that do not fit are an error naming
    every size involved.  Shorter series of a panel train on left-padded windows and are
    forecast from padded contexts (:func:`~forecaster.data.windowing.pad_left`), so one
    short series no longer shrinks the window of all the others.
    """
    lengths = panel.lengths
    longest = int(np.argmax(lengths))
    n = int(lengths[longest])
    sid = panel.ids[longest]
    H = horizon or min(W.default_horizon(season), max(1, n // 4))
    n_val = W.validation_length(n, H, validation)
    # the largest window that still leaves MIN_TRAIN_WINDOWS training windows
    room = n - n_val - H - (MIN_TRAIN_WINDOWS - 1)
    T = window or min(W.default_window(season, H), room)
    if T < 2 or T > room:
        T = window or 2
        need = T + H + n_val + MIN_TRAIN_WINDOWS - 1
        which = "series" if len(lengths) == 1 else "longest series"
        raise DataError(
            f"{which} {sid!r} is too short: it has {n} points but window {T} + horizon {H} "
            f"+ validation tail {n_val} + {MIN_TRAIN_WINDOWS - 1} more training windows "
            f"need {need}. Use a shorter --window or --horizon, or more data.")
    longest = T if max_lookback is None else (
        max_lookback or default_max_lookback(season, T, seasonal))
    longest = max(T, min(longest, room))
    return Shape(window=int(longest), horizon=int(H), shortest=int(T))


def level_span(relative, season: int | None, window: int) -> int:
    """Input points whose mean is a window's level (subtracted from input and target):
    ``True`` = the last season (the last value when there is no season), an integer ``k``
    = the last ``k``, ``False``/0 = none.  A seasonal mean is a steadier level than the
    last value, whose position in the season would otherwise colour every target."""
    if relative is True:
        k = season if season and season > 1 else 1
    else:
        k = int(relative)
    return max(0, min(k, window))


def default_max_lookback(season: int | None, window: int, seasonal: bool = True) -> int:
    """Four seasons (at least ``window``) when the data are ``seasonal``; ``window``
    otherwise.  Members reading two to four seasons of a seasonal panel (monthly: 24 to 48
    steps) see more of its pattern and disagree usefully: on M1 monthly (63 % of series
    seasonal by :func:`~forecaster.data.windowing.is_seasonal`) 10 networks spread so
    scored MASE 1.042 against 1.057 all reading 24.  Where the series are mostly trend and
    noise the longer spans only add stale history: the seasonally adjusted
    ``us_employment`` panel (no series seasonal) went from 0.368 to 0.420, M1 quarterly
    (47 %) from 1.647 to 1.684 reading up to 28 quarters."""
    return max(window, 4 * season) if seasonal and season and season > 1 else window


def default_min_context(window: int, season: int | None) -> int:
    """Fewest real points a (left-padded) window must hold: one season, at most the window."""
    return min(window, max(2, season or 0, window // 4))
