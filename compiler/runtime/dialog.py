"""A running dialog: one instance of a compiled program, driven one ``step`` at a time.

``step`` runs the program until it has to stop and says why (:class:`Suspension`): it
finished, it calls a keyword (the host performs it — sync or async — and ``resume``\\ s with
the result), it spent its budget (the host may yield to its event loop and call ``step``
again), it reached a breakpoint, or it failed. BASIC errors never raise out of ``step``: the
dialog ends in state ``failed`` with a :class:`~.errors.BasicRuntimeError` naming the line.

``run`` is the ordinary driver: it performs keyword calls through the registry until the
program ends. ``save``/``restore`` turn the whole state into bytes and back, in this process
or another one.
"""

from __future__ import annotations

import asyncio
import inspect
import struct
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, MutableSet
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import wasmtime

from ..codegen.layout import (
    BOOL,
    BREAK,
    BUDGET,
    BUDGET_LEFT,
    CALL,
    DEBUG,
    DONE,
    ERR_STACK,
    ERROR,
    ERROR_CODE,
    ERROR_MESSAGES,
    FP,
    FRAME_CALLER,
    FRAME_FUNCTION,
    FRAME_RETURN,
    IMPORTS,
    KEYWORD,
    KWARGS,
    LINE,
    NO_RETURN,
    NULL,
    NUMBER,
    PC,
    RET,
    SKIP,
    SLOT,
    SP,
    STACK_END,
    STEP_MODE,
    STRING,
)
from ..host.registry import KeywordSpec, Registry
from .engine import FastFunc, HostFunctions, Memory, WasmTrapError, compiled, engine
from .errors import BasicRuntimeError, RuntimeLimitExceeded, StateError
from .heap import Heap, HeapLimitError, estimate_size
from .host import Host, tag_of
from .semantics import BasicError, Value
from .state import decode_heap, encode_heap, pack, unpack

if TYPE_CHECKING:
    from ..codegen.unit import CompiledUnit

_I32 = struct.Struct("<i")
_F64 = struct.Struct("<d")
_SLOT = struct.Struct("<i4xq")
_SLOT_F = struct.Struct("<i4xd")
_CALL_FIELDS = struct.Struct("<ii")  # KEYWORD, ARGC

RUNNING, WAITING, PAUSED, DONE_STATE, FAILED = "running", "waiting", "paused", "done", "failed"
UNLIMITED_FUEL = (1 << 63) - 1


@dataclass(frozen=True)
class Limits:
    """Hard limits of one dialog. ``fuel``: wasm instructions over the dialog's life
    (None: unlimited); ``wall_seconds``: time spent running the program (waiting for a
    keyword or the user does not count; None: unlimited); ``memory_bytes``: its linear
    memory; ``heap_objects``/``heap_bytes``: values it holds; ``stack_bytes``: its BASIC
    call stack (nested FUNCTION calls); ``max_string``: the longest text."""

    fuel: int | None = 50_000_000_000
    memory_bytes: int = 64 << 20
    wall_seconds: float | None = 60.0
    heap_objects: int = 1_000_000
    heap_bytes: int = 256 << 20
    stack_bytes: int = 1 << 20
    max_string: int = 64 << 20


class Suspension(NamedTuple):
    """Why ``step`` returned. ``keyword``/``args``: the pending call (reason ``call``);
    ``value``: the dialog's result (``done``) or its BasicRuntimeError (``error``)."""

    reason: str
    line: int
    keyword: str | None = None
    args: tuple[Value, ...] = ()
    value: Any = None


@dataclass(frozen=True)
class Frame:
    """One entry of the BASIC call stack: the function (``(main)`` for the program) and the
    line it is at."""

    name: str
    line: int


class Breakpoints(MutableSet[int]):
    """Source lines to stop at; changes take effect at once (also while suspended)."""

    def __init__(self, dialog: Dialog) -> None:
        self._dialog = dialog
        self._lines: set[int] = set()

    def __contains__(self, line: object) -> bool:
        return line in self._lines

    def __iter__(self) -> Iterator[int]:
        return iter(sorted(self._lines))

    def __len__(self) -> int:
        return len(self._lines)

    def add(self, line: int) -> None:
        if not isinstance(line, int) or isinstance(line, bool) or line < 1:
            raise ValueError(f"a breakpoint line must be a positive integer, got {line!r}")
        self._lines.add(line)
        self._dialog._mark_line(line, 1)

    def discard(self, line: int) -> None:
        if line in self._lines:
            self._lines.discard(line)
            self._dialog._mark_line(line, 0)

    def __repr__(self) -> str:
        return f"Breakpoints({sorted(self._lines)})"


