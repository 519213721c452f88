"""An ensemble of Elman networks computed as one wide network (block-diagonal weights).

An ensemble of ``k`` tanh-cell networks, each ``Input → TanhCell RNN → Dense(horizon)``, is
one computation with ``k`` independent blocks: member ``j``'s hidden state only ever meets
member ``j``'s weights.  Built as ``k`` separate layers it costs ``k`` small matrix
products per time step and a graph ``k`` times the size (tracing the unrolled training step
of 10 members reading 48 steps took most of a small fit).  Here the members' weights are
stacked (``kernel (k, F, units)``, ``recurrent_kernel (k, units, units)``, ``bias (k,
units)``) and every step is one batched product, ``einsum("bku,kuv->bkv")``: the same maths
as the block-diagonal ``(k·units) × (k·units)`` matrix without its zeros.

Lookbacks: member ``j`` reads only the last ``lookbacks[j]`` of the ``T`` input steps.  The
input projection ``x_t W_xh + b`` is computed for all steps before the loop and set to zero
before each member's first step; a zero state fed a zero projection stays exactly zero
(``tanh(0 + 0·W_hh) = 0``), so a member starts at ``t = T - lookback`` from the zero state,
as if its input had been cropped.

Layers (all registered, built from ``keras.ops``: any backend, ``safe_mode=True`` loads):

* :class:`EnsembleTanhCell` / :class:`EnsembleTanhRNN` — the cell (one step of every
  member; its input is the already projected step) and the ``keras.layers.RNN`` that
  projects, masks and loops (unrolled for static windows up to ``MAX_UNROLL`` steps, as
  :class:`~forecaster.models.cells.TanhRNN`).  Member ``j`` of a ``(batch, k·units)``
  state is columns ``j·units … (j+1)·units``.
* :class:`MemberDense` — each member's own dense head, ``(batch, k·units) → (batch,
  k·horizon)``, member ``j`` in columns ``j·horizon … (j+1)·horizon``.
* :class:`SeasonalAnchor` — adds the last season of the input, repeated over the horizon,
  to the anchored members' outputs.
* :class:`MemberMean` — the ensemble's forecast, the mean over members.

Member ``j`` is initialised exactly as the ``j``-th network of the layer-per-member
ensemble (:func:`forecaster.models.rnn.build_ensemble` with seeds ``seed + 1000 j``), and
:func:`member_weights` gives its weights in :class:`~forecaster.models.cells.TanhCell`'s
layout, so a member can be rebuilt as a stand-alone network (the gradient diagnostic).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops
from keras.src import backend

from forecaster.models.cells import MAX_UNROLL

__all__ = ["EnsembleTanhCell", "EnsembleTanhRNN", "MemberDense", "SeasonalAnchor",
           "MemberMean", "Channels", "member_seeds", "member_weights"]

MEMBER_SEED_STRIDE = 1000  # member j's seed is seed + 1000 j (as in build_ensemble)


def member_seeds(seed: int, members: int) -> list[int]:
    return [int(seed) + MEMBER_SEED_STRIDE * j for j in range(members)]


def _stacked(make, seeds, shape, dtype):
    """Per-member initial values ``make(seed)(shape)`` stacked on a new first axis."""
    return ops.stack([make(s)(shape, dtype=dtype) for s in seeds], axis=0)


def first_steps(T: int, lookbacks) -> np.ndarray:
    """The first input step each member reads: ``T - lookback`` (0 when it reads all)."""
    return np.array([T - min(int(v), T) for v in lookbacks], dtype=np.int64)


def _check_members(members, lookbacks):
    if not isinstance(members, int) or isinstance(members, bool) or members < 1:
        raise ValueError(f"`members` must be a positive integer. Got {members!r}.")
    if lookbacks is not None and (len(lookbacks) != members
                                  or not all(int(v) >= 1 for v in lookbacks)):
        raise ValueError(f"`lookbacks` must be {members} positive integers. Got {lookbacks}.")


@keras.saving.register_keras_serializable(package="forecaster")
class EnsembleTanhCell(keras.layers.Layer):
    """One time step of ``members`` independent Elman cells.

    ``call(projected_t, states)`` takes the step's *projected* input ``x_t W_xh + b``
    (``(batch, members·units)``, :meth:`project` computes it for a whole sequence) and
    returns ``h_t = tanh(projected_t + h_{t-1} W_hh)`` per member, ``(h_t, [h_t])``.

    Args:
        units: hidden units per member.
        members: number of networks.
        split_inputs: ``False`` — every member reads the same input features (the first
            layer); ``True`` — the input holds ``members`` blocks, member ``j`` reads block
            ``j`` (a layer stacked on an ensemble layer).
        seed: member ``j``'s kernel starts from ``GlorotUniform(seed + 1000 j)``, its
            recurrent kernel from ``Orthogonal(seed + 1000 j + 1)``, as a ``TanhCell`` with
            that seed would.
    """

    def __init__(self, units, members, split_inputs=False, seed=0, **kwargs):
        if not isinstance(units, int) or isinstance(units, bool) or units <= 0:
            raise ValueError(f"`units` must be a positive integer. Got {units!r}.")
        _check_members(members, None)
        super().__init__(**kwargs)
        self.units, self.members = units, members
        self.split_inputs, self.seed = bool(split_inputs), int(seed)
        self.state_size = self.output_size = members * units

    def build(self, input_shape):
        k, u = self.members, self.units
        features = int(input_shape[-1])
        if self.split_inputs:
            if features % k:
                raise ValueError(f"`split_inputs` needs input features divisible by the "
                                 f"{k} members. Got {features}.")
            features //= k
        seeds = member_seeds(self.seed, k)
        glorot = keras.initializers.GlorotUniform
        orthogonal = keras.initializers.Orthogonal
        self.kernel = self.add_weight(
            shape=(k, features, u), name="kernel",
            initializer=lambda shape, dtype=None: _stacked(
                lambda s: glorot(seed=s), seeds, shape[1:], dtype))
        self.recurrent_kernel = self.add_weight(
            shape=(k, u, u), name="recurrent_kernel",
            initializer=lambda shape, dtype=None: _stacked(
                lambda s: orthogonal(seed=s + 1), seeds, shape[1:], dtype))
        self.bias = self.add_weight(shape=(k, u), name="bias", initializer="zeros")

    def project(self, sequences, lookbacks=None):
        """``x_t W_xh + b`` for every step, member-major ``(members, T, batch, units)``; with ``lookbacks``, zero before member ``j``'s first step
        ``T - lookbacks[j]``."""
        k = self.members
        x = ops.cast(sequences, self.compute_dtype)
        if self.split_inputs:  # (batch, T, k·f): member j reads block j
            shape = ops.shape(x)
            x = ops.reshape(x, (shape[0], shape[1], k, -1))
            p = ops.einsum("btkf,kfu->ktbu", x, self.kernel)
        else:
            p = ops.einsum("btf,kfu->ktbu", x, self.kernel)
        p = p + self.bias[:, None, None, :]
        if lookbacks is not None:
            T = int(sequences.shape[1])
            active = np.arange(T)[None, :] >= first_steps(T, lookbacks)[:, None]  # (k, T)
            if not active.all():
                p = p * ops.cast(active[:, :, None, None].astype("float32"), p.dtype)
        return p

    def call(self, inputs, states, training=False):
        """One step in member-major layout: ``inputs`` (the projected step) and the state
        are ``(members, batch, units)``, so the recurrent product is one batched matmul
        with no transposes."""
        prev = states[0] if isinstance(states, (list, tuple)) else states
        out = ops.tanh(ops.add(inputs, ops.matmul(prev, self.recurrent_kernel)))
        return out, ([out] if isinstance(states, (list, tuple)) else out)

    def get_initial_state(self, batch_size=None):
        return [ops.zeros((batch_size, self.members * self.units), dtype=self.compute_dtype)]

    def get_config(self):
        return {**super().get_config(), "units": self.units, "members": self.members,
                "split_inputs": self.split_inputs, "seed": self.seed}


@keras.saving.register_keras_serializable(package="forecaster")
class EnsembleTanhRNN(keras.layers.RNN):
    """``keras.layers.RNN`` over an :class:`EnsembleTanhCell`: projects the whole input
    sequence once (masked by ``lookbacks``), then loops the cell over time — unrolled for a
    static window of at most ``MAX_UNROLL`` steps (``unroll=None``), a while-loop beyond.

    Output: the last state ``(batch, members·units)``, or the whole sequence
    ``(batch, T, members·units)`` with ``return_sequences=True``.
    """

    def __init__(self, cell, lookbacks=None, unroll=None, **kwargs):
        if not isinstance(cell, EnsembleTanhCell):
            raise ValueError(f"`cell` must be an EnsembleTanhCell. Got {type(cell).__name__}.")
        _check_members(cell.members, lookbacks)
        if kwargs.get("go_backwards") or kwargs.get("stateful"):
            raise ValueError("EnsembleTanhRNN supports neither go_backwards nor stateful.")
        super().__init__(cell, unroll=unroll, **kwargs)
        self.lookbacks = None if lookbacks is None else [int(v) for v in lookbacks]

    def call(self, sequences, initial_state=None, mask=None, training=False):
        if initial_state is not None or mask is not None:
            raise ValueError("EnsembleTanhRNN starts every member from a zero state and "
                             "takes no mask.")
        return super().call(sequences, training=training)

    def inner_loop(self, sequences, initial_state, mask, training=False):
        cell = self.cell
        k, u = cell.members, cell.units
        T = sequences.shape[1]
        batch = ops.shape(sequences)[0]
        unroll = self.unroll if self.unroll is not None else (
            T is not None and T <= MAX_UNROLL)
        # to backend.rnn, k is the "batch" axis: every step it hands the cell is
        # (k, batch, units).  (Computing only the members whose lookback has begun saves a
        # quarter of the multiplications of lookbacks 48 … 24 but was slower: the slices
        # and pads cost more.)
        projected = cell.project(sequences, self.lookbacks)
        state = ops.zeros((k, batch, u), dtype=projected.dtype)
        last, outputs, _ = backend.rnn(
            lambda x, states: cell(x, states, training=training), projected, [state],
            unroll=bool(unroll), input_length=T, return_all_outputs=self.return_sequences)
        last = ops.reshape(ops.transpose(last, (1, 0, 2)), (batch, k * u))
        if not self.return_sequences:
            return last, last, [last]
        # (k, T, batch, u) -> (batch, T, k·u)
        sequence = ops.reshape(ops.transpose(outputs, (2, 1, 0, 3)), (batch, T, k * u))
        return last, sequence, [last]

    def get_config(self):
        return {**super().get_config(), "lookbacks": self.lookbacks}


@keras.saving.register_keras_serializable(package="forecaster")
class MemberDense(keras.layers.Layer):
    """Each member's dense head: ``(batch, members·units) → (batch, members·horizon)``.

    Member ``j``'s kernel ``(units, horizon)`` starts from ``GlorotUniform(seed + 1000 j +
    99)``, as the head of the ``j``-th network of the layer-per-member ensemble."""

    def __init__(self, horizon, members, seed=0, **kwargs):
        _check_members(members, None)
        if not isinstance(horizon, int) or isinstance(horizon, bool) or horizon < 1:
            raise ValueError(f"`horizon` must be a positive integer. Got {horizon!r}.")
        super().__init__(**kwargs)
        self.horizon, self.members, self.seed = horizon, members, int(seed)

    def build(self, input_shape):
        k = self.members
        units = int(input_shape[-1]) // k
        seeds = member_seeds(self.seed, k)
        glorot = keras.initializers.GlorotUniform
        self.kernel = self.add_weight(
            shape=(k, units, self.horizon), name="kernel",
            initializer=lambda shape, dtype=None: _stacked(
                lambda s: glorot(seed=s + 99), seeds, shape[1:], dtype))
        self.bias = self.add_weight(shape=(k, self.horizon), name="bias", initializer="zeros")

    def call(self, inputs):
        k = self.members
        h = ops.reshape(inputs, (-1, k, int(inputs.shape[-1]) // k))
        out = ops.einsum("bku,kuh->bkh", h, self.kernel) + self.bias
        return ops.reshape(out, (-1, k * self.horizon))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.members * self.horizon)

    def get_config(self):
        return {**super().get_config(), "horizon": self.horizon, "members": self.members,
                "seed": self.seed}


def anchor_positions(window: int, season: int, horizon: int) -> np.ndarray:
    """Input steps whose values repeat the last season over ``horizon`` steps:
    step ``h`` (0-based) reads ``window - season + h mod season``."""
    return window - season + np.arange(horizon) % season


@keras.saving.register_keras_serializable(package="forecaster")
class SeasonalAnchor(keras.layers.Layer):
    """``[window (batch, T, F), members' outputs (batch, k·horizon)]`` → the outputs with
    the last ``season`` values of feature 0 repeated over the horizon added to each member
    marked in ``anchored``: those members forecast a correction to the seasonal naive
    forecast of their (level-relative) window, the others a change from its level."""

    def __init__(self, season, horizon, anchored, **kwargs):
        super().__init__(**kwargs)
        self.season, self.horizon = int(season), int(horizon)
        self.anchored = [bool(a) for a in anchored]
        if self.season < 1 or self.horizon < 1 or not self.anchored:
            raise ValueError("`season` and `horizon` must be >= 1 and `anchored` must name "
                             f"the members. Got {season!r}, {horizon!r}, {anchored!r}.")

    def call(self, inputs):
        window, out = inputs
        T = int(window.shape[1])
        if self.season > T:
            raise ValueError(f"`season` must be at most the window {T}. Got {self.season}.")
        k, H = len(self.anchored), self.horizon
        last = ops.take(ops.cast(window[:, :, 0], out.dtype),
                        anchor_positions(T, self.season, H), axis=1)  # (batch, H)
        weights = ops.cast(np.array(self.anchored, dtype="float32")[:, None], out.dtype)
        anchor = ops.reshape(weights[None] * last[:, None, :], (-1, k * H))
        return out + anchor

    def compute_output_shape(self, input_shape):
        return input_shape[1]

    def get_config(self):
        return {**super().get_config(), "season": self.season, "horizon": self.horizon,
                "anchored": self.anchored}


@keras.saving.register_keras_serializable(package="forecaster")
class MemberMean(keras.layers.Layer):
    """``(batch, members·horizon) → (batch, horizon)``: the mean over members."""

    def __init__(self, members, **kwargs):
        _check_members(members, None)
        super().__init__(**kwargs)
        self.members = members

    def call(self, inputs):
        k = self.members
        return ops.mean(ops.reshape(inputs, (-1, k, int(inputs.shape[-1]) // k)), axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1] // self.members)

    def get_config(self):
        return {**super().get_config(), "members": self.members}


@keras.saving.register_keras_serializable(package="forecaster")
class Channels(keras.layers.Layer):
    """``(batch, steps, F) → (batch, steps, stop - start)``: channels ``start … stop - 1``
    (the covariate network reads its known-ahead channels with it)."""

    def __init__(self, start, stop, **kwargs):
        super().__init__(**kwargs)
        self.start, self.stop = int(start), int(stop)
        if not 0 <= self.start < self.stop:
            raise ValueError(f"need 0 <= start < stop. Got {start!r}, {stop!r}.")

    def call(self, inputs):
        return inputs[:, :, self.start:self.stop]

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.stop - self.start)

    def get_config(self):
        return {**super().get_config(), "start": self.start, "stop": self.stop}


def member_weights(model, j: int) -> list[np.ndarray]:
    """Member ``j``'s weights in the order a stand-alone network
    ``Input → TanhRNN (one per ensemble layer) → Dense`` holds them:
    ``[kernel, recurrent_kernel, bias]`` per recurrent layer, then ``[kernel, bias]`` of
    the head."""
    out = []
    for layer in model.layers:
        if isinstance(layer, EnsembleTanhRNN):
            cell = layer.cell
            out += [np.asarray(cell.kernel)[j], np.asarray(cell.recurrent_kernel)[j],
                    np.asarray(cell.bias)[j]]
        elif isinstance(layer, MemberDense):
            out += [np.asarray(layer.kernel)[j], np.asarray(layer.bias)[j]]
    return out
