"""Tenant moves between two shard databases on the real PostgreSQL: online under writes (no row
lost or duplicated), the old shard emptied and fenced, and every failure before the switch undone.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import logging
import random
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import pytest

from gb.core.config import load_settings
from gb.core.storage import move as move_module
from gb.core.storage.database import Database, ShardUnavailable, UnknownCustomer
from gb.core.storage.move import (
    TENANT_FENCED_SQLSTATE,
    MoveError,
    TenantTable,
    abort_move,
    cli_tenant_move,
    move_tenant,
    tenant_tables,
)
from tests.support.pg import two_shards

__all__ = ["two_shards"]

POOL = 4
FAST: dict[str, Any] = {"fence_grace": 0.0, "freeze_timeout": 5.0}


@dataclass
class Env:
    db: Database
    control: str
    dsn: dict[int, str]  # shard id -> DSN
    one: int
    two: int


@pytest.fixture
async def env(two_shards: tuple[str, str, str]) -> AsyncIterator[Env]:
    control, dsn1, dsn2 = two_shards
    db = await Database.open(control, pool_size=POOL, map_ttl=60.0, freeze_timeout=5.0)
    try:
        one = (await db.add_shard("one", dsn1)).id
        two = (await db.add_shard("two", dsn2)).id
        yield Env(db, control, {one: dsn1, two: dsn2}, one, two)
    finally:
        await db.close()


async def sql(dsn: str, query: str, *args: object) -> list[asyncpg.Record]:
    """Rows read or written as the superuser (no row-level security) on a connection of its own."""
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetch(query, *args)
    finally:
        await conn.close()


async def script(dsn: str, text: str) -> None:
    """Statements (DDL, several at once) run as the superuser."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(text)
    finally:
        await conn.close()


async def customer(env: Env, shard: int) -> UUID:
    async with env.db.platform() as conn:
        cid: UUID = await conn.fetchval(
            "INSERT INTO customers (name, plan_id, region_id) VALUES ($1, 'pro', 'local') "
            "RETURNING id",
            f"c-{uuid.uuid4().hex[:12]}",
        )
    await env.db.assign(cid, shard)
    return cid


@dataclass
class Seeded:
    instance: UUID
    conversation: UUID
    messages: dict[UUID, tuple[str, dt.datetime]] = field(default_factory=dict)
    users: dict[UUID, str] = field(default_factory=dict)
    usage: set[UUID] = field(default_factory=set)
    subjects: dict[UUID, UUID | None] = field(default_factory=dict)


