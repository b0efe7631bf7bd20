"""Moving one customer's rows to another shard online (``gb tenant move CUSTOMER --to SHARD``).

The customer keeps working during the move except for a short write freeze before the switch.

**Tenant tables** are the tables of the shard's ``public`` schema that carry the change-tracking
trigger ``gb_track`` (installed by ``gb_track_changes`` in the shard migration
``0002_change_tracking``; partitioned tables are handled through their parent). They are copied
parents first, following their foreign keys, and deleted children first. Every row has a
``row_version`` stamped from one sequence per shard on INSERT and UPDATE; while the customer is
*tracked* (``tenant_fences.state = 'tracking'`` on the source) deletes leave tombstones in
``deleted_rows``.

**Barrier.** Every writer of a customer holds the customer's shared advisory lock
(:func:`~gb.core.storage.shardmap.fence_key`) until it commits: ``Database.tenant`` takes it at
the start of every writing transaction and the row trigger takes it for any other writer
(platform jobs). Taking that lock exclusively therefore waits for the customer's in-flight
writers and turns new ones away (``Database.tenant`` re-routes after a pause; other writers get
SQLSTATE ``GBM01``). A snapshot started while the exclusive lock is held sees exactly the
versions up to the sequence's value read at that instant, and every later change of the customer
gets a higher version; so "changes since version V" is exact, with no commit-order race.

**Phases.**

1. *Copy* (``shard_map.state = 'moving'``): the target is cleared of the customer's rows (left by
   an earlier failed or interrupted move), the source fence is set to ``tracking``, then under a
   barrier a REPEATABLE READ snapshot of the source is copied table by table in batches of
   ``batch`` rows (keyset on ``row_version``), streamed with binary ``COPY ... TO STDOUT`` into
   ``COPY ... FROM STDIN`` on the target, as ``gb_platform``.
2. *Catch up*: under a new barrier each round reads the rows with a version above the last
   round's watermark and the tombstones since, and applies them in one target transaction with
   foreign keys deferred: deletes children first, then upserts (``INSERT ... ON CONFLICT`` on the
   primary key, from a COPY-filled staging table) parents first. Rounds repeat until a round
   applies at most ``settle_rows`` changes, or ``max_rounds`` rounds ran.
3. *Freeze and switch*: ``shard_map`` goes to ``frozen`` with its version bumped (``Database``
   callers wait instead of writing), and the move takes the exclusive lock and keeps it: in-flight
   writers finish, later ones are refused on the source. A final round catches up; per table the
   row count and an order-independent checksum (the sum of ``hashtextextended`` of each row's
   text, ``row_version`` left out) must be equal on both shards. The source fence becomes
   ``moved`` (the trigger refuses any later write of the customer there, e.g. from a node whose
   cached map is stale), then the map switches to the target: state ``active``, version bumped,
   the local cache invalidated. ``freeze_timeout`` bounds waiting for writers to drain and the
   final round plus the verification; the switch itself is never interrupted.
4. *Clean up*, only after the switch committed: the customer's rows and tombstones are deleted
   from the source in batches, children first; ``instances.shard_id`` is set on the target; the
   exclusive lock is kept until ``fence_grace`` seconds after the switch (about the shard map's
   cache TTL) so stale writers re-route rather than fail.

**Failure** before the switch (an error, a timeout, a cancellation) undoes the move
(:func:`abort_move`): the source fence and tombstones are removed, the map goes back to
``active`` on the source (version bumped), the target's partial copy is deleted; no row of the
source was changed. A move that died with its process is undone by :func:`abort_move` or simply
restarted: a new move clears the target and the stale states first. A failure after the switch
leaves fenced, invisible rows on the old shard; they are removed when the customer next moves
there, and the error says so.

Limits: writers must use READ COMMITTED (the default) so the trigger sees a fence set after
their transaction began; an upsert that would transiently break a unique constraint other than
the primary key (two rows swapping a unique value between rounds) fails the move, which is then
undone and may be retried.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from uuid import UUID

import asyncpg

from gb.core.storage.database import Database, Shard, UnknownCustomer, open_database
from gb.core.storage.shardmap import ACTIVE, FROZEN, MOVING, fence_key

if TYPE_CHECKING:
    from gb.core.config import Settings

__all__ = [
    "FENCE_GRACE",
    "TENANT_FENCED_SQLSTATE",
    "MoveError",
    "MoveReport",
    "TenantTable",
    "abort_move",
    "cli_tenant_move",
    "move_tenant",
    "tenant_tables",
]

log = logging.getLogger(__name__)

TENANT_FENCED_SQLSTATE = "GBM01"
"""What the row trigger raises for a write of a customer that is frozen or has moved away."""

FENCE_GRACE = 5.0
"""Seconds the old shard keeps a moved customer's exclusive fence after the switch: the shard
map cache TTL of the nodes (``Database.open(map_ttl=...)``), so their writers with a stale entry
re-route after a pause instead of failing with GBM01."""

_MOVE_LOCK_CLASS = 0x676D  # "gm": one move per customer at a time (advisory lock on control)
_STAGE = "gb_move_stage"

# Both shards render rows the same way, so the checksums of equal rows are equal.
_SESSION_SETTINGS = {
    "application_name": "gb tenant move",
    "TimeZone": "UTC",
    "DateStyle": "ISO, YMD",
    "IntervalStyle": "postgres",
    "extra_float_digits": "3",
}

_TABLES = """
SELECT c.relname,
       array(SELECT a.attname::text FROM pg_attribute a
             WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
               AND a.attgenerated = '' AND a.attname <> 'row_version'
             ORDER BY a.attnum) AS columns,
       array(SELECT a.attname::text FROM pg_index i
             CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k (attnum, ord)
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
             WHERE i.indrelid = c.oid AND i.indisprimary
             ORDER BY k.ord) AS pk,
       array(SELECT DISTINCT p.relname::text FROM pg_constraint f
             JOIN pg_class p ON p.oid = f.confrelid
             WHERE f.conrelid = c.oid AND f.contype = 'f') AS parents
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND EXISTS (SELECT FROM pg_trigger t WHERE t.tgrelid = c.oid AND t.tgname = 'gb_track')
ORDER BY c.relname
"""
# The highest version handed out so far (a fresh sequence has handed out none).
_WATERMARK = (
    "SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM gb_row_version_seq"
)
_CHANGES = "WHERE customer_id = $1 AND row_version > $2 AND row_version <= $3"
_MAP_ROW = "SELECT shard_id, state, version FROM shard_map WHERE customer_id = $1"


class MoveError(RuntimeError):
    """A tenant move was refused or failed; the message says what and whether it was undone."""


@dataclass(frozen=True)
class TenantTable:
    """A tenant table as the move sees it: copied columns (not ``row_version``), primary key,
    and whether it references itself (its foreign keys are then deferred while loading)."""

    name: str
    columns: tuple[str, ...]
    pk: tuple[str, ...]
    self_referencing: bool = False

    @property
    def qualified(self) -> str:
        return f"public.{_ident(self.name)}"

    @property
    def column_list(self) -> str:
        return ", ".join(_ident(c) for c in self.columns)


@dataclass
class MoveReport:
    """What a move did. ``rows``: rows per table on the new shard when they were verified;
    ``freeze_seconds``: from the freeze of the map to its switch."""

    customer_id: UUID
    from_shard: int
    to_shard: int
    map_version: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    copied_rows: int = 0
    catchup_rounds: int = 0
    catchup_changes: int = 0
    removed_from_source: int = 0
    freeze_seconds: float = 0.0
    total_seconds: float = 0.0


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _count(status: str) -> int:
    """The row count of a command tag such as ``COPY 12`` or ``DELETE 3``."""
    return int(status.rsplit(" ", 1)[1])


async def tenant_tables(conn: asyncpg.Connection) -> list[TenantTable]:
    """The tenant tables of the shard ``conn`` is connected to, parents before children.

    Raises MoveError when foreign keys between tenant tables form a cycle.
    """
    rows = await conn.fetch(_TABLES)
    parents = {row["relname"]: set(row["parents"]) for row in rows}
    tables = {
        row["relname"]: TenantTable(
            row["relname"],
            tuple(row["columns"]),
            tuple(row["pk"]),
            row["relname"] in parents[row["relname"]],
        )
        for row in rows
    }
    ordered: list[TenantTable] = []
    pending = {name: deps & tables.keys() - {name} for name, deps in parents.items()}
    while pending:
        ready = sorted(name for name, deps in pending.items() if not deps)
        if not ready:
            raise MoveError(f"foreign keys form a cycle between tenant tables {sorted(pending)}")
        for name in ready:
            ordered.append(tables[name])
            del pending[name]
        for deps in pending.values():
            deps.difference_update(ready)
    return ordered


@asynccontextmanager
async def _session(shard: Shard, customer_id: UUID) -> AsyncIterator[asyncpg.Connection]:
    """A connection of the move's own to a shard, as ``gb_platform``, marked as the move of
    ``customer_id`` (the row trigger lets it write while the customer is fenced)."""
    conn = await asyncpg.connect(shard.dsn, server_settings=_SESSION_SETTINGS)
    try:
        await conn.execute("SET ROLE gb_platform")
        await conn.execute("SELECT set_config('gb.move_customer', $1, false)", str(customer_id))
        yield conn
    finally:
        await conn.close()


async def _map_row(db: Database, customer_id: UUID) -> asyncpg.Record:
    async with db.platform() as conn:
        row = await conn.fetchrow(_MAP_ROW, customer_id)
    if row is None:
        raise UnknownCustomer(customer_id)
    return row


async def _shard(db: Database, shard_id: int) -> Shard:
    for shard in await db.shards():
        if shard.id == shard_id:
            return shard
    raise MoveError(f"unknown shard {shard_id}")


async def _purge(
    conn: asyncpg.Connection, tables: Sequence[TenantTable], customer_id: UUID, batch: int
) -> int:
    """Delete the customer's rows from ``tables`` (children first, ``batch`` rows at a time)
    and its tombstones; returns the rows deleted."""
    removed = 0
    for table in reversed(tables):
        while True:
            done = _count(
                await conn.execute(
                    f"DELETE FROM {table.qualified} WHERE customer_id = $1 AND row_version IN "
                    f"(SELECT row_version FROM {table.qualified} WHERE customer_id = $1 "
                    "ORDER BY row_version LIMIT $2)",
                    customer_id,
                    batch,
                )
            )
            removed += done
            if done < batch:
                break
    await conn.execute("DELETE FROM deleted_rows WHERE customer_id = $1", customer_id)
    return removed


async def abort_move(db: Database, customer_id: UUID, to_shard: int, *, batch: int = 5000) -> bool:
    """Undo a move of ``customer_id`` to ``to_shard`` that has not switched the map.

    Removes the fence and tombstones on the customer's shard, puts its map entry back to
    ``active`` (version bumped) and deletes the customer's rows on ``to_shard``. Returns False,
    undoing nothing, when the map already points at ``to_shard`` (that move completed).
    """
    row = await _map_row(db, customer_id)
    if row["shard_id"] == to_shard:
        return False
    source = await _shard(db, row["shard_id"])
    async with _session(source, customer_id) as conn:
        await conn.execute("DELETE FROM tenant_fences WHERE customer_id = $1", customer_id)
        await conn.execute("DELETE FROM deleted_rows WHERE customer_id = $1", customer_id)
    async with db.platform() as conn:
        await conn.execute(
            "UPDATE shard_map SET state = $3, version = version + 1, updated_at = now() "
            "WHERE customer_id = $1 AND shard_id = $2",
            customer_id,
            row["shard_id"],
            ACTIVE,
        )
    db.invalidate(customer_id)
    async with _session(await _shard(db, to_shard), customer_id) as conn:
        await _purge(conn, await tenant_tables(conn), customer_id, batch)
    return True


class _Move:
    """The state of one running move (see the module docstring for the phases)."""

    def __init__(
        self,
        db: Database,
        customer_id: UUID,
        report: MoveReport,
        *,
        batch: int,
        freeze_timeout: float,
        settle_rows: int,
        max_rounds: int,
    ) -> None:
        self.db = db
        self.customer_id = customer_id
        self.report = report
        self.batch = batch
        self.freeze_timeout = freeze_timeout
        self.settle_rows = settle_rows
        self.max_rounds = max_rounds
        self.key = fence_key(customer_id)
        self.tables: list[TenantTable] = []
        self.watermark = 0
        self.switched_at = 0.0
        # Set by run(): the lock holder, the snapshot reader and the writer on the source;
        # the writer on the target.
        self.lock: asyncpg.Connection
        self.read: asyncpg.Connection
        self.write: asyncpg.Connection
        self.target: asyncpg.Connection

    async def check_tables(self) -> None:
        self.tables = await tenant_tables(self.read)
        if not self.tables:
            raise MoveError(
                f"shard {self.report.from_shard} has no tracked tenant tables (migrate it)"
            )
        theirs = await tenant_tables(self.target)
        if theirs != self.tables:
            mine, other = set(self.tables), set(theirs)
            differ = sorted({t.name for t in mine ^ other})
            raise MoveError(
                f"the tenant tables of shard {self.report.to_shard} differ from those of shard "
                f"{self.report.from_shard}: {', '.join(differ)} (migrate both)"
            )

    async def copy_and_switch(self) -> None:
        await self._prepare()
        await self._copy()
        for _ in range(self.max_rounds):
            changes = await self._catch_up(hold=False)
            if changes <= self.settle_rows:
                break
        await self._freeze_and_switch()

    async def clean_source(self, fence_grace: float) -> None:
        try:
            self.report.removed_from_source = await _purge(
                self.write, self.tables, self.customer_id, self.batch
            )
            await self.target.execute(
                "UPDATE instances SET shard_id = $2 WHERE customer_id = $1 AND shard_id <> $2",
                self.customer_id,
                self.report.to_shard,
            )
        except Exception as exc:
            raise MoveError(
                f"customer {self.customer_id} moved to shard {self.report.to_shard}, but "
                f"removing its rows from shard {self.report.from_shard} failed: {exc}; they "
                "stay fenced (unreadable by the routing, unwritable) until the customer next "
                "moves there"
            ) from exc
        finally:
            await asyncio.sleep(max(0.0, self.switched_at + fence_grace - time.monotonic()))
            await self.lock.execute("SELECT pg_advisory_unlock_all()")

    # -- phases ------------------------------------------------------------------------------

    async def _set_state(self, state: str, *, bump: bool) -> int:
        async with self.db.platform() as conn:
            version = await conn.fetchval(
                "UPDATE shard_map SET state = $3, version = version + $4::int, updated_at = now() "
                "WHERE customer_id = $1 AND shard_id = $2 RETURNING version",
                self.customer_id,
                self.report.from_shard,
                state,
                int(bump),
            )
        if version is None:
            raise MoveError(f"the shard map entry of customer {self.customer_id} changed")
        self.db.invalidate(self.customer_id)
        return int(version)

    async def _prepare(self) -> None:
        await self._set_state(MOVING, bump=False)
        await _purge(self.target, self.tables, self.customer_id, self.batch)
        await self.target.execute(
            "DELETE FROM tenant_fences WHERE customer_id = $1", self.customer_id
        )
        await self.write.execute(
            "INSERT INTO tenant_fences (customer_id, state) VALUES ($1, 'tracking') "
            "ON CONFLICT (customer_id) DO UPDATE SET state = 'tracking', updated_at = now()",
            self.customer_id,
        )
        await self.write.execute(
            "DELETE FROM deleted_rows WHERE customer_id = $1", self.customer_id
        )

    async def _barrier(self, *, hold: bool) -> int:
        """Drain the customer's writers, start a snapshot on ``read`` at that instant and return
        the version watermark; keeps the exclusive lock when ``hold``."""
        try:
            await self.lock.execute("SELECT pg_advisory_lock($1)", self.key)
        except asyncpg.LockNotAvailableError:
            raise MoveError(
                f"the writers of customer {self.customer_id} did not finish within "
                f"{self.freeze_timeout:g} s"
            ) from None
        try:
            await self.read.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            watermark = int(await self.read.fetchval(_WATERMARK))
        finally:
            if not hold:
                await self.lock.execute("SELECT pg_advisory_unlock($1)", self.key)
        return watermark

    async def _pipe(
        self, query: str, args: Sequence[object], table: str, columns: list[str]
    ) -> int:
        """COPY the rows of ``query`` on the source into ``table`` on the target (binary)."""
        chunks: list[bytes] = []

        async def sink(chunk: bytes) -> None:
            chunks.append(chunk)

        async def source() -> AsyncIterator[bytes]:
            for chunk in chunks:
                yield chunk

        copied = _count(await self.read.copy_from_query(query, *args, output=sink, format="binary"))
        if copied:
            schema = None if table == _STAGE else "public"
            await self.target.copy_to_table(
                table, source=source(), columns=columns, schema_name=schema, format="binary"
            )
        return copied

    async def _copy(self) -> None:
        """Phase 1: the snapshot of the source, table by table in batches."""
        self.watermark = await self._barrier(hold=False)
        try:
            for table in self.tables:
                async with self.target.transaction():
                    if table.self_referencing:
                        await self.target.execute("SET CONSTRAINTS ALL DEFERRED")
                    low = 0
                    while True:
                        high = await self.read.fetchval(
                            f"SELECT row_version FROM {table.qualified} "
                            "WHERE customer_id = $1 AND row_version > $2 "
                            "ORDER BY row_version OFFSET $3 LIMIT 1",
                            self.customer_id,
                            low,
                            self.batch - 1,
                        )
                        self.report.copied_rows += await self._pipe(
                            f"SELECT {table.column_list} FROM {table.qualified} "
                            "WHERE customer_id = $1 AND row_version > $2 AND row_version <= $3",
                            (self.customer_id, low, self.watermark if high is None else high),
                            table.name,
                            list(table.columns),
                        )
                        if high is None:
                            break
                        low = high
        finally:
            await self.read.execute("ROLLBACK")

    async def _catch_up(self, *, hold: bool) -> int:
        """Phase 2 (and the final round of phase 3): apply the changes since the watermark."""
        low, high = self.watermark, await self._barrier(hold=hold)
        changes = 0
        try:
            tombstones = {
                row["table_name"]: row["pks"]
                for row in await self.read.fetch(
                    "SELECT table_name, jsonb_agg(pk)::text AS pks FROM deleted_rows "
                    "WHERE customer_id = $1 AND row_version > $2 AND row_version <= $3 "
                    "GROUP BY table_name",
                    self.customer_id,
                    low,
                    high,
                )
            }
            async with self.target.transaction():
                await self.target.execute("SET CONSTRAINTS ALL DEFERRED")
                for table in reversed(self.tables):
                    if table.name in tombstones:
                        match = " AND ".join(f"t.{_ident(c)} = d.{_ident(c)}" for c in table.pk)
                        changes += _count(
                            await self.target.execute(
                                f"DELETE FROM {table.qualified} AS t USING "
                                f"jsonb_populate_recordset(NULL::{table.qualified}, $2::jsonb) "
                                f"AS d WHERE t.customer_id = $1 AND {match}",
                                self.customer_id,
                                tombstones[table.name],
                            )
                        )
                changed = await self._changed(low, high)
                for table in self.tables:
                    if table.name in changed:
                        changes += await self._upsert(table, low, high)
        finally:
            await self.read.execute("ROLLBACK")
        self.watermark = high
        self.report.catchup_rounds += 1
        self.report.catchup_changes += changes
        return changes

    async def _changed(self, low: int, high: int) -> set[str]:
        """The tables with rows of a version in (low, high], in one round trip."""
        query = " UNION ALL ".join(
            f"SELECT {_literal(t.name)} WHERE EXISTS (SELECT FROM {t.qualified} {_CHANGES})"
            for t in self.tables
        )
        return {row[0] for row in await self.read.fetch(query, self.customer_id, low, high)}

    async def _upsert(self, table: TenantTable, low: int, high: int) -> int:
        """Upsert the table's changed rows on the target (through a COPY-filled stage)."""
        args = (self.customer_id, low, high)
        columns = table.column_list
        await self.target.execute(
            f"CREATE TEMP TABLE {_STAGE} ON COMMIT DROP AS "
            f"SELECT {columns} FROM {table.qualified} WITH NO DATA"
        )
        await self._pipe(
            f"SELECT {columns} FROM {table.qualified} {_CHANGES}", args, _STAGE, list(table.columns)
        )
        # A table made only of its key still needs DO UPDATE to count as applied.
        updates = [c for c in table.columns if c not in table.pk] or list(table.pk)
        action = ", ".join(f"{_ident(c)} = EXCLUDED.{_ident(c)}" for c in updates)
        conflict = ", ".join(_ident(c) for c in table.pk)
        applied = _count(
            await self.target.execute(
                f"INSERT INTO {table.qualified} ({columns}) SELECT {columns} FROM {_STAGE} "
                f"ON CONFLICT ({conflict}) DO UPDATE SET {action}"
            )
        )
        await self.target.execute(f"DROP TABLE {_STAGE}")
        return applied

    async def _checksums(self, conn: asyncpg.Connection) -> dict[str, tuple[int, str]]:
        """Per table: the customer's row count and the sum of its rows' hashes, in one query."""
        query = " UNION ALL ".join(
            f"SELECT {_literal(t.name)}, count(*), coalesce(sum(hashtextextended("
            f"ROW({t.column_list})::text, 0)), 0)::text FROM {t.qualified} WHERE customer_id = $1"
            for t in self.tables
        )
        return {row[0]: (row[1], row[2]) for row in await conn.fetch(query, self.customer_id)}

    async def _verify(self) -> None:
        source, target = await asyncio.gather(
            self._checksums(self.read), self._checksums(self.target)
        )
        differ = [name for name in source if source[name] != target[name]]
        if differ:
            raise MoveError(
                f"row counts or checksums differ after copying customer {self.customer_id}: "
                + ", ".join(f"{n} {source[n]} != {target[n]}" for n in differ)
            )
        self.report.rows = {name: count for name, (count, _) in target.items()}

    async def _freeze_and_switch(self) -> None:
        """Phase 3: freeze, final round, verification, the source fence, the switch."""
        frozen_at = time.monotonic()
        await self._set_state(FROZEN, bump=True)
        try:
            async with asyncio.timeout(self.freeze_timeout):
                await self._catch_up(hold=True)
                await self._verify()
        except TimeoutError:
            raise MoveError(
                f"the final catch-up and verification took more than {self.freeze_timeout:g} s"
            ) from None
        await self.write.execute(
            "UPDATE tenant_fences SET state = 'moved', updated_at = now() WHERE customer_id = $1",
            self.customer_id,
        )
        async with self.db.platform() as conn:
            version = await conn.fetchval(
                "UPDATE shard_map SET shard_id = $3, state = $4, version = version + 1, "
                "updated_at = now() WHERE customer_id = $1 AND shard_id = $2 AND state = $5 "
                "RETURNING version",
                self.customer_id,
                self.report.from_shard,
                self.report.to_shard,
                ACTIVE,
                FROZEN,
            )
        if version is None:
            raise MoveError(f"the shard map entry of customer {self.customer_id} changed")
        self.switched_at = time.monotonic()
        self.db.invalidate(self.customer_id)
        self.report.map_version = version
        self.report.freeze_seconds = self.switched_at - frozen_at


