"""The edge's questions to the tenancy layer: may this session connect, and what did it use.

At HELLO the token names a customer and an instance; with tenancy on (a database is
configured) both must be known, and the instance's connection quota is taken. When the
session ends the quota is given back and its connection-minutes are metered.
"""

from __future__ import annotations

import math
import uuid

from gb.protocol.codes import ErrorCode

from .auth import Authenticator, AuthError, Identity
from .storage.database import Database, Shard, UnknownCustomer
from .tenancy.metering import UsageRecorder
from .tenancy.quotas import QuotaName, Quotas


def tenant_ids(identity: Identity) -> tuple[uuid.UUID, uuid.UUID]:
    """The customer and instance UUIDs a tenancy-aware token must carry (``cus``, ``ins``),
    parsed once when the token was verified."""
    if identity.customer_id is None or identity.instance_id is None:
        raise AuthError(
            ErrorCode.TOKEN_INVALID, "claims 'cus' and 'ins' must be the customer and instance ids"
        )
    return identity.customer_id, identity.instance_id


class TenantGate:
    """Connection quotas and connection-minute metering for the hub."""

    def __init__(self, quotas: Quotas, recorder: UsageRecorder) -> None:
        self.quotas = quotas
        self.recorder = recorder

    async def admit(self, identity: Identity) -> None:
        """Take one connection of the instance's quota; ``QuotaExceeded`` or ``AuthError``."""
        customer, instance = tenant_ids(identity)
        try:
            await self.quotas.acquire_connection(customer, instance)
        except UnknownCustomer:
            raise AuthError(ErrorCode.TOKEN_INVALID, f"customer {customer} is unknown") from None

    async def release(self, identity: Identity, seconds: float) -> None:
        """Give the connection back and meter the minutes it was open (started minutes)."""
        customer, instance = tenant_ids(identity)
        self.recorder.record(
            customer, instance, "connection_minute", max(1, math.ceil(seconds / 60))
        )
        await self.quotas.release_connection(customer, instance)


def resolve_cached(
    authenticator: Authenticator, database: Database, quotas: Quotas, token: str
) -> tuple[Identity, Shard, dict[QuotaName, int]] | None:
    """Token → tenant → shard → quotas from the caches alone, or None on any miss (then the
    caller takes the awaiting path, which fills the caches). ``AuthError`` as ``verify``."""
    identity = authenticator.verify(token)
    customer, _instance = tenant_ids(identity)
    shard = database.shard_cached(customer)
    if shard is None:
        return None
    limits = quotas.limits_cached(customer)
    if limits is None:
        return None
    return identity, shard, limits
