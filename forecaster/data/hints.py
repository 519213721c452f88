"""The fixes the reader suggests, each a :class:`~forecaster.errors.Hint` said by both
faces: flags on the command line (``--freq MS``), keyword arguments in the Python API
(``freq='MS'``)."""

from __future__ import annotations

from forecaster.errors import Hint


def name_a_column(option: str) -> Hint:
    """Name the column yourself: ``--time-col NAME`` / ``time_col='NAME'``."""
    return Hint(option, f"--{option.replace('_', '-')} NAME", f"{option}='NAME'")


def combine_duplicates(candidates: list) -> Hint:
    """Combine duplicated timestamps with ``aggregate`` — or, when the file has text
    columns (``candidates``) that may tell series apart, name one as the id column."""
    flag = "; pass --aggregate mean|sum|last|first|max|min to combine them"
    kwarg = "; pass aggregate='mean' (or 'sum', 'last', 'first', 'max', 'min') to combine them"
    if candidates:
        eg = ("if the file holds several series (e.g. "
              + ", ".join(repr(c) for c in candidates[:3]) + ")")
        flag, kwarg = f"{flag} — or --id-col {eg}", f"{kwarg} — or id_col= {eg}"
    return Hint("aggregate", flag, kwarg)


def resample(alias: str) -> Hint:
    """Resample irregular timestamps onto the ``alias`` grid (or another)."""
    return Hint("resample", f"; pass --freq {alias} --aggregate mean (or another frequency) "
                "to resample onto one", f"; pass freq={alias!r}, aggregate='mean' (or another "
                "frequency) to resample onto one")


def resample_onto_grid() -> Hint:
    """Resample off-grid timestamps onto the given frequency's grid."""
    return Hint("resample", "; add --aggregate mean (or sum, last, …) to resample them onto it",
                "; add aggregate='mean' (or 'sum', 'last', …) to resample them onto it")
