"""MessageService: the transport-independent messaging API (RPC and REST call it).

**Send.** validate -> rate limits (user, tenant) -> membership -> idempotency claim -> quota ->
cache intent -> ``log.append`` -> ACK. The ACK (the returned :class:`SendResult`) exists only
once ``append`` returned: the record is durable. What follows (cache add, realtime delivery,
metering, the key's result) is best effort: a failure is logged and counted and never loses the
ACK, because the message is in the log and reaches PostgreSQL through the persister whatever
happens here. When the log refuses (``LogUnavailable``) the sender gets a retryable
``UNAVAILABLE``, the key claim is released (a retry reuses the message id, so a record that
landed anyway is not stored twice) and nothing is reported as sent.

**Reads** take PostgreSQL rows (the persister's watermark ``W`` of the conversation's log
partition says which positions PostgreSQL has) and the recent cache above ``W``, so a message
is readable as soon as it is acknowledged. **Recovery** additionally proves that no message is
missing: the cache vouches for a range (see :mod:`.cache`), PostgreSQL for everything below
``W``; where neither can, the answer stops before the gap and says ``complete=False``.

A cache group that does not exist (the conversation was idle for the cache's TTL, or Redis lost
its data) vouches for nothing by itself. Recovery then accepts ``W`` as the end of the
conversation when one of these holds: Redis has kept its data (the epoch key) for longer than the
TTL, so the last send is older than the TTL -- this assumes the persister lags by less than the
cache TTL; the persister has written a record of the partition created after the cache's epoch
(it writes in order, so everything before is in); or, when ``log_end`` is given, ``W`` has reached
the partition's end.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Final, Literal
from uuid import UUID

from redis.exceptions import RedisError

from gb.protocol.codes import ErrorCode

from ..auth import Identity
from ..log import Log, LogUnavailable, partition_for
from ..ratelimit import Limit, RateLimited, RateLimiter
from ..storage.database import Database, UnknownCustomer
from ..tenancy.metering import UsageKind, UsageRecorder
from ..tenancy.quotas import QuotaExceeded, Quotas
from . import store, validate
from .cache import CacheUnavailable, RecentCache, Snapshot
from .delivery import Deliverer
from .errors import MessagingError, bad_input, forbidden, not_found
from .idempotency import IdempotencyStore, KeyResult
from .ids import created_at_of, new_message_id
from .model import (
    CONVERSATION_KINDS,
    STATUS_NAMES,
    STATUSES,
    Conversation,
    Message,
    Page,
    RecoveryResult,
    SendResult,
    StatusResult,
    StatusSummary,
)
from .record import MessageRecord, encode
from .search import Search, SearchPage, text_search_config

__all__ = ["MessageService", "MessagingStats"]

log = logging.getLogger(__name__)

MAX_USERS_PER_CALL: Final = 1000
MAX_STATUS_IDS: Final = 500
MAX_RECOVER_CONVERSATIONS: Final = 500
BUSY_POLL: Final = 0.02

_DB_DOWN = store.DB_DOWN

DEFAULT_USER_LIMIT: Final = Limit(20, 100)
DEFAULT_TENANT_LIMIT: Final = Limit(2000, 10000)

LogEnd = Callable[[str, int], Awaitable[int]]
"""``(topic, partition)`` -> the partition's end offset (the next offset the log gives)."""


@dataclass
class MessagingStats:
    """Counters of this service (``gb_messaging_events_total``, see :mod:`.metrics`)."""

    sent: int = 0
    duplicates: int = 0
    log_unavailable: int = 0
    cache_errors: int = 0
    delivery_errors: int = 0
    quota_errors: int = 0
    unvouched: int = 0
    repairs_dropped: int = 0
    stale_resolved: int = 0
    recoveries_incomplete: int = 0


