"""A series' scale and the domain of its values: which Box-Cox λ each series is forecast on
(:func:`resolve_scaling`), and what a fit or a forecast says when a series touches zero
where the log or a Box-Cox power cannot follow it.

Whether a series *can* be logged is a fact of its domain, decided from every value of it
the run sees; λ, the mean and the spread are learned from the training part only.  A
context that still leaves its scale (a backtest fold, new data) is forecast on the
standard scale fitted on that context
(:meth:`~forecaster.data.windowing.SeriesScaler.for_contexts`), with
:func:`fallback_note`.
"""

from __future__ import annotations

import numpy as np

from forecaster.choices import SCALINGS
from forecaster.data import windowing as W
from forecaster.errors import ConfigError, DataError


def listed_series(names, shown: int = 5) -> str:
    """``2 series ('a', 'b')``, the first ``shown`` named."""
    more = " …" if len(names) > shown else ""
    return f"{len(names)} series (" + ", ".join(repr(n) for n in names[:shown]) + more + ")"


def fallback_note(names, lams) -> str:
    """The note of :func:`~forecaster.models.neural.forecast_values` for the series
    ``names`` whose context left the scale (Box-Cox λ ``lams``) they were learned on."""
    kinds = sorted({W.scale_name(float(lam)) for lam in lams})
    where = kinds[0] if len(kinds) == 1 else "the log or Box-Cox scale"
    return (f"{listed_series(names)} have zeros or negative values in the window they are "
            f"forecast from, outside {where} they were learned on: the network forecast "
            "them on the standard scale fitted on their own context.")


def domain_note(names) -> str:
    """The note of a fit whose series ``names`` were put on the standard scale because
    they touch zero (or go below) after the part their scale is fitted on."""
    return (f"{listed_series(names)} have zeros or negative values after their first part: "
            "they are forecast on the standard scale, as the log and Box-Cox scales need "
            "strictly positive values.")


def resolve_scaling(scaling: str, values, fit_parts=None, season: int | None = None,
                    positive=None) -> np.ndarray:
    """Per series, the Box-Cox λ it is forecast on (1: the standard scale, 0: the log).

    Which series *can* be logged is decided from ``values``, every value of each series
    the run sees (a domain fact: a series that touches zero anywhere, even only after its
    training part, is not logged), or given as ``positive`` (one flag per series, e.g.
    :func:`~forecaster.data.windowing.positive_domain` of a whole panel, and-ed with the
    values' own positivity); λ is learned from the training part ``fit_parts`` only.

    ``log``: 0 for every series (an error when any value is zero or negative);
    ``standard``: 1 for every series; ``auto``: for each series that can be logged,
    :func:`~forecaster.data.windowing.box_cox_lambda` of its training part ``fit_parts``
    (default: ``values``), measured over blocks of a season — the log where the spread
    grows in proportion to the level, the standard scale where it does not grow, a power
    in between; any other series keeps the standard scale."""
    if scaling not in SCALINGS:
        raise ConfigError(f"`scaling` must be one of {', '.join(SCALINGS)}. Got {scaling!r}.")
    values = list(values)
    if scaling == "standard":
        return np.ones(len(values))
    own = np.array([W.log_applicable([v]) for v in values], dtype=bool)
    positive = own if positive is None else own & np.asarray(positive, dtype=bool)
    if scaling == "log":
        if not positive.all():
            raise DataError("--scaling log needs strictly positive values; the data have "
                            "zeros or negatives (use --scaling standard or auto).")
        return np.zeros(len(values))
    parts = values if fit_parts is None else list(fit_parts)
    block = W.spread_block(season)
    return np.array([W.box_cox_lambda(parts[i], block) if on else 1.0
                     for i, on in enumerate(positive)])


def describe_scaling(mode: str, ids, lams, named: int = 5) -> str:
    """``auto: log for 90 series; Box-Cox (λ 0.05–0.95) for 80 series; standard for 33
    series``, ``auto: Box-Cox λ 0.35 for passengers``, ``standard (every series)`` — the
    scale of each series (its Box-Cox λ: 0 the log, 1 the standard scale), for summaries
    and reports (series named when at most ``named`` share a kind of scale)."""
    if mode != "auto":
        return f"{mode} (every series)"
    lams = [float(x) for x in lams]
    parts = []
    for kind, label in (("log", "log"), ("box-cox", "Box-Cox"), ("standard", "standard")):
        chosen = [(str(i), x) for i, x in zip(ids, lams) if W.scale_kind(x) == kind]
        if not chosen:
            continue
        power = kind == "box-cox"
        if len(chosen) > named:
            low, high = min(x for _, x in chosen), max(x for _, x in chosen)
            span = f" (λ {low:g})" if low == high else f" (λ {low:g}–{high:g})"
            parts.append(f"{label}{span if power else ''} for {len(chosen):,} series")
        elif power:
            parts.append("; ".join(f"Box-Cox λ {x:g} for {i}" for i, x in chosen))
        else:
            parts.append(f"{label} for " + ", ".join(i for i, _ in chosen))
    return ("auto: " + "; ".join(parts)
            + " (λ = 1 − how fast the spread grows with the level)")
