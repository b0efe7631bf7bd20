"""Shared checks for the wasm encoder tests: assemble the WAT with wasmtime, instantiate modules."""

from __future__ import annotations

import atexit
import functools
from collections.abc import Callable, Sequence
from typing import Any

import pytest
import wasmtime

from gb.compiler.wasm import Module


@functools.cache
def engine() -> wasmtime.Engine:
    """Made on first use, not at import: wasmtime installs its trap signal handlers with the first
    engine, and they must sit on top of the faulthandler pytest enables after loading the initial
    conftests; otherwise faulthandler takes a wasm trap's SIGILL/SIGFPE for a crash."""
    made = wasmtime.Engine()
    atexit.register(made.close)  # before interpreter teardown, while the FFI still works
    return made


def agrees(m: Module) -> bytes:
    """Encode `m`; assert wasmtime's assembler turns `m.wat()` into the same bytes and that the
    module validates. Returns the bytes."""
    data = m.encode()
    text = m.wat()
    assert bytes(wasmtime.wat2wasm(text)) == data, text
    wasmtime.Module.validate(engine(), data)
    return data


class Run:
    """An instantiated module: `run.call("name", *args)`."""

    def __init__(self, m: Module, imports: Sequence[Callable[[wasmtime.Store], Any]] = ()) -> None:
        self.store = wasmtime.Store(engine())
        module = wasmtime.Module(engine(), agrees(m))
        self.instance = wasmtime.Instance(
            self.store, module, [make(self.store) for make in imports]
        )
        self.exports = self.instance.exports(self.store)

    def call(self, name: str, *args: Any) -> Any:
        func = self.exports[name]
        assert isinstance(func, wasmtime.Func)
        return func(self.store, *args)

    def get(self, name: str) -> Any:
        return self.exports[name]


@pytest.fixture
def check() -> Callable[[Module], bytes]:
    return agrees


@pytest.fixture
def run() -> type[Run]:
    return Run