async def move_tenant(
    db: Database,
    customer_id: UUID,
    to_shard: int,
    *,
    batch: int = 5000,
    freeze_timeout: float = 5.0,
    settle_rows: int = 500,
    max_rounds: int = 10,
    fence_grace: float | None = None,
) -> MoveReport:
    """Move every row of ``customer_id`` to shard ``to_shard`` while it keeps working.

    Copy, catch up, freeze writes briefly, verify row counts and checksums, switch the shard
    map, delete the rows from the old shard (see the module docstring). ``batch``: rows per COPY
    and per delete; ``freeze_timeout``: seconds the writers may take to drain at a barrier and
    the final catch-up plus verification may take; ``settle_rows``: a catch-up round applying
    at most this many changes ends the catch-up (at most ``max_rounds`` rounds);
    ``fence_grace``: seconds the old shard keeps the exclusive fence after the switch
    (:data:`FENCE_GRACE` when None).

    Raises UnknownCustomer, MoveError (refused: unknown or inactive target, already there,
    another move running, tables differing; failed: undone, the message says why), or the
    cancellation, after undoing the move.
    """
    started = time.monotonic()
    lock_key = int.from_bytes(customer_id.bytes[:4], "big", signed=True)
    async with db.control.acquire() as control:
        if not await control.fetchval(
            "SELECT pg_try_advisory_lock($1, $2)", _MOVE_LOCK_CLASS, lock_key
        ):
            raise MoveError(f"a move of customer {customer_id} is already running")
        try:
            report = await _run(
                db,
                customer_id,
                to_shard,
                batch=batch,
                freeze_timeout=freeze_timeout,
                settle_rows=settle_rows,
                max_rounds=max_rounds,
                fence_grace=FENCE_GRACE if fence_grace is None else fence_grace,
            )
        finally:
            await control.execute("SELECT pg_advisory_unlock($1, $2)", _MOVE_LOCK_CLASS, lock_key)
    report.total_seconds = time.monotonic() - started
    log.info(
        "customer %s moved from shard %d to shard %d: %d rows, %d catch-up rounds, "
        "writes frozen %.3f s",
        customer_id,
        report.from_shard,
        to_shard,
        sum(report.rows.values()),
        report.catchup_rounds,
        report.freeze_seconds,
    )
    return report


