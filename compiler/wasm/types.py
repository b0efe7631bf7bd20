"""Value and function types of the WebAssembly MVP (plus multi-value results)."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from .leb128 import encode_unsigned


class ValType(enum.Enum):
    """A number type; the value is its binary encoding."""

    I32 = 0x7F
    I64 = 0x7E
    F32 = 0x7D
    F64 = 0x7C

    @property
    def wat(self) -> str:
        return self.name.lower()


I32 = ValType.I32
I64 = ValType.I64
F32 = ValType.F32
F64 = ValType.F64

FUNCREF = 0x70  # the only table element type of the MVP


def valtypes(types: Iterable[ValType], what: str) -> tuple[ValType, ...]:
    """Check that every item is a ValType; `what` names the list in the error."""
    out = tuple(types)
    for t in out:
        if not isinstance(t, ValType):
            raise ValueError(f"{what}: {t!r} is not a ValType (use I32, I64, F32 or F64)")
    return out


@dataclass(frozen=True, slots=True)
class FuncType:
    params: tuple[ValType, ...]
    results: tuple[ValType, ...]

    def encode(self) -> bytes:
        return (
            b"\x60"
            + encode_unsigned(len(self.params))
            + bytes(t.value for t in self.params)
            + encode_unsigned(len(self.results))
            + bytes(t.value for t in self.results)
        )
