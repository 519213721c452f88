"""The cluster of a multi-worker training, from the standard ``TF_CONFIG`` environment
variable (as Kubernetes TFJob and Vertex AI set it): every worker's address in rank order
(the chief first) and this process's task, validated before any work (a
:class:`~forecaster.errors.ConfigError` of one line).  Plain parsing: no TensorFlow.
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass

from forecaster.choices import DISTRIBUTE
from forecaster.errors import ConfigError

JOBS = ("chief", "worker")  # the TF_CONFIG jobs MultiWorkerMirroredStrategy trains with


_ADDRESS = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$")


@dataclass(frozen=True)
class Cluster:
    """The parsed ``TF_CONFIG``: every worker's address in rank order (the chief first)
    and this process's task."""

    addresses: tuple
    task_type: str
    task_index: int
    has_chief: bool = False

    @property
    def num_workers(self) -> int:
        return len(self.addresses)

    @property
    def rank(self) -> int:
        """0 for the chief, then the workers in order (MultiWorkerMirroredStrategy's
        ``id_in_cluster``)."""
        return self.task_index if self.task_type == "chief" else \
            self.task_index + int(self.has_chief)

    @property
    def is_chief(self) -> bool:
        """The task that writes the run: ``chief`` if the cluster has one, else worker 0."""
        return self.rank == 0

    def describe(self) -> str:
        return f"{self.task_type} {self.task_index} (rank {self.rank} of {self.num_workers})"


def _bad(what: str, got, raw: bool = False) -> ConfigError:
    """The one-line error; ``got`` is quoted as JSON (``raw``: as the text it was)."""
    text = got if raw else json.dumps(got)
    if len(text) > 120:
        text = text[:117] + "..."
    return ConfigError(f"TF_CONFIG {what}. Got {text!r}; see docs/scale-out.md.")


def parse_tf_config(text: str | None) -> Cluster:
    """Validate a ``TF_CONFIG`` value for ``--distribute multi-worker``.

    Expected: ``{"cluster": {"worker": ["host:port", ...], "chief": ["host:port"]},
    "task": {"type": "worker", "index": 0}}`` (``chief`` optional; when it is absent
    worker 0 is the chief).  Any problem is one :class:`ConfigError` line.
    """
    if text is None or not text.strip():
        raise ConfigError(
            "`--distribute multi-worker` needs the TF_CONFIG environment variable (the "
            "cluster's host:port addresses and this process's task, as JSON); it is not set. "
            'Example: TF_CONFIG=\'{"cluster": {"worker": ["10.0.0.1:12345", '
            '"10.0.0.2:12345"]}, "task": {"type": "worker", "index": 0}}\' (see '
            "docs/scale-out.md).")
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise _bad(f"must be JSON ({exc})", text, raw=True) from None
    if not isinstance(data, dict) or not isinstance(data.get("cluster"), dict):
        raise _bad('must be a JSON object with a "cluster" object', data)
    cluster, task = data["cluster"], data.get("task")
    unknown = sorted(set(cluster) - set(JOBS))
    if unknown:
        raise _bad(f'"cluster" may only list "chief" and "worker" jobs for --distribute '
                   f"multi-worker (no {', '.join(repr(u) for u in unknown)})", cluster)
    jobs = {}
    for job in JOBS:
        addresses = cluster.get(job, [])
        if not isinstance(addresses, list) or not all(
                isinstance(a, str) and _valid_address(a) for a in addresses):
            raise _bad(f'"cluster"."{job}" must be a list of "host:port" strings', addresses)
        jobs[job] = addresses
    if len(jobs["chief"]) > 1:
        raise _bad('"cluster"."chief" must hold at most one address', jobs["chief"])
    addresses = tuple(jobs["chief"] + jobs["worker"])
    if not addresses:
        raise _bad('"cluster" must list at least one worker', cluster)
    if len(set(addresses)) != len(addresses):
        raise _bad('"cluster" must not list an address twice', cluster)
    if not isinstance(task, dict):
        raise _bad('must have a "task" object such as {"type": "worker", "index": 0}', data)
    kind, index = task.get("type"), task.get("index", 0)
    if kind not in JOBS or not jobs[kind]:
        listed = [j for j in JOBS if jobs[j]]
        raise _bad(f'"task"."type" must be one of the cluster\'s jobs '
                   f"({', '.join(listed)})", task)
    if isinstance(index, bool) or not isinstance(index, int) or \
            not 0 <= index < len(jobs[kind]):
        raise _bad(f'"task"."index" must be an integer from 0 to {len(jobs[kind]) - 1} '
                   f'(the "{kind}" list has {len(jobs[kind])} address(es))', task)
    return Cluster(addresses=addresses, task_type=kind, task_index=index,
                   has_chief=bool(jobs["chief"]))


def _valid_address(address: str) -> bool:
    match = _ADDRESS.match(address)
    return bool(match) and 1 <= int(match.group(2)) <= 65535


def cluster_from_env(environ=None) -> Cluster:
    """:func:`parse_tf_config` of ``$TF_CONFIG``."""
    return parse_tf_config((os.environ if environ is None else environ).get("TF_CONFIG"))


def check(mode: str, environ=None) -> Cluster | None:
    """Validate ``mode`` before any work: the Keras backend must be TensorFlow, and
    ``multi-worker`` needs a valid ``TF_CONFIG``.  Returns the cluster (multi-worker) or
    ``None``."""
    if mode not in DISTRIBUTE:
        raise ConfigError(f"`training.distribute` must be one of {', '.join(DISTRIBUTE)}. "
                          f"Got {mode!r}.")
    if mode == "none":
        return None
    environ = os.environ if environ is None else environ
    backend = environ.get("KERAS_BACKEND") or "tensorflow"
    if "keras" in sys.modules:  # already imported: its backend is settled
        backend = sys.modules["keras"].backend.backend()
    if backend != "tensorflow":
        raise ConfigError(f"`--distribute {mode}` needs the TensorFlow backend (it uses "
                          f"tf.distribute). Got KERAS_BACKEND={backend!r}; unset it or use "
                          "--distribute none.")
    return cluster_from_env(environ) if mode == "multi-worker" else None


def is_chief(mode: str, environ=None) -> bool:
    """Whether this process writes the run: always, except a non-chief multi-worker task."""
    return mode != "multi-worker" or cluster_from_env(environ).is_chief
