"""The one list of the models forecaster compares and deploys beside the RNN, by public
name.  Everything that names models derives from it: the names a run record accepts, the
models ``forecast evaluate`` compares by default, the baselines ``forecast train``
backtests, the ``--models`` help and the kinds a saved baseline may be.

Adding a model is its own module (a :class:`~forecaster.models.base.Model` subclass that
declares its ``name``, ``kind`` and :class:`~forecaster.models.base.Capabilities`, and owns
``get_state``/``from_state`` when deployable) plus one line in :data:`MODELS`.

A line names where the model's factory lives (``"module:attribute"`` under
``forecaster.models``: a model class, whose ``build(season, seed)`` is the factory, or a
function ``factory(season=None, seed=0)``); it is imported on first use, so listing the
names (``forecast --help``, a run record's check) loads no pandas or scikit-learn.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib import import_module

__all__ = ["MODELS", "NAMES", "TRAIN_BACKTEST", "BASELINES", "factory", "make_baseline",
           "model_class", "kinds"]


@dataclass(frozen=True)
class Entry:
    """Where a model's factory lives, and whether ``forecast train`` backtests it (the
    slow ones are left to ``forecast evaluate``)."""

    where: str
    in_train: bool = True


#: Every registered model, in the order tables and help list them.
MODELS = {
    "naive": Entry("baselines:NaiveForecaster"),
    "seasonal_naive": Entry("baselines:SeasonalNaiveForecaster"),
    "drift": Entry("baselines:DriftForecaster"),
    "mean": Entry("baselines:MeanForecaster"),
    "theta": Entry("theta:ThetaForecaster"),
    "ridge": Entry("lag_models:ridge"),
    "random_forest": Entry("lag_models:random_forest", in_train=False),
    "hist_gradient_boosting": Entry("lag_models:hist_gradient_boosting"),
    "knn": Entry("lag_models:knn", in_train=False),
}

#: The public names, in order (what a run's ``deployed`` may be besides ``rnn``).
NAMES = tuple(MODELS)
#: The baselines ``forecast train`` backtests against the RNN.
TRAIN_BACKTEST = tuple(name for name, entry in MODELS.items() if entry.in_train)


def factory(name: str):
    """``factory(season=None, seed=0)`` returning an unfitted model ``name``."""
    module, attribute = MODELS[name].where.split(":")
    found = getattr(import_module(f"forecaster.models.{module}"), attribute)
    return found.build if isinstance(found, type) else found


def make_baseline(name: str, season: int | None = None, seed: int = 0):
    """An unfitted model by registry name; unknown names raise :class:`ConfigError`."""
    if name not in MODELS:
        from forecaster.errors import ConfigError

        raise ConfigError(f"`model` must be one of {', '.join(NAMES)}. Got {name!r}.")
    model = factory(name)(season=season, seed=seed)
    assert model.name == name, f"the factory of {name!r} builds {model.name!r}"
    return model


def model_class(name: str) -> type:
    """The class of model ``name`` (a lag regressor's is the one class of all four)."""
    return type(factory(name)())


def kinds() -> dict:
    """Saved-state ``kind`` → the deployable class that rebuilds it."""
    classes = (model_class(name) for name in NAMES)
    return {cls.kind: cls for cls in classes if cls.capabilities.deployable}


class _Factories(Mapping):
    """Name → factory, resolved on use (what :data:`BASELINES` is)."""

    def __getitem__(self, name):
        if name not in MODELS:
            raise KeyError(name)
        return factory(name)

    def __iter__(self):
        return iter(NAMES)

    def __len__(self):
        return len(NAMES)


#: Public names → ``factory(season=None, seed=0)`` returning an unfitted model.
BASELINES = _Factories()
