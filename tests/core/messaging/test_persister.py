"""The persister on the embedded log and a real PostgreSQL (the tests' migrated databases)."""

from __future__ import annotations

import asyncio
import datetime
import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import orjson
import pytest

from gb.core.log import EmbeddedLog, Record
from gb.core.messaging.ids import id_at
from gb.core.messaging.persister import Persister
from gb.core.storage import detach_partitions_before, ensure_partitions
from gb.core.storage.database import Database

from ...support.pg import control_db, two_shards
from ...support.tenants import make_tenant
from .test_persister_support import (
    TOPIC,
    append,
    count,
    message,
    metric,
    persister,
    rows,
    running,
    wait_until,
)

__all__ = ["control_db", "two_shards"]


@dataclass
class Env:
    dsn: str
    db: Database
    log: EmbeddedLog
    customer: uuid.UUID
    instance: uuid.UUID


@pytest.fixture
async def env(control_db: str, tmp_path: Path) -> AsyncIterator[Env]:
    db = await Database.open(control_db, pool_size=4)
    log = EmbeddedLog(tmp_path / "log", partitions_default=4)
    await log.start()
    await log.ensure_topic(TOPIC, 4)
    customer, instance = await make_tenant(db)
    yield Env(control_db, db, log, customer, instance)
    await log.close()
    await db.close()


async def test_messages_land_with_every_column(env: Env) -> None:
    conv = uuid.uuid4()
    first = message(env.customer, env.instance, conversation_id=conv, kind="rich",
                    content="the quick brown foxes", metadata={"a": [1, "x"]}, client_key="k-1",
                    shard_key=3, lang="english")  # fmt: skip
    second = message(env.customer, env.instance, conversation_id=conv, lang="no_such_config")
    p = persister(env.db, env.log, linger=0.5)
    async with running(p):
        [(part, off1)] = await append(env.log, first)
        await asyncio.sleep(0.05)  # within the linger: one batch takes both
        [(_, off2)] = await append(env.log, second)
        await wait_until(lambda: metric(p, "gb_persister_records_total") == 2)
    assert metric(p, "gb_persister_batches_total") == 1
    got = {r["id"]: r for r in await rows(env.dsn, "SELECT *, lang::text AS l FROM messages")}
    row = got[first.id]
    assert (row["customer_id"], row["instance_id"], row["conversation_id"]) == (
        env.customer, env.instance, conv)  # fmt: skip
    assert (row["sender"], row["kind"], row["content"]) == ("alice", "rich", first.content)
    assert orjson.loads(row["metadata"]) == {"a": [1, "x"]}
    assert (row["client_key"], row["shard_key"], row["l"]) == ("k-1", 3, "english")
    assert (row["position"], row["log_partition"]) == (off1, part)
    assert row["created_at"] == first.created_at
    assert "fox" in row["search"]  # stemmed by the instance's configuration
    assert got[second.id]["l"] == "simple"  # an unknown configuration falls back
    assert got[second.id]["position"] == off2 and got[second.id]["client_key"] is None
    keys = await rows(env.dsn, "SELECT * FROM message_keys")
    assert [(k["sender"], k["client_key"], k["message_id"], k["position"]) for k in keys] == [
        ("alice", "k-1", first.id, off1)
    ]
    assert keys[0]["created_at"] == first.created_at
    marks = await rows(env.dsn, "SELECT partition, next_offset FROM log_watermarks")
    assert {(m["partition"], m["next_offset"]) for m in marks} == {(part, off2 + 1)}
    assert metric(p, "gb_persister_records_total") == 2
    assert metric(p, "gb_persister_duplicates_total") == 0
    assert metric(p, "gb_persister_batch_seconds_count") == 1


async def test_a_crash_between_the_database_and_the_log_commit_writes_nothing_twice(
    env: Env,
) -> None:
    sent = [message(env.customer, env.instance, client_key=f"k{i}") for i in range(300)]
    await append(env.log, *sent)
    crashing = persister(env.db, env.log, batch_max=1000, linger=0.2)
    await crashing.start()
    assert crashing._consumer is not None

    class KilledError(Exception):
        pass

    async def killed(records: list[Record]) -> None:
        raise KilledError("killed after the database commit")

    crashing._consumer.commit = killed  # type: ignore[method-assign]  # the "kill"
    with pytest.raises(KilledError):
        await crashing.run()
    await crashing.close()
    assert await count(env.dsn) == 300

    again = persister(env.db, env.log)
    async with running(again):  # the group never committed: everything is read again
        await wait_until(lambda: metric(again, "gb_persister_records_total") == 300)
    assert metric(again, "gb_persister_duplicates_total") == 300
    assert await count(env.dsn) == 300
    assert await count(env.dsn, "message_keys") == 300
    ids = [r["id"] for r in await rows(env.dsn)]
    assert sorted(ids) == sorted(m.id for m in sent)

    third = persister(env.db, env.log)  # committed now: nothing more to read
    async with running(third):
        await asyncio.sleep(0.3)
    assert metric(third, "gb_persister_records_total") == 0


