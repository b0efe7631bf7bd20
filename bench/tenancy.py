"""Tenant resolution on the hot path: token -> tenant -> shard -> quotas, cached.

Against a real PostgreSQL database of its own (``gbt_bench_<pid>_<hex>``, migrated with both
tracks, dropped at the end), K tenants (a customer mapped to shard 0 and its instance ``main``)
each get an HS256 token (``gb.core.auth.mint_token``). One lookup is what a node does for a
caller it has seen before::

    identity = authenticator.verify(token)          # cache hit: BLAKE2b digest + LRU
    customer, instance = tenant_ids(identity)       # gb.core.tenant_gate: two UUIDs
    shard = await db.shard_of(customer)             # cached shard map
    limits = await quotas.limits(customer)          # cached plan + overrides

**Cached**: N lookups (200,000; quick 50,000) cycling over the K tokens, all caches warm (TTLs
set long so nothing expires mid-run), as the total and each step alone; best of R rounds, and
``net`` = minus an empty loop over the same inputs. Target: <= 2 us per lookup.

**Churn**: W tokens (a working set) are looked up at L lookups/s (paced: L lookups, then sleep
to the next second) for D seconds, each lookup a random token of the set. At the start of
every second a fraction (0 %, 1 %, 10 %) of the set is replaced by fresh tokens of tenants not
used lately (from a queue of the other K - W tenants), so each costs a full JWT verification
and, once its entries are older than their TTL, shard-map and quota reads from the database.
TTLs are the product's defaults (token cache 60 s, shard map 5 s, quotas 10 s), so entries of
the working set also expire and are read again while it runs. Figures: hit rate (a lookup that
touched no JWT verification and no database), per-layer hit rates, and the mean cost of a
lookup (all, hits, misses; each timed alone, the timer's own cost subtracted).

Run: ``.venv/bin/python bench/tenancy.py [--quick] [--lookups N] [--tenants K]``
Appends rows to ``results/tenancy.csv``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import re
import statistics
import sys
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

import asyncpg
import common
import uvloop

from gb.core.auth import Authenticator, mint_token
from gb.core.config import Settings, load_settings
from gb.core.storage import migrate_database
from gb.core.storage.database import Database
from gb.core.tenancy.counters import MemoryCounters
from gb.core.tenancy.quotas import Quotas
from gb.core.tenant_gate import resolve_cached, tenant_ids

PG_ADMIN_DSN = os.environ.get("GB_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
DB_PREFIX = "gbt_bench_"
TARGET_NS = 2_000
_BENCH_DB = re.compile(rf"{DB_PREFIX}(\d+)_[0-9a-f]{{12}}")
_LONG_TTL = 3600.0  # cached phase: nothing may expire while it is measured

Tenant = tuple[uuid.UUID, uuid.UUID]


# ------------------------------------------------------------------ a database of our own


def dsn_of(name: str, **query: str) -> str:
    """The DSN of database ``name`` on the server of ``PG_ADMIN_DSN`` (``query`` appended)."""
    parts = urlsplit(PG_ADMIN_DSN)
    extra = "&".join(f"{k}={v}" for k, v in query.items())
    return urlunsplit(parts._replace(path="/" + name, query=extra))


async def _admin(*statements: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        rows: list[asyncpg.Record] = []
        for sql in statements:
            rows = await conn.fetch(sql)
        return rows
    finally:
        await conn.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def _drop_orphans() -> None:
    """Drop bench databases of processes that died before dropping theirs."""
    rows = await _admin(f"SELECT datname FROM pg_database WHERE datname LIKE '{DB_PREFIX}%'")
    for row in rows:
        match = _BENCH_DB.fullmatch(row["datname"])
        if match is not None and not _alive(int(match[1])):
            await _admin(f'DROP DATABASE IF EXISTS "{row["datname"]}" WITH (FORCE)')


@contextlib.asynccontextmanager
async def bench_database() -> AsyncIterator[str]:
    """A fresh database migrated with the control and shard tracks; dropped on exit."""
    await _drop_orphans()
    name = f"{DB_PREFIX}{os.getpid()}_{uuid.uuid4().hex[:12]}"
    await _admin(f'CREATE DATABASE "{name}" TEMPLATE template0')
    try:
        await migrate_database(dsn_of(name), control=True, shard=True)
        yield name
    finally:
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def create_tenants(
    dsn: str, count: int, *, instances: int = 1, plan: str = "pro"
) -> list[tuple[uuid.UUID, list[uuid.UUID]]]:
    """``count`` customers on shard 0, each with ``instances`` instances; in a few statements.

    Rows as ``tests/support/tenants.py`` makes them one at a time (customer, shard map row,
    instances ``main``, ``bot-2``, ...), written in bulk by the login superuser. Shard 0 must be
    registered (``Database.open`` does it).
    """
    tag = uuid.uuid4().hex[:8]
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            customers: list[uuid.UUID] = [
                r["id"]
                for r in await conn.fetch(
                    "INSERT INTO customers (name, plan_id, region_id)"
                    " SELECT 'bench-' || $1 || '-' || g, $2, 'local'"
                    " FROM generate_series(1, $3) g RETURNING id",
                    tag,
                    plan,
                    count,
                )
            ]
            await conn.execute(
                "INSERT INTO shard_map (customer_id, shard_id) SELECT unnest($1::uuid[]), 0",
                customers,
            )
            rows = await conn.fetch(
                "INSERT INTO instances (customer_id, name)"
                " SELECT c, CASE WHEN n = 1 THEN 'main' ELSE 'bot-' || n END"
                " FROM unnest($1::uuid[]) c, generate_series(1, $2) n"
                " RETURNING id, customer_id",
                customers,
                instances,
            )
    finally:
        await conn.close()
    by_customer: dict[uuid.UUID, list[uuid.UUID]] = {c: [] for c in customers}
    for row in rows:
        by_customer[row["customer_id"]].append(row["id"])
    return list(by_customer.items())


def bench_settings() -> Settings:
    """Node settings with the benchmarks' HS256 secret (nothing else from the environment)."""
    return load_settings({"GB_JWT_SECRET": common.JWT_SECRET})