async def seed(db: Database, cid: UUID, messages: int = 120) -> Seeded:
    """Rows of one customer in every tenant table, through ``db.tenant`` (as gb_app)."""
    now = dt.datetime.now(dt.UTC)
    async with db.tenant(cid) as conn:
        inst = await conn.fetchval(
            "INSERT INTO instances (customer_id, name) VALUES ($1, 'bot-a') RETURNING id", cid
        )
        await conn.execute("INSERT INTO instances (customer_id, name) VALUES ($1, 'bot-b')", cid)
        await conn.execute(
            "INSERT INTO instance_features (customer_id, instance_id, feature, enabled) "
            "VALUES ($1, $2, 'rooms', true), ($1, $2, 'bots', false)",
            cid,
            inst,
        )
        await conn.execute(
            "INSERT INTO admin_settings (customer_id, instance_id, key, value) "
            "VALUES ($1, $2, 'token', 'secret')",
            cid,
            inst,
        )
        for table, extra, value in (
            ("applications", "name", "app"),
            ("channels", "kind", "web"),
            ("packages", "name", "kb1"),
            ("rooms", "name", "hall"),
        ):
            await conn.execute(
                f"INSERT INTO {table} (customer_id, instance_id, {extra}) VALUES ($1, $2, $3)",
                cid,
                inst,
                value,
            )
        await conn.execute(
            "INSERT INTO schedules (customer_id, instance_id, name, schedule) "
            "VALUES ($1, $2, 'job;1', '* * * * *')",
            cid,
            inst,
        )
        users = await conn.fetch(
            "INSERT INTO users (customer_id, instance_id, user_system_id, display_name) "
            "SELECT $1, $2, 'u' || g, 'user ' || g FROM generate_series(1, 30) g "
            "RETURNING id, display_name",
            cid,
            inst,
        )
        groups = await conn.fetch(
            "INSERT INTO groups (customer_id, instance_id, display_name) "
            "SELECT $1, $2, 'group ' || g FROM generate_series(1, 3) g RETURNING id",
            cid,
            inst,
        )
        await conn.executemany(
            "INSERT INTO user_groups (customer_id, instance_id, user_id, group_id) "
            "VALUES ($1, $2, $3, $4)",
            [(cid, inst, u["id"], groups[i % 3]["id"]) for i, u in enumerate(users)],
        )
        # A chain of subjects where each row points at a row written after it: copied in
        # row_version order, every child arrives before its parent (deferred foreign keys).
        subjects = [
            r["id"]
            for r in await conn.fetch(
                "INSERT INTO subjects (customer_id, instance_id, title) "
                "SELECT $1, $2, 's' || g FROM generate_series(1, 25) g RETURNING id",
                cid,
                inst,
            )
        ]
        await conn.executemany(
            "UPDATE subjects SET parent_subject_id = $2 WHERE id = $1",
            list(itertools.pairwise(subjects)),
        )
        answer = await conn.fetchval(
            "INSERT INTO answers (customer_id, instance_id, content) VALUES ($1, $2, 'yes') "
            "RETURNING id",
            cid,
            inst,
        )
        await conn.execute(
            "INSERT INTO questions (customer_id, instance_id, answer_id, content) "
            "SELECT $1, $2, $3, 'q' || g FROM generate_series(1, 5) g",
            cid,
            inst,
            answer,
        )
        await conn.execute(
            "INSERT INTO question_alternates (customer_id, instance_id, question_typed, "
            "question_text) VALUES ($1, $2, 'hi', 'hello')",
            cid,
            inst,
        )
        conversation = await conn.fetchval(
            "INSERT INTO conversations (customer_id, instance_id, started_by_user_id, "
            "start_subject_id, text) VALUES ($1, $2, $3, $4, 'hello') RETURNING id",
            cid,
            inst,
            users[0]["id"],
            subjects[0],
        )
        await conn.execute(
            "INSERT INTO conversation_messages (customer_id, instance_id, conversation_id, "
            "content, created_at) SELECT $1, $2, $3, 'x' || g, "
            "$4::timestamptz - (g % 2) * interval '1 month' FROM generate_series(1, 10) g",
            cid,
            inst,
            conversation,
            now,
        )
        await conn.execute(
            "INSERT INTO logs (customer_id, instance_id, kind, message, created_at) "
            "SELECT $1, $2, 'i', 'x' || g, $3::timestamptz - (g % 2) * interval '1 month' "
            "FROM generate_series(1, 10) g",
            cid,
            inst,
            now,
        )
        rows = await conn.fetch(
            "INSERT INTO messages (id, customer_id, instance_id, conversation_id, kind, "
            "content, created_at) SELECT gen_random_uuid(), $1, $2, $3, 'text', 'm' || g, "
            "$4::timestamptz - (g % 2) * interval '1 month' FROM generate_series(1, $5::int) g "
            "RETURNING id, content, created_at",
            cid,
            inst,
            conversation,
            now,
            messages,
        )
        usage = await conn.fetch(
            "INSERT INTO usage_events (customer_id, instance_id, kind, quantity) "
            "SELECT $1, $2, 'message', g FROM generate_series(1, 5) g RETURNING id",
            cid,
            inst,
        )
        await conn.execute(
            "INSERT INTO usage_rollups (customer_id, kind, period, period_start, quantity) "
            "VALUES ($1, 'message', 'day', current_date, 15)",
            cid,
        )
        await conn.execute(
            "INSERT INTO audit_log (customer_id, actor, action, target) "
            "VALUES ($1, 'admin', 'create', 'bot-a')",
            cid,
        )
    return Seeded(
        inst,
        conversation,
        messages={r["id"]: (r["content"], r["created_at"]) for r in rows},
        users={u["id"]: u["display_name"] for u in users},
        usage={r["id"] for r in usage},
        subjects=dict(zip(subjects, [*subjects[1:], None], strict=True)),
    )


async def fingerprint(dsn: str, cid: UUID) -> dict[str, tuple[int, int]]:
    """Per tenant table: the customer's row count and a checksum of its rows (row_version too)."""
    conn = await asyncpg.connect(dsn)
    try:
        result = {}
        for table in await tenant_tables(conn):
            row = await conn.fetchrow(
                f"SELECT count(*), coalesce(sum(hashtext(t::text)), 0) FROM {table.qualified} t "
                "WHERE customer_id = $1",
                cid,
            )
            assert row is not None
            result[table.name] = (row[0], row[1])
        return result
    finally:
        await conn.close()


