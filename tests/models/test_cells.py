"""TanhCell and build_tanh_rnn against keras.layers.SimpleRNN, hand-computed numbers, saving.

Backend-neutral: the whole file also runs under ``KERAS_BACKEND=jax`` (tests/test_backends.py
runs it that way), with gradients from ``jax.grad`` instead of ``tf.GradientTape``.
"""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
BACKEND = keras.config.backend()

from forecaster.models.cells import TanhCell, TanhRNN, build_tanh_rnn  # noqa: E402

ATOL = 1e-5

# (batch, time, features, units): batch 1 and time 1 included.
SHAPES = [(1, 1, 1, 3), (1, 6, 2, 4), (5, 1, 3, 2), (4, 9, 1, 8), (3, 5, 4, 6)]


def plain_rnn(units, return_sequences, **kwargs):
    return keras.layers.RNN(TanhCell(units), return_sequences=return_sequences, **kwargs)


def fast_rnn(units, return_sequences, **kwargs):
    return build_tanh_rnn(units, return_sequences=return_sequences)


def fast_rnn_loop(units, return_sequences, **kwargs):
    return TanhRNN(TanhCell(units), return_sequences=return_sequences, unroll=False, **kwargs)


def fast_rnn_unrolled(units, return_sequences, **kwargs):
    return TanhRNN(TanhCell(units), return_sequences=return_sequences, unroll=True, **kwargs)


FACTORIES = [plain_rnn, fast_rnn, fast_rnn_loop, fast_rnn_unrolled]


def _pair(factory, batch, time, features, units, return_sequences, seed=0, **kwargs):
    """A SimpleRNN and our layer, both built, with the SimpleRNN's weights copied across."""
    rng = np.random.default_rng(seed)
    reference = keras.layers.SimpleRNN(units, return_sequences=return_sequences, **kwargs)
    ours = factory(units, return_sequences, **kwargs)
    x = rng.standard_normal((batch, time, features)).astype("float32")
    reference(x)
    ours(x)
    # Non-zero bias so that the bias path is exercised too.
    kernel, recurrent, bias = reference.get_weights()
    reference.set_weights([kernel, recurrent, rng.standard_normal(bias.shape).astype("float32")])
    ours.set_weights(reference.get_weights())
    return reference, ours, x


def _weighted_loss(ops, out):
    # A weighted sum so every output element gets a different upstream gradient.
    # Divided by the size so that gradients stay O(1) and 1e-5 is a float32-fair bar.
    n = int(np.prod(out.shape))
    w = ops.reshape(ops.arange(n, dtype=out.dtype), tuple(out.shape)) / n
    return ops.sum(ops.sin(out) * w) / n


def _outputs_and_grads(layer, x):
    """The layer's output on ``x`` and the gradients of a weighted loss with respect to
    ``[x, kernel, recurrent_kernel, bias]``, under the TensorFlow or the JAX backend."""
    from keras import ops

    if BACKEND == "jax":
        import jax

        trainable = [v.value for v in layer.trainable_variables]
        frozen = [v.value for v in layer.non_trainable_variables]

        def loss(x, weights):
            out, _ = layer.stateless_call(weights, frozen, x)
            return _weighted_loss(ops, out), out

        (_, out), (gx, gw) = jax.value_and_grad(loss, argnums=(0, 1), has_aux=True)(
            ops.convert_to_tensor(x), trainable)
        return np.asarray(out), [np.asarray(g) for g in [gx, *gw]]
    tf = pytest.importorskip("tensorflow")
    x = tf.Variable(x)
    with tf.GradientTape() as tape:
        out = layer(x)
        loss = _weighted_loss(ops, out)
    grads = tape.gradient(loss, [x] + list(layer.trainable_weights))
    return out.numpy(), [g.numpy() for g in grads]


