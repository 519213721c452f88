"""The single-process fit loops (the runtime they need is :mod:`forecaster.training.runtime`, what
they share with the data-parallel loop of :mod:`forecaster.training.distributed` is
:mod:`forecaster.training.fit_common`).

Adam with gradient clipping (Keras ``clipnorm``: each gradient to norm <= 1), early
stopping on the time-ordered validation tail (:func:`early_stopping`, best weights
restored), a stop on a NaN or infinite loss, and a check that turns divergence into a
:class:`~forecaster.errors.TrainingError` naming the likely causes instead of a saved,
broken model.  Under TensorFlow the loop is this module's own compiled one
(:func:`_fit_tensorflow`); under JAX it is Keras's ``model.fit``.
"""

from __future__ import annotations

import math
import time

import numpy as np

from forecaster.training.fit_common import (FitResult, check_stops, early_stopping, ema_momentum,
                                 fit_result, pointwise_loss, start_early_stopping)
from forecaster.training.runtime import check_interrupt

STEPS_PER_EXECUTION = 16


def _as_dataset(sampler):
    import keras

    class _Batches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__(workers=1, use_multiprocessing=False)

        def __len__(self):
            return len(sampler)

        def __getitem__(self, i):
            return sampler[i]

        def on_epoch_end(self):
            sampler.on_epoch_end()

    return _Batches()


def fit_model(model, sampler, validation, *, epochs: int, learning_rate: float,
              clipnorm: float, patience: int, progress=None, loss: str = "mse",
              strategy=None, average: bool = False) -> FitResult:
    """Train ``model`` (Adam, ``clipnorm``, ``loss``) on ``sampler``'s batches;
    ``validation`` is ``(x, y)`` for early stopping (patience on the validation loss, the
    best weights restored), or None to train exactly ``epochs`` epochs.  Returns a
    FitResult; a NaN or infinite loss ends training and raises the divergence error.

    ``sampler`` is a :class:`~forecaster.data.windowing.WindowSampler`, or a wrapper with
    ``.sampler`` and ``.k`` whose targets are repeated ``k`` times (the ensemble's members
    side by side; ``validation`` targets are then already repeated).

    ``average`` (fixed-epoch fits only): the optimizer keeps an exponential moving
    average of the weights (Polyak averaging, :func:`ema_momentum`) and the model ends
    on it.  A fit of a fixed number of epochs otherwise ends wherever its last batches
    left it: on M1 quarterly the refit's MASE spanned 1.705-1.784 over three seeds,
    1.720-1.729 averaged.

    ``progress(epoch, epochs, loss, val_loss)`` is called after each epoch when given.
    Under TensorFlow :func:`_fit_tensorflow` runs its own compiled loop; under JAX Keras's
    jitted ``model.fit`` trains.  With a ``tf.distribute`` ``strategy`` (the model built
    in its scope) :func:`forecaster.training.distributed.fit_distributed` trains instead, with the
    same rules.
    """
    if average and validation is not None:  # early stopping would restore raw weights
        raise ValueError("average=True is for fixed-epoch fits (validation=None).")
    kw = dict(epochs=epochs, learning_rate=learning_rate, clipnorm=clipnorm,
              patience=patience, progress=progress, loss=loss, average=average)
    if strategy is not None:
        from forecaster.training.distributed import fit_distributed

        return fit_distributed(strategy, model, sampler, validation, **kw)
    import keras

    if keras.config.backend() == "tensorflow":
        return _fit_tensorflow(model, sampler, validation, **kw)
    return _fit_keras(model, sampler, validation, **kw)


CHUNK_BATCHES = 32  # most training batches per compiled call
CALL_SECONDS = 0.5  # aim of a call's length: interrupts are checked between calls
FORWARD_BYTES = 128 * 2**20  # activations one forward call may hold (rows_per_call)


