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
import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

from forecaster.errors import ArtifactError, RunNotFoundError

LATEST = "latest"
TMP_PREFIX = ".tmp-"
REQUIRED = ("model.keras", "preprocessing.json", "config.toml", "run.json")


def run_name(*parts: str) -> str:
    """``YYYYmmdd-HHMMSS-<parts>`` with anything unsafe in a file name replaced by ``_``."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    tail = "-".join(re.sub(r"[^A-Za-z0-9_.]+", "_", p).strip("._")[:40] or "run" for p in parts)
    return f"{stamp}-{tail}" if tail else stamp


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale(runs_dir: Path) -> None:
    """Remove temporary run directories left by processes that no longer exist."""
    if not runs_dir.is_dir():
        return
    for entry in runs_dir.glob(TMP_PREFIX + "*"):
        match = re.search(r"-p(\d+)$", entry.name)
        if match and not _pid_alive(int(match.group(1))):
            shutil.rmtree(entry, ignore_errors=True)


@contextlib.contextmanager
def staging(runs_dir: Path, name: str):
    """Yield a temporary directory; on success rename it to ``runs_dir/<name>`` (with a
    numeric suffix if taken) and point ``latest`` at it; on any error remove it.

    The final name is stored on the yielded path's ``final`` attribute after the block.
    """
    runs_dir = Path(runs_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    sweep_stale(runs_dir)
    tmp = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{name}-", suffix=f"-p{os.getpid()}",
                                dir=runs_dir))
    holder = _Staged(tmp)
    try:
        yield holder
        holder.final = _publish(tmp, runs_dir, name)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


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
        set_latest(runs_dir, final.name)
        return final
    raise ArtifactError(f"could not find a free run name for {name!r} in {runs_dir}.")


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file in the same directory + rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def set_latest(runs_dir: Path, run_id: str) -> None:
    write_text_atomic(Path(runs_dir) / LATEST, run_id + "\n")


def write_json(path: Path, data) -> None:
    Path(path).write_text(json.dumps(data, indent=2, allow_nan=False, default=str) + "\n",
                          encoding="utf-8")


def read_json(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArtifactError(f"{Path(path).name} is missing from run {Path(path).parent.name!r}.") \
            from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{Path(path).name} in run {Path(path).parent.name!r} is not "
                            f"valid JSON: {exc}.") from None


def resolve_run(runs_dir: Path, run: str | None = "latest") -> Path:
    """The directory of run ``run`` (an id, ``latest``, or a path to a run directory)."""
    runs_dir = Path(runs_dir)
    if run and run != LATEST and Path(run).is_dir() and (Path(run) / "run.json").exists():
        path = Path(run)
    else:
        if not run or run == LATEST:
            pointer = runs_dir / LATEST
            if not pointer.exists():
                raise RunNotFoundError(
                    f"no runs found in {str(runs_dir)!r}. Train one first: "
                    "forecast train DATA.csv")
            run = pointer.read_text(encoding="utf-8").strip()
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", run or "") or run.startswith("."):
            raise RunNotFoundError(f"run id must be a run directory name. Got {run!r}.")
        path = runs_dir / run
        if not path.is_dir():
            known = sorted(p.name for p in runs_dir.iterdir()
                           if p.is_dir() and not p.name.startswith(".")) if runs_dir.is_dir() else []
            hint = f" Known runs: {', '.join(known[-5:])}." if known else ""
            raise RunNotFoundError(f"run {run!r} does not exist in {str(runs_dir)!r}.{hint}")
    missing = [f for f in REQUIRED if not (path / f).exists()]
    if missing:
        raise RunNotFoundError(f"run {path.name!r} is incomplete: missing {', '.join(missing)}.")
    return path


def load_model(path: Path):
    """Load ``model.keras`` with ``safe_mode=True``; refuse Lambda layers and unknown
    custom objects with an :class:`ArtifactError`."""
    import keras

    # registers forecaster's layers: TanhCell and its RNN, the wide ensemble's layers
    import forecaster.models.ensemble  # noqa: F401

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
