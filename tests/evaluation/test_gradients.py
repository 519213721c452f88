"""The gradient-norm diagnostic: the manual unroll is the model's own computation, and the
norms show vanishing (tiny recurrent weights) and exploding (large recurrent weights)."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from forecaster.evaluation.gradients import gradient_norms, unrolled_output  # noqa: E402

T, F, H, UNITS, BATCH = 12, 3, 4, 5, 6


@pytest.fixture(autouse=True, scope="module")
def exact_float32():
    """On Ampere+ GPUs TensorFloat-32 matmuls (~1e-3 relative) would blur the comparisons."""
    if keras.config.backend() == "jax":
        import jax

        with jax.default_matmul_precision("float32"):
            yield
        return
    import tensorflow as tf

    before = tf.config.experimental.tensor_float_32_execution_enabled()
    tf.config.experimental.enable_tensor_float_32_execution(False)
    yield
    tf.config.experimental.enable_tensor_float_32_execution(before)


def _model(recurrent, *more):
    inputs = keras.Input((T, F))
    out = recurrent(inputs)
    for layer in more:
        out = layer(out)
    out = keras.layers.Dense(H)(out)
    return keras.Model(inputs, out)


def _tanh_rnn_cell(units):
    cells = pytest.importorskip("forecaster.models.cells")
    return keras.layers.RNN(cells.TanhCell(units))


def _tanh_rnn_fast(units):
    cells = pytest.importorskip("forecaster.models.cells")
    return cells.build_tanh_rnn(units)


LAYERS = {
    "simple_rnn": lambda: keras.layers.SimpleRNN(UNITS),
    "rnn_cell": lambda: keras.layers.RNN(keras.layers.SimpleRNNCell(UNITS)),
    "lstm": lambda: keras.layers.LSTM(UNITS),
    "gru": lambda: keras.layers.GRU(UNITS),
    "gru_reset_before": lambda: keras.layers.GRU(UNITS, reset_after=False),
    "simple_rnn_backwards": lambda: keras.layers.SimpleRNN(UNITS, go_backwards=True),
    "tanh_cell": lambda: _tanh_rnn_cell(UNITS),
    "tanh_rnn": lambda: _tanh_rnn_fast(UNITS),
}


@pytest.fixture
def batch():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(BATCH, T, F)).astype("float32")
    y = rng.normal(size=(BATCH, H)).astype("float32")
    return x, y


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_manual_unroll_reproduces_model_output(kind, batch):
    keras.utils.set_random_seed(1)
    model = _model(LAYERS[kind]())
    x, y = batch
    expected = np.asarray(model(x))
    np.testing.assert_allclose(unrolled_output(model, x), expected, rtol=1e-5, atol=1e-5)
    norms = gradient_norms(model, x, y)
    assert norms.shape == (T,)
    assert norms.dtype == np.float64
    assert np.all(np.isfinite(norms)) and np.all(norms > 0)


@pytest.mark.parametrize(
    "stack",
    [
        lambda: (keras.layers.SimpleRNN(UNITS, return_sequences=True), keras.layers.LSTM(4)),
        lambda: (keras.layers.GRU(UNITS, return_sequences=True), keras.layers.GRU(4)),
        lambda: (
            keras.layers.LSTM(UNITS, return_sequences=True),
            keras.layers.SimpleRNN(4, return_sequences=True),
            keras.layers.SimpleRNN(3),
        ),
    ],
    ids=["simple_rnn>lstm", "gru>gru", "lstm>simple_rnn>simple_rnn"],
)
def test_manual_unroll_reproduces_stacked_model_output(stack, batch):
    keras.utils.set_random_seed(2)
    model = _model(*stack())
    x, y = batch
    np.testing.assert_allclose(
        unrolled_output(model, x), np.asarray(model(x)), rtol=1e-5, atol=1e-5
    )
    assert gradient_norms(model, x, y).shape == (T,)


def test_sequential_model_is_supported(batch):
    keras.utils.set_random_seed(3)
    model = keras.Sequential(
        [keras.Input((T, F)), keras.layers.SimpleRNN(UNITS), keras.layers.Dense(H)]
    )
    x, y = batch
    np.testing.assert_allclose(
        unrolled_output(model, x), np.asarray(model(x)), rtol=1e-5, atol=1e-5
    )


def test_exact_numbers_for_a_one_unit_elman_rnn():
    """h_t = tanh(x_t + 0.5 h_{t-1}), out = h_3, loss = (h_3 - y)²: BPTT by hand."""
    inputs = keras.Input((3, 1))
    rnn = keras.layers.SimpleRNN(1)
    dense = keras.layers.Dense(1)
    model = keras.Model(inputs, dense(rnn(inputs)))
    rnn.set_weights([np.array([[1.0]]), np.array([[0.5]]), np.array([0.0])])
    dense.set_weights([np.array([[1.0]]), np.array([0.0])])
    x = np.array([[[0.3], [-0.2], [0.4]]], dtype="float32")
    y = np.array([[0.1]], dtype="float32")

    h1 = np.tanh(0.3)
    h2 = np.tanh(-0.2 + 0.5 * h1)
    h3 = np.tanh(0.4 + 0.5 * h2)
    g3 = 2.0 * (h3 - 0.1)
    g2 = g3 * (1.0 - h3**2) * 0.5
    g1 = g2 * (1.0 - h2**2) * 0.5

    norms = gradient_norms(model, x, y)
    np.testing.assert_allclose(norms, np.abs([g1, g2, g3]), rtol=1e-5)


def _elman(scale, steps=24, units=8):
    """SimpleRNN with W_hh = scale·I, W_xh = I-ish, zero bias; tiny inputs keep tanh linear."""
    inputs = keras.Input((steps, 1))
    rnn = keras.layers.SimpleRNN(units)
    model = keras.Model(inputs, keras.layers.Dense(1)(rnn(inputs)))
    kernel = np.full((1, units), 1.0 / np.sqrt(units))
    rnn.set_weights([kernel, scale * np.eye(units), np.zeros(units)])
    rng = np.random.default_rng(5)
    x = (1e-3 * rng.normal(size=(4, steps, 1))).astype("float32")
    y = np.ones((4, 1), dtype="float32")
    return model, x, y


def test_tiny_recurrent_weights_make_gradients_vanish_towards_the_start():
    model, x, y = _elman(0.05)
    norms = gradient_norms(model, x, y)
    assert norms[-1] > 0
    assert np.all(np.diff(norms) >= 0), norms  # grows towards the recent end
    assert norms[0] < 1e-6 * norms[-1]
    assert norms[-2] < 0.06 * norms[-1]  # one step back multiplies by ~0.05


def test_large_recurrent_weights_make_gradients_explode_towards_the_start():
    model, x, y = _elman(1.2)
    norms = gradient_norms(model, x, y)
    assert np.all(np.diff(norms) < 0), norms  # grows towards the old end
    # one step back multiplies by ~1.2 (tanh is ~linear here): 1.2**23 ≈ 66
    assert norms[0] > 30 * norms[-1]
    np.testing.assert_allclose(norms[-2] / norms[-1], 1.2, rtol=0.02)


def test_model_without_recurrent_layer_is_rejected():
    inputs = keras.Input((T, F))
    model = keras.Model(inputs, keras.layers.Dense(H)(keras.layers.Flatten()(inputs)))
    with pytest.raises(ValueError, match="must contain a keras.layers.RNN layer"):
        gradient_norms(model, np.zeros((1, T, F)), np.zeros((1, H)))


def test_wrong_target_size_is_rejected(batch):
    model = _model(keras.layers.SimpleRNN(UNITS))
    x, _ = batch
    with pytest.raises(ValueError, match="`y` must have one value per model output"):
        gradient_norms(model, x, np.zeros((BATCH, H + 1)))


@pytest.mark.parametrize("kind", ["simple_rnn", "tanh_cell", "lstm", "gru"])
@pytest.mark.parametrize("layers", [1, 2])
def test_models_from_the_product_builder(kind, layers, batch):
    """The networks `forecast train` actually builds (forecaster.models.rnn)."""
    rnn = pytest.importorskip("forecaster.models.rnn")
    model = rnn.build_model(kind, window=T, horizon=H, units=UNITS, layers=layers,
                            n_features=F, seed=3)
    x, y = batch
    np.testing.assert_allclose(
        unrolled_output(model, x), np.asarray(model(x)), rtol=1e-5, atol=1e-5
    )
    norms = gradient_norms(model, x, y)
    assert norms.shape == (T,) and np.all(np.isfinite(norms)) and np.all(norms > 0)
