"""Run every benchmark, then draw the charts.

The benchmarks of issues 2 and 3 fit in about 16 minutes on the 2-core reference machine
(``--quick``, CI smoke: about 3); those of issues 4 and 5 add to that (``search`` builds its
1M-message database on its first run and reuses it afterwards). Every server and client process
is started and stopped here; on failure or interruption the children are killed (see
:func:`common.kill_all`).

Run: ``.venv/bin/python bench/run_all.py [--quick] [--only fanout,echo,connections,...]``
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import basic_compile
import basic_exec
import basic_state
import common
import connections
import controlplane
import echo
import fanout
import log
import messaging
import metering
import persister
import plot
import presence
import ratelimit
import search
import tenancy

Entry = Callable[[list[str]], Sequence[dict[str, Any]]]


def _csv_rows(name: str) -> list[dict[str, str]]:
    path = common.RESULTS / f"{name}.csv"
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def from_csv(main: Callable[[], None], name: str, quick: Sequence[str] = ("--quick",)) -> Entry:
    """An entry for a benchmark whose ``main()`` reads ``sys.argv`` and returns nothing: it is
    run with ``quick`` as its arguments under ``--quick`` (none otherwise), and the rows it
    appended to ``results/<name>.csv`` are its result (``--servers`` does not apply)."""

    def entry(argv: list[str]) -> list[dict[str, str]]:
        before = len(_csv_rows(name))  # a wider header rewrites the file, never drops rows
        saved = sys.argv
        sys.argv = [f"{name}.py", *(quick if "--quick" in argv else ())]
        try:
            main()
        finally:
            sys.argv = saved
        return _csv_rows(name)[before:]

    return entry


def without_servers(main: Entry) -> Entry:
    """An entry for a benchmark that takes ``--quick`` but no ``--servers`` (it has no peers to
    choose from)."""

    def entry(argv: list[str]) -> Sequence[dict[str, Any]]:
        return main(["--quick"] if "--quick" in argv else [])

    return entry


#: name -> (entry point, the column a row must have a figure in to count as a success)
BENCHMARKS: dict[str, tuple[Entry, str]] = {
    "fanout": (fanout.main, "deliveries_per_s"),
    "echo": (echo.main, "round_trips_per_s"),
    "connections": (connections.main, "held"),
    "metering": (from_csv(metering.main, "metering", ("--calls", "200000", "--rounds", "3")),
                 "ns_per_call"),
    "tenancy": (tenancy.main, "ns_per_lookup"),
    "controlplane": (controlplane.main, "req_per_s"),
    # issue 4: messaging
    "log": (without_servers(log.main), "appends_per_s"),
    "ratelimit": (from_csv(ratelimit.main, "ratelimit", ("--calls", "100000", "--trips", "2000",
                                                         "--rounds", "2")), "ns_per_take"),
    "presence": (from_csv(presence.main, "presence", ("--rounds", "100")), "ops_per_s"),
    "persister": (from_csv(persister.main, "persister"), "rows_per_s"),
    "messaging": (without_servers(messaging.main), "accepted_per_s"),
    "search": (search.main, "p50_ms"),
    # issue 5: the BASIC compiler
    "basic_compile": (from_csv(basic_compile.main, "basic_compile"), "lines_per_s"),
    "basic_exec": (from_csv(basic_exec.main, "basic_exec"), "basic_s"),
    "basic_state": (from_csv(basic_state.main, "basic_state"), "save_us"),
}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Run the chosen benchmarks in order; returns a process exit status."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes (CI smoke)")
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
