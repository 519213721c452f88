"""Run directories: layout, atomic writes, the ``latest`` pointer and safe loading.

A run is assembled in a hidden temporary sibling (``runs/.tmp-<id>-<pid>``) on the same
filesystem and renamed into place only when every file is written; ``runs/latest`` is then
replaced atomically.  A failed, interrupted or killed command therefore leaves no half run
and never moves ``latest``.  Stale temporary directories of dead processes are swept on the
next write.  Nothing is pickled: the model is a ``.keras`` file loaded with
``safe_mode=True`` and everything else is JSON, CSV or TOML.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import re
import shutil
import stat
import tempfile
import time
from pathlib import Path

from forecaster.errors import ArtifactError
from forecaster.storage.files import (FORMULA_STARTS, atomic_path,  # noqa: F401 (re-exported)
                                      file_sha256, spreadsheet_safe, spreadsheet_unsafe,
                                      write_json, write_text_atomic)
from forecaster.storage.folders import (check_writable, remove_made,  # noqa: F401 (re-exported)
                                        writing_into)

LATEST = "latest"
TMP_PREFIX = ".tmp-"
REQUIRED = ("model.keras", "preprocessing.json", "config.toml", "run.json")
#: Files whose sha256 ``run.json`` records and every load checks.
HASHED = ("model.keras", "preprocessing.json")
#: A deployed baseline's files (``forecast train --select best``), hashed when present.
DEPLOYED = ("baseline.json", "baseline.skops")
#: The most bytes a run file may have (a run written by forecaster is far smaller): a
#: symlink to /dev/zero or a swollen file is refused instead of read until memory runs out.
LIMITS = {"model.keras": 2 << 30, "baseline.skops": 2 << 30, "latest": 4096}
JSON_LIMIT = 1 << 30


def run_name(*parts: str) -> str:
    """``YYYYmmdd-HHMMSS-<parts>`` with anything unsafe in a file name replaced by ``_``."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    tail = "-".join(re.sub(r"[^A-Za-z0-9_.]+", "_", p).strip("._")[:40] or "run" for p in parts)
    return f"{stamp}-{tail}" if tail else stamp


OWNER = ".owner"  # inside a staging directory: who writes it, locked while they live
STALE_SECONDS = 24 * 3600  # a staging directory of another host or container: this old


def _identity() -> str:
    """This process's host, boot and PID namespace: a PID means something only within
    them (another container or host sharing the runs dir has its own PIDs)."""
    parts = [os.uname().nodename]
    with contextlib.suppress(OSError):
        parts.append(Path("/proc/sys/kernel/random/boot_id").read_text().strip())
    with contextlib.suppress(OSError):
        parts.append(str(os.stat("/proc/self/ns/pid").st_ino))
    return "/".join(parts)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _claim(directory: Path):
    """Write and lock ``directory/.owner`` (identity and PID); the lock lives as long as
    this process (the file descriptor is kept open) and is released when it dies."""
    import fcntl

    fd = os.open(directory / OWNER, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.write(fd, json.dumps({"identity": _identity(), "pid": os.getpid()}).encode())
    return fd


def _abandoned(entry: Path) -> bool:
    """Whether staging directory ``entry`` is certainly not being written: nobody holds
    its owner lock, and its owner ran here and is dead — or, when it ran on another host
    or in another container (whose PIDs mean nothing here), it is over a day old."""
    import fcntl

    owner = entry / OWNER
    try:
        fd = os.open(owner, os.O_RDONLY)
    except FileNotFoundError:  # not ours (or being created): age decides
        return time.time() - entry.stat().st_mtime > STALE_SECONDS
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return False  # locked: its owner is alive
        try:
            info = json.loads(os.read(fd, 4096) or b"{}")
        except ValueError:
            info = {}
    finally:
        os.close(fd)
    if info.get("identity") == _identity() and isinstance(info.get("pid"), int):
        return not _pid_alive(info["pid"])
    return time.time() - owner.stat().st_mtime > STALE_SECONDS


def sweep_stale(runs_dir: Path, pattern: str = TMP_PREFIX + "*") -> None:
    """Remove the temporary directories ``runs_dir/pattern`` (runs being staged, by
    default) whose writer is gone (:func:`_abandoned`); never one that a live process —
    here or in another container or host — may own."""
    if not runs_dir.is_dir():
        return
    for entry in runs_dir.glob(pattern):
        with contextlib.suppress(OSError):
            if entry.is_dir() and not entry.is_symlink() and _abandoned(entry):
                shutil.rmtree(entry, ignore_errors=True)


@contextlib.contextmanager
def staging(runs_dir: Path, name: str):
    """Yield a temporary directory; on success rename it to ``runs_dir/<name>`` (with a
    numeric suffix if taken) and point ``latest`` at it; on any error remove it.

    The final name is stored on the yielded path's ``final`` attribute after the block.
    The directory holds a locked ``.owner`` file while it is written, so that no other
    process sweeps it as stale (see :func:`sweep_stale`); the file is removed before the
    rename.
    """
    with writing_into(runs_dir, "runs"):  # created now; removed again if nothing is kept
        with _staged_run(Path(runs_dir), name) as holder:
            yield holder


@contextlib.contextmanager
def _staged_run(runs_dir: Path, name: str):
    sweep_stale(runs_dir)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{name}-", suffix=f"-p{os.getpid()}",
                                    dir=runs_dir))
        lock = _claim(tmp)
    except OSError as exc:
        raise ArtifactError(f"cannot write runs to {str(runs_dir)!r}: "
                            f"{exc.strerror or exc}.") from None
    holder = _Staged(tmp)
    try:
        try:
            yield holder
        except OSError as exc:  # a full disk, a quota, the folder made read-only meanwhile
            raise ArtifactError(f"cannot write the run into {str(runs_dir)!r}: "
                                f"{exc.strerror or exc}; nothing was kept.") from None
        os.unlink(tmp / OWNER)
        holder.final = _publish(tmp, runs_dir, name)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        os.close(lock)


