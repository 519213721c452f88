"""Data-parallel training with ``tf.distribute`` (``forecast train --distribute``).

Three modes, named by ``[training] distribute``:

* ``none`` — the single-process Keras ``fit`` of :mod:`forecaster.training.loops`;
* ``mirrored`` — :class:`tf.distribute.MirroredStrategy` over this machine's GPUs (one
  replica on the CPU when there is no GPU, or with ``--device cpu``);
* ``multi-worker`` — :class:`tf.distribute.MultiWorkerMirroredStrategy` across processes
  and machines, configured by the standard ``TF_CONFIG`` environment variable
  (:func:`forecaster.training.cluster.parse_tf_config`; as Kubernetes TFJob and Vertex AI set it).

What is shared with the single-process path: the model builder, the window sets (scaled on
the training part only), the :class:`~forecaster.data.windowing.WindowSampler`, Adam with
the same clipping, the same early stopping (:func:`forecaster.training.fit_common.early_stopping`:
patience on the validation loss, best weights restored) and the same divergence error (:func:`forecaster.training.fit_common.fit_result`).

What differs: Keras 3's ``model.fit`` fails under ``MultiWorkerMirroredStrategy``
("unsupported type PerReplica", keras-team/keras#20585), so :func:`fit_distributed` runs a
custom step with ``strategy.run``.  Series — never windows of one series — are sharded
across the replicas (:func:`shard_series`, balanced by window count); every worker reads
the whole file, so every worker knows every shard's size and all run the same number of
steps per epoch (a replica whose shard is exhausted feeds zero-weight padding).  Each
replica's batch is ``batch_size`` windows of its own shard, so the global batch is
``batch_size × replicas``; the gradient is the mean over the global batch, all-reduced
before clipping, exactly as one process would compute it on the concatenated batch.  The
validation loss is summed over every replica's validation windows and all-reduced, so all
workers see the same number and early stopping ends them at the same epoch.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import signal
import threading
import time

import numpy as np

from forecaster.training.cluster import check, cluster_from_env
from forecaster.errors import ConfigError

VALIDATION_BATCH = 512  # validation windows per replica and step
DIGEST_ENV = "FORECASTER_WEIGHTS_DIGEST_DIR"  # debugging/tests: each worker writes its digest
_STRATEGIES: dict = {}  # one strategy per process and mode (collectives are configured once)
















# -- strategies ---------------------------------------------------------------------------
def get_strategy(mode: str, device: str = "auto"):
    """The process's strategy for ``mode`` (``None`` for ``none``), created once.

    ``multi-worker`` must be created before TensorFlow runs its first op in the process
    (collective ops are configured at start-up), so the train pipeline creates it right
    after reading the data; it then waits for every worker in ``TF_CONFIG`` to start."""
    cluster = check(mode)
    if mode == "none":
        return None
    if mode in _STRATEGIES:
        return _STRATEGIES[mode]
    from forecaster.training.runtime import import_tensorflow

    tf = import_tensorflow()
    if mode == "mirrored":
        gpus = tf.config.get_visible_devices("GPU")
        devices = None if gpus and device != "cpu" else ["/cpu:0"]
        strategy = tf.distribute.MirroredStrategy(devices=devices)
    else:
        options = tf.distribute.experimental.CommunicationOptions(
            implementation=tf.distribute.experimental.CommunicationImplementation.AUTO)
        sigterm = signal.getsignal(signal.SIGTERM)
        try:
            strategy = tf.distribute.MultiWorkerMirroredStrategy(
                communication_options=options)
            # TensorFlow's preemption notifier takes SIGTERM over (and ignores it); give it
            # back so `kill`/Kubernetes still stops a worker cleanly (exit 143).
            if sigterm is not None and threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGTERM, sigterm)
        except RuntimeError as exc:
            if "program startup" not in str(exc):
                raise
            raise ConfigError(
                "`--distribute multi-worker` must set up TensorFlow's collectives before "
                "anything else runs in the process, and TensorFlow was already running "
                f"({exc}); start a fresh process ({cluster.describe()}).") from None
    _STRATEGIES[mode] = strategy
    return strategy


@contextlib.contextmanager
def scope(mode: str, device: str = "auto"):
    """Yield the strategy for ``mode`` (``None`` for ``none``) with its scope entered, so
    the model and its variables are created mirrored."""
    strategy = get_strategy(mode, device)
    if strategy is None:
        yield None
        return
    with strategy.scope():
        yield strategy


# -- sharding -----------------------------------------------------------------------------
def shard_series(counts, n_shards: int) -> np.ndarray:
    """The shard (0 … ``n_shards - 1``) of every series, balancing the window ``counts``:
    the series with the most windows first, each to the least-loaded shard (ties: the
    lower series index, the lower shard).  Deterministic, so every worker computes the same
    assignment from the same data.  Raises :class:`ConfigError` when there are fewer series
    with windows than shards."""
    counts = np.asarray(counts, dtype=np.int64)
    if n_shards < 1:
        raise ValueError(f"n_shards must be >= 1. Got {n_shards}.")
    usable = int(np.count_nonzero(counts))
    if usable < n_shards:
        raise ConfigError(
            f"distributed training shards the data by series and needs at least one series "
            f"per replica: {n_shards} replicas, {usable} series with training windows. Use "
            "fewer workers/GPUs or --distribute none.")
    shard = np.full(len(counts), -1, dtype=np.int64)
    load = np.zeros(n_shards, dtype=np.int64)
    for i in np.argsort(-counts, kind="stable"):
        k = int(np.argmin(load))  # first minimum: the lower shard on ties
        shard[i] = k
        load[k] += counts[i]
    return shard


def series_of(windows) -> np.ndarray:
    """The series index of every window of a :class:`~forecaster.data.windowing.WindowSet`."""
    return np.searchsorted(windows.offsets, windows.positions, side="right") - 1


def subset(windows, keep: np.ndarray):
    """The windows of ``windows`` (a :class:`~forecaster.data.windowing.WindowSet`) where
    ``keep`` is true, sharing the scaled data; built by the set's own class, as the runtime
    layer knows windows only by what they hold."""
    return type(windows)(windows.flat, windows.offsets, windows.positions[keep], windows.window,
                     windows.horizon, windows.level, windows.features, windows.layout)


def input_shape(windows) -> tuple[int, int]:
    """The shape of one input of a :class:`~forecaster.data.windowing.WindowSet`:
    ``(window, 1)``, or with covariates ``(window [+ horizon], channels)``."""
    lay = windows.layout
    if lay is None:
        return (windows.window, 1)
    return (windows.window + (windows.horizon if lay.horizon_rows else 0), lay.channels)


def _padded(batch, size: int, shape: tuple, horizon: int):
    """``(x, y, weight)`` of exactly ``size`` rows: ``batch`` then zero rows of weight 0
    (one static shape, so every worker traces the step once and the collectives match);
    ``shape`` is one input's."""
    x = np.zeros((size, *shape), np.float32)
    y = np.zeros((size, horizon), np.float32)
    w = np.zeros(size, np.float32)
    if batch is not None:
        n = len(batch[1])
        x[:n], y[:n], w[:n] = batch[0], batch[1], 1.0
    return x, y, w


