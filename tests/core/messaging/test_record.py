"""The log record codec: round trips, validation, and random bytes never crash the decoder."""

from __future__ import annotations

import datetime
import os
import time
import uuid
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gb.core.messaging.ids import created_at_of
from gb.core.messaging.record import (
    KINDS,
    MAX_CLIENT_KEY,
    MAX_METADATA_DEPTH,
    BadRecord,
    MessageRecord,
    decode,
    encode,
)

MISSING = object()


def uuid7(ms: int | None = None) -> uuid.UUID:
    """A UUIDv7 with the Unix time ``ms`` (now by default) and random bits."""
    ms = int(time.time() * 1000) if ms is None else ms
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms << 80) | (0x7 << 76) | ((rand >> 62) & 0xFFF) << 64 | (0b10 << 62)
    return uuid.UUID(int=value | (rand & ((1 << 62) - 1)))


def record(**changes: Any) -> MessageRecord:
    fields: dict[str, Any] = {
        "id": uuid7(),
        "customer_id": uuid.uuid4(),
        "instance_id": uuid.uuid4(),
        "conversation_id": uuid.uuid4(),
        "sender": "alice",
        "kind": "text",
        "content": "hello",
    }
    fields.update(changes)
    return MessageRecord(**fields)


text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))
json_leaf = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | text
)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=12,
)
records = st.builds(
    MessageRecord,
    id=st.integers(0, 253_402_300_800_000 - 1).map(uuid7),
    customer_id=st.uuids(),
    instance_id=st.uuids(),
    conversation_id=st.uuids(),
    sender=text,
    kind=st.sampled_from(sorted(KINDS)),
    content=text,
    metadata=st.dictionaries(text, json_value, max_size=5),
    client_key=st.none() | text.filter(lambda s: 1 <= len(s) <= MAX_CLIENT_KEY),
    shard_key=st.integers(-(2**31), 2**31 - 1),
    lang=st.from_regex(r"[a-z_][a-z0-9_]{0,62}", fullmatch=True),
)


@given(records)
@settings(max_examples=200, deadline=None)
def test_round_trip(rec: MessageRecord) -> None:
    assert decode(encode(rec)) == rec
    assert rec.created_at.year <= 9999


@given(st.binary(max_size=300))
@settings(max_examples=300, deadline=None)
def test_random_bytes_are_a_bad_record_or_a_record(data: bytes) -> None:
    try:
        rec = decode(data)
    except BadRecord:
        return
    assert decode(encode(rec)) == rec  # pragma: no cover -- random bytes are never a record


@given(st.dictionaries(st.sampled_from(["v", "t", "id", "cu", "in", "cv", "s", "k", "c", "md",
                                        "ck", "sk", "lg", "x"]), json_value))  # fmt: skip
@settings(max_examples=300, deadline=None)
def test_random_objects_are_a_bad_record_or_a_record(obj: dict[str, Any]) -> None:
    base = orjson.loads(encode(record()))
    base.update(obj)
    try:
        rec = decode(orjson.dumps(base))
    except BadRecord as exc:
        assert str(exc)
        return
    assert decode(encode(rec)) == rec


def test_the_wire_format_is_the_contract() -> None:
    rec = record(metadata={"a": [1, 2.5, None]}, client_key="k1", shard_key=7, lang="english")
    assert orjson.loads(encode(rec)) == {
        "v": 1, "t": "m", "id": str(rec.id), "cu": str(rec.customer_id),
        "in": str(rec.instance_id), "cv": str(rec.conversation_id), "s": "alice", "k": "text",
        "c": "hello", "md": {"a": [1, 2.5, None]}, "ck": "k1", "sk": 7, "lg": "english",
    }  # fmt: skip
    assert rec.key == rec.conversation_id.bytes


def test_unknown_keys_are_ignored() -> None:
    rec = record()
    value = orjson.loads(encode(rec))
    value["later"] = 1
    assert decode(orjson.dumps(value)) == rec


