"""The service's building blocks: keyset cursors, sort checks, and how database constraint
violations become 409/422 naming the field (against real PostgreSQL errors)."""

from __future__ import annotations

import base64
import datetime as dt
import uuid

import asyncpg
import orjson
import pytest

from gb.core.tenancy.service import (
    ConflictError,
    InvalidError,
    Page,
    PageRequest,
    Select,
    _decoded,
    _row,
    constraint_errors,
    decode_cursor,
    encode_cursor,
)
from tests.core.api.tenancy_fixtures import Env, api, control_db

__all__ = ["api", "control_db"]

COLUMNS = (
    ("created_at", "created_at", "ts"),
    ("day", "day", "date"),
    ("id", "id", "uuid"),
    ("name", "name", "text"),
)


def _raw(payload: object) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(payload)).decode().rstrip("=")


def test_cursor_round_trip() -> None:
    values = [
        dt.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC),
        dt.date(2026, 5, 6),
        uuid.uuid4(),
        "zoë",
    ]
    cursor = encode_cursor("-name", values)
    assert "=" not in cursor
    assert decode_cursor(cursor, "-name", COLUMNS) == values


@pytest.mark.parametrize(
    "cursor",
    [
        "%%%",
        _raw("just text"),
        _raw(["name", ["a"]]),  # too few values
        _raw(["name", [1, "2026-01-01", str(uuid.uuid4()), "x"]]),  # not text
        _raw(["name", ["yesterday", "2026-01-01", str(uuid.uuid4()), "x"]]),
        _raw(["name", ["2026-01-01T00:00:00+00:00", "2026-01-01", "not-a-uuid", "x"]]),
    ],
)
def test_malformed_cursors(cursor: str) -> None:
    with pytest.raises(InvalidError, match=r"^cursor: malformed"):
        decode_cursor(cursor, "name", COLUMNS)


def test_cursor_bound_to_its_sort() -> None:
    cursor = encode_cursor("name", ["2026-01-01T00:00:00+00:00", "2026-01-01", uuid.uuid4(), "x"])
    with pytest.raises(InvalidError, match="made for sort=name, not sort=-name"):
        decode_cursor(cursor, "-name", COLUMNS)


def test_json_columns_already_decoded_stay() -> None:
    assert _row({"a": {"x": 1}, "b": "[1]"}, "a", "b") == {"a": {"x": 1}, "b": [1]}  # type: ignore[arg-type]
    page = _decoded(Page([{"a": {"x": 1}}, {"a": "{}"}], None), "a")
    assert page.items == [{"a": {"x": 1}}, {"a": {}}]


async def test_unknown_sort_is_refused(api: Env) -> None:
    async with api.db.platform() as conn:
        with pytest.raises(InvalidError, match="sort: must be one of created_at, -created_at"):
            await Select("SELECT id FROM regions").page(
                conn, PageRequest(sort="size"), {"created_at": COLUMNS[:1]}
            )


async def test_constraint_errors_name_the_field(api: Env) -> None:
    c = await api.customer("constraints")
    cid = uuid.UUID(c["id"])
    async with api.db.platform() as conn:
        with pytest.raises(InvalidError, match=r"^id: value not allowed$"):
            async with conn.transaction():
                with constraint_errors():
                    await conn.execute("INSERT INTO regions (id, name) VALUES ('X', 'x')")
        with pytest.raises(ConflictError, match=r"^customers: still in use"):
            async with conn.transaction():
                with constraint_errors():
                    await conn.execute("DELETE FROM plans WHERE id = 'pro'")
        with pytest.raises(InvalidError, match=r"^plan_id: nope does not exist$"):
            async with conn.transaction():
                with constraint_errors():
                    await conn.execute(
                        "INSERT INTO customers (name, plan_id, region_id)"
                        " VALUES ('z', 'nope', 'local')"
                    )
    # Under row-level security PostgreSQL withholds the detail: the constraint's name tells.
    async with api.db.tenant(cid) as conn:
        await conn.execute("INSERT INTO instances (customer_id, name) VALUES ($1, 'dupe')", cid)
        with pytest.raises(ConflictError, match=r"^name: already exists$"):
            async with conn.transaction():
                with constraint_errors():
                    await conn.execute(
                        "INSERT INTO instances (customer_id, name) VALUES ($1, 'dupe')", cid
                    )
        with pytest.raises(InvalidError, match=r"^agent_mode: value not allowed$"):
            async with conn.transaction():
                with constraint_errors():
                    await conn.execute(
                        "INSERT INTO users (customer_id, instance_id, user_system_id, agent_mode)"
                        " SELECT $1, id, 'u', 'robot' FROM instances",
                        cid,
                    )
    # Not a constraint violation: passes through untouched.
    with pytest.raises(asyncpg.DataError), constraint_errors():
        raise asyncpg.DataError("bad")


async def test_rate_quota_refusal_is_429(api: Env) -> None:
    from fastapi import APIRouter

    from gb.core.tenancy.quotas import QuotaExceeded, QuotaName

    router = APIRouter()

    @router.get("/v1/test-rate")
    async def rate() -> None:
        raise QuotaExceeded(QuotaName.MESSAGES_PER_DAY, 10)

    api.app.include_router(router)
    r = await api.client.get("/v1/test-rate")
    assert r.status_code == 429
    assert r.json()["error"] == {
        "code": "QUOTA_EXCEEDED",
        "message": "quota messages_per_day exceeded (limit 10)",
        "quota": "messages_per_day",
        "limit": 10,
    }