def total(prints: dict[str, tuple[int, int]]) -> int:
    return sum(count for count, _ in prints.values())


async def map_row(env: Env, cid: UUID) -> tuple[int, str, int]:
    row = (await sql(env.control, "SELECT * FROM shard_map WHERE customer_id = $1", cid))[0]
    return row["shard_id"], row["state"], row["version"]


async def fences(dsn: str, cid: UUID) -> list[str]:
    rows = await sql(dsn, "SELECT state FROM tenant_fences WHERE customer_id = $1", cid)
    return [r["state"] for r in rows]


async def add_message(db: Database, cid: UUID, seeded: Seeded, content: str) -> None:
    async with db.tenant(cid) as conn:
        await conn.execute(
            "INSERT INTO messages (id, customer_id, instance_id, conversation_id, kind, content) "
            "VALUES (gen_random_uuid(), $1, $2, $3, 'text', $4)",
            cid,
            seeded.instance,
            seeded.conversation,
            content,
        )


async def assert_undone(env: Env, cid: UUID, before: dict[str, tuple[int, int]]) -> None:
    """The customer is back on shard one as it was, nothing of it on shard two, writable."""
    assert (await map_row(env, cid))[:2] == (env.one, "active")
    assert await fingerprint(env.dsn[env.one], cid) == before
    assert total(await fingerprint(env.dsn[env.two], cid)) == 0
    assert await fences(env.dsn[env.one], cid) == []
    assert await fences(env.dsn[env.two], cid) == []
    for dsn in env.dsn.values():
        assert not await sql(dsn, "SELECT FROM deleted_rows WHERE customer_id = $1", cid)


# -- the online move -----------------------------------------------------------------------


@dataclass
class Ledger:
    """What the writer was told succeeded: the state the moved customer must end up in."""

    messages: dict[UUID, tuple[str, dt.datetime]]
    users: dict[UUID, str]
    usage: set[UUID]
    acked: int = 0
    refused: list[str] = field(default_factory=list)


async def churn(
    db: Database, cid: UUID, seeded: Seeded, ledger: Ledger, stop: asyncio.Event
) -> None:
    """Inserts, updates (some moving rows between partitions), deletes: bounded in count/time."""
    rng = random.Random(3)
    now = dt.datetime.now(dt.UTC)
    deadline = time.monotonic() + 8.0
    for n in range(2000):
        if stop.is_set() or time.monotonic() > deadline:
            return
        pick = rng.random()
        try:
            if pick < 0.4 or not ledger.messages:
                when = now - dt.timedelta(days=rng.choice((0, 31)))
                async with db.tenant(cid) as conn:
                    mid = await conn.fetchval(
                        "INSERT INTO messages (id, customer_id, instance_id, conversation_id, "
                        "kind, content, created_at) VALUES (gen_random_uuid(), $1, $2, $3, "
                        "'text', $4, $5) RETURNING id",
                        cid,
                        seeded.instance,
                        seeded.conversation,
                        f"new {n}",
                        when,
                    )
                ledger.messages[mid] = (f"new {n}", when)
            elif pick < 0.6:
                mid = rng.choice(sorted(ledger.messages))
                when = now - dt.timedelta(days=rng.choice((0, 31)), seconds=n)
                async with db.tenant(cid) as conn:
                    await conn.execute(
                        "UPDATE messages SET content = $2, created_at = $3 WHERE id = $1",
                        mid,
                        f"edit {n}",
                        when,
                    )
                ledger.messages[mid] = (f"edit {n}", when)
            elif pick < 0.75:
                mid = rng.choice(sorted(ledger.messages))
                async with db.tenant(cid) as conn:
                    await conn.execute("DELETE FROM messages WHERE id = $1", mid)
                del ledger.messages[mid]
            elif pick < 0.9:
                uid = rng.choice(sorted(ledger.users))
                async with db.tenant(cid) as conn:
                    await conn.execute(
                        "UPDATE users SET display_name = $2 WHERE id = $1", uid, f"name {n}"
                    )
                ledger.users[uid] = f"name {n}"
            else:
                # A platform job (like the usage flush): no tenant fence of its own, the row
                # trigger fences it.
                shard = await db.shard_of(cid)
                async with db.platform(shard.id) as conn:
                    eid = await conn.fetchval(
                        "INSERT INTO usage_events (customer_id, kind, quantity) "
                        "VALUES ($1, 'message', 1) RETURNING id",
                        cid,
                    )
                ledger.usage.add(eid)
            ledger.acked += 1
        except (ShardUnavailable, asyncpg.PostgresError) as exc:
            ledger.refused.append(getattr(exc, "sqlstate", type(exc).__name__))
        await asyncio.sleep(0.001)


