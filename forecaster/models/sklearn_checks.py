"""The content of a deployed lag regressor's scikit-learn pipeline, checked after skops
rebuilt it from ``baseline.skops`` and before any of it runs.

skops refuses types it does not trust, but a trusted type is not trusted content: a
``sklearn.tree._tree.Tree`` whose child or feature indices point outside its arrays makes
compiled code read out of bounds (a segfault, not an exception), and a Ridge with a NaN
coefficient forecasts NaN.  So the pipeline must have exactly the shape forecaster
writes — ``Pipeline([("features", ColumnTransformer), ("model", estimator)])`` with the
estimator that the baseline's name stands for — and every array that compiled code or the
arithmetic reads is checked: shapes against the number of features, indices in range,
numbers finite.  The feature step is rebuilt from its checked numbers (its private
bookkeeping is not taken from the file), and so is a nearest-neighbours search tree.
Anything else is an :class:`~forecaster.errors.ArtifactError` through ``bad``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor
from sklearn.linear_model import Ridge
from sklearn.neighbors import KNeighborsRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
from sklearn.tree import DecisionTreeRegressor

__all__ = ["check_pipeline", "ESTIMATORS"]

#: The estimator each lag-regression baseline is made of (:mod:`forecaster.models.baselines`).
ESTIMATORS = {"ridge": Ridge, "random_forest": RandomForestRegressor,
              "hist_gradient_boosting": HistGradientBoostingRegressor,
              "knn": KNeighborsRegressor}
MAX_TREES = 10_000  # far more than the shipped ensembles grow (100 and 200)


def check_pipeline(pipeline, name: str, columns: dict, bad) -> Pipeline:
    """The pipeline of baseline ``name``, checked and with its feature step rebuilt;
    ``columns`` names the input columns by group (``lags``, ``cyclical``,
    ``covariates``, ``categorical``) as baseline.json saves them."""
    if type(pipeline) is not Pipeline or [s for s, _ in pipeline.steps] != ["features",
                                                                            "model"]:
        bad("the scikit-learn model must be a Pipeline of the steps 'features' and 'model'")
    expected = ESTIMATORS.get(name)
    model = pipeline.steps[1][1]
    if expected is None or type(model) is not expected:
        want = expected.__name__ if expected else "no scikit-learn model"
        bad(f"a {name} baseline is a {want}, not a {type(model).__name__}")
    features, width = _features(pipeline.steps[0][1], columns, bad)
    _MODEL_CHECKS[expected](model, width, bad)
    return Pipeline([("features", features), ("model", model)])


def _array(value, shape, what: str, bad, finite: bool = True) -> np.ndarray:
    """``value`` as a float array of ``shape`` (None: any length), finite unless told."""
    if not isinstance(value, np.ndarray) or value.dtype.kind not in "fiu" or \
            value.shape != tuple(value.shape[i] if n is None else n
                                 for i, n in enumerate(shape)) or value.ndim != len(shape):
        bad(f"{what} must be a numeric array of shape {shape}")
    if finite and not np.all(np.isfinite(value)):
        bad(f"{what} must hold finite numbers")
    return value


def _count(value, low: int, high: int, what: str, bad) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or \
            not low <= value <= high:
        bad(f"{what} must be an integer between {low} and {high}")
    return int(value)


# -- the feature step ----------------------------------------------------------------------
def _layout(columns: dict) -> list:
    """``(name, kind, columns)`` of the transformers forecaster fits, in its order."""
    out = [("lags", StandardScaler, columns["lags"])]
    if columns["cyclical"]:
        out.append(("cyclical", "passthrough", columns["cyclical"]))
    if columns["covariates"]:
        out.append(("covariates", "passthrough", columns["covariates"]))
    if columns["categorical"]:
        out.append(("calendar", OneHotEncoder, columns["categorical"]))
    return out


def _features(loaded, columns: dict, bad) -> tuple[ColumnTransformer, int]:
    """A fresh ColumnTransformer holding the loaded one's checked scaler and categories,
    and the number of features it gives the model."""
    layout = _layout(columns)
    fitted = [t for t in getattr(loaded, "transformers_", None) or []
              if not (isinstance(t, tuple) and t[:2] == ("remainder", "drop"))]
    if type(loaded) is not ColumnTransformer or len(fitted) != len(layout) or any(
            not isinstance(t, tuple) or len(t) != 3 or t[0] != n or list(t[2]) != c
            or not _is_kind(t[1], k) for t, (n, k, c) in zip(fitted, layout)):
        bad("the scikit-learn model's features do not match the saved lags and columns "
            "(its feature step differs)")
    order = list(getattr(loaded, "feature_names_in_", []))
    if sorted(order) != sorted(sum((c for _, _, c in layout), [])):
        bad("the scikit-learn model's features do not match the saved lags and columns")
    parts = dict((n, t) for n, t, _ in fitted)
    n_lags = len(columns["lags"])
    mean = _array(getattr(parts["lags"], "mean_", None), (n_lags,), "the lag scaler's mean",
                  bad)
    scale = _array(getattr(parts["lags"], "scale_", None), (n_lags,),
                   "the lag scaler's scale", bad)
    if np.any(scale <= 0):
        bad("the lag scaler's scale must be positive")
    categories = _categories(parts.get("calendar"), len(columns["categorical"]), bad)
    rows = max([2] + [len(c) for c in categories])
    frame = pd.DataFrame({c: np.zeros(rows) for c in order})
    for col, values in zip(columns["categorical"], categories):
        frame[col] = np.resize(values, rows)
    fresh = ColumnTransformer([(n, _fresh(k), c) for n, k, c in layout]).fit(frame)
    scaler = fresh.named_transformers_["lags"]
    scaler.mean_, scaler.scale_, scaler.var_ = (mean.astype(np.float64),
                                                scale.astype(np.float64),
                                                scale.astype(np.float64) ** 2)
    width = n_lags + len(columns["cyclical"]) + len(columns["covariates"]) + sum(
        len(c) for c in categories)
    return fresh, width


def _is_kind(transformer, kind) -> bool:
    """Whether a fitted transformer is of ``kind`` (a fitted ``"passthrough"`` is a
    FunctionTransformer without functions)."""
    if kind == "passthrough":
        return transformer == "passthrough" or (
            type(transformer) is FunctionTransformer and transformer.func is None
            and transformer.inverse_func is None)
    return type(transformer) is kind


def _fresh(kind):
    """An unfitted transformer as :class:`LagRegressionForecaster` makes it."""
    if kind is StandardScaler:
        return StandardScaler()
    if kind is OneHotEncoder:
        return OneHotEncoder(handle_unknown="ignore", sparse_output=False)
    return kind  # "passthrough"


def _categories(encoder, n: int, bad) -> list:
    """The calendar encoder's categories: per column, increasing integers."""
    if n == 0:
        return []
    found = getattr(encoder, "categories_", None)
    if not isinstance(found, list) or len(found) != n:
        bad(f"the calendar encoder must hold {n} lists of categories")
    out = []
    for values in found:
        values = _array(values, (None,), "a calendar category list", bad)
        if not 1 <= len(values) <= 10_000 or np.any(values != np.round(values)) or \
                np.any(np.diff(values) <= 0):
            bad("the calendar categories must be increasing integers")
        out.append(values.astype(np.int64))
    return out


