"""A WebAssembly module built in memory and encoded to the binary format.

Index spaces follow the spec: imported functions come first, so every import must be declared
before the first defined function. One memory and one table at most (the MVP). Sections are
written in canonical order, followed by the custom "name" section when any name is known.

Offsets: `function_offsets()` maps each defined function's index to the byte offset, from the
start of the module, of its first instruction. wasmtime reports a trapping frame's
`module_offset` from the start of the module too, so
`frame.module_offset - function_offsets()[frame.func_index]` is the `Code.offset` the faulting
instruction had when it was emitted (`frame.func_index` counts imported functions, like ours).
Do not use `frame.func_offset` for this: it counts from the start of the body, which includes the
local declarations.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from .code import Code
from .consts import (
    encode_f32,
    encode_f64,
    encode_i32,
    encode_i64,
    f32_bits,
    f64_bits,
    i32_value,
    i64_value,
)
from .leb128 import encode_unsigned
from .names import Names, name_bytes
from .opcodes import OPS
from .types import F32, F64, FUNCREF, I32, I64, FuncType, ValType, valtypes
from .wat import module_wat

MAGIC = b"\x00asm\x01\x00\x00\x00"
MAX_PAGES = 65536  # 4 GiB of 64 KiB pages, the 32-bit memory limit

ExportKind = Literal["func", "table", "memory", "global"]
_EXPORT_CODES: dict[str, int] = {"func": 0, "table": 1, "memory": 2, "global": 3}


def _vec(items: Sequence[bytes]) -> bytes:
    return encode_unsigned(len(items)) + b"".join(items)


def _section(section_id: int, content: bytes) -> bytes:
    return bytes((section_id,)) + encode_unsigned(len(content)) + content


@dataclass(frozen=True, slots=True)
class Limits:
    minimum: int
    maximum: int | None

    @classmethod
    def checked(cls, minimum: int, maximum: int | None, what: str, ceiling: int) -> Limits:
        for value in (minimum, maximum):
            if value is not None and (
                not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= ceiling
            ):
                raise ValueError(f"{what}: size {value!r} must be an integer in 0..{ceiling}")
        if maximum is not None and maximum < minimum:
            raise ValueError(f"{what}: maximum {maximum} is below the minimum {minimum}")
        return cls(minimum, maximum)

    def encode(self) -> bytes:
        if self.maximum is None:
            return b"\x00" + encode_unsigned(self.minimum)
        return b"\x01" + encode_unsigned(self.minimum) + encode_unsigned(self.maximum)


@dataclass(frozen=True, slots=True)
class Import:
    module: str
    field: str
    kind: Literal["func", "memory"]
    type_index: int = 0  # functions
    limits: Limits | None = None  # memories


# A constant of each value type: how to check a Python value, how to encode the checked value.
_CONSTANTS: dict[ValType, tuple[Callable[[object, str], int], Callable[[int], bytes]]] = {
    I32: (i32_value, encode_i32),
    I64: (i64_value, encode_i64),
    F32: (f32_bits, encode_f32),
    F64: (f64_bits, encode_f64),
}


@dataclass(frozen=True, slots=True)
class Global:
    type: ValType
    init: int  # the signed integer, or the float's bit pattern
    mutable: bool

    def encode(self) -> bytes:
        const = OPS[f"{self.type.wat}.const"].code + _CONSTANTS[self.type][1](self.init)
        return bytes((self.type.value, int(self.mutable))) + const + b"\x0b"


@dataclass(frozen=True, slots=True)
class Export:
    name: str
    kind: ExportKind
    index: int


@dataclass(slots=True, eq=False)
class Function:
    """A defined function: its signature, its locals and its `code`."""

    module: Module
    index: int
    type_index: int
    params: tuple[ValType, ...]
    results: tuple[ValType, ...]
    local_types: list[ValType]  # params then declared locals: the local index space
    code: Code = field(repr=False)

    @property
    def name(self) -> str | None:
        return self.module.names.functions.get(self.index)

    @property
    def locals(self) -> list[ValType]:
        """The declared locals (after the params)."""
        return self.local_types[len(self.params) :]

    def add_local(self, valtype: ValType, name: str | None = None) -> int:
        """Declare one more local; return its index."""
        (checked,) = valtypes([valtype], "add_local")
        self.local_types.append(checked)
        index = len(self.local_types) - 1
        if name is not None:
            self.name_local(index, name)
        return index

    def name_local(self, index: int, name: str) -> None:
        """Name a param or local (the name section and the WAT show it)."""
        if not 0 <= index < len(self.local_types):
            raise ValueError(f"function {self.index} has no local {index}")
        self.module.names.set_local(self.index, index, name)


@dataclass(slots=True)
class _Encoded:
    data: bytes
    offsets: dict[int, int]


class Module:
    """Collects types, imports, functions, memory, table, globals, exports and data."""

    def __init__(self, name: str | None = None) -> None:
        self.types: list[FuncType] = []
        self._type_ids: dict[FuncType, int] = {}
        self.imports: list[Import] = []
        self.import_func_count = 0
        self.functions: list[Function] = []
        self.memory_limits: Limits | None = None
        self.memory_imported = False
        self.table_limits: Limits | None = None
        self.globals: list[Global] = []
        self.exports: list[Export] = []
        self._export_names: set[str] = set()
        self.start_index: int | None = None
        self.elements: list[tuple[int, tuple[int, ...]]] = []
        self.data_segments: list[tuple[int, bytes]] = []
        self.names = Names()
        if name is not None:
            self.names.set_module(name)

    # -- declarations ---------------------------------------------------------------------

    @property
    def func_count(self) -> int:
        return self.import_func_count + len(self.functions)

    def type(self, params: Iterable[ValType], results: Iterable[ValType]) -> int:
        """The index of the function type params -> results, added once."""
        ft = FuncType(valtypes(params, "params"), valtypes(results, "results"))
        index = self._type_ids.get(ft)
        if index is None:
            index = self._type_ids[ft] = len(self.types)
            self.types.append(ft)
        return index

    def import_func(
        self,
        module: str,
        field: str,
        params: Iterable[ValType],
        results: Iterable[ValType],
        *,
        name: str | None = None,
    ) -> int:
        """Import a host function; return its function index. `name` defaults to `field`."""
        if self.functions:
            raise ValueError(
                f"import {module}.{field}: imports must be declared before the first defined"
                " function (imported functions take the lowest indices)"
            )
        type_index = self.type(params, results)
        self.imports.append(Import(module, field, "func", type_index=type_index))
        index = self.import_func_count
        self.import_func_count += 1
        self.names.set_function(index, field if name is None else name)
        return index

    def _one_memory(self, what: str) -> None:
        if self.memory_limits is not None:
            raise ValueError(f"{what}: the module already has a memory (one memory at most)")

    def import_memory(
        self, module: str, field: str, min_pages: int, max_pages: int | None = None
    ) -> None:
        """Import memory 0 from the host."""
        self._one_memory(f"import memory {module}.{field}")
        limits = Limits.checked(min_pages, max_pages, "memory", MAX_PAGES)
        self.imports.append(Import(module, field, "memory", limits=limits))
        self.memory_limits = limits
        self.memory_imported = True

    def memory(
        self, min_pages: int, max_pages: int | None = None, export: str | None = "memory"
    ) -> None:
        """Define memory 0 (sizes in 64 KiB pages), exported as `export` unless None."""
        self._one_memory("memory")
        self.memory_limits = Limits.checked(min_pages, max_pages, "memory", MAX_PAGES)
        if export is not None:
            self.export(export, "memory", 0)

    def table(self, min_size: int, max_size: int | None = None, export: str | None = None) -> int:
        """Define table 0 of function references (for call_indirect); return its index."""
        if self.table_limits is not None:
            raise ValueError("table: the module already has a table (one table at most)")
        self.table_limits = Limits.checked(min_size, max_size, "table", (1 << 32) - 1)
        if export is not None:
            self.export(export, "table", 0)
        return 0

    def elem(self, offset: int, func_indices: Iterable[int]) -> None:
        """Place function references in table 0 starting at `offset`."""
        start = i32_value(offset, "elem offset")
        self.elements.append((start, tuple(func_indices)))

    def global_(
        self,
        valtype: ValType,
        init: int | float = 0,
        mutable: bool = True,
        export: str | None = None,
        name: str | None = None,
    ) -> int:
        """Define a global initialised with a constant of its type; return its index."""
        (checked,) = valtypes([valtype], "global")
        what = f"global {len(self.globals)} init"
        bits = _CONSTANTS[checked][0](init, what)
        index = len(self.globals)
        self.globals.append(Global(checked, bits, bool(mutable)))
        if name is not None:
            self.names.set_global(index, name)
        if export is not None:
            self.export(export, "global", index)
        return index

    def func(
        self,
        name: str | None,
        params: Iterable[ValType],
        results: Iterable[ValType],
        locals: Iterable[ValType] = (),
        export: str | None = None,
    ) -> Function:
        """Define a function; emit its instructions into the returned `Function.code`."""
        type_index = self.type(params, results)
        ft = self.types[type_index]
        local_types = [*ft.params, *valtypes(locals, "locals")]
        index = self.func_count
        owner = f"function {index}" if name is None else f"function {name!r} ({index})"
        function = Function(
            self, index, type_index, ft.params, ft.results, local_types,
            Code(owner, local_types),
        )  # fmt: skip
        if name is not None:
            self.names.set_function(index, name)
        self.functions.append(function)
        if export is not None:
            self.export(export, "func", index)
        return function

    def export(self, name: str, kind: ExportKind, index: int) -> None:
        """Export item `index` of `kind` (func, table, memory, global) under `name`."""
        if kind not in _EXPORT_CODES:
            raise ValueError(f"export {name!r}: unknown kind {kind!r}")
        if name in self._export_names:
            raise ValueError(f"export {name!r}: the name is already exported")
        self._export_names.add(name)
        self.exports.append(Export(name, kind, index))

    def start(self, func_index: int) -> None:
        """Run function `func_index` when the module is instantiated."""
        self.start_index = func_index

    def data(self, offset: int, data: bytes) -> None:
        """An active data segment: `data` is copied into memory 0 at `offset` on instantiation."""
        if not isinstance(data, bytes | bytearray):
            raise ValueError(f"data at {offset}: expected bytes, got {type(data).__name__}")
        self.data_segments.append((i32_value(offset, "data offset"), bytes(data)))

    # -- encoding ---------------------------------------------------------------------------

    def encode(self) -> bytes:
        """The binary module."""
        return self._encode().data

    def function_offsets(self) -> dict[int, int]:
        """Function index -> module byte offset of its first instruction (see module docs)."""
        return self._encode().offsets

    def wat(self) -> str:
        """The module as WebAssembly text; `wat2wasm` of it gives exactly `encode()`."""
        return module_wat(self)

    def _check(self) -> None:
        """Check every index against the module before encoding: clear errors, early."""
        counts = {
            "function": self.func_count,
            "global": len(self.globals),
            "type": len(self.types),
            "table": 0 if self.table_limits is None else 1,
        }
        for function in self.functions:
            code = function.code
            where = f"function {function.index}"
            if code.depth:
                raise ValueError(f"{where}: {code.depth} block(s) not closed with end")
            if code.uses_memory and self.memory_limits is None:
                raise ValueError(f"{where} uses memory but the module has no memory")
            for op, kind, index in code.refs:
                if index >= counts[kind]:
                    raise ValueError(
                        f"{where}: {op} refers to {kind} {index}, the module has {counts[kind]}"
                    )
                if op == "global.set" and not self.globals[index].mutable:
                    raise ValueError(f"{where}: global.set of immutable global {index}")
        for export in self.exports:
            count = {
                "func": counts["function"],
                "global": counts["global"],
                "table": counts["table"],
                "memory": 0 if self.memory_limits is None else 1,
            }[export.kind]
            if export.index >= count:
                raise ValueError(
                    f"export {export.name!r}: there is no {export.kind} {export.index}"
                )
        if self.start_index is not None and not 0 <= self.start_index < self.func_count:
            raise ValueError(f"start: there is no function {self.start_index}")
        if self.elements and self.table_limits is None:
            raise ValueError("elem: the module has no table")
        for _, funcs in self.elements:
            for f in funcs:
                if not isinstance(f, int) or not 0 <= f < self.func_count:
                    raise ValueError(f"elem: there is no function {f!r}")
        if self.data_segments and self.memory_limits is None:
            raise ValueError("data: the module has no memory")

    def _encode(self) -> _Encoded:
        self._check()
        out = bytearray(MAGIC)
        if self.types:
            out += _section(1, _vec([t.encode() for t in self.types]))
        if self.imports:
            out += _section(2, _vec([_import(i) for i in self.imports]))
        if self.functions:
            out += _section(3, _vec([encode_unsigned(f.type_index) for f in self.functions]))
        if self.table_limits is not None:
            out += _section(4, b"\x01" + bytes((FUNCREF,)) + self.table_limits.encode())
        if self.memory_limits is not None and not self.memory_imported:
            out += _section(5, b"\x01" + self.memory_limits.encode())
        if self.globals:
            out += _section(6, _vec([g.encode() for g in self.globals]))
        if self.exports:
            out += _section(7, _vec([_export(e) for e in self.exports]))
        if self.start_index is not None:
            out += _section(8, encode_unsigned(self.start_index))
        if self.elements:
            out += _section(9, _vec([_element(offset, funcs) for offset, funcs in self.elements]))
        offsets: dict[int, int] = {}
        if self.functions:
            bodies = [_body(f) for f in self.functions]
            content = _vec([size + locals_ + code for size, locals_, code in bodies])
            header = bytes((10,)) + encode_unsigned(len(content))
            position = len(out) + len(header) + len(encode_unsigned(len(bodies)))
            for function, (size, locals_, code) in zip(self.functions, bodies, strict=True):
                offsets[function.index] = position + len(size) + len(locals_)
                position += len(size) + len(locals_) + len(code)
            out += header + content
        if self.data_segments:
            out += _section(11, _vec([_data(offset, data) for offset, data in self.data_segments]))
        names = self.names.encode()
        if names:
            out += _section(0, name_bytes("name") + names)
        return _Encoded(bytes(out), offsets)


def _import(item: Import) -> bytes:
    head = name_bytes(item.module) + name_bytes(item.field)
    if item.kind == "func":
        return head + b"\x00" + encode_unsigned(item.type_index)
    assert item.limits is not None
    return head + b"\x02" + item.limits.encode()


def _export(item: Export) -> bytes:
    return name_bytes(item.name) + bytes((_EXPORT_CODES[item.kind],)) + encode_unsigned(item.index)


def _active_offset(offset: int) -> bytes:
    """Flags 0 (active, table/memory 0) and the constant offset expression."""
    return b"\x00\x41" + encode_i32(offset) + b"\x0b"


def _element(offset: int, funcs: tuple[int, ...]) -> bytes:
    return _active_offset(offset) + _vec([encode_unsigned(f) for f in funcs])


def _data(offset: int, data: bytes) -> bytes:
    return _active_offset(offset) + encode_unsigned(len(data)) + data


def _body(function: Function) -> tuple[bytes, bytes, bytes]:
    """(size prefix, local declarations, instructions + end) of one function body."""
    runs: list[list[int]] = []  # consecutive locals of one type share a declaration
    for t in function.locals:
        if runs and runs[-1][1] == t.value:
            runs[-1][0] += 1
        else:
            runs.append([1, t.value])
    locals_ = _vec([encode_unsigned(n) + bytes((t,)) for n, t in runs])
    code = function.code.body + b"\x0b"
    return encode_unsigned(len(locals_) + len(code)), locals_, code
