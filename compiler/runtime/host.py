"""The host imports of a running program: every operation the generated code does not do
inline (text, dates, lists, maps, built-in functions, operators on non-numbers).

Each import gets the address of wasmtime's raw argument array (16 bytes per argument; a value
is a ``(tag, payload)`` pair of two arguments), reads its arguments with :mod:`struct`,
applies :mod:`.semantics` or :mod:`compiler.builtins`, and writes its result back at the
start of the same array. A :class:`~.semantics.BasicError` raised here stops the program
with a trap; the dialog turns it into a runtime error at the current line.
"""

from __future__ import annotations

import ctypes
import datetime as dt
import struct
from collections.abc import Callable, Sequence
from typing import Any

from .. import builtins as basic_builtins
from ..codegen.layout import BOOL, DATE, LIST, MAP, NULL, NUMBER, STRING
from .heap import Heap, HeapLimitError
from .semantics import (
    BINARY,
    BasicError,
    Value,
    compare,
    equals,
    get_index,
    get_member,
    is_number,
    iteration_items,
    mod,
    power,
    set_index,
    set_member,
    to_number,
    to_text,
    truthy,
)

_RAW = ctypes.c_char * 128  # the argument array: at most 8 arguments of 16 bytes
_PAIR = struct.Struct("<i12xq")  # a value: the tag argument, then the payload argument
_PAIR_F = struct.Struct("<i12xd")  # a number: the payload is an f64
_F64 = struct.Struct("<d")
_I32 = struct.Struct("<i")
_PAIR_I32 = struct.Struct("<i12xi")  # (i32, i32) arguments
_FOUR = struct.Struct("<" + "i12xq8x" * 3 + "i12xq")  # four values, 32 bytes apart

_BINARY_BY_CODE = [BINARY[op] for op in ("+", "&", "-", "*", "/", "\\", "mod", "^")]


def _comparison(code: int) -> Callable[[Value, Value], bool]:
    if code == 0:
        return equals
    if code == 1:
        return lambda a, b: not equals(a, b)
    op = ("<", "<=", ">", ">=")[code - 2]
    return lambda a, b: compare(op, a, b)


_COMPARISONS = [_comparison(code) for code in range(6)]


def tag_of(value: Value) -> int:
    """The slot tag of a Python value; BasicError for values BASIC cannot hold."""
    if value is None:
        return NULL
    if isinstance(value, bool):
        return BOOL
    if is_number(value):
        return NUMBER
    if isinstance(value, str):
        return STRING
    if isinstance(value, dt.date):
        return DATE
    if isinstance(value, list | tuple):
        return LIST
    if isinstance(value, dict):
        return MAP
    raise BasicError(f"a {type(value).__name__} is not a BASIC value")


