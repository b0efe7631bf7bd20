"""Presence store cost: join/leave, members(), count(), status() and heartbeat with N members.

For each store (memory, Redis at ``--redis``, the machine's shared server by default) one
channel of one fresh scope gets N presence members (default 1,000) and N online sessions, then:

- ``join`` / ``leave``: one call at a time, each awaited (latency per call), and N at once
  (``asyncio.gather``: the Redis store sends the calls of one loop tick as one pipeline);
- ``members()`` and ``count()`` on the channel of N members, ``status()`` of 100 users;
- ``heartbeat()``: renew all 2N entries of the node;
- ``PING``: a bare Redis round trip on the same connection settings, the floor of every call.

Latencies are p50/p99 over the calls; ``ops_per_s`` is calls per second of the phase's wall
time. The scope is withdrawn at the end (and every entry would expire by itself anyway).

Run: ``.venv/bin/python bench/presence.py [--members N] [--rounds R] [--redis URL]``
Appends rows to ``results/presence.csv``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
import uvloop
from redis.asyncio import Redis

from gb.core.presence import MemoryPresence, PresenceStore, RedisPresence


async def timed(calls: list[Callable[[], Awaitable[Any]]]) -> tuple[list[float], float]:
    """Run ``calls`` one after another; their latencies (us) and the wall time (s)."""
    latencies = []
    start = time.perf_counter()
    for call in calls:
        t0 = time.perf_counter()
        await call()
        latencies.append((time.perf_counter() - t0) * 1e6)
    return latencies, time.perf_counter() - start


async def gathered(calls: list[Callable[[], Awaitable[Any]]]) -> tuple[list[float], float]:
    """Run ``calls`` at once; wall time only (the per-call latency is the batch's)."""
    start = time.perf_counter()
    await asyncio.gather(*(call() for call in calls))
    wall = time.perf_counter() - start
    return [wall * 1e6], wall


async def measure(store: PresenceStore, n: int, rounds: int) -> list[dict[str, Any]]:
    scope = f"bench-{uuid.uuid4().hex}"
    sessions = [f"s{i}" for i in range(n)]
    rows: list[dict[str, Any]] = []

    def row(what: str, calls: int, latencies: list[float], wall: float) -> None:
        rows.append(
            {
                "store": store.name,
                "what": what,
                "members": n,
                "calls": calls,
                "p50_us": round(common.percentile(latencies, 0.5), 1),
                "p99_us": round(common.percentile(latencies, 0.99), 1),
                "ops_per_s": round(calls / wall),
            }
        )

    def joins(channel: str) -> list[Callable[[], Awaitable[Any]]]:
        return [lambda s=s: store.join(scope, channel, s, f"u{s}") for s in sessions]

    def leaves(channel: str) -> list[Callable[[], Awaitable[Any]]]:
        return [lambda s=s: store.leave(scope, channel, s) for s in sessions]

    row("join (one at a time)", n, *await timed(joins("seq")))
    row("leave (one at a time)", n, *await timed(leaves("seq")))
    row("join (all at once)", n, *await gathered(joins("room")))
    await asyncio.gather(*(store.online(scope, f"u{s}", s) for s in sessions))
    assert await store.count(scope, "room") == n

    reads = [lambda: store.members(scope, "room")] * rounds
    row(f"members() of {n}", rounds, *await timed(reads))
    assert len(await store.members(scope, "room")) == n
    row(f"count() of {n}", rounds, *await timed([lambda: store.count(scope, "room")] * rounds))
    users = [f"u{s}" for s in sessions[:100]]
    row(
        "status() of 100 users", rounds, *await timed([lambda: store.status(scope, users)] * rounds)
    )
    beats = max(3, rounds // 20)
    row(f"heartbeat() of {2 * n} entries", beats, *await timed([store.heartbeat] * beats))
    row("leave (all at once)", n, *await gathered(leaves("room")))
    assert await store.count(scope, "room") == 0
    return rows


async def ping_floor(url: str, rounds: int) -> dict[str, Any]:
    client = Redis.from_url(url, protocol=2)
    try:
        latencies, wall = await timed([client.ping] * rounds)
    finally:
        await client.aclose()
    return {
        "store": "redis",
        "what": "PING (round-trip floor)",
        "members": 0,
        "calls": rounds,
        "p50_us": round(common.percentile(latencies, 0.5), 1),
        "p99_us": round(common.percentile(latencies, 0.99), 1),
        "ops_per_s": round(rounds / wall),
    }


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for store in (
        MemoryPresence("bench", ttl=60.0, last_seen_ttl=60.0),
        RedisPresence(args.redis, "bench", ttl=60.0, last_seen_ttl=60.0),
    ):
        await store.start()
        try:
            rows += await measure(store, args.members, args.rounds)
        finally:
            await store.close()
    rows.append(await ping_floor(args.redis, args.rounds))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=500)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379")
    args = parser.parse_args()
    header = common.run_header()
    rows = [{**header, **r} for r in uvloop.run(run(args))]
    common.print_table(
        f"presence: one channel of {args.members:,} members (uvloop)",
        ("store", "what", "calls", "p50 us", "p99 us", "ops/s"),
        [
            (r["store"], r["what"], r["calls"], r["p50_us"], r["p99_us"], r["ops_per_s"])
            for r in rows
        ],
    )
    path = common.append_csv("presence", rows)
    print(f"\nrows: {path}")


if __name__ == "__main__":
    main()
