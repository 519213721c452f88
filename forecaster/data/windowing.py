"""Windows for supervised training: time-ordered splits, per-series scaling, lazy batches.

Pure numpy index arithmetic; TensorFlow is never imported here.

* :class:`SeriesScaler` — per-series centring and scaling fitted on the *training part
  only* (robust to huge magnitudes such as 1e300: statistics are computed on
  ``x / max|x|``).
* :func:`split_points` — how many points of each series are training, the rest being the
  time-ordered validation tail.  A training window (input + target) never touches the tail;
  a validation window's target lies entirely inside the tail (its input may look back into
  the training part, exactly as a real forecast does).
* :class:`WindowSet` — all series scaled and concatenated into one flat ``float32`` array
  plus the start offsets of every admissible window.  Nothing per window is materialised:
  :class:`WindowSampler` gathers a batch with one fancy-indexing call when it is asked for.
* ``level=k`` expresses a window relative to its level, the mean of its last ``k`` input
  values (``x - level``, ``y - level``; 1: the last value, 0: absolute windows), so a
  trending series does not leave the range the network was trained on; the forecaster adds
  it back.

Shapes: inputs ``(batch, window, 1)``, targets ``(batch, horizon)``, ``float32``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


# -- scaling ------------------------------------------------------------------------------
@dataclass(frozen=True)
class SeriesScaler:
    """Per-series ``(f(x) - mean) / scale``, ``f`` a Box-Cox power of ``lam`` per series.

    ``lam`` (λ) 1 is the identity (the standard scale), 0 the log, and in between the power
    ``x ** λ`` (Box-Cox's ``(x ** λ - 1) / λ`` up to the affine part the centring and
    scaling remove): :func:`box_cox`.  λ < 1 needs strictly positive data.

    ``scale`` is the std of ``f(x)`` — or, given a ``season`` ``m`` >= 1, the geometric mean
    of that std and the mean absolute ``m``-step change ``mean|f(x_t) - f(x_{t-m})|``
    (MASE's scale).  The std alone is dominated by a long series' trend: its relative
    windows, which see changes and not the level, then shrink to small numbers and the
    network fits them no better than noise (on M1 quarterly the early-stopped epoch was
    2-4).  The typical seasonal change alone overweights noisy series.  The geometric mean
    of the two: M1 quarterly MASE 1.724 -> 1.649 (three seeds), monthly 1.066 -> 1.063.
    A series shorter than ``m + 1`` points, or without change, keeps its std; a
    (numerically) constant series is scaled by its level, or 1 when that is 0 or below the
    smallest normal float (subnormal data).

    The log scale makes a window relative to its last value a window of *ratios*, so series
    of very different levels share one shape vocabulary (a global model's main need); a
    power between 0 and 1 sits between ratios and differences, for a spread that grows
    with the level, but less than in proportion (:func:`box_cox_lambda`).  ``lam`` is per
    series (an array; a single number given to the constructor or :meth:`fit` applies to
    all)."""

    mean: np.ndarray
    scale: np.ndarray
    lam: np.ndarray | float = 1.0

    def __post_init__(self):
        lams = np.broadcast_to(np.asarray(self.lam, dtype=np.float64), np.shape(self.mean))
        object.__setattr__(self, "lam", lams.copy())

    @classmethod
    def fit(cls, series: list[np.ndarray], lam=1.0, season: int = 0) -> "SeriesScaler":
        """Fit on ``series`` (the training parts).  ``season`` 0: the std; ``m`` >= 1: the
        geometric mean of the std and the mean absolute ``m``-step change.  ``lam``: one
        Box-Cox λ for all series or one per series (1: none, 0: log)."""
        m = int(season or 0)
        lams = np.broadcast_to(np.asarray(lam, dtype=np.float64), (len(series),))
        means, scales = [], []
        for v, power in zip(series, lams):
            v = box_cox(np.asarray(v, dtype=np.float64), float(power))
            big = float(np.max(np.abs(v))) if len(v) else 0.0
            big = big if big > 0 and np.isfinite(big) else 1.0
            u = v / big
            mu, sd = float(np.mean(u)), float(np.std(u))
            if m and len(u) > m and sd > 1e-12:
                change = float(np.mean(np.abs(u[m:] - u[:-m])))
                if change > 1e-12:
                    sd = math.sqrt(sd * change)
            means.append(mu * big)
            scale = sd * big if sd > 1e-12 else abs(mu * big)
            # below the smallest normal float (subnormal values such as 5e-324, whose
            # spread underflows to 0) the series is numerically zero: unit scale
            scales.append(scale if TINY <= scale < np.inf else 1.0)
        return cls(np.array(means, dtype=np.float64), np.array(scales, dtype=np.float64),
                   lams)

    def in_domain(self, i: int, values) -> bool:
        """Whether series ``i``'s scale can transform ``values``: always on the standard
        scale; on the log or a Box-Cox power below 1 only when every value is strictly
        positive."""
        return bool(self.lam[i] >= 1 or log_applicable([values]))

    def for_contexts(self, rows, contexts, window: int, season: int = 0
                     ) -> tuple["SeriesScaler", list[int]]:
        """``(scaler, fallen)``: a scaler with one row per context — row ``rows[i]`` of
        this one, or, where the last ``window`` points of ``contexts[i]`` (what a forecast
        transforms) leave that row's domain (:meth:`in_domain`: a zero on the log scale),
        the standard scale fitted on that whole context (``season`` as in :meth:`fit`) —
        and the positions ``i`` that fell back.  A series that touches zero after training
        is still forecast, by the same network, from its own context; deterministic, and
        no value after the context is used."""
        rows = [int(r) for r in rows]
        mean, scale, lam = self.mean[rows], self.scale[rows], self.lam[rows]
        fallen = []
        for i, (r, c) in enumerate(zip(rows, contexts)):
            c = np.asarray(c, dtype=np.float64)
            if not self.in_domain(r, c[-window:]):
                own = SeriesScaler.fit([c], lam=1.0, season=season)
                mean[i], scale[i], lam[i] = own.mean[0], own.scale[0], 1.0
                fallen.append(i)
        return SeriesScaler(mean, scale, lam), fallen

    def transform(self, i: int, values) -> np.ndarray:
        v = np.asarray(values, dtype=np.float64)
        if len(v) and not self.in_domain(i, v):
            from forecaster.errors import DataError

            raise DataError(
                f"the model works on {scale_name(self.lam[i])} (its training data were all "
                "positive) but this context has zero or negative values; retrain with "
                "--scaling standard.")
        return (box_cox(v, float(self.lam[i])) - self.mean[i]) / self.scale[i]

    def inverse(self, i: int, values) -> np.ndarray:
        """Back to the original units; a value beyond the float64 range becomes ``inf``
        (never clipped to the largest float: callers refuse non-finite forecasts)."""
        with np.errstate(over="ignore", invalid="ignore"):
            v = np.asarray(values, dtype=np.float64) * self.scale[i] + self.mean[i]
            return inverse_box_cox(v, float(self.lam[i]))


def box_cox(values: np.ndarray, lam: float) -> np.ndarray:
    """``log(x)`` for λ 0, ``x`` for λ 1, ``x ** λ`` in between (Box-Cox's transform up to
    the affine part, which a scaler's centring and scaling remove; the power itself keeps
    1e300 finite, where ``(x ** λ - 1) / λ`` would add nothing but rounding)."""
    if lam >= 1:
        return values
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(values) if lam <= 0 else np.power(values, lam)


def inverse_box_cox(values: np.ndarray, lam: float) -> np.ndarray:
    """The inverse of :func:`box_cox`; a power forecast below 0 (the transform of 0) is 0."""
    if lam >= 1:
        return values
    with np.errstate(over="ignore", invalid="ignore"):
        return np.exp(values) if lam <= 0 else np.power(np.maximum(values, 0.0), 1.0 / lam)


def scale_kind(lam: float) -> str:
    """``"log"`` (λ 0), ``"standard"`` (λ 1) or ``"box-cox"`` (a power between): how a
    run records and describes a series' scale."""
    return "log" if lam <= 0 else "standard" if lam >= 1 else "box-cox"


def lambda_of(entry, default: str | None = None) -> float | None:
    """The Box-Cox λ a series' entry in preprocessing.json describes, the inverse of how a
    run records it: ``{"scaling": "log"}`` 0, ``"standard"`` 1, ``{"scaling": "box-cox",
    "lambda": λ}`` λ strictly between 0 and 1.  ``default`` is the kind of an entry without
    ``scaling`` (runs written before per-series scales have the run's one).  None for a
    malformed entry (not a dict, an unknown kind, a missing, boolean or out-of-range λ), so
    that one reader serves both the loader, which refuses it, and the report, which only
    has nothing to show."""
    if not isinstance(entry, dict):
        return None
    kind = entry.get("scaling", default)
    if kind in ("log", "standard"):
        return 0.0 if kind == "log" else 1.0
    lam = entry.get("lambda")
    if kind != "box-cox" or isinstance(lam, bool) or not isinstance(lam, (int, float)) \
            or not 0 < lam < 1:
        return None
    return float(lam)


def scale_name(lam: float) -> str:
    """``the log scale``, ``the standard scale`` or ``a Box-Cox power of 0.35``."""
    kind = scale_kind(lam)
    return f"a Box-Cox power of {lam:g}" if kind == "box-cox" else f"the {kind} scale"


TINY = float(np.finfo(np.float64).tiny)  # the smallest normal float64


def log_applicable(series: list[np.ndarray]) -> bool:
    """Whether the log scale (or a Box-Cox power below 1) can serve every series: all
    values finite and strictly positive."""
    return all(len(v) and np.all(np.asarray(v, dtype=np.float64) > 0) for v in series)


def scale_step(season: int | None) -> int:
    """The ``season`` a run's scalers are fitted with (:meth:`SeriesScaler.fit`): the
    season's change, the one-step change without a season."""
    return int(season) if season and season > 1 else 1


def positive_domain(series) -> dict:
    """``{series id: whether the log scale (or a Box-Cox power) can serve it}`` for the
    ``(id, values)`` pairs of ``series`` (a panel): every value strictly positive.  A fact
    of the data's domain, decided from every value a run sees — a series that touches zero
    anywhere is not put on the log scale because its first part is positive — whereas the
    scale's learned parameters (λ, mean, spread) stay fitted on the training part."""
    return {sid: bool(log_applicable([v])) for sid, v in series}


def spread_slope(values, block: int) -> float | None:
    """How the spread of ``values`` grows with their level: the least-squares slope of
    ``log(std)`` on ``log(mean)`` over consecutive blocks of ``block`` points (aligned to
    the end; a season's worth, so seasonality is inside each block), as in Guerrero's
    (1993) choice of a Box-Cox transformation.  1: the spread is proportional to the level
    (log scale), 0: constant (standard scale).  ``None`` when it cannot be measured: fewer
    than 3 blocks, a value that is not strictly positive, a block without spread, or
    levels that do not differ."""
    v = np.asarray(values, dtype=np.float64)
    b = int(block)
    k = len(v) // b if b >= 2 else 0
    if k < 3 or not np.all(np.isfinite(v)) or not np.all(v > 0):
        return None
    blocks = v[len(v) - k * b:].reshape(k, b)
    big = float(np.max(blocks))  # statistics of v / max|v|: robust to 1e300
    mean, std = (blocks / big).mean(axis=1), (blocks / big).std(axis=1, ddof=1)
    # a block without spread: its std is 0 or rounding (1e-17 of its mean), whose log
    # would decide the slope
    if not np.all(mean > 0) or not np.all(std > 1e-9 * mean):
        return None
    x, y = np.log(mean), np.log(std)
    if float(np.ptp(x)) < 1e-9:
        return None
    x = x - x.mean()
    return float(np.dot(x, y - y.mean()) / np.dot(x, x))


def spread_block(season: int | None) -> int:
    """Points per block of :func:`spread_slope`: the season, at least 4."""
    return max(int(season or 0), 4)


def box_cox_lambda(values, block: int) -> float:
    """The Box-Cox λ of a strictly positive series, Guerrero-style: 1 minus its
    :func:`spread_slope`, within [0, 1] and to two decimals.  A spread proportional to the
    level gives the log (0), a constant one the standard scale (1), and in between a power
    that compresses a growing spread only as much as it grows.  Where the slope cannot be
    measured the log (M1's panels as a whole measured better on it than on the standard
    scale).  Chosen over a yes/no threshold on the same slope: M1 holdout MASE quarterly
    1.616 -> 1.606, monthly 1.050 -> 1.038 (means of three seeds; benchmarks/README.md)."""
    slope = spread_slope(values, block)
    if slope is None:
        return 0.0
    return round(1.0 - min(max(slope, 0.0), 1.0), 2)


# -- splits and windows -------------------------------------------------------------------
def validation_length(length: int, horizon: int, fraction: float) -> int:
    """Points in the validation tail of a series: at least one horizon."""
    return max(horizon, int(math.ceil(fraction * length)))


def split_points(lengths, horizon: int, fraction: float) -> np.ndarray:
    """Number of training points of each series (the rest is the validation tail)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    return np.array([max(int(n) - validation_length(int(n), horizon, fraction), 0) for n in lengths],
                    dtype=np.int64)


def window_starts(lengths, window: int, horizon: int, first_target=None, last_target=None,
                  min_context: int | None = None):
    """Start offsets (relative to each series) of every window whose target lies in
    ``[first_target, last_target)`` of that series (defaults: the whole series).

    Returns ``(series_index, start)`` int64 arrays.  A window at ``start`` reads
    ``[start, start + window)`` as input and ``[start + window, start + window + horizon)``
    as target.  With ``min_context < window`` a window may start before its series does
    (``start < 0``): its input then has at least ``min_context`` real points and is padded
    on the left (:func:`pad_left`, :meth:`WindowSet.build` with ``pad = window -
    min_context``), which lets short series of a panel train and be forecast.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    n = len(lengths)
    min_context = window if min_context is None else int(min_context)
    lo = np.zeros(n, np.int64) if first_target is None else np.asarray(first_target, np.int64)
    hi = lengths if last_target is None else np.asarray(last_target, np.int64)
    # target start t = start + window must satisfy max(lo, min_context) <= t, t + horizon <= hi
    first = np.maximum(lo, min_context) - window
    last = hi - horizon - window  # inclusive
    counts = np.maximum(last - first + 1, 0)
    series = np.repeat(np.arange(n, dtype=np.int64), counts)
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]) if n else np.zeros(0, np.int64)
    # start = index - offset of its series + first start of its series, with one temporary
    # (a 10M-window panel: 80 MB each)
    start = np.arange(counts.sum(), dtype=np.int64)
    start -= np.repeat(offsets - first, counts)
    return series, start


