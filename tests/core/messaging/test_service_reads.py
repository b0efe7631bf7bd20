"""History reads (filters, both directions, cursors across the persisted/cached boundary) and
receipts (forward-only per recipient, summaries, events), on real PostgreSQL, log and persister."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from gb.core.messaging.cache import RedisLink, RedisRecentCache
from gb.core.messaging.errors import MessagingError
from gb.core.messaging.ids import new_message_id
from gb.core.messaging.model import Message, SendResult
from gb.protocol.codes import ErrorCode

from ...support.services import RedisProcess, own_redis
from .test_service_support import Env, control_db, db, env

__all__ = ["control_db", "db", "env", "own_redis"]

Make = Callable[..., Any]


async def refused(code: ErrorCode, call: Any) -> MessagingError:
    with pytest.raises(MessagingError) as info:
        await call
    assert info.value.code == code, info.value.message
    return info.value


async def history(e: Env) -> tuple[uuid.UUID, list[SendResult]]:
    """Ten messages, alternating senders, some rich; the first six persisted."""
    made = await e.svc.create_conversation(e.who(), members=["bob", "carol"])
    sent = []
    for i in range(10):
        who = e.who("alice" if i % 2 == 0 else "bob")
        if i % 3 == 0:
            sent.append(await e.svc.send(who, made.id, kind="rich", content=f'{{"n": {i}}}'))
        else:
            sent.append(await e.svc.send(who, made.id, content=f"m{i}"))
        if i == 5:
            await e.persist(made.id, sent[5].position)
    return made.id, sent


async def pages(e: Env, conversation: uuid.UUID, **options: Any) -> list[list[Message]]:
    out = []
    cursor = None
    while True:
        page = await e.svc.get_messages(e.who("carol"), conversation, cursor=cursor, **options)
        out.append(page.items)
        if page.next_cursor is None:
            return out
        cursor = page.next_cursor


async def test_paging_forward_and_backward_crosses_the_persisted_boundary(env: Make) -> None:
    e: Env = await env()
    conversation, sent = await history(e)
    w = await e.watermark(conversation)
    assert sent[5].position < w <= sent[6].position  # six persisted, four only in the cache
    forward = await pages(e, conversation, limit=3)
    assert [len(p) for p in forward] == [3, 3, 3, 1]
    assert [m.id for p in forward for m in p] == [s.id for s in sent]
    backward = await pages(e, conversation, limit=4, direction="backward")
    assert [m.id for p in backward for m in p] == [s.id for s in reversed(sent)]
    exact = await e.svc.get_messages(e.who(), conversation, limit=10)
    assert len(exact.items) == 10 and exact.next_cursor is None


async def test_filters_by_sender_kind_time_and_position(env: Make) -> None:
    e: Env = await env()
    conversation, sent = await history(e)
    by_bob = await e.svc.get_messages(e.who(), conversation, sender="bob")
    assert [m.id for m in by_bob.items] == [s.id for s in sent[1::2]]
    rich = await e.svc.get_messages(e.who(), conversation, kinds=["rich"], direction="backward")
    assert [m.id for m in rich.items] == [sent[i].id for i in (9, 6, 3, 0)]
    both = await e.svc.get_messages(e.who(), conversation, kinds=["rich", "text"], sender="alice")
    assert [m.id for m in both.items] == [s.id for s in sent[::2]]
    window = await e.svc.get_messages(
        e.who(), conversation, since=sent[4].created_at, until=sent[8].created_at
    )
    inside = [s.id for s in sent if sent[4].created_at <= s.created_at < sent[8].created_at]
    assert [m.id for m in window.items] == inside and sent[4].id in inside
    between = await e.svc.get_messages(
        e.who(), conversation, after_position=sent[2].position, before_position=sent[8].position
    )
    assert [m.id for m in between.items] == [s.id for s in sent[3:8]]
    late = await e.svc.get_messages(e.who(), conversation, after_position=sent[7].position, limit=1)
    assert [m.id for m in late.items] == [sent[8].id] and late.next_cursor is not None
    tail = await e.svc.get_messages(
        e.who(), conversation, after_position=0, cursor=late.next_cursor
    )
    assert [m.id for m in tail.items] == [sent[9].id]
    head = await e.svc.get_messages(
        e.who(), conversation, direction="backward", before_position=sent[9].position,
        cursor=f"b{sent[2].position}",
    )  # fmt: skip
    assert [m.id for m in head.items] == [sent[1].id, sent[0].id]


async def test_bad_history_queries_name_the_parameter(env: Make) -> None:
    e: Env = await env()
    conversation = (await e.svc.create_conversation(e.who())).id
    cases: list[tuple[dict[str, Any], str]] = [
        ({"limit": 0}, "limit: must be an integer in 1..200"),
        ({"limit": 201}, "limit"),
        ({"limit": True}, "limit"),
        ({"direction": "up"}, "direction: must be 'forward' or 'backward'"),
        ({"kinds": "text"}, "kinds: must be a non-empty list"),
        ({"kinds": []}, "kinds: must be a non-empty list"),
        ({"kinds": ["text", "gif"]}, "kinds: unknown kinds ['gif']"),
        ({"sender": ""}, "sender: must be a string"),
        ({"since": datetime.datetime(2024, 1, 1)}, "since: must be a timezone-aware"),
        ({"until": "2024-01-01"}, "until: must be a timezone-aware"),
        ({"after_position": -2}, "after_position: must be an integer >= -1"),
        ({"before_position": "3"}, "before_position"),
        ({"cursor": "x"}, "cursor: not a cursor of a forward page"),
        ({"cursor": "b12"}, "cursor: not a cursor of a forward page"),
        ({"cursor": "f"}, "cursor"),
        ({"cursor": "f-1"}, "cursor"),
        ({"cursor": "f3", "direction": "backward"}, "cursor: not a cursor of a backward page"),
        ({"cursor": 7}, "cursor"),
    ]
    for options, message in cases:
        error = await refused(
            ErrorCode.BAD_PAYLOAD, e.svc.get_messages(e.who(), conversation, **options)
        )
        assert message in error.message, (options, error.message)
    await refused(ErrorCode.FORBIDDEN, e.svc.get_messages(e.who("eve"), conversation))
    await refused(ErrorCode.NOT_FOUND, e.svc.get_messages(e.who(), uuid.uuid4()))


async def test_reads_fall_back_to_postgresql_when_the_cache_is_down(
    env: Make, own_redis: Callable[..., RedisProcess]
) -> None:
    server = own_redis()
    e: Env = await env(cache=RedisRecentCache(RedisLink(server.url, command_timeout=0.3)))
    conversation = (await e.svc.create_conversation(e.who())).id
    first = await e.svc.send(e.who(), conversation, content="persisted")
    await e.persist(conversation, first.position)
    await e.svc.send(e.who(), conversation, content="only cached")
    assert len((await e.svc.get_messages(e.who(), conversation)).items) == 2
    server.stop()
    page = await e.svc.get_messages(e.who(), conversation)
    assert [m.id for m in page.items] == [first.id]
    assert e.svc.stats.cache_errors >= 1


# -- receipts ---------------------------------------------------------------------------------


async def test_receipts_move_forward_per_recipient_with_summaries_and_events(env: Make) -> None:
    e: Env = await env()
    conversation = (await e.svc.create_conversation(e.who(), members=["bob", "carol"])).id
    first = await e.svc.send(e.who(), conversation, content="one")
    await e.persist(conversation, first.position)
    second = await e.svc.send(e.who(), conversation, content="two")  # only in the cache
    bob, carol = e.who("bob"), e.who("carol")
    [result] = await e.svc.update_status(bob, conversation, [first.id], "delivered")
    assert (result.message_id, result.status, result.changed) == (first.id, "delivered", True)
    assert result.summary.to_wire() == {"delivered": 1, "read": 0, "members": 3}
    results = await e.svc.update_status(carol, conversation, [first.id, second.id], "read")
    assert [r.summary.to_wire() for r in results] == [
        {"delivered": 2, "read": 1, "members": 3},
        {"delivered": 1, "read": 1, "members": 3},
    ]
    [same] = await e.svc.update_status(carol, conversation, [second.id, second.id], "read")
    assert not same.changed and same.to_wire()["changed"] is False
    [up] = await e.svc.update_status(bob, conversation, [first.id], "read")
    assert up.changed and up.summary.read == 2
    error = await refused(
        ErrorCode.CONFLICT, e.svc.update_status(bob, conversation, [first.id], "delivered")
    )
    assert f"message {first.id} is already read" in error.message
    events = e.events.of("status")
    assert [(ev["user"], ev["status"], ev["message_id"]) for ev in events] == [
        ("bob", "delivered", str(first.id)),
        ("carol", "read", str(first.id)),
        ("carol", "read", str(second.id)),
        ("bob", "read", str(first.id)),
    ]
    assert events[-1]["summary"] == {"delivered": 2, "read": 2, "members": 3}
    assert events[-1]["conversation_id"] == str(conversation)


async def test_bad_receipts_are_refused(env: Make) -> None:
    e: Env = await env()
    conversation = (await e.svc.create_conversation(e.who(), members=["bob"])).id
    other = (await e.svc.create_conversation(e.who(), members=["bob"])).id
    mine = await e.svc.send(e.who(), conversation, content="mine")
    elsewhere = await e.svc.send(e.who(), other, content="elsewhere")
    bob = e.who("bob")
    error = await refused(
        ErrorCode.FORBIDDEN, e.svc.update_status(e.who(), conversation, [mine.id], "read")
    )
    assert "caller's own" in error.message
    for ids in ([new_message_id()], [uuid.uuid4()], [elsewhere.id]):
        error = await refused(
            ErrorCode.NOT_FOUND, e.svc.update_status(bob, conversation, ids, "read")
        )
        assert str(ids[0]) in error.message
    error = await refused(
        ErrorCode.BAD_PAYLOAD, e.svc.update_status(bob, conversation, [mine.id], "seen")
    )
    assert "status: 'seen' is not one of delivered, read" in error.message
    await refused(ErrorCode.BAD_PAYLOAD, e.svc.update_status(bob, conversation, [], "read"))
    many = [new_message_id() for _ in range(501)]
    await refused(ErrorCode.BAD_PAYLOAD, e.svc.update_status(bob, conversation, many, "read"))
    await refused(
        ErrorCode.FORBIDDEN, e.svc.update_status(e.who("eve"), conversation, [mine.id], "read")
    )


async def test_receipts_of_unpersisted_messages_need_the_cache(
    env: Make, own_redis: Callable[..., RedisProcess]
) -> None:
    server = own_redis()
    e: Env = await env(cache=RedisRecentCache(RedisLink(server.url, command_timeout=0.3)))
    conversation = (await e.svc.create_conversation(e.who(), members=["bob"])).id
    sent = await e.svc.send(e.who(), conversation, content="x")
    server.stop()
    await refused(
        ErrorCode.NOT_FOUND, e.svc.update_status(e.who("bob"), conversation, [sent.id], "read")
    )
    await e.persist(conversation, sent.position)
    [result] = await e.svc.update_status(e.who("bob"), conversation, [sent.id], "read")
    assert result.changed