# -- the training loop --------------------------------------------------------------------
def fit_distributed(strategy, model, sampler, validation, *, epochs: int,
                    learning_rate: float, clipnorm: float, patience: int, progress=None,
                    loss: str = "mse", average: bool = False):
    """:func:`~forecaster.training.loops.fit_model` for a model built in ``strategy.scope()``.

    ``sampler`` is the single-process :class:`~forecaster.data.windowing.WindowSampler`;
    its windows are sharded by series (:func:`shard_series`) and each replica samples its
    shard the same way (seed ``sampler.seed + replica``, ``max_windows`` split evenly; one
    replica uses ``sampler`` itself).  ``validation`` ``(x, y)`` is split into contiguous
    row blocks, one per replica, and its loss all-reduced (None: exactly ``epochs`` epochs,
    no early stopping).  ``loss`` is ``mse``, ``mae`` or ``huber`` (delta 1, as Keras's);
    ``average`` ends on the weights' moving average, as in ``fit_model``.  Returns the same
    :class:`~forecaster.training.loops.FitResult` and raises the same divergence error.
    """
    import keras

    from forecaster.training.fit_common import ema_momentum, fit_result

    R = strategy.num_replicas_in_sync
    feed = _Feed(strategy, sampler, validation)
    with strategy.scope():  # clipping is done below, on the global gradient
        optimizer = keras.optimizers.Adam(learning_rate=learning_rate, use_ema=average,
                                          ema_momentum=ema_momentum(epochs * feed.steps))
        optimizer.build(model.trainable_variables)
    train_step, val_step = _distributed_steps(strategy, model, optimizer, loss, clipnorm, R)
    started = time.perf_counter()
    losses, val_loss = _run_epochs(model, feed, train_step, val_step, epochs=epochs,
                                   patience=patience, progress=progress)
    if average:  # end on the weights' moving average, as fit_model does
        optimizer.finalize_variable_values(model.trainable_variables)
    result = fit_result(losses, val_loss, seconds=time.perf_counter() - started,
                        learning_rate=learning_rate)
    _write_digest(model, result, history=validation is not None)
    return result


