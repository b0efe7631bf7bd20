"""Usage metering on the real PostgreSQL: batched COPY per shard, nothing lost on failure,
the flush loop, and the day/month roll-ups."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from collections.abc import AsyncIterator
from uuid import UUID

import asyncpg
import pytest

from gb.core.storage.database import Database
from gb.core.tenancy.metering import (
    NIL_UUID,
    UsageKind,
    UsageRecorder,
    month_bounds,
    rollup,
    usage_snapshot,
)

from ...support.pg import control_db, two_shards

__all__ = ["control_db", "two_shards"]


@pytest.fixture
async def db(control_db: str) -> AsyncIterator[Database]:
    database = await Database.open(control_db, pool_size=3)
    yield database
    await database.close()


@pytest.fixture
async def sharded(two_shards: tuple[str, str, str]) -> AsyncIterator[tuple[Database, str, str]]:
    """A Database with shards 1 and 2 registered; returns it with the shards' DSNs."""
    control, dsn1, dsn2 = two_shards
    database = await Database.open(control, pool_size=3)
    await database.add_shard("one", dsn1)
    await database.add_shard("two", dsn2)
    yield database, dsn1, dsn2
    await database.close()


async def new_customer(db: Database, shard: int = 0, plan: str = "free") -> UUID:
    async with db.platform() as conn:
        customer: UUID = await conn.fetchval(
            "INSERT INTO customers (name, plan_id, region_id) VALUES ($1, $2, 'local') "
            "RETURNING id",
            f"c-{uuid.uuid4().hex[:12]}",
            plan,
        )
    await db.assign(customer, shard)
    return customer


async def events(
    dsn: str, customer: UUID | None = None
) -> dict[tuple[UUID, UUID | None, str], int]:
    """usage_events summed per key, read as superuser."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT customer_id, instance_id, kind, sum(quantity)::bigint AS q, count(*) AS n "
            "FROM usage_events WHERE $1::uuid IS NULL OR customer_id = $1 GROUP BY 1, 2, 3",
            customer,
        )
    finally:
        await conn.close()
    return {(r["customer_id"], r["instance_id"], r["kind"]): r["q"] for r in rows}


async def execute(dsn: str, sql: str, *args: object) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql, *args)
    finally:
        await conn.close()


# -- recording and flushing ------------------------------------------------------------------


async def test_flush_writes_one_row_per_key(db: Database, control_db: str) -> None:
    recorder = UsageRecorder(db)
    customer = await new_customer(db)
    instance = uuid.uuid4()
    for _ in range(1000):
        recorder.record(customer, instance, "message")
    recorder.record(customer, instance, UsageKind.BOT_RUN, 3)
    recorder.record(customer, None, "storage_byte_day", 4096)
    assert recorder.pending == 3
    assert await recorder.flush() == 3
    assert recorder.pending == 0
    assert await recorder.flush() == 0
    assert await events(control_db) == {
        (customer, instance, "message"): 1000,
        (customer, instance, "bot_run"): 3,
        (customer, None, "storage_byte_day"): 4096,
    }
    recorder.record(customer, instance, "message", 5)
    await recorder.close()
    assert (await events(control_db))[(customer, instance, "message")] == 1005


async def test_ids_may_be_text(
    db: Database, control_db: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The node's token identity holds ids as text; they are parsed at flush."""
    recorder = UsageRecorder(db)
    customer, instance = await new_customer(db), uuid.uuid4()
    recorder.record(str(customer), str(instance), "message", 2)
    recorder.record(str(customer), None, "bot_run")
    recorder.record("not-a-uuid", None, "message")
    recorder.record(str(customer), "bad-instance", "message")
    with caplog.at_level(logging.ERROR, logger="gb.core.tenancy.metering"):
        assert await recorder.flush() == 2
    assert "('not-a-uuid', None, 'message')" in caplog.text
    assert "bad-instance" in caplog.text
    assert recorder.pending == 0
    assert await events(control_db) == {
        (customer, instance, "message"): 2,
        (customer, None, "bot_run"): 1,
    }
    assert usage_snapshot(recorder) == {
        (str(customer), str(instance), "message"): 2,
        (str(customer), None, "bot_run"): 1,
    }


