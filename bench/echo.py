"""Echo / request-response benchmark: C connections doing sequential round trips for T seconds.

Each connection sends a 64-byte-payload PING frame (88 bytes on the wire) and sends the next
one as soon as the answer lands. gb answers with a PONG through its full frame path (decode,
dispatch, encode, send); the peer is a bare picows echo server returning the same bytes.
Figures: round trips/s (completed within T), latency p50/p99, server CPU seconds, and the
ratio gb/picows.

Run: ``.venv/bin/python bench/echo.py [--quick]``
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
import time
from array import array
from pathlib import Path
from typing import Any

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
import loadgen

NAME = "echo"
PAYLOAD = 64


class _Pinger:
    """Drives one connection: a round trip at a time until ``running`` is cleared."""

    def __init__(
        self, client: loadgen.Client, state: dict[str, Any], gb: bool, samples: array[int]
    ) -> None:
        self.client = client
        self.state = state
        self.gb = gb
        self.samples = samples
        self.request = loadgen.frame(loadgen.PING, b"p" * PAYLOAD)
        # gb answers PONG; the echo peer returns our PING unchanged.
        self.answer = loadgen.PONG if gb else loadgen.PING
        self.sent_ns = 0
        self.count = 0
        client.on_message = self.on_message

    def fire(self) -> None:
        self.sent_ns = time.perf_counter_ns()
        self.client.send(self.request)

    def on_message(self, data: memoryview) -> None:
        if data[1] != self.answer:
            if self.gb and data[1] == loadgen.PING:  # the server's heartbeat
                self.client.send(loadgen.frame(loadgen.PONG, bytes(data[loadgen.HEADER_SIZE :])))
            elif len(self.client.stats.errors) < 5:  # an ERROR frame: not a round trip
                self.client.stats.errors.append(
                    bytes(data[loadgen.HEADER_SIZE :]).decode(errors="replace")
                )
            return
        if not self.state["running"]:
            return
        self.count += 1
        if self.count % self.state["sample_every"] == 0:
            self.samples.append(time.perf_counter_ns() - self.sent_ns)
        self.fire()


async def _run(server: common.Server, connections: int, seconds: float) -> dict[str, Any]:
    gb = server.kind == "gb"
    stats = loadgen.Stats()
    token = common.mint_token("echo")
    clients = [
        await loadgen.connect(server.url, stats, gb=gb, token=token, read_buffer=1024)
        for _ in range(connections)
    ]
    state = {"running": True, "sample_every": 1 if connections == 1 else 10}
    samples: array[int] = array("q")
    pingers = [_Pinger(c, state, gb, samples) for c in clients]
    await asyncio.sleep(0.2)
    cpu0 = server.cpu_seconds()
    own0 = os.times()
    t0 = time.perf_counter()
    for p in pingers:
        p.fire()
    await asyncio.sleep(seconds)
    state["running"] = False
    elapsed = time.perf_counter() - t0
    cpu1 = server.cpu_seconds()
    own1 = os.times()
    total = sum(p.count for p in pingers)
    await asyncio.sleep(0.1)
    loadgen.close_all(clients)
    return {
        "round_trips": total,
        "seconds": round(elapsed, 3),
        "round_trips_per_s": round(total / elapsed),
        "server_cpu_s": round(cpu1 - cpu0, 3),
        "client_cpu_s": round(own1.user + own1.system - own0.user - own0.system, 3),
        "p50_us": round(common.percentile(samples, 0.50) / 1e3, 1),
        "p99_us": round(common.percentile(samples, 0.99) / 1e3, 1),
        "errors": "; ".join(stats.errors[:3]),
    }


def run_one(kind: str, connections: int, seconds: float) -> dict[str, Any]:
    """One echo run against one server; returns its CSV row."""
    with common.Server(kind, mode="echo", workers=1) as server:
        result = uvloop.run(_run(server, connections, seconds))
    return {"server": kind, "connections": connections, "payload": PAYLOAD, **result}


def _median_row(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median round-trip rate (its latencies come with it)."""
    ok = sorted(
        (r for r in runs if r.get("round_trips_per_s")), key=lambda r: r["round_trips_per_s"]
    )
    if not ok:
        return runs[-1]
    row = dict(ok[(len(ok) - 1) // 2])
    row["rounds"] = len(ok)
    row["round_trips_per_s_all"] = " ".join(str(r["round_trips_per_s"]) for r in ok)
    return row


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    """Run the echo matrix (gb and picows); print the table; append the CSV.

    The servers alternate over ``--rounds`` rounds and the median round is kept, so a burst
    of load from elsewhere on the machine hits both sides alike.
    """
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="short runs (CI smoke)")
    parser.add_argument("--seconds", type=float, default=None, help="T per run")
    parser.add_argument("--rounds", type=int, default=None, help="alternating rounds per server")
    parser.add_argument("--servers", default="gb,picows")
    parser.add_argument("--connections", default="1,100")
    args = parser.parse_args(argv)
    seconds = args.seconds or (2.0 if args.quick else 3.0)
    rounds = args.rounds or (1 if args.quick else 5)
    # Only gb and the bare picows server have an echo / idle mode.
    wanted = [s for s in args.servers.split(",") if s in ("gb", "picows")]
    servers = common.available_servers(wanted)
    header = common.run_header()
    rows: list[dict[str, Any]] = []
    for connections in (int(c) for c in args.connections.split(",")):
        runs: dict[str, list[dict[str, Any]]] = {kind: [] for kind in servers}
        for i in range(rounds):
            for kind in servers:
                print(
                    f"echo: {kind} C={connections} T={seconds}s round {i + 1}/{rounds}", flush=True
                )
                try:
                    runs[kind].append(run_one(kind, connections, seconds))
                except (RuntimeError, TimeoutError, OSError) as exc:
                    print(f"  failed: {exc}", flush=True)
                    runs[kind].append(
                        {"server": kind, "connections": connections, "errors": str(exc)[:300]}
                    )
        for kind in servers:
            row = _median_row(runs[kind])
            if row.get("round_trips"):
                row["server_cpu_us_per_rt"] = round(
                    row["server_cpu_s"] / row["round_trips"] * 1e6, 2
                )
            rows.append({**header, "mode": "quick" if args.quick else "full", **row})
    by_key = {(r["connections"], r["server"]): r for r in rows}

    def gb_over_picows(r: dict[str, Any], key: str) -> float:
        gb = by_key.get((r["connections"], "gb"), {}).get(key, math.nan)
        return common.ratio(gb, by_key.get((r["connections"], "picows"), {}).get(key, math.nan))

    common.print_table(
        "echo (64 B PING->PONG round trips, sequential per connection; median of rounds)",
        ["server", "conns", "rt/s", "p50 us", "p99 us", "srv cpu us/rt", "gb/picows rt/s"],
        [
            [
                r["server"],
                r["connections"],
                r.get("round_trips_per_s", math.nan),
                r.get("p50_us", math.nan),
                r.get("p99_us", math.nan),
                r.get("server_cpu_us_per_rt", math.nan),
                gb_over_picows(r, "round_trips_per_s"),
            ]
            for r in rows
        ],
    )
    common.append_csv(NAME, rows)
    return rows


if __name__ == "__main__":
    main()
