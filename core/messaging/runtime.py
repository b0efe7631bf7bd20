"""The messaging parts of one node, built from its settings and started with it.

The log follows ``GB_KAFKA_BOOTSTRAP``: unset, the embedded log in ``data_dir/log`` (one
process); set, Kafka. The shared state follows the broker: with the memory broker the recent
cache, idempotency keys, rate limits and presence live in this process; with the Redis broker
(several nodes) in Redis, shared by every node. A cluster needs both Kafka and Redis. The
persister runs in the node unless ``GB_PERSISTER=off`` (then ``gb persister`` processes do it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

from prometheus_client import CollectorRegistry

from ..config import Settings
from ..hub import Hub
from ..log import EmbeddedLog, KafkaLog, Log
from ..presence import PresenceStore, create_presence
from ..presence import rpc as presence_rpc
from ..ratelimit import Limit, MemoryRateLimiter, RateLimiter, RedisRateLimiter
from ..storage.database import Database
from ..tenancy.metering import UsageRecorder
from ..tenancy.quotas import Quotas
from . import rpc
from .cache import MemoryRecentCache, RecentCache, RedisLink, RedisRecentCache
from .delivery import CHANNEL_PREFIX, HubDeliverer, membership_guard
from .idempotency import IdempotencyStore, KeyStore, MemoryKeyStore, RedisKeyStore
from .metrics import MessagingCollector
from .persister import Persister
from .search import Search
from .service import MessageService
from .store import key_lookup

log = logging.getLogger("gb.messaging")

BURST_FACTOR = 5.0  # message rate limits allow bursts of 5 seconds' worth


def create_log(settings: Settings) -> Log:
    """The log the settings name: Kafka when brokers are given, else the embedded one."""
    if settings.kafka_bootstrap is not None:
        return KafkaLog(
            settings.kafka_bootstrap,
            client_id=f"gb-{settings.node_id}",
            replication_factor=settings.kafka_replication,
            idempotent=settings.kafka_idempotent == "on",
        )
    return EmbeddedLog(Path(settings.data_dir) / "log", settings.log_partitions)


class Messaging:
    """Log, service, persister, presence and their wiring into the hub, for one node."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        hub: Hub,
        *,
        quotas: Quotas | None,
        recorder: UsageRecorder | None,
        registry: CollectorRegistry,
    ) -> None:
        self.settings = settings
        self.db = db
        self.hub = hub
        self.log = create_log(settings)
        shared = hub.broker.name != "memory"  # several nodes: share through Redis
        self._link = RedisLink(settings.redis_url) if shared else None
        cache: RecentCache
        fast: KeyStore
        limiter: RateLimiter
        entries, history_ttl = settings.recent_history, settings.recent_history_ttl
        key_ttl, stale = settings.idempotency_ttl, settings.message_pending_timeout
        if self._link is not None:
            cache = RedisRecentCache(self._link, max_entries=entries, ttl=history_ttl)
            fast = RedisKeyStore(self._link, ttl=key_ttl, stale_after=stale)
            limiter = RedisRateLimiter(settings.redis_url)
        else:
            cache = MemoryRecentCache(max_entries=entries, ttl=history_ttl)
            fast = MemoryKeyStore(ttl=key_ttl, stale_after=stale)
            limiter = MemoryRateLimiter()
        self.limiter = limiter
        self.cache = cache
        self.presence: PresenceStore = create_presence(
            "redis" if shared else "memory",
            settings.redis_url,
            settings.node_id,
            settings.presence_ttl,
        )
        self.service = MessageService(
            db,
            self.log,
            topic=settings.log_topic,
            partitions=settings.log_partitions,
            cache=cache,
            keys=IdempotencyStore(fast, key_lookup(db)),
            limiter=limiter,
            user_limit=_limit(settings.user_message_rate),
            tenant_limit=_limit(settings.tenant_message_rate),
            quotas=quotas,
            usage=recorder,
            deliverer=HubDeliverer(hub),
            search=Search(db),
            max_content_bytes=settings.max_message_bytes,
            max_metadata_bytes=settings.max_message_bytes,
            pending_timeout=settings.message_pending_timeout,
            membership_ttl=settings.membership_ttl,
        )
        registry.register(MessagingCollector(self.service.stats))
        self.persister = (
            Persister(
                db,
                self.log,
                topic=settings.log_topic,
                partitions=settings.log_partitions,
                batch_max=settings.persister_batch,
                linger=settings.persister_linger,
                registry=registry,
            )
            if settings.persister == "inprocess"
            else None
        )
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Open the log (creating the topic), join the persister group, wire the hub."""
        await self.log.start()
        await self.log.ensure_topic(self.settings.log_topic, self.settings.log_partitions)
        await self.presence.start()
        if self.persister is not None:
            await self.persister.start()
            self._tasks.append(asyncio.get_running_loop().create_task(self.persister.run()))
        rpc.register(self.hub.rpc, self.service)
        presence_rpc.register(self.hub.rpc, self.presence)
        self.hub.set_guard(CHANNEL_PREFIX, membership_guard(self.service))
        self.hub.presence = self.presence
        self._tasks.append(asyncio.get_running_loop().create_task(self._heartbeats()))

    async def _heartbeats(self) -> None:
        """Renew this node's presence leases (a crashed node's expire by themselves) and repair
        the recent cache after a Redis outage."""
        while True:
            await asyncio.sleep(self.presence.heartbeat_interval)
            try:
                await self.presence.heartbeat()
            except Exception:  # the store is away: the local set is written back later
                log.debug("presence heartbeat failed", exc_info=True)
            # Conversations whose cache missed a message while Redis was away stop vouching.
            await self.service.repair()

    async def close(self) -> None:
        """Stop persisting (the batch in hand finishes), then close the log and stores."""
        if self.persister is not None:
            await self.persister.close()
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        self.hub.presence = None
        await self.presence.close()
        await self.cache.close()
        await self.limiter.close()
        await self.log.close()
        if self._link is not None:
            await self._link.close()


def _limit(rate: int) -> Limit:
    return Limit(rate=float(rate), burst=float(rate) * BURST_FACTOR)