async def test_redelivery_in_any_order_keeps_one_row_and_the_first_position(env: Env) -> None:
    conv = uuid.uuid4()
    sent = [message(env.customer, env.instance, conversation_id=conv, client_key=f"c{i}")
            for i in range(50)]  # fmt: skip
    first = await append(env.log, *sent)
    shuffled = sent[:]
    random.Random(7).shuffle(shuffled)
    await append(env.log, *shuffled)  # a producer that retried everything, in another order
    p = persister(env.db, env.log, batch_max=20)  # duplicates within and across batches
    async with running(p):
        await wait_until(lambda: metric(p, "gb_persister_records_total") == 100)
    assert metric(p, "gb_persister_duplicates_total") == 50
    got = {r["id"]: r["position"] for r in await rows(env.dsn)}
    assert got == {m.id: offset for m, (_, offset) in zip(sent, first, strict=True)}
    keys = await rows(env.dsn, "SELECT * FROM message_keys")
    assert {r["message_id"]: r["position"] for r in keys} == got


def owned(p: Persister) -> frozenset[int]:
    return p._consumer.assignment if p._consumer is not None else frozenset()


async def test_two_persisters_share_the_partitions(env: Env) -> None:
    sent = [message(env.customer, env.instance) for _ in range(400)]
    a = persister(env.db, env.log, batch_max=50)
    b = persister(env.db, env.log, batch_max=50)
    async with running(a), running(b):
        await wait_until(lambda: len(owned(a)) == len(owned(b)) == 2)
        await append(env.log, *sent)
        await wait_until(
            lambda: (
                metric(a, "gb_persister_records_total") + metric(b, "gb_persister_records_total")
                == 400
            )
        )
    assert metric(a, "gb_persister_records_total") > 0
    assert metric(b, "gb_persister_records_total") > 0
    assert metric(a, "gb_persister_duplicates_total") == 0
    assert metric(b, "gb_persister_duplicates_total") == 0
    assert await count(env.dsn) == 400