@pytest.mark.parametrize("factory", FACTORIES, ids=lambda f: f.__name__)
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "b{}-t{}-f{}-h{}".format(*s))
def test_matches_simple_rnn_outputs_and_gradients(factory, return_sequences, shape):
    reference, ours, x = _pair(factory, *shape, return_sequences)
    ref_out, ref_grads = _outputs_and_grads(reference, x)
    out, grads = _outputs_and_grads(ours, x)
    assert [w.path.split("/")[-1] for w in ours.weights] == ["kernel", "recurrent_kernel", "bias"]
    assert out.shape == ref_out.shape
    np.testing.assert_allclose(out, ref_out, atol=ATOL, rtol=0)
    assert len(grads) == len(ref_grads) == 4  # input, kernel, recurrent_kernel, bias
    for g, ref in zip(grads, ref_grads):
        np.testing.assert_allclose(g, ref, atol=ATOL, rtol=0)


@pytest.mark.parametrize("factory", [plain_rnn, fast_rnn_loop, fast_rnn_unrolled],
                         ids=lambda f: f.__name__)
@pytest.mark.parametrize("kwargs", [{"go_backwards": True}, {"return_state": True}, {}],
                         ids=["go_backwards", "return_state", "mask"])
def test_matches_simple_rnn_with_go_backwards_state_and_mask(factory, kwargs):
    x = np.random.default_rng(3).standard_normal((3, 5, 2)).astype("float32")
    x[0, 3:] = 0.0  # padded tails, masked in the "mask" case
    x[2, 1:] = 0.0
    if not kwargs:
        x = keras.layers.Masking(0.0)(x)
    reference, ours, _ = _pair(factory, 3, 5, 2, 4, True, **kwargs)
    ref_out, out = keras.tree.flatten(reference(x)), keras.tree.flatten(ours(x))
    assert len(out) == len(ref_out)
    for a, b in zip(out, ref_out):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=ATOL, rtol=0)


@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("factory", FACTORIES, ids=lambda f: f.__name__)
def test_hand_computed_example(factory, use_bias):
    # W_xh = 0.1 everywhere (2x2), W_hh = 0.2 everywhere (2x2), b = 0.05, x = [[1, 2], [0.5, -1]]:
    #   h1 = tanh(0.1*(1+2) + 0.05)                    = tanh(0.35)
    #   h2 = tanh(0.1*(0.5-1) + 0.05 + 0.2*(h1 + h1))  = tanh(0.4*h1)
    # without the bias:
    #   h1 = tanh(0.3), h2 = tanh(-0.05 + 0.4*h1)
    x = np.array([[[1.0, 2.0], [0.5, -1.0]]], dtype="float32")
    if factory is plain_rnn:  # through the constant initialisers
        layer = keras.layers.RNN(TanhCell(
            2,
            use_bias=use_bias,
            kernel_initializer=keras.initializers.Constant(0.1),
            recurrent_initializer=keras.initializers.Constant(0.2),
            bias_initializer=keras.initializers.Constant(0.05),
        ), return_sequences=True)
    else:  # through set_weights
        layer = factory(2, True)
        if use_bias:
            layer(x)
            layer.set_weights([np.full((2, 2), 0.1), np.full((2, 2), 0.2), np.full(2, 0.05)])
        else:
            layer = TanhRNN(TanhCell(2, use_bias=False), return_sequences=True,
                            unroll=layer.unroll)
            layer(x)
            layer.set_weights([np.full((2, 2), 0.1), np.full((2, 2), 0.2)])
    out = layer(x)
    if use_bias:
        expected = [[[0.3363755443363322] * 2, [0.13374409973979837] * 2]]
    else:
        expected = [[[0.2913126124515909] * 2, [0.06642708105736761] * 2]]
    np.testing.assert_allclose(np.asarray(out), expected, atol=1e-6, rtol=0)


