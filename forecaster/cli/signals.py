"""Signals: SIGTERM and Ctrl-C stop a command cleanly (staged runs removed, exit 143 or
130), even where the raise lands inside library code."""

from __future__ import annotations

import signal
import sys
from contextlib import contextmanager


class Terminated(BaseException):
    """Raised from the SIGTERM handler so that staged runs are cleaned up."""


def on_signal(signum, frame):
    """SIGTERM → Terminated, SIGINT → KeyboardInterrupt, raised here and also handed to the
    training loop (:func:`forecaster.training.runtime.interrupt`) in case this raise is swallowed."""
    from forecaster.training.runtime import interrupt

    exc = Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()
    interrupt(exc)
    if frame is not None and frame.f_code.co_name.endswith("gc_callback"):
        return  # Python would print this raise as "Exception ignored" and drop it
    raise exc


@contextmanager
def interruptible():
    """SIGTERM and Ctrl-C stop the block with :class:`Terminated` / ``KeyboardInterrupt``.

    The handler's raise can land anywhere, including inside library code that turns it
    into an error of its own (TensorFlow tracing a function, a context manager's exit). An
    exception that leaves the block while an interrupt is pending is therefore reported as
    that interrupt, so the user sees "terminated" and exit 143 (or 130), not an unexpected
    error.  Where Python cannot propagate the raise at all — a weakref callback or a
    ``__del__`` (SQLAlchemy's registry during a search) — it would print "Exception ignored
    in …" with a traceback: such interrupts are kept quiet and raised when the block ends
    instead."""
    from forecaster.training.runtime import clear_interrupts, pending_interrupt

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    previous_hook = sys.unraisablehook

    def unraisable(info):
        if not isinstance(info.exc_value, (Terminated, KeyboardInterrupt)):
            previous_hook(info)

    sys.unraisablehook = unraisable
    try:
        yield
        pending = pending_interrupt()
        if pending is not None:  # swallowed where it landed: it still stops the command
            raise pending
    except Exception as exc:
        pending = pending_interrupt()
        if pending is not None:
            raise pending from exc
        raise
    finally:
        sys.unraisablehook = previous_hook
        for s, handler in previous.items():
            signal.signal(s, handler)
        clear_interrupts()
