"""MessageService on real parts: conversations and members, sending with every refusal, the
idempotency key, the ACK only after the log, and what happens when the log, the cache or the
hub fail. PostgreSQL is real (RLS as gb_app), the log is a real EmbeddedLog, rows come from the
real persister."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from gb.core.log import EmbeddedLog
from gb.core.messaging.cache import RedisLink, RedisRecentCache
from gb.core.messaging.errors import MessagingError
from gb.core.messaging.idempotency import IdempotencyStore, KeyResult, MemoryKeyStore
from gb.core.messaging.ids import created_at_of
from gb.core.messaging.search import Search
from gb.core.messaging.store import key_lookup
from gb.core.ratelimit import Limit, MemoryRateLimiter
from gb.core.storage.database import Database
from gb.core.tenancy.counters import MemoryCounters, RedisCounters
from gb.core.tenancy.metering import UsageRecorder
from gb.core.tenancy.quotas import Quotas
from gb.protocol.codes import ErrorCode

from ...support.services import RedisProcess, own_redis
from ...support.tenants import set_quota
from .test_service_support import TOPIC, Env, control_db, db, env

__all__ = ["control_db", "db", "env", "own_redis"]

Make = Callable[..., Any]


async def refused(code: ErrorCode, call: Any) -> MessagingError:
    with pytest.raises(MessagingError) as info:
        await call
    assert info.value.code == code, info.value.message
    return info.value


async def group(e: Env, *members: str, owner: str = "alice") -> uuid.UUID:
    conversation = await e.svc.create_conversation(e.who(owner), title="t", members=list(members))
    return conversation.id


# -- conversations ----------------------------------------------------------------------------


async def test_a_conversation_is_created_listed_and_read_by_its_members(env: Make) -> None:
    e: Env = await env()
    alice = e.who("alice")
    made = await e.svc.create_conversation(alice, title="Lunch", members=["bob", "alice", "bob"])
    assert made.kind == "group" and made.title == "Lunch" and made.created_by == "alice"
    assert made.created_at == created_at_of(made.id)
    assert [(m.user, m.role) for m in made.members or ()] == [("alice", "owner"), ("bob", "member")]
    wire = made.to_wire()
    assert wire["members"][0]["user"] == "alice" and wire["id"] == str(made.id)
    second = await e.svc.create_conversation(alice, kind="direct", members=["carol"])
    page = await e.svc.list_conversations(alice, limit=1)
    assert [c.id for c in page.items] == [second.id] and page.next_cursor == str(second.id)
    assert page.items[0].members is None and "members" not in page.items[0].to_wire()
    rest = await e.svc.list_conversations(alice, cursor=page.next_cursor, limit=1)
    assert [c.id for c in rest.items] == [made.id] and rest.next_cursor is None
    assert [c.id for c in (await e.svc.list_conversations(e.who("bob"))).items] == [made.id]
    assert (await e.svc.get_conversation(e.who("bob"), made.id)).members == made.members
    assert await e.svc.is_member(e.who("bob"), made.id)
    assert not await e.svc.is_member(e.who("carol"), made.id)
    assert not await e.svc.is_member(e.who("bob"), uuid.uuid4())


async def test_reading_a_conversation_needs_membership_or_an_admin_role(env: Make) -> None:
    e: Env = await env()
    conversation = await group(e, "bob")
    await refused(ErrorCode.FORBIDDEN, e.svc.get_conversation(e.who("eve"), conversation))
    admin = await e.svc.get_conversation(e.who("root", "instance_admin"), conversation)
    assert admin.id == conversation
    error = await refused(ErrorCode.NOT_FOUND, e.svc.get_conversation(e.who(), uuid.uuid4()))
    assert "conversation" in error.message and "not found" in error.message


async def test_conversations_of_another_instance_or_customer_do_not_exist(
    env: Make, db: Database
) -> None:
    e: Env = await env()
    other: Env = await env()
    conversation = await group(e, "bob")
    stranger = other.who("alice")
    await refused(ErrorCode.NOT_FOUND, other.svc.get_conversation(stranger, conversation))
    await refused(ErrorCode.NOT_FOUND, other.svc.send(stranger, conversation, content="hi"))
    assert not await other.svc.is_member(stranger, conversation)
    async with db.tenant(e.customer) as conn:
        second = await conn.fetchval(
            "INSERT INTO instances (customer_id, name) VALUES ($1, 'second') RETURNING id",
            e.customer,
        )
    sibling = dataclasses.replace(e.who("alice"), instance=str(second), instance_id=second)
    await refused(ErrorCode.NOT_FOUND, e.svc.get_conversation(sibling, conversation))


async def test_a_token_without_tenant_ids_cannot_use_messaging(env: Make) -> None:
    e: Env = await env()
    who = dataclasses.replace(e.who(), customer_id=None)
    error = await refused(ErrorCode.FORBIDDEN, e.svc.create_conversation(who))
    assert "'cus' and 'ins'" in error.message
    assert not await e.svc.is_member(who, uuid.uuid4())
    for user, problem in (("a\x00b", "contains a NUL"), ("\ud800", "not valid Unicode")):
        error = await refused(
            ErrorCode.FORBIDDEN, e.svc.create_conversation(dataclasses.replace(e.who(), user=user))
        )
        assert error.message.startswith("the token's sub: ") and problem in error.message


async def test_bad_conversation_input_is_refused_naming_the_field(env: Make) -> None:
    e: Env = await env(max_members=3)
    alice = e.who()
    cases: list[tuple[dict[str, Any], str]] = [
        ({"kind": "room"}, "kind:"),
        ({"title": ""}, "title: must be a string of 1-256"),
        ({"title": "x" * 257}, "title: must be a string"),
        ({"title": "a\x00b"}, "title: contains a NUL"),
        ({"members": "bob"}, "members: must be a list"),
        ({"members": ["ok", 7]}, "members[1]: must be a string"),
        ({"members": ["b" * 257]}, "members[0]"),
        ({"members": ["\ud800"]}, "members[0]: not valid Unicode"),
        ({"members": ["a", "b", "c", "d"]}, "members: at most 3 users"),
        ({"members": ["a", "b", "c"]}, "members: at most 3 members per conversation"),
        ({"kind": "direct", "members": []}, "exactly one other member"),
        ({"kind": "direct", "members": ["b", "c"]}, "exactly one other member"),
    ]
    for options, message in cases:
        error = await refused(ErrorCode.BAD_PAYLOAD, e.svc.create_conversation(alice, **options))
        assert message in error.message, (options, error.message)


async def test_owners_and_admins_manage_members_and_everyone_is_told(env: Make) -> None:
    e: Env = await env(max_members=4)
    conversation = await group(e, "bob")
    added = await e.svc.add_members(e.who("alice"), conversation, ["carol", "bob"])
    assert added == ["carol"]
    assert await e.svc.is_member(e.who("carol"), conversation)
    by_admin = await e.svc.add_members(e.who("root", "customer_admin"), conversation, ["dave"])
    assert by_admin == ["dave"]
    assert await e.svc.add_members(e.who("alice"), conversation, ["dave"]) == []
    events = e.events.of("members")
    assert events == [
        {
            "type": "members",
            "conversation_id": str(conversation),
            "added": ["carol"],
            "removed": [],
        },
        {"type": "members", "conversation_id": str(conversation), "added": ["dave"], "removed": []},
    ]
    assert e.events.items[0][:3] == (str(e.customer), str(e.instance), conversation)
    error = await refused(
        ErrorCode.FORBIDDEN, e.svc.add_members(e.who("bob"), conversation, ["eve"])
    )
    assert "only owners" in error.message
    error = await refused(
        ErrorCode.CONFLICT, e.svc.add_members(e.who("alice"), conversation, ["eve"])
    )
    assert "the limit is 4" in error.message
    assert not await e.svc.is_member(e.who("eve"), conversation)  # rolled back
    await refused(ErrorCode.NOT_FOUND, e.svc.add_members(e.who(), uuid.uuid4(), ["x"]))
    await refused(ErrorCode.BAD_PAYLOAD, e.svc.add_members(e.who(), conversation, []))


async def test_members_leave_owners_remove_and_the_removed_cannot_send(env: Make) -> None:
    e: Env = await env()
    conversation = await group(e, "bob", "carol", "dave")
    assert await e.svc.send(e.who("carol"), conversation, content="before")
    assert await e.svc.remove_members(e.who("carol"), conversation, ["carol"]) == ["carol"]
    await refused(ErrorCode.FORBIDDEN, e.svc.send(e.who("carol"), conversation, content="x"))
    await refused(ErrorCode.FORBIDDEN, e.svc.remove_members(e.who("bob"), conversation, ["dave"]))
    assert await e.svc.remove_members(e.who("alice"), conversation, ["dave", "zed"]) == ["dave"]
    assert await e.svc.remove_members(e.who("alice"), conversation, ["zed"]) == []
    removed = [event["removed"] for event in e.events.of("members")]
    assert removed == [["carol"], ["dave"]]
    await refused(ErrorCode.FORBIDDEN, e.svc.remove_members(e.who("eve"), conversation, ["eve"]))


async def test_direct_conversations_never_change_members(env: Make) -> None:
    e: Env = await env()
    direct = await e.svc.create_conversation(e.who(), kind="direct", members=["bob"])
    for call in (
        e.svc.add_members(e.who(), direct.id, ["carol"]),
        e.svc.remove_members(e.who("bob"), direct.id, ["bob"]),
    ):
        error = await refused(ErrorCode.CONFLICT, call)
        assert "direct conversation" in error.message


# -- send -------------------------------------------------------------------------------------


async def test_a_sent_message_is_acknowledged_delivered_metered_and_readable(
    env: Make, db: Database
) -> None:
    usage = UsageRecorder(db)
    e: Env = await env(usage=usage)
    conversation = await group(e, "bob")
    sent = await e.svc.send(e.who(), conversation, content="hello", metadata={"x": 1})
    assert sent.conversation_id == conversation and not sent.duplicate
    assert sent.created_at == created_at_of(sent.id)
    assert e.svc.stats.sent == 1
    [event] = e.events.of("message")
    assert event["message"]["id"] == str(sent.id)
    assert event["message"]["position"] == sent.position
    assert event["message"]["content"] == "hello" and event["message"]["metadata"] == {"x": 1}
    assert usage.pending == 1
    # Readable at once, before the persister wrote it ...
    page = await e.svc.get_messages(e.who("bob"), conversation)
    assert [(m.id, m.content) for m in page.items] == [(sent.id, "hello")]
    # ... and once after it did.
    await e.persist(conversation, sent.position)
    page = await e.svc.get_messages(e.who("bob"), conversation)
    assert [m.id for m in page.items] == [sent.id]
    assert page.items[0].created_at == sent.created_at
    assert sent.to_wire()["position"] == sent.position


async def test_unknown_conversations_and_non_members_are_refused(env: Make) -> None:
    e: Env = await env()
    conversation = await group(e, "bob")
    await refused(ErrorCode.NOT_FOUND, e.svc.send(e.who(), uuid.uuid4(), content="hi"))
    error = await refused(ErrorCode.FORBIDDEN, e.svc.send(e.who("eve"), conversation, content="x"))
    assert "not a member" in error.message
    assert e.svc.stats.sent == 0 and e.events.items == []


async def test_oversize_content_names_the_limit(env: Make) -> None:
    e: Env = await env(max_content_bytes=100, max_metadata_bytes=50)
    conversation = await group(e)
    error = await refused(
        ErrorCode.PAYLOAD_TOO_LARGE, e.svc.send(e.who(), conversation, content="é" * 51)
    )
    assert error.message == "content: 102 bytes; the limit is 100 bytes"
    assert error.payload() == {"limit": 100}
    error = await refused(
        ErrorCode.PAYLOAD_TOO_LARGE,
        e.svc.send(e.who(), conversation, content="x", metadata={"k": "v" * 60}),
    )
    assert "metadata:" in error.message and "limit is 50 bytes" in error.message
    assert await e.svc.send(e.who(), conversation, content="é" * 50)


async def test_bad_messages_are_refused_naming_the_field(env: Make) -> None:
    e: Env = await env()
    conversation = await group(e)
    file_ref = {"url": "https://f/x.png", "name": "x.png", "size": 10, "mime": "image/png"}
    cases: list[tuple[dict[str, Any], str]] = [
        ({"kind": "video", "content": "x"}, "kind:"),
        ({"content": 12}, "content: must be a string"),
        ({"content": ""}, "content: a text message needs content"),
        ({"content": "a\x00b"}, "content: contains a NUL"),
        ({"content": "\ud800"}, "content: not valid Unicode"),
        ({"content": "x", "client_key": "\udfff"}, "client_key: not valid Unicode"),
        ({"content": "x", "metadata": {"a": "\ud800"}}, "metadata: not plain JSON"),
        ({"content": "x", "metadata": [1]}, "metadata: must be an object"),
        ({"content": "x", "metadata": {"s": {1, 2}}}, "metadata: not plain JSON"),
        ({"content": "x", "metadata": {"a": "\x00"}}, "metadata.a: contains a NUL"),
        ({"content": "x", "client_key": ""}, "client_key: must be a string of 1-256"),
        ({"content": "x", "client_key": "k" * 257}, "client_key"),
        ({"kind": "rich", "content": "plain"}, "content: a rich message needs a JSON object"),
        ({"kind": "rich", "content": "[1]"}, "a rich message needs a JSON object"),
        ({"kind": "file", "metadata": {**file_ref, "url": ""}}, "metadata.url"),
        ({"kind": "file", "metadata": {**file_ref, "name": 3}}, "metadata.name"),
        ({"kind": "file", "metadata": {**file_ref, "size": -1}}, "metadata.size"),
        ({"kind": "file", "metadata": {**file_ref, "size": True}}, "metadata.size"),
        ({"kind": "file", "metadata": {**file_ref, "mime": "png"}}, "metadata.mime"),
        ({"kind": "file", "metadata": {**file_ref, "mime": "image/"}}, "metadata.mime"),
    ]
    for options, message in cases:
        error = await refused(ErrorCode.BAD_PAYLOAD, e.svc.send(e.who(), conversation, **options))
        assert message in error.message, (options, error.message)
    assert e.svc.stats.sent == 0
    by_id = {k: v for k, v in file_ref.items() if k != "url"} | {"id": "f-1"}
    for options in (
        {"kind": "rich", "content": '{"card": {"title": "t"}}'},
        {"kind": "rich", "metadata": {"blocks": []}},
        {"kind": "file", "metadata": file_ref},
        {"kind": "file", "metadata": by_id, "content": "caption"},
    ):
        assert await e.svc.send(e.who(), conversation, **options)


async def test_system_and_bot_messages_need_their_roles(env: Make) -> None:
    e: Env = await env()
    conversation = await group(e, "helper", "root")
    error = await refused(
        ErrorCode.FORBIDDEN, e.svc.send(e.who(), conversation, kind="system", content="x")
    )
    assert "kind: 'system' needs one of the roles" in error.message
    await refused(ErrorCode.FORBIDDEN, e.svc.send(e.who(), conversation, kind="bot", content="x"))
    assert await e.svc.send(e.who("helper", "bot"), conversation, kind="bot", content="beep")
    admin = e.who("root", "instance_admin")
    assert await e.svc.send(admin, conversation, kind="system", content="renamed")


async def test_rate_limits_per_user_and_per_tenant_say_when_to_retry(env: Make) -> None:
    limiter = MemoryRateLimiter()
    e: Env = await env(limiter=limiter, user_limit=Limit(1, 2), tenant_limit=Limit(1, 3))
    conversation = await group(e, "bob")
    await e.svc.send(e.who(), conversation, content="1")
    await e.svc.send(e.who(), conversation, content="2")
    error = await refused(ErrorCode.RATE_LIMITED, e.svc.send(e.who(), conversation, content="3"))
    assert error.retryable and error.retry_after_ms is not None and error.retry_after_ms > 0
    assert error.payload()["scope"] == "user" and "retry after" in error.message
    await e.svc.send(e.who("bob"), conversation, content="4")
    error = await refused(
        ErrorCode.RATE_LIMITED, e.svc.send(e.who("bob"), conversation, content="5")
    )
    assert error.payload()["scope"] == "tenant"
    assert e.svc.stats.sent == 3


async def test_the_daily_quota_refuses_and_frees_the_client_key(env: Make, db: Database) -> None:
    quotas = Quotas(db, MemoryCounters(), message_batch=1)
    e: Env = await env(quotas=quotas)
    await set_quota(db, e.customer, "messages_per_day", 1)
    conversation = await group(e)
    await e.svc.send(e.who(), conversation, content="1")
    await refused(ErrorCode.QUOTA_EXCEEDED, e.svc.send(e.who(), conversation, content="no key"))
    error = await refused(
        ErrorCode.QUOTA_EXCEEDED, e.svc.send(e.who(), conversation, content="2", client_key="k")
    )
    assert error.payload() == {"quota": "messages_per_day", "limit": 1}
    assert "messages_per_day" in error.message
    await set_quota(db, e.customer, "messages_per_day", 5)
    quotas.invalidate()
    again = await e.svc.send(e.who(), conversation, content="2", client_key="k")
    assert not again.duplicate


async def test_counters_out_of_reach_leave_the_quota_unchecked(
    env: Make, db: Database, own_redis: Callable[..., RedisProcess]
) -> None:
    server = own_redis()
    counters = RedisCounters(server.url)
    e: Env = await env(quotas=Quotas(db, counters, message_batch=1))
    conversation = await group(e)
    server.stop()
    assert await e.svc.send(e.who(), conversation, content="still")
    assert e.svc.stats.quota_errors == 1
    await counters._redis.aclose()


# -- idempotency ------------------------------------------------------------------------------


async def test_a_repeated_client_key_returns_the_first_result(env: Make) -> None:
    e: Env = await env()
    conversation = await group(e, "bob")
    first = await e.svc.send(e.who(), conversation, content="once", client_key="k1")
    again = await e.svc.send(e.who(), conversation, content="other", client_key="k1")
    assert again.duplicate and (again.id, again.position) == (first.id, first.position)
    assert again.created_at == first.created_at
    assert e.svc.stats.duplicates == 1 and len(e.events.of("message")) == 1
    # Keys are per sender.
    bob = await e.svc.send(e.who("bob"), conversation, content="mine", client_key="k1")
    assert not bob.duplicate and bob.id != first.id
    other = await group(e)
    error = await refused(
        ErrorCode.CONFLICT, e.svc.send(e.who(), other, content="x", client_key="k1")
    )
    assert str(conversation) in error.message


async def test_the_first_result_survives_the_fast_store_forgetting(env: Make, db: Database) -> None:
    e: Env = await env()
    conversation = await group(e)
    first = await e.svc.send(e.who(), conversation, content="once", client_key="k")
    await e.persist(conversation, first.position)
    assert await e.key_row("alice", "k") == KeyResult(first.id, conversation, first.position)
    e.svc.keys = IdempotencyStore(MemoryKeyStore(), key_lookup(db))  # Redis lost its data
    again = await e.svc.send(e.who(), conversation, content="again", client_key="k")
    assert again.duplicate and again.id == first.id and again.position == first.position


async def test_concurrent_sends_with_one_key_append_once(env: Make) -> None:
    e: Env = await env()
    conversation = await group(e)
    results = await asyncio.gather(
        *(e.svc.send(e.who(), conversation, content="x", client_key="same") for _ in range(5))
    )
    assert len({r.id for r in results}) == 1
    assert sorted(r.duplicate for r in results) == [False, True, True, True, True]
    assert len(e.events.of("message")) == 1


async def test_a_key_in_flight_too_long_answers_unavailable(env: Make) -> None:
    e: Env = await env(busy_wait=0.05)
    conversation = await group(e)
    await e.svc.keys.claim(e.customer, "alice", "k", conversation, uuid.uuid4())
    error = await refused(
        ErrorCode.UNAVAILABLE, e.svc.send(e.who(), conversation, content="x", client_key="k")
    )
    assert error.retryable and "in progress" in error.message and error.retry_after_ms == 50


# -- the log ----------------------------------------------------------------------------------


async def test_a_log_outage_refuses_retryably_and_reports_nothing_sent(env: Make) -> None:
    e: Env = await env()
    conversation = await group(e)
    await e.log.close()
    error = await refused(
        ErrorCode.UNAVAILABLE, e.svc.send(e.who(), conversation, content="x", client_key="k")
    )
    assert error.retryable and error.retry_after_ms == 1000 and "not sent" in error.message
    assert e.svc.stats.sent == 0 and e.svc.stats.log_unavailable == 1
    assert e.events.items == []
    [intent] = (await e.svc.cache.read(conversation, 0)).pending  # unknown outcome: kept
    e.log = e.svc.log = EmbeddedLog(e.directory / "log0")
    await e.log.start()
    retried = await e.svc.send(e.who(), conversation, content="x", client_key="k")
    assert retried.id == intent.message_id  # the retry reuses the id
    assert not retried.duplicate


async def test_a_record_the_log_cannot_take_is_too_large(env: Make, tmp_path: Any) -> None:
    e: Env = await env()
    small = EmbeddedLog(tmp_path / "small", max_record_bytes=600)
    await small.start()
    e.svc.log = small
    conversation = await group(e)
    error = await refused(
        ErrorCode.PAYLOAD_TOO_LARGE,
        e.svc.send(e.who(), conversation, content="x" * 700, client_key="k"),
    )
    assert "the log refused the message" in error.message
    await small.close()


# -- best effort after the ACK ----------------------------------------------------------------


async def test_a_failing_hub_never_loses_the_ack(env: Make) -> None:
    e: Env = await env()
    conversation = await group(e, "bob")
    e.events.fail = True
    sent = await e.svc.send(e.who(), conversation, content="x")
    assert sent.position >= 0 and e.svc.stats.delivery_errors == 1
    assert await e.svc.add_members(e.who(), conversation, ["carol"]) == ["carol"]
    assert e.svc.stats.delivery_errors == 2


async def test_a_cache_outage_never_loses_the_ack_and_is_repaired_after(
    env: Make, own_redis: Callable[..., RedisProcess]
) -> None:
    server = own_redis()
    link = RedisLink(server.url, command_timeout=0.3, retry_interval=0.05)
    e: Env = await env(cache=RedisRecentCache(link))
    conversation = await group(e)
    server.stop()
    sent = await e.svc.send(e.who(), conversation, content="x")
    assert sent.position >= 0
    assert e.svc.stats.cache_errors == 2  # begin and add
    assert await e.svc.repair() == 1  # still down: the conversation waits
    await e.svc.create_conversation(e.who())  # opening its cache fails too, harmlessly
    server.start()
    await asyncio.sleep(0.1)
    assert await e.svc.repair() == 0
    assert e.svc.stats.unvouched == 1
    snapshot = await e.svc.cache.read(conversation, 0)
    assert snapshot.present and snapshot.floor is None  # vouches for nothing until fresh


async def test_repairs_beyond_the_bound_are_dropped_loudly(
    env: Make, own_redis: Callable[..., RedisProcess], caplog: pytest.LogCaptureFixture
) -> None:
    server = own_redis()
    link = RedisLink(server.url, command_timeout=0.3, retry_interval=0.05)
    e: Env = await env(cache=RedisRecentCache(link), max_repairs=0)
    conversation = await group(e)
    server.stop()
    await e.svc.send(e.who(), conversation, content="x")
    assert e.svc.stats.repairs_dropped == 1
    assert "wait for repair" in caplog.text


async def test_a_repair_waiting_is_done_by_the_next_send(
    env: Make, own_redis: Callable[..., RedisProcess]
) -> None:
    server = own_redis()
    link = RedisLink(server.url, command_timeout=0.3, retry_interval=0.05)
    e: Env = await env(cache=RedisRecentCache(link))
    conversation = await group(e)
    server.stop()
    await e.svc.send(e.who(), conversation, content="lost to the cache")
    server.start()
    await asyncio.sleep(0.1)
    second = await e.svc.send(e.who(), conversation, content="after")
    assert e.svc.stats.unvouched == 1
    snapshot = await e.svc.cache.read(conversation, 0)
    assert snapshot.floor == second.position  # the next fresh message vouches again


async def test_the_database_down_is_unavailable(env: Make, control_db: str) -> None:
    e: Env = await env()
    conversation = await group(e)
    broken = await Database.open(control_db, pool_size=2)
    e.svc.db = broken
    await broken.close()
    e.svc._access.clear()
    error = await refused(ErrorCode.UNAVAILABLE, e.svc.send(e.who(), conversation, content="x"))
    assert error.retryable and "database is unavailable" in error.message


async def test_an_unknown_customer_is_not_found(env: Make) -> None:
    e: Env = await env()
    stranger = uuid.uuid4()
    who = dataclasses.replace(e.who(), customer_id=stranger)
    error = await refused(ErrorCode.NOT_FOUND, e.svc.list_conversations(who))
    assert str(stranger) in error.message


async def test_without_a_deliverer_events_are_simply_not_sent(env: Make) -> None:
    e: Env = await env(deliverer=None)
    conversation = await group(e, "bob")
    assert await e.svc.send(e.who(), conversation, content="x")
    assert await e.svc.add_members(e.who(), conversation, ["carol"]) == ["carol"]
    assert e.events.items == [] and e.svc.stats.delivery_errors == 0
    assert e.svc.topic == TOPIC


async def test_the_membership_cache_is_bounded_and_stays_right(env: Make) -> None:
    e: Env = await env(membership_cache_size=1)
    first, second = await group(e, "bob"), await group(e)
    assert await e.svc.is_member(e.who("bob"), first)
    assert not await e.svc.is_member(e.who("bob"), second)
    assert len(e.svc._access) == 1
    assert await e.svc.is_member(e.who("bob"), first)


async def test_a_conversation_deleted_meanwhile_is_not_found(env: Make, db: Database) -> None:
    e: Env = await env()
    conversation = await group(e, "bob")
    assert await e.svc.get_conversation(e.who("bob"), conversation)
    async with db.tenant(e.customer) as conn:
        await conn.execute("DELETE FROM conversations WHERE id = $1", conversation)
    await refused(ErrorCode.NOT_FOUND, e.svc.get_conversation(e.who("bob"), conversation))


async def test_search_and_key_lookups_survive_a_database_outage(
    env: Make, control_db: str, caplog: pytest.LogCaptureFixture
) -> None:
    broken = await Database.open(control_db, pool_size=2)
    await broken.close()
    e: Env = await env(search=Search(broken))
    error = await refused(ErrorCode.UNAVAILABLE, e.svc.search(e.who(), "anything"))
    assert error.retryable
    assert await key_lookup(broken)(e.customer, "alice", "k") is None
    assert "client key not checked" in caplog.text
