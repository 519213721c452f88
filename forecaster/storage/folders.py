"""Output folders: checked before any long work without being created, created only when
something is written into them, and removed again (when still empty) if that write fails.

A command that fails on its input therefore leaves no empty ``runs/evaluations/`` or
``runs/tune/<study>/`` behind, while an unwritable place still fails before the work.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from forecaster.errors import ArtifactError


def _nearest_existing(directory: Path) -> Path:
    """``directory`` itself or its nearest ancestor that exists (as anything)."""
    probe = directory
    while not os.path.lexists(probe) and probe != probe.parent:
        probe = probe.parent
    return probe


def _refuse(directory: Path, what: str, reason: str):
    raise ArtifactError(f"cannot write {what} to {str(directory)!r}: {reason}.") from None


def check_writable(directory: Path, what: str) -> Path:
    """Make sure files can be created in ``directory`` — in it when it exists, else in its
    nearest existing ancestor, where it would be created — before any long work, without
    creating anything: an :class:`ArtifactError` naming it otherwise."""
    directory = Path(directory)
    base = _nearest_existing(directory)
    if not base.is_dir():
        _refuse(directory, what, f"{str(base)!r} is not a folder" if base != directory
                else "it is not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".write-check-", dir=base)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        _refuse(directory, what, exc.strerror or str(exc))
    return directory


def make_dirs(directory: Path, what: str) -> list[Path]:
    """Create ``directory`` and its missing parents and check that files can be created in
    it; the folders this call created, outermost first (for :func:`remove_made`)."""
    directory = Path(directory)
    missing, probe = [], directory
    while not os.path.lexists(probe) and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        remove_made(missing[::-1])
        _refuse(directory, what, exc.strerror or str(exc))
    made = missing[::-1]
    try:
        check_writable(directory, what)
    except ArtifactError:
        remove_made(made)
        raise
    return made


def remove_made(made: list[Path]) -> None:
    """Remove the folders :func:`make_dirs` created, innermost first, each only while it is
    empty (another process may have written into it meanwhile)."""
    for path in reversed(made):
        with contextlib.suppress(OSError):
            os.rmdir(path)


@contextlib.contextmanager
def writing_into(directory: Path, what: str):
    """Create ``directory`` (:func:`make_dirs`) for the block; if the block fails, remove
    the folders created here again while they are empty."""
    made = make_dirs(directory, what)
    try:
        yield Path(directory)
    except BaseException:
        remove_made(made)
        raise