async def test_an_unknown_kind_is_refused_at_once(db: Database) -> None:
    recorder = UsageRecorder(db)
    with pytest.raises(ValueError, match="unknown usage kind 'msgs'"):
        recorder.record(uuid.uuid4(), None, "msgs")
    assert recorder.pending == 0


async def test_rows_go_to_each_customers_shard(
    sharded: tuple[Database, str, str], two_shards: tuple[str, str, str]
) -> None:
    db, dsn1, dsn2 = sharded
    control = two_shards[0]
    on0, on1, on2 = [await new_customer(db, shard) for shard in (0, 1, 2)]
    recorder = UsageRecorder(db)
    for customer in (on0, on1, on2):
        recorder.record(customer, None, "message", 2)
        recorder.record(customer, None, "bot_run")
    assert await recorder.flush() == 6
    assert set(await events(control)) == {(on0, None, "message"), (on0, None, "bot_run")}
    assert await events(dsn1) == {(on1, None, "message"): 2, (on1, None, "bot_run"): 1}
    assert set(await events(dsn2)) == {(on2, None, "message"), (on2, None, "bot_run")}


async def test_a_failing_shard_keeps_its_rows_and_spares_the_others(
    sharded: tuple[Database, str, str], caplog: pytest.LogCaptureFixture
) -> None:
    db, dsn1, dsn2 = sharded
    broken, fine = await new_customer(db, 1), await new_customer(db, 2)
    recorder = UsageRecorder(db)
    recorder.record(broken, None, "message", 10)
    recorder.record(fine, None, "message", 20)
    await execute(dsn1, "ALTER TABLE usage_events RENAME TO usage_events_away")
    with caplog.at_level(logging.ERROR, logger="gb.core.tenancy.metering"):
        assert await recorder.flush() == 1
    assert "1 rows kept for the next flush (shard 1)" in caplog.text
    assert await events(dsn2) == {(fine, None, "message"): 20}
    recorder.record(broken, None, "message", 5)  # merged with the kept row
    assert recorder.pending == 1
    await execute(dsn1, "ALTER TABLE usage_events_away RENAME TO usage_events")
    assert await recorder.flush() == 1
    assert await events(dsn1) == {(broken, None, "message"): 15}
    assert await events(dsn2) == {(fine, None, "message"): 20}


async def test_unknown_customers_and_empty_or_negative_rows_are_dropped(
    db: Database, control_db: str, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = UsageRecorder(db)
    customer, stranger = await new_customer(db), uuid.uuid4()
    recorder.record(stranger, None, "message")
    recorder.record(customer, None, "message", 1)
    recorder.record(customer, None, "message", -1)  # nets to zero: nothing to write
    recorder.record(customer, None, "bot_run", -2)
    with caplog.at_level(logging.WARNING, logger="gb.core.tenancy.metering"):
        assert await recorder.flush() == 0
    assert f"dropped 1 rows of unknown customer {stranger}" in caplog.text
    assert "negative quantity -2" in caplog.text
    assert recorder.pending == 0
    assert await events(control_db) == {}


async def test_an_unreachable_shard_keeps_the_rows(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    # A shard registered elsewhere whose server is down.
    customer = await new_customer(db)
    async with db.platform() as conn:
        await conn.execute(
            "INSERT INTO shards (id, name, dsn) VALUES (9, 'gone', "
            "'postgresql://postgres@127.0.0.1:1/gone')"
        )
        await conn.execute("UPDATE shard_map SET shard_id = 9 WHERE customer_id = $1", customer)
    db.invalidate(customer)
    recorder = UsageRecorder(db)
    recorder.record(customer, None, "message", 7)
    with caplog.at_level(logging.ERROR, logger="gb.core.tenancy.metering"):
        assert await recorder.flush() == 0
    assert "1 rows kept for the next flush (shard 9)" in caplog.text
    assert usage_snapshot(recorder) == {(customer, None, "message"): 7}
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="gb.core.tenancy.metering"):
        await recorder.close()
    assert "1 keys (7 units) not written at close" in caplog.text
    assert recorder.pending == 0
    assert usage_snapshot(recorder) == {}


async def test_an_unreadable_shard_map_keeps_the_rows(
    db: Database, control_db: str, caplog: pytest.LogCaptureFixture
) -> None:
    customer = await new_customer(db)
    db.invalidate(customer)
    recorder = UsageRecorder(db)
    recorder.record(customer, None, "message", 7)
    await execute(control_db, "REVOKE SELECT ON shard_map FROM gb_platform")
    with caplog.at_level(logging.ERROR, logger="gb.core.tenancy.metering"):
        assert await recorder.flush() == 0
    assert f"shard of {customer} unknown; rows kept for the next flush" in caplog.text
    await execute(control_db, "GRANT SELECT ON shard_map TO gb_platform")
    assert await recorder.flush() == 1
    assert await events(control_db) == {(customer, None, "message"): 7}
    # Closing while the map is unreadable: what is left is logged as lost.
    recorder.record(customer, None, "message", 3)
    db.invalidate(customer)
    await execute(control_db, "REVOKE SELECT ON shard_map FROM gb_platform")
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="gb.core.tenancy.metering"):
        await recorder.close()
    assert "1 keys (3 units) not written at close" in caplog.text
    assert recorder.pending == 0


