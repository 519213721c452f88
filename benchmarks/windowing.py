"""Section ``windowing``: windows/s of ``forecaster.data.windowing`` against training and
against ``keras.utils.timeseries_dataset_from_array``.

One synthetic series (random walk, float32); ``window=48``, ``horizon=24``, batches of 256,
shuffled. Ours: ``WindowSet`` + ``WindowSampler``, iterating every batch of one epoch
(``sampler[i]`` for all ``i``). Keras: ``timeseries_dataset_from_array`` over the same
series with ``sequence_length = window + horizon``, split into ``(x, y)`` by a ``map``,
iterated fully. Training throughput: ``tanh_cell`` at ``(T, H, B) = (48, 64, 256)`` from
the cells benchmark. Target: ours ≥ 100× the training throughput.
"""

from __future__ import annotations


from benchmarks.common import Section, alternate, median, not_available, quiet_tensorflow

WINDOW, HORIZON, BATCH = 48, 24, 256


def run(quick: bool, **_) -> Section:
    try:
        import numpy as np

        from forecaster.data import windowing as W
    except ImportError as exc:
        return not_available("windowing", f"forecaster.data.windowing ({exc})")
    needed = ("WindowSet", "WindowSampler", "window_starts")
    missing = [n for n in needed if not hasattr(W, n)]
    if missing:
        return not_available("windowing", f"forecaster.data.windowing lacks {', '.join(missing)}")
    quiet_tensorflow()
    import keras

    # keras's producer manages ~10^4 windows/s here, so the series is kept modest.
    n_points = 40_000 if quick else 400_000
    repeats = 3
    rng = np.random.default_rng(0)
    series = np.cumsum(rng.standard_normal(n_points)).astype(np.float32)
    series = (series - series.mean()) / series.std()

    idx, starts = W.window_starts([n_points], WINDOW, HORIZON)
    n_windows = len(starts)
    samplers = {rel: W.WindowSampler(W.WindowSet.build([series], idx, starts, WINDOW, HORIZON,
                                                       rel), BATCH, shuffle=True, seed=0)
                for rel in (False, True)}

    def ours(relative):
        sampler = samplers[relative]
        for i in range(len(sampler)):
            x, y = sampler[i]
        sampler.on_epoch_end()
        assert x.shape[1:] == (WINDOW, 1) and y.shape[1] == HORIZON

    ds = keras.utils.timeseries_dataset_from_array(
        series[:, None], None, sequence_length=WINDOW + HORIZON, batch_size=BATCH,
        shuffle=True, seed=0)
    ds = ds.map(lambda b: (b[:, :WINDOW], b[:, WINDOW:, 0]))

    def theirs():
        for _ in ds:
            pass

    # Same number of windows on both sides.
    keras_windows = n_points - (WINDOW + HORIZON) + 1
    assert keras_windows == n_windows, (keras_windows, n_windows)
    ours(False)  # warm up (keras's pipeline has nothing to trace)
    times = alternate({"ours": lambda: ours(False), "ours_relative": lambda: ours(True),
                       "keras_tsdfa": theirs}, repeats)
    rate = {k: n_windows / median(v) for k, v in times.items()}

    from benchmarks.cells import measure

    train = measure((WINDOW, 64, BATCH), ["tanh_cell"], n_batches=4 if quick else 8,
                    repeats=3)["tanh_cell"]["train"]
    section = Section("windowing")
    for name, label in (("ours", "WindowSampler"), ("ours_relative", "WindowSampler relative"),
                        ("keras_tsdfa", "keras timeseries_dataset_from_array")):
        section.rows.append({"producer": label, "windows/s": rate[name],
                             "x training": rate[name] / train,
                             "x keras": rate[name] / rate["keras_tsdfa"]})
    section.rows.append({"producer": "training (tanh_cell 48,64,256)", "windows/s": train,
                         "x training": 1.0, "x keras": train / rate["keras_tsdfa"]})
    verdict = ", ".join(
        f"{label} {rate[k] / train:.0f}x ({'met' if rate[k] >= 100 * train else 'NOT met'})"
        for k, label in (("ours", "absolute"), ("ours_relative", "relative (product default)")))
    section.notes.append(
        f"{n_points:,}-point series, {n_windows:,} windows of {WINDOW}+{HORIZON}, batch {BATCH}, "
        f"shuffled, median of {repeats}; target ours >= 100x training: {verdict}")
    return section