class _Staged:
    def __init__(self, path: Path):
        self.path = path
        self.final: Path | None = None


def _publish(tmp: Path, runs_dir: Path, name: str) -> Path:
    for k in range(1, 1000):
        final = runs_dir / (name if k == 1 else f"{name}-{k}")
        if final.exists():
            continue
        try:
            os.rename(tmp, final)  # atomic; fails if another process took the name meanwhile
        except OSError:
            continue
        try:
            set_latest(runs_dir, final.name)
        except OSError as exc:
            # roll back: a command that fails leaves no run (and latest where it was)
            with contextlib.suppress(OSError):
                os.rename(final, tmp)
            raise ArtifactError(
                f"could not point {str(runs_dir / LATEST)!r} at the new run "
                f"({exc.strerror or exc}); the run was not kept.") from None
        return final
    raise ArtifactError(f"could not find a free run name for {name!r} in {runs_dir}.")


@contextlib.contextmanager
def staged_files(final: Path, owned: tuple[str, ...] = ()):
    """Yield a temporary sibling of the folder ``final`` to fill; on success each file in it
    replaces its namesake in ``final`` (created if needed) with an atomic rename, ``.html``
    files last, so a page never points at figures that are not there yet, and the ``owned``
    names it did not write this time are removed (stale figures of an earlier report).
    Other files in ``final`` are left alone (it may be the user's own folder, or a run
    directory); on any error the temporary folder is removed and ``final`` is left as it
    was."""
    final = Path(final)
    with writing_into(final.parent, "files"):  # created now; removed again on failure
        with _staged_into(final, owned) as tmp:
            yield tmp


@contextlib.contextmanager
def _staged_into(final: Path, owned: tuple[str, ...]):
    parent, made_final = final.parent, not os.path.lexists(final)
    # what a killed earlier writer left (its owner lock is gone with it)
    sweep_stale(parent, f".{glob.escape(final.name)}-*.tmp")
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}-", suffix=".tmp", dir=parent))
    lock = None
    try:
        lock = _claim(tmp)
        try:
            yield tmp
        except OSError as exc:  # a full disk while the files were written
            raise ArtifactError(f"cannot write into {str(final)!r}: "
                                f"{exc.strerror or exc}; nothing was changed there.") from None
        if os.path.lexists(final) and (final.is_symlink() or not final.is_dir()):
            raise ArtifactError(f"{str(final)!r} exists and is not a folder; choose another.")
        try:
            final.mkdir(exist_ok=True)
        except OSError as exc:
            raise ArtifactError(f"cannot create {str(final)!r}: {exc.strerror or exc}.") \
                from None
        written = sorted((p for p in tmp.iterdir() if p.name != OWNER),
                         key=lambda p: (p.suffix == ".html", p.name))
        for path in written:  # every target checked before the first is replaced
            target = final / path.name
            if target.is_symlink() or (target.exists() and not target.is_file()):
                raise ArtifactError(f"{str(target)!r} is not a regular file; not replacing it.")
        for path in written:
            target = final / path.name
            try:
                os.replace(path, target)
            except OSError as exc:
                raise ArtifactError(f"cannot write {str(target)!r}: "
                                    f"{exc.strerror or exc}.") from None
        for name in set(owned) - {path.name for path in written}:
            target = final / name
            if target.is_file() and not target.is_symlink():
                with contextlib.suppress(OSError):
                    target.unlink()
    except BaseException:
        remove_made([final] if made_final else [])  # the folder made here, while empty
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if lock is not None:
            os.close(lock)


def set_latest(runs_dir: Path, run_id: str) -> None:
    write_text_atomic(Path(runs_dir) / LATEST, run_id + "\n")


def _where(path: Path) -> str:
    return f"{path.name} in run {path.parent.name!r}"