class Host:
    """The imports, bound to one dialog's heap."""

    def __init__(
        self,
        heap: Heap,
        builtins: Sequence[str],
        max_string: int,
        request_pause: Callable[[], None],
    ) -> None:
        self.heap = heap
        self.objects = heap.objects
        self.builtins = [basic_builtins.SPECS[name].fn for name in builtins]
        self.max_string = max_string
        self.request_pause = request_pause

    # -- values in the argument array --------------------------------------------------------

    def get(self, raw: Any, k: int) -> Value:
        """The value whose tag is argument ``k`` (its payload is argument ``k + 1``)."""
        tag, bits = _PAIR.unpack_from(raw, 16 * k)
        if tag == NUMBER:
            return _F64.unpack_from(raw, 16 * k + 16)[0]
        if tag == NULL:
            return None
        if tag == BOOL:
            return bits != 0
        return self.objects[bits]

    def put(self, raw: Any, value: Value) -> None:
        """Write ``value`` as the result (arguments 0 and 1)."""
        kind = type(value)
        if kind is float:
            _PAIR_F.pack_into(raw, 0, NUMBER, value)
        elif kind is str:
            _PAIR.pack_into(raw, 0, STRING, self.handle(value))
        else:
            tag = tag_of(value)
            if tag == NUMBER:
                _PAIR_F.pack_into(raw, 0, NUMBER, float(value))
            elif tag in (BOOL, NULL):
                _PAIR.pack_into(raw, 0, tag, 1 if value else 0)
            else:
                _PAIR.pack_into(raw, 0, tag, self.handle(value))

    def handle(self, value: Any) -> int:
        """The heap handle for a text, date, list or map (a tuple becomes a list)."""
        if type(value) is str:
            if len(value) > self.max_string:
                raise HeapLimitError(
                    f"heap limit exceeded: a text of {len(value)} characters "
                    f"(at most {self.max_string})"
                )
            self.heap.charge(len(value))
        elif isinstance(value, tuple):
            value = list(value)
        heap = self.heap
        handle = heap.handle(value)
        if heap.allocations >= heap.next_check:
            heap.next_check = heap.allocations + 256
            if heap.wants_collection():
                self.request_pause()
        return handle

    # -- the imports, by name (see codegen.layout.IMPORTS for the signatures) ---------------

    def op2(self, address: int) -> None:
        raw = _RAW.from_address(address)
        (op,) = _I32.unpack_from(raw, 0)
        self.put(raw, _BINARY_BY_CODE[op](self.get(raw, 1), self.get(raw, 3)))

    def concat(self, address: int) -> None:
        """Up to four values as one text (``&`` chains and string interpolation)."""
        raw = _RAW.from_address(address)
        fields = _FOUR.unpack_from(raw, 0)
        objects = self.objects
        parts = []
        for k in range(4):
            tag, bits = fields[2 * k], fields[2 * k + 1]
            if tag == STRING:
                parts.append(objects[bits])
            elif tag != NULL:
                parts.append(to_text(self.get(raw, 2 * k)))
        self.put(raw, "".join(parts))

    def cmp(self, address: int) -> None:
        raw = _RAW.from_address(address)
        (op,) = _I32.unpack_from(raw, 0)
        result = _COMPARISONS[op](self.get(raw, 1), self.get(raw, 3))
        _I32.pack_into(raw, 0, 1 if result else 0)

    def to_num(self, address: int) -> None:
        raw = _RAW.from_address(address)
        _F64.pack_into(raw, 0, to_number(self.get(raw, 0)))

    def truthy(self, address: int) -> None:
        raw = _RAW.from_address(address)
        _I32.pack_into(raw, 0, 1 if truthy(self.get(raw, 0)) else 0)

    def fmod(self, address: int) -> None:
        raw = _RAW.from_address(address)
        _F64.pack_into(raw, 0, mod(_F64.unpack_from(raw, 0)[0], _F64.unpack_from(raw, 16)[0]))

    def pow(self, address: int) -> None:
        raw = _RAW.from_address(address)
        _F64.pack_into(raw, 0, power(_F64.unpack_from(raw, 0)[0], _F64.unpack_from(raw, 16)[0]))

    def member(self, address: int) -> None:
        raw = _RAW.from_address(address)
        (key,) = _I32.unpack_from(raw, 32)
        self.put(raw, get_member(self.get(raw, 0), self.objects[key]))

    def set_member(self, address: int) -> None:
        raw = _RAW.from_address(address)
        (key,) = _I32.unpack_from(raw, 32)
        set_member(self.get(raw, 0), self.objects[key], self.get(raw, 3))
        self.heap.charge(16)

    def index(self, address: int) -> None:
        raw = _RAW.from_address(address)
        self.put(raw, get_index(self.get(raw, 0), self.get(raw, 2)))

    def set_index(self, address: int) -> None:
        raw = _RAW.from_address(address)
        set_index(self.get(raw, 0), self.get(raw, 2), self.get(raw, 4))
        self.heap.charge(16)

    def list_new(self, address: int) -> None:
        _I32.pack_into(_RAW.from_address(address), 0, self.handle([]))

    def list_push(self, address: int) -> None:
        raw = _RAW.from_address(address)
        (handle,) = _I32.unpack_from(raw, 0)
        self.objects[handle].append(self.get(raw, 1))
        self.heap.charge(16)

    def map_new(self, address: int) -> None:
        _I32.pack_into(_RAW.from_address(address), 0, self.handle({}))

    def map_put(self, address: int) -> None:
        raw = _RAW.from_address(address)
        handle, key = _PAIR_I32.unpack_from(raw, 0)
        self.objects[handle][self.objects[key]] = self.get(raw, 2)
        self.heap.charge(16)

    def iter_start(self, address: int) -> None:
        raw = _RAW.from_address(address)
        _I32.pack_into(raw, 0, self.handle(iteration_items(self.get(raw, 0))))

    def iter_len(self, address: int) -> None:
        raw = _RAW.from_address(address)
        (handle,) = _I32.unpack_from(raw, 0)
        _I32.pack_into(raw, 0, len(self.objects[handle]))

    def iter_get(self, address: int) -> None:
        raw = _RAW.from_address(address)
        handle, position = _PAIR_I32.unpack_from(raw, 0)
        self.put(raw, self.objects[handle][position])

    def call0(self, address: int) -> None:
        raw = _RAW.from_address(address)
        self.put(raw, self.builtins[_I32.unpack_from(raw, 0)[0]]())

    def call1(self, address: int) -> None:
        raw = _RAW.from_address(address)
        self.put(raw, self.builtins[_I32.unpack_from(raw, 0)[0]](self.get(raw, 1)))

    def call2(self, address: int) -> None:
        raw = _RAW.from_address(address)
        fn = self.builtins[_I32.unpack_from(raw, 0)[0]]
        self.put(raw, fn(self.get(raw, 1), self.get(raw, 3)))

    def call3(self, address: int) -> None:
        raw = _RAW.from_address(address)
        fn = self.builtins[_I32.unpack_from(raw, 0)[0]]
        self.put(raw, fn(self.get(raw, 1), self.get(raw, 3), self.get(raw, 5)))
