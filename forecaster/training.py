"""Training mechanics: runtime set-up (seeds, determinism, device) and the fit loop.

Adam with gradient clipping (Keras ``clipnorm``: each gradient to norm <= 1), early
stopping on the time-ordered validation tail (:func:`early_stopping`, best weights
restored), a stop on a NaN or infinite loss, and a check that turns divergence into a
:class:`~forecaster.errors.TrainingError` naming the likely causes instead of a saved,
broken model.  Under TensorFlow the loop is this module's own compiled one
(:func:`_fit_tensorflow`); under JAX it is Keras's ``model.fit``.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from forecaster.choices import LOSSES
from forecaster.errors import ConfigError, TrainingError

STEPS_PER_EXECUTION = 16
_INTERRUPTS: list = []  # exceptions signal handlers asked the training loop to raise


def interrupt(exc: BaseException) -> None:
    """Ask the training loop to raise ``exc`` at its next batch.  Signal handlers call this
    as well as raising: an exception raised while Python runs a garbage-collection callback
    (JAX installs one, and Keras imports JAX when it is installed) is printed and dropped,
    and the Ctrl-C or SIGTERM would otherwise be lost."""
    _INTERRUPTS.append(exc)


def clear_interrupts() -> None:
    _INTERRUPTS.clear()


def pending_interrupt() -> BaseException | None:
    """The interrupt a signal handler asked for and nobody has cleared yet, if any."""
    return _INTERRUPTS[0] if _INTERRUPTS else None


def check_interrupt() -> None:
    """Raise the pending interrupt, if any (called between training steps)."""
    pending = pending_interrupt()
    if pending is not None:
        raise pending
_RUNTIME = {"device": None, "debug": False}

#: Keras backends forecaster trains and predicts with (``KERAS_BACKEND``); TensorFlow is the
#: default. ``--distribute`` is TensorFlow-only.
BACKENDS = ("tensorflow", "jax")
DEFAULT_BACKEND = "tensorflow"
_GPU_HINTS = {
    "tensorflow": "Install the gpu extra (pip install 'forecaster[gpu]')",
    "jax": "Install a CUDA build of JAX (pip install 'jax[cuda12]')",
}
_BACKEND_LABELS = {"tensorflow": "TensorFlow", "jax": "JAX"}


def quiet_tensorflow(debug: bool = False) -> None:
    """Silence TensorFlow's start-up chatter (must run before TensorFlow is imported).

    Also makes TensorFlow the Keras backend unless the user chose one with
    ``KERAS_BACKEND`` (``jax`` is supported too), and, for JAX, asks XLA for deterministic
    GPU kernels (same seed => same numbers). Remembers ``debug`` for a later
    :func:`import_backend` / :func:`import_tensorflow` with no argument."""
    _RUNTIME["debug"] = bool(debug)
    if not debug:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", DEFAULT_BACKEND)
    if backend_name() == "jax" and "jax" not in sys.modules:
        flags = os.environ.get("XLA_FLAGS", "")
        if "xla_gpu_deterministic_ops" not in flags:  # read once, when JAX starts
            os.environ["XLA_FLAGS"] = (flags + " --xla_gpu_deterministic_ops=true").strip()


def backend_name() -> str:
    """The Keras backend in use (after ``import keras``) or about to be (before it)."""
    if "keras" in sys.modules:
        import keras

        return keras.config.backend()
    return os.environ.get("KERAS_BACKEND", DEFAULT_BACKEND).strip().lower()


def check_backend() -> str:
    """The backend name; a :class:`ConfigError` if forecaster does not support it."""
    name = backend_name()
    if name not in BACKENDS:
        raise ConfigError(f"KERAS_BACKEND must be one of {', '.join(BACKENDS)} "
                          f"(default {DEFAULT_BACKEND}). Got {name!r}.")
    return name


def backend_version(name: str | None = None) -> str | None:
    """Version of the backend's framework (``tensorflow`` or ``jax``), if importable."""
    name = name or backend_name()
    try:
        return __import__(name).__version__
    except Exception:  # noqa: BLE001 - informational only
        return None