def token_of(settings: Settings, tenant: Tenant, roles: Sequence[str] = ("user",)) -> str:
    """A fresh token for the tenant's customer and instance (``iat`` now, valid an hour)."""
    customer, instance = tenant
    return mint_token(
        settings,
        user=f"u-{uuid.uuid4().hex[:8]}",
        customer=str(customer),
        instance=str(instance),
        roles=roles,
    )


class Resolver:
    """The caches of one node: authenticator, shard map (in Database) and quotas."""

    def __init__(self, settings: Settings, db: Database, quotas: Quotas) -> None:
        self.auth = Authenticator(settings, cache_size=100_000)
        self.db = db
        self.quotas = quotas

    @classmethod
    async def open(
        cls, settings: Settings, dsn: str, *, map_ttl: float, quota_ttl: float
    ) -> Resolver:
        db = await Database.open(dsn, pool_size=4, map_ttl=map_ttl)
        return cls(settings, db, Quotas(db, MemoryCounters(), ttl=quota_ttl))

    async def close(self) -> None:
        await self.db.close()

    async def resolve(self, token: str) -> None:
        """One full lookup (the same statements as the timed loops)."""
        identity = self.auth.verify(token)
        customer, _instance = tenant_ids(identity)
        await self.db.shard_of(customer)
        await self.quotas.limits(customer)

    # Peeks at the caches (read only) to tell a hit from a miss before a lookup runs.
    def map_cached(self, customer: uuid.UUID) -> bool:
        return self.db._cache.get(customer) is not None

    def quotas_cached(self, customer: uuid.UUID) -> bool:
        hit = self.quotas._cache.get(customer.int)
        return hit is not None and hit[0] > time.monotonic()


