"""Vanishing/exploding-gradient diagnostic: how much the loss depends on each hidden state.

Backpropagation through time multiplies the gradient by the recurrent Jacobian
``∂h_t/∂h_{t-1}`` once per step. For an Elman RNN ``h_t = tanh(W_hh h_{t-1} + W_xh x_t + b)``
that Jacobian is ``diag(1 - h_t²) · W_hh``; when its norm stays below one the gradient that
reaches the oldest steps of the window shrinks geometrically (vanishing), above one it grows
(exploding). :func:`gradient_norms` measures this directly on a trained model: it returns
``‖∂loss/∂h_t‖`` for every step ``t`` of the input window of the model's *first* recurrent
layer, where ``loss`` is the mean squared error of the model's output on one batch.

How: the first recurrent layer's ``cell`` is unrolled by hand, one step at a time, and a
zero "probe" ``e_t`` is added to every hidden state it produces (``h_t + e_t`` is what the
next step and the later layers see); ``keras.layers.RNN`` hides the ``h_t`` inside a symbolic
loop, the probes make them inputs of the computation. The resulting sequence
(``return_sequences=True``) or last state is fed through the remaining layers exactly as
the model would, and ``∂loss/∂e_t`` at ``e = 0`` — which equals ``∂loss/∂h_t`` — is taken for
every step at once: with :class:`tf.GradientTape` under TensorFlow, with ``jax.grad`` under
JAX. ``∂loss/∂h_t`` is the *total* derivative: it includes every path from ``h_t`` to the
loss through the later steps, which is what BPTT propagates. For LSTM the state is
``[h, c]`` and the diagnostic follows ``h``.

The model is expected to be a linear stack, ``Input(T, F) → recurrent layer(s) → Dense``
(what :mod:`forecaster.models.rnn` builds); only ``model.layers`` is inspected. Works with
``SimpleRNN``, ``LSTM``, ``GRU`` and ``keras.layers.RNN(cell)`` for any single cell that
returns its new hidden state as its output (``TanhCell`` included).

This module imports the Keras backend's framework (TensorFlow or JAX); it runs at train time
and its result is saved in the run's ``diagnostics.json``. Reports only read that file.
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


def _unroll(model, x, probes=None):
    """Run ``model`` on ``x`` with the first recurrent layer unrolled by hand.

    ``probes`` is ``None`` or one tensor of shape ``(batch, units)`` per time step, in the
    order the layer processes the steps, added to that step's hidden state (zeros, for the
    gradient). Returns ``(output, steps)`` with ``steps`` the number of time steps.
    """
    import keras
    from keras import ops

    index, layer = _first_recurrent_layer(model)
    cell = layer.cell
    if isinstance(cell, keras.layers.StackedRNNCells):
        raise ValueError(
            "`model`'s first recurrent layer must wrap a single cell. "
            f"Got {layer.name} with a StackedRNNCells of {len(cell.cells)} cells."
        )
    if getattr(layer, "return_state", False):
        raise ValueError(
            "`model`'s first recurrent layer must not use return_state=True "
            f"(the diagnostic follows a linear stack). Got {layer.name}."
        )

    out = x
    for before in model.layers[:index]:
        if isinstance(before, keras.layers.InputLayer):
            continue
        out = before(out, training=False)
    if len(out.shape) != 3:
        raise ValueError(
            "`x` must be a batch of windows of shape (batch, T, features). "
            f"Got shape {tuple(x.shape)}."
        )
    sequence = ops.cast(out, cell.compute_dtype)
    batch_size = int(sequence.shape[0])
    steps = int(sequence.shape[1])

    states = layer.get_initial_state(batch_size)
    if not isinstance(states, (list, tuple)):
        states = [states]
    states = list(states)
    order = range(steps - 1, -1, -1) if layer.go_backwards else range(steps)
    kwargs = {"training": False} if getattr(cell, "_call_has_training_arg", False) else {}

    hidden = []
    for k, t in enumerate(order):
        output, new_states = cell(sequence[:, t, :], states, **kwargs)
        if not isinstance(new_states, (list, tuple)):
            new_states = [new_states]
        h = output if probes is None else ops.add(output, ops.cast(probes[k], output.dtype))
        hidden.append(h)
        # The cell's output *is* its hidden state for every supported cell; feeding the
        # probed tensor on as the next state makes ∂loss/∂h_t cover the recurrent path too.
        states = [h] + list(new_states[1:])

    out = ops.stack(hidden, axis=1) if layer.return_sequences else hidden[-1]
    for after in model.layers[index + 1 :]:
        out = after(out, training=False)
    return out, steps


def _units(model, x) -> int:
    """Width of the first recurrent layer's hidden state (what each probe must match)."""
    _, layer = _first_recurrent_layer(model)
    size = layer.cell.state_size
    size = size[0] if isinstance(size, (list, tuple)) else size
    return int(size)


