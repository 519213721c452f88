"""The training loop's helpers: the weight average of fixed-epoch fits."""

import pytest

from forecaster.training.fit_common import ema_momentum
from forecaster.training.loops import fit_model
from tests.conftest import random_walk_windows


def test_ema_momentum_spans_the_end_of_short_fits():
    assert ema_momentum(10_000) == 0.99
    assert ema_momentum(100) == pytest.approx(0.96)
    assert ema_momentum(1) == 0.0


def test_average_is_refused_with_early_stopping():
    # early stopping restores the best raw weights, which would silently drop the average
    with pytest.raises(ValueError, match="fixed-epoch"):
        fit_model(None, [], ([], []), epochs=1, learning_rate=1e-3, clipnorm=1.0,
                  patience=1, average=True)


def test_patience_grows_with_the_best_epoch():
    from forecaster.training.fit_common import MIN_PATIENCE, patience_after

    assert MIN_PATIENCE == 10
    assert [patience_after(b, 25) for b in (1, 9, 10, 17, 25, 80)] == [10, 10, 10, 17, 25, 25]
    assert [patience_after(b, 5) for b in (1, 40)] == [5, 5]  # a patience below 10 is fixed


@pytest.mark.parametrize("curve_best,stops_at", [(3, 13), (17, 34), (40, 65)])
def test_early_stopping_waits_as_long_as_the_best_took(curve_best, stops_at):
    """A validation loss falling until ``curve_best`` and flat after it: stopped
    max(10, best) epochs later (at most 25), on the best weights."""
    import keras
    import numpy as np

    from forecaster.training.fit_common import start_early_stopping

    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    stopper = start_early_stopping(model, 25)
    best_weights = None
    for epoch in range(200):
        model.layers[0].kernel.assign([[float(epoch)]])
        if epoch + 1 == curve_best:
            best_weights = [np.array(w) for w in model.get_weights()]
        val = 1.0 / min(epoch + 1, curve_best)
        stopper.on_epoch_end(epoch, {"loss": val, "val_loss": val})
        if model.stop_training:
            break
    stopper.on_train_end()
    assert epoch + 1 == stops_at
    np.testing.assert_array_equal(model.get_weights()[0], best_weights[0])


def _windows(n_series=3, length=120, window=16, horizon=6):
    return random_walk_windows(n_series, length, window, horizon)


@pytest.mark.parametrize("loss,average", [("huber", False), ("mse", True), ("mae", False)])
def test_the_compiled_loop_takes_keras_fits_steps(loss, average, monkeypatch):
    """The TensorFlow loop (blocks of batches per compiled call) reproduces Keras's
    ``model.fit`` with the same batches: losses, early stopping, the weight average — for
    a two-member ensemble whose targets are repeated per member, in blocks of 3 batches
    with a short last batch (237 windows, batch 32: 8 batches)."""
    import numpy as np

    from forecaster.training import runtime

    from forecaster.training import loops as training
    from forecaster.data import windowing as W
    from forecaster.models.neural import _Tiled
    from forecaster.models.rnn import build_ensemble

    monkeypatch.setattr(training, "CHUNK_BATCHES", 3)
    train, val = _windows()
    x_val, y_val = val.arrays()
    validation = None if average else (x_val, np.tile(y_val, (1, 2)))
    runs = []
    for fit in (training._fit_tensorflow, training._fit_keras):
        runtime.configure_runtime(1, "cpu")
        _, model, _ = build_ensemble("tanh_cell", window=16, horizon=6, units=5, seed=1,
                                     ensemble=2, lookbacks=[16, 10])
        sampler = _Tiled(W.WindowSampler(train, 32, seed=1), 2)
        assert len(train) % 32 and len(sampler) == 8
        result = fit(model, sampler, validation, epochs=5, learning_rate=1e-2, clipnorm=0.5,
                     patience=1, progress=None, loss=loss, average=average)
        runs.append((result, model.get_weights()))
    (a, wa), (b, wb) = runs
    assert a.epochs_run == b.epochs_run and a.best_epoch == b.best_epoch
    np.testing.assert_allclose(a.loss, b.loss, rtol=1e-5)
    np.testing.assert_allclose(a.val_loss, b.val_loss, rtol=1e-5)
    for x, y in zip(wa, wb):
        np.testing.assert_allclose(x, y, atol=1e-5)


def test_forward_calls_are_sized_to_the_activations():
    """A wide 10-member ensemble reading 168 steps takes 64 windows a call, 48 steps 256;
    a tiny network 4096 — and the blocks give what one call gives."""
    import numpy as np

    from forecaster.models.rnn import build_ensemble
    from forecaster.training.loops import predict_rows, rows_per_call

    def wide(T):
        return build_ensemble("tanh_cell", window=T, horizon=4, units=64, ensemble=10,
                              lookbacks=[T] * 10)[0]

    assert rows_per_call(wide(168)) == 64 and rows_per_call(wide(48)) == 256
    small = build_ensemble("tanh_cell", window=8, horizon=2, units=3)[0]
    assert rows_per_call(small) == 4096
    x = np.random.default_rng(0).normal(size=(300, 48, 1)).astype("float32")
    model = wide(48)
    np.testing.assert_allclose(predict_rows(model, x), np.asarray(model(x)), rtol=1e-5,
                               atol=1e-6)
