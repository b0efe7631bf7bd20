"""HELLO/WELCOME against a real node: tokens, versions, resume, refusals with codes."""

import asyncio

import jwt
import pytest

from gb.client import ConnectionClosed, GbError, connect
from gb.protocol.codec import encode, encode_json
from gb.protocol.codes import CloseCode, ErrorCode, FrameType

from ..conftest import SECRET
from ..support.raw import raw_connect


async def test_welcome_carries_the_session(node):
    client = await connect(node.ws_url, node.token(user="alice", roles=("user", "bot"), shard=7))
    w = client.welcome
    assert w["version"] == 1 and w["user"] == "alice" and w["customer"] == "c1"
    assert w["instance"] == "i1" and w["roles"] == ["bot", "user"] and w["shard_key"] == 7
    assert w["node"] == "test-node" and w["heartbeat_ms"] == 25000 and w["resumed"] is False
    assert w["max_payload"] == node.settings.max_payload and w["session"] and w["resume_token"]
    who = await client.rpc("whoami")
    assert who["session"] == w["session"] and who["shard_key"] == 7
    await client.close()


@pytest.mark.parametrize(
    "claims,code",
    [
        ({"exp": 1}, ErrorCode.TOKEN_EXPIRED),
        ({"aud": "someone-else"}, ErrorCode.TOKEN_INVALID),
    ],
)
async def test_bad_tokens_are_refused_with_a_code_and_close(node, claims, code):
    base = {"sub": "u", "cus": "c", "ins": "i", "roles": [], "aud": "gb", "exp": 2_000_000_000}
    token = jwt.encode({**base, **claims}, SECRET, algorithm="HS256")
    with pytest.raises(GbError) as info:
        await connect(node.ws_url, token)
    assert info.value.code == code


async def test_alg_none_is_refused(node):
    token = jwt.encode(
        {"sub": "u", "cus": "c", "ins": "i", "aud": "gb", "exp": 2_000_000_000},
        None,
        algorithm="none",
    )
    with pytest.raises(GbError) as info:
        await connect(node.ws_url, token)
    assert info.value.code == ErrorCode.TOKEN_INVALID


async def test_no_common_version_closes_with_4009(node):
    with pytest.raises(GbError) as info:
        await connect(node.ws_url, node.token(), versions=(7, 8))
    assert info.value.code == ErrorCode.UNSUPPORTED_VERSION


async def test_second_hello_is_an_error_but_the_session_stays(node):
    client = await connect(node.ws_url, node.token())
    client.send_raw(encode_json(FrameType.HELLO, {"token": node.token()}, request_id=3))
    err = await asyncio.wait_for(client.errors.get(), 5)
    assert err.code == ErrorCode.ALREADY_AUTHENTICATED
    assert await client.rpc("echo", {"still": "here"}) == {"still": "here"}
    await client.close()


async def test_hello_that_is_not_json_closes_with_auth_failed(node):
    peer = await raw_connect(node.ws_url)
    peer.send(encode(FrameType.HELLO, b"{not json", flags=1))
    assert (await peer.next_of(FrameType.ERROR)).json()["code"] == ErrorCode.BAD_PAYLOAD
    assert await peer.close_code() == CloseCode.AUTH_FAILED


async def test_hello_that_is_not_an_object_closes_with_auth_failed(node):
    peer = await raw_connect(node.ws_url)
    peer.send(encode_json(FrameType.HELLO, ["token"]))
    assert await peer.close_code() == CloseCode.AUTH_FAILED


async def test_frames_before_hello_are_refused(node):
    peer = await raw_connect(node.ws_url)
    peer.send(encode_json(FrameType.SUBSCRIBE, {"channel": "x"}, request_id=4))
    err = await peer.next_of(FrameType.ERROR)
    assert err.request_id == 4 and err.json()["code"] == ErrorCode.NOT_AUTHENTICATED
    peer.send(encode(FrameType.PING, b"p"))  # PING is answered even before HELLO
    assert (await peer.next_of(FrameType.PONG)).payload == b"p"


async def test_hello_timeout_closes_with_4002(node_factory):
    node = await node_factory(hello_timeout=0.2)
    peer = await raw_connect(node.ws_url)
    assert await peer.close_code() == CloseCode.AUTH_TIMEOUT


async def test_resume_keeps_the_session_id_and_displaces_the_old_connection(node):
    first = await connect(node.ws_url, node.token(user="alice"))
    session, token = first.welcome["session"], first.welcome["resume_token"]
    second = await connect(node.ws_url, node.token(user="alice"), resume=token)
    assert second.welcome["session"] == session and second.welcome["resumed"] is True
    code, _ = await asyncio.wait_for(first.closed, 5)
    assert code == CloseCode.NORMAL
    # Another user cannot take the session over with the same token.
    third = await connect(node.ws_url, node.token(user="mallory"), resume=token)
    assert third.welcome["session"] != session and third.welcome["resumed"] is False
    await second.close()
    await third.close()


async def test_token_expiry_closes_the_session_with_4007(node):
    client = await connect(node.ws_url, node.token(ttl=1.2))
    code, _ = await asyncio.wait_for(client.closed, 5)
    assert code == CloseCode.TOKEN_EXPIRED
    with pytest.raises(ConnectionClosed):
        await client.rpc("echo")
