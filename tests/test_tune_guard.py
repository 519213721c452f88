"""The incumbent guard and the budget of `forecast tune`, tested directly and
deterministically: hand-made per-series score tables (clearly better → recommended; noise →
the defaults stand, saying why), the deadline on a fake clock, the cost model, the --quick
space's bounds, and trial 0 being the defaults."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecaster.pipeline.search_space import default_space, quick_space
from forecaster.pipeline.tune_budget import CostModel, Deadline, DeadlinePassed, trial_work
from forecaster.pipeline.tune_guard import (decide, fold_weights, judge, read_scores,
                                            weighted_series)
from tests.conftest import DATA

IDS = tuple(f"s{i}" for i in range(24))
MEMBERS = [IDS, IDS, IDS]  # three folds of 24 series


def _table(values):
    return [list(map(float, fold)) for fold in values]


def _defaults():
    rng = np.random.default_rng(0)
    return _table(1.0 + rng.uniform(0, 1, size=(3, 24)))


def test_clearly_better_on_every_series_is_recommended():
    defaults = _defaults()
    best = [[0.8 * v for v in fold] for fold in defaults]
    verdict = judge(defaults, best, MEMBERS, best_trial=7, incumbent=0)
    assert verdict.recommended and verdict.chosen == 7
    assert verdict.gain == pytest.approx(0.2) and verdict.p < 1e-5 and verdict.pairs == 24
    assert verdict.reason.startswith("trial 7 replaces the defaults (trial 0): 20.0 % better")


def test_a_gain_within_the_noise_keeps_the_defaults_and_says_why():
    defaults = _defaults()
    rng = np.random.default_rng(1)  # noise around the defaults, a little lower on average
    best = _table(np.asarray(defaults) * (0.99 + rng.normal(0, 0.1, size=(3, 24))))
    verdict = judge(defaults, best, MEMBERS, best_trial=7, incumbent=0)
    assert not verdict.recommended and verdict.chosen == 0
    assert verdict.p >= 0.05
    assert verdict.reason.startswith("the defaults stand: the best trial (7) was ")
    assert f"within their noise (p = {verdict.p:.2g} over 24 series" in verdict.reason


def test_a_significant_but_tiny_gain_keeps_the_defaults():
    defaults = _defaults()
    best = [[0.998 * v for v in fold] for fold in defaults]  # 0.2 %: below the 1 % margin
    verdict = judge(defaults, best, MEMBERS, best_trial=3, incumbent=0)
    assert not verdict.recommended and verdict.p < 0.05
    assert "below the 1 % margin" in verdict.reason


def test_one_series_pairs_its_folds_and_three_cannot_be_significant():
    members = [("a",)] * 3
    defaults, best = [[2.0], [2.0], [2.0]], [[1.0], [1.0], [1.0]]
    verdict = judge(defaults, best, members, best_trial=1, incumbent=0)
    assert verdict.pairs == 3 and verdict.p == pytest.approx(0.125)  # 1/2³: the least
    assert not verdict.recommended and "over 3 fold × series cells" in verdict.reason
    five = judge([[2.0]] * 5, [[1.0]] * 5, [("a",)] * 5, best_trial=1, incumbent=0)
    assert five.recommended and five.p == pytest.approx(1 / 32)


def test_later_folds_weigh_more_and_late_series_are_weighted_over_their_folds():
    assert list(fold_weights(3)) == [1.0, 2.0, 3.0]
    members = [("a",), ("a", "b"), ("a", "b")]
    scores = [[1.0], [2.0, 4.0], [3.0, 1.0]]
    got = weighted_series(scores, members)
    assert got["a"] == pytest.approx((1 * 1 + 2 * 2 + 3 * 3) / 6)
    assert got["b"] == pytest.approx((2 * 4 + 3 * 1) / 5)


@pytest.mark.parametrize("value", [
    None, "x", [[1.0] * 24] * 2, [[1.0] * 23] * 3, [[1.0] * 23 + ["x"]] * 3,
    [[1.0] * 23 + [float("nan")]] * 3, [[1.0] * 23 + [-1.0]] * 3, [[1.0] * 23 + [True]] * 3,
])
def test_scores_read_from_a_study_are_checked(value):
    assert read_scores(value, MEMBERS) is None


def test_decide_from_rows():
    defaults = _defaults()
    better = [[0.8 * v for v in fold] for fold in defaults]
    row = lambda n, value, scores, **kw: {"number": n, "state": "COMPLETE", "value": value,
                                          "scores": scores, **kw}
    rows = [row(4, 1.2, better), row(0, 1.5, defaults, incumbent=True)]
    assert decide(rows, MEMBERS).recommended
    assert decide(rows[::-1], MEMBERS).reason == "the defaults stand: they scored best (trial 0)"
    broken = [row(4, 1.2, [[1.0]]), rows[1]]
    assert not decide(broken, MEMBERS).recommended
    assert "trial 4 are missing or invalid" in decide(broken, MEMBERS).reason
    assert "unguarded: the defaults lie outside" in decide(rows[:1], MEMBERS).reason
    assert decide([{**rows[0], "state": "PRUNED"}], MEMBERS) is None


# -- the budget ------------------------------------------------------------------------------
class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_the_deadline_stops_on_its_clock():
    clock = Clock()
    deadline = Deadline(30, clock)
    deadline.check()
    clock.now += 29.5
    assert deadline.left() == pytest.approx(0.5) and not deadline.passed()
    clock.now += 0.5
    with pytest.raises(DeadlinePassed, match="--timeout of 30 s was reached"):
        deadline.check()
    assert Deadline(None, clock).left() == float("inf")


def test_a_trial_is_pruned_when_the_deadline_passes_during_training(tmp_path, monkeypatch):
    """The deadline passes inside the trial's training (the fit loop's step checks): the
    trial is pruned, and the search starts no other."""
    from forecaster.pipeline import tune as tune_module
    from forecaster.training.fit_common import check_stops

    clock = Clock()

    def score_fold(panel, cfg, **_):
        clock.now += 1000  # the training ran past the deadline …
        check_stops()  # … which the fit loop's next step check sees
        raise AssertionError("not reached")

    monkeypatch.setattr(tune_module, "score_fold", score_fold)
    seen = []
    result = tune_module.tune(_plan(), trials=3, timeout=60, clock=clock,
                              storage=f"sqlite:///{tmp_path / 'tune.db'}", study_name="s",
                              progress=lambda row, done, total: seen.append(row))
    assert [(r["number"], r["state"]) for r in seen] == [(0, "PRUNED")]
    assert seen[0]["pruned"] == "the --timeout of 60 s was reached"
    assert result.best is None and result.verdict is None
    check_stops()  # the check is gone with the trial


def test_a_trial_estimated_past_the_deadline_is_pruned_before_it_starts(tmp_path,
                                                                        monkeypatch):
    from forecaster.pipeline import tune as tune_module

    clock, calls = Clock(), []

    def score_fold(panel, cfg, **_):
        calls.append(cfg.model.units)
        clock.now += 40  # each fold "takes" 40 s of the 60
        return 1.0, [1.0] * len(panel)

    monkeypatch.setattr(tune_module, "score_fold", score_fold)
    seen = []
    tune_module.tune(_plan(), trials=3, timeout=60, clock=clock,
                     storage=f"sqlite:///{tmp_path / 'tune.db'}", study_name="s",
                     progress=lambda row, done, total: seen.append(row))
    assert len(calls) == 1  # the second trial was estimated at ~40 s with 20 s left …
    assert [r["state"] for r in seen] == ["COMPLETE", "PRUNED"]  # … and ended the search
    assert seen[0]["seconds"] == 40 and seen[1]["estimate"] == pytest.approx(40, rel=0.5)
    assert seen[1]["pruned"].startswith("estimated ")


def test_the_cost_model_calibrates_on_completed_trials():
    costs = CostModel()
    assert costs.estimate(100.0) is None
    costs.record(1000.0, 10.0)
    costs.record(float("nan"), 5.0)  # read from a study: ignored
    costs.record("x", 5.0)
    assert costs.estimate(500.0) == pytest.approx(5.0)


def test_trial_work_grows_with_members_epochs_and_gates():
    from forecaster.config import load_config

    cfg = load_config(overrides={"training": {"epochs": 10}})
    lengths = [[100, 50], [112, 62]]
    base = trial_work({"kind": "tanh_cell", "ensemble": 1, "window": 24, "layers": 1}, cfg,
                      lengths=lengths, horizon=12, window=24)
    assert base == 10 * ((65 + 15) + (77 + 27)) * 24
    assert trial_work({"kind": "gru", "ensemble": 10, "window": 24, "layers": 1}, cfg,
                      lengths=lengths, horizon=12, window=24) == 30 * base


# -- the spaces and trial 0 --------------------------------------------------------------------
def test_the_quick_space_is_narrower_and_holds_the_quick_defaults():
    from forecaster.config import load_config

    full = {p.name: p for p in default_space(24, 12).params}
    quick = {p.name: p for p in quick_space(24, 12).params}
    assert set(quick) == set(full)
    assert quick["ensemble"].choices == (1, 3) and max(full["ensemble"].choices) == 10
    assert max(quick["units"].choices) == 64 and quick["layers"].choices == (1,)
    assert max(quick["window"].choices) == 24 < max(full["window"].choices)
    for name, p in quick.items():
        assert set(p.choices or ()) <= set(full[name].choices or ()), name
    cfg = load_config(profile="quick")
    assert quick_space(24, 12).start(cfg, window=24) is not None
    assert default_space(24, 12).start(load_config(), window=24) is not None


def test_trial_0_is_the_defaults(tmp_path, monkeypatch):
    from forecaster.pipeline import tune as tune_module

    monkeypatch.setattr(tune_module, "score_fold",
                        lambda panel, cfg, **_: (1.0, [1.0] * len(panel)))
    result = tune_module.tune(_plan(), trials=2, storage=f"sqlite:///{tmp_path / 'tune.db'}",
                              study_name="s")
    zero = next(r for r in result.rows if r["number"] == 0)
    assert zero["incumbent"] and zero["params"] == {"units": 8}
    assert zero["scores"] == [[1.0]]
    # equal scores: the defaults stand, and best.toml's settings are theirs
    assert not result.verdict.recommended and result.best_settings == {"units": 8}


def _plan():
    from dataclasses import replace

    from forecaster.config import load_config
    from forecaster.pipeline.search_space import parse_space
    from forecaster.pipeline.tune import plan_tune

    cfg = load_config(overrides={"training": {"epochs": 2, "patience": 2, "seed": 1},
                                 "model": {"ensemble": 1, "units": 8}})
    plan = plan_tune(pd.read_csv(DATA / "air_passengers.csv"), cfg, folds=1)
    return replace(plan, space=parse_space({"only": True, "units": [4, 8]}, plan.space))
