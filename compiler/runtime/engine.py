"""wasmtime for BASIC programs: one engine per process, modules compiled once, fast calls.

wasmtime-py's ``Func.__call__`` and Python-defined host functions convert every argument
through several Python layers (tens of microseconds per call). A dialog calls ``step`` for
every keyword and its code calls host imports for every string operation, so both go through
wasmtime's *unchecked* C API here instead: raw argument arrays, one ctypes callback per
import, about a microsecond each.

The engine meters fuel (a hard limit on the instructions one dialog may run, on top of the
program's own budget) and every store gets a memory limit.
"""

from __future__ import annotations

import ctypes
import functools
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import wasmtime
from wasmtime import _bindings as capi
from wasmtime import _ffi as ffi

from ..wasm import F64, I32, I64, ValType

_VALTYPES: dict[ValType, Callable[[], wasmtime.ValType]] = {
    I32: wasmtime.ValType.i32,
    I64: wasmtime.ValType.i64,
    F64: wasmtime.ValType.f64,
}

_lock = threading.Lock()
_modules: OrderedDict[bytes, wasmtime.Module] = OrderedDict()
MODULE_CACHE = 64


@functools.cache
def engine() -> wasmtime.Engine:
    """The process's engine (fuel metering on)."""
    config = wasmtime.Config()
    config.consume_fuel = True
    config.cranelift_opt_level = "speed"
    return wasmtime.Engine(config)


def compiled(digest: bytes, wasm: bytes) -> wasmtime.Module:
    """The module for ``wasm`` (compiled once per process; ``digest`` identifies it)."""
    eng = engine()
    with _lock:
        module = _modules.get(digest)
        if module is not None:
            _modules.move_to_end(digest)
            return module
    module = wasmtime.Module(eng, wasm)
    with _lock:
        _modules[digest] = module
        while len(_modules) > MODULE_CACHE:
            _modules.popitem(last=False)
    return module


HostCallback = Callable[[int], None]
"""A host function: called with the address of the raw argument/result array."""
# wasmtime's unchecked callback, with the argument array as a plain address
_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_size_t, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t
)
_NO_FINALIZER = ctypes.CFUNCTYPE(None, ctypes.c_void_p)()  # a NULL function pointer


class HostFunctions:
    """The imports of one store: each a Python callable over the raw argument array.

    Each gets the address of the call's raw argument array (16 bytes per argument; results
    are written over the first ones). A callable raising stops the wasm code with a trap;
    the exception is kept in
    ``failure`` for the caller of :meth:`FastFunc.call` to re-raise.
    """

    def __init__(self, store: wasmtime.Store) -> None:
        self.store = store
        self.failure: BaseException | None = None
        self._keep: list[object] = []

    def define(
        self, params: tuple[ValType, ...], results: tuple[ValType, ...], fn: HostCallback
    ) -> wasmtime.Func:
        def trampoline(env: int, caller: int, args: int, count: int) -> int:
            try:
                fn(args)
                return 0
            except BaseException as exc:  # handed back to the caller of step()
                self.failure = exc
                message = b"host error"
                trap = ffi.wasmtime_trap_new(message, len(message))
                return ctypes.cast(trap, ctypes.c_void_p).value or 0

        callback = _CALLBACK(trampoline)
        functype = wasmtime.FuncType(
            [_VALTYPES[t]() for t in params], [_VALTYPES[t]() for t in results]
        )
        raw = ffi.wasmtime_func_t()
        # no environment pointer and no finalizer: the state is in Python closures
        ffi.wasmtime_func_new_unchecked(
            self.store._context(),
            functype.ptr(),
            ctypes.cast(callback, ffi.wasmtime_func_unchecked_callback_t),
            None,
            _NO_FINALIZER,
            ctypes.byref(raw),
        )
        self._keep.extend((callback, functype))
        return wasmtime.Func._from_raw(raw)


class WasmTrapError(Exception):
    """wasm code stopped by a trap: ``code`` is wasmtime's trap code (None if unknown)."""

    def __init__(self, message: str, code: Any) -> None:
        super().__init__(message)
        self.code = code


class FastFunc:
    """An exported ``(i32) -> i32`` function called through the unchecked API."""

    def __init__(self, store: wasmtime.Store, func: wasmtime.Func, hosts: HostFunctions):
        self.hosts = hosts
        self._ctx = store._context()
        self._func = ctypes.byref(func._func)
        self._buf = (ffi.wasmtime_val_raw_t * 1)()
        self._trap = ctypes.POINTER(ffi.wasm_trap_t)()
        self._trap_ref = ctypes.byref(self._trap)
        self._call = capi._wasmtime_func_call_unchecked

    def call(self, arg: int) -> int:
        """Run the function; re-raise what a host import raised, or raise WasmTrapError."""
        buf = self._buf
        buf[0].i32 = arg
        error = self._call(self._ctx, self._func, buf, 1, self._trap_ref)
        if error or self._trap:
            self._stopped(error)
        return buf[0].i32

    def _stopped(self, error: Any) -> None:
        """The call ended in a trap (returned as a trap, or as an error wrapping the trap a
        host function raised): re-raise the host's exception, else raise WasmTrapError."""
        failure, self.hosts.failure = self.hosts.failure, None
        if error:
            message, code = str(wasmtime.WasmtimeError._from_ptr(error)), None
        else:
            trap = wasmtime.Trap._from_ptr(self._trap)
            self._trap = ctypes.POINTER(ffi.wasm_trap_t)()
            self._trap_ref = ctypes.byref(self._trap)
            message, code = trap.message, trap.trap_code
        if failure is not None:
            raise failure
        raise WasmTrapError(message, code)


class Memory:
    """The instance's linear memory as a Python ``memoryview`` (valid until it grows)."""

    def __init__(self, store: wasmtime.Store, memory: wasmtime.Memory) -> None:
        self.store = store
        self.memory = memory
        self.view = self._map()

    def _map(self) -> memoryview:
        size = self.memory.data_len(self.store)
        pointer = self.memory.data_ptr(self.store)
        address = ctypes.addressof(pointer.contents)
        return memoryview((ctypes.c_ubyte * size).from_address(address)).cast("B")

    def grow_to(self, nbytes: int) -> None:
        """Make the memory at least ``nbytes`` long (whole pages); remaps the view."""
        have = self.memory.data_len(self.store)
        if nbytes > have:
            self.memory.grow(self.store, (nbytes - have + 65535) // 65536)
            self.view = self._map()