async def test_a_customer_moves_online_while_it_writes(env: Env) -> None:
    mover = await customer(env, env.one)
    other = await customer(env, env.one)
    seeded = await seed(env.db, mover)
    await seed(env.db, other, messages=10)
    other_before = await fingerprint(env.dsn[env.one], other)
    seeded_counts = {n: c for n, (c, _) in (await fingerprint(env.dsn[env.one], mover)).items()}
    version = (await map_row(env, mover))[2]

    ledger = Ledger(dict(seeded.messages), dict(seeded.users), set(seeded.usage))
    stop = asyncio.Event()
    writer = asyncio.create_task(churn(env.db, mover, seeded, ledger, stop))
    await asyncio.sleep(0.4)
    acked_before = ledger.acked
    report = await move_tenant(
        env.db,
        mover,
        env.two,
        batch=16,
        settle_rows=-1,
        max_rounds=3,
        fence_grace=0.3,
        freeze_timeout=5.0,
    )
    acked_during = ledger.acked - acked_before
    await asyncio.sleep(0.4)
    stop.set()
    await writer
    print(  # the measured freeze, for the run's log
        f"\nmove: freeze {report.freeze_seconds * 1000:.1f} ms, "
        f"total {report.total_seconds:.2f} s, "
        f"{report.catchup_rounds} rounds, {report.catchup_changes} changes caught up, "
        f"{ledger.acked} writes acked ({acked_during} during the move), "
        f"{len(ledger.refused)} refused {sorted(set(ledger.refused))}"
    )

    assert acked_during > 20
    assert report.from_shard == env.one and report.to_shard == env.two
    assert report.catchup_rounds == 4  # three rounds and the final one
    assert report.copied_rows >= sum(seeded_counts.values())
    assert 0 < report.freeze_seconds < 2.0
    for name in ("instances", "users", "subjects", "user_groups", "logs", "audit_log"):
        assert report.rows[name] == seeded_counts[name]
    # The map switched, its version bumped by the freeze and by the switch.
    assert await map_row(env, mover) == (env.two, "active", version + 2)
    assert report.map_version == version + 2
    assert (await env.db.shard_of(mover)).id == env.two

    # Every acknowledged write is on the new shard exactly once; nothing else is.
    new = env.dsn[env.two]
    rows = await sql(
        new, "SELECT id, content, created_at FROM messages WHERE customer_id = $1", mover
    )
    assert len(rows) == len({r["id"] for r in rows})
    assert {r["id"]: (r["content"], r["created_at"]) for r in rows} == ledger.messages
    users = await sql(new, "SELECT id, display_name FROM users WHERE customer_id = $1", mover)
    assert {r["id"]: r["display_name"] for r in users} == ledger.users
    usage = await sql(new, "SELECT id FROM usage_events WHERE customer_id = $1", mover)
    assert {r["id"] for r in usage} == ledger.usage
    subjects = await sql(
        new, "SELECT id, parent_subject_id FROM subjects WHERE customer_id = $1", mover
    )
    assert {r["id"]: r["parent_subject_id"] for r in subjects} == seeded.subjects
    assert {r["shard_id"] for r in await sql(new, "SELECT shard_id FROM instances")} == {env.two}
    assert not await sql(new, "SELECT FROM deleted_rows")

    # The old shard: nothing of the mover left, fenced; the other customer untouched.
    old = env.dsn[env.one]
    assert total(await fingerprint(old, mover)) == 0
    assert not await sql(old, "SELECT FROM deleted_rows WHERE customer_id = $1", mover)
    assert await fences(old, mover) == ["moved"]
    assert await fingerprint(old, other) == other_before
    assert (await map_row(env, other))[0] == env.one

    # A writer that still believes the old map is refused there, not silently lost.
    conn = await asyncpg.connect(old)
    try:
        async with conn.transaction():
            await conn.execute("SET LOCAL ROLE gb_app")
            await conn.execute("SELECT set_config('gb.customer_id', $1, true)", str(mover))
            with pytest.raises(asyncpg.PostgresError) as refused:
                await conn.execute(
                    "INSERT INTO instances (customer_id, name) VALUES ($1, 'late')", mover
                )
        assert refused.value.sqlstate == TENANT_FENCED_SQLSTATE
    finally:
        await conn.close()

    # A finished move is not undone; moving back works and lifts the old fence on arrival.
    assert await abort_move(env.db, mover, env.two) is False
    back = await move_tenant(env.db, mover, env.one, **FAST)
    assert back.rows == report.rows | {
        "messages": len(ledger.messages),
        "users": len(ledger.users),
        "usage_events": len(ledger.usage),
    }
    assert await fences(old, mover) == []
    assert await fences(new, mover) == ["moved"]
    await add_message(env.db, mover, seeded, "home again")


