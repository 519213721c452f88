"""Local SQLite databases that other libraries open for us (Optuna's study storage, an
MLflow tracking store): before they touch a file, make sure it is theirs.

:func:`check_sqlite_file` accepts a file that does not exist yet (its folder is created),
an empty file, or an SQLite database that is empty or holds the expected tables; anything
else — another kind of file, a corrupt database, another program's database — is a
:class:`~forecaster.errors.ConfigError` and the file is left exactly as it was (opened
read-only).

:func:`exclusive` holds a lock file beside such a database (:func:`lock_path`) so that one
process at a time writes a given part of it (one tuner per Optuna study).
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import sqlite3
from contextlib import contextmanager
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


# -- one writer at a time ----------------------------------------------------------------------
def lock_path(db: Path, key: str) -> Path:
    """The lock file of ``key`` (a study name) beside the database ``db``: readable, and
    distinct for keys that read alike once their odd characters are replaced."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", key).strip("._")[:60] or "lock"
    tag = hashlib.sha256(key.encode()).hexdigest()[:8]
    return db.with_name(f"{db.name}.{safe}-{tag}.lock")


@contextmanager
def exclusive(path: Path, busy: str):
    """Hold an exclusive ``flock`` on ``path`` for the block, with ``"<pid> <host>"``
    written in it.  The kernel releases the lock with the process however it ends (kill
    -9 included), so a lock is never stale; the file itself stays (removing it would let
    a newcomer lock a fresh file while an old holder keeps the unlinked one).  When
    another process holds it: a :class:`ConfigError` of ``busy`` formatted with
    ``holder`` ("process 123 on host-a")."""
    try:
        import fcntl
    except ImportError:  # no flock (Windows): nothing to hold
        yield path
        return
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise ConfigError(f"cannot open the lock file {str(path)!r} "
                          f"({exc.strerror or exc}).") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise ConfigError(busy.format(holder=_holder(fd))) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
        try:
            yield path
        finally:
            os.ftruncate(fd, 0)  # nobody holds it now
    finally:
        os.close(fd)  # releases the lock


def _holder(fd: int) -> str:
    """Who holds the lock, from what it wrote (checked: the file is anyone's)."""
    text = os.pread(fd, 300, 0).decode("ascii", "replace")
    found = re.fullmatch(r"(\d{1,10}) ([A-Za-z0-9._-]{1,253})\n?", text)
    return f"process {found[1]} on {found[2]}" if found else "another process"
