"""Invoices priced from the month roll-ups on the real PostgreSQL: lines, rounding, replacing a
draft, refusing to touch an issued invoice."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from uuid import UUID

import asyncpg
import pytest

from gb.core.storage.database import Database, UnknownCustomer
from gb.core.tenancy.billing import InvoiceLocked, invoice, line_amount_cents
from gb.core.tenancy.metering import NIL_UUID, UsageRecorder, rollup

from ...support.pg import control_db, two_shards

__all__ = ["control_db", "two_shards"]

MAY = dt.date(2025, 5, 1)


@pytest.fixture
async def db(control_db: str) -> AsyncIterator[Database]:
    database = await Database.open(control_db, pool_size=3)
    yield database
    await database.close()


async def new_customer(db: Database, plan: str = "pro", shard: int = 0) -> UUID:
    async with db.platform() as conn:
        customer: UUID = await conn.fetchval(
            "INSERT INTO customers (name, plan_id, region_id) VALUES ($1, $2, 'local') "
            "RETURNING id",
            f"c-{uuid.uuid4().hex[:12]}",
            plan,
        )
    await db.assign(customer, shard)
    return customer


async def set_month_usage(
    db: Database, customer: UUID, month: dt.date, usage: dict[str, int]
) -> None:
    """Month roll-up rows (customer-wide), as the roll-up would leave them."""
    shard = await db.shard_of(customer)
    async with db.platform(shard.id) as conn:
        await conn.executemany(
            "INSERT INTO usage_rollups (customer_id, instance_id, kind, period, period_start, "
            "quantity) VALUES ($1, $2, $3, 'month', $4, $5) "
            "ON CONFLICT (customer_id, instance_id, kind, period, period_start) "
            "DO UPDATE SET quantity = EXCLUDED.quantity",
            [(customer, NIL_UUID, kind, month, quantity) for kind, quantity in usage.items()],
        )
        # A per-instance row is not billed twice.
        await conn.execute(
            "INSERT INTO usage_rollups (customer_id, instance_id, kind, period, period_start, "
            "quantity) VALUES ($1, $2, 'message', 'month', $3, 999999) ON CONFLICT DO NOTHING",
            customer,
            uuid.uuid4(),
            month,
        )


async def read_invoice(
    db: Database, invoice_id: UUID
) -> tuple[asyncpg.Record, list[tuple[object, ...]]]:
    async with db.platform() as conn:
        head = await conn.fetchrow("SELECT * FROM invoices WHERE id = $1", invoice_id)
        lines = await conn.fetch(
            "SELECT kind, quantity, unit_price_mcents, amount_cents, instance_id, customer_id "
            "FROM invoice_lines WHERE invoice_id = $1 ORDER BY kind",
            invoice_id,
        )
    assert head is not None
    assert all(line["customer_id"] == head["customer_id"] for line in lines)
    assert all(line["instance_id"] is None for line in lines)
    return head, [
        (r["kind"], r["quantity"], r["unit_price_mcents"], r["amount_cents"]) for r in lines
    ]


def test_amounts_round_half_up_to_cents() -> None:
    assert line_amount_cents(0, 10) == 0
    assert line_amount_cents(49, 10) == 0  # 0.49 cent
    assert line_amount_cents(50, 10) == 1  # 0.5 cent: up
    assert line_amount_cents(12345, 10) == 123  # 123.45 cents
    assert line_amount_cents(1, 1500) == 2  # 1.5 cents: up
    assert line_amount_cents(3, 333) == 1  # 0.999 cent


async def test_invoice_prices_the_month(db: Database) -> None:
    customer = await new_customer(db, "pro")  # 4900 cents; message 10, bot_run 50 mcents
    await set_month_usage(
        db, customer, MAY, {"message": 12345, "bot_run": 10, "storage_byte_day": 10**9}
    )
    invoice_id = await invoice(db, customer, MAY)
    head, lines = await read_invoice(db, invoice_id)
    assert lines == [
        ("bot_run", Decimal(10), 50, 1),  # 0.5 cent: up
        ("message", Decimal(12345), 10, 123),
        ("storage_byte_day", Decimal(10**9), 0, 0),
        ("subscription", Decimal(1), 4_900_000, 4900),
    ]
    assert head["total_cents"] == 4900 + 123 + 1
    assert (head["period_start"], head["period_end"]) == (MAY, dt.date(2025, 6, 1))
    assert (head["plan_id"], head["currency"], head["status"]) == ("pro", "USD", "draft")


async def test_a_month_without_usage_is_the_subscription(db: Database) -> None:
    customer = await new_customer(db, "free")
    head, lines = await read_invoice(db, await invoice(db, customer, dt.date(2025, 12, 1)))
    assert lines == [("subscription", Decimal(1), 0, 0)]
    assert head["total_cents"] == 0
    assert head["period_end"] == dt.date(2026, 1, 1)


async def test_a_kind_without_a_price_costs_nothing(db: Database) -> None:
    async with db.platform() as conn:
        await conn.execute(
            "INSERT INTO plans (id, name, monthly_price_cents, currency, unit_prices) "
            "VALUES ('eur', 'Euro', 100, 'EUR', '{\"message\": 2000}')"
        )
    customer = await new_customer(db, "eur")
    await set_month_usage(db, customer, MAY, {"message": 3, "media_minute": 7})
    head, lines = await read_invoice(db, await invoice(db, customer, MAY))
    assert lines == [
        ("media_minute", Decimal(7), 0, 0),
        ("message", Decimal(3), 2000, 6),
        ("subscription", Decimal(1), 100_000, 100),
    ]
    assert (head["currency"], head["total_cents"]) == ("EUR", 106)


async def test_invoicing_again_replaces_the_draft(db: Database) -> None:
    customer = await new_customer(db, "pro")
    await set_month_usage(db, customer, MAY, {"message": 1000})
    first = await invoice(db, customer, MAY)
    await set_month_usage(db, customer, MAY, {"message": 2000, "media_minute": 3})
    async with db.platform() as conn:
        await conn.execute("UPDATE customers SET plan_id = 'enterprise' WHERE id = $1", customer)
    second = await invoice(db, customer, MAY)
    assert second == first
    head, lines = await read_invoice(db, second)
    assert lines == [
        ("media_minute", Decimal(3), 100, 0),
        ("message", Decimal(2000), 5, 10),
        ("subscription", Decimal(1), 99_900_000, 99900),
    ]
    assert (head["plan_id"], head["total_cents"]) == ("enterprise", 99910)
    async with db.platform() as conn:
        assert (
            await conn.fetchval("SELECT count(*) FROM invoices WHERE customer_id = $1", customer)
            == 1
        )
        assert await conn.fetchval("SELECT count(*) FROM invoice_lines") == 3


@pytest.mark.parametrize("status", ["issued", "paid", "void"])
async def test_an_invoice_past_draft_is_locked(db: Database, status: str) -> None:
    customer = await new_customer(db, "pro")
    await set_month_usage(db, customer, MAY, {"message": 1000})
    invoice_id = await invoice(db, customer, MAY)
    async with db.platform() as conn:
        await conn.execute("UPDATE invoices SET status = $2 WHERE id = $1", invoice_id, status)
    before = await read_invoice(db, invoice_id)
    await set_month_usage(db, customer, MAY, {"message": 5000})
    with pytest.raises(InvoiceLocked, match=f"is {status}") as locked:
        await invoice(db, customer, MAY)
    assert (locked.value.invoice_id, locked.value.status) == (invoice_id, status)
    assert await read_invoice(db, invoice_id) == before
    # Another month is independent.
    june = await invoice(db, customer, dt.date(2025, 6, 1))
    assert june != invoice_id


async def test_bad_period_and_unknown_customer(db: Database) -> None:
    customer = await new_customer(db)
    with pytest.raises(ValueError, match="first of a month"):
        await invoice(db, customer, dt.date(2025, 5, 2))
    with pytest.raises(UnknownCustomer):
        await invoice(db, uuid.uuid4(), MAY)


async def test_usage_from_a_shard_end_to_end(two_shards: tuple[str, str, str]) -> None:
    """Recorded on the hot path, flushed to shard 1, rolled up, priced on the control DB."""
    control, dsn1, _ = two_shards
    db = await Database.open(control, pool_size=3)
    try:
        await db.add_shard("one", dsn1)
        customer = await new_customer(db, "pro", shard=1)
        recorder = UsageRecorder(db)
        instance = uuid.uuid4()
        for _ in range(150):
            recorder.record(customer, instance, "message")
        recorder.record(customer, None, "media_minute", 2)
        assert await recorder.flush() == 2
        today = dt.datetime.now(dt.UTC).date()
        await rollup(db, today)
        head, lines = await read_invoice(db, await invoice(db, customer, today.replace(day=1)))
        assert lines == [
            ("media_minute", Decimal(2), 200, 0),
            ("message", Decimal(150), 10, 2),  # 1.5 cents: up
            ("subscription", Decimal(1), 4_900_000, 4900),
        ]
        assert head["total_cents"] == 4902
    finally:
        await db.close()
