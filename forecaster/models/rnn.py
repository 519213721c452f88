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


def build_model(kind: str, *, window: int, horizon: int, units: int, layers: int = 1,
                n_features: int = 1, seed: int = 0) -> keras.Model:
    """An uncompiled model mapping ``(batch, window, n_features)`` to ``(batch, horizon)``."""
    inputs = keras.Input(shape=(window, n_features), name="window")
    h = inputs
    for i in range(layers):
        h = recurrent_layer(kind, units, return_sequences=i < layers - 1, seed=seed + 10 * i,
                            name=f"{kind}_{i + 1}")(h)
    outputs = keras.layers.Dense(
        horizon, name="head",
        kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 99))(h)
    return keras.Model(inputs, outputs, name=f"forecaster_{kind}")
