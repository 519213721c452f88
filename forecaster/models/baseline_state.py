"""A fitted baseline as plain data — what ``forecast train --select best`` saves when a
baseline wins the backtest, and what ``forecast predict`` rebuilds it from.

:func:`to_state` returns ``(state, blob)`` — the common fields (``format``, ``name``,
``kind``, ``ids``) around what the model's own ``get_state`` returns: a JSON-able dict of the model's settings and of
what it learned per series (the seasonal naive's season, the drift's slopes, the means,
Theta's smoothing, level, slope, seasonal indices and fitted end, the lag regressors' lags,
calendar columns, per-series scalers and covariate encoder), and
for the lag regressors the fitted scikit-learn pipeline as ``skops`` bytes (``None`` for
the others).  :func:`from_state` finds the class by ``kind`` and lets it rebuild itself
(``Model.from_state``).  Nothing is pickled (:mod:`forecaster.models.state_checks`); a
malformed field is an :class:`~forecaster.errors.ArtifactError`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from forecaster.models.base import Model
from forecaster.models.registry import kinds
from forecaster.models.state_checks import FORMAT, TRUSTED_TYPES, bad, check_header

__all__ = ["DeployedBaseline", "to_state", "from_state", "TRUSTED_TYPES", "FORMAT"]


@dataclass
class DeployedBaseline:
    """A baseline deployed as a run's model (``forecast train --select best``): the fitted
    ``model`` and its split-conformal quantiles (``conformal``, calibrated on its own
    backtest residuals as the RNN's are on the RNN's; None without a backtest) with those
    calibration ``residuals`` (intervals at any level; None in runs written before them)."""

    model: Model
    conformal: dict | None = None
    residuals: dict | None = None

    @property
    def name(self) -> str:
        return self.model.name

    def forecast(self, panel, horizon: int) -> tuple[np.ndarray, list[str]]:
        """``(values (n_series, horizon), notes)`` from the ends of ``panel`` (the run's
        stored contexts, or new data).  A series the model was not fitted on is adopted
        by a copy (:meth:`~forecaster.models.base.Model.adopt`); the deployed model
        itself is left as it is."""
        model = copy.copy(self.model)
        adopted = model.adopt(panel)
        notes = []
        if adopted and model.capabilities.adopts:
            notes.append(f"{len(adopted)} series the deployed {self.name} was not fitted on "
                         f"({', '.join(adopted[:3])}{' …' if len(adopted) > 3 else ''}) "
                         "take what it learns per series from the history given.")
        return model._predict(panel, int(horizon)), notes


def to_state(model: Model) -> tuple[dict, bytes | None]:
    """``(state, blob)`` of a fitted baseline (see the module docstring)."""
    if not model.capabilities.deployable:
        raise TypeError(f"{type(model).__name__} cannot be saved as a baseline.")
    fields, blob = model.get_state()
    state = {"format": FORMAT, "name": model.name, "kind": model.kind,
             "ids": list(model.fitted_ids_)}
    state.update(fields)
    return state, blob


def from_state(state, blob: bytes | None, axis) -> Model:
    """The fitted baseline that :func:`to_state` described, on the run's time ``axis``;
    every field is checked and anything wrong is an :class:`ArtifactError`."""
    check_header(state)
    known = kinds()
    kind = state.get("kind")
    if not isinstance(kind, str) or kind not in known:
        bad(f"`kind` must be one of {', '.join(known)}, not {kind!r:.40}")
    return known[kind].from_state(state, blob, axis)
