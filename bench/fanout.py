"""Fan-out benchmark: one channel, S subscribers, one publisher; gb against peer servers.

Subscribers live in separate client processes (picows). The publisher (this process) sends
M messages with at most ``window`` messages in flight (measured from the subscribers' shared
delivery counters), each payload starting with its ``time.monotonic_ns()``. Figures:

- deliveries/s: S*M / wall time from the first publish to the last delivery;
- deliveries per server CPU second: S*M / (user+system CPU seconds of the server and its
  workers during the run, from psutil) — "per core" throughput;
- publish→deliver latency p50/p99 from a sample of subscribers.

Run: ``.venv/bin/python bench/fanout.py [--quick] [--servers gb,picows,...]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
import loadgen

NAME = "fanout"


def _cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            t = psutil.Process(pid).cpu_times()
            total += t.user + t.system
    return total


async def _phase(
    server: common.Server,
    group: loadgen.ClientGroup,
    pub: loadgen.Client,
    *,
    subscribers: int,
    payload: int,
    messages: int,
    window: int,
    timeout: float,
) -> dict[str, Any]:
    """Publish ``messages`` payloads of ``payload`` bytes and wait for every delivery."""
    base = group.expect(messages)
    client_cpu0 = _cpu(group.pids())
    cpu0 = server.cpu_seconds()
    t0 = time.monotonic_ns()
    deadline = time.monotonic() + timeout
    sent = 0
    while sent < messages and time.monotonic() < deadline:
        delivered_msgs = (group.delivered() - base) // subscribers
        burst = min(window - (sent - delivered_msgs), messages - sent)
        if burst <= 0:
            await asyncio.sleep(0.0005)
            continue
        for _ in range(burst):
            body = loadgen.stamped_payload(payload, sent)
            pub.send(
                loadgen.frame(
                    loadgen.PUBLISH, body, flags=loadgen.FLAG_NO_ECHO, channel_id=pub.channel_id
                )
            )
            sent += 1
        await asyncio.sleep(0)
    while not group.all_done() and time.monotonic() < deadline:
        await asyncio.sleep(0.002)
    complete = group.all_done()
    t1 = max(group.done_ns) if complete else time.monotonic_ns()
    server_cpu = server.cpu_seconds() - cpu0
    client_cpu = _cpu(group.pids()) - client_cpu0
    await asyncio.sleep(0.05 if complete else 1.0)  # let stragglers land before the next phase
    deliveries = group.delivered() - base
    latencies = group.collect()
    wall = (t1 - t0) / 1e9
    return {
        "payload": payload,
        "messages": messages,
        "sent": sent,
        "deliveries": deliveries,
        "expected": subscribers * messages,
        "complete": complete,
        "wall_s": round(wall, 3),
        "deliveries_per_s": round(deliveries / wall) if wall > 0 else 0,
        "server_cpu_s": round(server_cpu, 3),
        "deliveries_per_cpu_s": round(deliveries / server_cpu) if server_cpu > 0 else 0,
        "client_cpu_s": round(client_cpu, 2),
        "latency_samples": len(latencies),
        "p50_ms": round(common.percentile(latencies, 0.50) / 1e6, 3),
        "p99_ms": round(common.percentile(latencies, 0.99) / 1e6, 3),
    }


async def _phases(
    server: common.Server,
    group: loadgen.ClientGroup,
    subscribers: int,
    phases: list[tuple[int, int, int]],
    *,
    timeout: float,
) -> list[dict[str, Any]]:
    stats = loadgen.Stats()
    gb = server.kind == "gb"
    pub = await loadgen.connect(
        server.url,
        stats,
        gb=gb,
        token=common.mint_token("publisher"),
        channel="bench" if gb else None,
    )
    if not gb:
        await asyncio.sleep(0.5)  # let the peer register the last connections
    results = []
    for payload, messages, window in phases:
        result = await _phase(
            server,
            group,
            pub,
            subscribers=subscribers,
            payload=payload,
            messages=messages,
            window=window,
            timeout=timeout,
        )
        result["window"] = window
        result["errors"] = "; ".join(stats.errors[:3])
        results.append(result)
    loadgen.close_all([pub])
    return results


def run_server(
    kind: str,
    subscribers: int,
    phases: list[tuple[int, int, int]],
    *,
    procs: int,
    timeout: float,
    gb_workers: int,
) -> list[dict[str, Any]]:
    """Connect S subscribers to one server, run each (payload, M, window) phase; CSV rows."""
    sizes = [subscribers // procs + (1 if i < subscribers % procs else 0) for i in range(procs)]
    opts = {
        "gb": kind == "gb",
        "token": common.mint_token("subscriber"),
        "channel": "bench",
        "sample_every": max(1, subscribers // (100 * procs)),  # ~100 sampled per process
        "concurrency": 200,
        "read_buffer": 2048,
        "connect_timeout": 120,
        "max_seconds": len(phases) * timeout + 180,
    }
    base = {
        "server": kind,
        "workers": gb_workers if kind == "gb" else 1,
        "subscribers": subscribers,
        "client_procs": procs,
    }
    with common.Server(kind, workers=gb_workers) as server:
        group = loadgen.ClientGroup(server.url, sizes, opts)
        try:
            group.wait_ready(timeout=150)
            if group.failed:
                raise RuntimeError(f"{group.failed} subscribers failed to connect: {group.errors}")
            results = uvloop.run(_phases(server, group, subscribers, phases, timeout=timeout))
        finally:
            group.stop()
    rows = []
    for r in results:
        errors = "; ".join(e for e in (r.pop("errors"), *group.errors[:3]) if e)
        rows.append({**base, "connect_s": round(group.connect_s, 2), **r, "errors": errors})
    return rows


def matrix(quick: bool) -> list[tuple[int, list[tuple[int, int, int]]]]:
    """Each configuration: subscribers, then its (payload bytes, messages, window) phases.

    The window (messages in flight) is ~20,000 deliveries' worth; S = 10,000 also runs with
    a deeper window of 10 messages, the case where a server can coalesce writes.
    """
    if quick:
        return [(1000, [(64, 200, 20), (1024, 100, 20)])]
    return [
        (1000, [(64, 500, 20), (1024, 500, 20)]),
        (10000, [(64, 50, 2), (1024, 50, 2), (64, 100, 10)]),
    ]


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    """Run the fan-out matrix against every server; print the table; append the CSV."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes (CI smoke)")
    parser.add_argument("--servers", default=",".join(common.SERVERS))
    parser.add_argument("--procs", type=int, default=2, help="subscriber processes")
    parser.add_argument("--timeout", type=float, default=60.0, help="bound of one phase (s)")
    parser.add_argument("--gb-workers", type=int, default=1)
    parser.add_argument(
        "--config",
        action="append",
        default=[],
        help="S,payload,M,window (repeatable; replaces the default matrix)",
    )
    args = parser.parse_args(argv)
    servers = common.available_servers(args.servers.split(","))
    configs = matrix(args.quick)
    if args.config:
        grouped: dict[int, list[tuple[int, int, int]]] = {}
        for c in args.config:
            subscribers, payload, messages, window = (int(x) for x in c.split(","))
            grouped.setdefault(subscribers, []).append((payload, messages, window))
        configs = list(grouped.items())
    header = common.run_header()
    rows: list[dict[str, Any]] = []
    for subscribers, phases in configs:
        for kind in servers:
            print(f"fanout: {kind} S={subscribers} (payload, M, window)={phases} ...", flush=True)
            try:
                got = run_server(
                    kind,
                    subscribers,
                    phases,
                    procs=args.procs,
                    timeout=args.timeout,
                    gb_workers=args.gb_workers,
                )
            except (RuntimeError, TimeoutError, OSError) as exc:
                print(f"  failed: {exc}", flush=True)
                got = [
                    {
                        "server": kind,
                        "subscribers": subscribers,
                        "payload": payload,
                        "messages": messages,
                        "window": window,
                        "complete": False,
                        "errors": str(exc)[:300],
                    }
                    for payload, messages, window in phases
                ]
            rows += [{**header, "mode": "quick" if args.quick else "full", **r} for r in got]
    _print(rows)
    common.append_csv(NAME, rows)
    return rows


