"""Full-text search over message history: ranked, highlighted, paged, and scoped to the caller.

Each row of ``messages`` carries ``lang`` (the text-search configuration of its instance when it
was written) and a generated ``search`` tsvector over its content, with a GIN index. A query is
parsed with ``websearch_to_tsquery`` (quoted phrases, ``or``, ``-word``; it never raises on odd
input) in the caller's instance's configuration (``instances.text_search``; a name that is not
in ``pg_ts_config`` falls back to ``simple``), so "running" finds "run" in an English instance.

Scope: the transaction runs as ``gb_app`` for the caller's customer (:meth:`Database.tenant`,
read-only: a replica serves it when the shard has one), and the rows are further limited to the
caller's instance and to the conversations whose members include the caller
(``conversation_members.user_ref = identity.user``, under row-level security). Messages are read
through the view ``message_search`` (shard migration 0004), which applies the tenant condition
of the row-level security policy itself: under the policy, PostgreSQL could not use the GIN
index for ``@@``, which is not a leakproof operator.

Order: ``ts_rank_cd`` descending, then newest first, then id — a total order, so keyset paging
by ``(rank, created_at, id)`` never repeats or skips a row while the rows stay put. The cursor
is opaque to clients but not secret: it holds that keyset plus a fingerprint of the query and
filters, and is strictly validated (a cursor of another search is refused). Forging one can
only move where a page starts; the scope above is applied to every page.

Cost: every match in the caller's scope is ranked before the best page is known, so it grows
with the matches, not the page: on 1,000,000 messages of one tenant (``bench/search.py``), a
word in 269,000 messages the caller can read takes about a second, the same word among 6,600
visible messages ~0.1 s, rare words, phrases and one conversation tens of milliseconds or less.

Highlighting: ``ts_headline`` runs over the HTML-escaped content, so the only markup in a
highlight is the markers (``<b>``/``</b>`` unless configured); PostgreSQL's parser reads the
escapes as single ``entity`` tokens, so a search for "amp" or "lt" cannot mark inside one.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import math
import struct
from dataclasses import dataclass
from typing import Any, cast
from uuid import UUID

import asyncpg

from gb.core.auth import Identity
from gb.core.storage.database import Database
from gb.core.tenant_gate import tenant_ids

from .store import message_of

__all__ = [
    "MAX_LIMIT",
    "MAX_QUERY_CHARS",
    "Hit",
    "Search",
    "SearchPage",
    "text_search_config",
]

MAX_QUERY_CHARS = 256
"""Longest query accepted (characters, after trimming surrounding blanks)."""
MAX_LIMIT = 100
"""Most hits per page."""
MAX_SENDER_CHARS = 256
"""Longest sender filter (``conversation_members.user_ref`` has the same bound)."""
MAX_MARKER_CHARS = 64
"""Longest highlight marker."""

_HEADLINE_OPTIONS = "MaxWords=35, MinWords=15, ShortWord=3, HighlightAll=false, MaxFragments=0"
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)

# The cursor: version, fingerprint of the search, then the last hit's keyset (rank as a double,
# created_at in microseconds since the epoch, id), packed and base64url-encoded without padding.
_CURSOR = struct.Struct(">B8sdq16s")
_CURSOR_VERSION = 1
_CURSOR_CHARS = math.ceil(_CURSOR.size * 4 / 3)
_MIN_US = (datetime.datetime.min.replace(tzinfo=datetime.UTC) - _EPOCH) // datetime.timedelta(
    microseconds=1
)
_MAX_US = (datetime.datetime.max.replace(tzinfo=datetime.UTC) - _EPOCH) // datetime.timedelta(
    microseconds=1
)

# The instance's configuration as a regconfig, 'simple' when the instance names none that
# exists (or is not the caller's: row-level security hides other customers' instances).
_CONFIG_OF_INSTANCE = """
    coalesce(
        (SELECT c.oid::regconfig FROM instances i JOIN pg_ts_config c ON c.cfgname = i.text_search
         WHERE i.id = $1
         ORDER BY c.cfgnamespace <> 'pg_catalog'::regnamespace, c.oid LIMIT 1),
        'simple'::regconfig)
