"""``forecast`` in a child process that tells its test where it has got to.

A test that must act while a child is at a given point (mid-training, mid-trial) waits on
a line from this child instead of sleeping or polling: :func:`start` runs the command
line through this file with a pipe, and the child writes one line to it when it reaches
each point:

``epoch <stage> 1``
    the first epoch of a fit finished (``stage``: ``backtest`` or ``final``): the training
    loop runs, past start-up (for ``--distribute multi-worker``: the cluster formed and the
    first all-reduced epoch is done).  Only the first epoch says so, so that a child nobody
    reads any more never fills the pipe.
``trial <n> started``
    ``forecast tune`` runs trial ``n`` (it is RUNNING in the study);
``trial <n> scored``
    trial ``n`` has a score (the search records it COMPLETE before it starts the next).

The hooks wrap the command line's epoch progress and ``forecast tune``'s objective; the
program is otherwise the installed ``forecast`` (``forecaster.cli:main``).
"""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys

FD_ENV = "FORECAST_TEST_HOOK_FD"


# -- the child -----------------------------------------------------------------------------
def _install(fd: int) -> None:
    """Wrap the epoch progress and the tune objective so that they write to ``fd``."""
    import forecaster.cli.commands as commands
    import forecaster.pipeline.tune as tune

    def say(line: str) -> None:
        os.write(fd, (line + "\n").encode())

    epoch_progress = commands._epoch_progress

    def hooked_epoch_progress(ctx, label):
        shown = epoch_progress(ctx, label)

        def progress(stage, epoch, *rest):
            if shown is not None:
                shown(stage, epoch, *rest)
            if epoch == 1:
                say(f"epoch {stage} 1")
        return progress

    objective_for = tune.objective_for

    def hooked_objective_for(*args, **kwargs):
        objective = objective_for(*args, **kwargs)

        def hooked(trial):
            say(f"trial {trial.number} started")
            value = objective(trial)
            say(f"trial {trial.number} scored")
            return value
        return hooked

    commands._epoch_progress = hooked_epoch_progress
    tune.objective_for = hooked_objective_for


# -- the test ------------------------------------------------------------------------------
class Hooked:
    """A started child: its ``subprocess.Popen`` (``proc``, whose attributes it also
    answers: ``send_signal``, ``wait``, ``stderr``, …) and the lines of its hook pipe."""

    def __init__(self, proc: subprocess.Popen, fd: int):
        self.proc, self._fd, self._buffer = proc, fd, b""

    def __getattr__(self, name):
        return getattr(self.proc, name)

    def wait_for(self, pattern: str, timeout: float = 300) -> str:
        """Block until the child writes a line matching ``pattern`` (a regular expression,
        from the line's start) and return it; earlier lines are passed over.  The child
        exiting first (the pipe closes) fails at once; ``timeout`` only guards against a
        child that hangs."""
        while True:
            while b"\n" in self._buffer:
                line, self._buffer = self._buffer.split(b"\n", 1)
                if re.match(pattern, line.decode()):
                    return line.decode()
            ready, _, _ = select.select([self._fd], [], [], timeout)
            assert ready, f"the child wrote no {pattern!r} line in {timeout} s"
            chunk = os.read(self._fd, 4096)
            assert chunk, (f"the child exited (code {self.proc.wait()}) before writing "
                           f"{pattern!r}")
            self._buffer += chunk

    def close(self) -> None:
        os.close(self._fd)


def start(args: list[str], *, env: dict | None = None, **popen) -> Hooked:
    """``forecast ARGS`` as a child with its hook pipe (``popen``: ``subprocess.Popen``'s
    other arguments)."""
    read, write = os.pipe()
    env = {**(os.environ if env is None else env), FD_ENV: str(write)}
    try:
        proc = subprocess.Popen([sys.executable, __file__, *args], env=env,
                                pass_fds=(write,), **popen)
    except BaseException:
        os.close(read)
        raise
    finally:
        os.close(write)  # the child's copy is the only one: its exit closes the pipe
    return Hooked(proc, read)


if __name__ == "__main__":
    del sys.path[0]  # this folder: its test packages are not the program's
    _install(int(os.environ[FD_ENV]))
    from forecaster.cli import main

    sys.argv[0] = "forecast"
    sys.exit(main())
