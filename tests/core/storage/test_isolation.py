"""Tenant isolation in the database itself, proven with raw SQL as the app role ``gb_app``.

Two customers get a row in every tenant table of both tracks (one database carrying the control
and shard tracks, as shard 0 does). A query without any tenant filter sees only the current
tenant's rows; with no tenant set it sees none; rows cannot be written for, moved to, changed in
or deleted from another tenant; ``gb_platform`` sees everything. The superuser the tests connect
as bypasses row-level security, so every check runs after ``SET LOCAL ROLE``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import asyncpg
import pytest

from ...support.pg import control_db

__all__ = ["control_db"]

# One row per tenant table, inserted as gb_app with the tenant set ($1 = the customer id). Rows
# refer to the tenant's own earlier rows through plain SELECTs, which row-level security scopes.
INSERTS: dict[str, str] = {
    # control track
    "customers": "INSERT INTO customers (id, name, plan_id, region_id) "
    "VALUES ($1, 'customer ' || $1::uuid::text, 'free', 'local')",
    "shard_map": "INSERT INTO shard_map (customer_id, shard_id) VALUES ($1, 0)",
    "subscriptions": "INSERT INTO subscriptions (customer_id, plan_id) VALUES ($1, 'pro')",
    "quota_overrides": "INSERT INTO quota_overrides (customer_id, name, value) "
    "VALUES ($1, 'instances', 5)",
    "api_keys": "INSERT INTO api_keys (customer_id, name, prefix, key_hash) "
    "VALUES ($1, 'ci', 'gb_', sha256(convert_to($1::uuid::text, 'UTF8')))",
    "invoices": "INSERT INTO invoices (customer_id, period_start, period_end, plan_id, currency) "
    "VALUES ($1, '2030-01-01', '2030-02-01', 'pro', 'USD')",
    "invoice_lines": "INSERT INTO invoice_lines (invoice_id, customer_id, kind, quantity, "
    "unit_price_mcents, amount_cents) SELECT id, $1, 'message', 10, 10, 1 FROM invoices",
    # shard track
    "instances": "INSERT INTO instances (customer_id, name) VALUES ($1, 'bot')",
    "instance_features": "INSERT INTO instance_features (customer_id, instance_id, feature, "
    "enabled) SELECT $1, id, 'rooms', true FROM instances",
    "admin_settings": "INSERT INTO admin_settings (customer_id, instance_id, key, value) "
    "SELECT $1, id, 'token', 'secret' FROM instances",
    "applications": "INSERT INTO applications (customer_id, instance_id, name) "
    "SELECT $1, id, 'app' FROM instances",
    "channels": "INSERT INTO channels (customer_id, instance_id, kind) "
    "SELECT $1, id, 'web' FROM instances",
    "packages": "INSERT INTO packages (customer_id, instance_id, name) "
    "SELECT $1, id, 'faq.gbkb' FROM instances",
    "schedules": "INSERT INTO schedules (customer_id, instance_id, name, schedule) "
    "SELECT $1, id, 'main;1', '0 * * * *' FROM instances",
    "users": "INSERT INTO users (customer_id, instance_id, user_system_id) "
    "SELECT $1, id, 'web:1' FROM instances",
    "groups": "INSERT INTO groups (customer_id, instance_id, display_name) "
    "SELECT $1, id, 'staff' FROM instances",
    "user_groups": "INSERT INTO user_groups (customer_id, instance_id, user_id, group_id) "
    "SELECT $1, u.instance_id, u.id, g.id FROM users u, groups g",
    "subjects": "INSERT INTO subjects (customer_id, instance_id, package_id, title) "
    "SELECT $1, instance_id, id, 'Billing' FROM packages",
    "answers": "INSERT INTO answers (customer_id, instance_id, content) "
    "SELECT $1, id, 'Pay by card.' FROM instances",
    "questions": "INSERT INTO questions (customer_id, instance_id, answer_id, content) "
    "SELECT $1, instance_id, id, 'How do I pay?' FROM answers",
    "question_alternates": "INSERT INTO question_alternates (customer_id, instance_id, "
    "question_typed, question_text) SELECT $1, id, 'how pay', 'How do I pay?' FROM instances",
    "conversations": "INSERT INTO conversations (customer_id, instance_id, started_by_user_id) "
    "SELECT $1, instance_id, id FROM users",
    "conversation_messages": "INSERT INTO conversation_messages (customer_id, instance_id, "
    "conversation_id, content) SELECT $1, instance_id, id, 'hi' FROM conversations",
    "logs": "INSERT INTO logs (customer_id, instance_id, kind, message) "
    "SELECT $1, id, 'i', 'started' FROM instances",
    "rooms": "INSERT INTO rooms (customer_id, instance_id, name) "
    "SELECT $1, id, 'lobby' FROM instances",
    "messages": "INSERT INTO messages (id, customer_id, instance_id, conversation_id, kind, "
    "content) SELECT gen_random_uuid(), $1, instance_id, id, 'text', 'hello' FROM conversations",
    "usage_events": "INSERT INTO usage_events (customer_id, instance_id, kind, quantity) "
    "SELECT $1, id, 'message', 1 FROM instances",
    "usage_rollups": "INSERT INTO usage_rollups (customer_id, kind, period, period_start, "
    "quantity) VALUES ($1, 'message', 'day', '2030-01-01', 1)",
    "audit_log": "INSERT INTO audit_log (customer_id, actor, action, target) "
    "VALUES ($1, 'admin', 'create', 'instance')",
    # shard track, tenant moves (0002): tombstones, and the fence only gb_platform writes
    "deleted_rows": "INSERT INTO deleted_rows (customer_id, table_name, pk, row_version) "
    "VALUES ($1, 'instances', '{}', 1)",
    "tenant_fences": "INSERT INTO tenant_fences (customer_id, state) VALUES ($1, 'tracking')",
    # messaging (0003): members, durable idempotency keys, delivery status
    "conversation_members": "INSERT INTO conversation_members (customer_id, conversation_id, "
    "user_ref) SELECT $1, id, 'alice' FROM conversations",
    "message_keys": "INSERT INTO message_keys (customer_id, conversation_id, sender, client_key, "
    "message_id, position) SELECT $1, id, 'alice', 'k1', gen_random_uuid(), 0 FROM conversations",
    "message_status": "INSERT INTO message_status (customer_id, conversation_id, message_id, "
    "user_ref, status) SELECT $1, id, gen_random_uuid(), 'bob', 1 FROM conversations",
}
PLATFORM_WRITTEN = {"tenant_fences"}  # gb_app may only read it
REFUSED = "row-level security|permission denied"
GLOBAL_TABLES = {"regions", "plans", "shards", "gb_schema_migrations", "log_watermarks"}


def owner_column(table: str) -> str:
    return "id" if table == "customers" else "customer_id"


@asynccontextmanager
async def as_role(
    conn: asyncpg.Connection, role: str, customer: uuid.UUID | str | None = None
) -> AsyncIterator[asyncpg.Connection]:
    """A transaction as ``role`` with ``gb.customer_id`` set (or not), as the app opens them."""
    async with conn.transaction():
        await conn.execute(f"SET LOCAL ROLE {role}")
        if customer is not None:
            await conn.execute("SELECT set_config('gb.customer_id', $1, true)", str(customer))
        yield conn


def tenant(
    conn: asyncpg.Connection, customer: uuid.UUID
) -> AbstractAsyncContextManager[asyncpg.Connection]:
    return as_role(conn, "gb_app", customer)


@pytest.fixture
async def conn(control_db: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(control_db)
    await connection.execute(
        "INSERT INTO shards (id, name, dsn) VALUES (0, 'shard0', $1)", control_db
    )
    yield connection
    await connection.close()


@pytest.fixture
async def tenants(conn: asyncpg.Connection) -> tuple[uuid.UUID, uuid.UUID]:
    """Two customers, each with one row in every tenant table, written as gb_app."""
    a, b = uuid.uuid4(), uuid.uuid4()
    for customer in (a, b):
        async with tenant(conn, customer):
            for table, sql in INSERTS.items():
                if table not in PLATFORM_WRITTEN:
                    assert await conn.execute(sql, customer) == "INSERT 0 1", table
        async with as_role(conn, "gb_platform"):
            for table in PLATFORM_WRITTEN:
                assert await conn.execute(INSERTS[table], customer) == "INSERT 0 1", table
    return a, b


async def app_may(conn: asyncpg.Connection, table: str, privilege: str) -> bool:
    allowed: bool = await conn.fetchval(
        "SELECT has_table_privilege('gb_app', $1, $2)", table, privilege
    )
    return allowed


async def owners(conn: asyncpg.Connection, table: str) -> list[uuid.UUID]:
    rows = await conn.fetch(f"SELECT {owner_column(table)} AS owner FROM {table}")  # no WHERE
    return [r["owner"] for r in rows]


async def test_every_tenant_table_is_guarded(conn: asyncpg.Connection) -> None:
    """The catalog agrees with INSERTS: every table carrying a customer is forced under the
    tenant policy, and only the global tables are not."""
    tables = await conn.fetch(
        """SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
                  EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = c.oid
                          AND a.attname = 'customer_id' AND NOT a.attisdropped) AS has_customer
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition"""
    )
    guarded = {r["relname"] for r in tables if r["relrowsecurity"] and r["relforcerowsecurity"]}
    assert guarded == set(INSERTS)
    assert {r["relname"] for r in tables} - guarded == GLOBAL_TABLES
    assert {r["relname"] for r in tables if r["has_customer"]} == set(INSERTS) - {"customers"}
    policies = await conn.fetch(
        "SELECT tablename, qual, with_check FROM pg_policies WHERE schemaname = 'public'"
    )
    assert {p["tablename"] for p in policies} == set(INSERTS)
    for p in policies:
        column = owner_column(p["tablename"])
        assert p["qual"] == p["with_check"] == f"({column} = gb_current_customer())"


async def test_a_tenant_sees_only_its_rows(
    conn: asyncpg.Connection, tenants: tuple[uuid.UUID, uuid.UUID]
) -> None:
    for customer in tenants:
        async with tenant(conn, customer):
            for table in INSERTS:
                assert await owners(conn, table) == [customer], table
                count = await conn.fetchval(
                    f"SELECT count(*) FROM {table} WHERE {owner_column(table)} <> $1", customer
                )
                assert count == 0, table
    async with as_role(conn, "gb_platform"):
        for table in INSERTS:
            assert sorted(await owners(conn, table)) == sorted(tenants), table


async def test_no_tenant_set_sees_nothing(
    conn: asyncpg.Connection, tenants: tuple[uuid.UUID, uuid.UUID]
) -> None:
    async with as_role(conn, "gb_app"):  # never set on this connection
        for table in INSERTS:
            assert await owners(conn, table) == [], table
    async with tenant(conn, tenants[0]):
        assert await owners(conn, "instances") == [tenants[0]]
    # After a tenant transaction the setting is back to empty, not left at the last tenant.
    async with as_role(conn, "gb_app"):
        for table in INSERTS:
            assert await owners(conn, table) == [], table
    async with as_role(conn, "gb_app", uuid.uuid4()):  # a tenant with no rows
        for table in INSERTS:
            assert await owners(conn, table) == [], table
    with pytest.raises(asyncpg.InvalidTextRepresentationError):
        async with as_role(conn, "gb_app", "not-a-uuid"):
            await owners(conn, "instances")


async def test_insert_for_another_tenant_is_refused(
    conn: asyncpg.Connection, tenants: tuple[uuid.UUID, uuid.UUID]
) -> None:
    a, b = tenants
    for table, sql in INSERTS.items():
        expected = "row-level security" if await app_may(conn, table, "INSERT") else REFUSED
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match=expected):
            async with tenant(conn, a):
                await conn.execute(sql, b)
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
        async with as_role(conn, "gb_app"):  # no tenant: nothing may be written
            await conn.execute(INSERTS["audit_log"], a)
    async with as_role(conn, "gb_platform"):
        for table in INSERTS:
            assert sorted(await owners(conn, table)) == sorted(tenants), table


async def test_update_and_delete_cannot_reach_another_tenant(
    conn: asyncpg.Connection, tenants: tuple[uuid.UUID, uuid.UUID]
) -> None:
    a, b = tenants
    for table in INSERTS:
        col = owner_column(table)
        for verb, sql in (
            ("UPDATE", f"UPDATE {table} SET {col} = {col} WHERE {col} = $1"),
            ("DELETE", f"DELETE FROM {table} WHERE {col} = $1"),
        ):
            if await app_may(conn, table, verb):
                async with tenant(conn, a):
                    assert await conn.execute(sql, b) == f"{verb} 0", table
            else:
                with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
                    async with tenant(conn, a):
                        await conn.execute(sql, b)
        # Handing one's own row over to another tenant is refused too.
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match=REFUSED):
            async with tenant(conn, a):
                await conn.execute(f"UPDATE {table} SET {col} = $1", b)
    # Deleting everything without a WHERE, child tables first, removes only the tenant's rows.
    deletable = [t for t in reversed(INSERTS) if await app_may(conn, t, "DELETE")]
    assert len(deletable) == len(INSERTS) - 2  # the tombstones and fences are kept from gb_app
    async with tenant(conn, a):
        for table in deletable:
            assert await conn.execute(f"DELETE FROM {table}") in ("DELETE 1", "DELETE 0"), table
    async with as_role(conn, "gb_platform"):
        for table in INSERTS:
            rows = await owners(conn, table)
            assert rows.count(b) == 1, table
            if table in deletable:
                assert a not in rows, table


async def test_partitions_are_reached_only_through_the_parent(
    conn: asyncpg.Connection, tenants: tuple[uuid.UUID, uuid.UUID]
) -> None:
    """A partition (or a detached month) has no grants: gb_app cannot bypass the parent's policy."""
    partition = await conn.fetchval(
        "SELECT tableoid::regclass::text FROM messages WHERE customer_id = $1", tenants[1]
    )
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
        async with tenant(conn, tenants[0]):
            await conn.fetch(f"SELECT * FROM {partition}")
