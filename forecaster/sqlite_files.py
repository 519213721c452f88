"""Local SQLite databases that other libraries open for us (Optuna's study storage, an
MLflow tracking store): before they touch a file, make sure it is theirs.

:func:`check_sqlite_file` accepts a file that does not exist yet (its folder is created),
an empty file, or an SQLite database that is empty or holds the expected tables; anything
else — another kind of file, a corrupt database, another program's database — is a
:class:`~forecaster.errors.ConfigError` and the file is left exactly as it was (opened
read-only).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from forecaster.errors import ConfigError

SQLITE_MAGIC = b"SQLite format 3\x00"


def check_sqlite_file(path: Path, expected: set[str], label: str) -> None:
    """Refuse ``path`` unless a library expecting the tables ``expected`` may open it
    (see the module docstring); ``label`` starts every message (``"--storage 'x.db'"``)."""
    path = Path(path)
    if not path.exists():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"{label}: cannot create {str(path.parent)!r} "
                              f"({exc.strerror or exc}).") from None
        return
    if not path.is_file():
        raise ConfigError(f"{label} is not a file.")
    with open(path, "rb") as fh:
        head = fh.read(len(SQLITE_MAGIC))
    if not head:
        return
    if head != SQLITE_MAGIC:
        raise ConfigError(f"{label} is not an SQLite database (corrupt or another kind of "
                          "file); it was left as it is. Choose another file.")
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            tables = {r[0] for r in con.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        raise ConfigError(f"{label} cannot be read as an SQLite database ({exc}); it was "
                          "left as it is.") from None
    if tables and not expected <= tables:
        raise ConfigError(f"{label} is an SQLite database of something else (tables: "
                          f"{', '.join(sorted(tables)[:5])}); it was left as it is. Choose "
                          "another file.")