def test_created_at_is_the_time_in_the_id() -> None:
    ms = 1_767_225_600_123  # 2026-01-01T00:00:00.123Z
    rec = record(id=uuid7(ms))
    expected = datetime.datetime(2026, 1, 1, 0, 0, 0, 123_000, tzinfo=datetime.UTC)
    assert rec.created_at == created_at_of(rec.id) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (b"{", "not JSON"),
        (b"[1]", "not a JSON object: list"),
        (b'{"v": 2, "t": "m"}', "v: unsupported record version 2"),
        (b'{"v": true, "t": "m"}', "v: unsupported record version True"),
        (b'{"v": 1.0, "t": "m"}', "v: unsupported record version 1.0"),
        (b'{"v": 1, "t": "s"}', "t: unknown record type 's'"),
    ],
)
def test_bad_envelopes(value: bytes, message: str) -> None:
    with pytest.raises(BadRecord, match=message):
        decode(value)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"id": MISSING}, "id: missing"),
        ({"cu": 5}, "cu: not a UUID string: 5"),
        ({"in": "nope"}, "in: not a UUID: 'nope'"),
        ({"cv": None}, "cv: not a UUID string: None"),
        ({"s": None}, "sender: not a string: NoneType"),
        ({"k": "video"}, "kind: 'video' is not one of bot, file, rich, system, text"),
        ({"c": "a\x00b"}, "content: contains a NUL character"),
        ({"md": []}, "metadata: not an object: list"),
        ({"md": {"a": {"b": "\x00"}}}, r"metadata.a.b: contains a NUL character"),
        ({"md": {"a\x00": 1}}, "metadata key: contains a NUL character"),
        ({"ck": ""}, "client_key: must be 1-256 characters"),
        ({"ck": "x" * 257}, "client_key: must be 1-256 characters"),
        ({"ck": 5}, "client_key: not a string: int"),
        ({"sk": 2**31}, "shard_key: not a 32-bit integer: 2147483648"),
        ({"sk": True}, "shard_key: not a 32-bit integer: True"),
        ({"sk": "1"}, "shard_key: not a 32-bit integer: '1'"),
        ({"lg": "English"}, "lang: not a text-search configuration name: 'English'"),
        ({"lg": 3}, "lang: not a text-search configuration name: 3"),
        ({"lg": None}, "lang: not a text-search configuration name: None"),
    ],
)
def test_bad_fields(changes: dict[str, Any], message: str) -> None:
    value = orjson.loads(encode(record()))
    for key, new in changes.items():
        if new is MISSING:
            del value[key]
        else:
            value[key] = new
    with pytest.raises(BadRecord, match=message):
        decode(orjson.dumps(value))


def test_the_id_must_be_a_uuid7_of_a_representable_time() -> None:
    value = orjson.loads(encode(record()))
    value["id"] = str(uuid.uuid4())
    with pytest.raises(BadRecord, match=r"id: .* is not a UUIDv7"):
        decode(orjson.dumps(value))
    last = record(id=uuid7(253_402_300_800_000 - 1))
    assert last.created_at.year == 9999
    with pytest.raises(BadRecord, match=r"id: .* carries a time after the year 9999"):
        record(id=uuid7(253_402_300_800_000))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"customer_id": "not"}, "customer_id: not a UUID: 'not'"),
        ({"metadata": {"n": float("nan")}}, "metadata.n: nan is not a JSON number"),
        ({"metadata": {"n": 2**64}}, "metadata.n: integer out of the 64-bit range"),
        ({"metadata": {"n": [b"x"]}}, r"metadata.n\[0\]: bytes is not a JSON value"),
        ({"metadata": {1: 2}}, "metadata: key 1 is not a string"),
    ],
)
def test_construction_validates(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(BadRecord, match=message):
        record(**changes)


def test_metadata_depth_is_bounded() -> None:
    deep: Any = 1
    for _ in range(MAX_METADATA_DEPTH - 1):
        deep = [deep]
    assert record(metadata={"d": deep}).metadata == {"d": deep}
    with pytest.raises(BadRecord, match="nested deeper than 32 levels"):
        record(metadata={"d": [deep]})


def test_text_that_is_not_unicode_cannot_be_encoded() -> None:
    rec = record(content="\ud800")
    with pytest.raises(BadRecord, match=f"cannot encode message {rec.id}"):
        encode(rec)


def test_the_cache_of_parsed_ids_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from gb.core.messaging import record as module

    monkeypatch.setattr(module, "_SEEN_MAX", 6)
    monkeypatch.setattr(module, "_SEEN", {})
    for _ in range(5):  # three ids per record are remembered: the cache is cleared, not grown
        rec = record()
        assert decode(encode(rec)) == rec
        assert len(module._SEEN) <= 6
    rec = record()
    again = decode(encode(rec))
    assert again.customer_id is decode(encode(rec)).customer_id  # the remembered object
