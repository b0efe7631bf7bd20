"""A compiled dialog: the wasm module, its tables, and the tree it came from."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property

from ..syntax import ast
from . import Generated
from .debuginfo import DebugInfo, LineTable
from .layout import MemoryMap


@dataclass(frozen=True)
class CompiledUnit:
    """What ``compile_source`` returns; the runtime instantiates ``wasm`` (compiled once per
    process and cached by ``digest``)."""

    file: str
    program: ast.Program
    generated: Generated = field(repr=False)

    @property
    def wasm(self) -> bytes:
        return self.generated.wasm

    @cached_property
    def digest(self) -> bytes:
        """SHA-256 of the module: saved states name the program they belong to by it."""
        return hashlib.sha256(self.generated.wasm).digest()

    @property
    def lines(self) -> LineTable:
        return self.generated.lines

    @property
    def debug(self) -> DebugInfo:
        return self.generated.debug

    @property
    def memory(self) -> MemoryMap:
        return self.generated.memory

    @property
    def keywords(self) -> tuple[str, ...]:
        """Keyword id -> registry name."""
        return self.generated.keywords

    @property
    def strings(self) -> tuple[str, ...]:
        return self.generated.strings

    @property
    def builtins(self) -> tuple[str, ...]:
        return self.generated.builtins

    def wat(self) -> str:
        """The module as WebAssembly text."""
        return self.generated.module.wat()
