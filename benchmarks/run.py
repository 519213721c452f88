"""Run the benchmarks, print one table per section and write JSON.

    python -m benchmarks.run --quick                 # all sections, small sizes (< ~2 min)
    python -m benchmarks.run --full                  # the sizes quoted in benchmarks/README.md
    python -m benchmarks.run --quick --only cells --shapes 12x8x16
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
import traceback
from pathlib import Path

from benchmarks.common import (Section, describe_device, format_table, load1, machine,
                               quiet_tensorflow)

SECTIONS = ("cells", "windowing", "memory", "cli", "panel")
DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "latest.json"


def _shape(text: str):
    try:
        t, h, b = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"shape must look like 48x64x256 (T x H x B). Got {text!r}.")
    return t, h, b


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="small sizes, few repeats (default)")
    mode.add_argument("--full", action="store_true", help="full sizes and repeats")
    p.add_argument("--only", choices=SECTIONS, action="append",
                   help="run only this section (repeatable)")
    p.add_argument("--json", type=Path, default=DEFAULT_JSON,
                   help=f"where to write the results (default: {DEFAULT_JSON})")
    p.add_argument("--shapes", type=_shape, nargs="+", metavar="TxHxB",
                   help="cells section shapes (default: 48x64x256 168x64x256 24x32x64)")
    return p.parse_args(argv)


def run_section(name: str, quick: bool, **options) -> Section:
    started, load_before = time.perf_counter(), load1()
    try:
        module = importlib.import_module(f"benchmarks.{name}")
        section = module.run(quick, **options)
    except Exception as exc:  # noqa: BLE001 - one broken section must not end the run
        traceback.print_exc(file=sys.stderr)
        section = Section(name, skipped=f"not available: {type(exc).__name__}: {exc}")
    section.seconds = time.perf_counter() - started
    section.load = (load_before, load1())
    return section


def main(argv=None) -> int:
    args = parse_args(argv)
    quiet_tensorflow()
    quick = not args.full
    names = args.only or list(SECTIONS)
    results = []
    machine_info = machine()
    print(f"forecaster benchmarks ({'quick' if quick else 'full'}) on "
          f"{describe_device(machine_info)}", flush=True)
    for name in names:
        print(f"\n== {name} ==", flush=True)
        section = run_section(name, quick, shapes=args.shapes)
        if section.skipped:
            print(section.skipped)
        else:
            print(format_table(section.rows))
        for note in section.notes:
            print(f"note: {note}")
        print(f"({section.seconds:.1f} s; load average {section.load[0]} -> {section.load[1]} "
              f"on {machine_info['cores']} cores)", flush=True)
        results.append(section)
    payload = {"mode": "quick" if quick else "full", "finished": time.strftime(
        "%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "machine": machine_info,
        "sections": [s.to_json() for s in results]}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
