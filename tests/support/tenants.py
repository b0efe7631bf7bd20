"""Tenants for tests: a customer (mapped to a shard) with one instance, made as the platform."""

from __future__ import annotations

import uuid

from gb.core.storage.database import Database


async def make_tenant(
    db: Database, *, plan: str = "pro", shard: int | None = None
) -> tuple[uuid.UUID, uuid.UUID]:
    """A new customer and its instance ``main``; their ids."""
    name = f"t-{uuid.uuid4().hex[:12]}"
    async with db.platform() as conn:
        customer: uuid.UUID = await conn.fetchval(
            "INSERT INTO customers (name, plan_id, region_id) VALUES ($1, $2, 'local')"
            " RETURNING id",
            name,
            plan,
        )
    await db.assign(customer, shard)
    async with db.tenant(customer) as conn:
        instance: uuid.UUID = await conn.fetchval(
            "INSERT INTO instances (customer_id, name) VALUES ($1, 'main') RETURNING id", customer
        )
    return customer, instance


async def set_quota(db: Database, customer: uuid.UUID, name: str, value: int) -> None:
    """Override one quota of ``customer``."""
    async with db.platform() as conn:
        await conn.execute(
            "INSERT INTO quota_overrides (customer_id, name, value) VALUES ($1, $2, $3)"
            " ON CONFLICT (customer_id, name) DO UPDATE SET value = EXCLUDED.value",
            customer,
            name,
            value,
        )