# -- refusals --------------------------------------------------------------------------------


async def test_moves_that_are_refused(env: Env) -> None:
    cid = await customer(env, env.one)
    with pytest.raises(UnknownCustomer):
        await move_tenant(env.db, uuid.uuid4(), env.two)
    with pytest.raises(MoveError, match="already on shard"):
        await move_tenant(env.db, cid, env.one)
    with pytest.raises(MoveError, match="unknown shard 9"):
        await move_tenant(env.db, cid, 9)
    await sql(env.control, "UPDATE shards SET status = 'draining' WHERE id = $1", env.two)
    with pytest.raises(MoveError, match="is draining, not active"):
        await move_tenant(env.db, cid, env.two)
    await sql(env.control, "UPDATE shards SET status = 'active' WHERE id = $1", env.two)

    # One move per customer at a time.
    key = int.from_bytes(cid.bytes[:4], "big", signed=True)
    holder = await asyncpg.connect(env.control)
    try:
        await holder.execute("SELECT pg_advisory_lock($1, $2)", move_module._MOVE_LOCK_CLASS, key)
        with pytest.raises(MoveError, match="already running"):
            await move_tenant(env.db, cid, env.two)
    finally:
        await holder.close()

    # Shards whose tenant tables differ: nothing is touched.
    await seed(env.db, cid, messages=5)
    before = await fingerprint(env.dsn[env.one], cid)
    version = (await map_row(env, cid))[2]
    await sql(env.dsn[env.two], "DROP TABLE audit_log")
    with pytest.raises(MoveError, match="differ from those of shard 1: audit_log"):
        await move_tenant(env.db, cid, env.two)
    assert await map_row(env, cid) == (env.one, "active", version)
    assert await fingerprint(env.dsn[env.one], cid) == before

    # A shard without change tracking cannot be moved from.
    await sql(env.dsn[env.one], "DROP FUNCTION gb_track_row CASCADE")
    with pytest.raises(MoveError, match="no tracked tenant tables"):
        await move_tenant(env.db, cid, env.two)

    await foreign_key_cycles_are_refused(env.dsn[env.two])


# -- failures before the switch are undone ---------------------------------------------------


async def a_target_that_refuses_rows_midway_is_cleaned_up(env: Env) -> None:
    cid = await customer(env, env.one)
    seeded = await seed(env.db, cid, messages=20)
    await add_message(env.db, cid, seeded, "poison")
    before = await fingerprint(env.dsn[env.one], cid)
    version = (await map_row(env, cid))[2]
    await sql(
        env.dsn[env.two],
        "ALTER TABLE messages ADD CONSTRAINT no_poison CHECK (content <> 'poison')",
    )
    with pytest.raises(MoveError, match=r"failed and was undone: .*no_poison"):
        await move_tenant(env.db, cid, env.two, batch=8, **FAST)
    await assert_undone(env, cid, before)
    assert (await map_row(env, cid))[2] == version + 1
    await add_message(env.db, cid, seeded, "still here")


async def a_checksum_mismatch_is_undone_and_a_retry_succeeds(env: Env) -> None:
    cid = await customer(env, env.one)
    seeded = await seed(env.db, cid, messages=10)
    before = await fingerprint(env.dsn[env.one], cid)
    await script(
        env.dsn[env.two],
        "CREATE FUNCTION mangle() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN NEW.display_name := NEW.display_name || '!'; RETURN NEW; END $$;"
        "CREATE TRIGGER mangle BEFORE INSERT ON groups FOR EACH ROW EXECUTE FUNCTION mangle()",
    )
    with pytest.raises(MoveError, match=r"checksums differ .*: groups \(3, "):
        await move_tenant(env.db, cid, env.two, **FAST)
    await assert_undone(env, cid, before)
    await add_message(env.db, cid, seeded, "after the failure")

    await sql(env.dsn[env.two], "DROP TRIGGER mangle ON groups")
    report = await move_tenant(env.db, cid, env.two, **FAST)
    assert report.rows["groups"] == 3
    assert report.rows["messages"] == 11


