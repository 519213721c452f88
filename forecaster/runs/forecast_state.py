"""``preprocessing.json``: everything besides the network that a forecast needs.

Frequency/axis, column names, window and horizon, the per-series scaler, the last context
of each series (so ``forecast predict`` never needs the original file), the conformal
interval widths with the calibration residuals they came from (intervals at any level
later), and whether the data were non-negative (forecasts and bounds then clipped at 0).  Plain JSON — never pickle — and validated field by field on load, so a
tampered or truncated file is refused with an :class:`~forecaster.errors.ArtifactError`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from forecaster.choices import SCALINGS
from forecaster.data.panel import Panel, TimeAxis
from forecaster.data.windowing import (SeriesScaler, lambda_of, log_applicable, scale_kind,
                                       scale_name, scale_step)
from forecaster.errors import ArtifactError, DataError

FORMAT = 1


@dataclass
class SeriesState:
    id: str
    mean: float
    scale: float
    length: int
    context_start: object  # timestamp or int
    context: np.ndarray
    # what the conformal quantiles are multiplied by, in the series' units (in-sample
    # seasonal-naive MAE); None in runs written before it was recorded, which used `scale`
    interval_scale: float | None = None
    # the file covariates' raw values over the context (rows as ``context``), and the
    # static values; None / () without covariates
    covariates: np.ndarray | None = None
    statics: tuple = ()
    lam: float = 1.0  # its Box-Cox λ: 1 the standard scale, 0 the log, a power between

    @property
    def band_scale(self) -> float:
        """The scale the run's interval quantiles apply to for this series."""
        return self.scale if self.interval_scale is None else self.interval_scale


