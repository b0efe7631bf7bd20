# The operations keep the original's camelCase names and argument names (the REST API and
# existing debugger clients use them).
# ruff: noqa: N802, N803
"""The debugger service: the original's ``DebuggerService`` operations, per bot, over gb's
resumable VM instead of a Chrome DevTools connection to a node child process.

One :class:`BotSession` per bot holds the script being debugged, its breakpoints (BASIC line
numbers — the original kept JavaScript lines), the running :class:`Dialog` and the task that
drives it. The dialog runs in the background: TALKs, waits for input, pauses, the end, errors
go to subscribers as :class:`DebugEvent`\\ s the moment they happen; ``sendMessage`` answers a
waiting HEAR; ``step``/``resume`` continue from a pause; ``refactor`` applies a source change,
recompiles and restarts the dialog.

Operations return ``{"status": "OK", …}`` as the original did; what cannot be done raises a
:class:`DebuggerError` (the REST layer turns it into an HTTP error with the message).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .. import compile_source
from ..codegen.unit import CompiledUnit
from ..diagnostics import CompileError
from ..host.registry import Registry
from ..runtime.dialog import Dialog, Limits, Suspension
from ..runtime.errors import BasicRuntimeError
from ..stdlib.context import HostContext
from ..stdlib.registry import stdlib_registry
from ..stdlib.running import start_dialog
from .edits import ChangeError, apply_edits, parse_change
from .events import DebugEvent, DebugState, Subscription, plain
from .sources import ScriptNotFoundError, ScriptSource, script_stem


class DebuggerError(Exception):
    """An operation that cannot be done; ``status`` is the HTTP status the REST layer uses."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConflictError(DebuggerError):
    """Not in the state the operation needs (``resume`` while running ...)."""

    status = 409


class NotFoundError(DebuggerError):
    """No such script."""

    status = 404


class CompileFailedError(DebuggerError):
    """The script does not compile; ``diagnostics`` are the compiler's."""

    status = 422

    def __init__(self, error: CompileError) -> None:
        super().__init__(str(error))
        self.line = error.diagnostics[0].line
        self.diagnostics = [
            {"line": d.line, "col": d.col, "message": d.message} for d in error.diagnostics
        ]


