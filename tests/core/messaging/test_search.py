"""Full-text search on the real PostgreSQL: languages, scope, filters, paging, highlighting, plans.

Messages are inserted straight into ``messages`` as the tenant (``gb_app`` under row-level
security), the way the persister leaves them: ``created_at`` is the time inside the UUIDv7 id and
``lang`` the instance's text-search configuration.
"""

from __future__ import annotations

import asyncio
import datetime
import html
import json
import os
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any
from uuid import UUID

import asyncpg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gb.core.auth import AuthError, Identity
from gb.core.messaging.search import MAX_QUERY_CHARS, Search, text_search_config
from gb.core.storage.database import Database

from ...support.pg import create_migrated_database, drop_database
from ...support.tenants import make_tenant

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


def uuid7(at: datetime.datetime) -> UUID:
    """A UUIDv7 carrying ``at`` (milliseconds) and random bits."""
    ms = (at - EPOCH) // datetime.timedelta(milliseconds=1)
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms << 80) | (0x7 << 76) | ((rand >> 62) & 0xFFF) << 64 | (0b10 << 62)
    return UUID(int=value | (rand & ((1 << 62) - 1)))


def created_at_of(message_id: UUID) -> datetime.datetime:
    return EPOCH + datetime.timedelta(milliseconds=message_id.int >> 80)


class Tenant:
    """A customer with one instance, and helpers to fill it."""

    def __init__(self, db: Database, customer: UUID, instance: UUID) -> None:
        self.db = db
        self.customer = customer
        self.instance = instance
        self.positions = 0

    @classmethod
    async def make(cls, db: Database, text_search: str = "english") -> Tenant:
        customer, instance = await make_tenant(db)
        tenant = cls(db, customer, instance)
        await tenant.set_language(text_search)
        return tenant

    async def set_language(self, text_search: str, instance: UUID | None = None) -> None:
        async with self.db.tenant(self.customer) as conn:
            await conn.execute(
                "UPDATE instances SET text_search = $2 WHERE id = $1",
                instance or self.instance,
                text_search,
            )

    async def other_instance(self) -> UUID:
        async with self.db.tenant(self.customer) as conn:
            other: UUID = await conn.fetchval(
                "INSERT INTO instances (customer_id, name, text_search)"
                " VALUES ($1, 'second', 'english') RETURNING id",
                self.customer,
            )
        return other

    def identity(self, user: str = "alice", instance: UUID | None = None) -> Identity:
        instance = instance or self.instance
        return Identity(
            str(self.customer),
            str(instance),
            user,
            frozenset({"user"}),
            time.time() + 3600,
            customer_id=self.customer,
            instance_id=instance,
        )

    async def conversation(self, *members: str, instance: UUID | None = None) -> UUID:
        async with self.db.tenant(self.customer) as conn:
            conversation: UUID = await conn.fetchval(
                "INSERT INTO conversations (customer_id, instance_id, title, kind, created_by)"
                " VALUES ($1, $2, 'chat', 'group', $3) RETURNING id",
                self.customer,
                instance or self.instance,
                members[0] if members else "nobody",
            )
            await conn.executemany(
                "INSERT INTO conversation_members (customer_id, conversation_id, user_ref)"
                " VALUES ($1, $2, $3)",
                [(self.customer, conversation, user) for user in members],
            )
        return conversation

    async def join(self, conversation: UUID, user: str) -> None:
        async with self.db.tenant(self.customer) as conn:
            await conn.execute(
                "INSERT INTO conversation_members (customer_id, conversation_id, user_ref)"
                " VALUES ($1, $2, $3)",
                self.customer,
                conversation,
                user,
            )

    async def message(
        self,
        conversation: UUID,
        content: str,
        *,
        sender: str = "bob",
        at: datetime.datetime | None = None,
        lang: str = "english",
        instance: UUID | None = None,
        metadata: dict[str, Any] | None = None,
        client_key: str | None = None,
    ) -> UUID:
        message_id = uuid7(at or datetime.datetime.now(datetime.UTC))
        self.positions += 1
        async with self.db.tenant(self.customer) as conn:
            await conn.execute(
                "INSERT INTO messages (id, customer_id, instance_id, conversation_id, sender, kind,"
                " content, metadata, created_at, position, client_key, lang)"
                " VALUES ($1, $2, $3, $4, $5, 'text', $6, $7, $8, $9, $10, $11::regconfig)",
                message_id,
                self.customer,
                instance or self.instance,
                conversation,
                sender,
                content,
                json.dumps(metadata or {}),
                created_at_of(message_id),
                self.positions,
                client_key,
                lang,
            )
        return message_id