async def test_poison_records_are_counted_logged_and_skipped(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    good = message(env.customer, env.instance)
    stranger = message(uuid.uuid4(), env.instance)  # a customer with no shard
    await env.log.append(TOPIC, good.key, b"\xff not json")
    await append(env.log, good, stranger)
    await env.log.append(TOPIC, good.key, orjson.dumps({"v": 9}))
    p = persister(env.db, env.log)
    async with running(p):
        await wait_until(lambda: metric(p, "gb_persister_batches_total") >= 1)
    assert [r["id"] for r in await rows(env.dsn)] == [good.id]
    assert metric(p, "gb_persister_poison_records_total", reason="decode") == 2
    assert metric(p, "gb_persister_poison_records_total", reason="unknown_customer") == 1
    assert "not JSON" in caplog.text
    assert f"customer {stranger.customer_id} has no shard" in caplog.text
    again = persister(env.db, env.log)  # the offsets went past them
    async with running(again):
        await asyncio.sleep(0.3)
    assert metric(again, "gb_persister_poison_records_total", reason="decode") == 0


async def test_a_row_postgresql_refuses_is_isolated_and_skipped(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    conn = await asyncpg.connect(env.dsn)
    await conn.execute("ALTER TABLE messages ADD CONSTRAINT no_evil CHECK (content <> 'evil')")
    await conn.close()
    sent = [message(env.customer, env.instance, content="evil" if i in (3, 11) else f"m{i}",
                    client_key=f"k{i}") for i in range(16)]  # fmt: skip
    offsets = await append(env.log, *sent)
    p = persister(env.db, env.log, batch_max=100)
    async with running(p):
        await wait_until(lambda: metric(p, "gb_persister_batches_total") >= 1)
    assert metric(p, "gb_persister_poison_records_total", reason="rejected") == 2
    assert "23514" in caplog.text
    assert sorted(r["id"] for r in await rows(env.dsn)) == sorted(
        m.id for i, m in enumerate(sent) if i not in (3, 11)
    )
    assert await count(env.dsn, "message_keys") == 14
    assert metric(p, "gb_persister_records_total") == 14
    ends: dict[int, int] = {}
    for part, off in offsets:
        ends[part] = max(ends.get(part, 0), off + 1)
    marks = await rows(env.dsn, "SELECT partition, next_offset FROM log_watermarks")
    assert {m["partition"]: m["next_offset"] for m in marks} == ends


async def test_a_transient_database_error_is_retried(env: Env) -> None:
    conn = await asyncpg.connect(env.dsn)
    await conn.execute("""
        CREATE SEQUENCE hiccup_once;
        GRANT USAGE ON SEQUENCE hiccup_once TO gb_platform;
        CREATE FUNCTION hiccup() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF nextval('hiccup_once') = 1 THEN
                RAISE EXCEPTION 'serialization trouble, once' USING ERRCODE = '40001';
            END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER hiccup BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION hiccup();
    """)
    await conn.close()
    await append(env.log, *(message(env.customer, env.instance) for _ in range(3)))
    p = persister(env.db, env.log, linger=0.2)
    async with running(p):
        await wait_until(lambda: metric(p, "gb_persister_records_total") == 3)
    assert metric(p, "gb_persister_errors_total", kind="database") == 1
    assert metric(p, "gb_persister_poison_records_total", reason="rejected") == 0
    assert await count(env.dsn) == 3


async def test_a_failure_while_isolating_is_retried_without_counting_twice(env: Env) -> None:
    conn = await asyncpg.connect(env.dsn)
    await conn.execute("""
        ALTER TABLE messages ADD CONSTRAINT no_evil CHECK (content <> 'evil');
        CREATE SEQUENCE flaky_once;
        GRANT USAGE ON SEQUENCE flaky_once TO gb_platform;
        CREATE FUNCTION flaky() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.content = 'flaky' AND nextval('flaky_once') = 1 THEN
                RAISE EXCEPTION 'lost the connection, once' USING ERRCODE = '57P01';
            END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER flaky BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION flaky();
    """)
    await conn.close()
    contents = ["evil"] + [f"m{i}" for i in range(6)] + ["flaky"]
    conv = uuid.uuid4()
    sent = [message(env.customer, env.instance, content=c, conversation_id=conv)
            for c in contents]  # fmt: skip
    await append(env.log, *sent)  # one partition, in this order: 'evil' fails the batch first
    p = persister(env.db, env.log, batch_max=100, linger=0.2)
    async with running(p):
        await wait_until(lambda: metric(p, "gb_persister_batches_total") >= 1)
    assert metric(p, "gb_persister_errors_total", kind="database") == 1
    assert metric(p, "gb_persister_poison_records_total", reason="rejected") == 1
    assert metric(p, "gb_persister_records_total") == 7
    assert await count(env.dsn) == 7


async def test_partitions_are_made_for_new_months_and_archived_months_skipped(env: Env) -> None:
    later = datetime.datetime.now(datetime.UTC).replace(day=15) + datetime.timedelta(days=400)
    future = message(env.customer, env.instance, id=id_at(later))
    old = datetime.datetime(2001, 2, 3, tzinfo=datetime.UTC)
    archived = message(env.customer, env.instance, id=id_at(old))
    conn = await asyncpg.connect(env.dsn)
    await ensure_partitions(conn, today=old.date(), months_back=0, months_ahead=0)
    assert await detach_partitions_before(conn, "messages", datetime.date(2001, 3, 1)) == [
        "messages_p200102"
    ]
    await conn.execute(  # a partition outside the naming scheme is not a month of ours
        "CREATE TABLE messages_hand_made PARTITION OF messages "
        "FOR VALUES FROM ('1990-01-01') TO ('1990-02-01')"
    )
    await conn.close()
    await append(env.log, future, archived)
    p = persister(env.db, env.log)
    async with running(p):
        await wait_until(lambda: metric(p, "gb_persister_batches_total") >= 1)
    assert [r["id"] for r in await rows(env.dsn)] == [future.id]
    name = f"messages_p{later.year:04d}{later.month:02d}"
    where = await rows(env.dsn, "SELECT tableoid::regclass::text AS t FROM messages")
    assert where[0]["t"] == name
    assert metric(p, "gb_persister_poison_records_total", reason="archived_month") == 1


async def test_quiet_shards_get_their_watermarks(two_shards: tuple[str, str, str],
                                                 tmp_path: Path) -> None:  # fmt: skip
    control, dsn1, dsn2 = two_shards
    db = await Database.open(control, pool_size=4)
    log = EmbeddedLog(tmp_path / "log")
    await log.start()
    try:
        await db.add_shard("one", dsn1)
        await db.add_shard("two", dsn2)
        customer, instance = await make_tenant(db, shard=1)
        sent = [message(customer, instance) for _ in range(40)]
        p = persister(db, log, partitions=4)
        async with running(p):
            offsets = await append(log, *sent)
            ends: dict[int, int] = {}
            for part, off in offsets:
                ends[part] = max(ends.get(part, 0), off + 1)

            async def all_marked() -> bool:
                for dsn in (control, dsn1, dsn2):
                    got = await rows(dsn, "SELECT partition, next_offset FROM log_watermarks")
                    if {m["partition"]: m["next_offset"] for m in got} != ends:
                        return False
                return True

            await wait_until(all_marked)
        assert await count(dsn1) == 40
        assert await count(control) == 0 and await count(dsn2) == 0
    finally:
        await log.close()
        await db.close()


def lag_partitions(p: Persister) -> set[str]:
    return {
        sample.labels["partition"]
        for family in p.metrics.registry.collect()
        if family.name == "gb_persister_lag_records"
        for sample in family.samples
    }


async def test_lag_in_records_and_seconds(env: Env) -> None:
    p = persister(env.db, env.log, batch_max=10)
    await p.start()
    sent = [message(env.customer, env.instance) for _ in range(60)]
    offsets = await append(env.log, *sent)
    await p._update_lag()
    per_partition: dict[int, int] = {}
    for part, _ in offsets:
        per_partition[part] = per_partition.get(part, 0) + 1
    for part, n in per_partition.items():
        assert metric(p, "gb_persister_lag_records", partition=str(part)) == n
    assert metric(p, "gb_persister_lag_seconds") == 0  # nothing in hand yet
    task = asyncio.create_task(p.run())
    await wait_until(lambda: metric(p, "gb_persister_records_total") == 60)
    await wait_until(lambda: all(metric(p, "gb_persister_lag_records", partition=str(part)) == 0
                                 for part in per_partition))  # fmt: skip
    assert metric(p, "gb_persister_lag_seconds") == 0
    assert metric(p, "gb_persister_batches_total") >= 6
    # a member that joins takes half the partitions: the other's gauges for them go away
    other = persister(env.db, env.log)
    await other.start()
    await wait_until(lambda: len(lag_partitions(p)) == 2)
    await other.close()
    await p.close()
    await task


async def test_misuse(env: Env) -> None:
    with pytest.raises(ValueError, match="batch_max must be >= 1"):
        Persister(env.db, env.log, topic=TOPIC, batch_max=0)
    p = persister(env.db, env.log)
    with pytest.raises(RuntimeError, match="before start"):
        await p.run()
    await p.close()  # never started: nothing to do
    await p.close()


async def test_log_failures_are_counted_and_survived(env: Env, tmp_path: Path) -> None:
    sent = [message(env.customer, env.instance) for _ in range(5)]
    await append(env.log, *sent)
    groups = tmp_path / "log" / TOPIC / "groups"
    groups.rmdir()
    groups.write_bytes(b"not a directory")  # commits fail: the records will be read again
    p = persister(env.db, env.log)
    async with running(p):
        await wait_until(lambda: metric(p, "gb_persister_records_total") == 5)
        await wait_until(lambda: metric(p, "gb_persister_errors_total", kind="log") >= 1)
    # a damaged record: fetching fails, is counted, and the persister keeps trying
    damaged = message(env.customer, env.instance)
    [(part, _)] = await append(env.log, damaged)
    segment = next((tmp_path / "log" / TOPIC / str(part)).glob("*.log"))
    data = bytearray(segment.read_bytes())
    data[-3] ^= 0xFF
    segment.write_bytes(bytes(data))
    again = persister(env.db, env.log)
    async with running(again):
        await wait_until(lambda: metric(again, "gb_persister_errors_total", kind="log") >= 2)
    assert await count(env.dsn) == 5