"""

# First statement of a search: custom plans for this transaction (a generic plan would not see
# the tsquery, and the GIN index's selectivity depends on its words), the query parsed in the
# instance's configuration (as text: the search passes it back as a constant), and the caller's
# conversations in the instance. Membership is read here, not joined in the search: with a
# table under row-level security in the same statement, PostgreSQL would not use the GIN index
# for the non-leakproof @@ (see shard migration 0004).
_PREPARE = f"""
    SELECT set_config('plan_cache_mode', 'force_custom_plan', true),
           websearch_to_tsquery(cfg, $2)::text AS tsquery,
           numnode(websearch_to_tsquery(cfg, $2)) AS nodes,
           ARRAY(SELECT cm.conversation_id
                 FROM conversation_members cm JOIN conversations c ON c.id = cm.conversation_id
                 WHERE cm.customer_id = $3 AND cm.user_ref = $4 AND c.instance_id = $1)
               AS conversations
    FROM (SELECT {_CONFIG_OF_INSTANCE} AS cfg) s
"""

_ESCAPED_CONTENT = (
    "replace(replace(replace(replace(replace(p.content, '&', '&amp;'), '<', '&lt;'), "
    "'>', '&gt;'), '\"', '&quot;'), '''', '&#39;')"
)

# The page: the caller's matches ranked, the best limit + 1 kept (one more tells whether a next
# page exists), then highlighted. OFFSET 0 keeps the ranking subquery from being merged into
# the keyset condition of a next page, which would compute ts_rank_cd twice for every match.
_SELECT = f"""
SELECT p.id, p.conversation_id, p.position, p.sender, p.kind, p.content, p.metadata,
       p.created_at, p.client_key, p.rank,
       ts_headline(p.lang, {_ESCAPED_CONTENT}, $1::tsquery, $2) AS highlight
FROM (
    SELECT r.* FROM (
        SELECT m.id, m.conversation_id, m.position, m.sender, m.kind, m.content, m.metadata,
               m.created_at, m.client_key, m.lang, ts_rank_cd(m.search, $1::tsquery) AS rank
        FROM message_search m
        WHERE m.search @@ $1::tsquery
          AND m.customer_id = $3
          AND m.instance_id = $4
          AND m.conversation_id = ANY($5::uuid[])
          {{filters}}
        OFFSET 0
    ) r
    {{after}}
    ORDER BY r.rank DESC, r.created_at DESC, r.id DESC
    LIMIT $6
) p
ORDER BY p.rank DESC, p.created_at DESC, p.id DESC
"""


@dataclass(frozen=True, slots=True)
class Hit:
    """One matching message: its wire dict (:meth:`Message.to_wire`), its rank and its
    highlighted (HTML-safe) text."""

    message: dict[str, Any]
    rank: float
    highlight: str

    def to_dict(self) -> dict[str, Any]:
        """The message dict with ``rank`` and ``highlight`` added (RPC results, REST bodies)."""
        return {**self.message, "rank": self.rank, "highlight": self.highlight}


@dataclass(frozen=True, slots=True)
class SearchPage:
    """A page of hits, best first; ``next_cursor`` is None on the last page."""

    hits: list[Hit]
    next_cursor: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"hits": [hit.to_dict() for hit in self.hits], "next_cursor": self.next_cursor}


@dataclass(frozen=True, slots=True)
class _Keyset:
    """Where a page ends: the last hit's sort key."""

    rank: float
    created_at: datetime.datetime
    id: UUID


@dataclass(frozen=True, slots=True)
class _Request:
    """A validated search: the scope, the query and the filters as SQL."""

    customer_id: UUID
    instance_id: UUID
    user: str
    query: str
    conversation_id: UUID | None
    limit: int
    fingerprint: bytes
    filters: str
    args: tuple[Any, ...]


async def text_search_config(conn: asyncpg.Connection, instance_id: UUID) -> str:
    """The text-search configuration of an instance (``instances.text_search``) when it exists
    in ``pg_ts_config``, else ``simple``: the name to store as a message's ``lang``."""
    name: str = await conn.fetchval(f"SELECT ({_CONFIG_OF_INSTANCE})::text", instance_id)
    return name


