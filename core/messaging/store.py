"""PostgreSQL reads and writes of the message service.

Every function takes a connection inside a transaction the caller opened: ``Database.tenant``
(``gb_app`` under row-level security, so only the caller's customer's rows exist) for tenant
data, ``Database.platform(shard)`` for :func:`persisted_since`. Messages themselves are written
by the persister; the service reads them (and ``message_keys``) and writes conversations,
members and receipts.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg
import orjson

from ..storage.database import Database, ShardUnavailable
from .idempotency import DurableLookup, KeyResult
from .model import Conversation, Member, Message

__all__ = [
    "DB_DOWN",
    "Access",
    "MessageQuery",
    "add_members",
    "conversation_access",
    "fetch_messages",
    "get_conversation",
    "insert_conversation",
    "key_lookup",
    "list_conversations",
    "lookup_key",
    "member_count",
    "messages_by_id",
    "persisted_since",
    "receipt_summaries",
    "remove_members",
    "statuses_for_update",
    "upsert_statuses",
    "watermark",
]

DB_DOWN = (
    OSError,
    TimeoutError,
    ShardUnavailable,
    asyncpg.PostgresConnectionError,
    asyncpg.OperatorInterventionError,
    asyncpg.InterfaceError,
)
"""What a database that is down or unreachable raises: the request may succeed later."""

log = logging.getLogger(__name__)

_MESSAGE_COLUMNS = (
    "id, conversation_id, position, sender, kind, content, metadata::text AS metadata,"
    " created_at, client_key"
)


def message_of(row: asyncpg.Record) -> Message:
    return Message(
        id=row["id"],
        conversation_id=row["conversation_id"],
        position=row["position"],
        sender=row["sender"],
        kind=row["kind"],
        content=row["content"],
        metadata=orjson.loads(row["metadata"]),
        created_at=row["created_at"],
        client_key=row["client_key"],
    )


# -- conversations and members ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Access:
    """A conversation as one user sees it: its kind, and the user's role (None: not a member)."""

    kind: str
    role: str | None


async def conversation_access(
    conn: asyncpg.Connection, conversation_id: UUID, instance_id: UUID, user: str
) -> Access | None:
    """The user's access to a conversation of the instance; None when there is no such one."""
    row = await conn.fetchrow(
        "SELECT c.kind, m.role FROM conversations c"
        " LEFT JOIN conversation_members m ON m.conversation_id = c.id AND m.user_ref = $3"
        " WHERE c.id = $1 AND c.instance_id = $2",
        conversation_id,
        instance_id,
        user,
    )
    return None if row is None else Access(row["kind"], row["role"])


async def insert_conversation(
    conn: asyncpg.Connection,
    conversation: Conversation,
    customer_id: UUID,
    members: Sequence[tuple[str, str]],
) -> None:
    """Insert the conversation and its ``(user, role)`` members."""
    await conn.execute(
        "INSERT INTO conversations (id, customer_id, instance_id, title, kind, created_by,"
        " created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        conversation.id,
        customer_id,
        conversation.instance_id,
        conversation.title,
        conversation.kind,
        conversation.created_by,
        conversation.created_at,
    )
    await conn.executemany(
        "INSERT INTO conversation_members (customer_id, conversation_id, user_ref, role, joined_at)"
        " VALUES ($1, $2, $3, $4, $5)",
        [(customer_id, conversation.id, u, r, conversation.created_at) for u, r in members],
    )


def _conversation(row: asyncpg.Record, members: tuple[Member, ...] | None) -> Conversation:
    return Conversation(
        id=row["id"],
        instance_id=row["instance_id"],
        kind=row["kind"],
        title=row["title"],
        created_by=row["created_by"],
        created_at=row["created_at"],
        members=members,
    )


async def get_conversation(
    conn: asyncpg.Connection, conversation_id: UUID, instance_id: UUID
) -> Conversation | None:
    """The conversation with its members (owners first, then by join time)."""
    row = await conn.fetchrow(
        "SELECT id, instance_id, kind, title, created_by, created_at FROM conversations"
        " WHERE id = $1 AND instance_id = $2",
        conversation_id,
        instance_id,
    )
    if row is None:
        return None
    rows = await conn.fetch(
        "SELECT user_ref, role, joined_at FROM conversation_members WHERE conversation_id = $1"
        " ORDER BY role = 'owner' DESC, joined_at, user_ref",
        conversation_id,
    )
    members = tuple(Member(r["user_ref"], r["role"], r["joined_at"]) for r in rows)
    return _conversation(row, members)