async def writers_that_do_not_finish_fail_the_move_and_cancelling_undoes_it(env: Env) -> None:
    cid = await customer(env, env.one)
    seeded = await seed(env.db, cid, messages=10)
    before = await fingerprint(env.dsn[env.one], cid)
    async with env.db.tenant(cid) as conn:  # holds the customer's write fence open
        with pytest.raises(MoveError, match=r"did not finish within 0.2 s"):
            await move_tenant(env.db, cid, env.two, freeze_timeout=0.2, fence_grace=0.0)
        await assert_undone(env, cid, before)

        task = asyncio.create_task(move_tenant(env.db, cid, env.two, **FAST))
        await asyncio.sleep(0.5)
        assert (await map_row(env, cid))[1] == "moving"
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await assert_undone(env, cid, before)
        await conn.execute(
            "INSERT INTO messages (id, customer_id, instance_id, conversation_id, kind) "
            "VALUES (gen_random_uuid(), $1, $2, $2, 'text')",
            cid,
            seeded.instance,
        )


async def a_final_round_over_the_freeze_timeout_is_undone(env: Env) -> None:
    cid = await customer(env, env.one)
    await seed(env.db, cid, messages=10)
    before = await fingerprint(env.dsn[env.one], cid)
    with pytest.raises(MoveError, match=r"took more than 0.001 s"):
        await move_tenant(env.db, cid, env.two, max_rounds=0, freeze_timeout=0.001)
    await assert_undone(env, cid, before)


async def a_shard_map_changed_under_the_move_is_undone(env: Env, refused: str) -> None:
    cid = await customer(env, env.one)
    await seed(env.db, cid, messages=5)
    before = await fingerprint(env.dsn[env.one], cid)
    condition = "NEW.state = 'frozen'" if refused == "freeze" else "NEW.shard_id <> OLD.shard_id"
    await script(
        env.control,
        "CREATE FUNCTION hold_map() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN IF {condition} THEN RETURN NULL; END IF; RETURN NEW; END $$;"
        "CREATE TRIGGER hold_map BEFORE UPDATE ON shard_map FOR EACH ROW "
        "EXECUTE FUNCTION hold_map()",
    )
    with pytest.raises(MoveError, match=r"shard map entry of customer .* changed"):
        await move_tenant(env.db, cid, env.two, **FAST)
    await script(env.control, "DROP TRIGGER hold_map ON shard_map; DROP FUNCTION hold_map()")
    await assert_undone(env, cid, before)