async def test_a_cancelled_flush_loses_nothing_and_totals_stay_monotonic(
    db: Database, control_db: str
) -> None:
    recorder = UsageRecorder(db)
    customer, instance = await new_customer(db), uuid.uuid4()
    recorder.record(customer, instance, "message", 3)
    await recorder.flush()
    recorder.record(customer, instance, "message", 4)
    blocker = await asyncpg.connect(control_db)
    try:
        lock = blocker.transaction()
        await lock.start()
        await blocker.execute("LOCK TABLE usage_events IN ACCESS EXCLUSIVE MODE")
        flushing = asyncio.ensure_future(recorder.flush())
        await asyncio.sleep(0.2)  # the COPY waits for the lock
        assert not flushing.done()
        assert recorder.pending == 0
        recorder.record(customer, instance, "message", 5)
        assert usage_snapshot(recorder) == {(customer, instance, "message"): 12}
        flushing.cancel()
        with pytest.raises(asyncio.CancelledError):
            await flushing
        await lock.rollback()
    finally:
        await blocker.close()
    assert usage_snapshot(recorder) == {(customer, instance, "message"): 12}
    assert recorder.pending == 1
    assert await recorder.flush() == 1
    assert await events(control_db) == {(customer, instance, "message"): 12}
    assert usage_snapshot(recorder) == {(customer, instance, "message"): 12}


async def test_run_flushes_on_time_early_when_full_and_at_stop(
    db: Database, control_db: str
) -> None:
    customer = await new_customer(db)
    recorder = UsageRecorder(db, flush_interval=0.05, max_keys=1000)
    stop = asyncio.Event()
    runner = asyncio.ensure_future(recorder.run(stop))
    recorder.record(customer, None, "message")
    async with asyncio.timeout(5):
        while not await events(control_db):
            await asyncio.sleep(0.02)
    stop.set()
    await asyncio.wait_for(runner, 5)

    # max_keys reached: flushed long before the interval.
    full = UsageRecorder(db, flush_interval=60, max_keys=3)
    stop = asyncio.Event()
    runner = asyncio.ensure_future(full.run(stop))
    instances = [uuid.uuid4() for _ in range(3)]
    for instance in instances:
        full.record(customer, instance, "bot_run")
    async with asyncio.timeout(5):
        while len(await events(control_db)) < 4:
            await asyncio.sleep(0.02)
    # Stopping flushes what came since.
    full.record(customer, instances[0], "media_minute", 9)
    stop.set()
    await asyncio.wait_for(runner, 5)
    assert (await events(control_db))[(customer, instances[0], "media_minute")] == 9


