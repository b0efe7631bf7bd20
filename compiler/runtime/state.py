"""The saved form of a dialog: self-describing, versioned, no pickle.

Layout::

    b"GBVM" | u16 version | 32-byte SHA-256 of the program's wasm
    section "meta"   : JSON — state, breakpoints, step mode, time and fuel spent, the error
    section "memory" : zlib of linear memory up to the top of the BASIC stack
    section "heap"   : the host heap in the tagged value format below

Each section is ``u32 length`` + bytes. Values are tagged: ``N`` null, ``T``/``F``,
``D`` + f64, ``S`` + text, ``d`` + ISO date, ``t`` + ISO date-time, ``R`` + object number.
Lists and maps are objects: all of them are declared first (``L``/``M`` per object) and then
filled, so sharing and cycles survive (two handles to one list are one list again).
"""

from __future__ import annotations

import datetime as dt
import json
import struct
import zlib
from collections.abc import Iterable
from typing import Any

from .errors import StateError
from .semantics import is_number

MAGIC = b"GBVM"
VERSION = 1
_HEADER = struct.Struct("<4sH32s")
_U32 = struct.Struct("<I")
_F64 = struct.Struct("<d")


def pack(digest: bytes, meta: dict[str, Any], memory: bytes, heap: bytes) -> bytes:
    """Assemble a saved state."""
    out = bytearray(_HEADER.pack(MAGIC, VERSION, digest))
    for section in (json.dumps(meta).encode(), zlib.compress(memory, 1), heap):
        out += _U32.pack(len(section)) + section
    return bytes(out)


def unpack(data: bytes, digest: bytes) -> tuple[dict[str, Any], bytes, bytes]:
    """Split a saved state into (meta, memory, heap); StateError when it is not a state of
    the program with ``digest``."""
    if len(data) < _HEADER.size:
        raise StateError("not a saved dialog: too short")
    magic, version, saved_digest = _HEADER.unpack_from(data, 0)
    if magic != MAGIC:
        raise StateError("not a saved dialog (bad magic)")
    if version != VERSION:
        raise StateError(f"saved dialog format {version} is not supported (this is {VERSION})")
    if saved_digest != digest:
        raise StateError("the saved dialog belongs to another program (its code differs)")
    sections: list[bytes] = []
    at = _HEADER.size
    for _ in range(3):
        if at + 4 > len(data):
            raise StateError("saved dialog is truncated")
        (size,) = _U32.unpack_from(data, at)
        at += 4
        if at + size > len(data):
            raise StateError("saved dialog is truncated")
        sections.append(data[at : at + size])
        at += size
    if at != len(data):
        raise StateError("saved dialog has trailing bytes")
    try:
        meta = json.loads(sections[0])
        memory = zlib.decompress(sections[1])
    except (ValueError, zlib.error) as exc:
        raise StateError(f"saved dialog is corrupt: {exc}") from None
    if not isinstance(meta, dict):
        raise StateError("saved dialog is corrupt: bad meta section")
    return meta, memory, sections[2]


# ---- values ---------------------------------------------------------------------------------


def _varint(n: int, out: bytearray) -> None:
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


class _Writer:
    def __init__(self) -> None:
        self.objects: list[list[Any] | dict[str, Any]] = []
        self.numbers: dict[int, int] = {}

    def ref(self, container: list[Any] | dict[str, Any]) -> int:
        number = self.numbers.get(id(container))
        if number is None:
            number = self.numbers[id(container)] = len(self.objects)
            self.objects.append(container)
        return number

    def text(self, s: str, out: bytearray) -> None:
        data = s.encode("utf-8", "surrogatepass")
        _varint(len(data), out)
        out += data

    def value(self, v: Any, out: bytearray) -> None:
        if v is None:
            out += b"N"
        elif v is True:
            out += b"T"
        elif v is False:
            out += b"F"
        elif is_number(v):
            out += b"D" + _F64.pack(float(v))
        elif isinstance(v, str):
            out += b"S"
            self.text(v, out)
        elif isinstance(v, dt.datetime):
            out += b"t"
            self.text(v.isoformat(), out)
        elif isinstance(v, dt.date):
            out += b"d"
            self.text(v.isoformat(), out)
        elif isinstance(v, list | tuple | dict):
            out += b"R"
            _varint(self.ref(v), out)  # type: ignore[arg-type]
        else:
            raise StateError(f"cannot save a dialog holding a {type(v).__name__}")


