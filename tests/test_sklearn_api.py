"""``Forecaster`` follows scikit-learn's estimator conventions (issue 36): ``get_params``,
``set_params`` and ``sklearn.base.clone`` work, and a clone fits to the same numbers."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone

from forecaster import ConfigError, Forecaster
from tests.conftest import DATA

TINY = dict(epochs=2, units=4, ensemble=1, origins=3, patience=2, seed=1)
AIR = DATA / "air_passengers.csv"


def test_get_params_gives_the_constructor_arguments():
    model = Forecaster(profile="quick", **TINY)
    assert model.get_params() == {"profile": "quick", "config": None, **TINY}
    assert model.get_params(deep=False) == model.get_params()


def test_set_params_changes_settings_and_checks_them():
    model = Forecaster(**TINY)
    assert model.set_params(units=8, config=None) is model
    assert model.get_params()["units"] == 8 and model.settings["units"] == 8
    with pytest.raises(ConfigError):
        model.set_params(units=0)
    assert model.get_params()["units"] == 8  # nothing changed by a bad setting
    with pytest.raises(ConfigError):
        model.set_params(unit=3)


def test_clone_is_unfitted_with_the_same_settings_and_fits_to_the_same_numbers():
    model = Forecaster(**TINY).fit(AIR)
    twin = clone(model)
    assert type(twin) is Forecaster and twin is not model
    assert twin.get_params() == model.get_params()
    assert not hasattr(twin, "model_")
    with pytest.raises(ConfigError, match="not fitted yet"):
        twin.predict(3)
    twin.fit(AIR)
    np.testing.assert_array_equal(twin.predict(6)["forecast"], model.predict(6)["forecast"])

