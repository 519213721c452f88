"""The checks every saved model state shares: its common fields (``format``, ``name``,
``ids``) and the field shapes several models keep (a season, a number per series, a
covariate encoder, a skops pipeline).  A wrong field is one
:class:`~forecaster.errors.ArtifactError` line, ``the deployed baseline is malformed: …``.

Nothing is pickled: ``skops.io`` rebuilds only types it trusts, plus the two tree types our
regressors are made of (:data:`TRUSTED_TYPES`); a file naming any other type is refused.
"""

from __future__ import annotations

import math

import numpy as np

from forecaster.errors import ArtifactError
from forecaster.models.registry import NAMES

__all__ = ["FORMAT", "TRUSTED_TYPES", "bad", "check_header", "season", "floats", "encoder",
           "pipeline"]

FORMAT = 1
#: Types outside skops' default trust that the shipped lag regressors need: the trees of
#: the random forest and of the histogram gradient boosting.  Nothing else is loaded.
TRUSTED_TYPES = ("sklearn.tree._tree.Tree",
                 "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor")


def bad(what):
    """Refuse a saved state: ``what`` is wrong with it."""
    raise ArtifactError(f"the deployed baseline is malformed: {what}.")


def check_header(state) -> list:
    """The state's ``ids`` once its ``format``, ``name`` and ``ids`` are checked."""
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        bad(f"`format` must be {FORMAT}")
    name, ids = state.get("name"), state.get("ids")
    if name not in NAMES:
        bad(f"`name` must be one of {', '.join(NAMES)}, not {name!r:.40}")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids) \
            or len(set(ids)) != len(ids):
        bad("`ids` must be a non-empty list of distinct series ids")
    return ids


def season(state: dict) -> int:
    """The state's ``season``, a positive integer (seasonal naive and Theta keep one)."""
    value = state.get("season")
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        bad("`season` must be a positive integer")
    return value


def floats(values, n: int, key: str) -> np.ndarray:
    """``values``: a list of ``n`` finite numbers (one per series); the message says which
    of the three is wrong."""
    if not isinstance(values, list):
        bad(f"`{key}` must be a list of {n} finite numbers (one per series), not "
            f"{type(values).__name__}")
    if len(values) != n:
        bad(f"`{key}` must hold {n} numbers (one per series), not {len(values)}")
    wrong = [v for v in values if isinstance(v, bool) or not isinstance(v, (int, float))
             or not math.isfinite(v)]
    if wrong:
        bad(f"`{key}` must hold finite numbers; got {wrong[0]!r:.40}")
    return np.asarray(values, dtype=np.float64)


def encoder(data, axis):
    """The covariate encoder saved as ``data`` (None without covariates)."""
    if data is None:
        return None
    from forecaster.data.features import CovariateEncoder

    try:
        return CovariateEncoder.from_json(data, axis)
    except (KeyError, TypeError, ValueError) as exc:
        bad(f"its covariate encoder: {exc}")


def pipeline(blob):
    """The scikit-learn pipeline from skops bytes, trusting only skops' defaults and
    :data:`TRUSTED_TYPES`."""
    if not isinstance(blob, (bytes, bytearray)) or not blob:
        bad("the fitted scikit-learn model is missing")
    import skops.io
    from sklearn.pipeline import Pipeline

    try:
        untrusted = set(skops.io.get_untrusted_types(data=bytes(blob)))
    except Exception as exc:  # noqa: BLE001 - any unreadable archive is a bad file
        bad(f"its scikit-learn model cannot be read ({type(exc).__name__})")
    refused = sorted(untrusted - set(TRUSTED_TYPES))
    if refused:
        bad(f"its scikit-learn model holds types forecaster does not trust: "
            f"{', '.join(refused[:3])}")
    try:
        loaded = skops.io.loads(bytes(blob), trusted=sorted(untrusted))
    except Exception as exc:  # noqa: BLE001
        bad(f"its scikit-learn model cannot be loaded ({type(exc).__name__}: {exc!s:.80})")
    if not isinstance(loaded, Pipeline):
        bad(f"the scikit-learn model must be a Pipeline, not {type(loaded).__name__}")
    return loaded  # its content is checked by check_pipeline