class Search:
    """Full-text search of the messages a caller can read.

    ``start_sel``/``stop_sel``: the highlight markers around matched words (any text up to
    :data:`MAX_MARKER_CHARS` characters; they are not escaped, so they may be markup).
    """

    def __init__(self, db: Database, *, start_sel: str = "<b>", stop_sel: str = "</b>") -> None:
        self.db = db
        self.headline_options = (
            f"StartSel={_option(start_sel, 'start_sel')}, "
            f"StopSel={_option(stop_sel, 'stop_sel')}, {_HEADLINE_OPTIONS}"
        )

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
        """A page of the caller's messages matching ``query``, best first.

        Filters: one conversation, one sender, ``since <= created_at < until``. ``cursor``: the
        ``next_cursor`` of the previous page of the same search. Raises ValueError naming the
        argument for bad input (empty or too long query, limit outside 1..100, naive datetimes,
        a cursor that is damaged or belongs to another search); ``AuthError`` when the identity
        carries no customer and instance ids. A query with no searchable word (only stop words
        or punctuation) matches nothing.
        """
        request = _request(identity, query, conversation_id, sender, since, until, limit)
        keyset = None if cursor is None else _decode_cursor(cursor, request.fingerprint)
        after = ""
        args: tuple[Any, ...] = ()
        if keyset is not None:
            n = 6 + len(request.args)
            after = (
                f"WHERE (r.rank, r.created_at, r.id)"
                f" < (${n + 1}::real, ${n + 2}::timestamptz, ${n + 3}::uuid)"
            )
            args = (keyset.rank, keyset.created_at, keyset.id)
        rows = await self._fetch(request, "", after, args)
        hits = [_hit(row) for row in rows[: request.limit]]
        next_cursor = None
        if len(rows) > request.limit:
            last = rows[request.limit - 1]
            next_cursor = _encode_cursor(
                request.fingerprint, _Keyset(last["rank"], last["created_at"], last["id"])
            )
        return SearchPage(hits, next_cursor)

    async def explain(
        self,
        identity: Identity,
        query: str,
        *,
        conversation_id: UUID | None = None,
        sender: str | None = None,
        since: datetime.datetime | None = None,
        until: datetime.datetime | None = None,
        limit: int = 20,
        analyze: bool = False,
    ) -> list[str]:
        """The plan PostgreSQL chooses for this search's first page (``EXPLAIN``; with
        ``analyze``, run and timed): to check that the GIN index serves it. Empty when nothing
        would be planned (no searchable word, or no conversation of the caller)."""
        request = _request(identity, query, conversation_id, sender, since, until, limit)
        prefix = "EXPLAIN (ANALYZE, BUFFERS) " if analyze else "EXPLAIN "
        return [row[0] for row in await self._fetch(request, prefix, "", ())]

    async def _fetch(
        self, request: _Request, prefix: str, after: str, after_args: tuple[Any, ...]
    ) -> list[asyncpg.Record]:
        """Run the search (``prefix``: EXPLAIN; ``after``: the keyset condition of a next page),
        at most ``limit + 1`` rows; none when the query has no searchable word or the caller
        is in no conversation (of the filter)."""
        async with self.db.tenant(request.customer_id, readonly=True) as conn:
            # One row always (a SELECT without WHERE over a one-row subquery).
            prepared = cast(
                asyncpg.Record,
                await conn.fetchrow(
                    _PREPARE,
                    request.instance_id,
                    request.query,
                    request.customer_id,
                    request.user,
                ),
            )
            conversations: list[UUID] = prepared["conversations"]
            if request.conversation_id is not None:
                wanted = request.conversation_id
                conversations = [wanted] if wanted in conversations else []
            if prepared["nodes"] == 0 or not conversations:
                return []
            rows: list[asyncpg.Record] = await conn.fetch(
                prefix + _SELECT.format(filters=request.filters, after=after),
                prepared["tsquery"],
                self.headline_options,
                request.customer_id,
                request.instance_id,
                conversations,
                request.limit + 1,
                *request.args,
                *after_args,
            )
        return rows


def _option(marker: str, name: str) -> str:
    """A ts_headline option value: double-quoted, inner quotes doubled."""
    if not 1 <= len(marker) <= MAX_MARKER_CHARS:
        raise ValueError(f"{name}: must be 1 to {MAX_MARKER_CHARS} characters")
    if "\x00" in marker:
        raise ValueError(f"{name}: must not contain NUL characters")
    return '"' + marker.replace('"', '""') + '"'