def test_cell_step_returns_output_and_state_list():
    cell = TanhCell(3, kernel_initializer="ones", recurrent_initializer="zeros")
    x = np.ones((2, 4), dtype="float32")
    h, states = cell(x, [np.zeros((2, 3), dtype="float32")])
    assert isinstance(states, list) and len(states) == 1
    np.testing.assert_allclose(np.asarray(h), np.tanh(4.0) * np.ones((2, 3)), atol=1e-6)
    np.testing.assert_allclose(np.asarray(states[0]), np.asarray(h))
    assert cell.state_size == 3 and cell.output_size == 3


def test_get_config_round_trip():
    cell = TanhCell(5, use_bias=False, kernel_regularizer="l2", seed=7, name="c")
    config = cell.get_config()
    assert config["units"] == 5 and config["use_bias"] is False and config["seed"] == 7
    assert TanhCell.from_config(config).get_config() == config

    layer = build_tanh_rnn(4, return_sequences=True, name="rnn", seed=3)
    config = keras.saving.serialize_keras_object(layer)
    clone = keras.saving.deserialize_keras_object(config)
    assert isinstance(clone, TanhRNN) and isinstance(clone.cell, TanhCell)
    assert clone.get_config() == layer.get_config()
    assert clone.return_sequences is True and clone.name == "rnn"


def test_seed_makes_weights_reproducible():
    a, b, c = (TanhCell(4, seed=s) for s in (1, 1, 2))
    for cell in (a, b, c):
        cell.build((None, 3))
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    assert not np.array_equal(a.get_weights()[0], c.get_weights()[0])


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "8"])
def test_units_must_be_positive_integer(bad):
    with pytest.raises(ValueError, match=r"`units` must be a positive integer\. Got "):
        TanhCell(bad)


def test_tanh_rnn_unrolls_only_static_moderate_lengths():
    from forecaster.models.cells import MAX_UNROLL

    layer = build_tanh_rnn(3)
    assert layer.unroll is None
    assert layer._should_unroll(MAX_UNROLL) and not layer._should_unroll(MAX_UNROLL + 1)
    assert not layer._should_unroll(None)
    assert TanhRNN(TanhCell(3), unroll=False)._should_unroll(4) is False
    assert TanhRNN(TanhCell(3), unroll=True)._should_unroll(MAX_UNROLL + 1) is True


def test_variable_length_input_uses_the_loop_and_matches_simple_rnn():
    inputs = keras.Input((None, 2))
    ours = build_tanh_rnn(4)
    reference = keras.layers.SimpleRNN(4)
    model = keras.Model(inputs, [ours(inputs), reference(inputs)])
    ours.set_weights(reference.get_weights())
    for steps in (1, 7):
        x = np.random.default_rng(steps).standard_normal((2, steps, 2)).astype("float32")
        a, b = model.predict(x, verbose=0)
        np.testing.assert_allclose(a, b, atol=ATOL, rtol=0)


def test_tanh_rnn_requires_a_tanh_cell():
    with pytest.raises(ValueError, match=r"`cell` must be a TanhCell\. Got SimpleRNNCell\."):
        TanhRNN(keras.layers.SimpleRNNCell(3))


@pytest.mark.parametrize("make_layer", [
    lambda: keras.layers.RNN(TanhCell(6, seed=1)),
    lambda: build_tanh_rnn(6, seed=1),
    lambda: build_tanh_rnn(6, return_sequences=True, seed=1),
], ids=["rnn-tanhcell", "build_tanh_rnn", "build_tanh_rnn-seq"])
def test_model_saves_and_reloads_with_safe_mode(tmp_path, make_layer):
    layer = make_layer()
    layers = [keras.Input((7, 2)), layer]
    if layer.return_sequences:
        layers.append(keras.layers.Flatten())
    model = keras.Sequential(layers + [keras.layers.Dense(3)])
    x = np.random.default_rng(0).standard_normal((4, 7, 2)).astype("float32")
    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(reloaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert type(reloaded.layers[0]) is type(layer)
    assert isinstance(reloaded.layers[0].cell, TanhCell)