def check_regular(path: Path, limit: int | None = None) -> int:
    """The size of run file ``path`` — an :class:`ArtifactError` unless it is a regular
    file (not a symbolic link, directory, FIFO or device) of at most ``limit`` bytes
    (default: :data:`LIMITS` by name, else :data:`JSON_LIMIT`)."""
    path = Path(path)
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        raise ArtifactError(f"{path.name} is missing from run {path.parent.name!r}.") from None
    except OSError as exc:
        raise ArtifactError(f"cannot read {_where(path)}: {exc.strerror or exc}.") from None
    if stat.S_ISLNK(info.st_mode):
        raise ArtifactError(f"{_where(path)} is a symbolic link; run files must be regular "
                            "files (it is not followed).")
    if not stat.S_ISREG(info.st_mode):
        raise ArtifactError(f"{_where(path)} is not a regular file.")
    limit = limit or LIMITS.get(path.name, JSON_LIMIT)
    if info.st_size > limit:
        raise ArtifactError(f"{_where(path)} has {info.st_size:,} bytes, more than the "
                            f"{limit:,} a run file may have.")
    return info.st_size


def read_json(path: Path) -> dict:
    """A run's JSON file: a regular file within the size limit holding a JSON object."""
    path = Path(path)
    check_regular(path)
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except RecursionError:
        raise ArtifactError(f"{_where(path)} is not valid JSON: nested too deeply.") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{_where(path)} is not valid JSON: {exc}.") from None
    except OSError as exc:
        raise ArtifactError(f"cannot read {_where(path)}: {exc.strerror or exc}.") from None
    if not isinstance(data, dict):
        raise ArtifactError(f"{_where(path)} must hold a JSON object. Got a JSON "
                            f"{type(data).__name__}.")
    return data


def integrity(run_dir: Path) -> dict:
    """``{file: sha256}`` of the :data:`HASHED` files and the :data:`DEPLOYED` ones
    present, for ``run.json``."""
    return {name: file_sha256(Path(run_dir) / name) for name in _hashed(run_dir)}


def _hashed(run_dir: Path, recorded: dict | None = None) -> tuple:
    """The files whose hash a run records: :data:`HASHED`, and each :data:`DEPLOYED` file
    that exists or that ``recorded`` names (so neither adding one nor removing one
    goes unnoticed)."""
    return HASHED + tuple(name for name in DEPLOYED if os.path.lexists(Path(run_dir) / name)
                          or name in (recorded or {}))


def check_integrity(run_dir: Path, info: dict) -> None:
    """Refuse a run whose model or preprocessing file changed since ``run.json`` recorded
    their sha256 (runs written before the hashes were recorded are not checked)."""
    recorded = info.get("sha256")
    if recorded is None:
        return
    if not isinstance(recorded, dict):
        raise ArtifactError(f"run.json in run {Path(run_dir).name!r} has a malformed "
                            "`sha256` record.")
    for name in _hashed(run_dir, recorded):
        path = Path(run_dir) / name
        check_regular(path)
        if recorded.get(name) != file_sha256(path):
            raise ArtifactError(
                f"{_where(path)} has changed since the run was written (its sha256 differs "
                "from the one run.json records); restore it or train again.")


def load_model(path: Path):
    """Load ``model.keras`` with ``safe_mode=True``; refuse Lambda layers and unknown
    custom objects with an :class:`ArtifactError`. The backend is imported (quietly, on
    the chosen device) only now: nothing before a network's loading needs it."""
    from forecaster.training.runtime import network_backend

    network_backend()
    import keras

    # registers forecaster's layers: TanhCell and its RNN, the wide ensemble's layers
    import forecaster.models.ensemble  # noqa: F401

    check_regular(Path(path))

    try:
        model = keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as exc:  # keras raises ValueError/TypeError with long messages
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "lambda" in str(exc).lower():
            first = "it contains a Lambda layer (arbitrary code), which safe loading refuses"
        raise ArtifactError(f"refusing to load model {str(path)!r}: {first[:300]}"
                            f"{_backend_hint(Path(path))}") from None
    for layer in _all_layers(model):
        if type(layer).__name__ == "Lambda":
            raise ArtifactError(f"refusing to load model {str(path)!r}: it contains a Lambda "
                                "layer (arbitrary code).")
    return model


def _backend_hint(path: Path) -> str:
    """When the run was trained under another Keras backend, say so (models move between
    TensorFlow and JAX in practice; a failure is then the first thing to suspect)."""
    import keras

    try:
        trained = json.loads((path.parent / "run.json").read_text(encoding="utf-8"))
        trained = trained.get("keras_backend")
    except (OSError, ValueError, AttributeError):
        return ""
    now = keras.config.backend()
    if not trained or trained == now:
        return ""
    return (f" (the run was trained under the {trained} backend and this process runs "
            f"{now}; try KERAS_BACKEND={trained})")


def _all_layers(model):
    stack = list(getattr(model, "layers", []))
    while stack:
        layer = stack.pop()
        yield layer
        stack.extend(getattr(layer, "layers", []) or [])
