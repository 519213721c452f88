"""The command line's progress reporter (issue 36, item 2): a plain line at most every 30 s
when stderr is not a terminal, a line rewritten in place on one; a fake clock, no sleeps."""

from __future__ import annotations

from forecaster.cli.progress import Progress, duration


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def _reporter(live=False):
    out, clock = [], Clock()
    return Progress(out.append, live=live, clock=clock), out, clock


def test_non_terminal_lines_are_throttled_to_one_per_30_seconds():
    progress, out, clock = _reporter()
    for epoch in range(1, 301):  # 300 epochs of 1 s each
        clock.now += 1
        progress.update("lstm (final)", epoch, 300, f"loss {1 / epoch:.3g}")
    assert len(out) == 10  # at 30, 60, … 300 s
    assert all(line.endswith("\n") and "\r" not in line for line in out)
    assert out[0] == ("lstm (final): 30/300 (loss 0.0333), elapsed 30 s, "
                      "about 4 min 30 s left\n")
    assert out[-1] == "lstm (final): 300/300 (loss 0.00333), elapsed 5 min 0 s\n"


def test_a_phase_counts_its_time_from_the_previous_phases_last_report():
    progress, out, clock = _reporter()
    clock.now += 40
    progress.update("backtest", 1, 4, "naive fold 1/4")
    clock.now += 20
    progress.update("lstm (final)", 1, 2, "")
    clock.now += 15
    progress.update("lstm (final)", 2, 2, "")
    assert out == ["backtest: 1/4 (naive fold 1/4), elapsed 40 s, about 2 min 0 s left\n",
                   "lstm (final): 2/2, elapsed 35 s\n"]  # 20 s after a line: none


def test_a_terminal_line_is_rewritten_in_place_and_ended_between_phases():
    progress, out, clock = _reporter(live=True)
    progress.update("backtest", 1, 2, "naive fold 1/2")
    progress.update("backtest", 2, 2, "naive fold 2/2")
    progress.update("lstm (final)", 1, 5, "loss 0.5")
    progress.end()
    progress.end()  # idempotent
    assert [line.startswith("\r") for line in out] == [True, True, False, True, False]
    assert out[2] == "\n" and out[-1] == "\n"
    assert "backtest: 2/2 (naive fold 2/2), elapsed 0 s" in out[1]


def test_durations_read_as_people_write_them():
    assert [duration(s) for s in (0, 7.4, 65, 3725)] == ["0 s", "7 s", "1 min 5 s",
                                                        "1 h 2 min"]
