"""The covariates as a model sees them: scaled, encoded channels beside the target.

:class:`CovariateEncoder` is fitted on the training part of a panel (never later points):
the file's past and future columns are centred and scaled per column over all series'
training parts; generated calendar and holiday features are used as they are (bounded);
numeric static covariates are standardised over the series, categorical ones one-hot
encoded over the categories seen in training (an unseen one encodes as all zeros).

It gives, per series, the channels of every history row (:meth:`history`,
``[past…, known…, static…]``) and of the rows ahead of the series' end
(:meth:`ahead`, ``[known…, static…]``): the *known* channels are the file's future columns
then the generated features.  Plain JSON state, like the target's scaler.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from forecaster.data.covariates import (CovariateSpec, FeatureLayout, generated_features,
                                        generated_names)
from forecaster.errors import HINT, DataError, Hint


@dataclass
class CovariateEncoder:
    spec: CovariateSpec
    mean: np.ndarray   # per file column (past, then future)
    scale: np.ndarray
    statics: list      # per static column: {"name", "kind", "mean", "scale"} or "categories"
    generated: tuple   # names of the generated features (for this axis)

    @classmethod
    def fit(cls, panel, n_train) -> "CovariateEncoder":
        """Fitted on the first ``n_train[i]`` points of each series (at least one)."""
        cov, spec = panel.covariates, panel.covariates.spec
        parts = [v[:max(int(n), 1)] for v, n in zip(cov.values, n_train)]
        stacked = np.concatenate(parts) if parts else np.zeros((0, 0))
        k = len(spec.past) + len(spec.future)
        mean, scale = np.zeros(k), np.ones(k)
        for j in range(k):
            col = stacked[:, j]
            big = float(np.max(np.abs(col))) if len(col) else 0.0
            big = big if big > 0 and math.isfinite(big) else 1.0
            mu, sd = float(np.mean(col / big)), float(np.std(col / big))
            mean[j] = mu * big
            scale[j] = sd * big if sd > 1e-12 else 1.0
        statics = []
        for j, (name, kind) in enumerate(zip(spec.static, cov.static_kinds)):
            column = [row[j] for row in cov.statics]
            if kind == "numeric":
                v = np.asarray(column, dtype=np.float64)
                sd = float(np.std(v))
                statics.append({"name": name, "kind": kind, "mean": float(np.mean(v)),
                                "scale": sd if sd > 1e-12 else 1.0})
            else:
                statics.append({"name": name, "kind": kind,
                                "categories": sorted(set(map(str, column)))})
        return cls(spec, mean, scale, statics, generated_names(spec, panel.axis))

    # -- layout ---------------------------------------------------------------------------
    def static_names(self) -> tuple[str, ...]:
        out = []
        for s in self.statics:
            if s["kind"] == "numeric":
                out.append(s["name"])
            else:
                out += [f"{s['name']}={c}" for c in s["categories"]]
        return tuple(out)

    def groups(self) -> list[tuple[str, str, list[int]]]:
        """``(name, role, channels)`` of every covariate as a user names it: a file column,
        a calendar cycle (its sin and cos together), the holiday indicator, a static column
        (all its one-hot channels); ``channels`` index the covariate channels (input
        channel minus one)."""
        lay, out = self.layout(), []
        k = 0
        for name in lay.past:
            out.append((name, "past", [k]))
            k += 1
        for name in self.spec.future:
            out.append((name, "future", [k]))
            k += 1
        for name in self.generated:
            base = name[:-4] if name.endswith(("_sin", "_cos")) else name
            role = "holidays" if name.startswith("holiday_") else "calendar"
            if out and out[-1][0] == base:
                out[-1][2].append(k)
            else:
                out.append((base, role, [k]))
            k += 1
        for s in self.statics:
            width = 1 if s["kind"] == "numeric" else len(s["categories"])
            out.append((s["name"], "static", list(range(k, k + width))))
            k += width
        return out

    def layout(self) -> FeatureLayout:
        known = tuple(self.spec.future) + tuple(self.generated)
        static = self.static_names()
        return FeatureLayout(past=tuple(self.spec.past), known=known, static=static,
                             horizon_rows=bool(known or static))

    # -- channels -------------------------------------------------------------------------
    def static_row(self, values) -> np.ndarray:
        out = []
        for s, v in zip(self.statics, values):
            if s["kind"] == "numeric":
                out.append((float(v) - s["mean"]) / s["scale"])
            else:
                out += [1.0 if str(v) == c else 0.0 for c in s["categories"]]
        return np.asarray(out, dtype=np.float64)

    def history(self, panel, i: int, last: int | None = None) -> np.ndarray:
        """``(n_i, channels - 1)``: every history row's covariate channels (the file's
        columns are past then future, as the channels are); ``last``: only the last rows
        (a forecast reads a window, not the whole series)."""
        cov = panel.covariates
        total = len(panel.values[i])
        n = total if last is None else min(int(last), total)
        files = (cov.values[i][total - n:] - self.mean) / self.scale
        stamps = panel.axis.range(panel.axis.shift(panel.starts[i], total - n), n)
        gen = generated_features(self.spec, panel.axis, stamps)
        static = np.broadcast_to(self._statics(cov, i), (n, len(self.static_names())))
        return np.concatenate([files, gen, static], axis=1)

    def ahead(self, panel, i: int, steps: int) -> np.ndarray:
        """``(steps, known + static)``: the known values of the ``steps`` after series
        ``i``'s end (the file's from ``panel.covariates.ahead``; a :class:`DataError` naming
        the series and the first missing step when they do not reach that far)."""
        cov = panel.covariates
        kp, kf = len(self.spec.past), len(self.spec.future)
        have = cov.ahead[i]
        if kf and len(have) < steps:
            when = panel.axis.format(panel.axis.shift(panel.end(i), len(have) + 1))
            raise DataError(
                f"series {panel.ids[i]!r} needs the future covariates "
                f"({', '.join(self.spec.future)}) for {steps} step(s) after "
                f"{panel.axis.format(panel.end(i))}; they are missing from {when} (pass "
                f"them with {HINT}).", hint=Hint("future", "--future FILE", "future="))
        files = ((have[:steps] - self.mean[kp:]) / self.scale[kp:] if kf
                 else np.zeros((steps, 0)))  # no known-future columns: nothing ahead
        gen = generated_features(self.spec, panel.axis, panel.future(i, steps))
        static = np.broadcast_to(self._statics(cov, i), (steps, len(self.static_names())))
        return np.concatenate([files, gen, static], axis=1)

    def _statics(self, cov, i) -> np.ndarray:
        return self.static_row(cov.statics[i]) if self.statics else np.zeros(0)

    # -- JSON -----------------------------------------------------------------------------
    def to_json(self) -> dict:
        return {"spec": self.spec.to_json(), "mean": [float(x) for x in self.mean],
                "scale": [float(x) for x in self.scale], "statics": self.statics,
                "generated": list(self.generated)}

    @classmethod
    def from_json(cls, data, axis) -> "CovariateEncoder":
        spec = CovariateSpec.from_json(data["spec"])
        k = len(spec.past) + len(spec.future)
        mean = np.asarray(data["mean"], dtype=np.float64)
        scale = np.asarray(data["scale"], dtype=np.float64)
        if mean.shape != (k,) or scale.shape != (k,) or not np.all(np.isfinite(mean)) \
                or not np.all(np.isfinite(scale)) or np.any(scale <= 0):
            raise ValueError(f"covariate scaler must hold {k} finite means and positive "
                             "scales")
        statics = data.get("statics", [])
        if not isinstance(statics, list) or len(statics) != len(spec.static):
            raise ValueError("covariate `statics` must describe every static column")
        for s, name in zip(statics, spec.static):
            if not isinstance(s, dict) or s.get("name") != name or s.get("kind") not in (
                    "numeric", "category"):
                raise ValueError(f"static covariate {name!r} is malformed")
            if s["kind"] == "numeric" and not all(
                    isinstance(s.get(key), (int, float)) and math.isfinite(s[key])
                    for key in ("mean", "scale")):
                raise ValueError(f"static covariate {name!r} needs a finite mean and scale")
            if s["kind"] == "category" and not (isinstance(s.get("categories"), list) and all(
                    isinstance(c, str) for c in s["categories"])):
                raise ValueError(f"static covariate {name!r} needs a list of categories")
        generated = tuple(generated_names(spec, axis))
        if list(generated) != list(data.get("generated", [])):
            raise ValueError("the generated covariates do not match the run's frequency")
        return cls(spec, mean, scale, statics, generated)


@dataclass
class CovariateContext:
    """The covariate rows of ``n`` series around their forecast origin, encoded:
    ``rows (n, window + ahead, channels - 1)`` — the last ``window`` history rows, then the
    rows after the origin (known and static channels; past ones zero, being unknown)."""

    layout: FeatureLayout
    rows: np.ndarray
    window: int

    @classmethod
    def of(cls, encoder: CovariateEncoder, panel, *, window: int, horizon: int,
           steps: int) -> "CovariateContext":
        """For forecasting ``steps`` from the end of every series of ``panel`` with a
        network of ``window`` and ``horizon``: the recursion reads whole horizons, so the
        known values are extended to a multiple of ``horizon`` by repeating the last one
        (only steps beyond ``steps`` read them).  Past covariates are unknown after the
        origin: more steps than ``horizon`` with them is a :class:`DataError`."""
        from forecaster.data.windowing import pad_rows

        layout = encoder.layout()
        if layout.past and steps > horizon:
            raise DataError(
                f"the model uses past covariates ({', '.join(layout.past)}), which are "
                f"unknown after the forecast origin, so it forecasts at most its trained "
                f"horizon of {horizon} step(s), not {steps}; retrain with {HINT}.",
                hint=Hint("horizon", f"--horizon {steps}", f"horizon={steps}"))
        reach = -(-steps // horizon) * horizon
        out = []
        for i in range(len(panel)):
            hist = pad_rows(encoder.history(panel, i, last=window), window)
            known = encoder.ahead(panel, i, steps)
            if reach > steps:
                known = np.concatenate([known, np.repeat(known[-1:], reach - steps, axis=0)])
            ahead = np.concatenate([np.zeros((reach, len(layout.past))), known], axis=1)
            out.append(np.concatenate([hist, ahead]))
        return cls(layout, np.stack(out).astype(np.float32), int(window))

    def permuted(self, channels, rng) -> "CovariateContext":
        """A copy with ``channels`` (indices into the covariate channels, taken together)
        shuffled across series and time by one permutation from ``rng``: what permutation
        importance measures.  Past channels are shuffled over the history rows only (after
        the origin they stay unknown, zero)."""
        rows = self.rows.copy()
        T, first = self.window, self.layout.first_ahead - 1
        for group in (["history", [c for c in channels if c < first]],
                      ["all", [c for c in channels if c >= first]]):
            cols = group[1]
            if not cols:
                continue
            block = rows[:, :T] if group[0] == "history" else rows
            flat = block[:, :, cols].reshape(-1, len(cols))
            block[:, :, cols] = flat[rng.permutation(len(flat))].reshape(
                block.shape[0], block.shape[1], len(cols))
        return CovariateContext(self.layout, rows, self.window)

    def inputs(self, x, produced: int, horizon: int) -> np.ndarray:
        """The network's input after ``produced`` steps of recursion, from the target
        channel ``x`` ``(n, window, 1)`` (level-relative, as :func:`last_windows` gives)."""
        T, lay = self.window, self.layout
        rows = T + horizon if lay.horizon_rows else T
        out = np.zeros((len(x), rows, lay.channels), dtype=np.float32)
        out[:, :T, 0] = x[:, :, 0]
        out[:, :, 1:] = self.rows[:, produced:produced + rows]
        return out