@pytest.fixture(scope="module")
def dsn() -> Iterator[str]:
    """One migrated database for the module: every test makes tenants of its own in it, and a
    search never leaves its tenant (which the tests check), so they cannot see each other."""
    database = asyncio.run(create_migrated_database())
    yield database
    asyncio.run(drop_database(database))


@pytest.fixture
async def db(dsn: str) -> AsyncIterator[Database]:
    database = await Database.open(dsn, pool_size=4)
    yield database
    await database.close()


@pytest.fixture
async def tenant(db: Database) -> Tenant:
    return await Tenant.make(db)


def ids(page: Any) -> list[str]:
    return [hit.message["id"] for hit in page.hits]


# ------------------------------------------------------------------ languages


async def test_english_stems_words_and_returns_the_wire_message(
    db: Database, tenant: Tenant
) -> None:
    conv = await tenant.conversation("alice", "bob")
    run = await tenant.message(
        conv, "I run every morning", metadata={"a": [1, 2]}, client_key="k-1"
    )
    await tenant.message(conv, "dogs are barking")
    page = await Search(db).search(tenant.identity(), "running")
    assert page.next_cursor is None
    [hit] = page.hits
    assert hit.message == {
        "id": str(run),
        "conversation_id": str(conv),
        "position": 1,
        "sender": "bob",
        "kind": "text",
        "content": "I run every morning",
        "metadata": {"a": [1, 2]},
        "created_at": created_at_of(run).isoformat(),
        "client_key": "k-1",
    }
    assert hit.rank > 0
    assert hit.highlight == "I <b>run</b> every morning"
    assert hit.to_dict() == {**hit.message, "rank": hit.rank, "highlight": hit.highlight}
    assert page.to_dict() == {"hits": [hit.to_dict()], "next_cursor": None}
    # "barks" and "barking" share the stem "bark".
    assert len((await Search(db).search(tenant.identity(), "barks")).hits) == 1
    async with db.tenant(tenant.customer) as conn:
        assert await text_search_config(conn, tenant.instance) == "english"


async def test_portuguese_instance_parses_queries_in_portuguese(db: Database) -> None:
    tenant = await Tenant.make(db, "portuguese")
    conv = await tenant.conversation("alice")
    found = await tenant.message(conv, "As meninas estavam correndo no parque", lang="portuguese")
    await tenant.message(conv, "Amanhã vamos ao cinema", lang="portuguese")
    search = Search(db)
    for query in ("correr", "menina", "parques"):
        assert ids(await search.search(tenant.identity(), query)) == [str(found)], query
    # Only Portuguese stop words: nothing searchable, so nothing matches (and nothing is planned).
    assert (await search.search(tenant.identity(), "de os as")).hits == []
    assert await search.explain(tenant.identity(), "de os as") == []
    # The same words in English: the English stemmer does not reduce "correndo" to "corr".
    await tenant.set_language("english")
    assert (await search.search(tenant.identity(), "correr")).hits == []


async def test_unknown_configuration_falls_back_to_simple(db: Database) -> None:
    tenant = await Tenant.make(db, "klingon")
    conv = await tenant.conversation("alice")
    plain = await tenant.message(conv, "we run together", lang="simple")
    search = Search(db)
    assert (await search.search(tenant.identity(), "running")).hits == []  # no stemming
    assert ids(await search.search(tenant.identity(), "run")) == [str(plain)]
    # "we" is an English stop word, but simple has none.
    assert ids(await search.search(tenant.identity(), "we")) == [str(plain)]
    async with db.tenant(tenant.customer) as conn:
        assert await text_search_config(conn, tenant.instance) == "simple"
        # An instance the caller cannot see (or that does not exist) is simple too.
        assert await text_search_config(conn, uuid.uuid4()) == "simple"