class DebuggerContext(HostContext):
    """The context a debugged dialog's keywords run with: TALKs become ``output`` events,
    a HEAR announces ``waiting`` and takes the next ``sendMessage`` text."""

    session: BotSession

    def deliver(self, text: str) -> None:
        self.session.emit("output", text=text)

    async def receive(self) -> str:
        self.session.waiting = True
        self.session.emit("waiting")
        try:
            return await self.session.inbox.get()
        finally:
            self.session.waiting = False

    async def pause(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


@dataclass
class BotSession:
    """One bot's debugging session."""

    bot_id: str
    state: DebugState = DebugState.STOPPED
    state_info: str = DebugState.STOPPED.info
    script: str = "start"
    code: str | None = None
    breaks: set[int] = field(default_factory=set)
    dialog: Dialog | None = None
    context: DebuggerContext | None = None
    task: asyncio.Task[None] | None = None
    inbox: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    subscribers: list[Subscription] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    waiting: bool = False

    def emit(self, kind: str, line: int | None = None, **data: Any) -> None:
        if kind == "output":
            self.messages.append(str(data["text"]))
        event = DebugEvent(kind, self.bot_id, self.state, line, data)
        for subscription in list(self.subscribers):
            subscription.deliver(event)

    def set_state(self, state: DebugState, info: str | None = None) -> None:
        self.state = state
        self.state_info = info or state.info


class DebuggerService:
    """The debugger's operations for every bot (names and arguments as the original's).

    ``sources`` finds a bot's scripts; ``registry`` performs keywords (gb's standard library
    by default); ``context_options(bot_id)`` gives the keyword arguments of each run's
    :class:`DebuggerContext` (``config``, ``services``, ``tables`` …).
    """

    def __init__(
        self,
        sources: ScriptSource,
        registry: Registry | None = None,
        *,
        limits: Limits | None = None,
        context_options: Callable[[str], Mapping[str, Any]] | None = None,
    ) -> None:
        self.sources = sources
        self.registry = registry or stdlib_registry()
        self.limits = limits
        self.context_options = context_options
        self.sessions: dict[str, BotSession] = {}

    def session(self, bot_id: str) -> BotSession:
        """The session of ``bot_id`` (created, stopped, on first use)."""
        if not bot_id:
            raise DebuggerError("botId is required")
        if bot_id not in self.sessions:
            self.sessions[bot_id] = BotSession(bot_id)
        return self.sessions[bot_id]

    # -- the original's operations -------------------------------------------------------

    async def start(
        self, botId: str, scriptName: str | None = None, botApiKey: str | None = None
    ) -> dict[str, Any]:
        """Run ``scriptName`` (default ``start``) in debug mode; from a pause, resume."""
        session = self.session(botId)
        if session.state is DebugState.RUNNING:
            raise ConflictError(f"Cannot DEBUG an already running process. {botId}")
        if session.state is DebugState.BREAK:
            return await self.resume(botId)
        script = script_stem(scriptName or "start")
        code = self._load(botId, script)
        session.script, session.code = script, code
        try:
            unit = self._compile(session, code)
        except CompileFailedError as exc:
            session.set_state(DebugState.FAIL, f"Fail: {exc.message.splitlines()[0]}")
            session.emit("error", exc.line, message=exc.message)
            raise

        self._launch(session, unit)
        return {"status": "OK"}

    async def setBreakpoint(self, botId: str, line: Any) -> dict[str, Any]:
        """Stop before running ``line`` (a BASIC source line), now and in later runs."""
        number = _line_number(line)
        session = self.session(botId)
        session.breaks.add(number)
        if session.dialog is not None:
            session.dialog.breakpoints.add(number)
        return {"status": "OK", "breaks": sorted(session.breaks)}

    async def clearBreakpoint(self, botId: str, line: Any) -> dict[str, Any]:
        """Remove a breakpoint (gb's addition: the original could only add them)."""
        number = _line_number(line)
        session = self.session(botId)
        session.breaks.discard(number)
        if session.dialog is not None:
            session.dialog.breakpoints.discard(number)
        return {"status": "OK", "breaks": sorted(session.breaks)}

    async def resume(self, botId: str) -> dict[str, Any]:
        """Continue from a pause until the next breakpoint."""
        session = self._paused(botId, "resume")
        assert session.dialog is not None
        session.dialog.step_mode = False
        session.release.set()
        return {"status": "OK"}

    async def step(self, botId: str) -> dict[str, Any]:
        """Run to the next statement (stepping into FUNCTION calls) and pause there."""
        session = self._paused(botId, "stepOver")
        assert session.dialog is not None
        session.dialog.step_mode = True
        session.release.set()
        return {"status": "OK"}

    async def stop(self, botId: str) -> dict[str, Any]:
        """End the debugged run."""
        session = self.session(botId)
        await self._halt(session)
        session.set_state(DebugState.STOPPED)
        session.emit("stopped")
        return {"status": "OK"}

    async def getContext(self, botId: str) -> dict[str, Any]:
        """The state, where the program is, its call stack and variables, and every message
        it has sent (``scope`` is the variables as ``name: value`` lines, as the original)."""
        session = self.session(botId)
        dialog = session.dialog
        variables: dict[str, Any] = {}
        stack: list[dict[str, Any]] = []
        line = None
        if dialog is not None:
            line = dialog.line
            variables = {name: plain(value) for name, value in dialog.variables().items()}
            stack = [{"name": f.name, "line": f.line} for f in dialog.call_stack()]
        return {
            "status": "OK",
            "state": int(session.state),
            "stateInfo": session.state_info,
            "scopeInfo": session.state_info,
            "script": session.script,
            "line": line,
            "callStack": stack,
            "variables": variables,
            "scope": "\n".join(f"{name}: {value!r}" for name, value in variables.items()),
            "messages": "\n".join(session.messages),
            "messageList": list(session.messages),
            "waiting": session.waiting,
            "breaks": sorted(session.breaks),
        }

    async def sendMessage(
        self, botId: str, text: str, botApiKey: str | None = None
    ) -> dict[str, Any]:
        """Answer the dialog as its user (the next HEAR takes ``text``)."""
        session = self.session(botId)
        if session.state not in (DebugState.RUNNING, DebugState.BREAK):
            raise ConflictError(f"Cannot sendMessage to an stopped process. {botId}")
        if not isinstance(text, str):
            raise DebuggerError("text must be a string")
        session.inbox.put_nowait(text)
        return {"status": "OK"}

    async def refactor(self, botId: str, code: str | None, change: Any) -> dict[str, Any]:
        """Apply ``change`` (line edits, see :mod:`.edits`) to ``code`` (default: the script
        being debugged), recompile, save the script and restart the dialog with it."""
        session = self.session(botId)
        base = code if code is not None else session.code
        if base is None:
            base = self._load(botId, session.script)
        try:
            new_code = apply_edits(base, parse_change(change))
        except ChangeError as exc:
            raise DebuggerError(str(exc)) from None
        unit = self._compile(session, new_code)
        await self._halt(session)
        self.sources.save(botId, session.script, new_code)
        session.code = new_code
        session.emit("refactored", code=new_code)
        self._launch(session, unit)
        return {"status": "OK", "code": new_code}

    # -- subscriptions ---------------------------------------------------------------------

    def subscribe(self, botId: str, limit: int = 1000) -> Subscription:
        """A queue of the bot's events from now on."""
        subscription = Subscription(limit)
        self.session(botId).subscribers.append(subscription)
        return subscription

    def unsubscribe(self, botId: str, subscription: Subscription) -> None:
        session = self.session(botId)
        if subscription in session.subscribers:
            session.subscribers.remove(subscription)
        subscription.close()

    async def close(self) -> None:
        """Stop every run and end every subscription (the host is shutting down)."""
        for session in self.sessions.values():
            await self._halt(session)
            for subscription in list(session.subscribers):
                self.unsubscribe(session.bot_id, subscription)

    # -- running ----------------------------------------------------------------------------

    def _load(self, bot_id: str, script: str) -> str:
        try:
            return self.sources.load(bot_id, script)
        except ScriptNotFoundError as exc:
            raise NotFoundError(str(exc)) from None
        except ValueError as exc:  # a name that could leave the bot's package
            raise DebuggerError(str(exc)) from None

    def _compile(self, session: BotSession, code: str) -> CompiledUnit:
        try:
            return compile_source(
                code, f"{session.script}.bas", self.registry,
                include_loader=self.sources.loader(session.bot_id),
            )  # fmt: skip
        except CompileError as exc:
            raise CompileFailedError(exc) from None

    def _launch(self, session: BotSession, unit: CompiledUnit) -> None:
        options = dict(self.context_options(session.bot_id)) if self.context_options else {}
        ctx = DebuggerContext(**{"record": False, **options})  # the session keeps the messages
        ctx.session = session
        try:
            dialog = start_dialog(unit, self.registry, ctx, limits=self.limits)
        except ValueError as exc:  # limits too small for this program
            raise DebuggerError(str(exc)) from None
        for line in session.breaks:
            dialog.breakpoints.add(line)
        session.dialog, session.context = dialog, ctx
        session.inbox = asyncio.Queue()
        session.messages.clear()
        session.set_state(DebugState.RUNNING)
        session.emit("started", script=session.script)
        session.task = asyncio.create_task(self._drive(session, dialog, ctx))

    async def _drive(self, session: BotSession, dialog: Dialog, ctx: DebuggerContext) -> None:
        async def on_break(_: Dialog, suspension: Suspension) -> None:
            session.release.clear()
            session.set_state(DebugState.BREAK)
            reason = "step" if dialog.step_mode else "breakpoint"
            session.emit("paused", suspension.line, reason=reason)
            await session.release.wait()
            session.set_state(DebugState.RUNNING)
            session.emit("resumed", dialog.line)

        try:
            result = await dialog.run(ctx, on_break=on_break)
        except BasicRuntimeError as exc:
            session.set_state(DebugState.FAIL, f"Fail: {exc}")
            session.emit("error", exc.line, message=exc.message)
        else:
            session.set_state(DebugState.STOPPED)
            session.emit("finished", dialog.line, result=result)

    async def _halt(self, session: BotSession) -> None:
        task, session.task = session.task, None
        if task is not None and not task.done():
            task.cancel()
            # wait() rather than awaiting the task: nothing is raised here (coverage's tracer
            # also loses the lines after an await that re-raises a cancellation).
            await asyncio.wait([task])

    def _paused(self, bot_id: str, what: str) -> BotSession:
        session = self.session(bot_id)
        if session.state is not DebugState.BREAK:
            raise ConflictError(f"Invalid call to {what} and state not being debug(2).")
        return session


def _line_number(line: Any) -> int:
    """The original took ``parseInt(line)``: a number or a numeric string."""
    try:
        number = int(str(line).strip())
    except ValueError:
        raise DebuggerError(f"line must be a whole number, got {line!r}") from None
    if number < 1:
        raise DebuggerError(f"line must be 1 or more, got {number}")
    return number