# -- roll-ups --------------------------------------------------------------------------------


async def add_events(dsn: str, rows: list[tuple[UUID, UUID | None, str, int, dt.datetime]]) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.copy_records_to_table(
            "usage_events",
            records=rows,
            columns=("customer_id", "instance_id", "kind", "quantity", "created_at"),
        )
    finally:
        await conn.close()


async def rollups(dsn: str, customer: UUID) -> dict[tuple[UUID, str, str, dt.date], int]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT instance_id, kind, period, period_start, quantity FROM usage_rollups "
            "WHERE customer_id = $1",
            customer,
        )
    finally:
        await conn.close()
    return {
        (r["instance_id"], r["kind"], r["period"], r["period_start"]): r["quantity"] for r in rows
    }


def at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), dt.UTC)


async def test_rollup_per_instance_customer_day_and_month(db: Database, control_db: str) -> None:
    today = dt.datetime.now(dt.UTC).date()
    day, month_start = today, today.replace(day=1)
    other_day = day - dt.timedelta(days=1) if day.day > 1 else day + dt.timedelta(days=1)
    customer, other = await new_customer(db), await new_customer(db)
    a, b = uuid.uuid4(), uuid.uuid4()
    await add_events(
        control_db,
        [
            (customer, a, "message", 10, at(day, 0)),
            (customer, a, "message", 5, at(day, 23, 59)),
            (customer, b, "message", 1, at(day, 12)),
            (customer, None, "storage_byte_day", 1000, at(day, 1)),
            (customer, a, "message", 100, at(other_day, 12)),
            (other, a, "bot_run", 2, at(day, 3)),
        ],
    )
    # 2 per-instance rows + 2 customer-wide rows for `customer`, 1 + 1 for `other`.
    assert await rollup(db, day) == 6
    got = await rollups(control_db, customer)
    assert got == {
        (a, "message", "day", day): 15,
        (b, "message", "day", day): 1,
        (NIL_UUID, "message", "day", day): 16,
        (NIL_UUID, "storage_byte_day", "day", day): 1000,
        (a, "message", "month", month_start): 15,
        (b, "message", "month", month_start): 1,
        (NIL_UUID, "message", "month", month_start): 16,
        (NIL_UUID, "storage_byte_day", "month", month_start): 1000,
    }
    assert await rollup(db, day) == 6  # idempotent
    assert await rollups(control_db, customer) == got
    # A late event is taken in by running it again; the other day adds to the month.
    await add_events(control_db, [(customer, b, "message", 4, at(day, 13))])
    await rollup(db, day)
    await rollup(db, other_day)
    got = await rollups(control_db, customer)
    assert got[(b, "message", "day", day)] == 5
    assert got[(a, "message", "day", other_day)] == 100
    assert got[(NIL_UUID, "message", "month", month_start)] == 120
    assert got[(a, "message", "month", month_start)] == 115
    assert (await rollups(control_db, other))[(NIL_UUID, "bot_run", "month", month_start)] == 2


async def test_rollup_covers_every_shard(sharded: tuple[Database, str, str]) -> None:
    db, dsn1, dsn2 = sharded
    day = dt.datetime.now(dt.UTC).date()
    on1, on2 = await new_customer(db, 1), await new_customer(db, 2)
    await add_events(dsn1, [(on1, None, "message", 3, at(day, 8))])
    await add_events(dsn2, [(on2, None, "bot_run", 4, at(day, 9))])
    assert await rollup(db, day) == 2
    assert (await rollups(dsn1, on1))[(NIL_UUID, "message", "month", day.replace(day=1))] == 3
    assert (await rollups(dsn2, on2))[(NIL_UUID, "bot_run", "day", day)] == 4
    assert await rollup(db, day, shard_ids=[2]) == 1


def test_month_bounds() -> None:
    assert month_bounds(dt.date(2025, 12, 31)) == (dt.date(2025, 12, 1), dt.date(2026, 1, 1))
    assert month_bounds(dt.date(2024, 2, 1)) == (dt.date(2024, 2, 1), dt.date(2024, 3, 1))