def _print(rows: list[dict[str, Any]]) -> None:
    table = []
    by_key = {(r["subscribers"], r["payload"], r["window"], r["server"]): r for r in rows}
    for r in rows:
        gb = by_key.get((r["subscribers"], r["payload"], r["window"], "gb"), {})
        table.append(
            [
                r["server"],
                r["subscribers"],
                r["payload"],
                r["window"],
                r.get("deliveries_per_s", math.nan),
                r.get("deliveries_per_cpu_s", math.nan),
                r.get("p50_ms", math.nan),
                r.get("p99_ms", math.nan),
                "yes" if r.get("complete") else "NO",
                common.ratio(
                    gb.get("deliveries_per_s", math.nan), r.get("deliveries_per_s", math.nan)
                ),
                common.ratio(
                    gb.get("deliveries_per_cpu_s", math.nan),
                    r.get("deliveries_per_cpu_s", math.nan),
                ),
            ]
        )
    common.print_table(
        "fan-out (one channel, one publisher)",
        [
            "server",
            "subs",
            "bytes",
            "window",
            "deliv/s",
            "deliv/cpu-s",
            "p50 ms",
            "p99 ms",
            "complete",
            "gb/x deliv/s",
            "gb/x per-core",
        ],
        table,
    )


if __name__ == "__main__":
    main()