def _text(value: str, name: str, max_chars: int) -> str:
    """``value`` trimmed, checked to be non-empty, short enough and storable in PostgreSQL."""
    if not isinstance(value, str):
        raise ValueError(f"{name}: must be a string, not {type(value).__name__}")
    value = value.strip()
    if not value:
        raise ValueError(f"{name}: must not be empty")
    if len(value) > max_chars:
        raise ValueError(f"{name}: must be at most {max_chars} characters, not {len(value)}")
    if "\x00" in value:
        raise ValueError(f"{name}: must not contain NUL characters")
    try:
        value.encode()
    except UnicodeEncodeError:
        raise ValueError(f"{name}: must be valid Unicode (no lone surrogates)") from None
    return value


def _moment(value: datetime.datetime | None, name: str) -> datetime.datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime.datetime):
        raise ValueError(f"{name}: must be a datetime, not {type(value).__name__}")
    if value.utcoffset() is None:
        raise ValueError(f"{name}: must be timezone-aware")
    return value


def _request(
    identity: Identity,
    query: str,
    conversation_id: UUID | None,
    sender: str | None,
    since: datetime.datetime | None,
    until: datetime.datetime | None,
    limit: int,
) -> _Request:
    """Validate the arguments; the filters beyond the scope as SQL with their parameters."""
    customer_id, instance_id = tenant_ids(identity)
    query = _text(query, "query", MAX_QUERY_CHARS)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit: must be an integer from 1 to {MAX_LIMIT}, not {limit!r}")
    if conversation_id is not None and not isinstance(conversation_id, UUID):
        raise ValueError(f"conversation_id: must be a UUID, not {type(conversation_id).__name__}")
    if sender is not None:
        sender = _text(sender, "sender", MAX_SENDER_CHARS)
    since = _moment(since, "since")
    until = _moment(until, "until")
    if since is not None and until is not None and since >= until:
        raise ValueError("since: must be before until")
    filters: list[str] = []
    args: list[Any] = []
    for column, op, value in (
        ("sender", "=", sender),
        ("created_at", ">=", since),
        ("created_at", "<", until),
    ):
        if value is not None:
            args.append(value)
            filters.append(f"AND m.{column} {op} ${6 + len(args)}")
    # A cursor is good for the same caller, query and filters only.
    scope: list[Any] = [identity.customer, identity.instance, identity.user, query]
    scope += [conversation_id, sender, since, until]
    fingerprint = hashlib.blake2b(json.dumps(scope, default=str).encode(), digest_size=8).digest()
    return _Request(
        customer_id,
        instance_id,
        identity.user,
        query,
        conversation_id,
        limit,
        fingerprint,
        " ".join(filters),
        tuple(args),
    )


def _hit(row: asyncpg.Record) -> Hit:
    return Hit(message_of(row).to_wire(), row["rank"], row["highlight"])


def _encode_cursor(fingerprint: bytes, keyset: _Keyset) -> str:
    micros = (keyset.created_at - _EPOCH) // datetime.timedelta(microseconds=1)
    packed = _CURSOR.pack(_CURSOR_VERSION, fingerprint, keyset.rank, micros, keyset.id.bytes)
    return base64.urlsafe_b64encode(packed).rstrip(b"=").decode("ascii")


def _decode_cursor(cursor: str, fingerprint: bytes) -> _Keyset:
    """The keyset in ``cursor``; ValueError unless it is a cursor of this very search."""
    if not isinstance(cursor, str) or len(cursor) != _CURSOR_CHARS:
        raise ValueError("cursor: not a cursor of this search (malformed)")
    try:  # strict: characters outside the alphabet are refused, not skipped
        packed = base64.b64decode(cursor + "=", altchars=b"-_", validate=True)
    except ValueError:  # binascii.Error, or characters that are not ASCII
        raise ValueError("cursor: not a cursor of this search (malformed)") from None
    version, found, rank, micros, id_bytes = _CURSOR.unpack(packed)
    if version != _CURSOR_VERSION:
        raise ValueError(f"cursor: unknown cursor version {version}")
    if found != fingerprint:
        raise ValueError(
            "cursor: belongs to another search (the query and filters must not change "
            "between pages)"
        )
    if not math.isfinite(rank) or rank < 0:
        raise ValueError("cursor: damaged (bad rank)")
    if not _MIN_US <= micros <= _MAX_US:
        raise ValueError("cursor: damaged (bad time)")
    return _Keyset(rank, _EPOCH + datetime.timedelta(microseconds=micros), UUID(bytes=id_bytes))