def rows_per_call(model, budget: int = FORWARD_BYTES) -> int:
    """How many windows one forward call of ``model`` should take so that its activations
    (about three float32 values per time step and recurrent unit: input projection, state,
    output) stay near ``budget`` bytes: a power of two from 32 to 4096.  A wide ensemble
    reading 168 steps with 640 units in all takes ~100 windows a call; 4,096 at once held
    1.8 GB for one tensor."""
    import keras

    T = int(model.input_shape[1] or 1)
    units = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.RNN):
            size = layer.cell.state_size
            units += sum(size) if isinstance(size, (list, tuple)) else int(size)
    rows = budget / (12.0 * T * max(units, 1))
    return int(min(4096, max(32, 2 ** int(math.log2(max(rows, 1.0))))))


def predict_rows(model, x) -> np.ndarray:
    """``model(x)`` in blocks of :func:`rows_per_call` windows (bounded memory for any
    number of series), as a float64 array; a plain callable gets ``x`` whole."""
    rows = rows_per_call(model) if hasattr(model, "layers") else max(len(x), 1)
    return np.concatenate([np.asarray(model(x[i:i + rows], training=False), dtype=np.float64)
                           for i in range(0, max(len(x), 1), rows)])


def _fit_tensorflow(model, sampler, validation, *, epochs, learning_rate, clipnorm,
                    patience, progress, loss, average) -> FitResult:
    """The TensorFlow loop: each call of one ``tf.function`` runs up to
    :data:`CHUNK_BATCHES` optimizer steps (a ``while_loop`` over a block of batches
    gathered by the sampler in one NumPy operation; fewer when a call would take more than
    about :data:`CALL_SECONDS`, so that Ctrl-C is answered promptly), so Python,
    ``tf.data`` and Keras's per-batch and per-epoch machinery are out of the hot path: on
    ``air_passengers`` (four batches an epoch) that machinery cost more than the maths.
    Same optimizer, clipping, loss, batch order and early-stopping rule as ``model.fit``;
    the epoch's loss is the batch losses' mean weighted by batch size, as Keras reports
    it."""
    import keras

    tile = int(getattr(sampler, "k", 1))
    sampler = getattr(sampler, "sampler", sampler)
    steps = len(sampler)
    optimizer = keras.optimizers.Adam(learning_rate=learning_rate, clipnorm=clipnorm,
                                      use_ema=average,
                                      ema_momentum=ema_momentum(epochs * steps))
    variables = model.trainable_variables
    optimizer.build(variables)
    train_chunk, validation_sum = _compiled_steps(model, optimizer, loss, tile)
    stopper = None if validation is None else start_early_stopping(model, patience)
    losses, val_losses = [], []
    started = time.perf_counter()
    sampler.on_epoch_end()  # a fresh order before the first epoch, as Keras's fit does
    per_call = CHUNK_BATCHES
    for epoch in range(epochs):
        epoch_loss, per_call = _train_epoch(sampler, train_chunk, steps, per_call)
        sampler.on_epoch_end()
        losses.append(epoch_loss)
        if validation is not None:
            x_val, y_val = validation
            rows = rows_per_call(model)
            v = sum(float(validation_sum(x_val[i:i + rows], y_val[i:i + rows]))
                    for i in range(0, len(y_val), rows))
            val_losses.append(v / max(len(y_val), 1))
        if progress is not None:
            progress(epoch + 1, epochs, losses[-1], val_losses[-1] if val_losses else None)
        if not all(math.isfinite(v) for v in (losses[-1], *val_losses[-1:])):
            break  # TerminateOnNaN; fit_result raises the divergence error
        if stopper is not None:
            stopper.on_epoch_end(epoch, {"loss": losses[-1], "val_loss": val_losses[-1]})
            if model.stop_training:
                break
    if stopper is not None:
        stopper.on_train_end()
    if average:  # end on the weights' moving average
        optimizer.finalize_variable_values(variables)
    return fit_result(losses, val_losses, seconds=time.perf_counter() - started,
                      learning_rate=learning_rate)


