"""The Theta method: the statistical benchmark of the M3 and M4 competitions.

Assimakopoulos & Nikolopoulos (2000), in the form Hyndman & Billah (2003) showed it to be:
simple exponential smoothing with a drift of half the series' linear trend, on the
seasonally adjusted series.  As R's ``forecast::thetaf`` and the M4 benchmark do it:

1. **Season.** When the series has a season ``m > 1``, at least two seasons of data and a
   significant autocorrelation at lag ``m`` (the 90 % test: ``|r_m| > 1.645 sqrt((1 +
   2 Σ_{k<m} r_k²) / n)``, on the series itself), it is divided by the seasonal indices
   of a classical multiplicative decomposition (the ratios to a centred moving average,
   averaged by position in the season and normalised to mean 1) — subtracted from an
   additive one where a value is zero or negative, or an index too small to divide by.
2. **Level.** Simple exponential smoothing, ``ℓ_t = ℓ_{t-1} + α (y_t − ℓ_{t-1})``, with
   ``α`` and ``ℓ_0`` minimising the squared one-step errors (``ℓ_0`` is exact for each
   ``α``: the errors are linear in it; ``α`` in [0.01, 0.99] by a grid and a bounded
   refinement).
3. **Forecast.** ``ŷ_{n+h} = ℓ_n + (b/2) (h − 1 + (1 − (1 − α)^n) / α)``, ``b`` the
   least-squares slope of the adjusted series on time, re-seasonalised by the index of
   each step's position in the season.

What a fit learns per series — ``α``, the last level, the slope, the length and the
seasonal indices of the steps ahead — is kept: a forecast from a context that goes on
past the fitted end (new data, a backtest without refitting) smooths the new points into
the level with the fitted ``α`` and indices, as exponential smoothing does.  A context
that ends earlier, or that lacks the points since the fitted end, is fitted afresh.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.signal import lfilter

from forecaster.data.panel import Panel
from forecaster.models import state_checks as checks
from forecaster.models.base import Capabilities, SeasonalModel, fitted_rows

__all__ = ["ThetaForecaster", "ThetaFit", "fit_theta", "theta_forecast", "seasonal_indices",
           "fit_ses"]

ALPHA_BOUNDS = (0.01, 0.99)
_GRID = np.linspace(*ALPHA_BOUNDS, 50)
_MIN_INDEX = 0.01  # multiplicative indices below this switch to the additive decomposition


@dataclass(frozen=True)
class ThetaFit:
    """What Theta learned from one series of ``n`` points: the smoothing ``alpha``, the
    last ``level`` and the ``slope`` of the (seasonally adjusted) series in its units, and
    the seasonal ``ahead`` indices of the steps after its end (``ahead[j]`` for step
    ``n + 1 + j mod m``; empty without a season), ``multiplicative`` or additive."""

    alpha: float
    level: float
    slope: float
    n: int
    ahead: tuple = ()
    multiplicative: bool = True

    def forecast(self, horizon: int, new=()) -> np.ndarray:
        """``horizon`` steps after the fitted end, or after ``new`` — the points that
        followed it — once they are smoothed into the level."""
        a, level, m = self.alpha, self.level, len(self.ahead)
        index = np.asarray(self.ahead, dtype=np.float64)
        for j, v in enumerate(np.asarray(new, dtype=np.float64)):
            if m:
                v = v / index[j % m] if self.multiplicative else v - index[j % m]
            level += a * (v - level)
        n, k = self.n + len(new), len(new)
        steps = np.arange(horizon)
        out = level + self.slope / 2 * (steps + (1 - (1 - a) ** n) / a)
        if m:
            ahead = index[(k + steps) % m]
            out = out * ahead if self.multiplicative else out + ahead
        return out


class ThetaForecaster(SeasonalModel):
    """The standard Theta method (θ = 2), one model per series (see the module docstring).

    ``season`` defaults to the panel's natural season (``panel.axis.season()``); without
    one the series is not deseasonalised."""

    name = kind = "theta"
    capabilities = Capabilities(deployable=True, state="json", seasonal=True, adopts=True)

    def _fit(self, panel: Panel) -> None:
        season = self._season_of(panel)
        self.season_ = int(season) if season and season > 1 else 1
        self.fits_ = [fit_theta(v, self.season_) for v in panel.values]
        self.ends_ = [panel.end(i) for i in range(len(panel))]
        self.axis_ = panel.axis

    def _adopt(self, panel: Panel) -> None:
        self.fits_ = self.fits_ + [fit_theta(v, self.season_) for v in panel.values]
        self.ends_ = self.ends_ + [panel.end(i) for i in range(len(panel))]

    def _predict(self, panel: Panel, horizon: int) -> np.ndarray:
        out = []
        for i, (r, v) in enumerate(zip(fitted_rows(self, panel), panel.values)):
            k = panel.axis.steps(self.ends_[r], panel.end(i))
            fit = self.fits_[r]
            if k < 0 or k > len(v):  # ends earlier, or the points since are missing
                fit, k = fit_theta(v, self.season_), 0
            out.append(fit.forecast(horizon, v[len(v) - k:]))
        return np.array(out)

    def get_state(self) -> tuple[dict, None]:
        """The season, the fitted ends and each series' :class:`ThetaFit` as lists."""
        fits = self.fits_
        return {"season": int(self.season_), "ends": self.axis_.format_all(self.ends_),
                "alpha": [f.alpha for f in fits], "level": [f.level for f in fits],
                "slope": [f.slope for f in fits], "n": [f.n for f in fits],
                "ahead": [list(f.ahead) for f in fits],
                "multiplicative": [f.multiplicative for f in fits]}, None

    @classmethod
    def _restore(cls, state, blob, axis, ids) -> "ThetaForecaster":
        n, bad = len(ids), checks.bad
        season = checks.season(state)
        alpha = checks.floats(state.get("alpha"), n, "alpha")
        level = checks.floats(state.get("level"), n, "level")
        slope = checks.floats(state.get("slope"), n, "slope")
        lengths, ahead, mult = state.get("n"), state.get("ahead"), state.get("multiplicative")
        ends = state.get("ends")
        low, high = ALPHA_BOUNDS
        outside = alpha[(alpha < low) | (alpha > high)]
        if outside.size:
            bad(f"`alpha` must lie in [{low}, {high}] (the smoothing Theta fits); got "
                f"{outside[0]:g}")
        if not isinstance(lengths, list) or len(lengths) != n or not all(
                isinstance(k, int) and not isinstance(k, bool) and k >= 1 for k in lengths):
            bad(f"`n` must hold {n} positive integers")
        if not isinstance(mult, list) or len(mult) != n or not all(isinstance(x, bool)
                                                                    for x in mult):
            bad(f"`multiplicative` must hold {n} booleans")
        if not isinstance(ahead, list) or len(ahead) != n or not all(
                isinstance(a, list) and len(a) in (0, season) for a in ahead):
            bad(f"`ahead` must hold {n} lists of 0 or {season} seasonal indices")
        indices = [checks.floats(a, len(a), "ahead") if a else np.zeros(0) for a in ahead]
        if any(m and np.any(i <= 0) for m, i in zip(mult, indices)):
            bad("multiplicative seasonal indices must be positive")
        if not isinstance(ends, list) or len(ends) != n or not all(isinstance(e, str)
                                                                    for e in ends):
            bad(f"`ends` must hold {n} timestamps")
        try:
            parsed = [axis.parse(e) for e in ends]
        except (TypeError, ValueError):
            bad("`ends` must hold timestamps of the run's time axis")
        model = cls(season)
        model.season_, model.ends_, model.axis_ = season, parsed, axis
        model.fits_ = [ThetaFit(alpha=float(alpha[i]), level=float(level[i]),
                                slope=float(slope[i]), n=lengths[i],
                                ahead=tuple(float(x) for x in indices[i]),
                                multiplicative=mult[i]) for i in range(n)]
        return model


