"""The contract every registered model keeps, checked for each one (in the manner of
scikit-learn's ``check_estimator`` and Keras' ``run_layer_test``): a model added to
:mod:`forecaster.models.registry` is held to it without a test of its own.

The RNN is not registered here (it is built from the run's config and checked by
``tests/models/test_neural.py``); every registered model is."""

import json

import numpy as np
import pandas as pd
import pytest

from forecaster.data.panel import Panel, TimeAxis
from forecaster.errors import ForecastError, NotFittedError
from forecaster.models.base import FORECAST_COLUMNS, Capabilities, Model
from forecaster.models.baseline_state import from_state, to_state
from forecaster.models.registry import MODELS, NAMES, kinds, make_baseline, model_class

MONTHLY = TimeAxis("datetime", "MS")
HORIZON = 5


def _panel(n_series=4, length=48, seed=0) -> Panel:
    rng = np.random.default_rng(seed)
    t = np.arange(length)
    return Panel.from_arrays(
        {f"s{i}": 40 + 8 * np.sin(2 * np.pi * t / 12) + (i + 1) * 0.4 * t
         + rng.normal(0, 1, length) for i in range(n_series)}, MONTHLY)


PANEL = _panel()


@pytest.fixture(scope="module", params=NAMES)
def fitted(request):
    """``(name, a model fitted on PANEL)`` for every registered model."""
    return request.param, make_baseline(request.param, season=12, seed=0).fit(PANEL)


@pytest.mark.parametrize("name", NAMES)
def test_declares_name_and_capabilities(name):
    model = make_baseline(name, season=12, seed=0)
    assert isinstance(model, Model) and model.name == name
    caps = type(model).capabilities
    assert isinstance(caps, Capabilities)
    if caps.deployable:
        assert caps.state in ("json", "json+skops") and isinstance(type(model).kind, str)
        assert kinds()[type(model).kind] is model_class(name)


@pytest.mark.parametrize("name", NAMES)
def test_fit_returns_self(name):
    model = make_baseline(name, season=12, seed=0)
    assert model.fit(PANEL) is model


@pytest.mark.parametrize("name", NAMES)
def test_predict_before_fit_is_the_one_not_fitted_error(name):
    with pytest.raises(NotFittedError, match="must be fitted before predict") as caught:
        make_baseline(name, season=12).predict(3)
    assert isinstance(caught.value, ForecastError)


def test_forecast_frame_has_the_documented_columns(fitted):
    name, model = fitted
    frame = model.predict(HORIZON)
    assert list(frame.columns) == FORECAST_COLUMNS
    assert len(frame) == len(PANEL) * HORIZON
    assert frame["series_id"].tolist() == [s for s in PANEL.ids for _ in range(HORIZON)]
    assert frame["step"].tolist() == list(range(1, HORIZON + 1)) * len(PANEL)
    assert pd.api.types.is_datetime64_any_dtype(frame["timestamp"])
    assert frame["forecast"].dtype == np.float64 and np.isfinite(frame["forecast"]).all()


def test_an_unseen_series_is_forecast_once_adopted(fitted):
    name, _ = fitted
    model = make_baseline(name, season=12, seed=0).fit(PANEL.select(["s0", "s1"]))
    assert model.adopt(PANEL) == ["s2", "s3"]
    frame = model.predict(HORIZON, PANEL)
    assert frame["series_id"].unique().tolist() == list(PANEL.ids)
    assert np.isfinite(frame["forecast"]).all()
    assert model.adopt(PANEL) == []  # adopted once


def test_state_round_trip_through_json_forecasts_the_same(fitted):
    name, model = fitted
    if not model.capabilities.deployable:
        pytest.skip(f"{name} is not deployable")
    state, blob = to_state(model)
    assert state["kind"] == model.kind and state["name"] == name
    assert (blob is None) == (model.capabilities.state == "json")
    restored = from_state(json.loads(json.dumps(state)), blob, PANEL.axis)
    assert type(restored) is type(model) and restored.name == name
    pd.testing.assert_frame_equal(restored.predict(HORIZON, PANEL), model.predict(HORIZON))
    newer = _panel(seed=1)  # new context: the same fitted state forecasts the same
    pd.testing.assert_frame_equal(restored.predict(HORIZON, newer),
                                  model.predict(HORIZON, newer))


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_gives_the_same_numbers(name):
    a = make_baseline(name, season=12, seed=3).fit(PANEL).predict(HORIZON)
    b = make_baseline(name, season=12, seed=3).fit(PANEL).predict(HORIZON)
    pd.testing.assert_frame_equal(a, b)


def test_registry_lines_name_their_models():
    assert set(MODELS) == set(NAMES) and len(NAMES) == len(set(NAMES))
    assert len(kinds()) == len({model_class(n).kind for n in NAMES})