# ------------------------------------------------------------------ scope


async def test_other_customers_messages_never_appear(db: Database) -> None:
    one, two = await Tenant.make(db), await Tenant.make(db)
    mine = await one.message(await one.conversation("alice"), "secret launch plan")
    theirs = await two.message(await two.conversation("alice"), "secret launch plan")
    search = Search(db)
    assert ids(await search.search(one.identity(), "secret")) == [str(mine)]
    assert ids(await search.search(two.identity(), "secret")) == [str(theirs)]
    # A token naming customer one with customer two's instance finds nothing of either.
    crossed = Identity(
        str(one.customer),
        str(two.instance),
        "alice",
        frozenset(),
        time.time() + 60,
        customer_id=one.customer,
        instance_id=two.instance,
    )
    assert (await search.search(crossed, "secret")).hits == []


async def test_only_conversations_the_caller_is_a_member_of(db: Database, tenant: Tenant) -> None:
    member = await tenant.conversation("alice", "bob")
    other = await tenant.conversation("bob", "carol")
    seen = await tenant.message(member, "budget review tomorrow")
    hidden = await tenant.message(other, "budget review today")
    search = Search(db)
    assert ids(await search.search(tenant.identity("alice"), "budget")) == [str(seen)]
    assert set(ids(await search.search(tenant.identity("bob"), "budget"))) == {
        str(seen),
        str(hidden),
    }
    assert (await search.search(tenant.identity("mallory"), "budget")).hits == []
    # Asking for the other conversation by id does not get around membership.
    assert (await search.search(tenant.identity(), "budget", conversation_id=other)).hits == []
    await tenant.join(other, "alice")
    assert len((await search.search(tenant.identity("alice"), "budget")).hits) == 2


async def test_other_instances_of_the_customer_are_out_of_scope(
    db: Database, tenant: Tenant
) -> None:
    second = await tenant.other_instance()
    here = await tenant.message(await tenant.conversation("alice"), "quarterly numbers")
    conv = await tenant.conversation("alice", instance=second)
    there = await tenant.message(conv, "quarterly numbers", instance=second)
    search = Search(db)
    assert ids(await search.search(tenant.identity(), "quarterly")) == [str(here)]
    assert ids(await search.search(tenant.identity(instance=second), "quarterly")) == [str(there)]


# ------------------------------------------------------------------ filters


async def test_filters_conversation_sender_and_time(db: Database, tenant: Tenant) -> None:
    a = await tenant.conversation("alice", "bob")
    b = await tenant.conversation("alice", "carol")
    now = datetime.datetime.now(datetime.UTC)
    old = await tenant.message(a, "deploy the release", at=now - datetime.timedelta(hours=3))
    mid = await tenant.message(
        b, "deploy the release", sender="carol", at=now - datetime.timedelta(hours=2)
    )
    new = await tenant.message(a, "deploy the release", at=now - datetime.timedelta(hours=1))
    search = Search(db)
    me = tenant.identity()
    # Equal ranks: newest first.
    assert ids(await search.search(me, "deploy")) == [str(new), str(mid), str(old)]
    assert ids(await search.search(me, "deploy", conversation_id=a)) == [str(new), str(old)]
    assert ids(await search.search(me, "deploy", sender="carol")) == [str(mid)]
    assert ids(await search.search(me, "deploy", sender=" bob ")) == [str(new), str(old)]
    hour, minute = datetime.timedelta(hours=1), datetime.timedelta(minutes=1)
    cut = now - 2 * hour - minute  # (created_at has the id's milliseconds)
    assert ids(await search.search(me, "deploy", since=cut)) == [str(new), str(mid)]
    assert ids(await search.search(me, "deploy", until=cut)) == [str(old)]
    assert ids(await search.search(me, "deploy", since=cut, until=now - hour - minute)) == [
        str(mid)
    ]
    assert ids(await search.search(me, "deploy", conversation_id=a, sender="bob", since=cut)) == [
        str(new)
    ]


