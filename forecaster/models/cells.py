"""The Elman recurrent cell, ``h_t = tanh(W_xh x_t + W_hh h_{t-1} + b)``, as a Keras layer.

``TanhCell`` is written the way keras writes ``SimpleRNNCell``: the cell handles one time
step and ``keras.layers.RNN`` owns the loop over time. It uses only ``keras.ops``, so it runs
on every Keras backend, and its weights (``kernel`` ``(input_dim, units)``,
``recurrent_kernel`` ``(units, units)``, ``bias`` ``(units,)``) are laid out exactly as in
``SimpleRNNCell``: ``layer.set_weights(simple_rnn.get_weights())`` copies them across and the
two give the same numbers.

``build_tanh_rnn`` returns the fast way to run the cell: :class:`TanhRNN`, a
``keras.layers.RNN`` subclass that unrolls the time loop when the window length is static
and moderate (where, on the CPU, the while-loop's bookkeeping costs more than the maths).
Same weights, same maths. (Hoisting the input projection ``x W_xh + b`` out of the loop was
measured too and was slower here; see ``benchmarks/README.md``.)
"""

from __future__ import annotations

import keras
from keras.src import backend
from keras import initializers, ops, regularizers

__all__ = ["TanhCell", "TanhRNN", "build_tanh_rnn"]


def _seeded(initializer, seed):
    """Return ``initializer`` with ``seed`` set, when it takes one and has none yet."""
    if seed is None:
        return initializer
    config = initializer.get_config()
    if "seed" not in config or config["seed"] is not None:
        return initializer
    return type(initializer).from_config({**config, "seed": seed})


