"""Fuzzing the input checks and RPC param parsing (hypothesis): whatever a client sends is either
accepted in a form the log codec round-trips (so the persister never sees a poison record) or
refused with a MessagingError / RpcError naming the field. Nothing else escapes."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gb.core.messaging.errors import MessagingError
from gb.core.messaging.record import MessageRecord, decode, encode
from gb.core.messaging.rpc import Params
from gb.core.messaging.validate import (
    history_query,
    message_fields,
    parse_uuid,
    text,
    users,
)
from gb.core.rpc import RpcError
from gb.protocol.codes import ErrorCode

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
ODD = st.sampled_from([{1, 2}, b"bytes", object(), (1, 2), 3.5j, [[[]]]])
ANY = JSON | ODD
KIND = st.sampled_from(["text", "rich", "file", "system", "bot", "", "TEXT", 7, None])
ROLES = st.frozensets(st.sampled_from(["user", "bot", "instance_admin", "x"]), max_size=2)
MESSAGE_CODES = {ErrorCode.BAD_PAYLOAD, ErrorCode.PAYLOAD_TOO_LARGE, ErrorCode.FORBIDDEN}


@settings(max_examples=400, deadline=None)
@given(
    ROLES,
    KIND,
    st.one_of(st.text(max_size=80), ANY),
    st.one_of(st.none(), st.dictionaries(st.text(max_size=8), JSON, max_size=5), ANY),
    st.one_of(st.none(), st.text(max_size=300), ANY),
)
def test_messages_are_accepted_whole_or_refused_by_name(
    roles: frozenset[str], kind: Any, content: Any, metadata: Any, client_key: Any
) -> None:
    try:
        fields = message_fields(
            roles, kind, content, metadata, client_key,
            max_content_bytes=200, max_metadata_bytes=300,
        )  # fmt: skip
    except MessagingError as exc:
        assert exc.code in MESSAGE_CODES
        assert ": " in exc.message  # "<field>: <what is wrong>"
        return
    record = MessageRecord(
        id=uuid.UUID("01900000-0000-7000-8000-000000000001"),
        customer_id=uuid.uuid4(),
        instance_id=uuid.uuid4(),
        conversation_id=uuid.uuid4(),
        sender="alice",
        kind=kind,
        content=content,
        metadata=fields,
        client_key=client_key,
    )
    back = decode(encode(record))
    assert (back.kind, back.content, back.client_key) == (kind, content, client_key)


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(st.none(), st.text(max_size=5), ANY),
    st.one_of(st.none(), st.lists(st.sampled_from(["text", "rich", "gif", ""])), ANY),
    st.one_of(st.none(), st.datetimes(), st.datetimes(timezones=st.just(datetime.UTC)), ANY),
    st.one_of(st.none(), st.integers(min_value=-3, max_value=10), ANY),
    st.one_of(st.none(), st.text(max_size=25), st.from_regex(r"[fb][0-9]{1,25}"), ANY),
    st.one_of(st.integers(min_value=-1, max_value=300), ANY),
    st.sampled_from(["forward", "backward", "sideways", None]),
)
def test_history_queries_are_built_or_refused_by_name(
    sender: Any, kinds: Any, since: Any, after: Any, cursor: Any, page: Any, direction: Any
) -> None:
    try:
        query = history_query(sender, kinds, since, None, after, None, cursor, page, direction)
    except MessagingError as exc:
        assert exc.code == ErrorCode.BAD_PAYLOAD and ": " in exc.message
        return
    assert 1 <= query.limit <= 200
    assert query.descending == (direction == "backward")
    if cursor is not None and not query.descending:
        assert query.after is not None and query.after >= int(cursor[1:])


@given(ANY | st.text(max_size=300))
def test_names_and_ids_are_strings_or_refused(value: Any) -> None:
    for check in (
        lambda: text("title", value, 256),
        lambda: users("members", value, 3),
        lambda: parse_uuid("cursor", value),
    ):
        try:
            check()
        except MessagingError as exc:
            assert exc.code == ErrorCode.BAD_PAYLOAD


def test_the_cursor_takes_only_ascii_digits() -> None:
    for cursor in ("f\u00b2", "f" + "9" * 21, "f\u0661\u0662"):  # superscript, Arabic-Indic
        with pytest.raises(MessagingError, match="cursor: not a cursor"):
            history_query(None, None, None, None, None, None, cursor, 10, "forward")
    assert parse_uuid("x", str(uuid.UUID(int=5))) == uuid.UUID(int=5)


PARAMS = st.dictionaries(
    st.sampled_from(["conversation_id", "title", "limit", "users", "metadata", "since", "zz"]),
    ANY | st.uuids().map(str) | st.just("2024-01-01T00:00:00+00:00"),
    max_size=5,
)
ALLOWED = frozenset({"conversation_id", "title", "limit", "users", "metadata", "since"})


@settings(max_examples=300, deadline=None)
@given(PARAMS)
def test_rpc_params_are_typed_or_refused_by_name(params: dict[str, Any]) -> None:
    try:
        p = Params(params, ALLOWED)
        for read in (
            lambda: p.uuid("conversation_id", required=False),
            lambda: p.text("title"),
            lambda: p.integer("limit"),
            lambda: p.strings("users"),
            lambda: p.obj("metadata"),
            lambda: p.moment("since"),
        ):
            value = read()
            assert value is None or value is not params  # a typed value, never the raw dict
    except RpcError as exc:
        assert exc.code == ErrorCode.BAD_PAYLOAD and ": " in exc.message