async def list_conversations(
    conn: asyncpg.Connection,
    customer_id: UUID,
    instance_id: UUID,
    user: str,
    before: UUID | None,
    limit: int,
) -> list[Conversation]:
    """The user's conversations in the instance, newest first (ids are time-ordered), those
    with an id below ``before``; at most ``limit``."""
    rows = await conn.fetch(
        "SELECT c.id, c.instance_id, c.kind, c.title, c.created_by, c.created_at"
        " FROM conversation_members m JOIN conversations c ON c.id = m.conversation_id"
        " WHERE m.customer_id = $1 AND m.user_ref = $2 AND c.instance_id = $3"
        " AND ($4::uuid IS NULL OR c.id < $4) ORDER BY c.id DESC LIMIT $5",
        customer_id,
        user,
        instance_id,
        before,
        limit,
    )
    return [_conversation(row, None) for row in rows]


async def add_members(
    conn: asyncpg.Connection, customer_id: UUID, conversation_id: UUID, users: Sequence[str]
) -> list[str]:
    """Add ``users`` as members; returns those who were not members already."""
    rows = await conn.fetch(
        "INSERT INTO conversation_members (customer_id, conversation_id, user_ref)"
        " SELECT $1, $2, u FROM unnest($3::text[]) AS u"
        " ON CONFLICT (conversation_id, user_ref) DO NOTHING RETURNING user_ref",
        customer_id,
        conversation_id,
        list(users),
    )
    return [row["user_ref"] for row in rows]


async def remove_members(
    conn: asyncpg.Connection, conversation_id: UUID, users: Sequence[str]
) -> list[str]:
    """Remove ``users``; returns those who were members."""
    rows = await conn.fetch(
        "DELETE FROM conversation_members WHERE conversation_id = $1 AND user_ref = ANY($2)"
        " RETURNING user_ref",
        conversation_id,
        list(users),
    )
    return [row["user_ref"] for row in rows]


async def member_count(conn: asyncpg.Connection, conversation_id: UUID) -> int:
    count: int = await conn.fetchval(
        "SELECT count(*) FROM conversation_members WHERE conversation_id = $1", conversation_id
    )
    return count


# -- messages ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MessageQuery:
    """Filters and order of a history read; positions are exclusive bounds."""

    sender: str | None = None
    kinds: frozenset[str] | None = None
    since: datetime.datetime | None = None
    until: datetime.datetime | None = None
    after: int | None = None
    before: int | None = None
    limit: int = 50
    descending: bool = False

    def matches(self, message: Message) -> bool:
        """True when ``message`` passes the filters (for messages read from the cache)."""
        return (
            (self.sender is None or message.sender == self.sender)
            and (self.kinds is None or message.kind in self.kinds)
            and (self.since is None or message.created_at >= self.since)
            and (self.until is None or message.created_at < self.until)
            and (self.after is None or message.position > self.after)
            and (self.before is None or message.position < self.before)
        )


async def fetch_messages(
    conn: asyncpg.Connection, conversation_id: UUID, query: MessageQuery, limit: int
) -> list[Message]:
    """Up to ``limit`` persisted messages matching ``query``, in its order.

    Only the filters given become SQL conditions, so time bounds prune the monthly partitions.
    """
    conditions = ["conversation_id = $1"]
    args: list[Any] = [conversation_id]

    def where(sql: str, value: object) -> None:
        args.append(value)
        conditions.append(sql.replace("?", f"${len(args)}"))

    if query.sender is not None:
        where("sender = ?", query.sender)
    if query.kinds is not None:
        where("kind = ANY(?::text[])", sorted(query.kinds))
    if query.since is not None:
        where("created_at >= ?", query.since)
    if query.until is not None:
        where("created_at < ?", query.until)
    if query.after is not None:
        where("position > ?", query.after)
    if query.before is not None:
        where("position < ?", query.before)
    order = "DESC" if query.descending else "ASC"
    args.append(limit)
    rows = await conn.fetch(
        f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE {' AND '.join(conditions)}"
        f" ORDER BY position {order}, id {order} LIMIT ${len(args)}",
        *args,
    )
    return [message_of(row) for row in rows]


