"""The persister: a consumer group that writes the message log to the ``messages`` table.

Each persister is one member of the consumer group (``gb-persister`` by default); Kafka deals
the topic's partitions among the members, so persister processes scale out by starting more.
Per fetched batch (up to ``batch_max`` records, waiting ``linger`` seconds to fill it):

1. **Decode** every record (:func:`~gb.core.messaging.record.decode`). A record that is not a
   valid message (a *poison* record) is counted, logged and skipped: it never stalls the
   partition.
2. **Route** each message to its customer's shard (``Database.shard_of``).
3. **Write**, per shard and concurrently, ONE transaction as ``gb_platform``: ``COPY`` the rows
   into a temporary staging table, ``INSERT INTO messages SELECT ... ON CONFLICT (id,
   created_at) DO NOTHING`` (``created_at`` is the time inside the UUIDv7 id, so a record read
   twice is inserted once), the client keys into ``message_keys`` (first wins), and
   ``log_watermarks`` for the batch's partitions (never moving back). The monthly partitions
   of the rows' months are created first when missing (``ensure_partitions``).
4. **Commit the log offsets** only once every shard committed. A crash in between re-reads the
   batch, which the database ignores; so every record is in PostgreSQL exactly once.

While the database writes one batch, the next one is fetched and decoded (the Python work
overlaps PostgreSQL's); batches are still written and committed one after the other.

**Failures.** A database error (PostgreSQL down, a shard unreachable, a tenant move's write
fence) fails only the shards it hit; their rows are retried after a capped exponential back-off
until they commit, and the batch's offsets wait for them. A row PostgreSQL refuses for what it
holds (a data or constraint error, which the codec's checks should make impossible) is isolated
by splitting the shard's rows in halves, and only that row is skipped as poison. Rows of a month
whose partition was archived (detached) are poison too.

**Watermarks.** A shard's ``log_watermarks(topic, partition)`` promises that every record of
that partition below ``next_offset`` that belongs to the shard is in the shard. Shards written
in a batch get it in the same transaction; shards that got no rows are brought up to the
persisted offsets every ``watermark_interval`` seconds, so recovery's view of a quiet shard
does not go stale.

**Lag** is exported per partition in records (log end minus the oldest unpersisted offset) and
in seconds since the log accepted the oldest record not yet persisted.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import re
import signal
import time
from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

import asyncpg
import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from gb.core.log import KafkaLog, Log, LogConsumer, LogUnavailable, Record
from gb.core.storage.database import Database, ShardUnavailable, UnknownCustomer, open_database
from gb.core.storage.partitions import ensure_partitions, partition_name

from .record import BadRecord, MessageRecord, decode

if TYPE_CHECKING:
    from gb.core.config import Settings

__all__ = ["Persister", "PersisterMetrics", "run_persister"]

log = logging.getLogger(__name__)

T = TypeVar("T")

DB_ERRORS = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,  # a pooled connection the server closed as it shut down
    OSError,  # refused, reset, timed out (TimeoutError is an OSError)
    ShardUnavailable,
)
"""What a database write may fail with and be retried after."""

DECODE_SLICE = 200
"""Records decoded between two yields to the event loop (about 5 ms of work)."""

_ROW_ERROR_CLASSES = ("22", "23", "54")  # data exception, integrity, program limit (tsvector)

_STAGING = "gb_persister_staging"
_COLUMNS = (
    "id", "customer_id", "instance_id", "conversation_id", "sender", "kind", "content",
    "metadata", "client_key", "shard_key", "lang", "position", "log_partition", "created_at",
)  # fmt: skip
_CUSTOMER = _COLUMNS.index("customer_id")
_CREATED = _COLUMNS.index("created_at")
_CLIENT_KEY = _COLUMNS.index("client_key")
_POSITION = _COLUMNS.index("position")
_PARTITION = _COLUMNS.index("log_partition")

# Per connection, once: the staging table empties itself at every commit that used it.
_CREATE_STAGING = f"""
CREATE TEMP TABLE IF NOT EXISTS {_STAGING} (
    id uuid, customer_id uuid, instance_id uuid, conversation_id uuid, sender text, kind text,
    content text, metadata jsonb, client_key text, shard_key integer, lang text,
    position bigint, log_partition integer, created_at timestamptz
) ON COMMIT DELETE ROWS
"""
# An unknown text-search configuration name falls back to 'simple' rather than failing the row.
_INSERT_MESSAGES = f"""
INSERT INTO messages ({", ".join(_COLUMNS)})
SELECT s.id, s.customer_id, s.instance_id, s.conversation_id, s.sender, s.kind, s.content,
       s.metadata, s.client_key, s.shard_key, coalesce(l.cfg, 'simple'::regconfig), s.position,
       s.log_partition, s.created_at