class MessageService:
    """Conversations, members, messages, receipts, recovery and search for one node.

    ``cache`` and ``keys`` are the recent-history cache and the idempotency store; ``limiter``,
    ``quotas``, ``usage``, ``deliverer`` and ``search`` are optional (None: that part is off).
    ``user_limit``/``tenant_limit``: message rate limits. ``pending_timeout``: seconds after
    which a send's cache intent is stale (longer than the log's append timeout plus clock skew
    between nodes). ``membership_ttl``: seconds a membership answer is cached (also what the hub
    asks on subscribe); another node sees a membership change after at most this long.
    """

    def __init__(
        self,
        db: Database,
        log: Log,
        *,
        topic: str = "gb.messages",
        partitions: int = 16,
        cache: RecentCache,
        keys: IdempotencyStore,
        limiter: RateLimiter | None = None,
        user_limit: Limit = DEFAULT_USER_LIMIT,
        tenant_limit: Limit = DEFAULT_TENANT_LIMIT,
        quotas: Quotas | None = None,
        usage: UsageRecorder | None = None,
        deliverer: Deliverer | None = None,
        search: Search | None = None,
        max_content_bytes: int = 64 * 1024,
        max_metadata_bytes: int = 64 * 1024,
        max_members: int = 10_000,
        recover_limit: int = 1000,
        pending_timeout: float = 30.0,
        membership_ttl: float = 5.0,
        busy_wait: float = 2.0,
        max_repairs: int = 100_000,
        membership_cache_size: int = 100_000,
        log_end: LogEnd | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self.log = log
        self.topic = topic
        self.partitions = partitions
        self.cache = cache
        self.keys = keys
        self.limiter = limiter
        self.user_limit = user_limit
        self.tenant_limit = tenant_limit
        self.quotas = quotas
        self.usage = usage
        self.deliverer = deliverer
        self.searcher = search
        self.max_content_bytes = max_content_bytes
        self.max_metadata_bytes = max_metadata_bytes
        self.max_members = max_members
        self.recover_limit = recover_limit
        self.pending_timeout_ms = round(pending_timeout * 1000)
        self.membership_ttl = membership_ttl
        self.busy_wait = busy_wait
        self.max_repairs = max_repairs
        self.membership_cache_size = membership_cache_size
        self.log_end = log_end
        self._clock = clock
        self.stats = MessagingStats()
        self._access: dict[tuple[UUID, UUID, str], tuple[float, store.Access | None]] = {}
        self._langs: dict[UUID, tuple[float, str]] = {}
        self._repairs: set[UUID] = set()
        """Conversations with a message appended that the cache recorded neither way."""

    # -- identity and transactions ------------------------------------------------------

    @staticmethod
    def _tenant(identity: Identity) -> tuple[UUID, UUID]:
        """The caller's customer and instance ids; FORBIDDEN for a token messaging cannot use
        (no tenant ids, or a user name PostgreSQL cannot store)."""
        if identity.customer_id is None or identity.instance_id is None:
            raise forbidden("messaging needs a token whose 'cus' and 'ins' are the ids")
        try:
            validate.text("sub", identity.user, validate.MAX_USER_CHARS)
        except MessagingError as exc:
            raise forbidden(f"the token's {exc.message}") from None
        return identity.customer_id, identity.instance_id

    @asynccontextmanager
    async def _tx(self, customer_id: UUID, *, readonly: bool = False) -> AsyncIterator[Any]:
        """A tenant transaction; a database that is down becomes a retryable UNAVAILABLE."""
        try:
            async with self.db.tenant(customer_id, readonly=readonly) as conn:
                yield conn
        except UnknownCustomer:
            raise not_found("customer", customer_id) from None
        except _DB_DOWN as exc:
            raise MessagingError(
                ErrorCode.UNAVAILABLE, f"the database is unavailable: {exc}", retry_after_ms=1000
            ) from exc

    # -- access -------------------------------------------------------------------------

    async def _access_of(
        self, identity: Identity, conversation_id: UUID, conn: Any = None
    ) -> store.Access | None:
        """The caller's access to the conversation (cached ``membership_ttl`` seconds)."""
        customer_id, instance_id = self._tenant(identity)
        key = (conversation_id, instance_id, identity.user)
        now = self._clock()
        hit = self._access.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        if conn is None:
            async with self._tx(customer_id, readonly=True) as tx:
                access = await store.conversation_access(
                    tx, conversation_id, instance_id, identity.user
                )
        else:
            access = await store.conversation_access(
                conn, conversation_id, instance_id, identity.user
            )
        if len(self._access) >= self.membership_cache_size:
            self._access.clear()
        self._access[key] = (now + self.membership_ttl, access)
        return access

    def _forget_access(
        self, conversation_id: UUID, instance_id: UUID, users: Iterable[str]
    ) -> None:
        for user in users:
            self._access.pop((conversation_id, instance_id, user), None)

    async def _member(
        self, identity: Identity, conversation_id: UUID, conn: Any = None
    ) -> store.Access:
        """The caller's access; NOT_FOUND for no such conversation, FORBIDDEN for a non-member."""
        access = await self._access_of(identity, conversation_id, conn)
        if access is None:
            raise not_found("conversation", conversation_id)
        if access.role is None:
            raise forbidden(f"not a member of conversation {conversation_id}")
        return access

    async def is_member(self, identity: Identity, conversation_id: UUID) -> bool:
        """True when the caller belongs to the conversation (the hub asks it on subscribe)."""
        if identity.customer_id is None or identity.instance_id is None:
            return False
        access = await self._access_of(identity, conversation_id)
        return access is not None and access.role is not None

    # -- conversations ------------------------------------------------------------------

    async def create_conversation(
        self,
        identity: Identity,
        *,
        title: str | None = None,
        kind: str = "group",
        members: Sequence[str] = (),
    ) -> Conversation:
        """A new conversation owned by the caller, with ``members`` as members.

        ``direct`` conversations have exactly one other member and never change members.
        """
        customer_id, instance_id = self._tenant(identity)
        if kind not in CONVERSATION_KINDS:
            raise bad_input("kind", f"{kind!r:.40} is not one of {', '.join(CONVERSATION_KINDS)}")
        if title is not None:
            validate.text("title", title, validate.MAX_TITLE_CHARS)
        others = [
            u for u in validate.users("members", members, self.max_members) if u != identity.user
        ]
        if kind == "direct" and len(others) != 1:
            raise bad_input("members", "a direct conversation needs exactly one other member")
        if len(others) + 1 > self.max_members:
            raise bad_input("members", f"at most {self.max_members} members per conversation")
        conversation_id = new_message_id()
        conversation = Conversation(
            id=conversation_id,
            instance_id=instance_id,
            kind=kind,
            title=title,
            created_by=identity.user,
            created_at=created_at_of(conversation_id),
        )
        roles = [(identity.user, "owner"), *((u, "member") for u in others)]
        async with self._tx(customer_id) as conn:
            await store.insert_conversation(conn, conversation, customer_id, roles)
            created = await store.get_conversation(conn, conversation_id, instance_id)
        assert created is not None  # inserted in this very transaction
        self._forget_access(conversation_id, instance_id, (u for u, _ in roles))
        try:
            await self.cache.open(conversation_id)
        except CacheUnavailable:
            self.stats.cache_errors += 1
        return created

    async def get_conversation(self, identity: Identity, conversation_id: UUID) -> Conversation:
        """The conversation with its members; for members and instance/customer admins."""
        customer_id, instance_id = self._tenant(identity)
        async with self._tx(customer_id, readonly=True) as conn:
            access = await self._access_of(identity, conversation_id, conn)
            if access is None:
                raise not_found("conversation", conversation_id)
            if access.role is None and not validate.ADMIN_ROLES & identity.roles:
                raise forbidden(f"not a member of conversation {conversation_id}")
            conversation = await store.get_conversation(conn, conversation_id, instance_id)
        if conversation is None:  # deleted since the cached answer
            raise not_found("conversation", conversation_id)
        return conversation

    async def list_conversations(
        self, identity: Identity, *, cursor: str | None = None, limit: int = 50
    ) -> Page[Conversation]:
        """The caller's conversations in their instance, newest first."""
        customer_id, instance_id = self._tenant(identity)
        validate.limit(limit)
        before = None
        if cursor is not None:
            before = validate.parse_uuid("cursor", cursor)
        async with self._tx(customer_id, readonly=True) as conn:
            rows = await store.list_conversations(
                conn, customer_id, instance_id, identity.user, before, limit + 1
            )
        next_cursor = str(rows[limit - 1].id) if len(rows) > limit else None
        return Page(rows[:limit], next_cursor)

    async def add_members(
        self, identity: Identity, conversation_id: UUID, users: Sequence[str]
    ) -> list[str]:
        """Add members (owners and admins); returns the users who were not members yet."""
        customer_id, instance_id = self._tenant(identity)
        wanted = validate.users("users", users, MAX_USERS_PER_CALL, required=True)
        async with self._tx(customer_id) as conn:
            access = await self._manage(identity, conversation_id, conn)
            if access.kind == "direct":
                raise MessagingError(
                    ErrorCode.CONFLICT, "a direct conversation's members cannot change"
                )
            count = await store.member_count(conn, conversation_id)
            added = await store.add_members(conn, customer_id, conversation_id, wanted)
            self._check_size(conversation_id, count + len(added))  # raising rolls it back
        self._forget_access(conversation_id, instance_id, added)
        if added:
            await self._deliver(
                identity, conversation_id, _members_event(conversation_id, added, [])
            )
        return added

    def _check_size(self, conversation_id: UUID, members: int) -> None:
        if members > self.max_members:
            raise MessagingError(
                ErrorCode.CONFLICT,
                f"conversation {conversation_id} would have {members} members;"
                f" the limit is {self.max_members}",
            )

    async def remove_members(
        self, identity: Identity, conversation_id: UUID, users: Sequence[str]
    ) -> list[str]:
        """Remove members: owners and admins remove anyone, a member removes themself.

        Returns the users who were members.
        """
        customer_id, instance_id = self._tenant(identity)
        wanted = validate.users("users", users, MAX_USERS_PER_CALL, required=True)
        async with self._tx(customer_id) as conn:
            if wanted == [identity.user]:
                access = await self._member(identity, conversation_id, conn)
            else:
                access = await self._manage(identity, conversation_id, conn)
            if access.kind == "direct":
                raise MessagingError(
                    ErrorCode.CONFLICT, "a direct conversation's members cannot change"
                )
            removed = await store.remove_members(conn, conversation_id, wanted)
        self._forget_access(conversation_id, instance_id, removed)
        if removed:
            event = _members_event(conversation_id, [], removed)
            await self._deliver(identity, conversation_id, event)
        return removed

    async def _manage(self, identity: Identity, conversation_id: UUID, conn: Any) -> store.Access:
        """Access for changing members: the conversation's owners and admins (fresh, not
        cached: a demoted owner must not keep managing)."""
        _, instance_id = self._tenant(identity)
        access = await store.conversation_access(conn, conversation_id, instance_id, identity.user)
        if access is None:
            raise not_found("conversation", conversation_id)
        if access.role != "owner" and not validate.ADMIN_ROLES & identity.roles:
            raise forbidden(
                f"only owners of conversation {conversation_id} and admins manage its members"
            )
        return access

    # -- send ---------------------------------------------------------------------------

    async def send(
        self,
        identity: Identity,
        conversation_id: UUID,
        *,
        kind: str = "text",
        content: str = "",
        metadata: dict[str, Any] | None = None,
        client_key: str | None = None,
    ) -> SendResult:
        """Send a message; returns once the log has it (see the module docstring)."""
        customer_id, instance_id = self._tenant(identity)
        metadata = validate.message_fields(
            identity.roles,
            kind,
            content,
            metadata,
            client_key,
            max_content_bytes=self.max_content_bytes,
            max_metadata_bytes=self.max_metadata_bytes,
        )
        await self._rate_limit(identity)
        await self._member(identity, conversation_id)
        message_id = new_message_id()
        if client_key is not None:
            claim = await self._claim(
                customer_id, identity.user, client_key, conversation_id, message_id
            )
            if isinstance(claim, SendResult):
                return claim
            message_id = claim
        try:
            await self._quota(customer_id)
            lang = await self._lang(customer_id, instance_id)
            record = MessageRecord(
                id=message_id,
                customer_id=customer_id,
                instance_id=instance_id,
                conversation_id=conversation_id,
                sender=identity.user,
                kind=kind,
                content=content,
                metadata=metadata,
                client_key=client_key,
                shard_key=identity.shard_key if identity.shard_key < 2**31 else 0,
                lang=lang,
            )
            value = encode(record)
        except BaseException:
            await self._release(customer_id, identity.user, client_key, message_id)
            raise
        registered = await self._begin(conversation_id, message_id)
        try:
            _, position = await self.log.append(self.topic, record.key, value)
        except LogUnavailable as exc:
            self.stats.log_unavailable += 1
            await self._release(customer_id, identity.user, client_key, message_id)
            raise MessagingError(
                ErrorCode.UNAVAILABLE,
                f"the message log is unavailable; not sent, retry: {exc}",
                retry_after_ms=1000,
            ) from exc
        except ValueError as exc:
            await self._release(customer_id, identity.user, client_key, message_id)
            raise MessagingError(
                ErrorCode.PAYLOAD_TOO_LARGE, f"the log refused the message: {exc}"
            ) from exc
        # Acknowledged from here on: nothing below may turn this into a failure.
        self.stats.sent += 1
        message = Message(
            id=message_id,
            conversation_id=conversation_id,
            position=position,
            sender=identity.user,
            kind=kind,
            content=content,
            metadata=metadata,
            created_at=created_at_of(message_id),
            client_key=client_key,
        )
        await self._after_append(identity, message, registered)
        return SendResult(message_id, conversation_id, position, message.created_at)

    async def _rate_limit(self, identity: Identity) -> None:
        if self.limiter is None:
            return
        try:
            await self.limiter.take(
                "user",
                f"{identity.instance}/{identity.user}",
                self.user_limit,
                tenant=identity.customer,
            )
            await self.limiter.take("tenant", identity.customer, self.tenant_limit)
        except RateLimited as exc:
            raise MessagingError(
                ErrorCode.RATE_LIMITED,
                f"{exc.scope} message rate limit exceeded; retry after {exc.retry_after_ms} ms",
                retry_after_ms=exc.retry_after_ms,
                scope=exc.scope,
            ) from None

    async def _claim(
        self,
        customer_id: UUID,
        sender: str,
        client_key: str,
        conversation_id: UUID,
        message_id: UUID,
    ) -> UUID | SendResult:
        """The message id to send with, or the first result of the key."""
        deadline = self._clock() + self.busy_wait
        while True:
            claim = await self.keys.claim(
                customer_id, sender, client_key, conversation_id, message_id
            )
            if claim.state in ("new", "retry"):
                return claim.message_id
            if claim.state == "done":
                assert claim.result is not None
                self.stats.duplicates += 1
                return _result(claim.result, duplicate=True)
            if claim.state == "conflict":
                raise MessagingError(
                    ErrorCode.CONFLICT,
                    f"client_key: {client_key!r:.60} was used in conversation"
                    f" {claim.conversation_id}",
                )
            if self._clock() >= deadline:  # busy: the first send with this key is in flight
                raise MessagingError(
                    ErrorCode.UNAVAILABLE,
                    f"client_key: a send with {client_key!r:.60} is in progress; retry",
                    retry_after_ms=round(self.busy_wait * 1000),
                )
            await asyncio.sleep(BUSY_POLL)

    async def _release(
        self, customer_id: UUID, sender: str, client_key: str | None, message_id: UUID
    ) -> None:
        if client_key is not None:
            await self.keys.release(customer_id, sender, client_key, message_id)

    async def _quota(self, customer_id: UUID) -> None:
        if self.quotas is None:
            return
        try:
            await self.quotas.check_message(customer_id)
        except QuotaExceeded as exc:
            raise MessagingError(
                ErrorCode.QUOTA_EXCEEDED, str(exc), quota=exc.quota.value, limit=exc.limit
            ) from None
        except (RedisError, OSError) as exc:
            # The day's counter is out of reach: a looser quota for a while beats refusing chat.
            self.stats.quota_errors += 1
            log.warning("message quota not checked (counters unavailable): %s", exc)

    async def _lang(self, customer_id: UUID, instance_id: UUID) -> str:
        """The instance's text-search configuration (cached a minute)."""
        now = self._clock()
        hit = self._langs.get(instance_id)
        if hit is not None and hit[0] > now:
            return hit[1]
        async with self._tx(customer_id, readonly=True) as conn:
            lang = await text_search_config(conn, instance_id)
        self._langs[instance_id] = (now + 60.0, lang)
        return lang

    async def _begin(self, conversation_id: UUID, message_id: UUID) -> bool:
        if self._repairs:
            await self.repair()
        try:
            await self.cache.begin(conversation_id, message_id)
        except CacheUnavailable:
            self.stats.cache_errors += 1
            return False
        return True

    async def _after_append(self, identity: Identity, message: Message, registered: bool) -> None:
        """The best-effort steps after the ACK point; failures are counted, never raised."""
        customer_id, _ = self._tenant(identity)
        prev: int | None = None
        try:
            prev = await self.cache.add(message.conversation_id, message)
        except CacheUnavailable:
            self.stats.cache_errors += 1
            if not registered:  # no trace of it in the cache: stop vouching there
                self._need_repair(message.conversation_id)
        if message.client_key is not None:
            result = KeyResult(message.id, message.conversation_id, message.position)
            await self.keys.complete(customer_id, identity.user, message.client_key, result)
        # "prev": the previous position proven (None: not proven, recover before moving on).
        event = {"type": "message", "message": message.to_wire(), "prev": prev}
        await self._deliver(identity, message.conversation_id, event)
        if self.usage is not None:  # a dict update in this process: it cannot fail
            self.usage.record(identity.customer, identity.instance, UsageKind.MESSAGE)

    def _need_repair(self, conversation_id: UUID) -> None:
        if len(self._repairs) >= self.max_repairs:
            self.stats.repairs_dropped += 1
            log.error(
                "recent cache: %d conversations wait for repair; %s not recorded (its recovery"
                " may miss a message until the persister has it)",
                len(self._repairs),
                conversation_id,
            )
            return
        self._repairs.add(conversation_id)

    async def repair(self) -> int:
        """Unvouch the cache of conversations that got a message the cache never saw (after
        a Redis outage); returns how many remain. The node may call it from housekeeping."""
        for conversation_id in list(self._repairs):
            try:
                await self.cache.unvouch(conversation_id)
            except CacheUnavailable:
                break
            self._repairs.discard(conversation_id)
            self.stats.unvouched += 1
        return len(self._repairs)

    async def _deliver(
        self, identity: Identity, conversation_id: UUID, event: dict[str, Any]
    ) -> None:
        if self.deliverer is None:
            return
        try:
            await self.deliverer.conversation_event(
                identity.customer, identity.instance, identity.shard_key, conversation_id, event
            )
        except Exception:
            self.stats.delivery_errors += 1
            log.exception("conversation event not delivered (%s)", event.get("type"))

    # -- reads --------------------------------------------------------------------------

    def _partition(self, conversation_id: UUID) -> int:
        return partition_for(conversation_id.bytes, self.partitions)

    async def _snapshot(
        self, conversation_id: UUID, lo: int, hi: int | None = None
    ) -> Snapshot | None:
        try:
            return await self.cache.read(conversation_id, lo, hi)
        except CacheUnavailable:
            self.stats.cache_errors += 1
            return None

    async def get_messages(
        self,
        identity: Identity,
        conversation_id: UUID,
        *,
        sender: str | None = None,
        kinds: Sequence[str] | None = None,
        since: datetime.datetime | None = None,
        until: datetime.datetime | None = None,
        after_position: int | None = None,
        before_position: int | None = None,
        cursor: str | None = None,
        limit: int = 50,
        direction: Literal["forward", "backward"] = "forward",
    ) -> Page[Message]:
        """A page of the conversation's history: filters, position bounds (exclusive), oldest
        first (``forward``) or newest first (``backward``). ``next_cursor`` continues in the
        same direction with the same filters."""
        customer_id, _ = self._tenant(identity)
        query = validate.history_query(
            sender, kinds, since, until, after_position, before_position, cursor, limit, direction
        )
        async with self._tx(customer_id, readonly=True) as conn:
            await self._member(identity, conversation_id, conn)
            w = await store.watermark(conn, self.topic, self._partition(conversation_id))
            lo = w if query.after is None else max(w, query.after + 1)
            snapshot = await self._snapshot(conversation_id, lo, query.before)
            rows = await store.fetch_messages(conn, conversation_id, query, query.limit + 1)
        cached = [] if snapshot is None else [m for m in snapshot.messages if query.matches(m)]
        merged = _merge(rows, cached, descending=query.descending)
        page = merged[: query.limit]
        next_cursor = None
        if len(merged) > query.limit:
            next_cursor = ("b" if query.descending else "f") + str(page[-1].position)
        return Page(page, next_cursor)

    # -- receipts -----------------------------------------------------------------------

    async def update_status(
        self,
        identity: Identity,
        conversation_id: UUID,
        message_ids: Sequence[UUID],
        status: str,
    ) -> list[StatusResult]:
        """Record the caller's receipts; statuses only move forward (delivered -> read).

        A lower status than the current one is CONFLICT (nothing is changed); the same one is a
        no-op (``changed`` False). Senders do not receipt their own messages (FORBIDDEN).
        """
        customer_id, _ = self._tenant(identity)
        level = STATUSES.get(status) if isinstance(status, str) else None
        if level is None:
            raise bad_input("status", f"{status!r:.40} is not one of {', '.join(STATUSES)}")
        ids = list(dict.fromkeys(message_ids))
        if not 1 <= len(ids) <= MAX_STATUS_IDS:
            raise bad_input("message_ids", f"give 1-{MAX_STATUS_IDS} message ids")
        for message_id in ids:
            try:
                created_at_of(message_id)
            except ValueError:  # not an id this service makes: no such message
                raise not_found(
                    "message", f"{message_id} in conversation {conversation_id}"
                ) from None
        async with self._tx(customer_id) as conn:
            await self._member(identity, conversation_id, conn)
            found = await self._messages(conn, conversation_id, ids)
            for message_id in ids:
                message = found.get(message_id)
                if message is None:
                    raise not_found("message", f"{message_id} in conversation {conversation_id}")
                if message.sender == identity.user:
                    raise forbidden(f"message {message_id} is the caller's own: no receipt")
            current = await store.statuses_for_update(conn, identity.user, ids)
            for message_id, have in current.items():
                if have > level:
                    raise MessagingError(
                        ErrorCode.CONFLICT,
                        f"message {message_id} is already {STATUS_NAMES[have]}:"
                        f" status cannot go back to {status}",
                    )
            changed = [m for m in ids if current.get(m) != level]
            if changed:
                await store.upsert_statuses(
                    conn, customer_id, conversation_id, identity.user, changed, level
                )
            counts = await store.receipt_summaries(conn, ids)
            members = await store.member_count(conn, conversation_id)
        results = []
        for message_id in ids:
            delivered, read = counts.get(message_id, (0, 0))
            summary = StatusSummary(delivered, read, members)
            results.append(StatusResult(message_id, status, summary, message_id in changed))
        for result in results:
            if result.changed:
                event = {
                    "type": "status",
                    "conversation_id": str(conversation_id),
                    "message_id": str(result.message_id),
                    "user": identity.user,
                    "status": status,
                    "summary": result.summary.to_wire(),
                }
                await self._deliver(identity, conversation_id, event)
        return results

    async def _messages(
        self, conn: Any, conversation_id: UUID, ids: Sequence[UUID]
    ) -> dict[UUID, Message]:
        """The messages among ``ids``: persisted ones, then the cache for the others."""
        found = await store.messages_by_id(
            conn, conversation_id, ids, [created_at_of(i) for i in ids]
        )
        missing = [i for i in ids if i not in found]
        if missing:
            try:
                found.update(await self.cache.lookup(conversation_id, missing))
            except CacheUnavailable:
                self.stats.cache_errors += 1
        return found

    # -- recovery -----------------------------------------------------------------------

    async def recover(
        self, identity: Identity, last_positions: Mapping[UUID, int]
    ) -> dict[UUID, RecoveryResult]:
        """Per conversation, the messages after the last position the client saw (-1: from
        the beginning), in position order, without gaps (see :class:`RecoveryResult`)."""
        customer_id, _ = self._tenant(identity)
        if len(last_positions) > MAX_RECOVER_CONVERSATIONS:
            raise bad_input("positions", f"at most {MAX_RECOVER_CONVERSATIONS} conversations")
        for conversation_id, after in last_positions.items():
            if type(after) is not int or after < -1:
                raise bad_input(f"positions.{conversation_id}", "must be an integer >= -1")
        results: dict[UUID, RecoveryResult] = {}
        async with self._tx(customer_id, readonly=True) as conn:
            for conversation_id, after in last_positions.items():
                try:
                    await self._member(identity, conversation_id, conn)
                except MessagingError as exc:
                    results[conversation_id] = RecoveryResult(error=exc)
                    continue
                results[conversation_id] = await self._recover_one(
                    conn, customer_id, conversation_id, after
                )
        return results

    async def _recover_one(
        self, conn: Any, customer_id: UUID, conversation_id: UUID, after: int
    ) -> RecoveryResult:
        partition = self._partition(conversation_id)
        w = await store.watermark(conn, self.topic, partition)
        lo = max(after + 1, w)
        snapshot = await self._snapshot(conversation_id, lo)
        if snapshot is not None and await self._settle(
            conn, customer_id, conversation_id, partition, w, snapshot
        ):
            snapshot = await self._snapshot(conversation_id, lo)
        rows = await store.fetch_messages(
            conn, conversation_id, store.MessageQuery(after=after), self.recover_limit + 1
        )
        vouched = snapshot is not None and await self._vouched(
            customer_id, partition, w, lo, snapshot
        )
        if snapshot is None or not vouched:
            messages = [m for m in rows if m.position < w]
            complete = False
        else:
            messages = _merge(rows, snapshot.messages, descending=False)
            cap = snapshot.vouch_to
            complete = cap is None
            if cap is not None:
                messages = [m for m in messages if m.position <= cap]
        if len(messages) > self.recover_limit:
            messages = messages[: self.recover_limit]
            complete = False
        if not complete:
            self.stats.recoveries_incomplete += 1
        return RecoveryResult(messages, complete)

    async def _settle(
        self,
        conn: Any,
        customer_id: UUID,
        conversation_id: UUID,
        partition: int,
        w: int,
        snapshot: Snapshot,
    ) -> bool:
        """Resolve stale intents (their sender died or its append failed): add the message from
        PostgreSQL, or drop the intent once the message provably never made it. True when an
        intent was resolved."""
        resolved = False
        for pending in snapshot.pending:
            if snapshot.now_ms - pending.since_ms <= self.pending_timeout_ms:
                continue
            created = created_at_of(pending.message_id)
            found = await store.messages_by_id(
                conn, conversation_id, [pending.message_id], [created]
            )
            message = found.get(pending.message_id)
            if message is None:
                since = created + datetime.timedelta(milliseconds=self.pending_timeout_ms)
                if not await self._persisted_since(customer_id, partition, since, w):
                    continue
            try:
                await self.cache.resolve(conversation_id, pending.message_id, message)
            except CacheUnavailable:
                self.stats.cache_errors += 1
                return resolved
            self.stats.stale_resolved += 1
            resolved = True
        return resolved

    async def _vouched(
        self, customer_id: UUID, partition: int, w: int, lo: int, snapshot: Snapshot
    ) -> bool:
        """True when every message from position ``lo`` up (to ``snapshot.vouch_to``) is in
        ``snapshot`` or below ``w`` (see the module docstring)."""
        if snapshot.present:
            if self.cache.shared and snapshot.now_ms < snapshot.epoch_ms + self.pending_timeout_ms:
                return False  # the data set is new: sends begun before it may still be adding
            return snapshot.floor is not None and snapshot.floor <= lo
        if snapshot.now_ms - snapshot.epoch_ms >= self.cache.ttl * 1000:
            return True
        epoch = datetime.datetime.fromtimestamp(
            (snapshot.epoch_ms + self.pending_timeout_ms) / 1000, datetime.UTC
        )
        if await self._persisted_since(customer_id, partition, epoch, w):
            return True
        if self.log_end is None:
            return False
        try:
            return w >= await self.log_end(self.topic, partition)
        except LogUnavailable:
            return False

    async def _persisted_since(
        self, customer_id: UUID, partition: int, since: datetime.datetime, w: int
    ) -> bool:
        shard = await self.db.shard_of(customer_id)
        async with self.db.platform(shard.id) as conn:
            return await store.persisted_since(conn, partition, since, w)

    # -- search -------------------------------------------------------------------------

    async def search(
        self,
        identity: Identity,
        query: str,
        *,
        conversation_id: UUID | None = None,
        sender: str | None = None,
        since: datetime.datetime | None = None,
        until: datetime.datetime | None = None,
        limit: int = 20,
        cursor: str | None = None,
    ) -> SearchPage:
        """Full-text search of the caller's messages (see :mod:`.search`)."""
        if self.searcher is None:
            raise MessagingError(ErrorCode.UNAVAILABLE, "search is not configured on this node")
        self._tenant(identity)
        try:
            return await self.searcher.search(
                identity,
                query,
                conversation_id=conversation_id,
                sender=sender,
                since=since,
                until=until,
                limit=limit,
                cursor=cursor,
            )
        except ValueError as exc:
            raise MessagingError(ErrorCode.BAD_PAYLOAD, str(exc)) from None
        except _DB_DOWN as exc:
            raise MessagingError(
                ErrorCode.UNAVAILABLE, f"the database is unavailable: {exc}", retry_after_ms=1000
            ) from exc


# -- helpers ----------------------------------------------------------------------------------


def _result(first: KeyResult, *, duplicate: bool) -> SendResult:
    return SendResult(
        first.message_id,
        first.conversation_id,
        first.position,
        created_at_of(first.message_id),
        duplicate,
    )


def _members_event(conversation_id: UUID, added: list[str], removed: list[str]) -> dict[str, Any]:
    return {
        "type": "members",
        "conversation_id": str(conversation_id),
        "added": added,
        "removed": removed,
    }


def _merge(rows: list[Message], cached: Iterable[Message], *, descending: bool) -> list[Message]:
    """PostgreSQL rows and cached messages as one list by position (a persisted row wins over
    its cached copy)."""
    by_id = {m.id: m for m in cached}
    by_id.update((m.id, m) for m in rows)
    return sorted(by_id.values(), key=lambda m: (m.position, m.id), reverse=descending)
