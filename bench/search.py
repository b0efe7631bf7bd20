"""Message search latency on 1,000,000 messages of one tenant (``gb.core.messaging.search``).

Data (made once, then reused): a database of its own, ``gb_bench_search`` on the local
PostgreSQL (``GB_TEST_PG_DSN``), migrated with both tracks; one customer with one instance
(text search ``english``), C conversations (2,000) of 5 members each from 200 users, and N
messages (1,000,000) spread evenly over the conversations and the last 60 days, written with
``COPY`` (binary, batches of 50,000 over two connections) the way the persister leaves rows: a
UUIDv7 id whose time is ``created_at``, positions per conversation, ``lang`` = english. The GIN
index is dropped during the load and built afterwards (as for any bulk load), then ``VACUUM
ANALYZE``. The texts are 5 to 24 words drawn from a Zipf-like vocabulary (40 everyday English
words at the head, then ~6,000 made-up words), with planted words for the queries: the rare
``zeppelin`` (~0.03 % of the messages) and the phrase "quarterly budget review" (~0.1 %), whose
words also occur apart.
The dataset's parameters are stored in the database (``bench_dataset``); a later run with the
same parameters reuses it (``--rebuild`` forces a new one; ``--drop`` removes it at the end).

Measured: ``Search.search`` end to end in one process (uvloop, asyncpg pool of 4) — the
transaction as ``gb_app``, the query parsing and membership statement, the search, ranking
(``ts_rank_cd``) and highlighting (``ts_headline``) of a page of 20 — sequentially, R runs per
query (50; quick 10) after 3 warm-up runs, as two callers:

- **member of 50** conversations (~25,000 messages visible: a typical user);
- **member of all** 2,000 conversations (every message visible: the worst case for ranking,
  since every match of the query must be ranked before the best 20 are known).

Queries: the most common word (``meeting``, in ~27 % of the messages), a rare word
(``zeppelin``), a phrase (``"quarterly budget review"``), the common word within one
conversation, and the common word's second page (with the first page's cursor). Figures:
p50/p99/mean latency (ms) and the hits a page returned; the number of matches in the caller's
scope is counted once per query; ``load_1m``: the machine's 1-minute load average while the
query was measured (the machine is shared: compare runs at similar load).

Run: ``.venv/bin/python bench/search.py [--quick] [--messages N] [--runs R] [--plans]``
Appends rows to ``results/search.csv``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import random
import statistics
import struct
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

import asyncpg
import common
import uvloop

from gb.core.auth import Identity
from gb.core.messaging.search import Search
from gb.core.storage import migrate_database
from gb.core.storage.database import Database
from gb.core.storage.partitions import ensure_partitions

PG_ADMIN_DSN = os.environ.get("GB_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
DB_NAME = "gb_bench_search"
DATASET_VERSION = 2
DAYS = 60
USERS = 200
MEMBERS = 5
TYPICAL_MEMBERSHIP = 50
BATCH = 50_000
COPY_WORKERS = 2
COMMON = [
    "meeting", "project", "today", "update", "team", "review", "client", "deadline", "report",
    "call", "please", "thanks", "tomorrow", "design", "release", "customer", "issue", "plan",
    "schedule", "draft", "budget", "quarterly", "numbers", "office", "lunch", "travel", "invoice",
    "contract", "sales", "support", "ticket", "deploy", "server", "weekend", "morning", "email",
    "document", "feedback", "question", "agenda",
]  # fmt: skip
RARE = "zeppelin"
PHRASE = "quarterly budget review"
SYLLABLES = ["ka", "lo", "mi", "ne", "su", "ta", "vo", "ri", "pe", "du", "go", "ha", "zi", "be"]

Row = tuple[Any, ...]
COLUMNS = (
    "id", "customer_id", "instance_id", "conversation_id", "sender", "kind", "content",
    "metadata", "created_at", "position", "lang",
)  # fmt: skip


def dsn_of(name: str) -> str:
    parts = urlsplit(PG_ADMIN_DSN)
    return urlunsplit(parts._replace(path="/" + name))


def uuid7(ms: int, rng: random.Random) -> uuid.UUID:
    """A UUIDv7 carrying Unix milliseconds ``ms``."""
    rand = rng.getrandbits(74)
    value = (ms << 80) | (0x7 << 76) | ((rand >> 62) & 0xFFF) << 64 | (0b10 << 62)
    return uuid.UUID(int=value | (rand & ((1 << 62) - 1)))


def vocabulary(rng: random.Random) -> tuple[list[str], list[float]]:
    """Words and cumulative Zipf-like weights: the everyday words first, made-up ones after."""
    made_up: set[str] = set()
    while len(made_up) < 6000:
        made_up.add("".join(rng.choices(SYLLABLES, k=rng.randint(2, 4))))
    words = COMMON + sorted(made_up - set(COMMON))
    cumulative: list[float] = []
    total = 0.0
    for rank in range(len(words)):
        total += 1.0 / (rank + 8) ** 1.05
        cumulative.append(total)
    return words, cumulative


def dataset(messages: int, conversations: int) -> dict[str, Any]:
    return {
        "version": DATASET_VERSION,
        "messages": messages,
        "conversations": conversations,
        "users": USERS,
        "members": MEMBERS,
        "seed": 7,
    }


async def _admin(sql: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        return await conn.fetch(sql)
    finally:
        await conn.close()


async def existing_dataset() -> dict[str, Any] | None:
    """The parameters of the dataset in ``gb_bench_search``, or None (no database, or a load
    that did not finish)."""
    if not await _admin(f"SELECT FROM pg_database WHERE datname = '{DB_NAME}'"):
        return None
    conn = await asyncpg.connect(dsn_of(DB_NAME))
    try:
        if await conn.fetchval("SELECT to_regclass('bench_dataset')") is None:
            return None
        value = await conn.fetchval("SELECT value FROM bench_dataset WHERE key = 'dataset'")
        return None if value is None else dict(json.loads(value))
    finally:
        await conn.close()


def generate(
    spec: dict[str, Any], customer: uuid.UUID, instance: uuid.UUID, convs: list[uuid.UUID],
    members: dict[uuid.UUID, list[str]], lang: int,
) -> Iterator[list[Row]]:  # fmt: skip
    """The messages in batches of rows for COPY, oldest first."""
    rng = random.Random(spec["seed"])
    words, cumulative = vocabulary(rng)
    total = spec["messages"]
    end_ms = int(time.time() * 1000) - 60_000
    start_ms = end_ms - DAYS * 86_400_000
    step = (end_ms - start_ms) / total
    positions = dict.fromkeys(convs, 0)
    batch: list[Row] = []
    choices, randint, random_ = rng.choices, rng.randint, rng.random
    for n in range(total):
        conv = convs[n % len(convs)]
        positions[conv] += 1
        text = choices(words, cum_weights=cumulative, k=randint(5, 24))
        luck = random_()
        if luck < 0.0003:
            text.insert(randint(0, len(text)), RARE)
        elif luck < 0.0013:
            text.insert(randint(0, len(text)), PHRASE)
        ms = int(start_ms + n * step)
        message_id = uuid7(ms, rng)
        created_at = datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC)
        sender = members[conv][n % MEMBERS]
        batch.append(
            (message_id, customer, instance, conv, sender, "text", " ".join(text), "{}",
             created_at, positions[conv], lang)
        )  # fmt: skip
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


async def build(spec: dict[str, Any]) -> None:
    """Create ``gb_bench_search`` afresh and load the dataset."""
    await _admin(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
    await _admin(f'CREATE DATABASE "{DB_NAME}" TEMPLATE template0')
    dsn = dsn_of(DB_NAME)
    await migrate_database(dsn, control=True, shard=True)
    setup = await Database.open(dsn, pool_size=2)  # registers shard 0
    await setup.close()
    t0 = time.monotonic()
    rng = random.Random(spec["seed"] + 1)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SET maintenance_work_mem = '512MB'")
        # Partitions for the whole span (migrations make last month's onwards).
        await ensure_partitions(conn, months_back=DAYS // 28 + 1)
        customer: uuid.UUID = await conn.fetchval(
            "INSERT INTO customers (name, plan_id, region_id)"
            " VALUES ('bench-search', 'enterprise', 'local') RETURNING id"
        )
        await conn.execute("INSERT INTO shard_map (customer_id, shard_id) VALUES ($1, 0)", customer)
        instance: uuid.UUID = await conn.fetchval(
            "INSERT INTO instances (customer_id, name, text_search)"
            " VALUES ($1, 'main', 'english') RETURNING id",
            customer,
        )
        users = [f"user-{k:03d}" for k in range(USERS)]
        convs = [uuid.UUID(int=rng.getrandbits(128)) for _ in range(spec["conversations"])]
        members = {conv: rng.sample(users, MEMBERS) for conv in convs}
        await conn.copy_records_to_table(
            "conversations",
            records=[(c, customer, instance, "bench", "group", members[c][0]) for c in convs],
            columns=("id", "customer_id", "instance_id", "title", "kind", "created_by"),
        )
        typical = convs[:TYPICAL_MEMBERSHIP]
        rows = [(customer, c, u) for c in convs for u in members[c]]
        rows += [(customer, c, "reader-typical") for c in typical]
        rows += [(customer, c, "reader-all") for c in convs]
        await conn.copy_records_to_table(
            "conversation_members",
            records=rows,
            columns=("customer_id", "conversation_id", "user_ref"),
        )
        english = await conn.fetchval("SELECT 'english'::regconfig::oid")
        await conn.execute("DROP INDEX messages_search")
        batches = generate(spec, customer, instance, convs, members, english)
        await load_messages(dsn, batches, t0)
        print(f"\n  building the GIN index ({time.monotonic() - t0:.0f} s)", flush=True)
        await conn.execute("CREATE INDEX messages_search ON messages USING gin (search)")
        print(f"  vacuum analyze ({time.monotonic() - t0:.0f} s)", flush=True)
        await conn.execute("VACUUM ANALYZE messages, conversations, conversation_members")
        await conn.execute("CREATE TABLE bench_dataset (key text PRIMARY KEY, value text)")
        await conn.execute(
            "INSERT INTO bench_dataset VALUES ('dataset', $1), ('customer', $2),"
            " ('instance', $3), ('typical_conversation', $4)",
            json.dumps(spec, sort_keys=True),
            str(customer),
            str(instance),
            str(typical[0]),
        )
    finally:
        await conn.close()
    print(f"  dataset ready in {time.monotonic() - t0:.0f} s", flush=True)


async def load_messages(dsn: str, batches: Iterator[list[Row]], t0: float) -> None:
    """COPY the batches through ``COPY_WORKERS`` connections at once: the server's share of a
    row (the generated tsvector, the change-tracking trigger) dominates, and this uses both
    cores for it while this process makes the next batch."""
    queue: asyncio.Queue[list[Row] | None] = asyncio.Queue(maxsize=COPY_WORKERS)
    loaded = 0

    async def worker() -> None:
        nonlocal loaded
        conn = await asyncpg.connect(dsn)
        try:
            # COPY is binary and asyncpg has no binary codec for regconfig: send its oid.
            await conn.set_type_codec(
                "regconfig",
                schema="pg_catalog",
                encoder=lambda oid: struct.pack("!I", oid),
                decoder=lambda data: struct.unpack("!I", data)[0],
                format="binary",
            )
            while (batch := await queue.get()) is not None:
                await conn.copy_records_to_table("messages", records=batch, columns=COLUMNS)
                loaded += len(batch)
                print(
                    f"\r  {loaded:,} messages ({time.monotonic() - t0:.0f} s)", end="", flush=True
                )
        finally:
            await conn.close()

    workers = [asyncio.create_task(worker()) for _ in range(COPY_WORKERS)]
    try:
        for batch in batches:
            await queue.put(batch)
            await asyncio.sleep(0)  # let a worker start its COPY before the next batch is made
        for _ in workers:
            await queue.put(None)
        await asyncio.gather(*workers)
    finally:
        for task in workers:
            task.cancel()


async def prepare(spec: dict[str, Any], rebuild: bool) -> float:
    """The dataset in place (reused when its parameters match); seconds spent building."""
    found = await existing_dataset()
    if found == json.loads(json.dumps(spec, sort_keys=True)) and not rebuild:
        await migrate_database(dsn_of(DB_NAME), control=True, shard=True)  # newer migrations
        print(f"reusing {DB_NAME} ({spec['messages']:,} messages)", flush=True)
        return 0.0
    print(f"building {DB_NAME}: {spec['messages']:,} messages", flush=True)
    t0 = time.monotonic()
    await build(spec)
    return time.monotonic() - t0


async def measure(args: argparse.Namespace) -> list[dict[str, Any]]:
    spec = dataset(args.messages, args.conversations)
    build_s = await prepare(spec, args.rebuild)
    dsn = dsn_of(DB_NAME)
    conn = await asyncpg.connect(dsn)
    try:
        facts = {r["key"]: r["value"] for r in await conn.fetch("SELECT * FROM bench_dataset")}
        table_mb = await conn.fetchval(
            "SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits"
            " WHERE inhparent = 'messages'::regclass"
        )
        sizes = await conn.fetch(
            "SELECT sum(pg_relation_size(i.indexrelid)) AS bytes FROM pg_index i"
            " JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname LIKE 'messages_p%search_idx'"
        )
        gin_mb = (sizes[0]["bytes"] or 0) / 2**20
    finally:
        await conn.close()
    customer, instance = uuid.UUID(facts["customer"]), uuid.UUID(facts["instance"])
    one_conversation = uuid.UUID(facts["typical_conversation"])
    db = await Database.open(dsn, pool_size=4)
    search = Search(db)
    rows: list[dict[str, Any]] = []
    try:
        for user, label in (("reader-typical", "member of 50"), ("reader-all", "member of all")):
            identity = Identity(
                str(customer), str(instance), user, frozenset({"user"}), time.time() + 86_400,
                customer_id=customer, instance_id=instance,
            )  # fmt: skip
            first = await search.search(identity, "meeting")
            queries: list[tuple[str, str, dict[str, Any]]] = [
                ("common word", "meeting", {}),
                ("rare word", RARE, {}),
                ("phrase", f'"{PHRASE}"', {}),
                ("common, 1 conversation", "meeting", {"conversation_id": one_conversation}),
                ("common, page 2", "meeting", {"cursor": first.next_cursor}),
            ]
            for what, query, extra in queries:
                matches = await count_matches(dsn, customer, user, query, extra)
                for _ in range(3):
                    page = await search.search(identity, query, **extra)
                times = []
                load_before = os.getloadavg()[0]
                for _ in range(args.runs):
                    t = time.perf_counter()
                    page = await search.search(identity, query, **extra)
                    times.append((time.perf_counter() - t) * 1000)
                rows.append(
                    {
                        "messages": spec["messages"],
                        "conversations": spec["conversations"],
                        "caller": label,
                        "query": what,
                        "text": query,
                        "matches": matches,
                        "hits": len(page.hits),
                        "runs": args.runs,
                        "p50_ms": round(common.percentile(times, 0.5), 2),
                        "p99_ms": round(common.percentile(times, 0.99), 2),
                        "mean_ms": round(statistics.fmean(times), 2),
                        # The machine is shared: its load while this query was measured.
                        "load_1m": round((load_before + os.getloadavg()[0]) / 2, 2),
                        "table_mb": round(table_mb / 2**20),
                        "gin_mb": round(gin_mb),
                        "build_s": round(build_s),
                    }
                )
                if args.plans:
                    plan_args = {k: v for k, v in extra.items() if k != "cursor"}
                    plan = await search.explain(identity, query, analyze=True, **plan_args)
                    lines = [line if len(line) < 160 else line[:157] + "..." for line in plan]
                    print(f"\n-- {label}, {what}\n" + "\n".join(lines), flush=True)
    finally:
        await db.close()
    return rows


async def count_matches(
    dsn: str, customer: uuid.UUID, user: str, query: str, extra: dict[str, Any]
) -> int:
    """Messages matching ``query`` in the caller's conversations (the set a search ranks)."""
    conn = await asyncpg.connect(dsn)
    try:
        count: int = await conn.fetchval(
            "SELECT count(*) FROM messages m"
            " JOIN conversation_members cm ON cm.conversation_id = m.conversation_id"
            " WHERE cm.user_ref = $2 AND m.customer_id = $1"
            " AND m.search @@ websearch_to_tsquery('english', $3)"
            " AND ($4::uuid IS NULL OR m.conversation_id = $4)",
            customer,
            user,
            query,
            extra.get("conversation_id"),
        )
    finally:
        await conn.close()
    return count


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    """Build or reuse the dataset, measure, print a table, append rows to results/search.csv."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="10 runs per query")
    parser.add_argument("--messages", type=int, default=1_000_000, help="N (1,000,000)")
    parser.add_argument("--conversations", type=int, default=2000, help="C (2,000)")
    parser.add_argument("--runs", type=int, default=None, help="R per query (50; quick 10)")
    parser.add_argument("--rebuild", action="store_true", help="make the dataset afresh")
    parser.add_argument("--drop", action="store_true", help=f"drop {DB_NAME} at the end")
    parser.add_argument("--plans", action="store_true", help="print EXPLAIN ANALYZE per query")
    parser.add_argument("--servers", default=None, help=argparse.SUPPRESS)  # run_all passes it
    args = parser.parse_args(argv)
    if args.runs is None:
        args.runs = 10 if args.quick else 50
    if args.conversations < TYPICAL_MEMBERSHIP:
        parser.error(f"--conversations must be at least {TYPICAL_MEMBERSHIP}")
    header = common.run_header()
    try:
        measured = uvloop.run(measure(args))
    finally:
        if args.drop:
            asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)'))
    rows = [{**header, "mode": "quick" if args.quick else "full", **r} for r in measured]
    common.print_table(
        f"message search: {args.messages:,} messages of one tenant, page of 20, "
        f"{args.runs} runs per query",
        ("caller", "query", "matches", "hits", "p50 ms", "p99 ms", "mean ms", "load"),
        [
            (r["caller"], r["query"], r["matches"], r["hits"], r["p50_ms"], r["p99_ms"],
             r["mean_ms"], r["load_1m"])
            for r in rows
        ],
    )  # fmt: skip
    path = common.append_csv("search", rows)
    print(f"\ntable {rows[0]['table_mb']} MiB, GIN {rows[0]['gin_mb']} MiB; rows: {path}")
    return rows


if __name__ == "__main__":
    main()