async def test_websearch_syntax(db: Database, tenant: Tenant) -> None:
    conv = await tenant.conversation("alice")
    phrase = await tenant.message(conv, "the quarterly budget is ready")
    apart = await tenant.message(conv, "budget for the quarterly party")
    search = Search(db)
    me = tenant.identity()
    assert ids(await search.search(me, '"quarterly budget"')) == [str(phrase)]
    assert ids(await search.search(me, "budget -party")) == [str(phrase)]
    assert set(ids(await search.search(me, "party or ready"))) == {str(phrase), str(apart)}


# ------------------------------------------------------------------ ranking and paging


async def test_ranking_prefers_denser_matches(db: Database, tenant: Tenant) -> None:
    conv = await tenant.conversation("alice")
    now = datetime.datetime.now(datetime.UTC)
    dense = await tenant.message(
        conv, "invoice invoice invoice overdue", at=now - datetime.timedelta(minutes=5)
    )
    sparse = await tenant.message(conv, "one invoice among many other words here")
    page = await Search(db).search(tenant.identity(), "invoice")
    assert ids(page) == [str(dense), str(sparse)]
    assert page.hits[0].rank > page.hits[1].rank


async def test_paging_is_stable_without_duplicates_or_gaps(db: Database, tenant: Tenant) -> None:
    conv = await tenant.conversation("alice")
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    contents = ["report", "report report", "report report report", "a report among others"]
    for n in range(23):
        # Groups of equal rank, and several messages in the same millisecond: every tie-break
        # (rank, then time, then id) is exercised.
        at = now - datetime.timedelta(seconds=n // 3)
        await tenant.message(conv, contents[n % len(contents)], at=at)
    search = Search(db)
    me = tenant.identity()
    everything = await search.search(me, "report", limit=100)
    assert len(everything.hits) == 23 and everything.next_cursor is None
    keys = [(-h.rank, h.message["created_at"], h.message["id"]) for h in everything.hits]
    ranks = [h.rank for h in everything.hits]
    assert ranks == sorted(ranks, reverse=True)

    pages: list[str] = []
    cursor = None
    inserted = False
    while True:
        page = await search.search(me, "report", limit=5, cursor=cursor)
        assert len(page.hits) <= 5
        pages += ids(page)
        if not inserted:
            # A new message ranked above everything arrives between pages: it is not in the
            # pages after the cursor, and nothing already seen comes back.
            await tenant.message(conv, "report report report report")
            inserted = True
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert pages == ids(everything)
    assert len(set(pages)) == 23
    assert len(keys) == len(set(keys))
    # Exactly one page's worth: a full last page has no next cursor.
    first = await search.search(me, "report", limit=24)
    assert len(first.hits) == 24 and first.next_cursor is None


async def test_cursor_must_belong_to_the_same_search(db: Database, tenant: Tenant) -> None:
    conv = await tenant.conversation("alice", "bob")
    for _ in range(3):
        await tenant.message(conv, "lunch at noon")
    search = Search(db)
    page = await search.search(tenant.identity(), "lunch", limit=1)
    assert page.next_cursor is not None
    with pytest.raises(ValueError, match="cursor: belongs to another search"):
        await search.search(tenant.identity(), "noon", limit=1, cursor=page.next_cursor)
    with pytest.raises(ValueError, match="cursor: belongs to another search"):
        await search.search(
            tenant.identity(), "lunch", sender="bob", limit=1, cursor=page.next_cursor
        )
    with pytest.raises(ValueError, match="cursor: belongs to another search"):
        await search.search(tenant.identity("bob"), "lunch", limit=1, cursor=page.next_cursor)
    # The limit may change between pages.
    rest = await search.search(tenant.identity(), "lunch", limit=5, cursor=page.next_cursor)
    assert len(rest.hits) == 2 and rest.next_cursor is None


# ------------------------------------------------------------------ highlighting


async def test_highlight_escapes_the_content_first(db: Database, tenant: Tenant) -> None:
    conv = await tenant.conversation("alice")
    content = "<img src=x onerror=alert(1)> \"deploy\" & lt amp 'quoted' <b>bold</b>"
    await tenant.message(conv, content)
    search = Search(db)
    for query in ("deploy", "onerror", "lt amp", "quoted", "bold"):
        [hit] = (await search.search(tenant.identity(), query)).hits
        assert hit.message["content"] == content
        text = hit.highlight.replace("<b>", "").replace("</b>", "")
        assert "<" not in text and ">" not in text and '"' not in text and "'" not in text
        # A window of whole tokens of the content (an escape is one token: never cut).
        assert html.unescape(text) in content
        # Markers only around whole words, never inside an entity such as &lt; or &amp;.
        marked = re.findall(r"<b>(.*?)</b>", hit.highlight)
        assert marked and all(re.fullmatch(r"\w+", word) for word in marked), hit.highlight
    [hit] = (await search.search(tenant.identity(), "lt amp")).hits
    assert "&quot; &amp; <b>lt</b> <b>amp</b> &#39;quoted&#39; &lt;b&gt;bold" in hit.highlight


async def test_markers_are_configurable(db: Database, tenant: Tenant) -> None:
    conv = await tenant.conversation("alice")
    await tenant.message(conv, "ship it & celebrate")
    search = Search(db, start_sel='<mark class="hit">', stop_sel="</mark>")
    [hit] = (await search.search(tenant.identity(), "celebrating")).hits
    assert hit.highlight == 'ship it &amp; <mark class="hit">celebrate</mark>'
    brackets = Search(db, start_sel="[[", stop_sel="]], ")
    [hit] = (await brackets.search(tenant.identity(), "ship")).hits
    assert hit.highlight == "[[ship]],  it &amp; celebrate"


def test_bad_markers_are_refused() -> None:
    db: Any = None
    with pytest.raises(ValueError, match="start_sel: must be 1 to 64 characters"):
        Search(db, start_sel="")
    with pytest.raises(ValueError, match="stop_sel: must be 1 to 64 characters"):
        Search(db, stop_sel="x" * 65)
    with pytest.raises(ValueError, match="start_sel: must not contain NUL"):
        Search(db, start_sel="\x00")


# ------------------------------------------------------------------ bad input


async def test_bad_arguments_are_named(db: Database, tenant: Tenant) -> None:
    search = Search(db)
    me = tenant.identity()
    now = datetime.datetime.now(datetime.UTC)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"query": ""}, "query: must not be empty"),
        ({"query": " \t\n"}, "query: must not be empty"),
        ({"query": "x" * (MAX_QUERY_CHARS + 1)}, "query: must be at most 256 characters, not 257"),
        ({"query": "a\x00b"}, "query: must not contain NUL"),
        ({"query": "a\ud800b"}, "query: must be valid Unicode"),
        ({"query": 42}, "query: must be a string, not int"),
        ({"limit": 0}, "limit: must be an integer from 1 to 100, not 0"),
        ({"limit": 101}, "limit: must be an integer from 1 to 100, not 101"),
        ({"limit": True}, "limit: must be an integer from 1 to 100, not True"),
        ({"limit": "5"}, "limit: must be an integer from 1 to 100, not '5'"),
        ({"conversation_id": "abc"}, "conversation_id: must be a UUID, not str"),
        ({"sender": ""}, "sender: must not be empty"),
        ({"sender": "s" * 257}, "sender: must be at most 256 characters"),
        ({"since": datetime.datetime(2026, 1, 1)}, "since: must be timezone-aware"),
        ({"until": "2026-01-01"}, "until: must be a datetime, not str"),
        ({"since": now, "until": now}, "since: must be before until"),
        ({"cursor": "short"}, "cursor: not a cursor of this search"),
        ({"cursor": 7}, "cursor: not a cursor of this search"),
        ({"cursor": "!" * 55}, "cursor: not a cursor of this search"),
        ({"cursor": "é" * 55}, "cursor: not a cursor of this search"),
    ]
    for changes, message in cases:
        kwargs: dict[str, Any] = {"query": "hello", **changes}
        with pytest.raises(ValueError, match=re.escape(message)):
            await search.search(me, **kwargs)
    # The longest query is fine.
    assert (await search.search(me, "x" * MAX_QUERY_CHARS)).hits == []
    anonymous = Identity("c", "i", "u", frozenset(), time.time() + 60)
    with pytest.raises(AuthError, match="'cus' and 'ins'"):
        await search.search(anonymous, "hello")


