"""Notes: the sentences a step adds about what it did (a repair of the data, a forecast it
could not make), each with a ``kind`` that code tests instead of the sentence's wording.

A :class:`Note` is a ``str`` — printed, compared and written to ``run.json`` or
``metrics.json`` exactly as the plain sentence — so only code that needs to tell notes
apart reads its kind; notes nothing branches on stay plain strings.
"""

from __future__ import annotations

#: The kinds in use: where each note is made, and who tests for it
KINDS = {
    "fill": "gaps filled by the fill policy (data.grid); kept for a covariate column",
    "infinite": "inf values read as missing (data.ingest); kept for a covariate column",
    "trim": "leading/trailing missing values trimmed (data.ingest); not said of --future",
    "sort": "rows sorted by time (data.ingest); not said of --future",
    "no_forecast": "train made no forecast (pipeline.train); the CLI always says it",
    "time_hint": "integer times that look like dates (data.timestamps); repeated by a "
                 "later error of the same read",
}


class Note(str):
    """A note's sentence (the ``str`` itself) and its ``kind`` (one of :data:`KINDS`):
    ``Note("Trimmed 2 leading/trailing missing value(s).", kind="trim")``."""

    __slots__ = ("kind",)

    def __new__(cls, text: str, *, kind: str) -> "Note":
        if kind not in KINDS:
            raise ValueError(f"unknown note kind {kind!r}; add it to forecaster.notes.KINDS")
        note = super().__new__(cls, text)
        note.kind = kind
        return note

    def __getnewargs_ex__(self):  # copies keep the kind
        return (str(self),), {"kind": self.kind}

    def __repr__(self) -> str:
        return f"Note({str.__repr__(self)}, kind={self.kind!r})"


def kind_of(note) -> str | None:
    """``note``'s kind, ``None`` for a plain-string note."""
    return getattr(note, "kind", None)