# -- the estimators ------------------------------------------------------------------------
def _ridge(model, width: int, bad) -> None:
    _array(getattr(model, "coef_", None), (width,), "the ridge coefficients", bad)
    intercept = np.asarray(getattr(model, "intercept_", np.nan))
    if intercept.shape != () or intercept.dtype.kind not in "fiu" or \
            not np.isfinite(intercept):
        bad("the ridge intercept must be one finite number")
    _count(getattr(model, "n_features_in_", None), width, width, "the model's feature count",
           bad)


def _tree(tree, width: int, bad) -> None:
    """A fitted ``sklearn.tree._tree.Tree`` of a regressor: every internal node's children
    come after it and inside the arrays, its feature exists, its threshold is finite;
    leaves are leaves; values finite, one output."""
    from sklearn.tree._tree import Tree

    if type(tree) is not Tree or tree.n_features != width or tree.n_outputs != 1 or \
            tree.max_n_classes != 1:
        bad(f"a decision tree must be a regression tree on {width} features")
    count = _count(tree.node_count, 1, 10 ** 8, "a tree's node count", bad)
    left, right = tree.children_left, tree.children_right
    feature, threshold = tree.feature, tree.threshold
    value = _array(tree.value, (count, 1, 1), "a tree's leaf values", bad)
    del value
    index = np.arange(count)
    leaf = left == -1
    inner = ~leaf
    if np.any(right[leaf] != -1) or np.any(left[inner] <= index[inner]) or \
            np.any(right[inner] <= index[inner]) or np.any(left[inner] >= count) or \
            np.any(right[inner] >= count):
        bad("a decision tree's child indices must point to later nodes of the tree")
    if np.any(feature[inner] < 0) or np.any(feature[inner] >= width) or \
            not np.all(np.isfinite(threshold[inner])):
        bad(f"a decision tree's splits need features below {width} and finite thresholds")


def _n_jobs(model, bad) -> None:
    jobs = getattr(model, "n_jobs", None)
    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int)
                             or not -1 <= jobs <= 64 or jobs == 0):
        bad("the model's n_jobs must be None or an integer between -1 and 64 (not 0)")


def _forest(model, width: int, bad) -> None:
    trees = getattr(model, "estimators_", None)
    if not isinstance(trees, list) or not 1 <= len(trees) <= MAX_TREES:
        bad(f"a random forest must hold between 1 and {MAX_TREES} trees")
    _count(getattr(model, "n_features_in_", None), width, width, "the model's feature count",
           bad)
    if getattr(model, "n_outputs_", None) != 1:
        bad("a random forest must have one output")
    _n_jobs(model, bad)
    for tree in trees:
        if type(tree) is not DecisionTreeRegressor or \
                getattr(tree, "n_features_in_", None) != width or \
                getattr(tree, "n_outputs_", None) != 1:
            bad(f"a random forest's trees must be decision trees on {width} features")
        _tree(getattr(tree, "tree_", None), width, bad)