async def _run(
    db: Database,
    customer_id: UUID,
    to_shard: int,
    *,
    batch: int,
    freeze_timeout: float,
    settle_rows: int,
    max_rounds: int,
    fence_grace: float,
) -> MoveReport:
    """The move itself, under the move lock of the customer."""
    row = await _map_row(db, customer_id)
    if row["shard_id"] == to_shard:
        raise MoveError(f"customer {customer_id} is already on shard {to_shard}")
    target = await _shard(db, to_shard)
    if target.status != ACTIVE:
        raise MoveError(f"shard {to_shard} is {target.status}, not active")
    source = await _shard(db, row["shard_id"])
    if row["state"] != ACTIVE:
        log.warning("customer %s was left %s by an interrupted move", customer_id, row["state"])
    report = MoveReport(customer_id, source.id, to_shard)
    move = _Move(
        db,
        customer_id,
        report,
        batch=batch,
        freeze_timeout=freeze_timeout,
        settle_rows=settle_rows,
        max_rounds=max_rounds,
    )
    async with (
        _session(source, customer_id) as move.lock,
        _session(source, customer_id) as move.read,
        _session(source, customer_id) as move.write,
        _session(target, customer_id) as move.target,
    ):
        await move.lock.execute(f"SET lock_timeout = {max(1, int(freeze_timeout * 1000))}")
        await move.check_tables()
        try:
            await move.copy_and_switch()
        except BaseException as exc:
            await abort_move(db, customer_id, to_shard, batch=batch)
            if isinstance(exc, Exception):
                raise MoveError(
                    f"moving customer {customer_id} to shard {to_shard} failed and was "
                    f"undone: {exc}"
                ) from exc
            raise
        await move.clean_source(fence_grace)
    return report


async def cli_tenant_move(settings: Settings, customer: str, to_shard: int) -> MoveReport:
    """``gb tenant move CUSTOMER --to SHARD``: ``customer`` is a customer id or name."""
    db, _ = await open_database(settings)
    try:
        try:
            customer_id = UUID(customer)
        except ValueError:
            async with db.platform() as conn:
                customer_id = await conn.fetchval(
                    "SELECT id FROM customers WHERE name = $1", customer
                )
            if customer_id is None:
                raise MoveError(f"no customer named {customer!r}") from None
        return await move_tenant(db, customer_id, to_shard)
    finally:
        await db.close()