async def an_interrupted_move_is_resumed_or_aborted(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    cid = await customer(env, env.one)
    seeded = await seed(env.db, cid, messages=10)
    before = await fingerprint(env.dsn[env.one], cid)

    async def leave_interrupted() -> None:
        # What a move that died while frozen leaves: the state, the fence, a partial copy.
        await sql(env.control, "UPDATE shard_map SET state = 'frozen' WHERE customer_id = $1", cid)
        await sql(env.dsn[env.one], "INSERT INTO tenant_fences VALUES ($1, 'tracking')", cid)
        await sql(
            env.dsn[env.two],
            "INSERT INTO instances (customer_id, name) VALUES ($1, 'partial')",
            cid,
        )

    await leave_interrupted()
    assert await abort_move(env.db, cid, env.two) is True
    await assert_undone(env, cid, before)

    await leave_interrupted()
    with caplog.at_level(logging.WARNING, logger="gb.core.storage.move"):
        report = await move_tenant(env.db, cid, env.two, **FAST)
    assert "left frozen by an interrupted move" in caplog.text
    assert report.rows["instances"] == 2
    await add_message(env.db, cid, seeded, "resumed")


async def a_failed_clean_up_after_the_switch_keeps_the_move(env: Env) -> None:
    cid = await customer(env, env.one)
    seeded = await seed(env.db, cid, messages=10)
    before = await fingerprint(env.dsn[env.one], cid)
    await script(
        env.dsn[env.one],
        "CREATE FUNCTION keep() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'logs are kept'; END $$;"
        "CREATE TRIGGER keep BEFORE DELETE ON logs FOR EACH ROW EXECUTE FUNCTION keep()",
    )
    with pytest.raises(MoveError, match=r"moved to shard 2, but removing .* logs are kept"):
        await move_tenant(env.db, cid, env.two, **FAST)
    assert (await map_row(env, cid))[:2] == (env.two, "active")
    moved = await fingerprint(env.dsn[env.two], cid)
    assert {n: c for n, (c, _) in moved.items()} == {n: c for n, (c, _) in before.items()}
    assert (await fingerprint(env.dsn[env.one], cid))["logs"][0] == 10  # fenced leftovers
    await add_message(env.db, cid, seeded, "on the new shard")

    # Moving back clears the leftovers first.
    await sql(env.dsn[env.one], "DROP TRIGGER keep ON logs")
    report = await move_tenant(env.db, cid, env.one, **FAST)
    assert report.rows["logs"] == 10
    assert report.rows["messages"] == 11


async def foreign_key_cycles_are_refused(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        tables = await tenant_tables(conn)
        names = [t.name for t in tables]
        assert names.index("instances") < names.index("users") < names.index("user_groups")
        assert names.index("answers") < names.index("questions")
        assert [t.name for t in tables if t.self_referencing] == ["subjects"]
        assert TenantTable("x", ("a",), ("a",)).qualified == 'public."x"'
        await conn.execute(
            "CREATE TABLE a (id int PRIMARY KEY, customer_id uuid, b int);"
            "CREATE TABLE b (id int PRIMARY KEY, customer_id uuid, a int REFERENCES a);"
            "ALTER TABLE a ADD FOREIGN KEY (b) REFERENCES b;"
            "SELECT gb_track_changes('a'), gb_track_changes('b');"
        )
        with pytest.raises(MoveError, match=r"cycle between tenant tables \['a', 'b'\]"):
            await tenant_tables(conn)
        await conn.execute("CREATE TABLE c (customer_id uuid)")
        with pytest.raises(asyncpg.PostgresError, match="has no primary key"):
            await conn.execute("SELECT gb_track_changes('c')")
    finally:
        await conn.close()


# -- the CLI ---------------------------------------------------------------------------------


async def the_cli_moves_a_customer_by_name(
    env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(move_module, "FENCE_GRACE", 0.0)
    cid = await customer(env, env.one)
    await seed(env.db, cid, messages=3)
    async with env.db.platform() as conn:
        name = await conn.fetchval("SELECT name FROM customers WHERE id = $1", cid)
    settings = load_settings(
        {"GB_DATABASE_URL": env.control, "GB_DATA_DIR": str(tmp_path), "GB_DB_POOL_SIZE": "2"}
    )
    with pytest.raises(MoveError, match="no customer named 'nobody'"):
        await cli_tenant_move(settings, "nobody", env.two)
    with pytest.raises(UnknownCustomer):
        await cli_tenant_move(settings, str(uuid.uuid4()), env.two)
    report = await cli_tenant_move(settings, name, env.two)
    assert (report.customer_id, report.to_shard, report.rows["messages"]) == (cid, env.two, 3)
    empty = await customer(env, env.one)
    report = await cli_tenant_move(settings, str(empty), env.two)
    assert report.copied_rows == 0
    assert set(report.rows.values()) == {0}
    assert (await map_row(env, empty))[0] == env.two


async def test_failures_before_the_switch_are_undone(env: Env) -> None:
    await a_target_that_refuses_rows_midway_is_cleaned_up(env)
    await a_checksum_mismatch_is_undone_and_a_retry_succeeds(env)
    await writers_that_do_not_finish_fail_the_move_and_cancelling_undoes_it(env)
    await a_final_round_over_the_freeze_timeout_is_undone(env)
    await a_shard_map_changed_under_the_move_is_undone(env, "freeze")
    await a_shard_map_changed_under_the_move_is_undone(env, "switch")


async def test_interrupted_moves_failed_clean_ups_and_the_cli(
    env: Env, caplog: pytest.LogCaptureFixture, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await an_interrupted_move_is_resumed_or_aborted(env, caplog)
    await a_failed_clean_up_after_the_switch_keeps_the_move(env)
    await the_cli_moves_a_customer_by_name(env, tmp_path, monkeypatch)
