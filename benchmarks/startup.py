"""What a command pays before its work: TensorFlow is imported only where a network is
built or loaded (issue 36), so commands without one must not wait for it.

    python -m benchmarks.startup                 # 5 alternated rounds
    python -m benchmarks.startup --repeats 9
    make bench-startup

Side by side in one run, each a fresh process, in rounds whose order alternates (forwards,
then backwards) so that other processes on the machine disturb them alike, median seconds:

- ``python -c "import tensorflow"``: the yardstick;
- ``forecast evaluate air_passengers --models naive,theta --holdout 12``: baselines only;
- ``forecast evaluate dup.csv``: a file refused for a duplicated timestamp (the RNN among
  the default models: the file is refused before TensorFlow would be imported);
- ``forecast serve`` until ``/health`` answers (an empty runs folder; polled every 0.2 s
  by :func:`benchmarks.serve.serving`).

Targets: evaluate and the data error ≤ 0.3× the TensorFlow import; serve's ``/health``
within 2 s. The load average (1 min) is printed before and after.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.common import alternate, load1, median, quiet_tensorflow
from benchmarks.serve import serving

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data" / "air_passengers.csv"
TF = 'python -c "import tensorflow"'
TARGETS = {"evaluate naive,theta": 0.3, "data error (duplicate timestamps)": 0.3}
SERVE = "serve until /health"
SERVE_LIMIT_S = 2.0


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="alternated rounds")
    return parser.parse_args(argv)


def _command(cmd: list[str], cwd: str, expect: int = 0):
    def go():
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd)
        if proc.returncode != expect:
            raise RuntimeError(f"{' '.join(cmd[:3])}… exited {proc.returncode} (expected "
                               f"{expect}): {(proc.stderr.strip().splitlines() or [''])[-1]}")
    return go


def _serve(exe: str, runs: Path, log):
    def go():
        with serving(exe, runs, log, timeout=120):
            pass  # timed from the start to the first answered /health
    return go


def contenders(tmp: str, log) -> dict:
    """The four commands, each a callable that runs it once (``log``: the server's stderr)."""
    exe = str(Path(sys.executable).with_name("forecast"))
    dup = Path(tmp) / "dup.csv"
    dup.write_text("date,value\n2020-01-01,1\n2020-01-01,2\n2020-01-02,3\n")
    return {
        TF: _command([sys.executable, "-c", "import tensorflow"], tmp),
        "evaluate naive,theta": _command(
            [exe, "evaluate", str(DATA), "--models", "naive,theta", "--holdout", "12",
             "--out", str(Path(tmp) / "evaluation"), "--quiet"], tmp),
        "data error (duplicate timestamps)": _command(
            [exe, "evaluate", str(dup), "--quiet"], tmp, expect=1),
        SERVE: _serve(exe, Path(tmp) / "runs", log),
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    quiet_tensorflow()
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")
    before = load1()
    with tempfile.TemporaryDirectory(prefix="forecaster-startup-") as tmp, \
            open(Path(tmp) / "serve.log", "w") as log:
        runs = contenders(tmp, log)
        runs[TF]()  # warm the file cache for every contender alike
        times = alternate(runs, args.repeats)
    after = load1()
    base = median(times[TF])
    print(f"median of {args.repeats} alternated rounds; load average (1 min) {before} "
          f"before, {after} after")
    print("| command | median s | x tf import | target |")
    print("| --- | ---: | ---: | --- |")
    for name, ts in times.items():
        s = median(ts)
        if name in TARGETS:
            target = f"≤ {TARGETS[name]}x: {'met' if s / base <= TARGETS[name] else 'NOT met'}"
        elif name == SERVE:
            target = f"≤ {SERVE_LIMIT_S:.0f} s: {'met' if s <= SERVE_LIMIT_S else 'NOT met'}"
        else:
            target = "—"
        print(f"| {name} | {s:.2f} | {s / base:.2f} | {target} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
