"""The messaging RPC methods through the node's RpcRegistry: params in, wire dicts out, and
every malformed param or service refusal as an RpcError with the right code and fields."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from gb.core.messaging.rpc import METHODS, register
from gb.core.messaging.search import Search
from gb.core.ratelimit import Limit, MemoryRateLimiter
from gb.core.rpc import RpcError, RpcRegistry
from gb.core.session import Session
from gb.protocol.codes import ErrorCode

from .test_service_support import Env, control_db, db, env

__all__ = ["control_db", "db", "env"]

Make = Callable[..., Any]


class Client:
    """Calls the registry as one user's session would."""

    def __init__(self, e: Env, user: str = "alice", *roles: str) -> None:
        self.rpc = RpcRegistry()
        register(self.rpc, e.svc)
        self.session = Session(
            id=uuid.uuid4().hex, identity=e.who(user, *roles), version=1, client="t", resumed=False
        )

    async def __call__(self, method: str, **params: Any) -> Any:
        return await self.rpc.call(self.session, {"method": method, "params": params})

    async def error(self, code: ErrorCode, method: str, **params: Any) -> RpcError:
        with pytest.raises(RpcError) as info:
            await self(method, **params)
        assert info.value.code == code, info.value.message
        return info.value


async def test_every_method_is_registered_once(env: Make) -> None:
    e: Env = await env()
    client = Client(e)
    assert set(METHODS) <= set(client.rpc.names())
    with pytest.raises(ValueError, match="already registered"):
        register(client.rpc, e.svc)


async def test_a_conversation_round_trip_over_rpc(env: Make) -> None:
    e: Env = await env(search=None)
    alice, bob = Client(e), Client(e, "bob")
    made = await alice("conv.create", title="T", members=["bob"])
    assert made["title"] == "T" and made["kind"] == "group"
    conversation = made["id"]
    assert [m["user"] for m in made["members"]] == ["alice", "bob"]
    direct = await alice("conv.create", kind="direct", members=["carol"])
    listed = await alice("conv.list", limit=1)
    assert [c["id"] for c in listed["items"]] == [direct["id"]]
    assert listed["next_cursor"] == direct["id"]
    assert [c["id"] for c in (await alice("conv.list"))["items"]] == [direct["id"], conversation]
    assert (await bob("conv.get", conversation_id=conversation))["id"] == conversation
    assert await alice("conv.members.add", conversation_id=conversation, users=["dave"]) == {
        "added": ["dave"]
    }
    removed = await alice("conv.members.remove", conversation_id=conversation, users=["dave"])
    assert removed == {"removed": ["dave"]}
    sent = await alice("msg.send", conversation_id=conversation, content="hi", client_key="k")
    assert sent["conversation_id"] == conversation and sent["duplicate"] is False
    again = await alice("msg.send", conversation_id=conversation, content="hi", client_key="k")
    assert again["id"] == sent["id"] and again["duplicate"] is True
    rich = await alice(
        "msg.send", conversation_id=conversation, kind="rich", metadata={"card": {"t": 1}}
    )
    page = await bob("msg.get", conversation_id=conversation, limit=1, direction="backward")
    assert [m["id"] for m in page["items"]] == [rich["id"]]
    assert page["items"][0]["metadata"] == {"card": {"t": 1}}
    older = await bob(
        "msg.get",
        conversation_id=conversation,
        cursor=page["next_cursor"],
        direction="backward",
        kinds=["text"],
        sender="alice",
        since="2000-01-01T00:00:00Z",
        until=(datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=1)).isoformat(),
        after_position=-1,
        before_position=10**9,
    )
    assert [m["id"] for m in older["items"]] == [sent["id"]]
    status = await bob(
        "msg.status", conversation_id=conversation, message_ids=[sent["id"]], status="read"
    )
    assert status["results"][0]["summary"] == {"delivered": 1, "read": 1, "members": 2}
    recovered = await bob("msg.recover", positions={conversation: -1})
    result = recovered["conversations"][conversation]
    assert result["complete"] is True
    assert [m["id"] for m in result["messages"]] == [sent["id"], rich["id"]]
    error = await bob.error(ErrorCode.UNAVAILABLE, "msg.search", query="hi")
    assert "search is not configured" in error.message