def fit_theta(values, season: int = 1) -> ThetaFit:
    """Theta fitted to one series (module docstring)."""
    y = np.asarray(values, dtype=np.float64)
    n = len(y)
    big = float(np.max(np.abs(y)))
    if n < 3 or big == 0 or not np.isfinite(big):  # nothing to smooth: the last value
        return ThetaFit(alpha=0.99, level=float(y[-1]), slope=0.0, n=n)
    y = y / big  # SES and the slope are scale-equivariant; this keeps 1e300 finite
    m = int(season or 1)
    ahead, multiplicative = (), True
    if m > 1 and n >= 2 * m and _seasonal(y, m):
        index, multiplicative = seasonal_indices(y, m)
        phase = np.arange(n) % m
        y = y / index[phase] if multiplicative else y - index[phase]
        ahead = tuple(float(x) for x in np.roll(index, -(n % m)) * (1 if multiplicative
                                                                      else big))
    alpha, level = fit_ses(y)
    slope = float(np.polyfit(np.arange(n, dtype=np.float64), y, 1)[0])
    return ThetaFit(alpha=alpha, level=level * big, slope=slope * big, n=n, ahead=ahead,
                    multiplicative=multiplicative)


def theta_forecast(values, horizon: int, season: int = 1) -> np.ndarray:
    """The Theta forecast of one series ``horizon`` steps ahead (module docstring)."""
    return fit_theta(values, season).forecast(horizon)