@contextlib.contextmanager
def _stderr_silenced():
    """Send file descriptor 2 to /dev/null (C++ logging ignores Python's sys.stderr)."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real stderr (e.g. under a test runner)
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def import_tensorflow(debug: bool | None = None):
    """Import TensorFlow and Keras, hiding the start-up lines TensorFlow's C++ core prints
    before its logging is initialised (no environment variable silences those).

    ``debug=None`` keeps what :func:`quiet_tensorflow` was last told (default: quiet)."""
    debug = _RUNTIME.get("debug", False) if debug is None else debug
    quiet_tensorflow(debug)
    if debug or "tensorflow" in sys.modules:
        import tensorflow as tf
    else:
        with _stderr_silenced():
            import keras  # noqa: F401
            import tensorflow as tf

            if backend_name() == "tensorflow":
                tf.config.list_physical_devices("GPU")  # device probing logs, too
    return tf


def import_backend(debug: bool | None = None) -> str:
    """Import Keras and its backend quietly; returns the backend name.

    Under TensorFlow this is :func:`import_tensorflow`. Under JAX, JAX does the maths, but
    TensorFlow is imported here all the same when it is installed (quietly): Keras's own
    model serialisation imports it whenever it is importable, and would otherwise do so
    later with TensorFlow's start-up lines on stderr. No TensorFlow device is touched."""
    debug = _RUNTIME.get("debug", False) if debug is None else debug
    quiet_tensorflow(debug)
    name = check_backend()
    if name == "tensorflow":
        import_tensorflow(debug)
        return name
    with contextlib.ExitStack() as stack:
        if not debug:
            stack.enter_context(_stderr_silenced())
        import keras  # noqa: F401

        with contextlib.suppress(ImportError):
            import tensorflow  # noqa: F401
    return name


def _gpus(name: str) -> list:
    """The GPUs the backend can see."""
    if name == "jax":
        import jax

        try:
            return list(jax.devices("gpu"))
        except RuntimeError:  # no GPU platform in this jaxlib, or no device
            return []
    tf = import_tensorflow()
    return tf.config.list_physical_devices("GPU")


def select_device(device: str = "auto") -> str:
    """Pick where the model runs (``cpu``, ``gpu`` or ``auto``); returns "CPU" or "GPU".

    ``gpu`` without a visible GPU is a :class:`ConfigError` naming the backend and the fix;
    ``cpu`` hides the GPUs from TensorFlow (before its first op) or makes the CPU JAX's
    default device. Under JAX the GPU check is ``jax.devices("gpu")``: no TensorFlow
    device is queried or initialised."""
    import_backend()
    name = check_backend()
    gpus = _gpus(name)
    if device == "gpu" and not gpus:
        raise ConfigError(f"`--device gpu` was requested but {_BACKEND_LABELS[name]} sees no "
                          f"GPU. {_GPU_HINTS[name]} or use --device cpu.")
    if name == "jax":
        import jax

        if device == "cpu":
            jax.config.update("jax_default_device", jax.devices("cpu")[0])
        elif gpus:
            jax.config.update("jax_default_device", gpus[0])
        _RUNTIME["device"] = "GPU" if gpus and device != "cpu" else "CPU"
        return _RUNTIME["device"]
    tf = import_tensorflow()
    if _RUNTIME["device"] is None:  # process-wide settings: only before the first op
        if device == "cpu" and gpus:
            try:
                tf.config.set_visible_devices([], "GPU")
            except RuntimeError:  # already initialised in this process
                pass
        try:
            tf.config.experimental.enable_op_determinism()
        except Exception:  # pragma: no cover - very old TF
            pass
    visible = tf.config.get_visible_devices("GPU")
    _RUNTIME["device"] = "GPU" if visible and device != "cpu" else "CPU"
    return _RUNTIME["device"]


