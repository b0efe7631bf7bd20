"""The message record on the log: what a node appends and the persister writes to PostgreSQL.

The value is orjson of a version-1 dict (short keys: the log keeps every message)::

    {"v": 1, "t": "m", "id": <uuid>, "cu": <customer uuid>, "in": <instance uuid>,
     "cv": <conversation uuid>, "s": <sender>, "k": <kind>, "c": <content>, "md": {...},
     "ck": <client key> | null, "sk": <shard key>, "lg": <text-search config name>}

The record key is ``conversation_id.bytes`` (one conversation, one partition, in order). There
is no timestamp field: ``created_at`` is the millisecond time inside the UUIDv7 ``id``, so every
copy of a message (log, cache, database) agrees on it and the database's partition key follows
from the id (``ON CONFLICT (id, created_at)`` is then idempotent on the id alone).

A :class:`MessageRecord` is valid by construction: everything PostgreSQL would refuse (a NUL
character in text or JSON, an unknown kind, a shard key out of ``integer`` range, metadata that
is not plain JSON) is refused here with :class:`BadRecord`, so a record the log accepted can
never stall the persister; a record that is not even a valid value (written by something else,
or damaged) is a :class:`BadRecord` from :func:`decode`, which the persister counts and skips.
Keys unknown to version 1 are ignored; an incompatible change gets a new ``v``.
"""

from __future__ import annotations

import datetime
import functools
import math
import re
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import orjson

from .ids import created_at_of

__all__ = [
    "KINDS",
    "VERSION",
    "BadRecord",
    "MessageRecord",
    "decode",
    "encode",
]

VERSION = 1
KINDS = frozenset({"text", "rich", "file", "system", "bot"})
"""Message kinds (the ``messages.kind`` CHECK constraint)."""

MAX_METADATA_DEPTH = 32
"""Nesting levels of ``metadata`` accepted (PostgreSQL's jsonb and orjson have limits)."""
MAX_CLIENT_KEY = 256
"""Characters of a client idempotency key."""

_INT32 = (-(2**31), 2**31 - 1)
_JSON_INT = (-(2**63), 2**64 - 1)  # what orjson writes as an integer
_LANG = re.compile(r"[a-z_][a-z0-9_]{0,62}")  # an unqualified text-search configuration name
_MAX_MS = 253_402_300_800_000  # 10000-01-01T00:00:00Z: beyond what datetime can hold


class BadRecord(ValueError):  # noqa: N818 -- the contract's name
    """Not a valid message record; the message names the field and what is wrong with it."""


@dataclass(frozen=True, slots=True)
class MessageRecord:
    """One message as the log carries it; validated on construction (raises BadRecord)."""

    id: UUID
    customer_id: UUID
    instance_id: UUID
    conversation_id: UUID
    sender: str
    kind: str
    content: str
    metadata: dict[str, Any] = field(default_factory=dict)
    client_key: str | None = None
    shard_key: int = 0
    lang: str = "simple"

    def __post_init__(self) -> None:
        for name in ("id", "customer_id", "instance_id", "conversation_id"):
            if not isinstance(getattr(self, name), UUID):
                raise BadRecord(f"{name}: not a UUID: {getattr(self, name)!r:.60}")
        bits = self.id.int
        if (bits >> 76) & 0xF != 7 or (bits >> 62) & 0x3 != 0b10:  # version 7, RFC variant
            raise BadRecord(f"id: {self.id} is not a UUIDv7 (it carries the creation time)")
        if bits >> 80 >= _MAX_MS:
            raise BadRecord(f"id: {self.id} carries a time after the year 9999")
        _text("sender", self.sender)
        _text("content", self.content)
        if not isinstance(self.kind, str) or self.kind not in KINDS:
            raise BadRecord(f"kind: {self.kind!r:.40} is not one of {', '.join(sorted(KINDS))}")
        if self.client_key is not None:
            _text("client_key", self.client_key)
            if not 1 <= len(self.client_key) <= MAX_CLIENT_KEY:
                raise BadRecord(f"client_key: must be 1-{MAX_CLIENT_KEY} characters")
        if type(self.shard_key) is not int or not _INT32[0] <= self.shard_key <= _INT32[1]:
            raise BadRecord(f"shard_key: not a 32-bit integer: {self.shard_key!r:.40}")
        if not isinstance(self.lang, str) or not _lang_ok(self.lang):
            raise BadRecord(f"lang: not a text-search configuration name: {self.lang!r:.70}")
        if not isinstance(self.metadata, dict):
            raise BadRecord(f"metadata: not an object: {type(self.metadata).__name__}")
        if self.metadata:
            _json("metadata", self.metadata, 0)

    @property
    def created_at(self) -> datetime.datetime:
        """The creation time (from the id): ``messages.created_at``."""
        return created_at_of(self.id)

    @property
    def key(self) -> bytes:
        """The log record key: the conversation (its 16 bytes)."""
        return self.conversation_id.bytes