def _boosting(model, width: int, bad) -> None:
    """Histogram gradient boosting on numbers only: one tree per iteration, each a
    ``TreePredictor`` whose nodes point forward inside its array, split on existing
    features at non-NaN thresholds, no categorical splits."""
    from sklearn._loss.link import IdentityLink
    from sklearn._loss.loss import HalfSquaredError
    from sklearn.ensemble._hist_gradient_boosting.common import PREDICTOR_RECORD_DTYPE
    from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor

    _count(getattr(model, "n_features_in_", None), width, width, "the model's feature count",
           bad)
    if getattr(model, "n_trees_per_iteration_", None) != 1 or \
            getattr(model, "_in_fit", False) or getattr(model, "_preprocessor", None) \
            is not None or type(getattr(model, "_loss", None)) is not HalfSquaredError or \
            type(model._loss.link) is not IdentityLink:
        bad("gradient boosting must be a squared-error regressor on numeric features")
    _array(np.asarray(getattr(model, "_baseline_prediction", np.nan), dtype=float), (1, 1),
           "the boosting's baseline prediction", bad)
    mapper = getattr(model, "_bin_mapper", None)
    flags = getattr(mapper, "is_categorical_", None)
    if flags is not None and (not isinstance(flags, np.ndarray) or flags.shape != (width,)
                              or np.any(flags)):
        bad("gradient boosting must not have categorical features")
    rounds = getattr(model, "_predictors", None)
    if not isinstance(rounds, list) or not 1 <= len(rounds) <= MAX_TREES:
        bad(f"gradient boosting must hold between 1 and {MAX_TREES} iterations")
    for trees in rounds:
        if not isinstance(trees, list) or len(trees) != 1 or \
                type(trees[0]) is not TreePredictor:
            bad("gradient boosting must hold one tree per iteration")
        nodes = trees[0].nodes
        if not isinstance(nodes, np.ndarray) or nodes.dtype != PREDICTOR_RECORD_DTYPE or \
                nodes.ndim != 1 or not 1 <= len(nodes) <= 10 ** 8:
            bad("a boosted tree's nodes are malformed")
        index, inner = np.arange(len(nodes)), nodes["is_leaf"] == 0
        if np.any(nodes["is_leaf"] > 1) or np.any(nodes["is_categorical"] != 0) or \
                np.any(nodes["left"][inner] <= index[inner]) or \
                np.any(nodes["right"][inner] <= index[inner]) or \
                np.any(nodes["left"][inner] >= len(nodes)) or \
                np.any(nodes["right"][inner] >= len(nodes)) or \
                np.any(nodes["feature_idx"][inner] < 0) or \
                np.any(nodes["feature_idx"][inner] >= width) or \
                np.any(np.isnan(nodes["num_threshold"][inner])) or \
                not np.all(np.isfinite(nodes["value"])):
            bad(f"a boosted tree's nodes must point to later nodes, split features below "
                f"{width} at numeric thresholds and hold finite values")


def _neighbors(model, width: int, bad) -> None:
    """Nearest neighbours: finite fitted points and targets, Euclidean distance, a valid
    ``n_neighbors``; the search tree is rebuilt from the checked points."""
    from sklearn.neighbors import BallTree, KDTree

    points = _array(getattr(model, "_fit_X", None), (None, width), "the neighbours' points",
                    bad)
    n = len(points)
    _array(getattr(model, "_y", None), (n,), "the neighbours' targets", bad)
    _count(getattr(model, "n_neighbors", None), 1, max(n, 1), "n_neighbors", bad)
    leaf = _count(getattr(model, "leaf_size", None), 1, 10 ** 6, "leaf_size", bad)
    method = getattr(model, "_fit_method", None)
    if method not in ("brute", "kd_tree", "ball_tree") or \
            getattr(model, "weights", None) not in ("uniform", "distance") or \
            getattr(model, "effective_metric_", None) != "euclidean" or \
            getattr(model, "effective_metric_params_", None) not in ({}, None) or \
            getattr(model, "outputs_2d_", False) or getattr(model, "n_samples_fit_", 0) != n:
        bad("nearest neighbours must use Euclidean distance on their fitted points")
    _n_jobs(model, bad)
    model._fit_X = np.ascontiguousarray(points, dtype=np.float64)
    model._tree = None if method == "brute" else (KDTree if method == "kd_tree" else BallTree)(
        model._fit_X, leaf, metric="euclidean")


_MODEL_CHECKS = {Ridge: _ridge, RandomForestRegressor: _forest,
                 HistGradientBoostingRegressor: _boosting, KNeighborsRegressor: _neighbors}
