"""Routing to the control database and the shard databases (ADR 0006).

One asyncpg pool for the control database and one per shard primary and per replica. Pools set
nothing on their sessions: every transaction says who it runs as with ``SET LOCAL`` (done with
``set_config(..., true)``), so a pooled connection can never leak one tenant's identity into the
next transaction.

- :meth:`Database.tenant` — a transaction on the customer's shard as ``gb_app`` with
  ``gb.customer_id`` set, so row-level security confines it to that customer's rows.
- :meth:`Database.control_tenant` — the same on the control database.
- :meth:`Database.platform` — a transaction as ``gb_platform`` (bypasses row-level security).

The shard map is cached per process (:class:`~gb.core.storage.shardmap.ShardMapCache`). While a
tenant move has a customer ``frozen`` its transactions wait; writers also take a shared advisory
lock (:func:`~gb.core.storage.shardmap.fence_key`) that the move holds exclusively, so a writer
whose cached map is stale cannot write to the old shard.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast
from uuid import UUID

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from gb.core.storage.embedded import start_embedded
from gb.core.storage.migrate import migrate_database
from gb.core.storage.shardmap import FROZEN, MapEntry, ShardMapCache, fence_key

if TYPE_CHECKING:
    from gb.core.config import Settings

log = logging.getLogger(__name__)

FREEZE_POLL = 0.05
"""Seconds between re-reads of the shard map while a customer is frozen or fenced."""
REPLICA_CONNECT_TIMEOUT = 2.0
"""Seconds to wait for a replica connection before reading from the primary instead."""
REPLICA_RETRY = 5.0
"""Seconds a replica that failed is skipped before it is tried again."""

# Transaction-local identity. Readonly transactions may run on a hot standby and never write,
# so they need no write fence; the fence result is the first column either way.
_AS_TENANT_FENCED = (
    "SELECT pg_try_advisory_xact_lock_shared($2::bigint), "
    "set_config('role', 'gb_app', true), set_config('gb.customer_id', $1, true)"
)
_AS_TENANT = (
    "SELECT true, set_config('role', 'gb_app', true), set_config('gb.customer_id', $1, true)"
)
_AS_PLATFORM = "SELECT set_config('role', 'gb_platform', true)"

_SHARD_COLUMNS = "id, name, dsn, replica_dsns, status"
# Shard 0 is the control database itself, so one database serves a newcomer. ON CONFLICT: two
# processes opening at once both see an empty table.
_REGISTER_SHARD_ZERO = """
    INSERT INTO shards (id, name, dsn)
    SELECT 0, 'control', $1 WHERE NOT EXISTS (SELECT FROM shards)
    ON CONFLICT DO NOTHING
"""
_LEAST_LOADED = """
    SELECT s.id FROM shards s WHERE s.status = 'active'
    ORDER BY (SELECT count(*) FROM shard_map m WHERE m.shard_id = s.id), s.id
    LIMIT 1
