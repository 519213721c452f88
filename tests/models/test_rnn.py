"""The network builder: ensembles, member lookbacks, the seasonal anchor."""

import numpy as np
import pytest

from forecaster.models import rnn


def _zero_heads(model):
    for layer in model.layers:
        if layer.name.endswith("head"):
            layer.set_weights([np.zeros_like(w) for w in layer.get_weights()])


@pytest.mark.parametrize("season,horizon", [(12, 18), (4, 8), (4, 3), (3, 7)])
def test_seasonal_anchor_is_the_last_season_repeated(season, horizon):
    x = np.random.default_rng(0).normal(size=(3, 2 * season + 1, 1)).astype("float32")
    model, _, _ = rnn.build_ensemble("tanh_cell", window=x.shape[1], horizon=horizon,
                                     units=3, season=season, anchor="season")
    _zero_heads(model)  # the head adds nothing: what is left is the anchor
    last = x[:, -season:, 0]
    expected = np.concatenate([last] * (horizon // season + 1), axis=1)[:, :horizon]
    np.testing.assert_allclose(np.asarray(model(x)), expected, rtol=1e-6)


def test_mixed_anchors_every_other_member_and_only_with_a_season():
    assert rnn.anchored_members("mixed", 12, [48, 42, 36, 30]) == [False, True, False, True]
    assert rnn.anchored_members("season", 12, [24, 24]) == [True, True]
    assert rnn.anchored_members("level", 12, [24, 24]) == [False, False]
    assert rnn.anchored_members("season", None, [24]) == [False]  # no season
    assert rnn.anchored_members("season", 1, [24]) == [False]
    assert rnn.anchored_members("season", 12, [24, 8]) == [True, False]  # reads < a season
    assert rnn.anchored_members("season", 12, [24], n_features=2) == [False]
    with pytest.raises(ValueError, match="anchor"):
        rnn.anchored_members("trend", 12, [24])


def test_mixed_ensemble_averages_plain_and_anchored_members():
    x = np.random.default_rng(1).normal(size=(2, 16, 1)).astype("float32")
    model, training, members = rnn.build_ensemble(
        "simple_rnn", window=16, horizon=6, units=3, ensemble=2, season=4, anchor="mixed",
        lookbacks=[16, 8])
    _zero_heads(model)
    np.testing.assert_allclose(np.asarray(members[0](x)), 0.0, atol=1e-7)  # level: 0 change
    anchor = np.concatenate([x[:, -4:, 0], x[:, -4:-2, 0]], axis=1)
    np.testing.assert_allclose(np.asarray(members[1](x)), anchor, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(model(x)), anchor / 2, rtol=1e-6)
    assert training.output_shape == (None, 12)


def test_lookbacks_are_checked():
    with pytest.raises(ValueError, match="lookbacks"):
        rnn.build_ensemble("tanh_cell", window=8, horizon=2, units=2, ensemble=2,
                           lookbacks=[8])
    with pytest.raises(ValueError, match="lookbacks"):
        rnn.build_ensemble("tanh_cell", window=8, horizon=2, units=2, ensemble=2,
                           lookbacks=[9, 4])