async def test_random_queries_never_fail_and_stay_in_scope(db: Database, tenant: Tenant) -> None:
    """websearch_to_tsquery takes any text; whatever is typed, only the caller's rows come back."""
    mine = await tenant.conversation("alice")
    other = await tenant.conversation("bob")
    words = ["alpha", "beta", "gamma", "run", "the", "&", "<", '"', "-", "or", ":*", "!", "|"]
    for n in range(12):
        await tenant.message(mine, " ".join(words[n:] + words[:n]))
        await tenant.message(other, " ".join(words[n:] + words[:n]))
    queries: list[str] = []

    @settings(max_examples=150, derandomize=True, database=None)
    @given(
        st.one_of(
            st.text(max_size=40),
            st.lists(st.sampled_from([*words, "(", ")", "'", "\\", " "]), max_size=8).map(" ".join),
        )
    )
    def collect(query: str) -> None:
        queries.append(query)

    collect()
    search = Search(db)
    allowed = {str(mine)}
    for query in queries:
        try:
            page = await search.search(tenant.identity(), query, limit=5)
        except ValueError as exc:
            assert str(exc).startswith("query: "), (query, exc)
            continue
        assert {hit.message["conversation_id"] for hit in page.hits} <= allowed, query
        if page.next_cursor is not None:
            more = await search.search(tenant.identity(), query, limit=5, cursor=page.next_cursor)
            assert not set(ids(more)) & set(ids(page)), query


