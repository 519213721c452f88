"""Vanishing/exploding-gradient diagnostic: how much the loss depends on each hidden state.

Backpropagation through time multiplies the gradient by the recurrent Jacobian
``∂h_t/∂h_{t-1}`` once per step. For an Elman RNN ``h_t = tanh(W_hh h_{t-1} + W_xh x_t + b)``
that Jacobian is ``diag(1 - h_t²) · W_hh``; when its norm stays below one the gradient that
reaches the oldest steps of the window shrinks geometrically (vanishing), above one it grows
(exploding). :func:`gradient_norms` measures this directly on a trained model: it returns
``‖∂loss/∂h_t‖`` for every step ``t`` of the input window of the model's *first* recurrent
layer, where ``loss`` is the mean squared error of the model's output on one batch.

How: the first recurrent layer's ``cell`` is unrolled by hand, one step at a time, under a
:class:`tf.GradientTape`, so every hidden state ``h_t`` is a tensor the tape can
differentiate against (``keras.layers.RNN`` hides them inside a symbolic loop). The
resulting sequence (``return_sequences=True``) or last state is fed through the remaining
layers exactly as the model would, and the gradient of the loss is taken with respect to
every ``h_t`` at once. ``∂loss/∂h_t`` is the *total* derivative: it includes every path from
``h_t`` to the loss through the later steps, which is what BPTT propagates. For LSTM the
state is ``[h, c]`` and the diagnostic follows ``h``.

The model is expected to be a linear stack, ``Input(T, F) → recurrent layer(s) → Dense``
(what :mod:`forecaster.models.rnn` builds); only ``model.layers`` is inspected. Works with
``SimpleRNN``, ``LSTM``, ``GRU`` and ``keras.layers.RNN(cell)`` for any single cell that
returns its new hidden state as its output (``TanhCell`` included).

This module imports TensorFlow; it runs at train time and its result is saved in the run's
``diagnostics.json``. Reports only read that file.
"""

from __future__ import annotations

import numpy as np


def _first_recurrent_layer(model):
    import keras

    for index, layer in enumerate(model.layers):
        if isinstance(layer, keras.layers.RNN):
            return index, layer
    names = [f"{layer.name} ({type(layer).__name__})" for layer in model.layers]
    raise ValueError(
        "`model` must contain a keras.layers.RNN layer (SimpleRNN, LSTM, GRU or "
        f"RNN(cell)). Got layers: {names}."
    )


def _unroll(model, x, tape):
    """Run ``model`` on ``x`` with the first recurrent layer unrolled by hand.

    Returns ``(output, hidden)`` where ``hidden`` is the list of the first recurrent layer's
    hidden states in the order the layer processed them, each watched by ``tape``.
    """
    import keras
    import tensorflow as tf

    index, layer = _first_recurrent_layer(model)
    cell = layer.cell
    if isinstance(cell, keras.layers.StackedRNNCells):
        raise ValueError(
            "`model`'s first recurrent layer must wrap a single cell. "
            f"Got {layer.name} with a StackedRNNCells of {len(cell.cells)} cells."
        )

    out = x
    for before in model.layers[:index]:
        if isinstance(before, keras.layers.InputLayer):
            continue
        out = before(out, training=False)
    sequence = tf.cast(out, cell.compute_dtype)
    if sequence.shape.rank != 3:
        raise ValueError(
            "`x` must be a batch of windows of shape (batch, T, features). "
            f"Got shape {tuple(x.shape)}."
        )
    batch_size = int(sequence.shape[0])
    steps = int(sequence.shape[1])

    states = layer.get_initial_state(batch_size)
    if not isinstance(states, (list, tuple)):
        states = [states]
    states = list(states)
    order = range(steps - 1, -1, -1) if layer.go_backwards else range(steps)
    kwargs = {"training": False} if getattr(cell, "_call_has_training_arg", False) else {}

    hidden = []
    for t in order:
        output, new_states = cell(sequence[:, t, :], states, **kwargs)
        if not isinstance(new_states, (list, tuple)):
            new_states = [new_states]
        h = output
        tape.watch(h)
        hidden.append(h)
        # The cell's output *is* its hidden state for every supported cell; feeding the
        # watched tensor on as the next state makes ∂loss/∂h_t cover the recurrent path too.
        states = [h] + list(new_states[1:])

    if layer.return_sequences:
        out = tf.stack(hidden, axis=1)
    else:
        out = hidden[-1]
    if getattr(layer, "return_state", False):
        raise ValueError(
            "`model`'s first recurrent layer must not use return_state=True "
            f"(the diagnostic follows a linear stack). Got {layer.name}."
        )
    for after in model.layers[index + 1 :]:
        out = after(out, training=False)
    return out, hidden


def unrolled_output(model, x) -> np.ndarray:
    """The model's output on ``x`` computed with the first recurrent layer unrolled by hand.

    Equal (to float tolerance) to ``model(x)``; exposed so tests can pin that the manual
    unroll used by :func:`gradient_norms` is the model's own computation.
    """
    import tensorflow as tf

    x = tf.convert_to_tensor(np.asarray(x, dtype="float32"))
    with tf.GradientTape() as tape:
        out, _ = _unroll(model, x, tape)
    return np.asarray(out)


def gradient_norms(model, x, y) -> np.ndarray:
    """Norm of ``∂loss/∂h_t`` for each step ``t`` of the window, oldest step first.

    ``loss = mean((model(x) - y)²)`` over the batch and all horizon outputs; ``h_t`` is the
    hidden state (``h`` of ``[h, c]`` for LSTM) of the model's first recurrent layer after
    reading input step ``t``. The norm is the Frobenius norm of the ``(batch, units)``
    gradient.

    Args:
        model: a built Keras model ``Input(T, F) → recurrent layer(s) → Dense(horizon)``.
        x: input windows, array of shape ``(batch, T, F)``.
        y: targets, array with ``batch * horizon`` values (shape ``(batch, horizon)`` or
            anything that reshapes to the model's output).

    Returns:
        ``np.ndarray`` of shape ``(T,)`` and dtype float64; index 0 is the oldest step of
        the window, index ``T-1`` the most recent (also for ``go_backwards`` layers).
        Small values at the start relative to the end mean vanishing gradients.
    """
    import tensorflow as tf

    x = tf.convert_to_tensor(np.asarray(x, dtype="float32"))
    y = np.asarray(y, dtype="float32")
    with tf.GradientTape() as tape:
        out, hidden = _unroll(model, x, tape)
        out = tf.cast(out, tf.float32)
        if int(np.prod(y.shape)) != int(np.prod(out.shape)):
            raise ValueError(
                "`y` must have one value per model output. "
                f"Got y shape {tuple(y.shape)} for output shape {tuple(out.shape)}."
            )
        target = tf.reshape(tf.convert_to_tensor(y), tf.shape(out))
        loss = tf.reduce_mean(tf.square(out - target))
    grads = tape.gradient(loss, hidden)
    norms = np.array(
        [0.0 if g is None else float(tf.norm(tf.cast(g, tf.float32))) for g in grads],
        dtype="float64",
    )
    _, layer = _first_recurrent_layer(model)
    if layer.go_backwards:
        norms = norms[::-1].copy()
    return norms
