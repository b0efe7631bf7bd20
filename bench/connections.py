"""Connection benchmark: many idle authenticated connections; connect rate and memory each.

gb runs with ``--workers W`` (reuse_port); client processes connect from 127.0.0.2, .3, ...
(at most ``--per-proc`` sockets each, below the 20,000 fd limit of a process). For gb a
connection counts once WELCOME has arrived (TCP + WebSocket upgrade + HELLO with a JWT).
Figures: connections held, connect+HELLO rate (connections / slowest client process's connect
time), and server memory per connection = (summed RSS of the worker processes after -
before) / connections. A smaller run compares gb with one worker to a bare picows server (one
process, ``read_buffer_init_size=1024``, no protocol) holding the same number of idle
connections.

Run: ``.venv/bin/python bench/connections.py [--quick] [--target 50000]``
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
import loadgen

NAME = "connections"


def run_one(
    kind: str, target: int, *, workers: int, per_proc: int, timeout: float
) -> dict[str, Any]:
    """Open ``target`` idle connections to one server; returns its CSV row."""
    procs = max(1, math.ceil(target / per_proc))
    sizes = [target // procs + (1 if i < target % procs else 0) for i in range(procs)]
    opts = {
        "gb": kind == "gb",
        "token": common.mint_token("idle"),
        "channel": None,
        "sample_every": 0,
        "concurrency": 64,
        "read_buffer": 1024,
        "connect_timeout": timeout,
        "max_seconds": timeout + 60,
    }
    with common.Server(kind, mode="echo", workers=workers) as server:
        time.sleep(0.5)
        rss0 = server.rss()
        serving = len(server.processes())
        group = loadgen.ClientGroup(server.url, sizes, opts)
        try:
            group.wait_ready(timeout=timeout + 30)
            time.sleep(1.0)  # let the server settle (buffers, heartbeats) before measuring
            rss1 = server.rss()
            alive = server.proc is not None and server.proc.poll() is None
        finally:
            group.stop()
    held = group.ok
    return {
        "server": kind,
        "workers": serving,
        "target": target,
        "client_procs": procs,
        "held": held,
        "failed": group.failed,
        "still_open": group.still_open,
        "server_alive": alive,
        "connect_s": round(group.connect_s, 2),
        "connects_per_s": round(held / group.connect_s) if group.connect_s else 0,
        "rss_before_mb": round(rss0 / 2**20, 1),
        "rss_after_mb": round(rss1 / 2**20, 1),
        "bytes_per_conn": round((rss1 - rss0) / held) if held else 0,
        "errors": "; ".join(group.errors[:3]),
    }


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    """Run the big gb run and the same-size gb/picows comparison; print; append the CSV."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes (CI smoke)")
    parser.add_argument("--target", type=int, default=None, help="gb connections (big run)")
    parser.add_argument("--workers", type=int, default=3, help="gb workers in the big run")
    parser.add_argument(
        "--compare",
        type=int,
        default=None,
        help="connections of the gb(1 worker) vs picows comparison",
    )
    parser.add_argument("--per-proc", type=int, default=15000)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--servers", default="gb,picows")
    args = parser.parse_args(argv)
    target = args.target or (3000 if args.quick else 50000)
    compare = args.compare or (2000 if args.quick else 10000)
    # Only gb and the bare picows server have an echo / idle mode.
    wanted = [s for s in args.servers.split(",") if s in ("gb", "picows")]
    servers = common.available_servers(wanted)
    header = common.run_header()
    runs: list[tuple[str, int, int, str]] = []
    if "gb" in servers:
        runs.append(("gb", target, args.workers, "scale"))
    runs += [(kind, compare, 1, "compare") for kind in servers]
    rows: list[dict[str, Any]] = []
    for kind, n, workers, scenario in runs:
        print(f"connections: {kind} x{workers} n={n} ...", flush=True)
        try:
            row = run_one(kind, n, workers=workers, per_proc=args.per_proc, timeout=args.timeout)
        except (RuntimeError, TimeoutError, OSError) as exc:
            print(f"  failed: {exc}", flush=True)
            row = {"server": kind, "workers": workers, "target": n, "errors": str(exc)[:300]}
        rows.append(
            {**header, "mode": "quick" if args.quick else "full", "scenario": scenario, **row}
        )
    picows = next((r for r in rows if r["server"] == "picows"), {})
    common.print_table(
        "idle connections (connect + HELLO, memory per connection)",
        [
            "server",
            "scenario",
            "workers",
            "held",
            "failed",
            "open at end",
            "conn/s",
            "bytes/conn",
            "gb/picows bytes",
        ],
        [
            [
                r["server"],
                r["scenario"],
                r.get("workers", 0),
                r.get("held", 0),
                r.get("failed", 0),
                r.get("still_open", 0),
                r.get("connects_per_s", math.nan),
                r.get("bytes_per_conn", math.nan),
                common.ratio(
                    r.get("bytes_per_conn", math.nan), picows.get("bytes_per_conn", math.nan)
                ),
            ]
            for r in rows
        ],
    )
    common.append_csv(NAME, rows)
    return rows


if __name__ == "__main__":
    main()