def configure_runtime(seed: int, device: str = "auto") -> str:
    """Seed Python/NumPy/Keras, make ops deterministic, pick the device; returns "CPU"/"GPU".

    Works under both backends: TensorFlow gets ``enable_op_determinism``; JAX's XLA CPU
    kernels are deterministic and :func:`quiet_tensorflow` asks for deterministic GPU ones.
    ``keras.utils.set_random_seed`` resets Keras's global seed generator on either backend
    (the model's initialisers are seeded explicitly anyway); it also seeds TensorFlow
    whenever TensorFlow is installed, which imports it under JAX too."""
    import keras

    found = select_device(device)
    keras.utils.set_random_seed(int(seed))
    return found


@dataclass
class FitResult:
    """What one training run produced, for summaries, history.csv and run.json."""

    loss: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    best_epoch: int = 0
    seconds: float = 0.0

    @property
    def epochs_run(self) -> int:
        return len(self.loss)

    @property
    def best_val_loss(self) -> float:
        return float(self.val_loss[self.best_epoch - 1]) if self.val_loss else float("nan")


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


def ema_momentum(steps: int) -> float:
    """Momentum of the weight average of a ``steps``-step fit: 0.99 (about the last 100
    steps), less for short fits so that the average spans their last quarter or so."""
    return min(0.99, max(0.0, 1.0 - 4.0 / max(1, steps)))


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
    in its scope) :func:`forecaster.distributed.fit_distributed` trains instead, with the
    same rules.
    """
    if average and validation is not None:  # early stopping would restore raw weights
        raise ValueError("average=True is for fixed-epoch fits (validation=None).")
    kw = dict(epochs=epochs, learning_rate=learning_rate, clipnorm=clipnorm,
              patience=patience, progress=progress, loss=loss, average=average)
    if strategy is not None:
        from forecaster.distributed import fit_distributed

        return fit_distributed(strategy, model, sampler, validation, **kw)
    import keras

    if keras.config.backend() == "tensorflow":
        return _fit_tensorflow(model, sampler, validation, **kw)
    return _fit_keras(model, sampler, validation, **kw)


def pointwise_loss(name: str, ops):
    """``err -> loss`` elementwise for ``mse``, ``mae`` or ``huber`` (delta 1, as Keras's
    ``Huber``) in the array module ``ops`` (``tf`` or ``keras.ops``); the loss of a batch
    is its mean."""
    if name not in LOSSES:
        raise ConfigError(f"`loss` must be one of {', '.join(LOSSES)}. Got {name!r}.")
    if name == "mae":
        return ops.abs
    if name == "huber":
        def huber(err):
            a = ops.abs(err)
            return ops.where(a <= 1.0, 0.5 * ops.square(err), a - 0.5)
        return huber
    return ops.square


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


MIN_PATIENCE = 10  # the wait after an early best (see patience_after)


def patience_after(best_epoch: int, patience: int) -> int:
    """Epochs early stopping waits for an improvement once the best so far is at
    ``best_epoch`` (1-based): as many as the fit took to reach it, at least
    :data:`MIN_PATIENCE` and at most ``patience``.  A fit whose validation loss bottoms
    out early is past its best (M1 monthly: the best epoch 9 of 34 run with a fixed
    patience of 25); one still improving at epoch 60 gets the whole ``patience``.  On the
    M1 and ``air_passengers`` validation curves this ends the same fits at the same best
    epochs, sooner."""
    return max(min(patience, MIN_PATIENCE), min(patience, int(best_epoch)))


def early_stopping(patience: int):
    """Keras's ``EarlyStopping`` on ``val_loss`` (best weights restored) with the
    patience of :func:`patience_after`: a callback for ``model.fit``, or driven by hand
    (``set_model``, ``on_train_begin``, ``on_epoch_end``, ``on_train_end``)."""
    import keras

    class EarlyStopping(keras.callbacks.EarlyStopping):
        def on_epoch_end(self, epoch, logs=None):
            self.patience = patience_after(self.best_epoch + 1, patience)
            super().on_epoch_end(epoch, logs)

    return EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True)


def start_early_stopping(model, patience: int):
    """:func:`early_stopping` driven by hand."""
    stopper = early_stopping(patience)
    stopper.set_model(model)
    model.stop_training = False
    stopper.on_train_begin()
    return stopper


def _fit_tensorflow(model, sampler, validation, *, epochs, learning_rate, clipnorm,
                    patience, progress, loss, average) -> FitResult:
    """The TensorFlow loop: each call of one ``tf.function`` runs up to
    :data:`CHUNK_BATCHES` optimizer steps (a ``while_loop`` over a block of batches
    gathered by the sampler in one NumPy operation; fewer when a call would take more than
    about :data:`CALL_SECONDS`, so that Ctrl-C is answered promptly), so Python,
    ``tf.data`` and Keras's per-batch and per-epoch machinery are out of the hot path: on ``air_passengers`` (four
    batches an epoch) that machinery cost more than the maths.  Same optimizer, clipping,
    loss, batch order and early-stopping rule as ``model.fit``; the epoch's loss is the
    batch losses' mean weighted by batch size, as Keras reports it."""
    import keras
    import tensorflow as tf

    tile = int(getattr(sampler, "k", 1))
    sampler = getattr(sampler, "sampler", sampler)
    steps = len(sampler)
    T, F = int(model.input_shape[1]), int(model.input_shape[2])
    outputs = int(model.output_shape[-1])
    optimizer = keras.optimizers.Adam(learning_rate=learning_rate, clipnorm=clipnorm,
                                      use_ema=average,
                                      ema_momentum=ema_momentum(epochs * steps))
    variables = model.trainable_variables
    optimizer.build(variables)
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

    stopper = None if validation is None else start_early_stopping(model, patience)
    losses, val_losses = [], []
    started = time.perf_counter()
    sampler.on_epoch_end()  # a fresh order before the first epoch, as Keras's fit does
    per_call = CHUNK_BATCHES
    for epoch in range(epochs):
        total = count = 0.0
        first = 0
        while first < steps:
            check_interrupt()
            stop = min(steps, first + per_call)
            began = time.perf_counter()
            for xs, ys in sampler.blocks(first, stop):
                values = train_chunk(xs, ys).numpy().astype(np.float64)
                total += float(values.sum()) * ys.shape[1]
                count += len(values) * ys.shape[1]
            # as many batches a call as take about CALL_SECONDS (the same steps either way)
            per_batch = (time.perf_counter() - began) / (stop - first)
            per_call = int(min(CHUNK_BATCHES, max(1, CALL_SECONDS / max(per_batch, 1e-6))))
            first = stop
        sampler.on_epoch_end()
        losses.append(total / max(count, 1.0))
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


def fit_result(loss, val_loss, *, seconds: float, learning_rate: float) -> FitResult:
    """The :class:`FitResult` of per-epoch losses, or the divergence error when a loss is
    NaN/infinite (or no epoch ran).  Shared by :func:`fit_model` and
    :func:`forecaster.distributed.fit_distributed` so both fail the same way."""
    loss = [float(v) for v in loss]
    val = [float(v) for v in val_loss]
    bad = [i for i, v in enumerate(loss + val) if not math.isfinite(v)]
    if bad or not loss:
        epoch = (bad[0] % max(len(loss), 1)) + 1 if bad else 1
        raise TrainingError(
            f"training diverged: the loss became NaN or infinite at epoch {epoch}. Likely "
            f"causes: extreme or corrupt values in the data, or a learning rate that is too "
            f"high (got {learning_rate:g}; try --learning-rate {learning_rate / 10:g}). "
            "No run was saved.")
    best = int(np.argmin(val)) + 1 if val else len(loss)
    return FitResult(loss=loss, val_loss=val, best_epoch=best, seconds=seconds)
