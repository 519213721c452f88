"""Runtime set-up, before and around any training or prediction: the Keras backend
(imported quietly, checked, versioned), the device (CPU or GPU, with a clear error when a
GPU is asked for and missing), seeds and determinism, and the interrupts that signal
handlers hand to the training loops (Ctrl-C and SIGTERM between steps).

Nothing here trains: :mod:`forecaster.training.loops` (one process) and
:mod:`forecaster.training.distributed` (data-parallel) both depend on this module, never the other
way round.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading

from forecaster.errors import ConfigError

_INTERRUPTS: list = []  # exceptions signal handlers asked the training loop to raise


def interrupt(exc: BaseException) -> None:
    """Ask the training loop to raise ``exc`` at its next batch.  Signal handlers call this
    as well as raising: an exception raised while Python runs a garbage-collection callback
    (JAX installs one, and Keras imports JAX when it is installed) is printed and dropped,
    and the Ctrl-C or SIGTERM would otherwise be lost."""
    _INTERRUPTS.append(exc)


def clear_interrupts() -> None:
    _INTERRUPTS.clear()


def pending_interrupt() -> BaseException | None:
    """The interrupt a signal handler asked for and nobody has cleared yet, if any."""
    return _INTERRUPTS[0] if _INTERRUPTS else None


def check_interrupt() -> None:
    """Raise the pending interrupt, if any (called between training steps)."""
    pending = pending_interrupt()
    if pending is not None:
        raise pending
_RUNTIME = {"device": None, "debug": False, "wanted": None}
_NETWORK_LOCK = threading.Lock()  # serve loads models from several request threads

#: Keras backends forecaster trains and predicts with (``KERAS_BACKEND``); TensorFlow is the
#: default. ``--distribute`` is TensorFlow-only.
BACKENDS = ("tensorflow", "jax")
DEFAULT_BACKEND = "tensorflow"
_GPU_HINTS = {
    "tensorflow": "Install the gpu extra (pip install 'forecaster[gpu]')",
    "jax": "Install a CUDA build of JAX (pip install 'jax[cuda12]')",
}
_BACKEND_LABELS = {"tensorflow": "TensorFlow", "jax": "JAX"}


def quiet_tensorflow(debug: bool = False) -> None:
    """Silence TensorFlow's start-up chatter (must run before TensorFlow is imported).

    Also makes TensorFlow the Keras backend unless the user chose one with
    ``KERAS_BACKEND`` (``jax`` is supported too), and, for JAX, asks XLA for deterministic
    GPU kernels (same seed => same numbers). Remembers ``debug`` for a later
    :func:`import_backend` / :func:`import_tensorflow` with no argument."""
    _RUNTIME["debug"] = bool(debug)
    if not debug:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", DEFAULT_BACKEND)
    if backend_name() == "jax" and "jax" not in sys.modules:
        flags = os.environ.get("XLA_FLAGS", "")
        if "xla_gpu_deterministic_ops" not in flags:  # read once, when JAX starts
            os.environ["XLA_FLAGS"] = (flags + " --xla_gpu_deterministic_ops=true").strip()


def backend_name() -> str:
    """The Keras backend in use (after ``import keras``) or about to be (before it)."""
    if "keras" in sys.modules:
        import keras

        return keras.config.backend()
    return os.environ.get("KERAS_BACKEND", DEFAULT_BACKEND).strip().lower()


def check_backend() -> str:
    """The backend name; a :class:`ConfigError` if forecaster does not support it."""
    name = backend_name()
    if name not in BACKENDS:
        raise ConfigError(f"KERAS_BACKEND must be one of {', '.join(BACKENDS)} "
                          f"(default {DEFAULT_BACKEND}). Got {name!r}.")
    return name


def backend_version(name: str | None = None) -> str | None:
    """Version of the backend's framework (``tensorflow`` or ``jax``), if importable."""
    name = name or backend_name()
    try:
        return __import__(name).__version__
    except Exception:  # noqa: BLE001 - informational only
        return None


