"""Misuse is refused with a ValueError that names what was wrong."""

from __future__ import annotations

import enum
from typing import Any

import pytest

from gb.compiler.wasm import F32, F64, I32, I64, Code, Module


def code() -> Code:
    m = Module()
    return m.func("f", [I32], [], locals=[F64]).code


@pytest.mark.parametrize(
    ("instr", "message"),
    [
        (("i32.bogus",), "unknown instruction 'i32.bogus'"),
        (("i32.add", 1), "i32.add: expected 0 immediate"),
        (("i32.const",), "i32.const: expected 1 immediate"),
        (("i64.const", 1, 2), "i64.const: expected 1 immediate"),
        (("f32.const",), "f32.const: expected 1 immediate"),
        (("f64.const",), "f64.const: expected 1 immediate"),
        (("br",), "br: expected 1 immediate"),
        (("call",), "call: expected 1 immediate"),
        (("local.tee",), "local.tee: expected 1 immediate"),
        (("global.set", 0, 0), "global.set: expected 1 immediate"),
        (("block", None, None), "block: expected 0 or 1 immediate"),
        (("i32.load", 2), "i32.load: expected 0 or 2 immediate"),
        (("br_table", [0]), "br_table: expected 2 immediate"),
        (("call_indirect",), "call_indirect: expected 1 or 2 immediate"),
        (("i32.const", "5"), "i32.const: expected an integer, got '5'"),
        (("i32.const", True), "i32.const: expected an integer, got True"),
        (("i32.const", 2**32), "i32.const: 4294967296 does not fit i32"),
        (("i32.const", -(2**31) - 1), "does not fit i32"),
        (("i64.const", 2**64), "i64.const: 18446744073709551616 does not fit i64"),
        (("f32.const", 1e300), "f32.const: 1e\\+300 is out of the f32 range"),
        (("f64.const", 10**400), "f64.const: .* is too large for a float"),
        (("f64.const", "1.0"), "f64.const: expected a number, got '1.0'"),
        (("f32.const", False), "f32.const: expected a number"),
        (("local.get", 2), "local.get: local 2 does not exist in function 'f' \\(0\\)"),
        (("local.get", -1), "local.get: the local index must be an integer in 0..2\\*\\*32-1"),
        (("call", 2**32), "call: the function index must be an integer"),
        (("global.get", 1.0), "global.get: the global index must be an integer"),
        (("br", 1), "br: label 1 is deeper than the 0 open block"),
        (("br_table", "01", 0), "br_table: the first immediate must be a list"),
        (("br_table", [0, 3], 0), "br_table: label 3 is deeper"),
        (("block", "i32"), "block: a block type .* must be an integer"),
        (("i64.load", 4, 0), "i64.load: alignment 2\\*\\*4 is larger than the natural 2\\*\\*3"),
        (("i32.load8_u", 0, -4), "i32.load8_u: the offset must be an integer"),
        (("else",), "else without an open if in function 'f'"),
        (("end",), "end without an open block in function 'f' .*the function's own end"),
    ],
)
def test_emit_rejects(instr: tuple[Any, ...], message: str) -> None:
    c = code()
    with pytest.raises(ValueError, match=message):
        c.emit(*instr)
    assert c.offset == 0 and not c.instructions  # nothing half-written


def test_else_twice_and_labels_inside_blocks() -> None:
    c = code()
    c.emit("if")
    c.emit("br", 1)  # the function's own label
    c.emit("else")
    with pytest.raises(ValueError, match="else without an open if"):
        c.emit("else")
    assert c.depth == 1
    c.emit("end")
    assert c.depth == 0


