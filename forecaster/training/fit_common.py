"""What every fit loop shares — :mod:`forecaster.training.loops`'s single-process loops and
:mod:`forecaster.training.distributed`'s data-parallel one: the point-wise loss, early stopping with
its patience rule, the weight-average momentum, and the :class:`FitResult` they return
(checked for divergence by :func:`fit_result`), and the extra stop checks a caller sets
(:func:`stopping_when`: ``forecast tune``'s deadline).
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from forecaster.choices import LOSSES
from forecaster.errors import ConfigError, TrainingError

_STOP_CHECKS: list = []  # callables the fit loops call between training steps


@contextmanager
def stopping_when(check):
    """Within the block, the fit loops call ``check()`` between training steps, as they
    check for interrupts: whatever it raises stops the training and goes up to the caller
    (``forecast tune`` stops a trial at its deadline so)."""
    _STOP_CHECKS.append(check)
    try:
        yield
    finally:
        _STOP_CHECKS.remove(check)


def check_stops() -> None:
    """Call the checks of :func:`stopping_when` (the fit loops, between steps)."""
    for check in tuple(_STOP_CHECKS):
        check()


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

    def history(self):
        """The losses per epoch as a frame ``epoch, loss, val_loss`` (``history.csv``, the
        training curve)."""
        import pandas as pd

        return pd.DataFrame({"epoch": np.arange(1, self.epochs_run + 1), "loss": self.loss,
                             "val_loss": self.val_loss})


def ema_momentum(steps: int) -> float:
    """Momentum of the weight average of a ``steps``-step fit: 0.99 (about the last 100
    steps), less for short fits so that the average spans their last quarter or so."""
    return min(0.99, max(0.0, 1.0 - 4.0 / max(1, steps)))


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


def fit_result(loss, val_loss, *, seconds: float, learning_rate: float) -> FitResult:
    """The :class:`FitResult` of per-epoch losses, or the divergence error when a loss is
    NaN/infinite (or no epoch ran).  Shared by :func:`fit_model` and
    :func:`forecaster.training.distributed.fit_distributed` so both fail the same way."""
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