# ------------------------------------------------------------------ cached: per step


def _loops(r: Resolver) -> dict[str, Callable[[Sequence[Any]], Awaitable[None]]]:
    verify, shard_of, limits = r.auth.verify, r.db.shard_of, r.quotas.limits

    async def empty(items: Sequence[Any]) -> None:
        for _item in items:
            pass

    async def total(tokens: Sequence[Any]) -> None:
        for token in tokens:
            identity = verify(token)
            customer, _instance = tenant_ids(identity)
            await shard_of(customer)
            await limits(customer)

    db, quotas, auth = r.db, r.quotas, r.auth

    async def cached_path(tokens: Sequence[Any]) -> None:
        # The hot path a node takes when every cache holds the tenant: no await at all.
        for token in tokens:
            resolve_cached(auth, db, quotas, token)

    async def verify_only(tokens: Sequence[Any]) -> None:
        for token in tokens:
            verify(token)

    async def ids_only(identities: Sequence[Any]) -> None:
        for identity in identities:
            tenant_ids(identity)

    async def shard_only(customers: Sequence[Any]) -> None:
        for customer in customers:
            await shard_of(customer)

    async def limits_only(customers: Sequence[Any]) -> None:
        for customer in customers:
            await limits(customer)

    return {
        "empty": empty,
        "total": total,
        "cached_path": cached_path,
        "verify": verify_only,
        "tenant_ids": ids_only,
        "shard_of": shard_only,
        "limits": limits_only,
    }


async def _timed(fn: Callable[[Sequence[Any]], Awaitable[None]], items: Sequence[Any]) -> float:
    start = time.perf_counter_ns()
    await fn(items)
    return (time.perf_counter_ns() - start) / len(items)


async def cached_phase(
    settings: Settings, dsn: str, tokens: list[str], lookups: int, rounds: int
) -> list[dict[str, Any]]:
    """ns per lookup, total and per step, every cache warm; best and median of ``rounds``."""
    r = await Resolver.open(settings, dsn, map_ttl=_LONG_TTL, quota_ttl=_LONG_TTL)
    try:
        seq = [tokens[n % len(tokens)] for n in range(lookups)]
        for token in tokens:  # warm every cache
            await r.resolve(token)
        identities = [r.auth.verify(t) for t in seq]
        customers = [tenant_ids(i)[0] for i in identities]
        inputs: dict[str, Sequence[Any]] = {
            "empty": seq,
            "total": seq,
            "cached_path": seq,
            "verify": seq,
            "tenant_ids": identities,
            "shard_of": customers,
            "limits": customers,
        }
        loops = _loops(r)
        verifications = r.auth.verifications
        times: dict[str, list[float]] = {name: [] for name in loops}
        for _ in range(rounds):  # interleaved, so load from elsewhere spreads over all
            for name, fn in loops.items():
                times[name].append(await _timed(fn, inputs[name]))
        assert r.auth.verifications == verifications, "a cached lookup verified a token"
    finally:
        await r.close()
    empty = min(times.pop("empty"))
    return [
        {
            "phase": "cached",
            "what": name,
            "lookups": lookups,
            "ns_per_lookup": round(min(ns), 1),
            "net_ns_per_lookup": round(min(ns) - empty, 1),
            "median_ns_per_lookup": round(statistics.median(ns), 1),
            "empty_loop_ns": round(empty, 1),
            "hit_rate": 1.0,
        }
        for name, ns in times.items()
    ]


# ------------------------------------------------------------------ churn: hit rate


async def _timer_overhead() -> float:
    samples = []
    clock = time.perf_counter_ns
    for _ in range(20_000):
        t = clock()
        samples.append(clock() - t)
    return float(statistics.median(samples))