async def test_search_over_rpc(env: Make, db: Any) -> None:
    e: Env = await env(search=Search(db))
    alice = Client(e)
    conversation = (await alice("conv.create"))["id"]
    sent = await alice("msg.send", conversation_id=conversation, content="apples and pears")
    await e.persist(uuid.UUID(conversation), sent["position"])
    found = await alice(
        "msg.search",
        query="pears",
        conversation_id=conversation,
        sender="alice",
        since="2000-01-01T00:00:00+00:00",
        limit=5,
    )
    assert [hit["id"] for hit in found["hits"]] == [sent["id"]]
    assert "<b>pears</b>" in found["hits"][0]["highlight"] and found["next_cursor"] is None
    error = await alice.error(ErrorCode.BAD_PAYLOAD, "msg.search", query="x", limit=1000)
    assert "limit" in error.message


async def test_malformed_params_name_the_field(env: Make) -> None:
    e: Env = await env()
    alice = Client(e)
    conversation = (await alice("conv.create"))["id"]
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("conv.create", {"colour": "red"}, "colour: unknown parameter"),
        ("conv.create", {"title": 5}, "title: must be a string, not int"),
        ("conv.create", {"members": "bob"}, "members: must be a list of strings"),
        ("conv.create", {"members": [1]}, "members: must be a list of strings"),
        ("conv.list", {"limit": "5"}, "limit: must be an integer, not str"),
        ("conv.list", {"limit": True}, "limit: must be an integer, not a boolean"),
        ("conv.list", {"cursor": "nope"}, "cursor: not a valid id"),
        ("conv.get", {}, "conversation_id: required"),
        ("conv.get", {"conversation_id": 7}, "conversation_id: must be an id string, not int"),
        ("conv.get", {"conversation_id": "x"}, "conversation_id: not a valid id"),
        ("conv.members.add", {"conversation_id": conversation}, "users: required"),
        ("msg.send", {"conversation_id": conversation, "metadata": [1]}, "metadata: must be an"),
        ("msg.send", {"conversation_id": conversation, "content": {}}, "not an object"),
        ("msg.get", {"conversation_id": conversation, "since": "yesterday"}, "since: not an ISO"),
        (
            "msg.get",
            {"conversation_id": conversation, "until": "2024-01-01T00:00:00"},
            "until: needs a time zone",
        ),
        ("msg.get", {"conversation_id": conversation, "kinds": "text"}, "kinds: must be a list"),
        (
            "msg.status",
            {"conversation_id": conversation, "message_ids": ["x"], "status": "read"},
            "message_ids[0]: not a valid id",
        ),
        ("msg.status", {"conversation_id": conversation, "message_ids": []}, "status: required"),
        ("msg.recover", {}, "positions: required"),
        ("msg.recover", {"positions": [1]}, "positions: must be an object, not a list"),
        ("msg.recover", {"positions": {conversation: "3"}}, "must be an integer, not str"),
        ("msg.recover", {"positions": {"x": 3}}, "positions.x: not a valid id"),
        ("msg.search", {}, "query: required"),
    ]
    for method, params, message in cases:
        error = await alice.error(ErrorCode.BAD_PAYLOAD, method, **params)
        assert message in error.message, (method, params, error.message)


async def test_service_refusals_keep_their_code_and_fields(env: Make) -> None:
    e: Env = await env(
        limiter=MemoryRateLimiter(), user_limit=Limit(0.001, 1), max_content_bytes=10
    )
    alice = Client(e)
    conversation = (await alice("conv.create"))["id"]
    await alice.error(ErrorCode.NOT_FOUND, "conv.get", conversation_id=str(uuid.uuid4()))
    await Client(e, "eve").error(ErrorCode.FORBIDDEN, "conv.get", conversation_id=conversation)
    big = await alice.error(
        ErrorCode.PAYLOAD_TOO_LARGE, "msg.send", conversation_id=conversation, content="x" * 11
    )
    assert big.extra == {"limit": 10}
    await alice("msg.send", conversation_id=conversation, content="ok")
    limited = await alice.error(
        ErrorCode.RATE_LIMITED, "msg.send", conversation_id=conversation, content="again"
    )
    assert limited.extra["scope"] == "user" and limited.extra["retry_after_ms"] > 0
