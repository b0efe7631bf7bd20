"""Run every benchmark, then draw the charts.

Full mode fits in about 16 minutes on the 2-core reference machine; ``--quick`` (CI smoke)
in about 3. Every server and client process is started and stopped here; on failure or
interruption the children are killed (see :func:`common.kill_all`).

Run: ``.venv/bin/python bench/run_all.py [--quick] [--only fanout,echo,connections,...]``
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
import connections
import controlplane
import echo
import fanout
import metering
import plot
import tenancy


def run_metering(argv: list[str]) -> list[dict[str, str]]:
    """``metering.py`` (which reads ``sys.argv`` and returns nothing): its rows from the CSV."""
    quick = ["--calls", "200000", "--rounds", "3"] if "--quick" in argv else []
    saved = sys.argv
    sys.argv = ["metering.py", *quick]
    try:
        metering.main()
    finally:
        sys.argv = saved
    path = common.RESULTS / "metering.csv"
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    last = max(r["date"] for r in rows)
    return [r for r in rows if r["date"] == last]


#: name -> (entry point, the column a row must have a figure in to count as a success)
BENCHMARKS = {
    "fanout": (fanout.main, "deliveries_per_s"),
    "echo": (echo.main, "round_trips_per_s"),
    "connections": (connections.main, "held"),
    "metering": (run_metering, "ns_per_call"),
    "tenancy": (tenancy.main, "ns_per_lookup"),
    "controlplane": (controlplane.main, "req_per_s"),
}


def main(argv: list[str] | None = None) -> int:
    """Run the chosen benchmarks in order; returns a process exit status."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes (~2 min, CI smoke)")
    parser.add_argument("--only", default=",".join(BENCHMARKS), help="comma-separated subset")
    parser.add_argument(
        "--servers", default=None, help="restrict servers (default: gb and every peer that can run)"
    )
    args = parser.parse_args(argv)
    names = [n for n in args.only.split(",") if n]
    unknown = set(names) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    print(f"machine: {common.machine()}, {common.cpu_model()}; commit {common.git_commit()}")
    print("versions:", ", ".join(f"{k} {v}" for k, v in common.versions().items()))
    started = time.monotonic()
    failed = []
    try:
        for name in names:
            bench_args = ["--quick"] if args.quick else []
            if args.servers:
                bench_args += ["--servers", args.servers]
            t0 = time.monotonic()
            entry, figure = BENCHMARKS[name]
            rows = entry(bench_args)
            print(f"{name}: {time.monotonic() - t0:.0f} s", flush=True)
            if any(not r.get(figure) for r in rows):
                failed.append(name)
    finally:
        common.kill_all()
    plot.main([n for n in names if n in plot.PLOTS], "quick" if args.quick else "full")
    print(f"total: {time.monotonic() - started:.0f} s")
    if failed:
        print(f"runs that produced no figures: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
