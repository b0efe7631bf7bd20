"""The migration runner against real, fresh PostgreSQL databases."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from gb.core.storage import (
    TRACKS,
    MigrationError,
    migrate,
    migrate_database,
    migrate_dsn,
)
from gb.core.storage.migrate import load_migrations, migrations_dir
from gb.core.storage.partitions import month_start, partition_name

from ...support.pg import fresh_db

__all__ = ["fresh_db"]

PARTITIONED = ("audit_log", "conversation_messages", "logs", "messages", "usage_events")


def shipped(track: str) -> list[str]:
    """The versions of ``track`` in the package (the tests hold however many files there are)."""
    return [m.version for m in load_migrations(track)]


@pytest.fixture
async def conn(fresh_db: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(fresh_db)
    yield connection
    await connection.close()


async def snapshot(conn: asyncpg.Connection) -> list[tuple[str, str]]:
    """Every relation and function of the public schema: what a migration could leave behind."""
    rows = await conn.fetch(
        """SELECT 'rel', c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'public'
           UNION ALL
           SELECT 'fn', p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE n.nspname = 'public'
           ORDER BY 1, 2"""
    )
    return [(r[0], r[1]) for r in rows]


async def records(conn: asyncpg.Connection) -> list[tuple[str, str]]:
    if await conn.fetchval("SELECT to_regclass('gb_schema_migrations')") is None:
        return []
    rows = await conn.fetch("SELECT track, version FROM gb_schema_migrations ORDER BY 1, 2")
    return [(r["track"], r["version"]) for r in rows]


def write(folder: Path, name: str, sql: str) -> None:
    (folder / name).write_text(sql)


async def test_fresh_database_gets_both_tracks_then_nothing(fresh_db: str) -> None:
    applied = await migrate_database(fresh_db, control=True, shard=True)
    assert applied[0] == "control/0001_control"
    assert applied == [f"{t}/{v}" for t in TRACKS for v in shipped(t)]

    conn = await asyncpg.connect(fresh_db)
    try:
        assert await records(conn) == [(t, v) for t in TRACKS for v in shipped(t)]
        tables = {r[0] for r in await conn.fetch("SELECT tablename FROM pg_tables")}
        assert {"customers", "plans", "shard_map", "invoices", "instances", "rooms"} <= tables
        # The shard track's time partitions are created at migrate time, this month included.
        this_month = month_start(await conn.fetchval("SELECT (now() AT TIME ZONE 'UTC')::date"))
        for table in PARTITIONED:
            assert partition_name(table, this_month) in tables
        checksums = await conn.fetch("SELECT version, checksum FROM gb_schema_migrations")
        expected = {m.version: m.checksum for t in TRACKS for m in load_migrations(t)}
        assert {r["version"]: r["checksum"] for r in checksums} == expected
    finally:
        await conn.close()

    assert await migrate_database(fresh_db, control=True, shard=True) == []
    assert await migrate_dsn(fresh_db, "control") == []
    assert await migrate_dsn(fresh_db, "shard") == []


async def test_tracks_apart(fresh_db: str) -> None:
    """A shard database gets the shard track only; the control track alone makes no partitions."""
    applied = await migrate_database(fresh_db, control=False, shard=True)
    assert applied == [f"shard/{v}" for v in shipped("shard")]
    conn = await asyncpg.connect(fresh_db)
    try:
        assert await conn.fetchval("SELECT to_regclass('customers')") is None
        assert await conn.fetchval("SELECT to_regclass('instances')") is not None
        assert await records(conn) == [("shard", v) for v in shipped("shard")]
    finally:
        await conn.close()
    assert await migrate_dsn(fresh_db, "control") == shipped("control")
    assert await migrate_database(fresh_db, control=True, shard=False) == []


async def test_failing_first_file_leaves_the_database_as_it_was(
    conn: asyncpg.Connection, tmp_path: Path
) -> None:
    before = await snapshot(conn)
    write(tmp_path, "0001_broken.sql", "CREATE TABLE t1 (a int);\nCREATE TABLE t2 (b int;\n")
    with pytest.raises(MigrationError) as caught:
        await migrate(conn, "shard", directory=tmp_path)
    message = str(caught.value)
    assert "shard/0001_broken.sql" in message
    assert "at line 2" in message  # where the syntax error is
    assert "PostgresSyntaxError" in message
    assert await snapshot(conn) == before  # no t1, no gb_schema_migrations
    assert await records(conn) == []


async def test_failing_later_file_keeps_the_earlier_ones(
    conn: asyncpg.Connection, tmp_path: Path
) -> None:
    write(tmp_path, "0001_ok.sql", "CREATE TABLE ok (a int);")
    write(
        tmp_path,
        "0002_bad.sql",
        "CREATE TABLE half (a int);\nCREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1';\n"
        "INSERT INTO ok VALUES (1 / 0);",
    )
    with pytest.raises(MigrationError) as caught:
        await migrate(conn, "control", directory=tmp_path)
    assert "control/0002_bad.sql failed: DivisionByZeroError" in str(caught.value)
    assert await records(conn) == [("control", "0001_ok")]
    assert await conn.fetchval("SELECT to_regclass('half')") is None
    assert await conn.fetchval("SELECT count(*) FROM pg_proc WHERE proname = 'f'") == 0
    assert await conn.fetchval("SELECT count(*) FROM ok") == 0

    # Fixed, it applies and only it.
    write(tmp_path, "0002_bad.sql", "CREATE TABLE half (a int);")
    assert await migrate(conn, "control", directory=tmp_path) == ["0002_bad"]
    assert await records(conn) == [("control", "0001_ok"), ("control", "0002_bad")]


async def test_changed_file_is_refused(conn: asyncpg.Connection, tmp_path: Path) -> None:
    write(tmp_path, "0001_a.sql", "CREATE TABLE a (x int);")
    assert await migrate(conn, "shard", directory=tmp_path) == ["0001_a"]
    write(tmp_path, "0001_a.sql", "CREATE TABLE a (x bigint);")
    write(tmp_path, "0002_b.sql", "CREATE TABLE b (x int);")
    with pytest.raises(MigrationError, match=r"shard/0001_a\.sql changed after it was applied"):
        await migrate(conn, "shard", directory=tmp_path)
    assert await conn.fetchval("SELECT to_regclass('b')") is None  # nothing after it ran
    assert await records(conn) == [("shard", "0001_a")]
    # The same version in another track is another migration.
    other = tmp_path / "control"
    other.mkdir()
    write(other, "0001_a.sql", "CREATE TABLE c (x int);")
    assert await migrate(conn, "control", directory=other) == ["0001_a"]


async def test_concurrent_migrators_apply_once(fresh_db: str) -> None:
    """Four connections migrate both tracks at once (two per track): every file is applied by
    exactly one of them, and the bookkeeping table is created once."""
    conns = [await asyncpg.connect(fresh_db) for _ in range(4)]
    try:
        results = await asyncio.gather(
            *(migrate(c, TRACKS[i % 2]) for i, c in enumerate(conns)),
        )
        assert sorted(results[0] + results[2]) == shipped("control")  # each file once
        assert sorted(results[1] + results[3]) == shipped("shard")
        assert await records(conns[0]) == [(t, v) for t in TRACKS for v in shipped(t)]
        # Late-comers find everything applied.
        assert await asyncio.gather(*(migrate(c, "shard") for c in conns[:2])) == [[], []]
    finally:
        for c in conns:
            await c.close()


def test_load_migrations_orders_and_filters(tmp_path: Path) -> None:
    write(tmp_path, "0002_second.sql", "SELECT 2;")
    write(tmp_path, "0001_first.sql", "SELECT 1;")
    write(tmp_path, "README.md", "not a migration")
    write(tmp_path, "12_short.sql", "SELECT 12;")
    (tmp_path / "0003_folder.sql").mkdir()
    found = load_migrations("shard", tmp_path)
    assert [m.version for m in found] == ["0001_first", "0002_second"]
    assert found[0].sql == "SELECT 1;"
    assert len(found[0].checksum) == 64


def test_load_migrations_refuses_duplicate_numbers(tmp_path: Path) -> None:
    write(tmp_path, "0001_a.sql", "SELECT 1;")
    write(tmp_path, "0001_b.sql", "SELECT 1;")
    with pytest.raises(MigrationError, match="share number 0001"):
        load_migrations("control", tmp_path)


def test_unknown_track() -> None:
    with pytest.raises(ValueError, match="unknown migration track 'tenant'"):
        load_migrations("tenant")


def test_shipped_migrations_are_found() -> None:
    for track in TRACKS:
        assert migrations_dir(track).is_dir()
        versions = [m.version for m in load_migrations(track)]
        assert versions and versions[0].startswith("0001_")
