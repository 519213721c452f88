"""Bytes on disk, for every layer: one atomic write (a temporary beside the target,
renamed onto it), JSON written the same way everywhere, a file's sha256, and the guard
that keeps user ids from running as spreadsheet formulas in the CSV files we write."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path`` to write to; once the block succeeds it is
    renamed onto ``path`` in one step (readers see the old file or the new one, never half
    of it); on any failure it is removed and ``path`` is left as it was.  The one atomic
    write of forecaster: ``latest``, forecasts, reports and digests all go through it."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # as a plain open() would create it, not 0600
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (:func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


#: First characters that make a spreadsheet read a cell as a formula (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(frame, columns=("series_id",)):
    """``frame`` with each text cell of ``columns`` (the ids, which come from the user's
    data) that a spreadsheet would run as a formula — ``=``, ``+``, ``-``, ``@``, tab or
    carriage return first — prefixed with ``'``, as OWASP advises for CSV files."""
    out = frame.copy()
    for col in columns:
        if col in out.columns:
            text = out[col].astype(str)
            risky = text.str.startswith(FORMULA_STARTS)
            if risky.any():
                out[col] = text.where(~risky, "'" + text)
    return out


def spreadsheet_unsafe(values):
    """Inverse of :func:`spreadsheet_safe` for a column read back (a pandas Series)."""
    text = values.astype(str)
    guarded = text.str.startswith(tuple("'" + c for c in FORMULA_STARTS))
    return text.where(~guarded, text.str[1:])


def write_json(path: Path, data) -> None:
    Path(path).write_text(json.dumps(data, indent=2, allow_nan=False, default=str) + "\n",
                          encoding="utf-8")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