class Dialog:
    """One running program (one conversation). Create with :meth:`start` or :meth:`restore`."""

    def __init__(self, unit: CompiledUnit, registry: Registry, limits: Limits) -> None:
        if limits.memory_bytes < unit.memory.static_end + unit.memory.main_frame_size:
            raise ValueError(
                f"Limits.memory_bytes {limits.memory_bytes} is too small for this program "
                f"(it needs {unit.memory.static_end + unit.memory.main_frame_size})"
            )
        self.unit = unit
        self.registry = registry
        self.limits = limits
        self.store = wasmtime.Store(engine())
        self.store.set_limits(memory_size=limits.memory_bytes)
        self.store.set_fuel(UNLIMITED_FUEL if limits.fuel is None else limits.fuel)
        self.heap = Heap(unit.strings, limits.heap_objects, limits.heap_bytes)
        self.hosts = HostFunctions(self.store)
        self.host = Host(self.heap, unit.builtins, limits.max_string, self._request_pause)
        imports = [
            self.hosts.define(params, results, getattr(self.host, name))
            for name, (params, results) in IMPORTS.items()
        ]
        instance = wasmtime.Instance(self.store, compiled(unit.digest, unit.wasm), imports)
        exports = instance.exports(self.store)
        step_export = exports["step"]
        memory_export = exports["memory"]
        assert isinstance(step_export, wasmtime.Func)
        assert isinstance(memory_export, wasmtime.Memory)
        self._step = FastFunc(self.store, step_export, self.hosts)
        self.memory = Memory(self.store, memory_export)
        self.breakpoints: MutableSet[int] = Breakpoints(self)
        self._step_mode = False
        self.state = RUNNING
        self._last: Suspension | None = None
        self.cpu_seconds = 0.0
        self._fuel_before = 0  # fuel spent before a restore
        self._fuel_given = UNLIMITED_FUEL if limits.fuel is None else limits.fuel
        self.extra_globals: dict[str, Value] = {}
        self._specs: dict[str, KeywordSpec] = {}  # registry entries by keyword, once looked up

    # -- creation -----------------------------------------------------------------------------

    @classmethod
    def start(
        cls,
        unit: CompiledUnit,
        registry: Registry,
        *,
        limits: Limits | None = None,
        globals: Mapping[str, Value] | None = None,
    ) -> Dialog:
        """A new dialog at the start of the program; ``globals`` preset variables by name
        (the host's ``username``, bot settings ...; names the program never uses are kept
        in ``extra_globals``)."""
        dialog = cls(unit, registry, limits or Limits())
        mm = unit.memory
        dialog._allocate_stack(mm.stack_base + mm.main_frame_size)
        for field, value in (
            (PC, 0),
            (FP, mm.stack_base),
            (SP, mm.stack_base + mm.main_frame_size),
        ):
            dialog._set_i32(field, value)
        dialog._set_i32(mm.stack_base + FRAME_RETURN, NO_RETURN)
        for name, value in (globals or {}).items():
            address = unit.debug.globals.get(name.lower())
            if address is None:
                dialog.extra_globals[name.lower()] = value
            else:
                dialog._write_slot(address, value)
        return dialog

    def _allocate_stack(self, in_use: int) -> None:
        """Size the memory for the stack the limits allow (``in_use``: bytes taken now)."""
        stack_end = self.unit.memory.stack_base + self.limits.stack_bytes // SLOT * SLOT
        if stack_end < in_use:
            raise ValueError(
                f"Limits.stack_bytes {self.limits.stack_bytes} is below the stack in use "
                f"({in_use - self.unit.memory.stack_base} bytes)"
            )
        try:
            self.memory.grow_to(stack_end)
        except wasmtime.WasmtimeError:
            raise ValueError(
                f"Limits.memory_bytes {self.limits.memory_bytes} cannot hold a stack of "
                f"{self.limits.stack_bytes} bytes"
            ) from None
        self._set_i32(STACK_END, stack_end)

    # -- memory access ------------------------------------------------------------------------

    def _i32(self, address: int) -> int:
        return int(_I32.unpack_from(self.memory.view, address)[0])

    def _set_i32(self, address: int, value: int) -> None:
        _I32.pack_into(self.memory.view, address, value)

    def get_global(self, name: str) -> Value:
        """The value of the program's global variable ``name`` (any case); KeyError if the
        program has no such variable."""
        return self._read_slot(self.unit.debug.globals[name.lower()])

    def set_global(self, name: str, value: Value) -> None:
        """Set the program's global variable ``name`` (keywords such as MERGE update REPORT)."""
        self._write_slot(self.unit.debug.globals[name.lower()], value)

    def _read_slot(self, address: int) -> Value:
        tag, bits = _SLOT.unpack_from(self.memory.view, address)
        if tag == NUMBER:
            return _F64.unpack_from(self.memory.view, address + 8)[0]
        if tag == NULL:
            return None
        if tag == BOOL:
            return bits != 0
        return self.heap.objects[bits]

    def _write_slot(self, address: int, value: Value) -> None:
        tag = tag_of(value)
        if tag == NUMBER:
            _SLOT_F.pack_into(self.memory.view, address, tag, float(value))
        elif tag in (BOOL, NULL):
            _SLOT.pack_into(self.memory.view, address, tag, int(bool(value)))
        else:
            _SLOT.pack_into(self.memory.view, address, tag, self.host.handle(value))

    def _request_pause(self) -> None:
        self._set_i32(BUDGET_LEFT, 0)

    def _mark_line(self, line: int, on: int) -> None:
        mm = self.unit.memory
        if line < mm.breakpoint_lines:
            self.memory.view[mm.breakpoints + line] = on
        self._sync_debug()

    def _sync_debug(self) -> None:
        self._set_i32(STEP_MODE, int(self._step_mode))
        self._set_i32(DEBUG, int(self._step_mode or len(self.breakpoints) > 0))

    @property
    def step_mode(self) -> bool:
        """Stop at every statement (single-stepping)."""
        return self._step_mode

    @step_mode.setter
    def step_mode(self, on: bool) -> None:
        self._step_mode = bool(on)
        self._sync_debug()

    @property
    def line(self) -> int:
        """The source line the program is at (of the INCLUDEd file, if it is in one)."""
        return self.unit.lines.position(self._i32(LINE))[1]

    @property
    def file(self) -> str:
        """The file of that line: the program's, or an INCLUDEd one."""
        return self.unit.lines.position(self._i32(LINE))[0] or self.unit.file

    # -- running ------------------------------------------------------------------------------

    def step(self, budget: int = 10_000) -> Suspension:
        """Run until the program must stop (at most ``budget`` loop iterations and calls)."""
        if self.state in (DONE_STATE, FAILED):
            assert self._last is not None
            return self._last
        if self.state == WAITING:
            raise RuntimeError("the dialog waits for a keyword result: call resume() first")
        if not 0 < budget < 1 << 31:
            raise ValueError(f"budget must be between 1 and 2**31-1, got {budget}")
        if self.state == PAUSED:  # go past the statement it stopped at (if still debugging)
            self._set_i32(SKIP, self._i32(DEBUG))
        self.state = RUNNING
        started = time.perf_counter()
        try:
            reason = self._step.call(budget)
        except BasicError as exc:
            return self._fail(exc.message)
        except HeapLimitError as exc:
            return self._fail(str(exc), limit=True)
        except WasmTrapError as exc:
            return self._trapped(exc)
        finally:
            self.cpu_seconds += time.perf_counter() - started
        wall = self.limits.wall_seconds
        if wall is not None and self.cpu_seconds > wall and reason != DONE:
            return self._fail(
                f"time limit exceeded: ran {self.cpu_seconds:.1f} s (at most {wall} s)", limit=True
            )
        if reason == CALL:
            self.state = WAITING
            suspension = self.pending()
        elif reason == BUDGET:
            suspension = Suspension("budget", self.line)
        elif reason == BREAK:
            self.state = PAUSED
            suspension = Suspension("break", self.line)
        elif reason == DONE:
            self.state = DONE_STATE
            self._last = Suspension("done", self.line, value=self._read_slot(RET))
            return self._last
        else:
            assert reason == ERROR, f"step returned {reason}"
            code = self._i32(ERROR_CODE)
            return self._fail(ERROR_MESSAGES[code], limit=code == ERR_STACK)
        if self.heap.wants_collection():
            try:
                self.collect()
            except HeapLimitError as exc:
                return self._fail(str(exc), limit=True)
        return suspension

    def pending(self) -> Suspension:
        """The keyword call the dialog waits for (state ``waiting``)."""
        if self.state != WAITING:
            raise RuntimeError(f"the dialog is {self.state}, not waiting for a keyword")
        keyword, count = _CALL_FIELDS.unpack_from(self.memory.view, KEYWORD)
        read = self._read_slot
        args = tuple([read(KWARGS + SLOT * i) for i in range(count)])
        return Suspension("call", self.line, self.unit.keywords[keyword], args)

    def _trapped(self, exc: WasmTrapError) -> Suspension:
        if exc.code == wasmtime.TrapCode.OUT_OF_FUEL:
            return self._fail(
                f"fuel exhausted: the dialog ran more than {self.limits.fuel} instructions",
                limit=True,
            )
        return self._fail(f"internal error: {exc}")

    def _fail(self, message: str, *, limit: bool = False) -> Suspension:
        error_type = RuntimeLimitExceeded if limit else BasicRuntimeError
        error = error_type(self.line, message, self.file)
        self.state = FAILED
        self._last = Suspension("error", self.line, value=error)
        return self._last

    def fail(self, message: str) -> None:
        """End the dialog with a runtime error at the current line (a keyword failed)."""
        if self.state not in (DONE_STATE, FAILED):
            self._fail(message)

    def resume(self, value: Value = None) -> None:
        """Give the pending keyword call its result; the next ``step`` continues."""
        if self.state != WAITING:
            raise RuntimeError(f"the dialog is {self.state}, not waiting for a keyword")
        try:
            if value is not None:
                self.heap.charge(estimate_size(value, set()))
            self._write_slot(RET, value)
        except (BasicError, HeapLimitError) as exc:
            keyword = self.unit.keywords[self._i32(KEYWORD)]
            message = exc.message if isinstance(exc, BasicError) else str(exc)
            self._fail(f"{keyword} returned {message}", limit=isinstance(exc, HeapLimitError))
            return
        self.state = RUNNING

    def collect(self) -> None:
        """Free the heap values no slot refers to (only between steps)."""
        self.heap.collect(self._roots())

    def _roots(self) -> Iterable[int]:
        mm, view = self.unit.memory, self.memory.view
        regions = (
            (RET, KWARGS + SLOT * mm.kwarg_slots),
            (mm.globals, mm.globals + SLOT * mm.global_slots),
            (mm.stack_base, self._i32(SP)),
        )
        for start, end in regions:
            for tag, bits in _SLOT.iter_unpack(view[start:end]):
                if tag >= STRING:
                    yield bits

    @property
    def result(self) -> Value:
        """What the program returned (``RETURN x`` at the top level), once done."""
        if self.state != DONE_STATE:
            raise RuntimeError(f"the dialog is {self.state}, not done")
        assert self._last is not None
        return self._last.value

    @property
    def error(self) -> BasicRuntimeError | None:
        """The runtime error the dialog failed with."""
        if self.state != FAILED:
            return None
        assert self._last is not None
        return self._last.value  # type: ignore[no-any-return]

    async def run(
        self,
        ctx: Any,
        *,
        budget: int = 10_000,
        on_break: Callable[[Dialog, Suspension], Awaitable[None]] | None = None,
    ) -> Value:
        """Drive the dialog to its end: perform each keyword call through the registry with
        ``ctx`` (awaiting async keywords), yield to the event loop after each budget, and
        await ``on_break`` at breakpoints (without one they are passed). A dialog restored
        while waiting for a keyword performs that call first. Returns the program's result;
        raises its BasicRuntimeError."""
        if self.state == WAITING:
            pending = self.pending()
            assert pending.keyword is not None
            await self.perform(ctx, pending.keyword, pending.args)
        while True:
            s = self.step(budget)
            if s.reason == "done":
                return s.value
            if s.reason == "error":
                raise s.value
            if s.reason == "call":
                assert s.keyword is not None
                await self.perform(ctx, s.keyword, s.args)
            elif s.reason == "budget":
                await asyncio.sleep(0)
            elif on_break is not None:
                await on_break(self, s)

    async def perform(self, ctx: Any, keyword: str, args: tuple[Value, ...]) -> None:
        """Call ``keyword`` with ``args`` through the registry and resume with its result
        (or fail the dialog with what went wrong)."""
        spec = self._specs.get(keyword)
        if spec is None:
            try:
                spec = self._specs[keyword] = self.registry.get(keyword)
            except KeyError:
                self.fail(f"keyword {keyword} is not available in this host")
                return
        if spec.fn is None:
            self.fail(f"keyword {keyword} has no implementation in this host")
            return
        problem = spec.argument_error(list(args))
        if problem is not None:
            self.fail(problem)
            return
        try:
            result = spec.fn(ctx, *args)
            if inspect.isawaitable(result):
                result = await result
        except BasicError as exc:
            self.fail(exc.message)
            return
        except Exception as exc:  # a keyword's failure ends this dialog, not the host
            self.fail(str(exc) or type(exc).__name__)
            return
        self.resume(result)

    # -- inspection ---------------------------------------------------------------------------

    def variables(self) -> dict[str, Value]:
        """Every variable visible where the program is: the globals, then the current
        FUNCTION's parameters and locals (which hide globals of the same name)."""
        out = {name: self._read_slot(address) for name, address in self.unit.debug.globals.items()}
        fp = self._i32(FP)
        info = self.unit.debug.functions[self._i32(fp + FRAME_FUNCTION)]
        for name, offset in info.locals.items():
            out[name] = self._read_slot(fp + offset)
        if info.result is not None:
            out[info.name.lower()] = self._read_slot(fp + info.result)
        return out

    def call_stack(self) -> list[Frame]:
        """The BASIC call stack, innermost first."""
        frames: list[Frame] = []
        fp, line = self._i32(FP), self.line
        while True:
            info = self.unit.debug.functions[self._i32(fp + FRAME_FUNCTION)]
            frames.append(Frame(info.name, line))
            back = self._i32(fp + FRAME_RETURN)
            if back == NO_RETURN:
                return frames
            line = self.unit.lines.position(self.unit.lines.line_of_block(back) or 0)[1]
            fp = self._i32(fp + FRAME_CALLER)

    # -- durable state ------------------------------------------------------------------------

    def fuel_spent(self) -> int:
        """wasm instructions (fuel) the dialog has run, across restores."""
        return self._fuel_before + self._fuel_given - self.store.get_fuel()

    def save(self) -> bytes:
        """The whole state as bytes: memory, heap, breakpoints, state (see :mod:`.state`).
        ``extra_globals`` are the host's and are not saved."""
        meta: dict[str, Any] = {
            "state": self.state,
            "breakpoints": sorted(self.breakpoints),
            "step_mode": self._step_mode,
            "cpu_seconds": self.cpu_seconds,
            "fuel_spent": self.fuel_spent(),
        }
        error = self.error
        if error is not None:
            meta["error"] = {
                "line": error.line,
                "message": error.message,
                "limit": isinstance(error, RuntimeLimitExceeded),
            }
        memory = bytes(self.memory.view[: self._i32(SP)])
        return pack(self.unit.digest, meta, memory, encode_heap(self.heap.entries()))

    @classmethod
    def restore(
        cls, unit: CompiledUnit, registry: Registry, data: bytes, *, limits: Limits | None = None
    ) -> Dialog:
        """A dialog continuing exactly where a saved one stopped, in this process or another
        (StateError if ``data`` is not a saved state of this program)."""
        meta, memory, heap = unpack(data, unit.digest)
        dialog = cls(unit, registry, limits or Limits())
        entries = decode_heap(heap)
        if any(handle < dialog.heap.permanent for handle, _ in entries):
            raise StateError("saved heap is corrupt: it overwrites a constant")
        try:
            state = str(meta["state"])
            breakpoints = [int(line) for line in meta["breakpoints"]]
            step_mode = bool(meta["step_mode"])
            cpu_seconds = float(meta["cpu_seconds"])
            fuel_spent = int(meta["fuel_spent"])
            error = meta.get("error")
        except (KeyError, TypeError, ValueError) as exc:
            raise StateError(f"saved dialog is corrupt: bad meta section ({exc})") from None
        if state not in (RUNNING, WAITING, PAUSED, DONE_STATE, FAILED):
            raise StateError(f"saved dialog is corrupt: unknown state {state!r}")
        mm = unit.memory
        if len(memory) < mm.stack_base + mm.main_frame_size:
            raise StateError("saved dialog is corrupt: its memory is too short")
        dialog.heap.load(entries)
        dialog._allocate_stack(len(memory))
        stack_end = dialog._i32(STACK_END)
        dialog.memory.view[: len(memory)] = memory
        dialog._set_i32(STACK_END, stack_end)
        dialog.state = state
        for line in breakpoints:
            dialog.breakpoints.add(line)
        dialog.step_mode = step_mode
        dialog.cpu_seconds = cpu_seconds
        dialog._fuel_before = fuel_spent
        if dialog.limits.fuel is not None:
            dialog._fuel_given = max(0, dialog.limits.fuel - fuel_spent)
            dialog.store.set_fuel(dialog._fuel_given)
        if state == DONE_STATE:
            dialog._last = Suspension("done", dialog.line, value=dialog._read_slot(RET))
        elif state == FAILED:
            kind = RuntimeLimitExceeded if error and error.get("limit") else BasicRuntimeError
            message = str(error["message"]) if error else "failed"
            failure = kind(dialog.line, message, dialog.file)
            dialog._last = Suspension("error", dialog.line, value=failure)
        return dialog