def encode_heap(entries: Iterable[tuple[int, Any]]) -> bytes:
    """The (handle, value) pairs of a heap in the tagged format."""
    writer = _Writer()
    body = bytearray()
    entries = list(entries)
    _varint(len(entries), body)
    for handle, value in entries:
        _varint(handle, body)
        writer.value(value, body)
    contents = bytearray()
    i = 0
    while i < len(writer.objects):  # objects found while writing others are appended
        obj = writer.objects[i]
        _varint(len(obj), contents)
        if isinstance(obj, dict):
            for key, item in obj.items():
                writer.text(str(key), contents)
                writer.value(item, contents)
        else:
            for item in obj:
                writer.value(item, contents)
        i += 1
    kinds = bytes(b"M"[0] if isinstance(o, dict) else b"L"[0] for o in writer.objects)
    head = bytearray()
    _varint(len(kinds), head)
    return bytes(head + kinds + contents + body)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0
        self.objects: list[Any] = []

    def byte(self) -> int:
        if self.at >= len(self.data):
            raise StateError("saved heap is truncated")
        b = self.data[self.at]
        self.at += 1
        return b

    def varint(self) -> int:
        n = shift = 0
        while True:
            b = self.byte()
            n |= (b & 0x7F) << shift
            if b < 0x80:
                return n
            shift += 7

    def raw(self, size: int) -> bytes:
        if self.at + size > len(self.data):
            raise StateError("saved heap is truncated")
        chunk = self.data[self.at : self.at + size]
        self.at += size
        return chunk

    def text(self) -> str:
        try:
            return self.raw(self.varint()).decode("utf-8", "surrogatepass")
        except UnicodeDecodeError as exc:
            raise StateError(f"saved heap is corrupt: {exc}") from None

    def value(self) -> Any:
        tag = self.byte()
        if tag == 0x4E:  # N
            return None
        if tag == 0x54:  # T
            return True
        if tag == 0x46:  # F
            return False
        if tag == 0x44:  # D
            return _F64.unpack(self.raw(8))[0]
        if tag == 0x53:  # S
            return self.text()
        if tag in (0x74, 0x64):  # t, d
            text = self.text()
            try:
                return (
                    dt.datetime.fromisoformat(text) if tag == 0x74 else dt.date.fromisoformat(text)
                )
            except ValueError:
                raise StateError(f"saved heap is corrupt: bad date {text!r}") from None
        if tag == 0x52:  # R
            number = self.varint()
            if number >= len(self.objects):
                raise StateError("saved heap is corrupt: reference to a missing object")
            return self.objects[number]
        raise StateError(f"saved heap is corrupt: unknown value tag {tag:#x}")


def decode_heap(data: bytes) -> list[tuple[int, Any]]:
    """The (handle, value) pairs written by :func:`encode_heap`."""
    reader = _Reader(data)
    kinds = reader.raw(reader.varint())
    for kind in kinds:
        if kind == 0x4D:  # M
            reader.objects.append({})
        elif kind == 0x4C:  # L
            reader.objects.append([])
        else:
            raise StateError(f"saved heap is corrupt: unknown object kind {kind:#x}")
    for obj in reader.objects:
        count = reader.varint()
        if isinstance(obj, dict):
            for _ in range(count):
                key = reader.text()
                obj[key] = reader.value()
        else:
            obj.extend(reader.value() for _ in range(count))
    entries = []
    for _ in range(reader.varint()):
        handle = reader.varint()
        entries.append((handle, reader.value()))
    if reader.at != len(data):
        raise StateError("saved heap is corrupt: trailing bytes")
    return entries