FROM {_STAGING} s
LEFT JOIN (SELECT DISTINCT ON (cfgname) cfgname, oid::regconfig AS cfg FROM pg_ts_config
           ORDER BY cfgname, cfgnamespace <> 'pg_catalog'::regnamespace) l ON l.cfgname = s.lang
ON CONFLICT (id, created_at) DO NOTHING
"""
_INSERT_KEYS = f"""
INSERT INTO message_keys (customer_id, conversation_id, sender, client_key, message_id, position,
                          created_at)
SELECT customer_id, conversation_id, sender, client_key, id, position, created_at
FROM {_STAGING} WHERE client_key IS NOT NULL
ON CONFLICT DO NOTHING
"""
# Partitions in ascending order: concurrent writers lock the rows in the same order.
_WATERMARKS = """
INSERT INTO log_watermarks (topic, partition, next_offset)
SELECT $1, w.p, w.o FROM unnest($2::integer[], $3::bigint[]) AS w(p, o)
ON CONFLICT (topic, partition) DO UPDATE
SET next_offset = greatest(log_watermarks.next_offset, excluded.next_offset), updated_at = now()
"""
_ATTACHED = """
SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = 'public.messages'::regclass
"""
_MONTH_PARTITION = re.compile(r"messages_p(\d{4})(\d{2})")

Row = tuple[Any, ...]
"""One ``messages`` row in ``_COLUMNS`` order."""


class _Batch:
    """Records fetched together: their rows, and per partition the first and next offsets."""

    __slots__ = ("ends", "fetched", "firsts", "oldest_ms", "records", "rows")

    def __init__(self, records: list[Record], rows: list[Row], fetched: float) -> None:
        self.records = records
        self.rows = rows
        self.fetched = fetched
        self.firsts: dict[int, int] = {}
        self.ends: dict[int, int] = {}  # the watermark the batch earns: last offset + 1
        for record in records:
            self.firsts.setdefault(record.partition, record.offset)
            self.ends[record.partition] = record.offset + 1
        self.oldest_ms = min(record.timestamp_ms for record in records)


class PersisterMetrics:
    """The persister's Prometheus metrics, on the registry given (a private one by default)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r = self.registry
        self.records = Counter(
            "gb_persister_records",
            "Valid records written to PostgreSQL (rows already there included).",
            registry=r,
        )
        self.duplicates = Counter(
            "gb_persister_duplicates",
            "Records whose row was already in PostgreSQL (the log delivered them again).",
            registry=r,
        )
        self.batches = Counter(
            "gb_persister_batches", "Batches persisted and committed on the log.", registry=r
        )
        self.batch_seconds = Histogram(
            "gb_persister_batch_seconds",
            "Seconds from a batch's fetch to its log commit (retries included).",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=r,
        )
        self.poison = Counter(
            "gb_persister_poison_records",
            "Records skipped: not a valid message, unknown customer, archived month, or a row "
            "PostgreSQL refused.",
            ["reason"],
            registry=r,
        )
        self.errors = Counter(
            "gb_persister_errors",
            "Failed database writes (retried) and failed log operations.",
            ["kind"],
            registry=r,
        )
        self.lag_records = Gauge(
            "gb_persister_lag_records",
            "Records of a partition this persister owns that are not persisted yet.",
            ["partition"],
            registry=r,
        )
        self.lag_seconds = Gauge(
            "gb_persister_lag_seconds",
            "Seconds since the log accepted the oldest record not persisted yet (0: caught up).",
            registry=r,
        )
        for reason in ("decode", "unknown_customer", "archived_month", "rejected"):
            self.poison.labels(reason)
        for kind in ("database", "log"):
            self.errors.labels(kind)