async def churn_phase(
    settings: Settings,
    dsn: str,
    tenants: list[Tenant],
    *,
    working: int,
    rate: int,
    seconds: int,
    churn: float,
    seed: int = 7,
) -> dict[str, Any]:
    """Hit rates and mean lookup cost for a working set whose tokens churn every second."""
    rng = random.Random(seed)
    r = await Resolver.open(settings, dsn, map_ttl=5.0, quota_ttl=10.0)  # product defaults
    try:
        owner: dict[str, uuid.UUID] = {}

        def fresh(tenant: Tenant) -> str:
            token = token_of(settings, tenant)
            owner[token] = tenant[0]
            return token

        current = [fresh(t) for t in tenants[:working]]
        slot_tenant = list(tenants[:working])
        cold = deque(tenants[working:])
        for token in current:
            await r.resolve(token)
        per_second = round(churn * working)
        # Everything random and every token minted before the clock starts: the client's work.
        plan = []
        for _ in range(seconds):
            swaps = []
            for slot in rng.sample(range(working), per_second):
                tenant = cold.popleft()
                cold.append(slot_tenant[slot])
                slot_tenant[slot] = tenant
                swaps.append((slot, fresh(tenant)))
            plan.append((swaps, [rng.randrange(working) for _ in range(rate)]))
        overhead = await _timer_overhead()
        clock = time.perf_counter_ns
        verify, shard_of, limits = r.auth.verify, r.db.shard_of, r.quotas.limits
        hits: list[int] = []
        misses: list[int] = []
        token_hits = map_hits = quota_hits = 0
        behind = 0
        for swaps, picks in plan:
            second = time.monotonic()
            for slot, token in swaps:
                current[slot] = token
            for index in picks:
                token = current[index]
                customer = owner[token]
                map_hit = r.map_cached(customer)
                quota_hit = r.quotas_cached(customer)
                before = r.auth.verifications
                t = clock()
                identity = verify(token)
                cust, _instance = tenant_ids(identity)
                await shard_of(cust)
                await limits(cust)
                elapsed = clock() - t
                token_hit = r.auth.verifications == before
                token_hits += token_hit
                map_hits += map_hit
                quota_hits += quota_hit
                (hits if token_hit and map_hit and quota_hit else misses).append(elapsed)
            pause = second + 1.0 - time.monotonic()
            if pause > 0:
                await asyncio.sleep(pause)
            else:
                behind += 1
    finally:
        await r.close()
    total = len(hits) + len(misses)
    every = hits + misses
    return {
        "phase": "churn",
        "what": f"churn {churn:.0%}",
        "churn_pct": round(churn * 100, 2),
        "lookups": total,
        "working_set": working,
        "rate_per_s": rate,
        "seconds": seconds,
        "ns_per_lookup": round(statistics.fmean(every) - overhead, 1),
        "hit_ns_per_lookup": round(statistics.fmean(hits) - overhead, 1) if hits else "",
        "miss_ns_per_lookup": round(statistics.fmean(misses) - overhead, 1) if misses else "",
        "p99_ns": round(common.percentile(every, 0.99) - overhead, 1),
        "hit_rate": round(len(hits) / total, 5),
        "token_hit_rate": round(token_hits / total, 5),
        "map_hit_rate": round(map_hits / total, 5),
        "quota_hit_rate": round(quota_hits / total, 5),
        "seconds_behind": behind,
        "timer_ns": overhead,
    }


