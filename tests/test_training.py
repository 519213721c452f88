"""The training loop's helpers: the weight average of fixed-epoch fits."""

import pytest

from forecaster.training import ema_momentum, fit_model


def test_ema_momentum_spans_the_end_of_short_fits():
    assert ema_momentum(10_000) == 0.99
    assert ema_momentum(100) == pytest.approx(0.96)
    assert ema_momentum(1) == 0.0


def test_average_is_refused_with_early_stopping():
    # early stopping restores the best raw weights, which would silently drop the average
    with pytest.raises(ValueError, match="fixed-epoch"):
        fit_model(None, [], ([], []), epochs=1, learning_rate=1e-3, clipnorm=1.0,
                  patience=1, average=True)