def unrolled_output(model, x) -> np.ndarray:
    """The model's output on ``x`` computed with the first recurrent layer unrolled by hand.

    Equal (to float tolerance) to ``model(x)``; exposed so tests can pin that the manual
    unroll used by :func:`gradient_norms` is the model's own computation.
    """
    from keras import ops

    out, _ = _unroll(model, ops.convert_to_tensor(np.asarray(x, dtype="float32")))
    return np.asarray(ops.convert_to_numpy(out))


def _loss_fn(model, x, y):
    """``probes -> mean((model(x; h_t + probe_t) - y)²)`` in backend ops."""
    from keras import ops

    def loss(probes):
        out, _ = _unroll(model, x, probes)
        out = ops.cast(out, "float32")
        if int(np.prod(y.shape)) != int(np.prod(out.shape)):
            raise ValueError(
                "`y` must have one value per model output. "
                f"Got y shape {tuple(y.shape)} for output shape {tuple(out.shape)}."
            )
        target = ops.reshape(ops.convert_to_tensor(y), tuple(out.shape))
        return ops.mean(ops.square(out - target))

    return loss


def _probe_gradients(model, x, y) -> list:
    """``∂loss/∂h_t`` for every step, in the order the layer processes the steps."""
    import keras

    backend = keras.config.backend()
    batch, steps = int(x.shape[0]), int(x.shape[1])
    shape = (batch, _units(model, x))
    loss = _loss_fn(model, x, y)
    if backend == "tensorflow":
        import tensorflow as tf

        probes = [tf.zeros(shape, dtype=tf.float32) for _ in range(steps)]
        with tf.GradientTape() as tape:
            for p in probes:
                tape.watch(p)
            value = loss(probes)
        grads = tape.gradient(value, probes)
    elif backend == "jax":
        import jax
        import jax.numpy as jnp

        probes = [jnp.zeros(shape, dtype=jnp.float32) for _ in range(steps)]
        grads = jax.grad(loss)(probes)
    else:
        raise NotImplementedError(
            f"the gradient diagnostic supports the tensorflow and jax backends. Got {backend!r}."
        )
    return [None if g is None else np.asarray(g, dtype="float64") for g in grads]


def gradient_norms(model, x, y) -> np.ndarray:
    """Norm of ``∂loss/∂h_t`` for each step ``t`` of the window, oldest step first.

    ``loss = mean((model(x) - y)²)`` over the batch and all horizon outputs; ``h_t`` is the
    hidden state (``h`` of ``[h, c]`` for LSTM) of the model's first recurrent layer after
    reading input step ``t``. The norm is the Frobenius norm of the ``(batch, units)``
    gradient. Runs under the TensorFlow and the JAX backend.

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
    from keras import ops

    x = np.asarray(x, dtype="float32")
    if x.ndim != 3:
        raise ValueError(
            "`x` must be a batch of windows of shape (batch, T, features). "
            f"Got shape {tuple(x.shape)}."
        )
    y = np.asarray(y, dtype="float32")
    grads = _probe_gradients(model, ops.convert_to_tensor(x), y)
    norms = np.array([0.0 if g is None else float(np.linalg.norm(g)) for g in grads],
                     dtype="float64")
    _, layer = _first_recurrent_layer(model)
    if layer.go_backwards:
        norms = norms[::-1].copy()
    return norms
