"""The router: shard registration, assignment, tenant/platform transactions, the cached map,
the freeze of a tenant move, replica fallback, and the CLI functions; on the real PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from uuid import UUID

import asyncpg
import pytest

from gb.core.config import load_settings
from gb.core.storage import database as database_module
from gb.core.storage.admin import cli_migrate, cli_shard_add, cli_shard_list
from gb.core.storage.database import (
    Database,
    Shard,
    ShardUnavailable,
    UnknownCustomer,
    open_database,
)
from gb.core.storage.shardmap import MapEntry, ShardMapCache, fence_key
from tests.support.pg import control_db, fresh_db, two_shards
from tests.support.services import free_port

__all__ = ["control_db", "fresh_db", "two_shards"]

POOL = 3  # connections per pool: many tests share one server (max_connections 100)


async def new_customer(db: Database, name: str | None = None) -> UUID:
    async with db.platform() as conn:
        customer: UUID = await conn.fetchval(
            "INSERT INTO customers (name, plan_id, region_id) VALUES ($1, 'free', 'local') "
            "RETURNING id",
            name or f"c-{uuid.uuid4().hex[:12]}",
        )
    return customer


async def add_instance(db: Database, customer: UUID, name: str) -> None:
    async with db.tenant(customer) as conn:
        await conn.execute(
            "INSERT INTO instances (customer_id, name) VALUES ($1, $2)", customer, name
        )


async def direct(dsn: str, sql: str, *args: object) -> list[asyncpg.Record]:
    """Rows read with a connection of its own (a superuser: no row-level security)."""
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


@pytest.fixture
async def db(control_db: str) -> AsyncIterator[Database]:
    database = await Database.open(control_db, pool_size=POOL, map_ttl=60.0, freeze_timeout=2.0)
    yield database
    await database.close()


@pytest.fixture
async def sharded(two_shards: tuple[str, str, str]) -> AsyncIterator[tuple[Database, str, str]]:
    control, dsn1, dsn2 = two_shards
    database = await Database.open(control, pool_size=POOL, map_ttl=60.0, freeze_timeout=2.0)
    yield database, dsn1, dsn2
    await database.close()


# -- shards and assignment -----------------------------------------------------------------


async def test_open_registers_the_control_database_as_shard_zero(
    db: Database, control_db: str
) -> None:
    assert await db.shards() == [Shard(0, "control", control_db, (), "active")]
    again = await Database.open(control_db, pool_size=1)  # a second process: no new row
    try:
        assert len(await again.shards()) == 1
    finally:
        await again.close()


async def test_open_of_an_unmigrated_database_fails_and_closes_its_pool(fresh_db: str) -> None:
    with pytest.raises(asyncpg.UndefinedTableError):
        await Database.open(fresh_db, pool_size=1)
    rows = await direct(
        fresh_db,
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid()",
    )
    assert rows[0][0] == 0


async def test_routing_two_customers_to_two_shards(sharded: tuple[Database, str, str]) -> None:
    db, dsn1, dsn2 = sharded
    s1 = await db.add_shard("one", dsn1)
    s2 = await db.add_shard("two", dsn2)
    assert (s1.id, s2.id) == (1, 2)
    assert [s.name for s in await db.shards()] == ["control", "one", "two"]
    alice, bob = await new_customer(db), await new_customer(db)
    assert await db.assign(alice, s1.id) == 1
    assert await db.assign(bob, s2.id) == 2
    assert await db.shard_of(alice) == s1
    assert await db.shard_of(bob) == s2
    await add_instance(db, alice, "alice-bot")
    await add_instance(db, bob, "bob-bot")
    assert [tuple(r) for r in await direct(dsn1, "SELECT customer_id, name FROM instances")] == [
        (alice, "alice-bot")
    ]
    assert [tuple(r) for r in await direct(dsn2, "SELECT customer_id, name FROM instances")] == [
        (bob, "bob-bot")
    ]
    assert await direct(db.control_dsn, "SELECT * FROM instances") == []
    async with db.platform(s1.id) as conn:
        assert await conn.fetchval("SELECT count(*) FROM instances") == 1
        assert await conn.fetchval("SELECT current_user") == "gb_platform"


async def test_assign_picks_the_least_loaded_active_shard(
    sharded: tuple[Database, str, str],
) -> None:
    db, dsn1, dsn2 = sharded
    await db.add_shard("one", dsn1)
    await db.add_shard("two", dsn2)
    async with db.platform() as conn:
        await conn.execute("UPDATE shards SET status = 'draining' WHERE id = 2")
    picked = [await db.assign(await new_customer(db)) for _ in range(4)]
    assert picked == [0, 1, 0, 1]  # ties go to the lower id; shard 2 is draining
    customer = await new_customer(db)
    assert await db.assign(customer) == 0
    assert await db.assign(customer) == 0  # mapped: keeps its shard
    assert await db.assign(customer, 0) == 0
    with pytest.raises(ValueError, match="is on shard 0; move it"):
        await db.assign(customer, 1)
    with pytest.raises(ValueError, match="shard 2 is draining, not active"):
        await db.assign(await new_customer(db), 2)
    with pytest.raises(ValueError, match="unknown shard 7"):
        await db.assign(await new_customer(db), 7)
    with pytest.raises(UnknownCustomer):
        await db.assign(uuid.uuid4(), 1)
    async with db.platform() as conn:
        await conn.execute("UPDATE shards SET status = 'retired'")
    with pytest.raises(ShardUnavailable, match="no active shard"):
        await db.assign(await new_customer(db))


async def test_add_shard_errors_register_nothing(sharded: tuple[Database, str, str]) -> None:
    db, dsn1, _ = sharded
    await db.add_shard("one", dsn1)
    with pytest.raises(ValueError, match="'one' already exists"):
        await db.add_shard("one", dsn1)
    unreachable = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"
    with pytest.raises(OSError):
        await db.add_shard("nowhere", unreachable)
    assert [s.name for s in await db.shards()] == ["control", "one"]
    shard = await db.add_shard("again", dsn1, ["postgresql://replica/x"])
    assert shard == Shard(2, "again", dsn1, ("postgresql://replica/x",), "active")


async def test_a_shard_registered_elsewhere_is_found_and_an_unknown_one_refused(
    sharded: tuple[Database, str, str],
) -> None:
    db, dsn1, _ = sharded
    other = await Database.open(db.control_dsn, pool_size=1)  # `gb shard add` in another process
    try:
        await other.add_shard("one", dsn1)
    finally:
        await other.close()
    customer = await new_customer(db)
    await db.assign(customer, 1)
    assert (await db.shard_of(customer)).name == "one"
    with pytest.raises(ShardUnavailable, match="shard 9 is not registered"):
        async with db.platform(9):
            pass


async def test_an_unreachable_shard_is_unavailable(db: Database) -> None:
    async with db.platform() as conn:
        await conn.execute(
            "INSERT INTO shards (id, name, dsn) VALUES (5, 'down', $1)",
            f"postgresql://postgres@127.0.0.1:{free_port()}/postgres",
        )
    customer = await new_customer(db)
    await db.assign(customer, 5)
    with pytest.raises(ShardUnavailable, match="shard 'down' is unreachable"):
        async with db.tenant(customer):
            pass


# -- transactions and isolation ------------------------------------------------------------


async def test_tenant_sees_and_writes_only_its_own_rows(db: Database) -> None:
    alice, bob = await new_customer(db), await new_customer(db)
    for customer in (alice, bob):
        await db.assign(customer)
    await add_instance(db, alice, "a1")
    await add_instance(db, alice, "a2")
    await add_instance(db, bob, "b1")
    async with db.tenant(alice) as conn:
        assert await conn.fetchval("SELECT current_user") == "gb_app"
        assert await conn.fetchval("SELECT current_setting('gb.customer_id')") == str(alice)
        rows = await conn.fetch("SELECT customer_id, name FROM instances ORDER BY name")
        assert [tuple(r) for r in rows] == [(alice, "a1"), (alice, "a2")]
        # Bob's row is invisible even by its key, and cannot be changed.
        assert await conn.execute("UPDATE instances SET title = 'x' WHERE name = 'b1'") == (
            "UPDATE 0"
        )
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
        async with db.tenant(alice) as conn:
            await conn.execute(
                "INSERT INTO instances (customer_id, name) VALUES ($1, 'sneaky')", bob
            )
    async with db.tenant(bob, readonly=True) as conn:
        assert await conn.fetchval("SELECT count(*) FROM instances") == 1
        with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
            await conn.execute("INSERT INTO instances (customer_id, name) VALUES ($1, 'b2')", bob)
    # The identity was transaction-local: the pooled connection is the login user again.
    async with db.control.acquire() as conn:
        assert await conn.fetchval("SELECT current_user") == "postgres"
        assert await conn.fetchval("SELECT current_setting('gb.customer_id', true)") in ("", None)


async def test_an_error_in_a_tenant_transaction_rolls_it_back(db: Database) -> None:
    customer = await new_customer(db)
    await db.assign(customer)
    with pytest.raises(RuntimeError, match="boom"):
        async with db.tenant(customer) as conn:
            await conn.execute(
                "INSERT INTO instances (customer_id, name) VALUES ($1, 'gone')", customer
            )
            raise RuntimeError("boom")
    async with db.platform() as conn:
        assert await conn.fetchval("SELECT count(*) FROM instances") == 0


async def test_control_tenant_and_platform_on_the_control_database(db: Database) -> None:
    alice, bob = await new_customer(db, "alice"), await new_customer(db, "bob")
    async with db.control_tenant(alice) as conn:
        assert await conn.fetchval("SELECT current_user") == "gb_app"
        assert [r["name"] for r in await conn.fetch("SELECT name FROM customers")] == ["alice"]
        await conn.execute(
            "INSERT INTO quota_overrides (customer_id, name, value) VALUES ($1, 'instances', 3)",
            alice,
        )
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(
                "INSERT INTO quota_overrides (customer_id, name, value) "
                "VALUES ($1, 'instances', 3)",
                bob,
            )
    async with db.platform() as conn:
        assert await conn.fetchval("SELECT current_user") == "gb_platform"
        assert await conn.fetchval("SELECT count(*) FROM customers") == 2
        assert await conn.fetchval("SELECT count(*) FROM quota_overrides") == 0  # rolled back


async def test_unknown_customer(db: Database) -> None:
    stranger = uuid.uuid4()
    with pytest.raises(UnknownCustomer):
        await db.shard_of(stranger)
    with pytest.raises(UnknownCustomer):
        async with db.tenant(stranger):
            pass


# -- the cached shard map ------------------------------------------------------------------


async def test_the_map_is_cached_until_invalidated(sharded: tuple[Database, str, str]) -> None:
    db, dsn1, _ = sharded
    await db.add_shard("one", dsn1)
    alice, bob = await new_customer(db), await new_customer(db)
    await db.assign(alice, 0)
    await db.assign(bob, 0)
    assert (await db.shard_of(alice)).id == 0
    assert (await db.shard_of(bob)).id == 0
    async with db.platform() as conn:
        await conn.execute("UPDATE shard_map SET shard_id = 1, version = version + 1")
    assert (await db.shard_of(alice)).id == 0  # cached (map_ttl 60 s)
    db.invalidate(alice)
    assert (await db.shard_of(alice)).id == 1
    assert (await db.shard_of(bob)).id == 0
    db.invalidate()
    assert (await db.shard_of(bob)).id == 1


async def test_the_map_entries_expire_after_the_ttl(sharded: tuple[Database, str, str]) -> None:
    _, dsn1, _ = sharded
    db = await Database.open(sharded[0].control_dsn, pool_size=POOL, map_ttl=0.5)
    try:
        await db.add_shard("one", dsn1)
        customer = await new_customer(db)
        await db.assign(customer, 0)
        assert (await db.shard_of(customer)).id == 0
        async with db.platform() as conn:
            await conn.execute("UPDATE shard_map SET shard_id = 1")
        assert (await db.shard_of(customer)).id == 0
        await asyncio.sleep(0.6)
        assert (await db.shard_of(customer)).id == 1
    finally:
        await db.close()


def test_shard_map_cache_with_a_clock_of_its_own() -> None:
    now = [100.0]
    cache = ShardMapCache(5.0, clock=lambda: now[0])
    a, b = uuid.uuid4(), uuid.uuid4()
    assert cache.get(a) is None
    cache.put(a, MapEntry(1, 1, "active"))
    cache.put(b, MapEntry(2, 3, "moving"))
    now[0] = 104.9
    assert cache.get(a) == MapEntry(1, 1, "active")
    now[0] = 105.0
    assert cache.get(a) is None
    assert len(cache) == 1
    cache.invalidate(b)
    cache.invalidate(b)  # absent: no error
    assert len(cache) == 0
    cache.put(a, MapEntry(1, 1, "active"))
    cache.invalidate()
    assert cache.get(a) is None


def test_fence_key_is_a_signed_64_bit_key_of_the_customer() -> None:
    customer = UUID("ffffffff-ffff-ffff-0000-000000000000")
    assert fence_key(customer) == -1
    assert fence_key(UUID(int=1 << 64)) == 1
    assert fence_key(uuid.uuid4()) in range(-(2**63), 2**63)


# -- the freeze of a tenant move -----------------------------------------------------------


async def set_state(db: Database, customer: UUID, state: str) -> None:
    async with db.platform() as conn:
        await conn.execute(
            "UPDATE shard_map SET state = $2 WHERE customer_id = $1", customer, state
        )


async def test_a_frozen_customer_waits_until_thawed(db: Database) -> None:
    customer = await new_customer(db)
    await db.assign(customer)
    await set_state(db, customer, "moving")  # normal service while rows are copied
    await add_instance(db, customer, "during-move")
    await set_state(db, customer, "frozen")
    db.invalidate(customer)
    started = time.monotonic()
    writer = asyncio.create_task(add_instance(db, customer, "after-freeze"))
    await asyncio.sleep(0.3)
    assert not writer.done()
    await set_state(db, customer, "active")
    await asyncio.wait_for(writer, 2)
    assert 0.3 <= time.monotonic() - started < 2
    async with db.tenant(customer) as conn:
        assert await conn.fetchval("SELECT count(*) FROM instances") == 2


async def test_a_customer_frozen_too_long_is_unavailable(control_db: str) -> None:
    db = await Database.open(control_db, pool_size=POOL, freeze_timeout=0.3)
    try:
        customer = await new_customer(db)
        await db.assign(customer)
        await set_state(db, customer, "frozen")
        started = time.monotonic()
        with pytest.raises(
            ShardUnavailable, match=r"is frozen by a tenant move for more than 0\.3 s"
        ):
            async with db.tenant(customer, readonly=True):
                pass
        assert 0.3 <= time.monotonic() - started < 1.5
    finally:
        await db.close()


async def test_the_write_fence_stops_writers_with_a_stale_map(control_db: str) -> None:
    db = await Database.open(control_db, pool_size=POOL, map_ttl=60.0, freeze_timeout=0.4)
    mover = await asyncpg.connect(control_db)
    try:
        customer = await new_customer(db)
        await db.assign(customer)
        assert (await db.shard_of(customer)).id == 0  # cached: the map will look active
        await mover.execute("SELECT pg_advisory_lock($1)", fence_key(customer))
        with pytest.raises(ShardUnavailable, match="is fenced by a tenant move"):
            await add_instance(db, customer, "stale")
        async with db.tenant(customer, readonly=True) as conn:  # reads need no fence
            assert await conn.fetchval("SELECT count(*) FROM instances") == 0
        db.freeze_timeout = 5.0  # the next writer waits for the fence to go
        writer = asyncio.create_task(add_instance(db, customer, "later"))
        await asyncio.sleep(0.1)
        assert not writer.done()
        await mover.execute("SELECT pg_advisory_unlock($1)", fence_key(customer))
        await asyncio.wait_for(writer, 2)
        async with db.platform() as conn:
            assert await conn.fetchval("SELECT array_agg(name) FROM instances") == ["later"]
    finally:
        await mover.close()
        await db.close()


# -- replicas (a real streaming replica is in test_replica.py) -----------------------------


async def test_replicas_are_used_round_robin(sharded: tuple[Database, str, str]) -> None:
    db, dsn1, _ = sharded
    # Two "replicas" that are the primary itself under other application names.
    replicas = [f"{dsn1}?application_name=r1", f"{dsn1}?application_name=r2"]
    shard = await db.add_shard("one", dsn1, replicas)
    customer = await new_customer(db)
    await db.assign(customer, shard.id)
    seen = []
    for _ in range(4):
        async with db.tenant(customer, readonly=True) as conn:
            seen.append(await conn.fetchval("SELECT current_setting('application_name')"))
    assert seen == ["r1", "r2", "r1", "r2"]
    async with db.tenant(customer) as conn:
        assert await conn.fetchval("SELECT current_setting('application_name')") == ""


async def test_a_replica_that_is_down_falls_back_to_the_primary(
    sharded: tuple[Database, str, str], caplog: pytest.LogCaptureFixture
) -> None:
    db, dsn1, _ = sharded
    down = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"
    shard = await db.add_shard("one", dsn1, [down, f"{dsn1}?application_name=r2"])
    customer = await new_customer(db)
    await db.assign(customer, shard.id)
    seen = []
    with caplog.at_level(logging.WARNING, logger="gb.core.storage.database"):
        for _ in range(4):
            async with db.tenant(customer, readonly=True) as conn:
                seen.append(await conn.fetchval("SELECT current_setting('application_name')"))
    # The failed replica is skipped for REPLICA_RETRY seconds: tried once, then r2 every time.
    assert seen == ["", "r2", "r2", "r2"]
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1
    assert "replica 0 of shard 'one' unavailable" in warnings[0]


async def test_all_replicas_down_reads_from_the_primary(
    sharded: tuple[Database, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db, dsn1, _ = sharded
    monkeypatch.setattr(database_module, "REPLICA_RETRY", 60.0)
    down = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"
    shard = await db.add_shard("one", dsn1, [down])
    customer = await new_customer(db)
    await db.assign(customer, shard.id)
    for _ in range(2):  # the second read does not try the replica again
        async with db.tenant(customer, readonly=True) as conn:
            assert await conn.fetchval("SELECT current_database()") == dsn1.rsplit("/", 1)[1]


# -- closing -------------------------------------------------------------------------------


async def test_close_cuts_connections_still_in_use_after_the_timeout(control_db: str) -> None:
    db = await Database.open(control_db, pool_size=POOL)
    db.close_timeout = 0.2
    held = await db.control.acquire()
    started = time.monotonic()
    await db.close()
    assert time.monotonic() - started < 2
    with pytest.raises(asyncpg.InterfaceError):  # cut and taken back
        await held.fetchval("SELECT 1")


# -- open_database and the CLI functions ---------------------------------------------------


async def test_open_database_and_the_cli_functions(
    two_shards: tuple[str, str, str], tmp_path: Path
) -> None:
    control, dsn1, dsn2 = two_shards
    settings = load_settings(
        {"GB_DATABASE_URL": control, "GB_DATA_DIR": str(tmp_path), "GB_DB_POOL_SIZE": "2"}
    )
    db, dsn = await open_database(settings)
    try:
        assert dsn == control
        assert db.pool_size == 2
    finally:
        await db.close()
    shard = await cli_shard_add(settings, "one", dsn1, [f"{dsn1}?application_name=r"])
    assert shard == Shard(1, "one", dsn1, (f"{dsn1}?application_name=r",), "active")
    await cli_shard_add(settings, "two", dsn2)
    assert [(s.id, s.name) for s in await cli_shard_list(settings)] == [
        (0, "control"),
        (1, "one"),
        (2, "two"),
    ]
    # Everything is migrated already: nothing applied, every shard visited.
    assert await cli_migrate(settings) == {"control": [], "one": [], "two": []}


async def test_maintenance_runs_as_the_schema_owner(control_db: str) -> None:
    from gb.core.storage.partitions import ensure_partitions

    db = await Database.open(control_db, pool_size=1)
    try:
        async with db.maintenance(0) as conn:
            assert await conn.fetchval("SELECT current_user") == await conn.fetchval(
                "SELECT session_user"
            )
            created = await ensure_partitions(conn, months_ahead=5)
        assert created  # the template had 3 months ahead; two more are new
    finally:
        await db.close()
