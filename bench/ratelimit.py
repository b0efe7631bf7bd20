"""Shared rate limits: ns per ``take()`` on the local fast path against a round trip per call.

One coroutine awaits ``take("user", key, limit)`` N times in a row on uvloop, against the shared
Redis (``GB_TEST_REDIS_URL``, default 127.0.0.1:6379, keys under a unique prefix that expire
by themselves). The limit (10^9 tokens/s) never refuses, so every figure is the cost of an
admission:

- ``memory``: :class:`MemoryRateLimiter` (one process, no I/O), awaited like the others;
- ``redis, lease 100``: the default slice (burst / 10 with burst = 1,000): one script call per
  101 takes, the rest spend the lease locally — the amortised cost under a busy key;
- ``redis, lease 100,000``: a slice so large that every take after the first is local;
- ``redis, round trip``: ``slice_fraction=0``, one script call (EVALSHA) per take.

Each figure is the best of R rounds, each round on a fresh key. Round trips are counted from
the limiter's own stats, so the CSV says how many calls went to Redis.

Run: ``.venv/bin/python bench/ratelimit.py [--calls N] [--trips M] [--rounds R]``
Appends rows to ``results/ratelimit.csv``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

from gb.core.ratelimit import Limit, MemoryRateLimiter, RateLimiter, RedisRateLimiter

REDIS_URL = os.environ.get("GB_TEST_REDIS_URL", "redis://127.0.0.1:6379")


async def ns_per_take(limiter: RateLimiter, limit: Limit, calls: int, rounds: int) -> float:
    """Best ns per ``take`` over ``rounds`` runs of ``calls`` takes on a fresh key each."""
    best = float("inf")
    for _ in range(rounds):
        key = uuid.uuid4().hex
        take = limiter.take
        await take("user", key, limit, tenant="bench")  # connect and load the script first
        start = time.perf_counter_ns()
        for _ in range(calls):
            await take("user", key, limit, tenant="bench")
        best = min(best, (time.perf_counter_ns() - start) / calls)
    return best


async def measure(args: argparse.Namespace) -> list[dict[str, Any]]:
    prefix = f"gb:bench:rl:{uuid.uuid4().hex}:"
    cases: list[tuple[str, RateLimiter, Limit, int]] = [
        ("memory", MemoryRateLimiter(), Limit(1e9, 1e3), args.calls),
        (
            "redis, lease 100",
            RedisRateLimiter(REDIS_URL, prefix=prefix),
            Limit(1e9, 1e3),
            args.calls,
        ),
        (
            "redis, lease 100,000",
            RedisRateLimiter(REDIS_URL, prefix=prefix),
            Limit(1e9, 1e6),
            args.calls,
        ),
        (
            "redis, round trip",
            RedisRateLimiter(REDIS_URL, prefix=prefix, slice_fraction=0),
            Limit(1e9, 1e3),
            args.trips,
        ),
    ]
    header = common.run_header()
    rows: list[dict[str, Any]] = []
    for what, limiter, limit, calls in cases:
        ns = await ns_per_take(limiter, limit, calls, args.rounds)
        trips = limiter.stats.round_trips if isinstance(limiter, RedisRateLimiter) else 0
        if isinstance(limiter, RedisRateLimiter):
            assert limiter.healthy and limiter.stats.errors == 0, limiter.stats
        takes = (calls + 1) * args.rounds
        await limiter.close()
        rows.append(
            {
                **header,
                "what": what,
                "rate": limit.rate,
                "burst": limit.burst,
                "calls": calls,
                "rounds": args.rounds,
                "ns_per_take": round(ns, 1),
                "round_trips_per_1k": round(1000 * trips / takes, 2),
            }
        )
    trip_ns = rows[-1]["ns_per_take"]
    for row in rows:
        row["x_faster_than_round_trip"] = round(trip_ns / row["ns_per_take"], 1)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--calls", type=int, default=500_000, help="takes per round, local")
    parser.add_argument("--trips", type=int, default=10_000, help="takes per round, round trip")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rows = uvloop.run(measure(args))
    common.print_table(
        f"rate limiter: ns per take() (best of {args.rounds})",
        ("what", "calls", "ns/take", "trips per 1k", "x round trip"),
        [
            (
                r["what"],
                r["calls"],
                r["ns_per_take"],
                r["round_trips_per_1k"],
                r["x_faster_than_round_trip"],
            )
            for r in rows
        ],
    )
    path = common.append_csv("ratelimit", rows)
    print(f"\nrows: {path}")


if __name__ == "__main__":
    main()