def _seasonal(y: np.ndarray, m: int) -> bool:
    """The M4 benchmark's 90 % test for a season of ``m`` on the series itself."""
    d = y - y.mean()
    denom = float(np.sum(d * d))
    if denom <= 0:
        return False
    r = np.array([np.sum(d[k:] * d[:-k]) / denom for k in range(1, m + 1)])
    limit = 1.645 * math.sqrt((1 + 2 * float(np.sum(r[:-1] ** 2))) / len(y))
    return bool(abs(r[-1]) > limit)


def seasonal_indices(y, m: int) -> tuple[np.ndarray, bool]:
    """``(indices (m,), multiplicative)``: the classical decomposition's seasonal figure
    by position ``i mod m`` from the series' start — the mean ratio (difference, for the
    additive one) of each position to the centred moving average of one season,
    normalised to mean 1 (sum 0).  Multiplicative unless a value is ``<= 0`` or an index
    falls below 0.01."""
    y = np.asarray(y, dtype=np.float64)
    weights = np.ones(m + 1 - m % 2)
    if m % 2 == 0:
        weights[0] = weights[-1] = 0.5
    weights /= m
    half = len(weights) // 2
    trend = np.full(len(y), np.nan)
    trend[half:len(y) - half] = np.convolve(y, weights, mode="valid")
    multiplicative = bool(np.all(y > 0))
    for kind in ([True, False] if multiplicative else [False]):
        detrended = y / trend if kind else y - trend
        figure = np.array([np.nanmean(detrended[i::m]) for i in range(m)])
        figure = figure / figure.mean() if kind else figure - figure.mean()
        if not kind or np.all(figure >= _MIN_INDEX):
            return figure, kind
    raise AssertionError("unreachable")  # pragma: no cover


def fit_ses(y) -> tuple[float, float]:
    """``(alpha, last level ℓ_n)`` of simple exponential smoothing fitted to ``y`` by least
    squares of the one-step errors, ``ℓ_0`` solved exactly for each ``α``."""
    y = np.asarray(y, dtype=np.float64)

    def sse(alpha):
        return _ses(y, alpha)[0]

    errors = [sse(a) for a in _GRID]
    best = int(np.argmin(errors))
    lo, hi = _GRID[max(best - 1, 0)], _GRID[min(best + 1, len(_GRID) - 1)]
    alpha = float(_GRID[best])
    if hi > lo:
        found = minimize_scalar(sse, bounds=(lo, hi), method="bounded",
                                options={"xatol": 1e-6})
        if found.success and found.fun <= errors[best]:
            alpha = float(found.x)
    return alpha, _ses(y, alpha)[1]


def _ses(y: np.ndarray, alpha: float) -> tuple[float, float]:
    """``(SSE, ℓ_n)`` of SES with ``alpha`` and the least-squares ``ℓ_0``.  The one-step
    forecast of ``y_t`` is ``c_t ℓ_0 + g_t`` (``c_t = (1 − α)^t``; ``g`` the forecast from
    ``ℓ_0 = 0``), so the best ``ℓ_0`` is a one-variable least-squares fit."""
    decay = 1.0 - alpha
    levels0 = lfilter([alpha], [1.0, -decay], y)  # ℓ_t from ℓ_0 = 0, t = 1 … n
    g = np.concatenate([[0.0], levels0[:-1]])
    # c_t falls below 1e-17 of c_0 after a few steps unless α is small: only those count
    reach = min(len(y), int(math.ceil(-39.2 / math.log(decay))) + 1)
    c = decay ** np.arange(reach, dtype=np.float64)
    l0 = float(np.dot(c, y[:reach] - g[:reach]) / np.dot(c, c))
    residual = y - g
    residual[:reach] -= c * l0
    return float(np.dot(residual, residual)), float(levels0[-1] + decay ** len(y) * l0)