def _compiled_steps(model, optimizer, loss: str, tile: int):
    """``(train_chunk(xs, ys) -> the batch losses, validation_sum(x, y))``, the two
    ``tf.function``s of the loop; targets are repeated ``tile`` times (one copy per
    ensemble member)."""
    import tensorflow as tf

    T, F = int(model.input_shape[1]), int(model.input_shape[2])
    outputs = int(model.output_shape[-1])
    variables = model.trainable_variables
    point = pointwise_loss(loss, tf)

    def train_step(i, xs, ys, losses):
        y = ys[i] if tile == 1 else tf.tile(ys[i], [1, tile])
        with tf.GradientTape() as tape:
            value = tf.reduce_mean(point(y - model(xs[i], training=True)))
        optimizer.apply_gradients(zip(tape.gradient(value, variables), variables))
        return i + 1, xs, ys, losses.write(i, value)

    # an explicit while_loop, no AutoGraph (which warns on these closures)
    @tf.function(autograph=False,
                 input_signature=[tf.TensorSpec((None, None, T, F), tf.float32),
                                  tf.TensorSpec((None, None, outputs // tile), tf.float32)])
    def train_chunk(xs, ys):
        n = tf.shape(xs)[0]
        _, _, _, losses = tf.while_loop(
            lambda i, *_: i < n, train_step,
            (tf.constant(0), xs, ys, tf.TensorArray(tf.float32, size=n)))
        return losses.stack()

    @tf.function(autograph=False,
                 input_signature=[tf.TensorSpec((None, T, F), tf.float32),
                                  tf.TensorSpec((None, outputs), tf.float32)])
    def validation_sum(x, y):
        return tf.reduce_sum(tf.reduce_mean(point(y - model(x, training=False)), axis=-1))

    return train_chunk, validation_sum


def _train_epoch(sampler, train_chunk, steps: int, per_call: int) -> tuple[float, int]:
    """One epoch in calls of ``per_call`` batches: ``(its loss, the next per_call)`` — as
    many batches a call as take about :data:`CALL_SECONDS` (the same steps either way)."""
    total = count = 0.0
    first = 0
    while first < steps:
        check_interrupt()
        check_stops()
        stop = min(steps, first + per_call)
        began = time.perf_counter()
        for xs, ys in sampler.blocks(first, stop):
            values = train_chunk(xs, ys).numpy().astype(np.float64)
            total += float(values.sum()) * ys.shape[1]
            count += len(values) * ys.shape[1]
        per_batch = (time.perf_counter() - began) / (stop - first)
        per_call = int(min(CHUNK_BATCHES, max(1, CALL_SECONDS / max(per_batch, 1e-6))))
        first = stop
    return total / max(count, 1.0), per_call


def _fit_keras(model, sampler, validation, *, epochs, learning_rate, clipnorm, patience,
               progress, loss, average) -> FitResult:
    """Keras's ``model.fit`` (the JAX backend: its step ``jax.jit``-compiled)."""
    import keras

    # Several batches per compiled call: Keras's per-batch Python overhead otherwise
    # dominates these small networks (measured: epochs ~1.8x faster at 16).
    model.compile(optimizer=keras.optimizers.Adam(
                      learning_rate=learning_rate, clipnorm=clipnorm, use_ema=average,
                      ema_momentum=ema_momentum(epochs * len(sampler))),
                  loss=loss, jit_compile=keras.config.backend() == "jax",
                  steps_per_execution=max(1, min(STEPS_PER_EXECUTION, len(sampler))))

    class _Progress(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            check_interrupt()
            check_stops()

        def on_epoch_end(self, epoch, logs=None):
            check_interrupt()
            if progress is not None:
                logs = logs or {}
                progress(epoch + 1, epochs, logs.get("loss"), logs.get("val_loss"))

    callbacks = [keras.callbacks.TerminateOnNaN(), _Progress()]
    if validation is not None:  # None: a fixed number of epochs (the refit on all data)
        callbacks.insert(1, early_stopping(patience))
    started = time.perf_counter()
    history = model.fit(_as_dataset(sampler), validation_data=validation, epochs=epochs,
                        verbose=0, shuffle=False, callbacks=callbacks)
    seconds = time.perf_counter() - started
    return fit_result(history.history.get("loss", []), history.history.get("val_loss", []),
                      seconds=seconds, learning_rate=learning_rate)