class _Feed:
    """What each replica trains and validates on: the training windows sharded by series
    (each shard sampled the same way on every worker, with the same number of steps) and
    the validation rows in contiguous blocks, as per-replica values of ``strategy``."""

    def __init__(self, strategy, sampler, validation):
        self.strategy, R = strategy, strategy.num_replicas_in_sync
        self.tile = getattr(sampler, "k", 1)  # ensemble members: targets once per member
        sampler = getattr(sampler, "sampler", sampler)
        train, self.B = sampler.windows, sampler.batch_size
        self.T, self.H = train.window, train.horizon
        self.shape = input_shape(train)
        cap = math.ceil(sampler.max_windows / R) if sampler.max_windows else 0
        if R == 1:
            shards = [train]
        else:
            series = series_of(train)
            shard = shard_series(np.bincount(series, minlength=len(train.offsets)), R)
            shards = [subset(train, shard[series] == r) for r in range(R)]
        # The same step counts on every worker, from sizes every worker knows.
        self.steps = max(math.ceil((min(len(s), cap) if cap else len(s)) / self.B)
                         for s in shards)
        self.validation = validation
        self.x_val, self.y_val = validation if validation is not None else (
            np.zeros((0, *self.shape)), np.zeros((0, self.H)))
        self.val_rows = np.array_split(np.arange(len(self.y_val)), R)
        self.val_steps = 0 if validation is None else max(1, math.ceil(
            max(len(rows) for rows in self.val_rows) / VALIDATION_BATCH))
        self.samplers: dict = {}

        def make(r):
            return sampler if R == 1 else type(sampler)(
                shards[r], self.B, shuffle=sampler.shuffle, seed=sampler.seed + r,
                max_windows=cap)
        self._make = make

    def local_sampler(self, r):  # only this worker's replicas ever get one
        if r not in self.samplers:
            self.samplers[r] = self._make(r)
            # Keras's fit resets its data once before the first epoch (on_epoch_end);
            # doing the same lets one replica reproduce fit_model's batches exactly.
            self.samplers[r].on_epoch_end()
        return self.samplers[r]

    def train_batch(self, step):
        def value(ctx):
            s = self.local_sampler(ctx.replica_id_in_sync_group)
            batch = s[step] if step < len(s) else None
            if batch is not None and self.tile > 1:
                batch = (batch[0], np.tile(batch[1], (1, self.tile)))
            return _padded(batch, self.B, self.shape, self.H * self.tile)
        return self.strategy.experimental_distribute_values_from_function(value)

    def val_batch(self, step):
        def value(ctx):
            rows = self.val_rows[ctx.replica_id_in_sync_group]
            rows = rows[step * VALIDATION_BATCH:(step + 1) * VALIDATION_BATCH]
            return _padded((self.x_val[rows], self.y_val[rows]) if len(rows) else None,
                           VALIDATION_BATCH, self.shape, self.H * self.tile)
        return self.strategy.experimental_distribute_values_from_function(value)

    def end_epoch(self) -> None:
        for s in self.samplers.values():
            s.on_epoch_end()


def _distributed_steps(strategy, model, optimizer, loss: str, clipnorm: float, R: int):
    """``(train_step, val_step)``: ``tf.function``s over a distributed batch that return
    the summed loss and window count of all replicas."""
    import tensorflow as tf

    from forecaster.training.fit_common import pointwise_loss

    SUM = tf.distribute.ReduceOp.SUM
    variables = model.trainable_variables
    pointwise = pointwise_loss(loss, tf)

    def squared_error(x, y, w, training):
        pred = model(x, training=training)
        per_window = tf.reduce_mean(pointwise(tf.cast(y, pred.dtype) - pred), axis=-1)
        return tf.reduce_sum(per_window * w), tf.reduce_sum(w)

    @tf.function
    def train_step(batch):
        def replica_step(x, y, w):
            ctx = tf.distribute.get_replica_context()
            # the mean over the *global* batch: the weights are summed over replicas first
            n = ctx.all_reduce(SUM, tf.reduce_sum(w))
            with tf.GradientTape() as tape:
                total, count = squared_error(x, y, w, True)
                loss = total / tf.maximum(n, 1.0)
            # Clip the global gradient (per variable, as Keras's `clipnorm` does in one
            # process), not each replica's share of it; the optimizer then sums the
            # replicas' identical copies again, hence the division.
            grads = ctx.all_reduce(SUM, tape.gradient(loss, variables))
            optimizer.apply_gradients(
                (tf.clip_by_norm(g, clipnorm) / R, v) for g, v in zip(grads, variables))
            return total, count

        total, count = strategy.run(replica_step, args=batch)
        return strategy.reduce(SUM, total, axis=None), strategy.reduce(SUM, count, axis=None)

    @tf.function
    def val_step(batch):
        total, count = strategy.run(lambda x, y, w: squared_error(x, y, w, False), args=batch)
        return strategy.reduce(SUM, total, axis=None), strategy.reduce(SUM, count, axis=None)

    return train_step, val_step