async def messages_by_id(
    conn: asyncpg.Connection,
    conversation_id: UUID,
    ids: Sequence[UUID],
    created: Sequence[datetime.datetime],
) -> dict[UUID, Message]:
    """The persisted messages of the conversation among ``ids`` (``created``: their creation
    times, from the ids, so only their partitions are read)."""
    rows = await conn.fetch(
        f"SELECT {_MESSAGE_COLUMNS} FROM messages"
        " WHERE conversation_id = $1 AND id = ANY($2::uuid[])"
        " AND created_at = ANY($3::timestamptz[])",
        conversation_id,
        list(ids),
        sorted(set(created)),
    )
    return {row["id"]: message_of(row) for row in rows}


async def watermark(conn: asyncpg.Connection, topic: str, partition: int) -> int:
    """The persister's watermark of a log partition in this shard: every record below it is
    in PostgreSQL (0 before the persister wrote anything)."""
    value = await conn.fetchval(
        "SELECT next_offset FROM log_watermarks WHERE topic = $1 AND partition = $2",
        topic,
        partition,
    )
    return 0 if value is None else int(value)


async def persisted_since(
    conn: asyncpg.Connection, partition: int, since: datetime.datetime, below: int
) -> bool:
    """True when a message of the log partition created after ``since`` is persisted below
    ``below`` (any customer of the shard: run it on a platform connection).

    The persister writes a partition in offset order, so every record appended before that
    message was, too: records appended before ``since`` are all below the watermark.
    """
    found: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT FROM messages WHERE created_at > $2 AND log_partition = $1"
        " AND position < $3)",
        partition,
        since,
        below,
    )
    return found


async def lookup_key(
    conn: asyncpg.Connection, customer_id: UUID, sender: str, client_key: str
) -> KeyResult | None:
    """The first result of a client key, once the persister recorded it."""
    row = await conn.fetchrow(
        "SELECT message_id, conversation_id, position FROM message_keys"
        " WHERE customer_id = $1 AND sender = $2 AND client_key = $3",
        customer_id,
        sender,
        client_key,
    )
    if row is None:
        return None
    return KeyResult(row["message_id"], row["conversation_id"], row["position"])


def key_lookup(db: Database) -> DurableLookup:
    """The idempotency store's durable half: :func:`lookup_key` in a read-only tenant
    transaction. While the database is down it answers None (not known), so sends go on; a
    repeat is then caught only by the fast store."""

    async def lookup(customer_id: UUID, sender: str, client_key: str) -> KeyResult | None:
        try:
            async with db.tenant(customer_id, readonly=True) as conn:
                return await lookup_key(conn, customer_id, sender, client_key)
        except DB_DOWN as exc:
            log.warning("client key not checked in PostgreSQL (unavailable): %s", exc)
            return None

    return lookup


# -- receipts ---------------------------------------------------------------------------------


async def statuses_for_update(
    conn: asyncpg.Connection, user: str, ids: Sequence[UUID]
) -> dict[UUID, int]:
    """The user's current status of each message that has one, rows locked."""
    rows = await conn.fetch(
        "SELECT message_id, status FROM message_status"
        " WHERE message_id = ANY($1::uuid[]) AND user_ref = $2 FOR UPDATE",
        list(ids),
        user,
    )
    return {row["message_id"]: row["status"] for row in rows}


async def upsert_statuses(
    conn: asyncpg.Connection,
    customer_id: UUID,
    conversation_id: UUID,
    user: str,
    ids: Sequence[UUID],
    status: int,
) -> None:
    """Set the user's status of ``ids`` to ``status``; never lowers one (a concurrent higher
    receipt wins)."""
    await conn.execute(
        "INSERT INTO message_status (customer_id, conversation_id, message_id, user_ref, status)"
        " SELECT $1, $2, m, $4, $5 FROM unnest($3::uuid[]) AS m"
        " ON CONFLICT (message_id, user_ref) DO UPDATE SET status = EXCLUDED.status,"
        " updated_at = now() WHERE message_status.status < EXCLUDED.status",
        customer_id,
        conversation_id,
        list(ids),
        user,
        status,
    )


async def receipt_summaries(
    conn: asyncpg.Connection, ids: Sequence[UUID]
) -> dict[UUID, tuple[int, int]]:
    """Per message with receipts: (delivered or read, read) counts."""
    rows = await conn.fetch(
        "SELECT message_id, count(*) AS delivered, count(*) FILTER (WHERE status = 2) AS read"
        " FROM message_status WHERE message_id = ANY($1::uuid[]) GROUP BY message_id",
        list(ids),
    )
    return {row["message_id"]: (row["delivered"], row["read"]) for row in rows}
