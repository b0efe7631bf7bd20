"""Monthly partitions: created ahead, idempotent, UTC bounds, detached (not dropped)."""

from __future__ import annotations

import asyncio
import datetime
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from gb.core.storage import detach_partitions_before, ensure_partitions
from gb.core.storage.partitions import month_start, partition_name

from ...support.pg import control_db

__all__ = ["control_db"]

PARTITIONED = ("audit_log", "conversation_messages", "logs", "messages", "usage_events")
D = datetime.date


@pytest.fixture
async def conn(control_db: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(control_db)
    yield connection
    await connection.close()


async def partitions_of(conn: asyncpg.Connection, table: str) -> list[str]:
    rows = await conn.fetch(
        "SELECT inhrelid::regclass::text AS name FROM pg_inherits "
        "WHERE inhparent = $1::regclass ORDER BY 1",
        table,
    )
    return [r["name"] for r in rows]


async def add_log(conn: asyncpg.Connection, at: str) -> str:
    """Insert a log row at ``at``; return the partition it landed in."""
    name: str = await conn.fetchval(
        "INSERT INTO logs (customer_id, instance_id, kind, message, created_at) "
        "VALUES ($1, $1, 'i', 'm', $2::text::timestamptz) RETURNING tableoid::regclass::text",
        uuid.uuid4(),
        at,
    )
    return name


def test_month_arithmetic() -> None:
    assert month_start(D(2030, 12, 31)) == D(2030, 12, 1)
    assert month_start(D(2030, 12, 31), 1) == D(2031, 1, 1)
    assert month_start(D(2030, 1, 15), -1) == D(2029, 12, 1)
    assert month_start(D(2030, 1, 15), -13) == D(2028, 12, 1)
    assert month_start(D(2030, 1, 15), 24) == D(2032, 1, 1)
    assert partition_name("logs", D(2030, 2, 1)) == "logs_p203002"


async def test_created_ahead_and_idempotent(conn: asyncpg.Connection) -> None:
    created = await ensure_partitions(conn, today=D(2030, 1, 15), months_back=1, months_ahead=2)
    months = ["202912", "203001", "203002", "203003"]
    assert created == [f"{t}_p{m}" for t in PARTITIONED for m in months]
    assert await ensure_partitions(conn, today=D(2030, 1, 15), months_back=1, months_ahead=2) == []
    # Widening the window creates only the new months.
    assert await ensure_partitions(conn, today=D(2030, 3, 2), months_back=0, months_ahead=1) == [
        f"{t}_p203004" for t in PARTITIONED
    ]


async def test_default_window_is_around_this_month(conn: asyncpg.Connection) -> None:
    """The migrated database already has this month's partitions (made at migrate time)."""
    assert await ensure_partitions(conn) == []
    today = datetime.datetime.now(datetime.UTC).date()
    names = await partitions_of(conn, "messages")
    for k in range(-1, 4):
        assert partition_name("messages", month_start(today, k)) in names


async def test_bad_window(conn: asyncpg.Connection) -> None:
    with pytest.raises(ValueError, match="must be >= 0"):
        await ensure_partitions(conn, months_back=-1)
    with pytest.raises(ValueError, match="must be >= 0"):
        await ensure_partitions(conn, months_ahead=-1)


async def test_rows_land_in_their_month_in_utc(conn: asyncpg.Connection) -> None:
    await ensure_partitions(conn, today=D(2030, 1, 15), months_back=0, months_ahead=1)
    # The session's time zone does not move the bounds: they are UTC.
    await conn.execute("SET TimeZone = 'America/Sao_Paulo'")
    assert await add_log(conn, "2030-01-01 00:00:00+00") == "logs_p203001"
    assert await add_log(conn, "2030-01-31 23:59:59.999999+00") == "logs_p203001"
    assert await add_log(conn, "2030-01-31 22:00:00-03") == "logs_p203002"
    assert await add_log(conn, "2030-02-01 00:00:00+00") == "logs_p203002"
    with pytest.raises(asyncpg.CheckViolationError, match="no partition"):
        await add_log(conn, "2031-06-01 00:00:00+00")


async def test_detach_old_months(conn: asyncpg.Connection) -> None:
    await ensure_partitions(conn, today=D(2030, 1, 15), months_back=1, months_ahead=1)
    await add_log(conn, "2029-12-10 10:00:00+00")
    await add_log(conn, "2030-01-20 10:00:00+00")
    await add_log(conn, "2030-02-03 10:00:00+00")
    # A partition not named by the month convention is left alone.
    await conn.execute(
        "CREATE TABLE logs_archive PARTITION OF logs "
        "FOR VALUES FROM ('2001-01-01 00:00:00+00') TO ('2001-02-01 00:00:00+00')"
    )
    before = await partitions_of(conn, "logs")
    expected = sorted(n for n in before if n != "logs_archive" and n < "logs_p203002")
    # 2030-01-31: January does not end on or before it, so only up to December goes.
    detached = await detach_partitions_before(conn, "logs", D(2030, 1, 31))
    assert detached == [n for n in expected if n < "logs_p203001"]
    detached += await detach_partitions_before(conn, "logs", D(2030, 2, 1))
    assert detached == expected
    assert "logs_p203001" in detached
    assert sorted(await partitions_of(conn, "logs")) == sorted(set(before) - set(expected))

    # Through the parent only February's row is left; the detached tables keep theirs.
    assert await conn.fetchval("SELECT count(*) FROM logs") == 1
    assert await conn.fetchval("SELECT count(*) FROM logs_p203001") == 1
    assert await conn.fetchval("SELECT count(*) FROM logs_p202912") == 1
    assert await detach_partitions_before(conn, "logs", D(2030, 2, 1)) == []
    assert await detach_partitions_before(conn, "no_such_table", D(2030, 2, 1)) == []

    # A detached month stays archived: it is not created again under its name.
    created = await ensure_partitions(conn, today=D(2030, 1, 15), months_back=1, months_ahead=1)
    assert created == []
    assert "logs_p203001" not in await partitions_of(conn, "logs")


async def test_concurrent_ensure_creates_each_once(control_db: str) -> None:
    conns = [await asyncpg.connect(control_db) for _ in range(3)]
    try:
        results = await asyncio.gather(
            *(
                ensure_partitions(c, today=D(2035, 6, 1), months_back=0, months_ahead=2)
                for c in conns
            )
        )
        flat = sorted(n for r in results for n in r)
        assert flat == sorted(f"{t}_p2035{m:02d}" for t in PARTITIONED for m in (6, 7, 8))
    finally:
        for c in conns:
            await c.close()