def pad_left(values, length: int) -> np.ndarray:
    """``values`` (scaled) extended on the left to ``length`` with copies of its first value:
    what a window sees before a short series begins (in training and in forecasting alike)."""
    v = np.asarray(values, dtype=np.float64)
    if len(v) >= length:
        return v
    return np.concatenate([np.full(length - len(v), v[0] if len(v) else 0.0), v])


def pad_rows(rows, length: int) -> np.ndarray:
    """:func:`pad_left` for a ``(n, k)`` matrix: copies of its first row."""
    m = np.asarray(rows, dtype=np.float64)
    if len(m) >= length:
        return m
    return np.concatenate([np.repeat(m[:1], length - len(m), axis=0), m])


@dataclass
class WindowSet:
    """Scaled series concatenated in ``flat`` (float32) with ``offsets`` per series, and the
    absolute positions ``positions`` of the windows it serves."""

    flat: np.ndarray
    offsets: np.ndarray
    positions: np.ndarray
    window: int
    horizon: int
    level: int  # the level span: the last ``level`` inputs' mean is subtracted (0: none)
    features: np.ndarray | None = None  # (len(flat), channels - 1) covariate channels
    layout: object = None  # their FeatureLayout (forecaster.data.covariates)

    @classmethod
    def build(cls, scaled: list[np.ndarray], series_idx, starts, window, horizon, level,
              pad: int = 0, features=None, layout=None):
        """``pad`` > 0 prefixes every series with that many copies of its first value so
        windows starting up to ``pad`` points before their series (``starts < 0``) exist.
        ``features`` (one ``(n_i, channels - 1)`` array per series, padded alike) are the
        covariate channels of ``layout``."""
        if pad:
            scaled = [pad_left(s, len(s) + pad) for s in scaled]
        lengths = np.array([len(s) for s in scaled], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        flat = np.concatenate(scaled).astype(np.float32) if scaled else np.zeros(0, np.float32)
        positions = offsets[np.asarray(series_idx, np.int64)]
        positions += np.asarray(starts, np.int64)
        positions += int(pad)
        flat_features = None
        if features is not None:
            flat_features = np.concatenate(
                [pad_rows(f, len(f) + pad) for f in features]).astype(np.float32)
        return cls(flat, offsets, positions, window, horizon, level, flat_features, layout)

    def __len__(self) -> int:
        return len(self.positions)

    def gather(self, positions: np.ndarray):
        """Inputs ``(n, window, 1)`` and targets ``(n, horizon)`` for the given positions.

        One copy per batch: rows of a strided sliding-window *view* of ``flat`` are picked
        by fancy indexing on the first axis (no index matrix), and the relative shift is
        applied in place."""
        T = self.window
        positions = np.asarray(positions, dtype=np.int64)
        if len(positions) == 0:
            return (np.zeros((0, T, 1), np.float32), np.zeros((0, self.horizon), np.float32))
        view = np.lib.stride_tricks.sliding_window_view(self.flat, T + self.horizon)
        block = view[positions]
        k = level_points(self.level, T)
        if k == 1:
            block -= block[:, T - 1:T]
        elif k:
            block -= block[:, T - k:T].mean(axis=1, keepdims=True)
        if self.features is None:
            return block[:, :T, None], block[:, T:]
        return self._with_features(block, positions), block[:, T:]

    def _with_features(self, block, positions):
        """The input rows of the covariate network: ``T`` history rows ``[target,
        covariates…]`` and, when the layout has them, ``horizon`` rows ahead holding only
        the known and static channels (target and past covariates zero: unknown then)."""
        T, H, lay = self.window, self.horizon, self.layout
        rows = T + H if lay.horizon_rows else T
        view = np.lib.stride_tricks.sliding_window_view(self.features, T + H, axis=0)
        x = np.zeros((len(positions), rows, lay.channels), dtype=np.float32)
        x[:, :T, 0] = block[:, :T]
        x[:, :, 1:] = np.swapaxes(view[positions][:, :, :rows], 1, 2)
        if lay.horizon_rows:
            x[:, T:, 1:lay.first_ahead] = 0.0
        return x

    def arrays(self):
        """All windows at once (only for small validation sets and tests)."""
        return self.gather(self.positions)


class WindowSampler:
    """Shuffled mini-batches of a :class:`WindowSet`, gathered lazily, reproducible per seed.

    ``max_windows`` > 0 draws a fresh random subset of that many windows each epoch (for
    very long series).  Has ``__len__``/``__getitem__``/``on_epoch_end`` so it can back a
    ``keras.utils.PyDataset``.
    """

    def __init__(self, windows: WindowSet, batch_size: int, *, shuffle=True, seed=0,
                 max_windows: int = 0):
        self.windows = windows
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.max_windows = int(max_windows)
        self.seed = seed
        self._rng = np.random.default_rng(seed)
        self._order = self._new_order()

    def _new_order(self) -> np.ndarray:
        n = len(self.windows)
        if self.max_windows and self.max_windows < n:
            order = self._rng.choice(n, self.max_windows, replace=False)
            return order if self.shuffle else np.sort(order)
        return self._rng.permutation(n) if self.shuffle else np.arange(n)

    def __len__(self) -> int:
        return math.ceil(len(self._order) / self.batch_size)

    def __getitem__(self, i: int):
        idx = self._order[i * self.batch_size:(i + 1) * self.batch_size]
        return self.windows.gather(self.windows.positions[idx])

    def blocks(self, start: int, stop: int):
        """Batches ``start … stop - 1`` gathered at once and stacked, ``(x (n, batch, window,
        1), y (n, batch, horizon))``; a short last batch of the epoch comes as a block of
        its own (``n = 1``), after the full ones."""
        B = self.batch_size
        order = self._order[start * B:stop * B]
        x, y = self.windows.gather(self.windows.positions[order])
        full = len(order) // B
        if full:
            yield (x[:full * B].reshape(full, B, *x.shape[1:]),
                   y[:full * B].reshape(full, B, *y.shape[1:]))
        if len(order) > full * B:
            yield x[full * B:][None], y[full * B:][None]

    def on_epoch_end(self) -> None:
        self._order = self._new_order()


def level_points(level, window: int) -> int:
    """How many final input points define a window's level: ``level`` False/0 = none
    (absolute windows), True/1 = the last value, ``k`` = the mean of the last ``k``."""
    return min(int(level), window)


def last_windows(scaled: list[np.ndarray], window: int, level: int):
    """The final input window of every series, for forecasting: ``(x, last)`` where
    ``x`` is ``(n_series, window, 1)`` float32 and ``last`` the value added back.  A series
    shorter than the window is padded on the left as in training (:func:`pad_left`)."""
    x = np.stack([pad_left(np.asarray(s, dtype=np.float64)[-window:], window) for s in scaled])
    k = level_points(level, window)
    last = x[:, window - k:].mean(axis=1) if k else np.zeros(len(scaled))
    x = x - last[:, None]
    return x[..., None].astype(np.float32), last


# -- choosing window and horizon ----------------------------------------------------------
def is_seasonal(values, season: int) -> bool:
    """Whether a series has a significant autocorrelation at lag ``season``: the 90 % test
    the M4 competition's Theta benchmark uses to decide on deseasonalising
    (``|r_m| > 1.645 sqrt((1 + 2 (r_1 + Σ_{k<m} r_k²)) / n)``), applied to the first
    differences (of the logs when every value is positive) so that a trend does not pass
    for a season.  A series shorter than three seasons, or with constant changes, is not."""
    m = int(season or 0)
    v = np.asarray(values, dtype=np.float64)
    if m < 2 or len(v) < 3 * m + 1 or not np.all(np.isfinite(v)):
        return False
    d = np.diff(np.log(v) if np.all(v > 0) else v)
    d = d - d.mean()
    denom = float(np.sum(d * d))
    if denom <= 0 or not np.isfinite(denom):
        return False
    r = [float(np.sum(d[k:] * d[:-k])) / denom for k in range(1, m + 1)]
    spread = r[0] + sum(x * x for x in r[1:m - 1])
    return abs(r[m - 1]) > 1.645 * math.sqrt(max(1 + 2 * spread, 0.0) / len(d))


def seasonal_share(series, season: int) -> float:
    """The share of ``series`` that :func:`is_seasonal` finds seasonal (0 for none)."""
    flags = [is_seasonal(v, season) for v in series]
    return float(np.mean(flags)) if flags else 0.0


def default_horizon(season: int | None) -> int:
    """One season ahead; 12 when the season is unknown or 1."""
    return season if season and season > 1 else 12


def default_window(season: int | None, horizon: int = 0) -> int:
    """Two seasons of context and at least 1.25 horizons (Hewamalage et al. 2021 tie the
    input window to ``max(horizon, season)``); at least 14 steps, 24 without a season."""
    base = max(2 * season, 14) if season and season > 1 else 24
    return max(base, math.ceil(1.25 * horizon))