@contextlib.contextmanager
def _stderr_silenced():
    """Send file descriptor 2 to /dev/null (C++ logging ignores Python's sys.stderr)."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real stderr (e.g. under a test runner)
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def import_tensorflow(debug: bool | None = None):
    """Import TensorFlow and Keras, hiding the start-up lines TensorFlow's C++ core prints
    before its logging is initialised (no environment variable silences those).

    ``debug=None`` keeps what :func:`quiet_tensorflow` was last told (default: quiet)."""
    debug = _RUNTIME.get("debug", False) if debug is None else debug
    quiet_tensorflow(debug)
    if debug or "tensorflow" in sys.modules:
        import tensorflow as tf
    else:
        with _stderr_silenced():
            import keras  # noqa: F401
            import tensorflow as tf

            if backend_name() == "tensorflow":
                tf.config.list_physical_devices("GPU")  # device probing logs, too
        # Python-side warnings such as "triggered tf.function retracing", which many fits
        # in one process (a search, a long backtest) would otherwise print
        tf.get_logger().setLevel("ERROR")
    return tf


def import_backend(debug: bool | None = None) -> str:
    """Import Keras and its backend quietly; returns the backend name.

    Under TensorFlow this is :func:`import_tensorflow`. Under JAX, JAX does the maths, but
    TensorFlow is imported here all the same when it is installed (quietly): Keras's own
    model serialisation imports it whenever it is importable, and would otherwise do so
    later with TensorFlow's start-up lines on stderr. No TensorFlow device is touched."""
    debug = _RUNTIME.get("debug", False) if debug is None else debug
    quiet_tensorflow(debug)
    name = check_backend()
    if name == "tensorflow":
        import_tensorflow(debug)
        return name
    with contextlib.ExitStack() as stack:
        if not debug:
            stack.enter_context(_stderr_silenced())
        import keras  # noqa: F401

        with contextlib.suppress(ImportError):
            import tensorflow  # noqa: F401
    return name


def _gpus(name: str) -> list:
    """The GPUs the backend can see."""
    if name == "jax":
        import jax

        try:
            return list(jax.devices("gpu"))
        except RuntimeError:  # no GPU platform in this jaxlib, or no device
            return []
    tf = import_tensorflow()
    return tf.config.list_physical_devices("GPU")


def select_device(device: str = "auto") -> str:
    """Pick where the model runs (``cpu``, ``gpu`` or ``auto``); returns "CPU" or "GPU".

    ``gpu`` without a visible GPU is a :class:`ConfigError` naming the backend and the fix;
    ``cpu`` hides the GPUs from TensorFlow (before its first op) or makes the CPU JAX's
    default device. Under JAX the GPU check is ``jax.devices("gpu")``: no TensorFlow
    device is queried or initialised."""
    import_backend()
    name = check_backend()
    gpus = _gpus(name)
    if device == "gpu" and not gpus:
        raise ConfigError(f"`--device gpu` was requested but {_BACKEND_LABELS[name]} sees no "
                          f"GPU. {_GPU_HINTS[name]} or use --device cpu.")
    if name == "jax":
        import jax

        if device == "cpu":
            jax.config.update("jax_default_device", jax.devices("cpu")[0])
        elif gpus:
            jax.config.update("jax_default_device", gpus[0])
        _RUNTIME["device"] = "GPU" if gpus and device != "cpu" else "CPU"
        return _RUNTIME["device"]
    tf = import_tensorflow()
    if _RUNTIME["device"] is None:  # process-wide settings: only before the first op
        if device == "cpu" and gpus:
            try:
                tf.config.set_visible_devices([], "GPU")
            except RuntimeError:  # already initialised in this process
                pass
        try:
            tf.config.experimental.enable_op_determinism()
        except Exception:  # pragma: no cover - very old TF
            pass
    visible = tf.config.get_visible_devices("GPU")
    _RUNTIME["device"] = "GPU" if visible and device != "cpu" else "CPU"
    return _RUNTIME["device"]


def choose_device(device: str = "auto") -> None:
    """Decide where networks run without importing the backend: :func:`network_backend`
    applies the choice when the first network is loaded, so a command that never needs one
    (a baseline's forecast, ``forecast serve`` until a model is used, a file refused for
    its data) never pays for importing TensorFlow. ``gpu`` is checked at once: a GPU asked
    for and missing is an error before any work, whatever the run deploys."""
    _RUNTIME["wanted"] = device
    if device == "gpu":
        select_device(device)


def network_backend() -> str:
    """Import the backend quietly, with the device :func:`choose_device` chose applied
    first (once per process: TensorFlow's device settings hold only before its first op);
    called where a saved network is loaded. Returns the backend name."""
    with _NETWORK_LOCK:
        if _RUNTIME["wanted"] is not None and _RUNTIME["device"] is None:
            select_device(_RUNTIME["wanted"])
        return import_backend()


def configure_runtime(seed: int, device: str = "auto") -> str:
    """Seed Python/NumPy/Keras, make ops deterministic, pick the device; returns "CPU"/"GPU".

    Works under both backends: TensorFlow gets ``enable_op_determinism``; JAX's XLA CPU
    kernels are deterministic and :func:`quiet_tensorflow` asks for deterministic GPU ones.
    ``keras.utils.set_random_seed`` resets Keras's global seed generator on either backend
    (the model's initialisers are seeded explicitly anyway); it also seeds TensorFlow
    whenever TensorFlow is installed, which imports it under JAX too."""
    import keras

    found = select_device(device)
    keras.utils.set_random_seed(int(seed))
    return found
