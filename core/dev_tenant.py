"""The development tenant of the embedded default: customer ``dev``, instance ``default``.

``make run`` prints a token for it, so a newcomer can connect with nothing configured.
"""

from __future__ import annotations

from uuid import UUID

from .storage.database import Database, UnknownCustomer

DEV_CUSTOMER = "dev"
DEV_INSTANCE = "default"


async def ensure_dev_tenant(db: Database) -> tuple[str, str]:
    """Create the dev customer (plan ``pro``) and its instance if missing; their ids."""
    async with db.platform() as conn:
        customer: UUID | None = await conn.fetchval(
            "SELECT id FROM customers WHERE name = $1", DEV_CUSTOMER
        )
        if customer is None:
            customer = await conn.fetchval(
                "INSERT INTO customers (name, plan_id, region_id) VALUES ($1, 'pro', 'local')"
                " RETURNING id",
                DEV_CUSTOMER,
            )
    assert customer is not None
    try:
        await db.shard_of(customer)
    except UnknownCustomer:
        await db.assign(customer)
    async with db.tenant(customer) as conn:
        instance = await conn.fetchval("SELECT id FROM instances WHERE name = $1", DEV_INSTANCE)
        if instance is None:
            instance = await conn.fetchval(
                "INSERT INTO instances (customer_id, name, title) VALUES ($1, $2, 'Development')"
                " RETURNING id",
                customer,
                DEV_INSTANCE,
            )
    return str(customer), str(instance)
