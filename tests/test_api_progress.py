"""``Forecaster.fit(progress=…)`` (issue 36, item 2): the epochs of the backtest's fit and
of the final fit, as ``forecast train`` shows them."""

from __future__ import annotations

from forecaster import Forecaster
from tests.test_api import AIR, TINY


def test_fit_reports_every_epoch_of_both_fits():
    calls = []
    model = Forecaster(**TINY).fit(AIR, progress=lambda *args: calls.append(args))
    stages = [c[0] for c in calls]
    assert set(stages) == {"backtest", "final"}
    assert stages == sorted(stages)  # the backtest's fit comes first
    final = [c for c in calls if c[0] == "final"]
    assert [c[1] for c in final] == list(range(1, len(final) + 1))
    assert all(c[2] == final[0][2] and c[3] is not None for c in final)
    assert model.config_.training.epochs >= final[0][2]
