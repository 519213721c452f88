"""Section ``cells``: training and inference samples/s of the recurrent layers.

Model: ``Input(T, 1) → recurrent layer(H) → Dense(24)``, Adam, MSE, float32, compiled
as ``forecaster.training.loops`` compiles (under TensorFlow no XLA, under JAX ``jax.jit``;
``steps_per_execution`` = ``forecaster.training.loops.STEPS_PER_EXECUTION`` capped at the batches
per epoch). Training = ``model.fit`` for one epoch over ``n_batches`` batches of ``B``
windows, under TensorFlow from a cached, pre-batched ``tf.data.Dataset`` (so the numbers
measure the network rather than numpy slicing), under JAX from NumPy arrays; inference =
``model.predict`` over the same inputs. Every model is warmed up (traced) first; then rounds
alternate the contenders' order and the median per contender is reported, with the ratio to
SimpleRNN. The section's first note names the device and the Keras backend it ran on (a
GPU when the backend sees one: Keras places the models there by default).
"""

from __future__ import annotations

import time

from benchmarks.common import (Section, accelerator, alternate, describe_device, median,
                               not_available, quiet_tensorflow)

FULL_SHAPES = [(48, 64, 256), (168, 64, 256), (24, 32, 64)]
#: --quick leaves out T=168 (its unrolled graph alone takes seconds to trace) to stay < 2 min.
QUICK_SHAPES = [(48, 64, 256), (24, 32, 64)]
HORIZON = 24


def contenders():
    """name → ``factory(units)`` building one recurrent layer."""
    import keras

    from forecaster.models.cells import TanhCell, build_tanh_rnn

    return {
        "simple_rnn": lambda h: keras.layers.SimpleRNN(h),
        "tanh_cell": lambda h: build_tanh_rnn(h),
        "tanh_cell_plain": lambda h: keras.layers.RNN(TanhCell(h)),
        "lstm": lambda h: keras.layers.LSTM(h),
        "gru": lambda h: keras.layers.GRU(h),
    }


def _model(layer, T, n_batches):
    import keras

    model = keras.Sequential([keras.Input((T, 1)), layer, keras.layers.Dense(HORIZON)])
    from forecaster.training.loops import STEPS_PER_EXECUTION

    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse",
                  jit_compile=keras.config.backend() == "jax",
                  steps_per_execution=min(STEPS_PER_EXECUTION, n_batches))
    return model


def measure(shape, names=None, *, n_batches=8, repeats=5, seed=0):
    """Samples/s for training and inference at ``shape = (T, H, B)``.

    Returns ``{name: {"train": samples/s, "infer": samples/s, "train_x": ratio,
    "infer_x": ratio, "first_fit_s": s}}``, ratios relative to the first name.
    """
    import keras
    import numpy as np

    T, H, B = shape
    factories = contenders()
    names = list(names or factories)
    rng = np.random.default_rng(seed)
    n = n_batches * B
    x = rng.standard_normal((n, T, 1)).astype("float32")
    y = rng.standard_normal((n, HORIZON)).astype("float32")
    if keras.config.backend() == "tensorflow":
        import tensorflow as tf

        train = tf.data.Dataset.from_tensor_slices((x, y)).batch(B).cache()
        infer = tf.data.Dataset.from_tensor_slices(x).batch(B).cache()
        for _ in train:  # fill the caches
            pass
        for _ in infer:
            pass
        fit_args, fit_kw, pred_args, pred_kw = (train,), {}, (infer,), {}
    else:
        fit_args, fit_kw, pred_args, pred_kw = (x, y), {"batch_size": B}, (x,), {"batch_size": B}

    def fit(m):
        return m.fit(*fit_args, epochs=1, verbose=0, shuffle=False, **fit_kw)

    def predict(m):
        return m.predict(*pred_args, verbose=0, **pred_kw)

    models, first = {}, {}
    for name in names:
        keras_seed = int(rng.integers(1 << 30))
        keras.utils.set_random_seed(keras_seed)
        models[name] = _model(factories[name](H), T, n_batches)
        t = time.perf_counter()
        fit(models[name])
        first[name] = time.perf_counter() - t
        predict(models[name])

    fit_cpu, pred_cpu = {}, {}
    fit_t = alternate({k: (lambda m=m: fit(m)) for k, m in models.items()}, repeats, fit_cpu)
    pred_t = alternate({k: (lambda m=m: predict(m)) for k, m in models.items()}, repeats,
                       pred_cpu)
    base = names[0]
    return {k: {"train": n / median(fit_t[k]), "infer": n / median(pred_t[k]),
                # Paired ratios: each round's time of the first contender over this one's,
                # measured back to back, then the median — steadier than a ratio of
                # medians when other processes share the CPU.
                "train_x": median([a / b for a, b in zip(fit_t[base], fit_t[k])]),
                "infer_x": median([a / b for a, b in zip(pred_t[base], pred_t[k])]),
                "train_x_cpu": median([a / b for a, b in zip(fit_cpu[base], fit_cpu[k])]),
                "infer_x_cpu": median([a / b for a, b in zip(pred_cpu[base], pred_cpu[k])]),
                "first_fit_s": first[k]} for k in names}


def run(quick: bool, shapes=None, **_) -> Section:
    try:
        quiet_tensorflow()
        import keras  # noqa: F401

        from forecaster.models import cells  # noqa: F401
    except ImportError as exc:
        return not_available("cells", f"{exc}")
    shapes = shapes or (QUICK_SHAPES if quick else FULL_SHAPES)
    n_batches, repeats = (4, 3) if quick else (12, 7)
    section = Section("cells")
    device = accelerator()
    section.notes.append(f"device: {describe_device(device)}")
    for shape in shapes:
        res = measure(shape, n_batches=n_batches, repeats=repeats)
        for name, r in res.items():
            section.rows.append({
                "T,H,B": "{},{},{}".format(*shape), "layer": name,
                "train/s": r["train"], "infer/s": r["infer"],
                "train x": r["train_x"], "infer x": r["infer_x"],
                "train x cpu": r["train_x_cpu"], "infer x cpu": r["infer_x_cpu"],
                "first fit s": r["first_fit_s"], "device": device["device"],
                "backend": device["keras_backend"],
            })
    section.notes.append(
        f"{n_batches} batches per epoch, median of {repeats} alternated repeats; 'x' = median "
        "over rounds of the paired wall-time ratio simple_rnn/layer (same process, back to "
        "back); 'x cpu' = the same ratio of this process's CPU seconds (less disturbed by "
        "other processes on a shared machine); 'first fit s' includes tracing.")
    return section