# ------------------------------------------------------------------ the plan


async def test_the_gin_index_serves_searches(dsn: str, db: Database, tenant: Tenant) -> None:
    convs = [await tenant.conversation("alice", "bob") for _ in range(8)]
    async with db.tenant(tenant.customer) as conn:
        # Bulk rows in this month (ids need not carry their time for the plan).
        await conn.execute(
            "INSERT INTO messages (id, customer_id, instance_id, conversation_id, sender, kind,"
            " content, created_at, position, lang)"
            " SELECT gen_random_uuid(), $1, $2, ($3::uuid[])[1 + g % 8], 'bob', 'text',"
            "  'message number ' || g || ' about ' ||"
            "  (ARRAY['weather','lunch','traffic','music','sports'])[1 + g % 5] ||"
            "  CASE WHEN g % 4000 = 0 THEN ' zeppelin' ELSE '' END,"
            "  date_trunc('month', now()) + make_interval(secs => g), g, 'english'"
            " FROM generate_series(1, 20000) g",
            tenant.customer,
            tenant.instance,
            convs,
        )
    # VACUUM merges the GIN index's pending list (fastupdate), as autovacuum would; until then
    # the planner charges every search for reading the whole list.
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("VACUUM ANALYZE messages, conversation_members")
    finally:
        await conn.close()
    search = Search(db)
    plan = "\n".join(await search.explain(tenant.identity(), "zeppelin"))
    assert re.search(r"Bitmap Index Scan on messages_p\d{6}_search_idx", plan), plan
    analyzed = "\n".join(
        await search.explain(tenant.identity(), "zeppelin", conversation_id=convs[0], analyze=True)
    )
    assert "search_idx" in analyzed and "actual time" in analyzed, analyzed
    page = await search.search(tenant.identity(), "zeppelins")
    assert len(page.hits) == 5


async def test_the_search_view_keeps_to_the_transactions_customer(db: Database) -> None:
    """``message_search`` bypasses the policy only to apply the same condition itself."""
    one, two = await Tenant.make(db), await Tenant.make(db)
    mine = await one.message(await one.conversation("alice"), "private words")
    await two.message(await two.conversation("alice"), "private words")
    async with db.tenant(one.customer, readonly=True) as conn:
        rows = await conn.fetch(
            "SELECT id FROM message_search WHERE search @@ to_tsquery('english', 'private')"
        )
        assert [r["id"] for r in rows] == [mine]
    async with db.platform() as conn:  # no customer set: nothing, even for the platform
        assert await conn.fetchval("SELECT count(*) FROM message_search") == 0
    for statement in (
        "DELETE FROM message_search",
        "UPDATE message_search SET content = 'x'",
        "INSERT INTO message_search (id) VALUES (gen_random_uuid())",
    ):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            async with db.tenant(one.customer) as conn:
                await conn.execute(statement)
