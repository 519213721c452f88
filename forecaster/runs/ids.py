"""Run ids: the one resolver of a run named on the command line, in the Python API or in
a server request (:func:`resolve_run`), and the one listing of the runs an id may name
(:func:`run_ids`, what ``GET /runs`` lists and an unknown id's hint names).

An id, or the id a runs directory's ``latest`` file holds, is a single file-name
component naming a directory whose real path (symbolic links followed) lies inside the
runs directory: a link out is :class:`OutsideRunsDir`, whoever asks. Only the command
line and the Python API take a path as well: the user's own choice, used as it is.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from forecaster.runs.artifacts import LATEST, LIMITS, REQUIRED
from forecaster.errors import ArtifactError, RunNotFoundError

#: A run id: a run directory's name, one path component, not hidden.
RUN_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}")


class BadRunId(RunNotFoundError):
    """A run id that is not a run directory's name (a path, ``..``, odd characters)."""


class OutsideRunsDir(ArtifactError):
    """A run whose real path leaves the runs directory (a symbolic link out)."""


def is_inside(root: Path, path: Path) -> bool:
    """Whether ``path``'s real location is inside ``root``'s (symbolic links followed)."""
    real, base = Path(path).resolve(), Path(root).resolve()
    return real != base and real.is_relative_to(base)


def is_run_dir(root: Path, entry: Path) -> bool:
    """Whether ``entry`` of the runs directory ``root`` is a run an id may name: a run
    id's name, a directory whose real path is inside ``root``, holding a run.json."""
    return bool(RUN_ID.fullmatch(entry.name)) and entry.is_dir() \
        and is_inside(root, entry) and (entry / "run.json").is_file()


def run_ids(runs_dir: Path) -> list[str]:
    """The ids of the runs in ``runs_dir`` (:func:`is_run_dir`), sorted: what ``GET /runs``
    lists and what the hint of an unknown id names."""
    root = Path(runs_dir)
    return sorted(p.name for p in root.iterdir() if is_run_dir(root, p)) \
        if root.is_dir() else []


def resolve_run(runs_dir: Path, run: str | None = "latest", *, paths: bool = True) -> Path:
    """The directory of run ``run``: an id of ``runs_dir``, ``latest`` (None too), or, with
    ``paths``, a path to a run directory (the user's own choice, taken as it is).

    The one resolver of the command line, the Python API and the server (``paths=False``:
    a request names ids only). An id, or the id ``latest`` holds, must name a directory
    whose real path (symbolic links followed) lies inside ``runs_dir``:
    :class:`OutsideRunsDir` otherwise, :class:`BadRunId` for an id that is not a single
    name, :class:`RunNotFoundError` for a missing or incomplete run."""
    runs_dir = Path(runs_dir)
    if run == "":
        raise BadRunId("run id must not be empty; give a run's id or `latest`.")
    if paths and run and run != LATEST and Path(run).is_dir() \
            and (Path(run) / "run.json").exists():
        path = Path(run)
    else:
        if run is None or run == LATEST:
            run = _read_latest(runs_dir)
        path = _by_id(runs_dir, run, shown=paths)
    missing = [f for f in REQUIRED if not (path / f).exists()]
    if missing:
        raise RunNotFoundError(f"run {path.name!r} is incomplete: missing {', '.join(missing)}.")
    return path


def _by_id(runs_dir: Path, run: str, shown: bool) -> Path:
    """``runs_dir / run``, checked: a single name, an existing directory, inside (the
    runs directory named in a message only when ``shown``: not to a server's clients)."""
    if not RUN_ID.fullmatch(run):
        text = repr(run if len(run) <= 60 else run[:57] + "...")
        raise BadRunId(f"run id must be a run directory name (letters, digits, '_', '.', "
                       f"'-'; not starting with '.') or 'latest'. Got {text}.")
    path = runs_dir / run
    if not path.is_dir():
        known = run_ids(runs_dir)
        hint = f" Known runs: {', '.join(known[-5:])}." if known else ""
        where = f" in {str(runs_dir)!r}" if shown else ""
        raise RunNotFoundError(f"run {run!r} does not exist{where}.{hint}")
    if not is_inside(runs_dir, path):
        raise OutsideRunsDir(f"run {run!r} leaves the runs directory (a symbolic link to "
                             "a folder outside it); refused.")
    return path


def _read_latest(runs_dir: Path) -> str:
    """The run id in ``runs_dir/latest``, which must be a small text file (its content is
    never echoed when it is not a plausible id)."""
    pointer = runs_dir / LATEST
    if not os.path.lexists(pointer):
        raise RunNotFoundError(f"no runs found in {str(runs_dir)!r}. Train one first: "
                               "forecast train DATA.csv")
    where = f"{str(pointer)!r}"
    info = os.lstat(pointer)
    if not stat.S_ISREG(info.st_mode):
        kind = ("a symbolic link" if stat.S_ISLNK(info.st_mode) else "a directory"
                if stat.S_ISDIR(info.st_mode) else "not a regular file")
        raise ArtifactError(f"{where} must be a text file holding the id of the newest run; "
                            f"it is {kind}.")
    if info.st_size > LIMITS[LATEST]:
        raise ArtifactError(f"{where} must hold a run id; it has {info.st_size:,} bytes.")
    try:
        return pointer.read_bytes().decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ArtifactError(f"{where} must hold a run id; it holds binary data.") from None
