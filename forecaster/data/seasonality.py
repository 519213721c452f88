"""The seasonal period of data whose timestamps do not give one (integer steps, or a
frequency without a conventional period): found in the pooled autocorrelation of the
differenced series.

Competition files and many exports number their steps 1, 2, 3 …; without a season the
model has no seasonal window, anchor or seasonal naive.  :func:`detect_season` looks for
the lag ``m`` at which the series' first differences (of the logs when every value is
positive, so a growing amplitude does not hide the pattern) correlate most, pooling every
series' autocovariances so that a panel votes as one:

* candidates are the lags 2 … ``bound``, the bound set by the series lengths (three whole
  seasons in the median series, at most ``MAX_PERIOD``);
* a candidate must be a local peak of the pooled autocorrelation that rises from a
  negative trough and comes back at twice its lag at least half as high (the high
  short-lag correlations of a smooth series, against the dip that differencing noise
  makes at lag 1, are no cycle), and pass a one-sided 90 % test with Bartlett's variance ``(1 + 2 Σ_{k<m} r_k²) / n``,
  made stricter for the number of candidates tried (Bonferroni) so that noise does not
  find a season by chance, ``n`` being the effective number of points pooled;
* of the peaks that pass, the strongest wins — or the smallest of its divisors that is a
  passing peak and, at each of its multiples up to the strongest, at least 0.8 as strong
  (hourly data with a daily and a weekly pattern: 24, not 168; a multiple of the period
  that happens to score higher: the period; up to one step per repetition, as a year of
  weeks, 52.18, makes 104 score above 52 or 53; a dozen repetitions at most).

White noise and random walks (their differences are noise) have no passing peak: None.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

MAX_PERIOD = 400      # longest period considered (e.g. weekly data: a year is 52)
MAX_SERIES = 2000     # series pooled (evenly spaced over a bigger panel)
MAX_POINTS = 20_000   # most recent points of each series used


def season_bound(lengths, min_seasons: int = 3) -> int:
    """The longest candidate period: ``min_seasons`` whole seasons in the median series."""
    if len(lengths) == 0:
        return 0
    return int(min(MAX_PERIOD, float(np.median(lengths)) // min_seasons))


def pooled_autocorrelation(series, max_lag: int) -> tuple[np.ndarray, int]:
    """``(r, n)``: the autocorrelation at lags 0 … ``max_lag`` of the series' first
    differences (of logs when every value of a series is positive), each series demeaned
    and scaled, autocovariances summed over the series before dividing; ``n`` is the
    effective number of points behind ``r`` (``1 / Σ (w_i / W)² / n_i`` for series of
    ``n_i`` differences weighing ``w_i`` in the pooled sum: ``n_i`` for one series)."""
    num = np.zeros(max_lag + 1)
    den, counts, weights = 0.0, [], []
    for v in _sample(series):
        v = np.asarray(v, dtype=np.float64)[-MAX_POINTS:]
        if len(v) < 3 or not np.all(np.isfinite(v)):
            continue
        d = np.diff(np.log(v) if np.all(v > 0) else v)
        d = d - d.mean()
        spread = float(np.max(np.abs(d))) if len(d) else 0.0
        if spread <= 0 or not math.isfinite(spread):
            continue
        d = d / spread   # scale-free: a series of huge values weighs as much as any
        size = 1 << int(2 * len(d) - 1).bit_length()
        f = np.fft.rfft(d, size)
        acov = np.fft.irfft(f * np.conj(f), size)[:max_lag + 1]
        k = min(len(d), max_lag + 1)
        num[:k] += acov[:k]
        weights.append(float(np.sum(d * d)))
        den += weights[-1]
        counts.append(len(d))
    if den <= 0:
        return np.zeros(max_lag + 1), 0
    share = np.asarray(weights) / den
    return num / den, int(1.0 / float(np.sum(share ** 2 / np.asarray(counts))))


def detect_season(series, *, bound: int | None = None, level: float = 0.90) -> int | None:
    """The seasonal period of ``series`` (a list of 1-D arrays), or None when there is none
    (see the module docstring)."""
    lengths = [len(v) for v in series]
    bound = season_bound(lengths) if bound is None else int(bound)
    if bound < 2:
        return None
    r, n = pooled_autocorrelation(series, 2 * bound + 2)
    if n < 2 * bound or float(np.median(lengths)) < 2 * bound:
        return None
    candidates = range(2, bound + 1)
    # the one-sided 90 % test of is_seasonal, Bonferroni-corrected for the candidates
    z = NormalDist().inv_cdf(1 - (1 - level) / len(candidates))
    passing = []
    for m in candidates:
        # a peak, rising from a trough below half its height (a smooth series' slowly
        # decaying correlations are no cycle), significant by Bartlett's variance
        if not (r[m] > 0 and r[m] >= r[m - 1] and r[m] >= r[m + 1]
                and float(np.min(r[1:m])) < 0
                and float(np.max(r[2 * m - (m >= 12):2 * m + 1 + (m >= 12)])) >= 0.5 * r[m]):
            continue
        if r[m] > z * math.sqrt((1 + 2 * float(np.sum(r[1:m] ** 2))) / n):
            passing.append(m)
    if not passing:
        return None
    best = max(passing, key=lambda m: r[m])
    for d in passing:  # ascending: the smallest divisor that repeats as strongly
        k = round(best / d)
        # within a step per repetition (a year of weeks is 52.18), a dozen at most, and
        # strong at every multiple (a smooth series' high short lags repeat no pattern)
        if d < best and 2 <= k <= 12 and abs(best - k * d) <= k and all(
                float(np.max(r[j * d - 1:j * d + 2])) >= 0.8 * r[best] for j in range(1, k)):
            return d
    return best


def _sample(series):
    series = list(series)
    if len(series) <= MAX_SERIES:
        return series
    keep = np.linspace(0, len(series) - 1, MAX_SERIES).round().astype(int)
    return [series[i] for i in keep]