def _run_epochs(model, feed: _Feed, train_step, val_step, *, epochs: int, patience: int,
                progress) -> tuple[list, list]:
    """The epochs, early-stopped on the all-reduced validation loss (the same decision on
    every worker); ``(losses, val_losses)``."""
    import tensorflow as tf

    from forecaster.training.fit_common import start_early_stopping
    from forecaster.training.runtime import check_interrupt

    stopper = start_early_stopping(model, patience)
    losses, val_loss = [], []
    with _peer_errors(tf):
        for epoch in range(epochs):
            total = count = 0.0
            for step in range(feed.steps):
                check_interrupt()
                t, c = train_step(feed.train_batch(step))
                total, count = total + float(t), count + float(c)
            feed.end_epoch()
            v_total = v_count = 0.0
            for step in range(feed.val_steps):
                t, c = val_step(feed.val_batch(step))
                v_total, v_count = v_total + float(t), v_count + float(c)
            losses.append(total / max(count, 1.0))
            if feed.validation is None:
                if progress is not None:
                    progress(epoch + 1, epochs, losses[-1], None)
                if not math.isfinite(losses[-1]):
                    break
                continue
            val_loss.append(v_total / max(v_count, 1.0))
            if progress is not None:
                progress(epoch + 1, epochs, losses[-1], val_loss[-1])
            if not (math.isfinite(losses[-1]) and math.isfinite(val_loss[-1])):
                break  # on every worker alike: the losses are all-reduced
            stopper.on_epoch_end(epoch, {"loss": losses[-1], "val_loss": val_loss[-1]})
            if model.stop_training:
                break
        stopper.on_train_end()
    return losses, val_loss


@contextlib.contextmanager
def _peer_errors(tf):
    """A worker that dies or becomes unreachable fails every collective of the others:
    turn TensorFlow's long graph error into one line."""
    try:
        yield
    except (tf.errors.UnavailableError, tf.errors.AbortedError, tf.errors.CancelledError,
            tf.errors.DeadlineExceededError) as exc:
        from forecaster.errors import TrainingError

        raise TrainingError(
            f"distributed training lost a worker: TensorFlow reported {type(exc).__name__} "
            "in a collective operation (another worker stopped or cannot be reached). Every "
            "worker must run to the end; restart all of them. No run was saved.") from None


# -- debugging ----------------------------------------------------------------------------
def weights_digest(weights) -> str:
    """SHA-256 over the weight arrays (float32 bytes, in order): equal digests mean
    bit-identical weights."""
    h = hashlib.sha256()
    for w in weights:
        h.update(np.ascontiguousarray(np.asarray(w, dtype=np.float32)).tobytes())
    return h.hexdigest()


def _write_digest(model, result, history: bool = True) -> None:
    """With ``$FORECASTER_WEIGHTS_DIGEST_DIR`` set, write ``<task>-<index>.json`` (weights
    digest of this process's latest fit, and the history of its latest early-stopped fit —
    the one ``history.csv`` records; the refit on all windows only updates the digest)
    there, so a test or an operator can check that the workers ended with identical
    weights."""
    directory = os.environ.get(DIGEST_ENV)
    if not directory:
        return
    try:
        cluster = cluster_from_env()
        name = f"{cluster.task_type}-{cluster.task_index}"
    except ConfigError:
        name = "local"
    path = os.path.join(directory, f"{name}.json")
    os.makedirs(directory, exist_ok=True)
    entry = {"loss": result.loss, "val_loss": result.val_loss,
             "best_epoch": result.best_epoch}
    if not history and os.path.exists(path):
        with open(path, encoding="utf-8") as fh:
            entry = {k: v for k, v in json.load(fh).items() if k != "digest"}
    from forecaster.storage.files import write_text_atomic

    write_text_atomic(path, json.dumps({"digest": weights_digest(model.get_weights()),
                                        **entry}))