@keras.saving.register_keras_serializable(package="forecaster")
class TanhCell(keras.layers.Layer):
    """One step of the Elman RNN: ``h_t = tanh(x_t W_xh + h_{t-1} W_hh + b)``.

    Args:
        units: Positive integer, size of the hidden state ``h``.
        use_bias: Whether to add the bias vector ``b``. Default ``True``.
        kernel_initializer: Initializer for ``W_xh`` (``kernel``). Default
            ``"glorot_uniform"``.
        recurrent_initializer: Initializer for ``W_hh`` (``recurrent_kernel``). Default
            ``"orthogonal"``.
        bias_initializer: Initializer for ``b``. Default ``"zeros"``.
        kernel_regularizer, recurrent_regularizer, bias_regularizer: Optional
            regularizers for the three weights.
        seed: Optional integer; seeds the initializers that take a seed and were not
            given one (``seed`` for the kernel, ``seed + 1`` for the recurrent kernel), so
            two cells built with the same seed start from the same weights.

    Call arguments:
        inputs: ``(batch, features)`` tensor, one time step.
        states: ``[h]`` with ``h`` of shape ``(batch, units)`` (a bare tensor is accepted).
        training: Unused (no dropout); kept for the ``keras.layers.RNN`` protocol.

    Returns ``(h_t, [h_t])``.
    """

    def __init__(
        self,
        units,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        seed=None,
        **kwargs,
    ):
        if not isinstance(units, int) or isinstance(units, bool) or units <= 0:
            raise ValueError(f"`units` must be a positive integer. Got {units!r}.")
        super().__init__(**kwargs)
        self.units = units
        self.use_bias = use_bias
        self.seed = seed
        self.kernel_initializer = _seeded(initializers.get(kernel_initializer), seed)
        self.recurrent_initializer = _seeded(
            initializers.get(recurrent_initializer), None if seed is None else seed + 1
        )
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.state_size = units
        self.output_size = units

    def build(self, input_shape):
        self.kernel = self.add_weight(
            shape=(input_shape[-1], self.units),
            name="kernel",
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
        )
        self.recurrent_kernel = self.add_weight(
            shape=(self.units, self.units),
            name="recurrent_kernel",
            initializer=self.recurrent_initializer,
            regularizer=self.recurrent_regularizer,
        )
        if self.use_bias:
            self.bias = self.add_weight(
                shape=(self.units,),
                name="bias",
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
            )
        else:
            self.bias = None

    def call(self, inputs, states, training=False):
        prev = states[0] if isinstance(states, (list, tuple)) else states
        h = ops.matmul(inputs, self.kernel)
        if self.bias is not None:
            h = ops.add(h, self.bias)
        h = ops.tanh(ops.add(h, ops.matmul(prev, self.recurrent_kernel)))
        return h, ([h] if isinstance(states, (list, tuple)) else h)

    def get_initial_state(self, batch_size=None):
        return [ops.zeros((batch_size, self.units), dtype=self.compute_dtype)]

    def get_config(self):
        config = {
            "units": self.units,
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "recurrent_regularizer": regularizers.serialize(self.recurrent_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "seed": self.seed,
        }
        return {**super().get_config(), **config}


#: Longest static time dimension that ``TanhRNN(unroll=None)`` unrolls; longer (or
#: unknown) lengths run keras's symbolic while-loop. See ``benchmarks/README.md``.
MAX_UNROLL = 200


@keras.saving.register_keras_serializable(package="forecaster")
class TanhRNN(keras.layers.RNN):
    """``keras.layers.RNN`` over a :class:`TanhCell` that picks the fast loop by itself.

    On the CPU most of an RNN's time goes into the machinery of the symbolic while-loop
    (per-iteration control flow, TensorArray reads/writes, and in training the stacks that
    keep every step's activations for the backward pass), not into the ``(batch, units) x
    (units, units)`` matmuls. Unrolling the loop into a straight-line graph removes that
    machinery; the cell's maths is unchanged. ``unroll=None`` (the default) unrolls when the
    time dimension is static and at most :data:`MAX_UNROLL` steps, and otherwise keeps the
    while-loop (unrolling needs a static length, and graph build time grows with it: the
    first ``fit`` traces ``T`` copies of the step, about +1.5 s at ``T=48`` and +3 to +8 s
    at ``T=168`` on a 2-core CPU, paid once per model). ``unroll=True``/``False`` force one
    or the other, as in ``keras.layers.RNN``.

    Everything else is ``keras.layers.RNN``: masking, ``go_backwards``, ``stateful``,
    ``return_state``, the weights (the cell's ``kernel``, ``recurrent_kernel``, ``bias``).
    """

    def __init__(self, cell, unroll=None, **kwargs):
        if not isinstance(cell, TanhCell):
            raise ValueError(f"`cell` must be a TanhCell. Got {type(cell).__name__}.")
        super().__init__(cell, unroll=unroll, **kwargs)

    def _should_unroll(self, timesteps):
        if self.unroll is not None:
            return bool(self.unroll)
        return timesteps is not None and timesteps <= MAX_UNROLL

    def inner_loop(self, sequences, initial_state, mask, training=False):
        cell = self.cell

        def step(inputs, states):
            return cell(inputs, states, training=training)

        return backend.rnn(
            step,
            sequences,
            list(initial_state),
            go_backwards=self.go_backwards,
            mask=mask,
            unroll=self._should_unroll(sequences.shape[1]),
            input_length=sequences.shape[1],
            zero_output_for_mask=self.zero_output_for_mask,
            return_all_outputs=self.return_sequences,
        )


def build_tanh_rnn(units, *, return_sequences=False, name=None, seed=None):
    """The fastest layer that runs :class:`TanhCell` through ``keras.layers.RNN``.

    Returns a :class:`TanhRNN` with ``unroll=None`` (unrolled for static windows of up to
    :data:`MAX_UNROLL` steps, a while-loop beyond). It gives the same numbers as
    ``keras.layers.SimpleRNN`` with the same weights, serialises to ``.keras`` and reloads
    with ``safe_mode=True``.
    """
    return TanhRNN(TanhCell(units, seed=seed), return_sequences=return_sequences, name=name)