def test_module_declaration_errors() -> None:
    m = Module()
    with pytest.raises(ValueError, match="params: 'i32' is not a ValType"):
        m.type(["i32"], [])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="locals: 1 is not a ValType"):
        m.func("x", [], [], locals=[1])  # type: ignore[list-item]
    with pytest.raises(ValueError, match=r"global: .* is not a ValType"):
        m.global_("f64")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"global 0 init: expected an integer, got 2\.5"):
        m.global_(I32, init=2.5)
    with pytest.raises(ValueError, match=r"memory: size -1 must be an integer in 0..65536"):
        m.memory(-1)
    with pytest.raises(ValueError, match="memory: size True"):
        m.memory(True)
    with pytest.raises(ValueError, match="memory: size 65537"):
        m.memory(1, 65537)
    with pytest.raises(ValueError, match="memory: maximum 1 is below the minimum 2"):
        m.memory(2, 1)
    with pytest.raises(ValueError, match="data at 0: expected bytes, got str"):
        m.data(0, "text")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="data offset: expected an integer"):
        m.data(None, b"x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"elem offset: .* does not fit i32"):
        m.elem(2**32, [])
    with pytest.raises(ValueError, match="export 'x': unknown kind 'tag'"):
        m.export("x", "tag", 0)  # type: ignore[arg-type]
    m.memory(1)
    with pytest.raises(ValueError, match="memory: the module already has a memory"):
        m.memory(1)
    with pytest.raises(ValueError, match=r"import memory env.m: the module already has a memory"):
        m.import_memory("env", "m", 1)
    with pytest.raises(ValueError, match="export 'memory': the name is already exported"):
        m.export("memory", "memory", 0)
    m.table(1, 4)
    with pytest.raises(ValueError, match="table: the module already has a table"):
        m.table(1)
    m.func("late", [], [])
    with pytest.raises(
        ValueError, match=r"import env.h: imports must be declared before the first"
    ):
        m.import_func("env", "h", [], [])


def test_imported_memory_counts_as_the_memory() -> None:
    m = Module()
    m.import_memory("env", "memory", 1, 2)
    with pytest.raises(ValueError, match="already has a memory"):
        m.memory(1)


def encode_error(build: Any, message: str) -> None:
    m = Module()
    build(m)
    with pytest.raises(ValueError, match=message):
        m.encode()
    with pytest.raises(ValueError, match=message):
        m.function_offsets()


def test_encode_checks_the_whole_module() -> None:
    def unclosed(m: Module) -> None:
        m.func(None, [], []).code.emit("block")

    def memory_op(m: Module) -> None:
        m.func(None, [], []).code.emit("memory.size")

    def missing_function(m: Module) -> None:
        m.func(None, [], []).code.emit("call", 3)

    def immutable(m: Module) -> None:
        g = m.global_(I64, 1, mutable=False)
        c = m.func(None, [], []).code
        c.emit("i64.const", 2)
        c.emit("global.set", g)

    def missing_type(m: Module) -> None:
        c = m.func(None, [], []).code
        c.emit("block", 9)
        c.emit("end")

    def missing_table(m: Module) -> None:
        m.func(None, [], []).code.emit("call_indirect", 0)

    encode_error(unclosed, "function 0: 1 block\\(s\\) not closed with end")
    encode_error(memory_op, "function 0 uses memory but the module has no memory")
    encode_error(missing_function, "function 0: call refers to function 3, the module has 1")
    encode_error(immutable, "function 0: global.set of immutable global 0")
    encode_error(missing_type, "function 0: block refers to type 9, the module has 1")
    encode_error(missing_table, "function 0: call_indirect refers to table 0, the module has 0")
    encode_error(lambda m: m.export("f", "func", 0), "export 'f': there is no func 0")
    encode_error(lambda m: m.export("g", "global", 0), "export 'g': there is no global 0")
    encode_error(lambda m: m.export("t", "table", 0), "export 't': there is no table 0")
    encode_error(lambda m: m.export("m", "memory", 0), "export 'm': there is no memory 0")
    encode_error(lambda m: m.start(0), "start: there is no function 0")
    encode_error(lambda m: m.elem(0, []), "elem: the module has no table")
    encode_error(lambda m: (m.table(1), m.elem(0, [0])), "elem: there is no function 0")
    encode_error(lambda m: (m.table(1), m.elem(0, ["f"])), "elem: there is no function 'f'")
    encode_error(lambda m: m.data(0, b""), "data: the module has no memory")


def test_names_are_checked() -> None:
    m = Module()
    f = m.func("f", [I32], [], locals=[F32])
    with pytest.raises(ValueError, match="function 1: the name 'f' is already used by 0"):
        m.func("f", [], [])
    assert len(m.functions) == 1  # the refused function was not added
    with pytest.raises(ValueError, match="function 0 local 1: the name 'a' is already used by 0"):
        f.name_local(0, "a")
        f.name_local(1, "a")
    with pytest.raises(ValueError, match="function 0 has no local 2"):
        f.name_local(2, "c")
    with pytest.raises(ValueError, match="global 0: a name must be a non-empty string, got ''"):
        m.global_(I32, name="")
    with pytest.raises(ValueError, match="module 0: a name must be a non-empty string, got 3"):
        Module(name=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="function 1 local 0: a name must be"):
        m.names.set_local(1, 0, "")
    assert 1 not in m.names.locals  # a refused name leaves no empty entry behind
    with pytest.raises(ValueError, match="add_local: 'f64' is not a ValType"):
        f.add_local("f64")  # type: ignore[arg-type]


def test_renaming_frees_the_old_name(check: Any) -> None:
    m = Module()
    f = m.func("old", [], [])
    m.names.set_function(f.index, "new")
    g = m.func("old", [], [])  # "old" is free again
    assert m.names.functions == {0: "new", 1: "old"}
    assert (f.name, g.name, m.func(None, [], []).name) == ("new", "old", None)
    m.names.set_function(g.index, "old")  # same name again is no conflict
    check(m)


def test_int_subclasses_are_accepted_as_indices(check: Any) -> None:
    class Slot(enum.IntEnum):
        BUDGET = 0

    m = Module()
    f = m.func("f", [I32], [I32])
    f.code.emit("local.get", Slot.BUDGET)
    assert f.code.instructions[0][1] == (0,) and type(f.code.instructions[0][1][0]) is int
    check(m)
