"""Build the Keras network: ``Input(window, 1) → recurrent stack → Dense(horizon)``.

Kept apart from the forecaster (:mod:`forecaster.models.neural`) that owns the data and the
training loop: this module only turns a few hyper-parameters into a model.  Every layer is
a stock Keras layer or the registered :class:`~forecaster.models.cells.TanhCell`, so the
saved model reloads with ``safe_mode=True``.
"""

from __future__ import annotations

import keras

KINDS = ("simple_rnn", "tanh_cell", "lstm", "gru")


def recurrent_layer(kind: str, units: int, *, return_sequences: bool, seed: int, name: str):
    """One recurrent layer of the requested kind."""
    init = dict(
        kernel_initializer=keras.initializers.GlorotUniform(seed=seed),
        recurrent_initializer=keras.initializers.Orthogonal(seed=seed + 1),
    )
    if kind == "simple_rnn":
        return keras.layers.SimpleRNN(units, return_sequences=return_sequences, name=name, **init)
    if kind == "lstm":
        return keras.layers.LSTM(units, return_sequences=return_sequences, name=name, **init)
    if kind == "gru":
        return keras.layers.GRU(units, return_sequences=return_sequences, name=name, **init)
    if kind == "tanh_cell":
        from forecaster.models.cells import build_tanh_rnn

        return build_tanh_rnn(units, return_sequences=return_sequences, name=name, seed=seed)
    raise ValueError(f"kind must be one of {', '.join(KINDS)}. Got {kind!r}.")


def _member(kind, inputs, *, horizon, units, layers, seed, prefix=""):
    """One network: the recurrent stack and its dense multi-output head."""
    h = inputs
    for i in range(layers):
        h = recurrent_layer(kind, units, return_sequences=i < layers - 1, seed=seed + 10 * i,
                            name=f"{prefix}{kind}_{i + 1}")(h)
    return keras.layers.Dense(
        horizon, name=f"{prefix}head",
        kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 99))(h)


def build_model(kind: str, *, window: int, horizon: int, units: int, layers: int = 1,
                n_features: int = 1, seed: int = 0) -> keras.Model:
    """An uncompiled model mapping ``(batch, window, n_features)`` to ``(batch, horizon)``."""
    return build_ensemble(kind, window=window, horizon=horizon, units=units, layers=layers,
                          n_features=n_features, seed=seed)[0]


def build_ensemble(kind: str, *, window: int, horizon: int, units: int, layers: int = 1,
                   n_features: int = 1, seed: int = 0, ensemble: int = 1):
    """Uncompiled models mapping ``(batch, window, n_features)`` to forecasts.

    Returns ``(model, training_model, members)``: ``model`` outputs ``(batch, horizon)``,
    the mean of ``ensemble`` independently initialised networks (seeds ``seed + 1000 j``);
    ``training_model`` shares its layers and outputs the members side by side
    ``(batch, ensemble · horizon)``, so that fitting it on targets tiled ``ensemble`` times
    trains every member on its own error (the loss is the mean of the members' losses, and
    no member sees another's gradient); ``members`` are the single networks as linear
    models (for the gradient diagnostic).  With ``ensemble=1`` all three are one model.
    """
    if ensemble < 1:
        raise ValueError(f"ensemble must be >= 1. Got {ensemble}.")
    inputs = keras.Input(shape=(window, n_features), name="window")
    outs = [_member(kind, inputs, horizon=horizon, units=units, layers=layers,
                    seed=seed + 1000 * j, prefix=f"m{j}_" if j else "")
            for j in range(ensemble)]
    if ensemble == 1:
        model = keras.Model(inputs, outs[0], name=f"forecaster_{kind}")
        return model, model, [model]
    model = keras.Model(inputs, keras.layers.Average(name="ensemble")(outs),
                        name=f"forecaster_{kind}_x{ensemble}")
    training = keras.Model(inputs, keras.layers.Concatenate(name="members")(outs),
                           name=f"forecaster_{kind}_members")
    members = [keras.Model(inputs, o, name=f"member_{j}") for j, o in enumerate(outs)]
    return model, training, members
