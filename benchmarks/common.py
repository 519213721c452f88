"""Shared helpers: the section result, timing, machine description, table printing."""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field


@dataclass
class Section:
    """What a section returns: rows for the table, free-text notes, or a skip reason."""

    name: str
    rows: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: str | None = None
    seconds: float = 0.0
    load: tuple = ()  # 1-minute load average before and after (other processes' noise)

    def to_json(self) -> dict:
        return {"name": self.name, "rows": self.rows, "notes": self.notes,
                "skipped": self.skipped, "seconds": round(self.seconds, 2),
                "load": list(self.load)}


def load1() -> float:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return float("nan")


def not_available(name: str, why: str) -> Section:
    return Section(name, skipped=f"not available: {why}")


def quiet_tensorflow() -> None:
    """Silence TensorFlow's start-up chatter (must run before it is imported); TensorFlow is
    the Keras backend unless ``KERAS_BACKEND`` says otherwise (``jax`` runs the cells
    section too)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def median(values) -> float:
    return float(statistics.median(values))


def alternate(contenders: dict, repeats: int, cpu: dict | None = None) -> dict[str, list[float]]:
    """Call every ``contenders[name]()`` once per round, forwards on even rounds and
    backwards on odd ones, and return the wall seconds each call took, per name.

    When ``cpu`` is a dict it is filled with this process's CPU seconds per call (all its
    threads), which other processes competing for the cores disturb much less.
    """
    names = list(contenders)
    times: dict[str, list[float]] = {n: [] for n in names}
    for n in names:
        if cpu is not None:
            cpu[n] = []
    for r in range(repeats):
        for n in (names if r % 2 == 0 else names[::-1]):
            c, t = time.process_time(), time.perf_counter()
            contenders[n]()
            times[n].append(time.perf_counter() - t)
            if cpu is not None:
                cpu[n].append(time.process_time() - c)
    return times


def machine() -> dict:
    """CPU model, cores and library versions, for the README table."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "python": sys.version.split()[0],
            "platform": platform.platform()}
    for mod in ("numpy", "pandas", "tensorflow", "keras", "jax", "pyarrow"):
        if mod == "jax" and "jax" not in sys.modules:
            continue  # only when it is the backend: importing it is not free
        m = sys.modules.get(mod)
        if m is None:
            try:
                m = __import__(mod)
            except Exception:  # noqa: BLE001 - optional, reported as missing
                continue
        info[mod] = getattr(m, "__version__", "?")
    info.update(accelerator())
    return info


def accelerator() -> dict:
    """The Keras backend and the device the benchmarks' models run on.

    ``{"keras_backend": "tensorflow"|"jax", "device": "GPU"|"CPU", "device_name": ...}``;
    the device is the backend's first GPU when it sees one (where Keras places the model by
    default), else the CPU. Never raises: an unknown device is reported as such."""
    try:
        import keras

        backend = keras.config.backend()
    except Exception as exc:  # noqa: BLE001
        return {"keras_backend": None, "device": "unknown", "device_name": str(exc)}
    info = {"keras_backend": backend, "device": "CPU", "device_name": None}
    try:
        if backend == "jax":
            import jax

            dev = jax.devices()[0]
            if dev.platform == "gpu":
                info.update(device="GPU", device_name=f"{dev.device_kind} "
                            f"({len(jax.devices())} visible)")
        elif backend == "tensorflow":
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
            if gpus:
                name = tf.config.experimental.get_device_details(gpus[0]).get("device_name")
                info.update(device="GPU", device_name=f"{name or gpus[0].name} "
                            f"({len(gpus)} visible)")
    except Exception as exc:  # noqa: BLE001 - informational only
        info.update(device="unknown", device_name=f"{type(exc).__name__}: {exc}")
    return info


def describe_device(info: dict) -> str:
    """One line: ``GPU NVIDIA H100 80GB HBM3 (1 visible), keras backend tensorflow``."""
    where = info.get("device") or "unknown"
    if info.get("device_name"):
        where += f" {info['device_name']}"
    return f"{where}, keras backend {info.get('keras_backend')}"


def format_table(rows: list[dict]) -> str:
    """A plain-text table of ``rows`` (dicts sharing keys); floats get 3 significant figures."""
    if not rows:
        return ""
    cols = list(dict.fromkeys(k for r in rows for k in r))

    def fmt(v):
        if isinstance(v, float):
            if v != v:
                return "nan"
            return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"
        return "" if v is None else str(v)

    cells = [[fmt(r.get(c)) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cols, widths)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v.rjust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)