# ------------------------------------------------------------------ entry point


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    settings = bench_settings()
    async with bench_database() as name:
        dsn = dsn_of(name)
        setup = await Database.open(dsn, pool_size=2)  # registers shard 0
        await setup.close()
        t0 = time.monotonic()
        made = await create_tenants(dsn, args.tenants)
        tenants = [(customer, instances[0]) for customer, instances in made]
        tokens = [token_of(settings, t) for t in tenants]
        print(f"{len(tenants):,} tenants and tokens in {time.monotonic() - t0:.1f} s", flush=True)
        rows = await cached_phase(settings, dsn, tokens, args.lookups, args.rounds)
        for row in rows:
            row["tenants"] = len(tenants)
        for churn in args.churn:
            row = await churn_phase(
                settings,
                dsn,
                tenants,
                working=args.working_set,
                rate=args.rate,
                seconds=args.seconds,
                churn=churn,
            )
            row["tenants"] = len(tenants)
            rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    """Run both phases, print tables, append rows to ``results/tenancy.csv``; returns them."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes (~20 s, CI smoke)")
    parser.add_argument("--tenants", type=int, default=None, help="K tenants (2,000; quick 500)")
    parser.add_argument("--lookups", type=int, default=None, help="N (200,000; quick 50,000)")
    parser.add_argument("--rounds", type=int, default=None, help="R (5; quick 2)")
    parser.add_argument("--working-set", type=int, default=None, help="W (1,000; quick 250)")
    parser.add_argument("--rate", type=int, default=None, help="L lookups/s (20,000; quick 10,000)")
    parser.add_argument("--seconds", type=int, default=None, help="D per churn level (20; quick 4)")
    parser.add_argument("--churn", default="0,0.01,0.1", help="fractions new per second")
    parser.add_argument("--servers", default=None, help=argparse.SUPPRESS)  # run_all passes it
    args = parser.parse_args(argv)
    quick = args.quick
    for key, full, small in (
        ("tenants", 2000, 500),
        ("lookups", 200_000, 50_000),
        ("rounds", 5, 2),
        ("working_set", 1000, 250),
        ("rate", 20_000, 10_000),
        ("seconds", 20, 4),
    ):
        if getattr(args, key) is None:
            setattr(args, key, small if quick else full)
    args.churn = [float(c) for c in args.churn.split(",") if c]
    if args.working_set * 2 > args.tenants:
        parser.error("--tenants must be at least twice --working-set (the cold tenants)")
    header = common.run_header()
    measured = [
        {**header, "mode": "quick" if quick else "full", **r} for r in uvloop.run(run(args))
    ]
    # One set of columns for both phases (the CSV's header comes from the first row).
    columns = list(dict.fromkeys(key for row in measured for key in row))
    rows = [{key: row.get(key, "") for key in columns} for row in measured]
    cached = [r for r in rows if r["phase"] == "cached"]
    churned = [r for r in rows if r["phase"] == "churn"]
    common.print_table(
        f"tenant resolution, cached: {args.lookups:,} lookups over {args.tenants:,} tokens "
        f"(best of {args.rounds})",
        ("step", "ns/lookup", "net ns", "median ns"),
        [
            (r["what"], r["ns_per_lookup"], r["net_ns_per_lookup"], r["median_ns_per_lookup"])
            for r in cached
        ],
    )
    common.print_table(
        f"hit rate under churn: working set {args.working_set:,}, {args.rate:,} lookups/s, "
        f"{args.seconds} s each",
        ("churn", "hit rate", "token", "map", "quotas", "mean ns", "hit ns", "miss ns", "p99 ns"),
        [
            (
                r["what"],
                f"{r['hit_rate']:.3%}",
                f"{r['token_hit_rate']:.3%}",
                f"{r['map_hit_rate']:.3%}",
                f"{r['quota_hit_rate']:.3%}",
                r["ns_per_lookup"],
                r["hit_ns_per_lookup"] or float("nan"),
                r["miss_ns_per_lookup"] or float("nan"),
                r["p99_ns"],
            )
            for r in churned
        ],
    )
    path = common.append_csv("tenancy", rows)
    for what in ("total", "cached_path"):
        row = next(r for r in cached if r["what"] == what)
        verdict = "met" if row["ns_per_lookup"] <= TARGET_NS else "NOT met"
        print(f"target <= {TARGET_NS} ns per cached lookup ({what}): {verdict}")
    print(f"rows: {path}")
    return rows


if __name__ == "__main__":
    main()
