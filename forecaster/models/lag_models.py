"""The four shipped lag regressors (:class:`~forecaster.models.lag_regression.LagRegressionForecaster`
presets): each a ``factory(season=None, seed=0)`` the registry names."""

from __future__ import annotations

from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor
from sklearn.linear_model import Ridge
from sklearn.neighbors import KNeighborsRegressor

from forecaster.models.lag_regression import LagRegressionForecaster

__all__ = ["ridge", "random_forest", "hist_gradient_boosting", "knn"]


def _lag_model(name: str, estimator, season):
    model = LagRegressionForecaster(estimator, season=season)
    model.name = name
    return model


def ridge(season=None, seed=0):
    return _lag_model("ridge", Ridge(alpha=1.0), season)


def random_forest(season=None, seed=0):
    return _lag_model("random_forest", RandomForestRegressor(
        n_estimators=100, min_samples_leaf=2, max_features=0.5, random_state=seed, n_jobs=1),
        season)


def hist_gradient_boosting(season=None, seed=0):
    return _lag_model("hist_gradient_boosting", HistGradientBoostingRegressor(
        max_iter=200, learning_rate=0.05, early_stopping=False, random_state=seed), season)


def knn(season=None, seed=0):
    return _lag_model("knn", KNeighborsRegressor(n_neighbors=5, weights="distance"), season)
