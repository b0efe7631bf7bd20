"""Usage metering: cheap recording on the hot path, batched writes, daily and monthly roll-ups.

``UsageRecorder.record`` adds to an in-process dict keyed by (customer, instance, kind) — no
I/O, no lock, no allocation when the key is already there. ``flush`` (every ``flush_interval``
from ``run``, sooner when ``max_keys`` keys are pending) swaps the dict for an empty one and
writes one ``usage_events`` row per key with COPY, one transaction per shard as
``gb_platform``. Rows a shard did not take go back into the dict for the next flush, so an
outage delays usage but loses none of it (except at ``close``, which says so in the log).

``rollup`` turns a UTC day of ``usage_events`` into ``usage_rollups`` rows (per instance, and
per customer under the nil instance id) and recomputes the month rows from the day rows.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Iterable
from enum import StrEnum
from typing import Final
from uuid import UUID

from gb.core.storage.database import Database, UnknownCustomer

__all__ = ["NIL_UUID", "UsageKind", "UsageRecorder", "rollup", "usage_snapshot"]

log = logging.getLogger(__name__)

NIL_UUID: Final = UUID(int=0)
"""The instance id of a customer-wide roll-up row (the total over every instance)."""


class UsageKind(StrEnum):
    """What is metered (``usage_events.kind``)."""

    MESSAGE = "message"
    CONNECTION_MINUTE = "connection_minute"
    MEDIA_MINUTE = "media_minute"
    BOT_RUN = "bot_run"
    STORAGE_BYTE_DAY = "storage_byte_day"


_KINDS: Final = frozenset(UsageKind)
_COLUMNS: Final = ("customer_id", "instance_id", "kind", "quantity", "created_at")

Id = UUID | str
"""A customer or instance id as the caller holds it: a UUID, or its text (what tokens carry)."""

UsageKey = tuple[Id, Id | None, str]
"""(customer id, instance id or None for customer-wide usage, kind), as recorded."""


def _as_uuid(value: Id) -> UUID:
    return value if isinstance(value, UUID) else UUID(value)


class UsageRecorder:
    """In-process usage aggregate flushed in batches to the customers' shards."""

    def __init__(
        self, db: Database, *, flush_interval: float = 1.0, max_keys: int = 100_000
    ) -> None:
        self.db = db
        self.flush_interval = flush_interval
        self.max_keys = max_keys
        self._pending: dict[UsageKey, int] = {}
        self._inflight: list[dict[UsageKey, int]] = []  # swapped out, not written yet
        self._written: dict[UsageKey, int] = {}  # totals written since start
        self._wake = asyncio.Event()

    def record(self, customer_id: Id, instance_id: Id | None, kind: str, quantity: int = 1) -> None:
        """Add ``quantity`` of ``kind`` to the pending usage; O(1), no I/O.

        ``kind`` is checked only the first time a key is seen in a batch (a ``ValueError``
        for a kind not in :class:`UsageKind`), so the common case is one dict update. Ids may
        be given as text (as the node's token identity holds them): a ``str`` caches its hash,
        a ``UUID`` computes it in Python on every call, which makes the call about 3x slower;
        they are parsed once per key at flush. Use one form per id, or it counts as two keys.
        """
        key = (customer_id, instance_id, kind)
        pending = self._pending
        try:
            pending[key] += quantity
        except KeyError:
            if kind not in _KINDS:
                raise ValueError(f"unknown usage kind {kind!r}") from None
            pending[key] = quantity
            if len(pending) >= self.max_keys:
                self._wake.set()

    @property
    def pending(self) -> int:
        """How many keys wait for the next flush."""
        return len(self._pending)

    async def flush(self) -> int:
        """Write the pending usage; returns the rows written. Never raises for a failed shard:
        its rows wait for the next flush and the error is logged."""
        if not self._pending:
            return 0
        batch, self._pending = self._pending, {}
        self._inflight.append(batch)
        stamp = dt.datetime.now(dt.UTC)
        written = 0
        try:
            by_shard = await self._group_by_shard(batch)
            for shard_id, keyed in by_shard.items():
                rows = [(*row, batch[key], stamp) for key, row in keyed]
                try:
                    async with self.db.platform(shard_id) as conn:
                        await conn.copy_records_to_table(
                            "usage_events", records=rows, columns=_COLUMNS
                        )
                except Exception:
                    log.exception(
                        "usage: %d rows kept for the next flush (shard %d)", len(rows), shard_id
                    )
                    continue
                for key, _ in keyed:
                    self._written[key] = self._written.get(key, 0) + batch.pop(key)
                written += len(rows)
        finally:
            # Whatever was not written (failed, or the flush was cancelled) goes back.
            self._inflight.remove(batch)
            pending = self._pending
            for key, quantity in batch.items():
                pending[key] = pending.get(key, 0) + quantity
        return written

    async def _group_by_shard(
        self, batch: dict[UsageKey, int]
    ) -> dict[int, list[tuple[UsageKey, tuple[UUID, UUID | None, str]]]]:
        """The batch's keys per shard id with their ids parsed; drops (from ``batch``, with a
        log line) the keys that can never be written: no quantity, malformed id, unknown
        customer."""
        by_customer: dict[UUID, list[tuple[UsageKey, tuple[UUID, UUID | None, str]]]] = {}
        for key, quantity in list(batch.items()):
            customer, instance, kind = key
            try:
                if quantity < 0:
                    raise ValueError(f"negative quantity {quantity}")
                parsed = (
                    _as_uuid(customer),
                    None if instance is None else _as_uuid(instance),
                    kind,
                )
            except ValueError as exc:
                log.error("usage: dropped %s: %s", key, exc)
                del batch[key]
                continue
            if quantity == 0:
                del batch[key]
                continue
            by_customer.setdefault(parsed[0], []).append((key, parsed))
        by_shard: dict[int, list[tuple[UsageKey, tuple[UUID, UUID | None, str]]]] = {}
        for customer_id, keyed in by_customer.items():
            try:
                shard = await self.db.shard_of(customer_id)
            except UnknownCustomer:
                log.warning(
                    "usage: dropped %d rows of unknown customer %s", len(keyed), customer_id
                )
                for key, _ in keyed:
                    del batch[key]
                continue
            except Exception:
                log.exception(
                    "usage: shard of %s unknown; rows kept for the next flush", customer_id
                )
                continue
            by_shard.setdefault(shard.id, []).extend(keyed)
        return by_shard

    async def run(self, stop: asyncio.Event) -> None:
        """Flush every ``flush_interval`` (or as soon as ``max_keys`` are pending) until
        ``stop`` is set; then flush once more and return."""
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                waking = asyncio.ensure_future(self._wake.wait())
                try:
                    await asyncio.wait(
                        (stopping, waking),
                        timeout=self.flush_interval,
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                finally:
                    waking.cancel()
                self._wake.clear()
                await self.flush()
        finally:
            stopping.cancel()

    async def close(self) -> None:
        """Flush what is pending; what cannot be written now is logged as lost."""
        await self.flush()
        if self._pending:
            lost = sum(self._pending.values())
            log.error("usage: %d keys (%d units) not written at close", len(self._pending), lost)
            self._pending = {}

    def totals(self) -> dict[UsageKey, int]:
        """Usage recorded since start per key: written, being written and pending."""
        totals = dict(self._written)
        for source in (*self._inflight, self._pending):
            for key, quantity in source.items():
                totals[key] = totals.get(key, 0) + quantity
        return totals


def usage_snapshot(recorder: UsageRecorder) -> dict[UsageKey, int]:
    """Monotonic per-(customer, instance, kind) totals of this process, for metrics export."""
    return recorder.totals()


_ROLLUP_DAY: Final = """
INSERT INTO usage_rollups AS r (customer_id, instance_id, kind, period, period_start, quantity)
SELECT customer_id, instance_id, kind, 'day', $3::date, sum(quantity)
FROM usage_events
WHERE created_at >= $1 AND created_at < $2 AND instance_id IS NOT NULL
GROUP BY customer_id, instance_id, kind
UNION ALL
SELECT customer_id, $4::uuid, kind, 'day', $3::date, sum(quantity)
FROM usage_events
WHERE created_at >= $1 AND created_at < $2
GROUP BY customer_id, kind
ON CONFLICT (customer_id, instance_id, kind, period, period_start)
DO UPDATE SET quantity = EXCLUDED.quantity, updated_at = now()
"""

# The month rows of every (customer, instance, kind) that has a row for the day.
_ROLLUP_MONTH: Final = """
INSERT INTO usage_rollups AS r (customer_id, instance_id, kind, period, period_start, quantity)
SELECT d.customer_id, d.instance_id, d.kind, 'month', $2::date, sum(d.quantity)
FROM usage_rollups d
WHERE d.period = 'day' AND d.period_start >= $2 AND d.period_start < $3
  AND (d.customer_id, d.instance_id, d.kind) IN (
      SELECT customer_id, instance_id, kind FROM usage_rollups
      WHERE period = 'day' AND period_start = $1)
GROUP BY d.customer_id, d.instance_id, d.kind
ON CONFLICT (customer_id, instance_id, kind, period, period_start)
DO UPDATE SET quantity = EXCLUDED.quantity, updated_at = now()
"""


def month_bounds(day: dt.date) -> tuple[dt.date, dt.date]:
    """The first day of ``day``'s month and of the next month."""
    start = day.replace(day=1)
    end = (start + dt.timedelta(days=32)).replace(day=1)
    return start, end


async def rollup(db: Database, day: dt.date, shard_ids: Iterable[int] | None = None) -> int:
    """Roll the UTC ``day`` of usage up on every shard (or ``shard_ids``); returns day rows.

    Idempotent: running it again recomputes the same rows (events that arrived late are
    included). Rows are upserted, never deleted, so rolling up a day whose partition was
    detached keeps the roll-ups made before.
    """
    start = dt.datetime.combine(day, dt.time(), dt.UTC)
    end = start + dt.timedelta(days=1)
    month_start, month_end = month_bounds(day)
    if shard_ids is None:
        shard_ids = [shard.id for shard in await db.shards()]
    rows = 0
    for shard_id in shard_ids:
        async with db.platform(shard_id) as conn:
            status = await conn.execute(_ROLLUP_DAY, start, end, day, NIL_UUID)
            rows += int(status.rsplit(" ", 1)[1])
            await conn.execute(_ROLLUP_MONTH, day, month_start, month_end)
    return rows
