"""The host heap, the engine plumbing and the compiled unit's tables."""

from __future__ import annotations

import asyncio

import pytest

from gb.compiler import BasicRuntimeError, CompileError, Dialog, Registry, compile_source
from gb.compiler.codegen.layout import PC
from gb.compiler.runtime import engine
from gb.compiler.runtime.heap import Heap, HeapLimitError, estimate_size
from gb.compiler.runtime.semantics import BasicError
from tests.compiler.codegen.support import REGISTRY, Ctx, compile_text


def test_estimate_counts_shared_containers_once() -> None:
    inner = {"a": "xyz"}
    assert estimate_size([inner, inner, 1.0], set()) == 32 + 48 + 32 + 16 + 32 + 3 + 16
    loop: list[object] = []
    loop.append(loop)
    assert estimate_size(loop, set()) == 48


def test_heap_handles_collection_and_limits() -> None:
    heap = Heap(["const"], max_objects=3, max_bytes=10_000)
    assert len(heap) == 2 and heap.permanent == 2
    a, b = [1], {"k": "v"}
    ha, hb = heap.handle(a), heap.handle(b)
    assert heap.handle(a) == ha and heap.objects[hb] is b
    heap.collect([ha])
    assert heap.objects[ha] is a and len(heap) == 3
    assert heap.handle("new") == hb  # a freed handle is given out again
    heap.collect([ha])
    for i in range(4):
        heap.handle([i])
    with pytest.raises(HeapLimitError, match="5 live values"):
        heap.collect(range(100))
    big = Heap([], max_objects=100, max_bytes=100)
    big.charge(150)
    assert big.wants_collection()
    with pytest.raises(HeapLimitError, match="about 250 bytes"):
        big.charge(100)
    small = Heap([], max_objects=100, max_bytes=50)
    small.handle("x" * 60)
    with pytest.raises(HeapLimitError, match="about 92 bytes of values"):
        small.collect([1])


def test_heap_load_puts_saved_handles_back() -> None:
    heap = Heap(["c"], max_objects=10, max_bytes=1000)
    heap.load([(5, "five"), (3, [3])])
    assert heap.objects[5] == "five" and heap.objects[3] == [3]
    assert sorted(heap.free) == [2, 4]
    assert heap.entries() == [(3, [3]), (5, "five")]


def test_module_cache_keeps_the_recent_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "MODULE_CACHE", 1)
    first = compile_text("RETURN 1")
    second = compile_text("RETURN 2")
    module = engine.compiled(first.digest, first.wasm)
    assert engine.compiled(first.digest, first.wasm) is module
    engine.compiled(second.digest, second.wasm)
    assert engine.compiled(first.digest, first.wasm) is not module


def test_a_corrupt_program_counter_is_an_internal_error() -> None:
    dialog = Dialog.start(compile_text("RETURN 1"), REGISTRY)
    dialog._set_i32(PC, 10_000)
    s = dialog.step()
    assert s.reason == "error" and s.value.message.startswith("internal error: ")


def test_keywords_may_fail_with_basic_errors_and_return_tuples() -> None:
    reg = Registry()

    @reg.keyword("GET CONFIG")
    def get_config(ctx: object, name: str) -> object:
        if name == "bad":
            raise BasicError("no such setting")
        return (1, 2)

    unit = compile_source('x = GET CONFIG "ok"\nRETURN UBOUND(x)', "k.bas", reg)
    assert asyncio.run(Dialog.start(unit, reg).run(Ctx())) == 2
    unit = compile_source('x = GET CONFIG "bad"', "k.bas", reg)
    with pytest.raises(BasicRuntimeError, match=r"k\.bas:1: runtime error: no such setting"):
        asyncio.run(Dialog.start(unit, reg).run(Ctx()))


def test_breakpoints_past_the_last_line_never_stop() -> None:
    dialog = Dialog.start(compile_text("RETURN 1"), REGISTRY)
    dialog.breakpoints.add(500)
    assert dialog.step().value == 1


def test_compile_errors_and_the_text_dump() -> None:
    with pytest.raises(CompileError, match="FOO"):
        compile_source("x = FOO(1)", "e.bas", REGISTRY)
    with pytest.raises(CompileError):
        compile_source('TALK "x"')  # no registry: every keyword is unknown
    unit = compile_text("RETURN 1")
    assert unit.wat().startswith("(module $basic")
    assert unit.keywords == () and unit.builtins == () and unit.strings == ()


def test_line_table_and_debug_info() -> None:
    src = """
    x = 1
    FUNCTION f(a)
        b = a
        f = b
    END FUNCTION
    IF x THEN
        y = f(2)
    END IF
    """
    unit = compile_text(src)
    lines = unit.lines
    assert lines.lines == [1, 3, 4, 6, 7]
    assert unit.debug.statement_lines == frozenset({1, 3, 4, 6, 7})
    first = lines.offsets_of(6)
    assert first and lines.line_at(first[0]) == 6
    assert lines.line_at(-1) is None
    assert lines.blocks_of(6) and lines.blocks_of(99) == []
    block = lines.blocks_of(7)[0]
    assert lines.line_of_block(block) == 7
    assert lines.position(7) == (None, 7)
    info = unit.debug.function("F")
    assert (info.name, info.params, dict(info.locals), info.is_sub) == (
        "f",
        ("a",),
        {"a": 16, "b": 32},
        False,
    )
    assert info.result == 48 and info.frame_size >= 64
    with pytest.raises(KeyError, match="no FUNCTION or SUB named g"):
        unit.debug.function("g")
    assert set(unit.debug.globals) == {"x", "y"}