class Persister:
    """Writes the log topic's messages to PostgreSQL as one member of a consumer group.

    ``start`` joins the group (creating the topic with ``partitions`` partitions when given),
    ``run`` persists batch after batch until ``close``, which lets the batch in hand finish
    (unless it is waiting out a database outage: it is then read again by the next owner of
    its partitions) and leaves the group.
    """

    def __init__(
        self,
        db: Database,
        log: Log,
        *,
        topic: str,
        group: str = "gb-persister",
        partitions: int | None = None,
        batch_max: int = 5000,
        linger: float = 0.05,
        poll: float = 1.0,
        retry_initial: float = 0.05,
        retry_max: float = 5.0,
        watermark_interval: float = 2.0,
        lag_interval: float = 1.0,
        registry: CollectorRegistry | None = None,
    ) -> None:
        if batch_max < 1:
            raise ValueError(f"batch_max must be >= 1, not {batch_max}")
        self.db = db
        self.log = log
        self.topic = topic
        self.group = group
        self.partitions = partitions
        self.batch_max = batch_max
        self.linger = linger
        self.poll = poll
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.watermark_interval = watermark_interval
        self.lag_interval = lag_interval
        self.metrics = PersisterMetrics(registry)
        self.metrics.lag_seconds.set_function(self._lag_seconds)
        self._consumer: LogConsumer | None = None
        self._stop = asyncio.Event()
        self._running: asyncio.Event | None = None  # set when run() has returned
        self._months: dict[int, set[datetime.date]] = {}  # shard -> attached months of messages
        self._frontier: dict[int, int] = {}  # partition -> offset below which all is persisted
        self._marked: dict[int, dict[int, int]] = {}  # shard -> partition -> watermark written
        self._in_hand: list[_Batch] = []  # fetched, not committed yet (at most two)
        self._lag_labels: set[int] = set()
        self._next_watermarks = 0.0
        self._next_lag = 0.0

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Join the consumer group (LogUnavailable when the log cannot be reached)."""
        if self.partitions is not None:
            await self.log.ensure_topic(self.topic, self.partitions)
        consumer = self.log.consumer(self.topic, self.group)
        await consumer.start()
        self._consumer = consumer

    async def run(self) -> None:
        """Persist batches until :meth:`close`; database and log outages are waited out."""
        if self._consumer is None:
            raise RuntimeError("Persister.run() before start()")
        self._running = asyncio.Event()
        writing: asyncio.Future[bool] | None = None
        try:
            while not self._stop.is_set():
                # The next batch is fetched and decoded while the database writes this one.
                batch = await self._next_batch()
                if writing is not None and not await writing:
                    break  # closed while waiting out an outage
                writing = None if batch is None else asyncio.ensure_future(self._persist(batch))
                await self._maintain()
            if writing is not None:
                await writing  # drain: the batch in hand is finished
        finally:
            self._in_hand.clear()
            self._running.set()

    async def close(self) -> None:
        """Finish the batch in hand (unless in back-off), then leave the group; idempotent."""
        self._stop.set()
        if self._running is not None:
            await self._running.wait()
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.close()

    # -- one batch ----------------------------------------------------------------------------

    # Waits go through asyncio.wait, which never raises into this coroutine: a cancellation
    # thrown into it would also stop CPython 3.11 from tracing its callers (coverage).

    async def _until_stopped(self, work: Awaitable[T]) -> T | None:
        """``work``'s result, or None when :meth:`close` is called first (work is cancelled)."""
        task = asyncio.ensure_future(work)
        stopping = asyncio.ensure_future(self._stop.wait())
        await asyncio.wait([task, stopping], return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not task.done():
            task.cancel()
            await asyncio.wait([task])
            return None
        return task.result()

    async def _pause(self, seconds: float) -> bool:
        """Sleep ``seconds`` unless closed first; True when still running."""
        stopping = asyncio.ensure_future(self._stop.wait())
        await asyncio.wait([stopping], timeout=seconds)
        stopping.cancel()
        return not self._stop.is_set()

    async def _fetch(self) -> list[Record]:
        """Up to ``batch_max`` records: the first wait is ``poll``, then ``linger`` to fill up."""
        consumer = self._consumer
        assert consumer is not None
        try:
            records = await self._until_stopped(consumer.fetch(self.batch_max, self.poll))
            if not records:
                return []
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self.linger
            while len(records) < self.batch_max and (left := deadline - loop.time()) > 0:
                more = await consumer.fetch(self.batch_max - len(records), left)
                if not more:
                    break
                records.extend(more)
        except LogUnavailable as exc:
            self.metrics.errors.labels("log").inc()
            log.warning("persister: fetching from %r failed: %s", self.topic, exc)
            await self._pause(self.retry_initial)
            return []
        return records

    async def _next_batch(self) -> _Batch | None:
        """The next batch, decoded (poison counted); None when there was nothing to fetch."""
        records = await self._fetch()
        if not records:
            return None
        batch = _Batch(records, await self._decode(records), time.perf_counter())
        self._in_hand.append(batch)
        return batch

    async def _persist(self, batch: _Batch) -> bool:
        """Write the batch to its shards, then commit it on the log.

        Retries the shards that failed until they commit; False when closed meanwhile (the
        offsets are then not committed and the records will be read again).
        """
        todo = batch.rows
        delay = self.retry_initial
        try:
            while True:
                todo = await self._attempt(todo, batch.ends)
                if not todo:
                    break
                await self._maintain(refresh=False)  # the lag keeps moving during an outage
                if not await self._pause(delay):
                    return False
                delay = min(delay * 2, self.retry_max)
            try:
                await self._consumer_or_fail().commit(batch.records)
            except LogUnavailable as exc:  # read again later; the rows are already there
                self.metrics.errors.labels("log").inc()
                log.warning("persister: committing offsets on %r failed: %s", self.topic, exc)
        finally:
            self._in_hand.remove(batch)
        for partition, offset in batch.ends.items():
            self._frontier[partition] = max(self._frontier.get(partition, 0), offset)
        self.metrics.batches.inc()
        self.metrics.batch_seconds.observe(time.perf_counter() - batch.fetched)
        return True

    def _consumer_or_fail(self) -> LogConsumer:
        assert self._consumer is not None
        return self._consumer

    async def _decode(self, records: Sequence[Record]) -> list[Row]:
        """The row of each valid message; poison records are counted and logged.

        Yields to the event loop every ``DECODE_SLICE`` records, so that the batch being
        written meanwhile keeps streaming to PostgreSQL instead of waiting for the loop.
        """
        out: list[Row] = []
        for i, record in enumerate(records):
            if i % DECODE_SLICE == DECODE_SLICE - 1:
                await asyncio.sleep(0)
            try:
                message = decode(record.value)
            except BadRecord as exc:
                self._poison("decode", record.partition, record.offset, str(exc))
                continue
            out.append(_row(message, record))
        return out

    def _poison(self, reason: str, partition: int, offset: int, why: str) -> None:
        self.metrics.poison.labels(reason).inc()
        log.error("persister: skipping record %s/%d@%d (%s): %s",
                  self.topic, partition, offset, reason, why)  # fmt: skip

    def _poison_row(self, reason: str, row: Row, why: str) -> None:
        self._poison(reason, row[_PARTITION], row[_POSITION], why)

    async def _attempt(self, todo: list[Row], marks: dict[int, int]) -> list[Row]:
        """Write ``todo`` to the shards (each in one transaction); returns the rows of the shards
        that failed with a database error."""
        try:
            by_shard = await self._route(todo)
        except DB_ERRORS as exc:  # the control database (shard map) is unreachable
            self._failed(None, exc)
            return todo
        shards = sorted(by_shard)
        done = await asyncio.gather(*(self._try_shard(s, by_shard[s], marks) for s in shards))
        return [row for shard, ok in zip(shards, done, strict=True) if not ok
                for row in by_shard[shard]]  # fmt: skip

    async def _try_shard(self, shard: int, rows: list[Row], marks: dict[int, int]) -> bool:
        """Write one shard; False after a database error (counted, logged: to be retried)."""
        try:
            await self._write_shard(shard, rows, marks)
        except DB_ERRORS as exc:
            self._failed(shard, exc)
            return False
        return True

    def _failed(self, shard: int | None, exc: BaseException) -> None:
        self.metrics.errors.labels("database").inc()
        self.db.invalidate()  # a tenant move may have switched the customer's shard
        if shard is not None:
            self._months.pop(shard, None)  # a partition may have been detached meanwhile
        where = "the shard map" if shard is None else f"shard {shard}"
        log.warning("persister: writing to %s failed, retrying: %r", where, exc)

    async def _route(self, todo: list[Row]) -> dict[int, list[Row]]:
        """The rows per shard id; rows of customers without a shard are poison."""
        shard_of: dict[UUID, int | None] = {}
        by_shard: dict[int, list[Row]] = {}
        unknown: list[Row] = []
        for row in todo:
            customer = row[_CUSTOMER]
            if customer not in shard_of:
                try:
                    shard_of[customer] = (await self.db.shard_of(customer)).id
                except UnknownCustomer:
                    shard_of[customer] = None
            shard = shard_of[customer]
            if shard is None:
                unknown.append(row)
            else:
                by_shard.setdefault(shard, []).append(row)
        for row in unknown:  # reported once routing is complete: a failed attempt is redone
            self._poison_row("unknown_customer", row, f"customer {row[_CUSTOMER]} has no shard")
        return by_shard

    async def _write_shard(self, shard: int, rows: list[Row], marks: dict[int, int]) -> None:
        """One shard's rows and watermarks in one transaction (or isolating a refused row).

        Rows found to be poison are removed from ``rows``, so a retry does not meet them again.
        """
        rows[:] = await self._in_attached_months(shard, rows)
        try:
            inserted = await self._write(shard, rows, marks)
        except asyncpg.PostgresError as exc:
            if not _is_row_error(exc):
                raise
            log.warning("persister: shard %d refused a row (%s); isolating it", shard, exc)
            refused: list[Row] = []
            try:
                inserted = await self._isolate(shard, rows, refused)
            finally:  # also when isolating failed half-way: a retry must not count them again
                gone = {id(row) for row in refused}
                rows[:] = [row for row in rows if id(row) not in gone]
            await self._write(shard, (), marks)
        self.metrics.records.inc(len(rows))
        self.metrics.duplicates.inc(len(rows) - inserted)

    async def _isolate(self, shard: int, rows: list[Row], refused: list[Row]) -> int:
        """Write ``rows`` in halves, recursively, moving each single row PostgreSQL refuses to
        ``refused`` (poison); returns the rows inserted. No watermark is written here: only
        once all the rows are in."""
        try:
            return await self._write(shard, rows, None)
        except asyncpg.PostgresError as exc:
            if not _is_row_error(exc):
                raise
            if len(rows) == 1:
                self._poison_row("rejected", rows[0], f"{exc.sqlstate}: {exc}")
                refused.append(rows[0])
                return 0
            half = len(rows) // 2
            return await self._isolate(shard, rows[:half], refused) + await self._isolate(
                shard, rows[half:], refused
            )

    async def _write(self, shard: int, rows: Sequence[Row], marks: dict[int, int] | None) -> int:
        """COPY + insert-if-absent + keys + watermarks in one transaction; rows inserted."""
        inserted = 0
        async with self.db.platform(shard) as conn:
            if rows:
                await conn.execute(_CREATE_STAGING)
                await conn.copy_records_to_table(_STAGING, records=rows, columns=_COLUMNS)
                status = await conn.execute(_INSERT_MESSAGES)
                inserted = int(status.rsplit(" ", 1)[1])
                if any(row[_CLIENT_KEY] is not None for row in rows):
                    await conn.execute(_INSERT_KEYS)
            if marks:
                partitions = sorted(marks)
                offsets = [marks[p] for p in partitions]
                await conn.execute(_WATERMARKS, self.topic, partitions, offsets)
        if marks:
            written = self._marked.setdefault(shard, {})
            for partition, offset in marks.items():
                written[partition] = max(written.get(partition, 0), offset)
        return inserted

    async def _in_attached_months(self, shard: int, rows: list[Row]) -> list[Row]:
        """``rows`` whose month has a partition on the shard, creating the missing ones; rows
        of an archived (detached) month are poison."""
        months = {datetime.date(r[_CREATED].year, r[_CREATED].month, 1) for r in rows}
        attached = self._months.get(shard, set())
        if months <= attached:
            return rows
        attached = await self._attached(shard)
        if not months <= attached:
            async with self.db.maintenance(shard) as conn:
                for month in sorted(months - attached):
                    await ensure_partitions(conn, today=month, months_back=0, months_ahead=0)
            attached = await self._attached(shard)
        self._months[shard] = attached
        archived = months - attached
        if not archived:
            return rows
        kept: list[Row] = []
        for row in rows:
            month = datetime.date(row[_CREATED].year, row[_CREATED].month, 1)
            if month in archived:
                name = partition_name("messages", month)
                self._poison_row("archived_month", row, f"{name} is not attached")
            else:
                kept.append(row)
        return kept

    async def _attached(self, shard: int) -> set[datetime.date]:
        async with self.db.platform(shard) as conn:
            names = [r["relname"] for r in await conn.fetch(_ATTACHED)]
        months: set[datetime.date] = set()
        for name in names:
            match = _MONTH_PARTITION.fullmatch(name)
            if match is not None:
                months.add(datetime.date(int(match[1]), int(match[2]), 1))
        return months

    # -- between batches ------------------------------------------------------------------------

    async def _maintain(self, *, refresh: bool = True) -> None:
        """Refresh the lag gauges and (``refresh``) quiet shards' watermarks when due."""
        now = time.monotonic()
        if now >= self._next_lag:
            self._next_lag = now + self.lag_interval
            await self._update_lag()
        if refresh and now >= self._next_watermarks:
            self._next_watermarks = now + self.watermark_interval
            await self._refresh_watermarks()

    async def _update_lag(self) -> None:
        consumer = self._consumer_or_fail()
        try:
            ends = await consumer.end_offsets()
            positions = await consumer.positions()
        except LogUnavailable as exc:
            self.metrics.errors.labels("log").inc()
            log.warning("persister: cannot read the lag of %r: %s", self.topic, exc)
            return
        for partition, end in ends.items():
            firsts = [b.firsts[partition] for b in self._in_hand if partition in b.firsts]
            start = min(firsts) if firsts else positions.get(partition, end)
            self.metrics.lag_records.labels(str(partition)).set(max(0, end - start))
        for partition in self._lag_labels - ends.keys():
            self.metrics.lag_records.remove(str(partition))
        self._lag_labels = set(ends)

    def _lag_seconds(self) -> float:
        if not self._in_hand:
            return 0.0
        oldest = min(batch.oldest_ms for batch in self._in_hand)
        return max(0.0, time.time() - oldest / 1000)

    async def _refresh_watermarks(self) -> None:
        """Bring every shard's watermarks up to the persisted offsets of owned partitions."""
        owned = self._consumer_or_fail().assignment
        self._frontier = {p: o for p, o in self._frontier.items() if p in owned}
        if not self._frontier:
            return
        try:
            shards = [s.id for s in await self.db.shards() if s.status != "retired"]
        except DB_ERRORS as exc:
            self._failed(None, exc)
            return
        for shard in shards:
            written = self._marked.get(shard, {})
            behind = {p: o for p, o in self._frontier.items() if written.get(p, -1) < o}
            if not behind:
                continue
            try:
                await self._write(shard, (), behind)
            except DB_ERRORS as exc:
                self._failed(shard, exc)


def _row(message: MessageRecord, record: Record) -> Row:
    """The ``messages`` row of a message read at ``record`` (``_COLUMNS`` order)."""
    return (
        message.id,
        message.customer_id,
        message.instance_id,
        message.conversation_id,
        message.sender,
        message.kind,
        message.content,
        orjson.dumps(message.metadata).decode(),
        message.client_key,
        message.shard_key,
        message.lang,
        record.offset,
        record.partition,
        message.created_at,
    )


def _is_row_error(exc: asyncpg.PostgresError) -> bool:
    """A refusal of what a row holds (not of the database's state): isolate it, skip it."""
    code = exc.sqlstate or ""
    return code[:2] in _ROW_ERROR_CLASSES


async def run_persister(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """``gb persister``: persist the Kafka log until SIGTERM/SIGINT (or ``stop``), then drain.

    Opens the database (migrating it) and the Kafka log from ``settings``, serves
    ``/metrics`` on ``host:http_port``, and runs one :class:`Persister`. The embedded log is
    persisted inside the node instead (``GB_PERSISTER=inprocess``): ValueError without
    ``GB_KAFKA_BOOTSTRAP``.
    """
    if settings.kafka_bootstrap is None:
        raise ValueError(
            "gb persister reads the Kafka log: set GB_KAFKA_BOOTSTRAP (with the embedded log "
            "the node persists in-process, GB_PERSISTER=inprocess)"
        )
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    registry = CollectorRegistry(auto_describe=True)
    server, thread = start_http_server(settings.http_port, settings.host, registry)
    db, _dsn = await open_database(settings)
    kafka = KafkaLog(settings.kafka_bootstrap, client_id=f"gb-persister-{settings.node_id}")
    persister = Persister(
        db,
        kafka,
        topic=settings.log_topic,
        batch_max=settings.persister_batch,
        linger=settings.persister_linger,
        registry=registry,
    )
    try:
        # Not kafka.start(): that connects the producer, and the persister only consumes.
        await persister.start()
        log.info("persister: consuming %r as %r", settings.log_topic, persister.group)
        running = asyncio.create_task(persister.run())
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait([running, stopping], return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        await persister.close()  # run() returns once the batch in hand is persisted
        await running  # a crash of run() is raised here
    finally:
        await persister.close()
        await kafka.close()
        await db.close()
        server.shutdown()
        thread.join(5)
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
