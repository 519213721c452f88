"""The wide tanh-cell ensemble: the same networks as one layer per member, in one graph."""

import keras
import numpy as np
import pytest

from forecaster.models import ensemble as E
from forecaster.models import rnn

LOOKBACKS = [16, 13, 10, 8]


def _x(batch=5, T=16, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, T, 1)).astype("float32")


def _singles(x, *, horizon, units, layers=1, seed=7, lookbacks=LOOKBACKS, season=None,
             anchor="level"):
    """Each member built alone, as a one-network ensemble with that member's seed."""
    anchored = rnn.anchored_members(anchor, season, lookbacks)
    return [np.asarray(rnn.build_ensemble(
        "tanh_cell", window=x.shape[1], horizon=horizon, units=units, layers=layers,
        seed=seed + 1000 * j, lookbacks=[L], season=season,
        anchor="season" if anchored[j] else "level")[0](x))
        for j, L in enumerate(lookbacks)]


@pytest.mark.parametrize("layers,season,anchor", [(1, None, "level"), (1, 4, "mixed"),
                                                  (2, 4, "season")])
def test_wide_ensemble_computes_the_separate_networks(layers, season, anchor):
    x = _x()
    model, training, members = rnn.build_ensemble(
        "tanh_cell", window=16, horizon=6, units=5, layers=layers, seed=7,
        ensemble=len(LOOKBACKS), lookbacks=LOOKBACKS, season=season, anchor=anchor)
    assert any(isinstance(layer, E.EnsembleTanhRNN) for layer in model.layers)
    singles = _singles(x, horizon=6, units=5, layers=layers, season=season, anchor=anchor)
    np.testing.assert_allclose(np.asarray(training(x)), np.concatenate(singles, axis=1),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(model(x)), np.mean(singles, axis=0),
                               rtol=1e-5, atol=1e-6)
    for member, single in zip(members, singles):
        np.testing.assert_allclose(np.asarray(member(x)), single, rtol=1e-5, atol=1e-6)
    assert training.output_shape == (None, 6 * len(LOOKBACKS))


def test_a_member_ignores_steps_before_its_lookback():
    model, _, members = rnn.build_ensemble("tanh_cell", window=16, horizon=3, units=4,
                                           ensemble=4, lookbacks=LOOKBACKS)
    x = _x()
    older = x.copy()
    older[:, :8] += 3.0  # only members reading more than 8 steps see this
    for member, lookback in zip(members, LOOKBACKS):
        a, b = np.asarray(member(x)), np.asarray(member(older))
        if lookback > 8:
            assert not np.allclose(a, b)
        else:
            np.testing.assert_array_equal(a, b)


def test_cell_step_by_hand():
    """Two members of one unit: h = tanh(x w_j + h_prev u_j + b_j), computed by hand."""
    cell = E.EnsembleTanhCell(1, 2)
    layer = E.EnsembleTanhRNN(cell, lookbacks=[3, 2])
    x = np.array([[[0.5], [-1.0], [2.0]]], dtype="float32")
    layer(x)
    w, u, b = np.array([0.8, -0.4]), np.array([0.5, 0.9]), np.array([0.1, -0.2])
    cell.kernel.assign(w.reshape(2, 1, 1))
    cell.recurrent_kernel.assign(u.reshape(2, 1, 1))
    cell.bias.assign(b.reshape(2, 1))
    h0 = np.tanh(0.5 * 0.8 + 0.1)  # member 0 reads all three steps
    h0 = np.tanh(-1.0 * 0.8 + 0.1 + 0.5 * h0)
    h0 = np.tanh(2.0 * 0.8 + 0.1 + 0.5 * h0)
    h1 = np.tanh(-1.0 * -0.4 - 0.2)  # member 1 starts at step 2 from a zero state
    h1 = np.tanh(2.0 * -0.4 - 0.2 + 0.9 * h1)
    np.testing.assert_allclose(np.asarray(layer(x)), [[h0, h1]], rtol=1e-6)


def test_member_dense_and_mean_keep_members_apart():
    dense = E.MemberDense(2, 3)
    h = np.arange(12, dtype="float32").reshape(1, 12) / 10  # 3 members of 4 units
    dense(h)
    kernel = np.random.default_rng(0).normal(size=(3, 4, 2)).astype("float32")
    dense.kernel.assign(kernel)
    dense.bias.assign(np.array([[1, 2], [3, 4], [5, 6]], "float32"))
    expected = np.concatenate([h[0, 4 * j:4 * j + 4] @ kernel[j] + [2 * j + 1, 2 * j + 2]
                               for j in range(3)])
    out = np.asarray(dense(h))
    np.testing.assert_allclose(out[0], expected, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(E.MemberMean(3)(out)),
                               expected.reshape(3, 2).mean(axis=0, keepdims=True), rtol=1e-6)


def test_anchor_positions_repeat_the_last_season():
    assert E.anchor_positions(10, 4, 6).tolist() == [6, 7, 8, 9, 6, 7]
    assert E.anchor_positions(10, 4, 2).tolist() == [6, 7]


def test_member_network_is_member_zero_alone():
    x = _x()
    model, _, members = rnn.build_ensemble("tanh_cell", window=16, horizon=6, units=5,
                                           ensemble=4, lookbacks=LOOKBACKS, season=4,
                                           anchor="mixed")
    single = rnn.member_network(model, 0)
    assert isinstance(single.layers[1], keras.layers.RNN)  # a linear stack for gradients
    np.testing.assert_allclose(np.asarray(single(x)), np.asarray(members[0](x)), rtol=1e-6)
    with pytest.raises(ValueError, match="plain member"):
        rnn.member_network(model, 1)  # anchored


def test_wide_ensemble_reloads_in_safe_mode(tmp_path):
    x = _x()
    model, _, _ = rnn.build_ensemble("tanh_cell", window=16, horizon=6, units=5, layers=2,
                                     ensemble=4, lookbacks=LOOKBACKS, season=4,
                                     anchor="mixed")
    model.save(tmp_path / "m.keras")
    back = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    np.testing.assert_array_equal(np.asarray(back(x)), np.asarray(model(x)))


def test_layers_check_their_arguments():
    with pytest.raises(ValueError, match="members"):
        E.EnsembleTanhCell(4, 0)
    with pytest.raises(ValueError, match="lookbacks"):
        E.EnsembleTanhRNN(E.EnsembleTanhCell(4, 2), lookbacks=[3])
    with pytest.raises(ValueError, match="EnsembleTanhCell"):
        E.EnsembleTanhRNN(keras.layers.SimpleRNNCell(4))
    with pytest.raises(ValueError, match="horizon"):
        E.MemberDense(0, 2)


@pytest.mark.parametrize("lookbacks", [[16, 13, 10, 8], [8, 16, 10, 13], None])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_every_loop_gives_the_same_states(lookbacks, return_sequences):
    """The unrolled loop and the while-loop compute the same states, whatever the order of
    the lookbacks; a member's state is zero until its lookback begins."""
    x = _x()
    layers = [E.EnsembleTanhRNN(E.EnsembleTanhCell(3, 4, seed=1), lookbacks=lookbacks,
                                unroll=unroll, return_sequences=return_sequences)
              for unroll in (True, False)]
    outs = [np.asarray(layer(x)) for layer in layers]
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-5, atol=1e-6)
    if lookbacks is not None and return_sequences:  # states are zero before a member starts
        states = outs[0].reshape(5, 16, 4, 3)
        for j, lookback in enumerate(lookbacks):
            np.testing.assert_array_equal(states[:, :16 - lookback, j], 0.0)
            assert np.all(states[:, 16 - lookback:, j] != 0.0)