@dataclass
class Preprocessing:
    axis: TimeAxis
    target: str
    time_col: str
    id_col: str | None
    window: int
    horizon: int
    season: int | None
    level: int  # level span: 0 = absolute windows, k = level is the mean of the last k
    levels: list
    series: list[SeriesState]
    conformal: dict | None = None
    # the calibration scores (``{"origins": k, "scores": [[…] per step]}``) the widths came
    # from, for intervals at other levels; None in runs written before they were kept
    residuals: dict | None = None
    # every training value was >= 0 (counts, demand): forecasts and bounds are clipped at 0
    # unless a user allows negatives; False in runs written before it was recorded
    nonnegative: bool = False
    # how each series' scale was chosen (``"log"``, ``"standard"``, or ``"auto"``: per
    # series, see :func:`~forecaster.models.neural.resolve_scaling`); a series the run has
    # not seen is scaled by the same rule
    scaling: str = "standard"
    notes: list = field(default_factory=list)
    encoder: object = None  # the CovariateEncoder (forecaster.data.features), or None

    # -- building ---------------------------------------------------------------------------
    @classmethod
    def from_fit(cls, panel: Panel, forecaster, *, season, levels, conformal=None,
                 interval_scales=None, keep: int | None = None, residuals=None,
                 allow_negative: bool = False) -> "Preprocessing":
        """State of a fitted :class:`~forecaster.models.neural.RNNForecaster` on ``panel``.
        ``residuals``: the calibration scores of ``conformal``
        (:meth:`~forecaster.evaluation.intervals.ConformalIntervals.residuals_json`);
        the run is ``nonnegative`` when every value of ``panel`` is ``>= 0`` and
        ``allow_negative`` is not set.

        ``keep`` points of context are stored per series (default: the window, or three
        seasons if longer, for the report's history plot)."""
        T = forecaster.shape_.window
        keep = keep or max(T, 3 * (season or 0), 48)
        series = []
        cov = panel.covariates
        for i, (sid, v) in enumerate(panel):
            j = forecaster.ids_[sid]
            ctx = v[-keep:]
            series.append(SeriesState(
                covariates=None if cov is None else np.asarray(cov.values[i][-keep:],
                                                               dtype=np.float64),
                statics=tuple(cov.statics[i]) if cov is not None and cov.statics else (),
                id=sid, mean=float(forecaster.scaler_.mean[j]),
                lam=float(forecaster.scaler_.lam[j]),
                scale=float(forecaster.scaler_.scale[j]), length=len(v),
                context_start=panel.axis.shift(panel.starts[i], len(v) - len(ctx)),
                context=np.asarray(ctx, dtype=np.float64),
                interval_scale=None if interval_scales is None else float(interval_scales[sid])))
        return cls(axis=panel.axis, target=panel.target, time_col=panel.time_col,
                   id_col=panel.id_col, window=T, horizon=forecaster.shape_.horizon,
                   season=season, level=int(forecaster.level_), levels=list(levels),
                   series=series, conformal=conformal, scaling=forecaster.scaling,
                   encoder=getattr(forecaster, "encoder_", None), residuals=residuals,
                   nonnegative=not allow_negative and all_nonnegative(panel))

    def scaler(self) -> SeriesScaler:
        """The per-series scaler, rows in the order of ``series``."""
        return SeriesScaler(np.array([s.mean for s in self.series]),
                            np.array([s.scale for s in self.series]),
                            np.array([s.lam for s in self.series], dtype=np.float64))

    def context_panel(self, ahead=None) -> Panel:
        """The stored contexts as a :class:`Panel` (ends at the end of the training data),
        with their covariates and ``ahead`` (per series, the future covariates' values
        after the end) when the run has covariates."""
        cov = None
        if self.encoder is not None:
            from forecaster.data.covariates import Covariates

            k = len(self.encoder.spec.future)
            cov = Covariates(
                spec=self.encoder.spec,
                values=tuple(s.covariates for s in self.series),
                ahead=tuple(np.zeros((0, k)) for _ in self.series) if ahead is None
                else tuple(ahead),
                statics=tuple(s.statics for s in self.series) if self.encoder.statics else (),
                static_kinds=tuple(x["kind"] for x in self.encoder.statics))
        return Panel(ids=tuple(s.id for s in self.series),
                     starts=tuple(s.context_start for s in self.series),
                     values=tuple(s.context for s in self.series), axis=self.axis,
                     target=self.target, time_col=self.time_col, id_col=self.id_col,
                     covariates=cov)

    # -- new data ---------------------------------------------------------------------------
    def with_history(self, panel: Panel, network: bool = True
                     ) -> tuple["Preprocessing", list[str]]:
        """``(state, notes)``: this run's state moved to the ends of ``panel`` (new data on
        the run's axis), for a forecast from there without retraining; ``self`` is left as
        it is.

        A known series takes either the rows after the run's end or a whole newer history
        (the stored context fills in before its start; where both hold a timestamp the new
        value wins) and keeps its saved scaler.  The new data must reach the run's end and
        leave no gap after it.  A series the run has never seen needs at least a window of
        points; its scaler is fitted on that history as training fits one.  Only the
        series of ``panel`` are in the new state.  Every refusal is a
        :class:`~forecaster.errors.DataError` naming the series.

        Zeros or negatives are never refused: a known series whose new context leaves its
        log or Box-Cox scale is forecast on the standard scale fitted on that context
        (:func:`~forecaster.models.neural.forecast_values` notes it), and an unseen one
        with zeros on a run forced to the log scale is put on the standard scale (noted
        here).  ``network=False`` (a run that deploys a baseline): the RNN's scale does
        not forecast, and an unseen series is described on the standard scale."""
        known = {s.id: s for s in self.series}
        keep = max(self.window, 3 * (self.season or 0), 48)
        series, unseen, revised = [], [], 0
        for i, (sid, values) in enumerate(panel):
            start, end = panel.starts[i], panel.end(i)
            old = known.get(sid)
            if old is None:
                series.append(replace(self._unseen(sid, start, values, keep, network),
                                      **self._new_covariates(None, panel, i, len(values),
                                                             keep)))
                unseen.append(sid)
                continue
            context, context_start, length, changed = self._extend(old, start, end, values)
            revised += changed
            series.append(SeriesState(
                id=sid, mean=old.mean, scale=old.scale, length=length, lam=old.lam,
                interval_scale=old.interval_scale,
                context_start=self.axis.shift(context_start, len(context) - min(
                    keep, len(context))), context=context[-keep:],
                **self._new_covariates(old, panel, i, len(context), keep)))
        notes = []
        if unseen:
            listed = ", ".join(repr(x) for x in unseen[:5]) + (" …" if len(unseen) > 5 else "")
            notes.append(f"{len(unseen)} series the run has not seen ({listed}) are forecast "
                         "from their own history, with a scaler fitted on it.")
        off = [s.id for s in series if s.id in unseen and s.lam >= 1] if (
            network and self.scaling == "log") else []
        if off:
            listed = ", ".join(repr(x) for x in off[:5]) + (" …" if len(off) > 5 else "")
            notes.append(f"{len(off)} unseen series ({listed}) have zeros or negative values "
                         "outside the run's log scale: forecast on the standard scale "
                         "fitted on their history.")
        if revised:
            notes.append(f"{revised} value(s) of the new data differ from the run's at the "
                         "same timestamps; the new values are used.")
        return replace(self, series=series, notes=list(self.notes) + notes,
                       nonnegative=self.nonnegative and all_nonnegative(panel)), notes

    def _new_covariates(self, old, panel, i, n_context, keep) -> dict:
        """The covariate context of series ``i`` of ``panel`` (new data) joined to the
        stored one of ``old`` (None: an unseen series) as :meth:`_extend` joins values:
        the last ``n_context`` rows (of which ``keep`` are kept)."""
        if self.encoder is None:
            return {}
        cov = panel.covariates
        if cov is None:
            raise DataError("the run uses covariates, but the new data were read without "
                            "them.")
        new = cov.values[i]
        rows = new if old is None or len(new) >= n_context else np.concatenate(
            [old.covariates[:n_context - len(new)], new])
        statics = tuple(cov.statics[i]) if cov.statics else ()
        if old is not None and statics and statics != tuple(old.statics):
            raise DataError(f"series {old.id!r}: its static covariates changed "
                            f"({list(old.statics)} in the run, {list(statics)} in the new "
                            "data); retrain to use new ones.")
        return {"covariates": np.asarray(rows[-keep:], dtype=np.float64),
                "statics": statics}

    def _steps(self, a, b) -> int:
        """Steps of this axis from timestamp ``a`` to ``b`` (negative when ``b`` is
        earlier); both lie on the axis' grid."""
        if not self.axis.is_datetime:
            return (int(b) - int(a)) // int(self.axis.step)
        sign, lo, hi = (1, a, b) if b >= a else (-1, b, a)
        return sign * (len(pd.date_range(lo, hi, freq=self.axis.freq)) - 1)

    def _extend(self, old: SeriesState, start, end, values):
        """The context of a known series with its new data: ``(context, its start, the
        series' length, how many overlapping values changed)``."""
        fmt = self.axis.format
        run_end = self.axis.shift(old.context_start, len(old.context) - 1)
        if start > self.axis.shift(run_end, 1):
            raise DataError(
                f"series {old.id!r}: the new data start at {fmt(start)}, but the run ends at "
                f"{fmt(run_end)}; the points in between are missing. Pass the rows from "
                f"{fmt(self.axis.shift(run_end, 1))} on, or the whole history.")
        if end < run_end:
            raise DataError(
                f"series {old.id!r}: the new data end at {fmt(end)}, before the run's end "
                f"{fmt(run_end)}; pass data up to {fmt(run_end)} or later.")
        before = max(self._steps(old.context_start, start), 0)  # stored points kept
        skip = max(self._steps(start, old.context_start), 0)    # new points before them
        overlap = old.context[before:]
        newer = values[skip:skip + len(overlap)]
        changed = int(np.sum(~np.isclose(overlap[:len(newer)], newer, rtol=1e-12, atol=0)))
        if skip:
            context, context_start = np.asarray(values, np.float64), start
        else:
            context = np.concatenate([old.context[:before], values]).astype(np.float64)
            context_start = old.context_start
        length = old.length + self._steps(run_end, end)
        return context, context_start, max(length, len(context)), changed

    def _unseen(self, sid, start, values, keep, network=True) -> SeriesState:
        if len(values) < self.window:
            raise DataError(
                f"series {sid!r} is not in the run and has {len(values)} point(s); the model "
                f"needs at least a window of {self.window} to forecast a new series.")
        scaling = self.scaling if network else "standard"
        if scaling == "log" and not log_applicable([values]):
            scaling = "standard"  # outside the log scale's domain (with_history notes it)
        from forecaster.models.scales import resolve_scaling

        step = scale_step(self.season)
        lam = resolve_scaling(scaling, [values], season=step)
        scaler = SeriesScaler.fit([values], lam=lam, season=step)
        context = np.asarray(values[-keep:], dtype=np.float64)
        band = None
        if any(s.interval_scale is not None for s in self.series):
            from forecaster.evaluation.leaderboard import series_scale

            band = series_scale(values, self.season)
        return SeriesState(id=sid, mean=float(scaler.mean[0]), scale=float(scaler.scale[0]),
                           length=len(values), lam=float(lam[0]), context=context,
                           interval_scale=band,
                           context_start=self.axis.shift(start, len(values) - len(context)))

    # -- JSON -------------------------------------------------------------------------------
    def to_json(self) -> dict:
        fmt = self.axis.format
        return {
            "format": FORMAT,
            "axis": self.axis.to_json(),
            "target": self.target, "time_col": self.time_col, "id_col": self.id_col,
            "window": self.window, "horizon": self.horizon, "season": self.season,
            "scaling": self.scaling, "relative": self.level, "levels": self.levels,
            "conformal": self.conformal,
            **({} if self.residuals is None else {"residuals": self.residuals}),
            **({"nonnegative": True} if self.nonnegative else {}),
            "series": [{
                "id": s.id, **_scaling_json(s.lam), "mean": s.mean,
                "scale": s.scale, "length": s.length,
                "context_start": fmt(s.context_start),
                "context": [float(x) for x in s.context],
                **({} if s.interval_scale is None else {"interval_scale": s.interval_scale}),
                **({} if s.covariates is None else {
                    "covariates": [[float(x) for x in row] for row in s.covariates],
                    "static": list(s.statics)}),
            } for s in self.series],
            **({} if self.encoder is None else {"covariates": self.encoder.to_json()}),
        }

    @classmethod
    def from_json(cls, data) -> "Preprocessing":
        """Validate and load; any problem is an ArtifactError naming the field."""
        try:
            return cls._from_json(data)
        except ArtifactError:
            raise
        except Exception as exc:
            raise ArtifactError(f"preprocessing.json failed validation: {exc}.") from None

    @classmethod
    def _from_json(cls, data) -> "Preprocessing":
        def bad(what):
            raise ArtifactError(f"preprocessing.json failed validation: {what}.")

        if not isinstance(data, dict):
            bad("expected a JSON object")
        if data.get("format") != FORMAT:
            bad(f"unsupported format {data.get('format')!r} (expected {FORMAT})")
        axis = TimeAxis.from_json(data["axis"])
        if axis.is_datetime:
            axis.offset  # raises on an unknown frequency alias

        def pos_int(name):
            v = data.get(name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                bad(f"`{name}` must be a positive integer, got {v!r}")
            return v

        window, horizon = pos_int("window"), pos_int("horizon")
        scaling = data.get("scaling", "standard")
        if scaling not in SCALINGS:
            bad(f"`scaling` must be one of {', '.join(SCALINGS)}, got {scaling!r}")
        relative = data.get("relative", 1)
        if isinstance(relative, bool):  # format-1 runs before level spans: true = last value
            relative = int(relative)
        if not isinstance(relative, int) or not 0 <= relative <= window:
            bad(f"`relative` must be an integer between 0 and the window, got {relative!r}")
        season = data.get("season")
        if season is not None and (not isinstance(season, int) or season < 1):
            bad(f"`season` must be null or a positive integer, got {season!r}")
        levels = data.get("levels", [])
        if not isinstance(levels, list) or not all(
                isinstance(x, (int, float)) and 0 < x < 100 for x in levels):
            bad(f"`levels` must be a list of percentages, got {levels!r}")
        series_json = data.get("series")
        if not isinstance(series_json, list) or not series_json:
            bad("`series` must be a non-empty list")
        encoder = None
        if data.get("covariates") is not None:
            from forecaster.data.features import CovariateEncoder

            try:
                encoder = CovariateEncoder.from_json(data["covariates"], axis)
            except (ValueError, KeyError, TypeError) as exc:
                bad(f"`covariates`: {exc}")
        series, seen = [], set()
        for k, item in enumerate(series_json):
            state = _series_from_json(item, k, axis, window=window, scaling=scaling, bad=bad)
            if encoder is not None:
                _covariates_from_json(state, item, encoder, bad)
            if state.id in seen:
                bad(f"series id {state.id!r} appears twice")
            seen.add(state.id)
            series.append(state)
        conformal = data.get("conformal")
        if conformal is not None:
            _check_conformal(conformal, levels, horizon, bad)
        residuals = data.get("residuals")
        if residuals is not None:
            _check_residuals(residuals, horizon, bad)
        nonnegative = data.get("nonnegative", False)
        if not isinstance(nonnegative, bool):
            bad(f"`nonnegative` must be true or false, got {nonnegative!r:.40}")
        return cls(axis=axis, target=str(data.get("target", "value")),
                   time_col=str(data.get("time_col", "timestamp")), id_col=data.get("id_col"),
                   window=window, horizon=horizon, season=season,
                   level=relative, levels=list(levels),
                   series=series, conformal=conformal, scaling=scaling, encoder=encoder,
                   residuals=residuals, nonnegative=nonnegative)


def all_nonnegative(panel: Panel) -> bool:
    """Whether every value of every series of ``panel`` is ``>= 0`` (counts, demand)."""
    return all(bool(np.all(np.asarray(v) >= 0)) for _, v in panel)


def _covariates_from_json(state: SeriesState, item, encoder, bad) -> None:
    """A series' covariate context and static values, checked against the encoder."""
    k = len(encoder.spec.past) + len(encoder.spec.future)
    rows = item.get("covariates")
    if not isinstance(rows, list) or len(rows) != len(state.context) or not all(
            isinstance(r, list) and len(r) == k and all(
                isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
                for x in r) for r in rows):
        bad(f"series {state.id!r} needs {len(state.context)} rows of {k} finite covariate "
            "values")
    statics = item.get("static", [])
    if not isinstance(statics, list) or len(statics) != len(encoder.statics) or not all(
            (isinstance(v, (int, float)) and not isinstance(v, bool)
             if s["kind"] == "numeric" else isinstance(v, str))
            for v, s in zip(statics, encoder.statics)):
        bad(f"series {state.id!r} needs one static value per static covariate")
    state.covariates = np.asarray(rows, dtype=np.float64).reshape(len(rows), k)
    state.statics = tuple(statics)


def _check_conformal(conformal, levels, horizon: int, bad) -> None:
    """preprocessing.json's ``conformal``, by the check baseline.json's also passes
    (:func:`~forecaster.evaluation.intervals.check_conformal`)."""
    from forecaster.evaluation.intervals import check_conformal

    try:
        check_conformal(conformal, levels, horizon)
    except DataError as exc:
        bad(str(exc))


def _check_residuals(residuals, horizon: int, bad) -> None:
    """preprocessing.json's ``residuals``, by the check baseline.json's also passes
    (:func:`~forecaster.evaluation.intervals.check_residuals`); without ``conformal``
    beside them they are never used."""
    from forecaster.evaluation.intervals import check_residuals

    try:
        check_residuals(residuals, horizon)
    except DataError as exc:
        bad(str(exc))


def _scaling_json(lam: float) -> dict:
    """A series' scale in preprocessing.json: ``{"scaling": "log"}``, ``"standard"``, or
    ``{"scaling": "box-cox", "lambda": 0.35}``."""
    kind = scale_kind(lam)
    return {"scaling": kind, **({"lambda": float(lam)} if kind == "box-cox" else {})}


def _lambda_from_json(s, scaling: str, bad) -> float:
    """A series' Box-Cox λ from its ``scaling`` (and ``lambda``), which the run's ``auto``
    requires; runs written before per-series scales have the run's one."""
    own = s.get("scaling", None if scaling == "auto" else scaling)
    if own not in ("log", "standard", "box-cox") or (
            scaling != "auto" and own != scaling):
        bad(f"series {s['id']!r} needs a `scaling` of "
            + ("'log', 'standard' or 'box-cox'" if scaling == "auto" else repr(scaling))
            + f", got {own!r}")
    lam = lambda_of(s, default=own)
    if lam is None:  # a known kind, so only a Box-Cox λ can be wrong
        bad(f"series {s['id']!r} needs a `lambda` strictly between 0 and 1 for its "
            f"Box-Cox scale, got {s.get('lambda')!r}")
    return lam


def _series_from_json(s, k: int, axis: TimeAxis, *, window: int, scaling: str,
                      bad) -> SeriesState:
    """One entry of ``series``, checked field by field (``bad`` raises)."""
    if not isinstance(s, dict) or not isinstance(s.get("id"), str):
        bad(f"series #{k} has no string `id`")
    lam = _lambda_from_json(s, scaling, bad)
    ctx = s.get("context")
    if not isinstance(ctx, list) or not ctx or not all(
            isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
            for x in ctx):
        bad(f"series {s['id']!r} needs a non-empty finite numeric `context`")
    if lam < 1 and not all(x > 0 for x in ctx):
        bad(f"series {s['id']!r} has a non-positive `context` value on {scale_name(lam)}")
    for key in ("mean", "scale"):
        v = s.get(key)
        if not isinstance(v, (int, float)) or not math.isfinite(v):
            bad(f"series {s['id']!r} has a non-finite `{key}`")
    if s["scale"] <= 0:
        bad(f"series {s['id']!r} has a non-positive `scale`")
    band = s.get("interval_scale")
    if band is not None and (isinstance(band, bool) or not isinstance(
            band, (int, float)) or not math.isfinite(band) or band <= 0):
        bad(f"series {s['id']!r} needs a positive finite `interval_scale`")
    length = s.get("length", len(ctx))
    if isinstance(length, bool) or not isinstance(length, int) or length < len(ctx):
        bad(f"series {s['id']!r} needs an integer `length` of at least its "
            f"{len(ctx)} context values, got {length!r}")
    if len(ctx) < min(window, length):
        # a run keeps at least a window of context (all of a shorter series)
        bad(f"series {s['id']!r} has {len(ctx)} context values, fewer than the "
            f"window {window} (its length is {length})")
    return SeriesState(
        id=s["id"], mean=float(s["mean"]), scale=float(s["scale"]), length=int(length),
        context_start=axis.parse(s["context_start"]),
        context=np.asarray(ctx, dtype=np.float64),
        interval_scale=None if band is None else float(band), lam=lam)