"""

# What a failed connection attempt raises: refused, timed out, or refused by the server.
_CONNECT_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)

Connection = asyncpg.Connection
Pool = asyncpg.Pool
Proxy = PoolConnectionProxy


@dataclass(frozen=True)
class Shard:
    """A registered shard: a PostgreSQL database (primary) and its read replicas."""

    id: int
    name: str
    dsn: str
    replica_dsns: tuple[str, ...]
    status: str

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Shard:
        return cls(row["id"], row["name"], row["dsn"], tuple(row["replica_dsns"]), row["status"])


class ShardUnavailable(RuntimeError):  # noqa: N818 (the contract's name)
    """A shard cannot serve now: unreachable, unregistered, or its customer stays frozen."""


class UnknownCustomer(LookupError):  # noqa: N818 (the contract's name)
    """The customer has no row in the shard map (or does not exist)."""


@dataclass
class _ShardPools:
    """The pools of one shard; replicas are used round-robin and skipped a while after failing."""

    shard: Shard
    primary: Pool
    replicas: list[Pool]
    down_until: list[float] = field(default_factory=list)
    turn: int = 0

    def next_replica(self, now: float) -> int | None:
        """The index of the next replica not known to be down, or None."""
        for _ in range(len(self.replicas)):
            index = self.turn % len(self.replicas)
            self.turn += 1
            if self.down_until[index] <= now:
                return index
        return None


async def _create_pool(dsn: str, size: int, connect_timeout: float = 60.0) -> Pool:
    # min_size=0: no connection until one is needed, so a shard or replica that is down at
    # start-up only fails the requests that need it.
    return await asyncpg.create_pool(dsn, min_size=0, max_size=size, timeout=connect_timeout)


class Database:
    """The control database and the shard databases, with the customer -> shard router.

    Open with :meth:`open`; close with :meth:`close`. Login users must be members of the roles
    ``gb_app`` and ``gb_platform`` that the migrations create (a superuser is).
    """

    control: Pool

    def __init__(
        self, control_dsn: str, control: Pool, pool_size: int, map_ttl: float, freeze_timeout: float
    ) -> None:
        self.control_dsn = control_dsn
        self.control = control
        self.pool_size = pool_size
        self.freeze_timeout = freeze_timeout
        self.close_timeout = 10.0
        self._cache = ShardMapCache(map_ttl)
        self._pools: dict[int, _ShardPools] = {}
        self._shards_lock = asyncio.Lock()

    @classmethod
    async def open(
        cls,
        control_dsn: str,
        *,
        pool_size: int = 10,
        map_ttl: float = 5.0,
        freeze_timeout: float = 10.0,
    ) -> Database:
        """Connect to the (migrated) control database and every registered shard.

        Registers shard 0 = the control database itself when no shard is registered.
        ``freeze_timeout`` bounds how long a transaction waits for a frozen customer.
        """
        control = await asyncpg.create_pool(control_dsn, min_size=1, max_size=pool_size)
        db = cls(control_dsn, control, pool_size, map_ttl, freeze_timeout)
        try:
            async with db.platform() as conn:
                await conn.execute(_REGISTER_SHARD_ZERO, control_dsn)
            await db.shards()
        except BaseException:
            await db.close()
            raise
        return db

    async def close(self) -> None:
        """Close every pool; connections still in use after ``close_timeout`` s are cut."""
        pools = [self.control]
        for shard_pools in self._pools.values():
            pools.extend(shard_pools.replicas)
            if shard_pools.primary is not self.control:
                pools.append(shard_pools.primary)
        self._pools.clear()
        for pool in pools:
            try:
                await asyncio.wait_for(pool.close(), self.close_timeout)
            except TimeoutError:
                log.warning(
                    "database pool did not close in %.1f s; terminating it", self.close_timeout
                )
                pool.terminate()

    # -- shards --------------------------------------------------------------------------

    async def shards(self) -> list[Shard]:
        """Every registered shard (read afresh; pools are opened for new ones)."""
        async with self.platform() as conn:
            rows = await conn.fetch(f"SELECT {_SHARD_COLUMNS} FROM shards ORDER BY id")
        shards = [Shard.from_row(row) for row in rows]
        async with self._shards_lock:
            for shard in shards:
                known = self._pools.get(shard.id)
                if known is not None:
                    known.shard = shard  # status changes; DSNs of a shard never change
                    continue
                primary = (
                    self.control if shard.id == 0 else await _create_pool(shard.dsn, self.pool_size)
                )
                replicas = [
                    await _create_pool(dsn, self.pool_size, REPLICA_CONNECT_TIMEOUT)
                    for dsn in shard.replica_dsns
                ]
                self._pools[shard.id] = _ShardPools(shard, primary, replicas, [0.0] * len(replicas))
        return shards

    async def add_shard(self, name: str, dsn: str, replica_dsns: Sequence[str] = ()) -> Shard:
        """Register a shard: the next id, the shard track migrated there, its pools opened.

        Raises ValueError when a shard named ``name`` exists. A failed migration registers
        nothing.
        """
        async with self.platform() as conn:
            # Serialises add_shard calls (the next id) without blocking readers of the table.
            await conn.execute("LOCK TABLE shards IN SHARE ROW EXCLUSIVE MODE")
            if await conn.fetchval("SELECT true FROM shards WHERE name = $1", name):
                raise ValueError(f"a shard named {name!r} already exists")
            row = await conn.fetchrow(
                "INSERT INTO shards (id, name, dsn, replica_dsns) "
                "SELECT coalesce(max(id), -1) + 1, $1, $2, $3 FROM shards "
                f"RETURNING {_SHARD_COLUMNS}",
                name,
                dsn,
                list(replica_dsns),
            )
            await migrate_database(dsn, control=False, shard=True)
        await self.shards()
        return Shard.from_row(cast(asyncpg.Record, row))

    async def assign(self, customer_id: UUID, shard_id: int | None = None) -> int:
        """Map a customer to a shard and return its id; a mapped customer keeps its shard.

        ``shard_id`` None: the active shard with the fewest customers. Raises ValueError for an
        unknown or inactive shard, or a different shard than the customer's; UnknownCustomer
        when the customer does not exist; ShardUnavailable when no shard is active.
        """
        async with self.platform() as conn:
            current = await conn.fetchval(
                "SELECT shard_id FROM shard_map WHERE customer_id = $1", customer_id
            )
            if current is not None:
                if shard_id not in (None, current):
                    raise ValueError(
                        f"customer {customer_id} is on shard {current}; "
                        "move it with `gb tenant move`"
                    )
                return cast(int, current)
            if shard_id is None:
                shard_id = await conn.fetchval(_LEAST_LOADED)
                if shard_id is None:
                    raise ShardUnavailable("no active shard to assign a customer to")
            else:
                status = await conn.fetchval("SELECT status FROM shards WHERE id = $1", shard_id)
                if status is None:
                    raise ValueError(f"unknown shard {shard_id}")
                if status != "active":
                    raise ValueError(f"shard {shard_id} is {status}, not active")
            try:
                await conn.execute(
                    "INSERT INTO shard_map (customer_id, shard_id) VALUES ($1, $2) "
                    "ON CONFLICT (customer_id) DO NOTHING",
                    customer_id,
                    shard_id,
                )
            except asyncpg.ForeignKeyViolationError:
                raise UnknownCustomer(customer_id) from None
            # A concurrent assign may have won the insert; its shard is the customer's.
            assigned = await conn.fetchval(
                "SELECT shard_id FROM shard_map WHERE customer_id = $1", customer_id
            )
        self._cache.invalidate(customer_id)
        return cast(int, assigned)

    # -- routing -------------------------------------------------------------------------

    async def _map_entry(self, customer_id: UUID) -> MapEntry:
        entry = self._cache.get(customer_id)
        if entry is None:
            async with self.platform() as conn:
                row = await conn.fetchrow(
                    "SELECT shard_id, version, state FROM shard_map WHERE customer_id = $1",
                    customer_id,
                )
            if row is None:
                raise UnknownCustomer(customer_id)
            entry = MapEntry(row["shard_id"], row["version"], row["state"])
            self._cache.put(customer_id, entry)
        return entry

    async def _shard_pools(self, shard_id: int) -> _ShardPools:
        pools = self._pools.get(shard_id)
        if pools is None:
            await self.shards()  # registered since (`gb shard add` in another process)
            pools = self._pools.get(shard_id)
            if pools is None:
                raise ShardUnavailable(f"shard {shard_id} is not registered")
        return pools

    def shard_cached(self, customer_id: UUID) -> Shard | None:
        """The customer's shard if the map cache holds it now, without waiting (hot paths)."""
        entry = self._cache.get(customer_id)
        if entry is not None:
            pools = self._pools.get(entry.shard_id)
            if pools is not None:
                return pools.shard
        return None

    async def shard_of(self, customer_id: UUID) -> Shard:
        """The customer's shard (cached map); UnknownCustomer when it is not mapped."""
        shard = self.shard_cached(customer_id)
        if shard is not None:
            return shard
        entry = await self._map_entry(customer_id)
        return (await self._shard_pools(entry.shard_id)).shard

    async def _route(self, customer_id: UUID, deadline: float) -> _ShardPools:
        """The customer's shard once it is not frozen; ShardUnavailable after ``deadline``."""
        while True:
            entry = await self._map_entry(customer_id)
            if entry.state != FROZEN:
                return await self._shard_pools(entry.shard_id)
            await self._pause(customer_id, deadline, "is frozen by a tenant move")

    async def _pause(self, customer_id: UUID, deadline: float, why: str) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ShardUnavailable(
                f"customer {customer_id} {why} for more than {self.freeze_timeout:g} s"
            )
        self._cache.invalidate(customer_id)
        await asyncio.sleep(min(FREEZE_POLL, remaining))

    async def _acquire(self, pools: _ShardPools, readonly: bool) -> tuple[Pool, Proxy]:
        if readonly:
            now = time.monotonic()
            index = pools.next_replica(now)
            if index is not None:
                replica = pools.replicas[index]
                try:
                    return replica, await replica.acquire()
                except _CONNECT_ERRORS as exc:
                    pools.down_until[index] = now + REPLICA_RETRY
                    log.warning(
                        "replica %d of shard %r unavailable (%s); reading from the primary",
                        index,
                        pools.shard.name,
                        exc,
                    )
        try:
            return pools.primary, await pools.primary.acquire()
        except _CONNECT_ERRORS as exc:
            raise ShardUnavailable(f"shard {pools.shard.name!r} is unreachable: {exc}") from exc

    def tenant(
        self, customer_id: UUID, *, readonly: bool = False
    ) -> AbstractAsyncContextManager[Connection]:
        """A transaction on the customer's shard as ``gb_app`` with ``gb.customer_id`` set.

        ``readonly``: a READ ONLY transaction, on a replica when the shard has one (lag
        tolerant). Waits up to ``freeze_timeout`` while the customer is frozen by a tenant
        move, then raises ShardUnavailable; UnknownCustomer when the customer is not mapped.
        """
        return self._tenant(customer_id, readonly)

    @asynccontextmanager
    async def _tenant(self, customer_id: UUID, readonly: bool) -> AsyncIterator[Connection]:
        deadline = time.monotonic() + self.freeze_timeout
        key = str(customer_id)
        while True:
            pool, conn = await self._acquire(await self._route(customer_id, deadline), readonly)
            try:
                async with conn.transaction(readonly=readonly):
                    if readonly:
                        fenced = await conn.fetchval(_AS_TENANT, key)
                    else:
                        fenced = await conn.fetchval(_AS_TENANT_FENCED, key, fence_key(customer_id))
                    if fenced:
                        yield cast(Connection, conn)
                        return
            finally:
                await pool.release(conn)
            # A tenant move holds the customer's fence on this shard: the cached map is stale.
            await self._pause(customer_id, deadline, "is fenced by a tenant move")

    def control_tenant(self, customer_id: UUID) -> AbstractAsyncContextManager[Connection]:
        """A transaction on the control database as ``gb_app`` with ``gb.customer_id`` set."""
        return self._control_tenant(customer_id)

    @asynccontextmanager
    async def _control_tenant(self, customer_id: UUID) -> AsyncIterator[Connection]:
        async with self.control.acquire() as conn, conn.transaction():
            await conn.fetchval(_AS_TENANT, str(customer_id))
            yield cast(Connection, conn)

    def platform(self, shard_id: int | None = None) -> AbstractAsyncContextManager[Connection]:
        """A transaction as ``gb_platform`` (bypasses row-level security).

        On the control database (``shard_id`` None) or on a shard's primary.
        """
        return self._platform(shard_id)

    @asynccontextmanager
    async def _platform(self, shard_id: int | None) -> AsyncIterator[Connection]:
        pool = self.control if shard_id is None else (await self._shard_pools(shard_id)).primary
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(_AS_PLATFORM)
            yield cast(Connection, conn)

    def maintenance(self, shard_id: int) -> AbstractAsyncContextManager[Connection]:
        """A transaction on a shard's primary as the login role, which owns the schema:
        for schema work such as creating partitions (no tenant data is read here)."""
        return self._maintenance(shard_id)

    @asynccontextmanager
    async def _maintenance(self, shard_id: int) -> AsyncIterator[Connection]:
        pool = (await self._shard_pools(shard_id)).primary
        async with pool.acquire() as conn, conn.transaction():
            yield cast(Connection, conn)

    def invalidate(self, customer_id: UUID | None = None) -> None:
        """Drop the cached shard map entry of a customer (all entries when None)."""
        self._cache.invalidate(customer_id)


async def control_dsn(settings: Settings) -> str:
    """``settings.database_url``, or the DSN of the embedded PostgreSQL in ``data_dir``."""
    if settings.database_url is not None:
        return settings.database_url
    return await asyncio.to_thread(start_embedded, settings.data_dir)


async def open_database(settings: Settings) -> tuple[Database, str]:
    """The node's Database: the control database migrated (both tracks) and opened.

    Returns the Database and the control DSN.
    """
    dsn = await control_dsn(settings)
    await migrate_database(dsn, control=True, shard=True)
    return await Database.open(dsn, pool_size=settings.db_pool_size), dsn
