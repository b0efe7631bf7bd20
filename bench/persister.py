"""The persister's write rate against raw ``COPY`` of the same rows into the same table.

Against a real PostgreSQL database of its own (``gbt_bench_<pid>_<hex>``, migrated, dropped at
the end; see ``tenancy.py``) and an ``EmbeddedLog`` in a temporary directory (16 partitions):

1. N message records (default 100,000; quick 20,000) of T tenants (10) in C conversations
   (1,000) are appended to the log first (not timed). Content is ~120 bytes of words (so the
   ``search`` tsvector and its GIN index do real work), ``metadata`` ``{}``, ``lang``
   ``english``. With ``--client-keys`` every message also carries a client key (one more row
   per message, in ``message_keys``).
2. **raw COPY**: the same rows, built beforehand, are written with ``copy_records_to_table``
   straight into ``messages`` (and, with client keys, their keys into ``message_keys``) as
   ``gb_platform``, in batches of B rows (5,000), one transaction per batch: the fastest the
   database takes these rows.
3. **persister**: ``Persister`` (batch_max B, a fresh consumer group) reads the log from the
   start and writes every row (decode, shard routing, COPY into its staging table,
   ``INSERT ... SELECT ... ON CONFLICT DO NOTHING``, keys, watermarks, offset commits); timed
   from ``run()`` until every record is counted as persisted.

``messages`` is emptied (``TRUNCATE``) and a ``CHECKPOINT`` taken before each timed phase;
R rounds (default 1) alternate the two, and each figure is the best round (about a minute in
all on 2 cores, where this table takes some 5,000-10,000 rows/s: every row feeds the GIN index
of the ``english`` tsvector and the change-tracking trigger). Target: the persister's rows/s
>= 0.7 x raw COPY's.

Run: ``.venv/bin/python bench/persister.py [--quick] [--rows N] [--batch B] [--rounds R]
[--client-keys]``. Appends rows to ``results/persister.csv``.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import struct
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
import tenancy

from gb.core.log import EmbeddedLog, Record
from gb.core.messaging.ids import new_message_id
from gb.core.messaging.persister import _COLUMNS, Persister, _row
from gb.core.messaging.record import MessageRecord, encode
from gb.core.storage.database import Database

TOPIC = "gb.messages"
_KEYS = ("customer_id", "conversation_id", "sender", "client_key", "message_id", "position",
         "created_at")  # fmt: skip
PARTITIONS = 16
TARGET = 0.7
WORDS = [
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet",
    "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango",
    "uniform", "victor", "whiskey", "xray", "yankee", "zulu", "meeting", "tomorrow", "deploy",
    "review", "ticket", "customer", "invoice", "shipping", "order", "refund", "thanks", "please",
]  # fmt: skip


def messages(n: int, tenants: list[tuple[uuid.UUID, uuid.UUID]], client_keys: bool,
             conversations: int) -> list[MessageRecord]:  # fmt: skip
    rng = random.Random(4)
    convs = [(uuid.uuid4(), tenants[i % len(tenants)]) for i in range(conversations)]
    out = []
    for i in range(n):
        conv, (customer, instance) = convs[rng.randrange(conversations)]
        out.append(
            MessageRecord(
                id=new_message_id(),
                customer_id=customer,
                instance_id=instance,
                conversation_id=conv,
                sender=f"user-{rng.randrange(50)}",
                kind="text",
                content=" ".join(rng.choices(WORDS, k=18)),
                client_key=f"ck-{i}" if client_keys else None,
                lang="english",
            )
        )
    return out


async def fill_log(log: EmbeddedLog, records: list[MessageRecord]) -> list[Record]:
    """Append every record (512 at a time, concurrently); their log coordinates."""
    placed: list[Record] = []
    for start in range(0, len(records), 512):
        chunk = records[start : start + 512]
        values = [encode(m) for m in chunk]
        spots = await asyncio.gather(
            *(log.append(TOPIC, m.key, v) for m, v in zip(chunk, values, strict=True))
        )
        placed.extend(
            Record(p, o, m.key, v, 0) for (p, o), m, v in zip(spots, chunk, values, strict=True)
        )
    return placed


async def reset(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("TRUNCATE messages, message_keys, log_watermarks")
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()


async def raw_copy(db: Database, rows: list[tuple[Any, ...]], batch: int) -> float:
    """Binary COPY into ``messages``; ``lang`` (regconfig, which asyncpg cannot encode) is
    sent as its OID, looked up once per connection outside the timed part."""
    oids: dict[str, int] = {}
    elapsed = 0.0
    for start in range(0, len(rows), batch):
        async with db.platform(0) as conn:
            if not oids:
                for r in await conn.fetch("SELECT cfgname, oid::int4 AS oid FROM pg_ts_config"):
                    oids[r["cfgname"]] = r["oid"]
            await conn.set_type_codec(
                "regconfig", schema="pg_catalog", format="binary",
                encoder=lambda name: struct.pack("!I", oids[name]),
                decoder=lambda data: data,
            )  # fmt: skip
            started = time.perf_counter()
            part = rows[start : start + batch]
            await conn.copy_records_to_table("messages", records=part, columns=_COLUMNS)
            keys = [(r[1], r[3], r[4], r[8], r[0], r[11], r[13]) for r in part if r[8] is not None]
            if keys:
                await conn.copy_records_to_table("message_keys", records=keys, columns=_KEYS)
        elapsed += time.perf_counter() - started
    return elapsed


async def persist(db: Database, log: EmbeddedLog, n: int, batch: int, group: str) -> float:
    p = Persister(db, log, topic=TOPIC, group=group, batch_max=batch, poll=0.2)
    await p.start()
    started = time.perf_counter()
    task = asyncio.create_task(p.run())
    total = p.metrics.records
    while total._value.get() < n:  # the counter's own value: no registry walk per poll
        await asyncio.sleep(0.005)
        if task.done():
            task.result()
    elapsed = time.perf_counter() - started
    await p.close()
    await task
    return elapsed


async def bench(args: argparse.Namespace) -> list[dict[str, Any]]:
    header = common.run_header()
    async with tenancy.bench_database() as name:
        dsn = tenancy.dsn_of(name)
        db = await Database.open(dsn, pool_size=4)
        tenants = [(c, i[0]) for c, i in await tenancy.create_tenants(dsn, 10)]
        with tempfile.TemporaryDirectory(prefix="gb-bench-persister-") as tmp:
            log = EmbeddedLog(Path(tmp), partitions_default=PARTITIONS)
            await log.start()
            await log.ensure_topic(TOPIC, PARTITIONS)
            try:
                sent = messages(args.rows, tenants, args.client_keys, args.conversations)
                placed = await fill_log(log, sent)
                rows = [_row(m, r) for m, r in zip(sent, placed, strict=True)]
                raw_s: list[float] = []
                persister_s: list[float] = []
                for round_ in range(args.rounds):
                    await reset(dsn)
                    raw_s.append(await raw_copy(db, rows, args.batch))
                    await reset(dsn)
                    persister_s.append(
                        await persist(db, log, args.rows, args.batch, f"bench-{round_}")
                    )
                conn = await asyncpg.connect(dsn)
                persisted = await conn.fetchval("SELECT count(*) FROM messages")
                await conn.close()
                assert persisted == args.rows, (persisted, args.rows)
            finally:
                await log.close()
                await db.close()
    raw_rate = args.rows / min(raw_s)
    persister_rate = args.rows / min(persister_s)
    base = {**header, "rows": args.rows, "batch": args.batch,
            "client_keys": args.client_keys, "rounds": args.rounds}  # fmt: skip
    return [
        {**base, "what": "raw COPY", "seconds": round(min(raw_s), 2),
         "rows_per_s": round(raw_rate), "ratio_to_copy": 1.0},
        {**base, "what": "persister", "seconds": round(min(persister_s), 2),
         "rows_per_s": round(persister_rate),
         "ratio_to_copy": round(persister_rate / raw_rate, 2)},
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="20,000 rows")
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--conversations", type=int, default=1000)
    parser.add_argument("--client-keys", action="store_true")
    args = parser.parse_args()
    if args.rows is None:
        args.rows = 20_000 if args.quick else 100_000
    rows = uvloop.run(bench(args))
    common.print_table(
        f"persister vs raw COPY: {args.rows:,} rows, batches of {args.batch:,}"
        + (", with client keys" if args.client_keys else ""),
        ("what", "seconds", "rows/s", "x COPY"),
        [(r["what"], r["seconds"], r["rows_per_s"], r["ratio_to_copy"]) for r in rows],
    )
    path = common.append_csv("persister", rows)
    print(f"\ntarget >= {TARGET} x raw COPY; rows: {path}")


if __name__ == "__main__":
    main()
