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
        customer: UUID = await conn.fetchval(_UPSERT_CUSTOMER, DEV_CUSTOMER)
    try:
        await db.shard_of(customer)
    except UnknownCustomer:
        await db.assign(customer)
    async with db.tenant(customer) as conn:
        instance: UUID = await conn.fetchval(_UPSERT_INSTANCE, customer, DEV_INSTANCE)
    return str(customer), str(instance)


# Insert if missing, else read: one statement each, so a second start finds the same ids.
_UPSERT_CUSTOMER = """
WITH made AS (
    INSERT INTO customers (name, plan_id, region_id) VALUES ($1, 'pro', 'local')
    ON CONFLICT (name) DO NOTHING RETURNING id
)
SELECT id FROM made UNION ALL SELECT id FROM customers WHERE name = $1 LIMIT 1
"""
_UPSERT_INSTANCE = """
WITH made AS (
    INSERT INTO instances (customer_id, name, title) VALUES ($1, $2, 'Development')
    ON CONFLICT (customer_id, name) DO NOTHING RETURNING id
)
SELECT id FROM made UNION ALL SELECT id FROM instances WHERE name = $2 LIMIT 1
"""