@functools.lru_cache(maxsize=256)
def _lang_ok(name: str) -> bool:
    return _LANG.fullmatch(name) is not None


def _text(name: str, value: object) -> None:
    if not isinstance(value, str):
        raise BadRecord(f"{name}: not a string: {type(value).__name__}")
    if "\x00" in value:
        raise BadRecord(f"{name}: contains a NUL character")


def _json(path: str, value: object, depth: int) -> None:
    """BadRecord unless ``value`` is plain JSON that PostgreSQL's jsonb takes as it is."""
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, str):
        _text(path, value)
    elif isinstance(value, int):
        if not _JSON_INT[0] <= value <= _JSON_INT[1]:
            raise BadRecord(f"{path}: integer out of the 64-bit range")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise BadRecord(f"{path}: {value} is not a JSON number")
    elif isinstance(value, dict | list):
        if depth >= MAX_METADATA_DEPTH:
            raise BadRecord(f"{path}: nested deeper than {MAX_METADATA_DEPTH} levels")
        if isinstance(value, list):
            for i, item in enumerate(value):
                _json(f"{path}[{i}]", item, depth + 1)
        else:
            for k, item in value.items():
                if not isinstance(k, str):
                    raise BadRecord(f"{path}: key {k!r:.40} is not a string")
                _text(f"{path} key", k)
                _json(f"{path}.{k:.40}", item, depth + 1)
    else:
        raise BadRecord(f"{path}: {type(value).__name__} is not a JSON value")


def encode(record: MessageRecord) -> bytes:
    """The log value of ``record``; BadRecord for text that is not valid Unicode (surrogates)."""
    try:
        return orjson.dumps(
            {
                "v": VERSION,
                "t": "m",
                "id": str(record.id),
                "cu": str(record.customer_id),
                "in": str(record.instance_id),
                "cv": str(record.conversation_id),
                "s": record.sender,
                "k": record.kind,
                "c": record.content,
                "md": record.metadata,
                "ck": record.client_key,
                "sk": record.shard_key,
                "lg": record.lang,
            }
        )
    except orjson.JSONEncodeError as exc:
        raise BadRecord(f"cannot encode message {record.id}: {exc}") from None


def decode(value: bytes) -> MessageRecord:
    """The record in a log value; BadRecord naming what is wrong with it."""
    try:
        data = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise BadRecord(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BadRecord(f"not a JSON object: {type(data).__name__}")
    version = data.get("v")
    if version != VERSION or type(version) is not int:
        raise BadRecord(f"v: unsupported record version {version!r:.40} (this reads {VERSION})")
    if data.get("t") != "m":
        raise BadRecord(f"t: unknown record type {data.get('t')!r:.40}")
    try:
        ids = data["id"], data["cu"], data["in"], data["cv"]
        sender, kind, content, metadata = data["s"], data["k"], data["c"], data["md"]
        shard_key, lang = data["sk"], data["lg"]
    except KeyError as exc:
        raise BadRecord(f"{exc.args[0]}: missing") from None
    return MessageRecord(
        id=_uuid("id", ids[0], None),
        customer_id=_uuid("cu", ids[1], _SEEN),
        instance_id=_uuid("in", ids[2], _SEEN),
        conversation_id=_uuid("cv", ids[3], _SEEN),
        sender=sender,
        kind=kind,
        content=content,
        metadata=metadata,
        client_key=data.get("ck"),
        shard_key=shard_key,
        lang=lang,
    )


# Customers, instances and conversations recur from record to record: parsed once (bounded).
_SEEN: dict[str, UUID] = {}
_SEEN_MAX = 1 << 16


def _uuid(key: str, value: object, seen: dict[str, UUID] | None) -> UUID:
    if not isinstance(value, str):
        raise BadRecord(f"{key}: not a UUID string: {value!r:.60}")
    if seen is not None and (known := seen.get(value)) is not None:
        return known
    try:
        parsed = UUID(value)
    except ValueError:
        raise BadRecord(f"{key}: not a UUID: {value!r:.60}") from None
    if seen is not None:
        if len(seen) >= _SEEN_MAX:
            seen.clear()
        seen[value] = parsed
    return parsed
