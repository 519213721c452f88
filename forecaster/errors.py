"""One exception family for everything a user can cause.

The CLI turns any :class:`ForecastError` into a single line ``Error: <message>`` and exit
code 1.  Messages follow one shape: "`name` must be …. Got …." and, where it helps, say
how to fix the problem.

A fix that names an option is a :class:`Hint`, kept apart from the message, because the
faces spell options differently: the command line says ``--target``, the Python API
``target=``.  The message holds :data:`HINT` where the fix goes; ``str(exc)`` is the
Python API's wording and :meth:`ForecastError.render` gives either face's.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Where a message's :class:`Hint` goes
HINT = "{hint}"


@dataclass(frozen=True)
class Hint:
    """The fix of a message, said by each face: ``flag`` on the command line (e.g.
    ``"; pass --target NAME."``), ``kwarg`` in the Python API (``"; pass target='NAME'."``).
    ``kind`` says what the fix does (``"fill"``, ``"resample"``, ``"target"``, …), for a
    caller that knows a better one (a ``--future`` file cannot be repaired by ``--fill``)."""

    kind: str
    flag: str
    kwarg: str


class ForecastError(Exception):
    """Base class: a problem the user can fix (bad data, bad config, missing run).

    ``ForecastError(message, hint=Hint(...))``: ``message`` holds :data:`HINT` where the
    hint is said; without a hint the message is plain text."""

    exit_code = 1

    def __init__(self, *args, hint: Hint | None = None):
        self.hint = hint
        self.template = str(args[0]) if args else ""
        if hint is not None:
            args = (self.render("api"), *args[1:])
        super().__init__(*args)

    def render(self, face: str) -> str:
        """The message as ``face`` says it: ``"cli"`` names flags, ``"api"`` keyword
        arguments."""
        if self.hint is None:
            return str(self)
        return self.said(self.hint.flag if face == "cli" else self.hint.kwarg)

    def said(self, fix: str) -> str:
        """The message with ``fix`` in place of its hint (``""``: without one)."""
        return self.template.replace(HINT, fix) if self.hint is not None else str(self)


class DataError(ForecastError):
    """The input data cannot be read or does not make a usable time series."""


class ConfigError(ForecastError):
    """A configuration value or command-line flag is out of range or inconsistent."""


class RunNotFoundError(ForecastError):
    """The requested run directory does not exist or is incomplete."""


class ArtifactError(ForecastError):
    """A saved run exists but fails validation or safe loading."""


class TrainingError(ForecastError):
    """Training diverged (NaN loss) or could not proceed."""


class NotFittedError(ForecastError):
    """A model (or the conformal intervals) was asked to predict before ``fit``."""
