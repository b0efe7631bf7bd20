"""Billing: price a customer's calendar month into an invoice with its lines.

Lines: the subscription (the plan's monthly price, quantity 1), then one line per usage kind
the customer used that month — the customer-wide month roll-up (``usage_rollups``, nil
instance) times the plan's unit price. Unit prices are in millicents (1/1000 cent) per unit;
each line's amount is rounded to whole cents half up (``(quantity * price + 500) // 1000``)
and the total is the sum of the rounded lines. A kind the plan has no price for costs 0. The
plan is the customer's plan when the invoice is made (no proration within a month).

Idempotent: invoicing a period again replaces the draft's lines and total (the invoice keeps
its id); an invoice past draft (issued, paid, void) is never changed: :class:`InvoiceLocked`.
"""

from __future__ import annotations

import datetime as dt
from typing import Final, NamedTuple, cast
from uuid import UUID

import asyncpg
import orjson

from gb.core.storage.database import Database, UnknownCustomer

from .metering import NIL_UUID, month_bounds

__all__ = ["InvoiceLine", "InvoiceLocked", "invoice", "line_amount_cents"]

SUBSCRIPTION: Final = "subscription"
MILLICENTS_PER_CENT: Final = 1000


class InvoiceLocked(RuntimeError):  # noqa: N818 (the name is the contract)
    """The period's invoice is issued, paid or void and cannot be recomputed."""

    def __init__(self, invoice_id: UUID, status: str) -> None:
        super().__init__(f"invoice {invoice_id} is {status}; only a draft can be recomputed")
        self.invoice_id = invoice_id
        self.status = status


class InvoiceLine(NamedTuple):
    """One priced line: ``quantity`` units at ``unit_price_mcents`` each."""

    kind: str
    quantity: int
    unit_price_mcents: int
    amount_cents: int


def line_amount_cents(quantity: int, unit_price_mcents: int) -> int:
    """``quantity * unit_price_mcents`` millicents in whole cents, rounded half up."""
    return (quantity * unit_price_mcents + MILLICENTS_PER_CENT // 2) // MILLICENTS_PER_CENT


def price_lines(
    monthly_price_cents: int, unit_prices: dict[str, int], usage: dict[str, int]
) -> list[InvoiceLine]:
    """The subscription line, then one line per used kind (sorted by kind)."""
    lines = [
        InvoiceLine(SUBSCRIPTION, 1, monthly_price_cents * MILLICENTS_PER_CENT, monthly_price_cents)
    ]
    for kind in sorted(usage):
        price = int(unit_prices.get(kind, 0))
        lines.append(InvoiceLine(kind, usage[kind], price, line_amount_cents(usage[kind], price)))
    return lines


_CUSTOMER_SQL: Final = """
SELECT c.plan_id, p.monthly_price_cents, p.currency, p.unit_prices::text AS unit_prices
FROM customers c JOIN plans p ON p.id = c.plan_id
WHERE c.id = $1
"""

_USAGE_SQL: Final = """
SELECT kind, quantity FROM usage_rollups
WHERE customer_id = $1 AND instance_id = $2 AND period = 'month' AND period_start = $3
"""

_OPEN_SQL: Final = """
INSERT INTO invoices (customer_id, period_start, period_end, plan_id, currency)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (customer_id, period_start) DO NOTHING
"""

_LOCK_SQL: Final = """
SELECT id, status FROM invoices WHERE customer_id = $1 AND period_start = $2 FOR UPDATE
"""

_UPDATE_SQL: Final = """
UPDATE invoices SET period_end = $2, plan_id = $3, currency = $4, total_cents = $5,
                    created_at = now()
WHERE id = $1
"""


async def invoice(db: Database, customer_id: UUID, period_start: dt.date) -> UUID:
    """Price the calendar month starting ``period_start`` (a 1st) for the customer.

    Returns the invoice id. Raises ``ValueError`` when ``period_start`` is not the first of a
    month, :class:`~gb.core.storage.database.UnknownCustomer` for an unknown customer and
    :class:`InvoiceLocked` when the period's invoice is past draft. Run it after the month's
    last ``rollup``.
    """
    if period_start.day != 1:
        raise ValueError(f"period_start must be the first of a month, not {period_start}")
    _, period_end = month_bounds(period_start)
    async with db.platform() as conn:
        customer = await conn.fetchrow(_CUSTOMER_SQL, customer_id)
    if customer is None:
        raise UnknownCustomer(str(customer_id))
    shard = await db.shard_of(customer_id)
    async with db.platform(shard.id) as conn:
        rows = await conn.fetch(_USAGE_SQL, customer_id, NIL_UUID, period_start)
    lines = price_lines(
        customer["monthly_price_cents"],
        orjson.loads(customer["unit_prices"]),
        {row["kind"]: row["quantity"] for row in rows},
    )
    async with db.platform() as conn:
        await conn.execute(
            _OPEN_SQL,
            customer_id,
            period_start,
            period_end,
            customer["plan_id"],
            customer["currency"],
        )
        # The insert above (or the invoice it ran into) guarantees the row.
        found = cast(asyncpg.Record, await conn.fetchrow(_LOCK_SQL, customer_id, period_start))
        invoice_id: UUID = found["id"]
        if found["status"] != "draft":
            raise InvoiceLocked(invoice_id, found["status"])
        await conn.execute("DELETE FROM invoice_lines WHERE invoice_id = $1", invoice_id)
        await conn.copy_records_to_table(
            "invoice_lines",
            records=[
                (
                    invoice_id,
                    customer_id,
                    line.kind,
                    line.quantity,
                    line.unit_price_mcents,
                    line.amount_cents,
                )
                for line in lines
            ],
            columns=(
                "invoice_id",
                "customer_id",
                "kind",
                "quantity",
                "unit_price_mcents",
                "amount_cents",
            ),
        )
        await conn.execute(
            _UPDATE_SQL,
            invoice_id,
            period_end,
            customer["plan_id"],
            customer["currency"],
            sum(line.amount_cents for line in lines),
        )
    return invoice_id
