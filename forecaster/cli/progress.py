"""The command line's one progress reporter: every long phase (the backtest origin by
origin, each fit epoch by epoch) reports ``(phase, done, total, detail)`` to it, and it
renders them for where stderr goes.

On a terminal the line is rewritten in place (``\\r``) at every report.  Anywhere else (CI,
``nohup``, a notebook's subprocess, a scheduler's log) a rewritten line would be one
line printed at the very end, so a plain line is written instead, at most every
:data:`EVERY` seconds: the phase, the progress, the time elapsed in the phase and an
estimate of the time left.  The clock is injectable, so the throttle is tested without
sleeping.
"""

from __future__ import annotations

import time
from typing import Callable

EVERY = 30.0  # seconds between two plain lines when stderr is not a terminal


def duration(seconds: float) -> str:
    """``7`` → ``7 s``; ``125`` → ``2 min 5 s``; ``3725`` → ``1 h 2 min``."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


class Progress:
    """Render progress reports on ``write`` (a function taking text, no newline added).

    ``live``: a terminal (rewrite one line per phase in place); otherwise plain lines, the
    first :data:`EVERY` seconds after the reporter started and then at most one per
    ``every`` seconds (:data:`EVERY` by default).  ``clock``: seconds, monotonic
    (``time.monotonic`` by default)."""

    def __init__(self, write: Callable[[str], None], *, live: bool,
                 every: float | None = None, clock: Callable[[], float] | None = None):
        self.write, self.live = write, live
        self.every = EVERY if every is None else every
        self.clock = clock or time.monotonic
        self.started = self.last_line = self.clock()
        self.phase: str | None = None
        self.phase_started = self.reported = self.started  # reported: the last update
        self.open_line = False  # a live line not yet ended by a newline

    def update(self, phase: str, done: int, total: int | None, detail: str = "") -> None:
        """``done`` of ``total`` steps of ``phase`` are finished (``detail``: what is
        being done now, e.g. the model and fold, or the epoch's loss)."""
        now = self.clock()
        if phase != self.phase:
            self.end()  # keep the finished phase's last live line
            # the new phase began when the previous one last reported (its end)
            self.phase, self.phase_started = phase, self.reported
        self.reported = now
        text = self.line(phase, done, total, detail, now)
        if self.live:
            self.write(f"\r{text}   ")
            self.open_line = True
        elif now - self.last_line >= self.every:
            self.write(text + "\n")
            self.last_line = now

    def line(self, phase: str, done: int, total: int | None, detail: str, now: float) -> str:
        """``phase: done/total (detail), elapsed 1 min 5 s, about 2 min left``."""
        elapsed = now - self.phase_started
        count = f"{done}/{total}" if total else str(done)
        text = f"{phase}: {count}" + (f" ({detail})" if detail else "")
        text += f", elapsed {duration(elapsed)}"
        if total and 0 < done < total:
            text += f", about {duration(elapsed / done * (total - done))} left"
        return text

    def end(self) -> None:
        """End a live line (before other output, or when its phase is over)."""
        if self.open_line:
            self.write("\n")
            self.open_line = False
